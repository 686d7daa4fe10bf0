package kubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/api/events"
	"github.com/containerd/typeurl/v2"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/tinykube/tinykube/components/kubelet/podnet"
)

// worker takes pod keys off the queue; the queue never hands one key to
// two workers at once.
func (n *node) worker(ctx context.Context) {
	for {
		key, quit := n.queue.Get()
		if quit {
			return
		}
		requeue, err := n.syncPod(ctx, key)
		switch {
		case err != nil && ctx.Err() == nil:
			fmt.Fprintf(os.Stderr, "kubelet: pod %s: %v\n", key, err)
			n.queue.AddRateLimited(key) // retried, backed off
		case requeue > 0:
			n.queue.Forget(key)
			n.queue.AddAfter(key, requeue) // a backoff ends: look again
		default:
			n.queue.Forget(key)
		}
		n.queue.Done(key)
	}
}

// podContainers returns the containers of the pod with uid.
func podContainers(all []Container, uid types.UID) []Container {
	var out []Container
	for _, c := range all {
		if c.PodUID == uid {
			out = append(out, c)
		}
	}
	return out
}

// syncPod moves one pod toward its spec: the kubelet's syncHandler. It
// returns when to look again (a backoff ending), if at all.
func (n *node) syncPod(ctx context.Context, key string) (time.Duration, error) {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	cached, err := n.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil // gone from the API: housekeeping removes what is left
	}
	if err != nil {
		return 0, err
	}
	pod := cached.DeepCopy() // never modify the informer's copy
	if pod.DeletionTimestamp != nil {
		return 0, n.terminate(ctx, pod)
	}

	// The backoff the pure core asks about; it notes when the first one
	// ends, to look at the pod again then.
	var backoffEnds time.Duration
	inBackoff := func(key string, finishedAt time.Time) (time.Duration, bool) {
		wait := n.backoff.Get(key)
		if !n.backoff.IsInBackOffSince(key, finishedAt) {
			return 0, false
		}
		if left := wait - time.Since(finishedAt); backoffEnds == 0 || left < backoffEnds {
			backoffEnds = max(left, time.Millisecond)
		}
		return wait, true
	}
	var actions Actions
	for step := 0; step < 6; step++ {
		ctrs, err := n.runtime.ListPod(ctx, pod.UID)
		if err != nil {
			return 0, err
		}
		backoffEnds = 0
		actions = ComputeActions(pod, ctrs, inBackoff)
		did, err := n.apply(ctx, pod, ctrs, actions)
		if err != nil {
			return 0, err
		}
		if !did {
			return n.updateStatus(ctx, pod, ctrs, actions, backoffEnds)
		}
	}
	return time.Second, nil
}

// apply does one step of actions and reports whether it did anything.
func (n *node) apply(ctx context.Context, pod *corev1.Pod, ctrs []Container, a Actions) (bool, error) {
	did := false
	if a.KillPod {
		did = true
		if err := n.killPod(ctx, pod, ctrs, 0, !a.Done); err != nil {
			return did, err
		}
		if a.Done {
			return did, nil
		}
	}
	if a.CreateSandbox {
		return true, n.createSandbox(ctx, pod)
	}
	var start []*corev1.Container
	if a.StartInit >= 0 {
		start = append(start, &pod.Spec.InitContainers[a.StartInit])
	}
	for _, i := range a.Start {
		start = append(start, &pod.Spec.Containers[i])
	}
	if len(start) == 0 {
		return did, nil
	}
	latest, _ := Latest(ctrs)
	sandbox := latest[""]
	started := false
	for _, c := range start {
		attempt := 0
		if prev, ok := latest[c.Name]; ok {
			attempt = prev.Attempt + 1
		}
		if err := n.startContainer(ctx, pod, c, attempt, sandbox); err != nil {
			if errors.Is(err, ErrImagePull) || errors.Is(err, ErrImageNeverPull) {
				continue // recorded as the container's waiting reason
			}
			n.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
			reason := "CreateContainerError"
			if errors.Is(err, errConfig) {
				reason = "CreateContainerConfigError" // a ConfigMap or Secret it needs is missing
			}
			n.setError(pod, c.Name, Waiting{Reason: reason, Message: err.Error()})
			continue
		}
		started = true
		if prev, ok := latest[c.Name]; ok && prev.State == StateExited {
			n.backoff.Next(BackoffKey(pod, c.Name), time.Now()) // the next restart waits longer
		}
	}
	return started, nil
}

