package kubelet

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ProbeKind is which of a container's probes.
type ProbeKind string

// The three probes, as in Kubernetes.
const (
	Liveness  ProbeKind = "Liveness"
	Readiness ProbeKind = "Readiness"
	Startup   ProbeKind = "Startup"
)

// ProbeState counts a probe's results the way the kubelet does: a probe
// becomes failed after failureThreshold failures in a row, and succeeded
// after successThreshold successes in a row. Until its first result a
// readiness probe is failed and a liveness probe succeeded. It does no
// I/O: the prober feeds it.
type ProbeState struct {
	Kind      ProbeKind
	Success   bool
	successes int32
	failures  int32
}

// NewProbeState is a probe's state before its first result.
func NewProbeState(kind ProbeKind) ProbeState {
	return ProbeState{Kind: kind, Success: kind == Liveness}
}

// Record takes one result and reports whether the probe's outcome
// changed.
func (s *ProbeState) Record(p *corev1.Probe, ok bool) bool {
	success, failure := p.SuccessThreshold, p.FailureThreshold
	if success < 1 {
		success = 1
	}
	if failure < 1 {
		failure = 3
	}
	before := s.Success
	if ok {
		s.successes++
		s.failures = 0
		if s.successes >= success {
			s.Success = true
		}
	} else {
		s.failures++
		s.successes = 0
		if s.failures >= failure {
			s.Success = false
		}
	}
	return before != s.Success
}

// proberKey names one probe of one container instance.
type proberKey struct {
	containerID string
	kind        ProbeKind
}

// probeManager runs a goroutine per probe of each running container and
// keeps their outcomes; the pod is resynced when one changes.
type probeManager struct {
	n       *node
	mu      sync.Mutex
	running map[proberKey]context.CancelFunc
	states  map[proberKey]ProbeState
}

func newProbeManager(n *node) *probeManager {
	return &probeManager{n: n, running: map[proberKey]context.CancelFunc{}, states: map[proberKey]ProbeState{}}
}

// Outcome is what the status needs from the probes of a container.
type Outcome struct {
	Ready   bool // readiness (true if the container has no readiness probe)
	Started bool // startup (true if it has no startup probe)
}

// Outcome reports the probes of a running container instance.
func (m *probeManager) Outcome(id string, spec *corev1.Container) Outcome {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := Outcome{Ready: true, Started: true}
	if spec.StartupProbe != nil {
		s, ok := m.states[proberKey{id, Startup}]
		o.Started = ok && s.Success
	}
	if spec.ReadinessProbe != nil {
		s, ok := m.states[proberKey{id, Readiness}]
		o.Ready = ok && s.Success && o.Started
	} else {
		o.Ready = o.Started
	}
	return o
}

// Sync starts probers for the running containers of pod and stops those
// of containers that are gone.
func (m *probeManager) Sync(pod *corev1.Pod, ctrs []Container) {
	m.mu.Lock()
	defer m.mu.Unlock()
	live := map[string]bool{}
	latest, _ := Latest(ctrs)
	for i := range pod.Spec.Containers {
		spec := &pod.Spec.Containers[i]
		c, ok := latest[spec.Name]
		if !ok || c.State != StateRunning {
			continue
		}
		live[c.ID] = true
		for kind, probe := range map[ProbeKind]*corev1.Probe{Liveness: spec.LivenessProbe, Readiness: spec.ReadinessProbe, Startup: spec.StartupProbe} {
			key := proberKey{c.ID, kind}
			if probe == nil {
				continue
			}
			if _, ok := m.running[key]; ok {
				continue
			}
			ctx, cancel := context.WithCancel(context.Background())
			m.running[key] = cancel
			m.states[key] = NewProbeState(kind)
			go m.run(ctx, key, pod.DeepCopy(), spec.DeepCopy(), probe.DeepCopy(), c)
		}
	}
	ids := podContainerIDs(ctrs)
	for key, cancel := range m.running {
		if ids[key.containerID] && !live[key.containerID] {
			cancel()
			delete(m.running, key)
			delete(m.states, key)
		}
	}
}

// Forget stops every prober of the given containers.
func (m *probeManager) Forget(ctrs []Container) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range ctrs {
		for _, kind := range []ProbeKind{Liveness, Readiness, Startup} {
			key := proberKey{c.ID, kind}
			if cancel, ok := m.running[key]; ok {
				cancel()
				delete(m.running, key)
				delete(m.states, key)
			}
		}
	}
}

func podContainerIDs(ctrs []Container) map[string]bool {
	out := map[string]bool{}
	for _, c := range ctrs {
		out[c.ID] = true
	}
	return out
}