func (n *node) setError(pod *corev1.Pod, container string, w Waiting) {
	n.mu.Lock()
	defer n.mu.Unlock()
	key := string(pod.UID)
	if n.errors[key] == nil {
		n.errors[key] = map[string]Waiting{}
	}
	n.errors[key][container] = w
}

func (n *node) clearError(pod *corev1.Pod, container string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.errors[string(pod.UID)], container)
}

func (n *node) podErrors(pod *corev1.Pod) map[string]Waiting {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]Waiting{}
	for k, v := range n.errors[string(pod.UID)] {
		out[k] = v
	}
	return out
}

// createSandbox gives the pod its network and its pause container.
func (n *node) createSandbox(ctx context.Context, pod *corev1.Pod) error {
	pn, err := n.network.AddPod(ctx, podnet.PodRef{Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID)})
	if err != nil {
		n.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		return fmt.Errorf("pod network: %w", err)
	}
	dir := n.runtime.PodDir(pod.UID)
	if err := writePodFiles(dir, pod, pn.IP.String(), n.cfg.ClusterDNS, n.cfg.ClusterDomain); err != nil {
		return err
	}
	img, err := n.runtime.EnsureImage(ctx, PauseImage, corev1.PullIfNotPresent)
	if err != nil {
		n.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		return err
	}
	_, err = n.runtime.StartContainer(ctx, Spec{
		PodUID: pod.UID, PodName: pod.Name, Namespace: pod.Namespace, Image: PauseImage,
		UseImageArgs: true, Hostname: hostname(pod), NetNS: pn.NetNSPath, PodIP: pn.IP.String(),
	}, img.Image)
	if err != nil {
		n.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		return fmt.Errorf("pause container: %w", err)
	}
	return nil
}

// startContainer pulls the image if needed and starts one container in
// the pod's sandbox, with events as Kubernetes records them.
func (n *node) startContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt int, sandbox Container) error {
	key := BackoffKey(pod, c.Name)
	if n.pullErrs.IsInBackOffSinceUpdate(key, time.Now()) {
		n.setError(pod, c.Name, Waiting{Reason: "ImagePullBackOff", Message: fmt.Sprintf("Back-off pulling image %q", c.Image)})
		return ErrImagePull
	}
	if c.ImagePullPolicy == corev1.PullAlways || (c.ImagePullPolicy == corev1.PullIfNotPresent && !n.runtime.HasImage(ctx, c.Image)) {
		n.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	}
	img, err := n.runtime.EnsureImage(ctx, c.Image, c.ImagePullPolicy)
	if err != nil {
		reason := "ErrImagePull"
		if errors.Is(err, ErrImageNeverPull) {
			reason = "ErrImageNeverPull"
		}
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), reason+": "), "ErrImagePull: ")
		n.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %s", c.Image, msg)
		n.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %s", reason)
		n.setError(pod, c.Name, Waiting{Reason: reason, Message: msg})
		n.pullErrs.Next(key, time.Now())
		return err
	}
	n.pullErrs.Reset(key)
	switch {
	case img.Warning != "":
		n.recorder.Eventf(pod, corev1.EventTypeWarning, "PullFailedUsingLocal", "%s", img.Warning)
	case img.Pulled:
		n.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q", c.Image)
	default:
		n.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
	}

	dir := n.runtime.PodDir(pod.UID)
	src, err := n.envSources(pod, sandbox.PodIP)
	if err != nil {
		return err
	}
	env, err := ContainerEnv(pod, c, ServiceEnv(n.listServices(), pod.Namespace, pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks), src)
	if err != nil {
		return fmt.Errorf("%w: %v", errConfig, err)
	}
	tokens, err := n.serviceAccountTokens(ctx, pod)
	if err != nil {
		return err
	}
	volumes, err := prepareVolumes(dir, pod, VolumeData{ConfigMaps: src.ConfigMaps, Secrets: src.Secrets, Tokens: tokens})
	if err != nil {
		return fmt.Errorf("%w: %v", errConfig, err)
	}
	mounts, err := containerMounts(dir, c, volumes)
	if err != nil {
		return err
	}
	// The container runtime adds HOSTNAME, as containerd's CRI does.
	env = append([]string{"HOSTNAME=" + hostname(pod)}, env...)
	spec := Spec{
		PodUID: pod.UID, PodName: pod.Name, Namespace: pod.Namespace, Name: c.Name, Attempt: attempt,
		Image: c.Image, Env: env, WorkingDir: c.WorkingDir, Hostname: hostname(pod), Mounts: mounts,
		NetNS: sandbox.NetNS, SharePID: sandbox.PID,
	}
	spec.Args, spec.UseImageArgs = CommandLine(c, src.vars(env))
	if l, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		spec.MemoryLimit = l.Value()
	}
	if l, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		spec.CPUQuota = l.MilliValue() * 100 // µs per 100 ms period
	}
	// cpu.shares from the request, at least 2, as the kubelet sets them
	// (no request: 2, the least share of a busy CPU).
	spec.CPUShares = 2
	if r, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		spec.CPUShares = uint64(max(2, r.MilliValue()*1024/1000))
	}
	id, err := n.runtime.StartContainer(ctx, spec, img.Image)
	if err != nil {
		return err
	}
	n.clearError(pod, c.Name)
	n.recorder.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	n.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	if h := c.Lifecycle; h != nil && h.PostStart != nil {
		// The container counts as started only once its postStart hook
		// has run; if the hook fails, the container is killed.
		hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		ok, msg := n.runHook(hctx, pod, Container{ID: id, Name: c.Name, PodIP: sandbox.PodIP}, h.PostStart)
		cancel()
		if !ok {
			n.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %s", msg)
			n.runtime.StopContainer(ctx, id, 0)
		}
	}
	return nil
}

// serviceAccountTokens asks the apiserver for the tokens the pod's
// projected volumes hold (the kube-api-access volume the apiserver gave
// it): each bound to the pod, for its audience and lifetime.
func (n *node) serviceAccountTokens(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	tokens := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			sat := src.ServiceAccountToken
			if sat == nil {
				continue
			}
			req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
				ExpirationSeconds: sat.ExpirationSeconds,
				BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
			}}
			if sat.Audience != "" {
				req.Spec.Audiences = []string{sat.Audience}
			}
			tr, err := n.cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, req, metav1.CreateOptions{})
			if err != nil {
				return nil, fmt.Errorf("%w: service account token for %s: %v", errConfig, pod.Spec.ServiceAccountName, err)
			}
			tokens[TokenKey(v.Name, sat.Path)] = tr.Status.Token
		}
	}
	return tokens, nil
}

// errConfig marks a container's configuration that cannot be built: a
// ConfigMap or Secret its environment or volumes need is missing.
var errConfig = errors.New("CreateContainerConfigError")

// CommandLine is what a container runs, by Kubernetes' rules: command
// replaces the image's entrypoint (and drops its cmd); args alone replace
// the image's cmd. $(VAR) in either is expanded from the container's
// environment. useImage is true when the image's entrypoint stays.
func CommandLine(c *corev1.Container, vars map[string]string) (args []string, useImage bool) {
	for _, a := range c.Command {
		args = append(args, expand(a, vars))
	}
	for _, a := range c.Args {
		args = append(args, expand(a, vars))
	}
	return args, len(c.Command) == 0
}

func (s EnvSources) vars(env []string) map[string]string {
	out := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

// envSources reads the ConfigMaps and Secrets the pod refers to.
func (n *node) envSources(pod *corev1.Pod, podIP string) (EnvSources, error) {
	src := EnvSources{ConfigMaps: map[string]*corev1.ConfigMap{}, Secrets: map[string]*corev1.Secret{}, PodIP: podIP, HostIP: n.cfg.NodeIP}
	cms, secrets := map[string]bool{}, map[string]bool{}
	visit := func(c *corev1.Container) {
		for _, f := range c.EnvFrom {
			if f.ConfigMapRef != nil {
				cms[f.ConfigMapRef.Name] = true
			}
			if f.SecretRef != nil {
				secrets[f.SecretRef.Name] = true
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				cms[e.ValueFrom.ConfigMapKeyRef.Name] = true
			}
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				secrets[e.ValueFrom.SecretKeyRef.Name] = true
			}
		}
	}
	for i := range pod.Spec.InitContainers {
		visit(&pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		visit(&pod.Spec.Containers[i])
	}
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap != nil {
			cms[v.ConfigMap.Name] = true
		}
		if v.Secret != nil {
			secrets[v.Secret.SecretName] = true
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					cms[s.ConfigMap.Name] = true
				}
				if s.Secret != nil {
					secrets[s.Secret.Name] = true
				}
			}
		}
	}
	ctx := context.Background()
	for name := range cms {
		cm, err := n.cs.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			src.ConfigMaps[name] = cm
		} else if !apierrors.IsNotFound(err) {
			return src, err
		}
	}
	for name := range secrets {
		s, err := n.cs.CoreV1().Secrets(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			src.Secrets[name] = s
		} else if !apierrors.IsNotFound(err) {
			return src, err
		}
	}
	return src, nil
}