// run probes one container every periodSeconds after initialDelaySeconds
// until its context ends; a failed liveness (or startup) probe restarts
// the container.
func (m *probeManager) run(ctx context.Context, key proberKey, pod *corev1.Pod, spec *corev1.Container, probe *corev1.Probe, c Container) {
	period := time.Duration(max(probe.PeriodSeconds, 1)) * time.Second
	delay := time.Duration(probe.InitialDelaySeconds) * time.Second
	select {
	case <-ctx.Done():
		return
	case <-time.After(delay):
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		// Liveness and readiness wait for the startup probe to succeed.
		if key.kind == Startup || m.Outcome(c.ID, &corev1.Container{StartupProbe: spec.StartupProbe}).Started {
			ok, msg := m.n.probeOnce(ctx, pod, c, probe)
			m.mu.Lock()
			state, exists := m.states[key]
			changed := exists && state.Record(probe, ok)
			m.states[key] = state
			m.mu.Unlock()
			if !exists {
				return
			}
			if !ok {
				m.n.recorder.Eventf(pod, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", key.kind, msg)
			}
			if changed {
				if !state.Success && (key.kind == Liveness || key.kind == Startup) {
					m.n.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Container %s failed %s probe, will be restarted", spec.Name, strings.ToLower(string(key.kind)))
					grace := 30 * time.Second
					if pod.Spec.TerminationGracePeriodSeconds != nil {
						grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
					}
					m.n.runtime.StopContainer(ctx, c.ID, grace)
				}
				m.n.queue.Add(pod.Namespace + "/" + pod.Name)
				if key.kind == Startup && state.Success {
					return // a startup probe ends once it succeeds
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probeOnce runs a probe against a container: an exec in the container, an
// HTTP GET or a TCP connection to the pod's IP (from the node, as the
// kubelet does).
func (n *node) probeOnce(ctx context.Context, pod *corev1.Pod, c Container, p *corev1.Probe) (bool, string) {
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	podIP := pod.Status.PodIP
	if podIP == "" {
		if ctrs, err := n.runtime.ListPod(ctx, pod.UID); err == nil {
			latest, _ := Latest(ctrs)
			podIP = latest[""].PodIP
		}
	}
	spec := containerSpec(pod, c.Name)
	switch {
	case p.Exec != nil:
		code, err := n.execQuiet(ctx, c.ID, p.Exec.Command)
		if err != nil {
			return false, err.Error()
		}
		if code != 0 {
			return false, fmt.Sprintf("command %q exited with %d", p.Exec.Command, code)
		}
		return true, ""
	case p.HTTPGet != nil:
		port, err := resolvePort(p.HTTPGet.Port, spec)
		if err != nil {
			return false, err.Error()
		}
		scheme := strings.ToLower(string(p.HTTPGet.Scheme))
		if scheme == "" {
			scheme = "http"
		}
		host := p.HTTPGet.Host
		if host == "" {
			host = podIP
		}
		url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), p.HTTPGet.Path)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		for _, h := range p.HTTPGet.HTTPHeaders {
			req.Header.Add(h.Name, h.Value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, fmt.Sprintf("Get %q: %v", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return true, ""
	case p.TCPSocket != nil:
		port, err := resolvePort(p.TCPSocket.Port, spec)
		if err != nil {
			return false, err.Error()
		}
		addr := net.JoinHostPort(podIP, strconv.Itoa(port))
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return false, fmt.Sprintf("dial tcp %s: %v", addr, err)
		}
		conn.Close()
		return true, ""
	}
	return true, ""
}

func containerSpec(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return &corev1.Container{}
}

// resolvePort turns a probe's port (a number or a container port's name)
// into a number.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("port %q not found in container %s", p.StrVal, c.Name)
}

// execQuiet runs a command in a container without streams and returns
// its exit code: probes and lifecycle hooks.
func (n *node) execQuiet(ctx context.Context, id string, command []string) (uint32, error) {
	ctr, err := n.runtime.client.LoadContainer(ctx, id)
	if err != nil {
		return 0, err
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return 0, err
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return 0, err
	}
	proc := *spec.Process
	proc.Args, proc.Terminal = command, false
	p, err := task.Exec(ctx, "probe-"+newID()[:12], &proc, cio.NullIO)
	if err != nil {
		return 0, err
	}
	defer p.Delete(context.Background(), containerd.WithProcessKill)
	exited, err := p.Wait(ctx)
	if err != nil {
		return 0, err
	}
	if err := p.Start(ctx); err != nil {
		return 0, err
	}
	select {
	case st := <-exited:
		code, _, err := st.Result()
		return code, err
	case <-ctx.Done():
		return 0, fmt.Errorf("command %q timed out", command)
	}
}

// runHook runs a lifecycle hook (postStart, preStop) in or against a
// container, as a probe would; a sleep hook just waits.
func (n *node) runHook(ctx context.Context, pod *corev1.Pod, c Container, h *corev1.LifecycleHandler) (bool, string) {
	if h.Sleep != nil {
		select {
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
		case <-ctx.Done():
		}
		return true, ""
	}
	timeout := int32(30)
	if d, ok := ctx.Deadline(); ok {
		timeout = int32(max(1, time.Until(d)/time.Second))
	}
	return n.probeOnce(ctx, pod, c, &corev1.Probe{
		ProbeHandler:   corev1.ProbeHandler{Exec: h.Exec, HTTPGet: h.HTTPGet, TCPSocket: h.TCPSocket},
		TimeoutSeconds: timeout,
	})
}