func (n *node) listServices() []*corev1.Service {
	svcs, _ := n.services.List(labels.Everything())
	return svcs
}

// killPod stops the pod's app containers side by side, each with the grace
// period, then its sandbox; unless keepNetwork it also frees the network.
func (n *node) killPod(ctx context.Context, pod *corev1.Pod, ctrs []Container, grace time.Duration, keepNetwork bool) error {
	var sandboxes []Container
	var wg sync.WaitGroup
	errs := make(chan error, len(ctrs))
	for _, c := range ctrs {
		if c.Sandbox {
			sandboxes = append(sandboxes, c)
			continue
		}
		if c.State != StateRunning {
			continue
		}
		// Containers stop side by side, each with the whole grace period.
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- n.stopContainer(ctx, pod, c, grace)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	for _, sb := range sandboxes {
		if err := n.runtime.StopContainer(ctx, sb.ID, 0); err != nil {
			return err
		}
		if err := n.runtime.RemoveContainer(ctx, sb.ID); err != nil {
			return err
		}
	}
	if !keepNetwork && len(ctrs) > 0 {
		return n.network.DelPod(ctx, string(ctrs[0].PodUID))
	}
	return nil
}

// stopContainer stops one container gracefully: its preStop hook, then
// SIGTERM and, after what is left of the grace period, SIGKILL.
func (n *node) stopContainer(ctx context.Context, pod *corev1.Pod, c Container, grace time.Duration) error {
	left := grace
	if pod != nil && grace > 0 {
		n.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", c.Name)
		if spec := containerSpec(pod, c.Name); spec.Lifecycle != nil && spec.Lifecycle.PreStop != nil {
			start := time.Now()
			hctx, cancel := context.WithTimeout(ctx, grace)
			if ok, msg := n.runHook(hctx, pod, c, spec.Lifecycle.PreStop); !ok {
				n.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %s", msg)
			}
			cancel()
			left = max(grace-time.Since(start), 2*time.Second) // Kubernetes gives 2 s more
		}
	}
	return n.runtime.StopContainer(ctx, c.ID, left)
}

// terminate ends a pod being deleted: its containers get SIGTERM and the
// grace period, everything of it on the node is removed, and then the pod
// is deleted from the API for good (grace 0, for this very UID).
func (n *node) terminate(ctx context.Context, pod *corev1.Pod) error {
	ctrs, err := n.runtime.ListPod(ctx, pod.UID)
	if err != nil {
		return err
	}
	grace := 30 * time.Second
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if err := n.removePod(ctx, pod, pod.UID, ctrs, grace); err != nil {
		return err
	}
	zero := int64(0)
	err = n.cs.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: metav1.NewUIDPreconditions(string(pod.UID)),
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	return nil
}

// removePod stops and removes every container of a pod, its network, its
// cgroup and its directory.
func (n *node) removePod(ctx context.Context, pod *corev1.Pod, uid types.UID, ctrs []Container, grace time.Duration) error {
	n.probes.Forget(ctrs)
	if err := n.killPod(ctx, pod, ctrs, grace, true); err != nil {
		return err
	}
	for _, c := range ctrs {
		if err := n.runtime.RemoveContainer(ctx, c.ID); err != nil {
			return err
		}
	}
	if err := n.network.DelPod(ctx, string(uid)); err != nil {
		return err
	}
	n.runtime.RemovePodCgroup(uid)
	os.RemoveAll(n.runtime.PodDir(uid))
	n.mu.Lock()
	delete(n.errors, string(uid))
	n.mu.Unlock()
	return nil
}

// updateStatus writes the pod's status if it changed, and says when to
// look again: when a backoff ends, or to retry what failed.
func (n *node) updateStatus(ctx context.Context, pod *corev1.Pod, ctrs []Container, a Actions, backoffEnds time.Duration) (time.Duration, error) {
	n.probes.Sync(pod, ctrs)
	n.removeDeadContainers(ctx, ctrs)
	for name, w := range a.Waiting {
		if w.Reason == "CrashLoopBackOff" {
			n.recorder.Eventf(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", name, pod.Name, pod.Namespace, pod.UID)
		}
	}
	status := ComputeStatus(StatusInput{Pod: pod, Containers: ctrs, Actions: a, Errors: n.podErrors(pod), HostIP: n.cfg.NodeIP, Now: time.Now(), Probes: n.probes.Outcome})
	requeue := backoffEnds
	if len(n.podErrors(pod)) > 0 && requeue == 0 {
		requeue = n.cfg.BackoffInit
	}
	if apiequality.Semantic.DeepEqual(pod.Status, status) {
		return requeue, nil
	}
	pod.Status = status
	_, err := n.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return time.Millisecond, nil // a newer pod is on its way through the informer
	}
	return requeue, err
}

// removeDeadContainers keeps, of each container of a pod, the newest
// instance and the one before it (`kubectl logs --previous`), and removes
// older exited ones with their snapshots, as the kubelet's container
// garbage collection does (one dead container per container name).
func (n *node) removeDeadContainers(ctx context.Context, ctrs []Container) {
	byName := map[string][]Container{}
	for _, c := range ctrs {
		if !c.Sandbox {
			byName[c.Name] = append(byName[c.Name], c)
		}
	}
	for _, list := range byName {
		slices.SortFunc(list, func(a, b Container) int { return b.Attempt - a.Attempt }) // newest first
		for _, c := range list[min(2, len(list)):] {
			if c.State == StateExited {
				n.runtime.RemoveContainer(ctx, c.ID)
			}
		}
	}
}

// watchExits requeues a pod as soon as one of its containers exits.
func (n *node) watchExits(ctx context.Context) {
	for ctx.Err() == nil {
		msgs, errs := n.runtime.client.Subscribe(ctx, `topic=="/tasks/exit"`)
	loop:
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-errs:
				if ctx.Err() == nil {
					fmt.Fprintf(os.Stderr, "kubelet: containerd events: %v\n", err)
				}
				break loop
			case env := <-msgs:
				v, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					continue
				}
				if exit, ok := v.(*events.TaskExit); ok {
					n.requeueContainer(ctx, exit.ContainerID)
				}
			}
		}
		time.Sleep(time.Second)
	}
}

func (n *node) requeueContainer(ctx context.Context, id string) {
	ctr, err := n.runtime.client.LoadContainer(ctx, id)
	if err != nil {
		return
	}
	labels, err := ctr.Labels(ctx)
	if err != nil {
		return
	}
	n.queue.Add(labels[labelPodNamespace] + "/" + labels[labelPodName])
}

// housekeeping removes what belongs to no pod of this node any more
// (deleted while the kubelet was away, or never known), and resyncs every
// pod now and then.
func (n *node) housekeeping(ctx context.Context) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	resync := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pods, err := n.pods.List(labels.Everything())
		if err != nil {
			continue
		}
		known := map[types.UID]bool{}
		for _, p := range pods {
			known[p.UID] = true
			if time.Since(resync) > 10*time.Second {
				if key, err := cache.MetaNamespaceKeyFunc(p); err == nil {
					n.queue.Add(key)
				}
			}
		}
		if time.Since(resync) > 10*time.Second {
			resync = time.Now()
		}
		all, err := n.runtime.List(ctx)
		if err != nil {
			continue
		}
		orphans := map[types.UID][]Container{}
		for _, c := range all {
			if !known[c.PodUID] {
				orphans[c.PodUID] = append(orphans[c.PodUID], c)
			}
		}
		nets, err := n.network.List()
		if err != nil {
			continue
		}
		for _, pn := range nets {
			if uid := types.UID(pn.Pod.UID); !known[uid] {
				if _, ok := orphans[uid]; !ok {
					orphans[uid] = nil
				}
			}
		}
		for uid, ctrs := range orphans {
			if err := n.removePod(ctx, nil, uid, ctrs, 2*time.Second); err != nil {
				fmt.Fprintf(os.Stderr, "kubelet: removing orphaned pod %s: %v\n", uid, err)
			}
		}
	}
}
