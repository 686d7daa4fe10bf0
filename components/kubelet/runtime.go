package kubelet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/reference/docker"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"k8s.io/apimachinery/pkg/types"
)

// Labels tinykube puts on its containerd containers, so that a restarted
// kubelet finds its pods' containers again (`ctr -n k8s.io containers ls`
// shows them). The io.kubernetes.* ones are the CRI's own names.
const (
	labelPodUID        = "io.kubernetes.pod.uid"
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelContainerName = "io.kubernetes.container.name"
	labelKind          = "io.tinykube.kind" // "sandbox" or "container"
	labelAttempt       = "io.tinykube.attempt"
	labelNetNS         = "io.tinykube.netns"
	labelPodIP         = "io.tinykube.pod-ip"
	labelImage         = "io.tinykube.image" // the image as the pod spec names it
	labelStartedAt     = "io.tinykube.started-at"
	labelFinishedAt    = "io.tinykube.finished-at"
	labelExitCode      = "io.tinykube.exit-code"
	labelLogPath       = "io.tinykube.log-path"
)

// PauseImage is the sandbox image: it holds the pod's namespaces.
const PauseImage = "registry.k8s.io/pause:3.10"

// State is where a container is in its life.
type State string

// Container states, as the CRI names them.
const (
	StateCreated State = "created"
	StateRunning State = "running"
	StateExited  State = "exited"
)

// Container is what the kubelet knows of one containerd container: the pure
// core (sync.go, status.go) works on these, never on containerd itself.
type Container struct {
	ID         string
	PodUID     types.UID
	PodName    string
	Namespace  string
	Name       string // the container's name in the pod; "" for a sandbox
	Sandbox    bool
	Attempt    int // 0 for the first run, then one more per restart
	State      State
	ExitCode   int32
	StartedAt  time.Time
	FinishedAt time.Time
	Image      string // as in the pod spec
	ImageRef   string // the image's digest
	PID        uint32
	NetNS      string // sandbox only
	PodIP      string // sandbox only
	LogPath    string
}

// Runtime runs containers on the node's containerd. Every method does I/O;
// the decisions are made elsewhere.
type Runtime struct {
	client       *containerd.Client
	runcRoot     string // runc's state, one per node (MACHINES-AND-NETWORK.md)
	cgroupParent string // e.g. /tinykube/tk/node1
	podsDir      string // per pod: logs, etc files, volumes
}

// newID returns a container ID as the CRI makes them: 64 hex digits.
func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// NormalizeImage turns an image as written in a pod ("busybox") into the
// full reference containerd stores ("docker.io/library/busybox:latest").
func NormalizeImage(image string) (string, error) {
	named, err := docker.ParseDockerRef(image)
	if err != nil {
		return "", fmt.Errorf("invalid image name %q: %w", image, err)
	}
	return named.String(), nil
}

// List returns every container of tinykube's pods on this node. A task
// that has exited is reaped on the way: its exit code and time are moved
// into the container's labels and the task (and its shim) removed.
func (r *Runtime) List(ctx context.Context) ([]Container, error) {
	return r.list(ctx, `labels."`+labelKind+`"`)
}

// ListPod is List for one pod's containers.
func (r *Runtime) ListPod(ctx context.Context, uid types.UID) ([]Container, error) {
	return r.list(ctx, fmt.Sprintf(`labels."%s"==%q`, labelPodUID, string(uid)))
}

func (r *Runtime) list(ctx context.Context, filter string) ([]Container, error) {
	ctrs, err := r.client.Containers(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("containerd: list containers: %w", err)
	}
	var out []Container
	for _, ctr := range ctrs {
		c, err := r.inspect(ctx, ctr)
		if err != nil {
			if errdefs.IsNotFound(err) {
				continue // removed meanwhile
			}
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (r *Runtime) inspect(ctx context.Context, ctr containerd.Container) (Container, error) {
	info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return Container{}, err
	}
	l := info.Labels
	c := Container{
		ID:        ctr.ID(),
		PodUID:    types.UID(l[labelPodUID]),
		PodName:   l[labelPodName],
		Namespace: l[labelPodNamespace],
		Name:      l[labelContainerName],
		Sandbox:   l[labelKind] == "sandbox",
		Image:     l[labelImage],
		NetNS:     l[labelNetNS],
		PodIP:     l[labelPodIP],
		LogPath:   l[labelLogPath],
		State:     StateCreated,
	}
	c.Attempt, _ = strconv.Atoi(l[labelAttempt])
	c.StartedAt = parseTime(l[labelStartedAt])
	if img, err := ctr.Image(ctx); err == nil {
		c.ImageRef = img.Target().Digest.String()
	}
	if code, ok := l[labelExitCode]; ok {
		n, _ := strconv.Atoi(code)
		c.State, c.ExitCode, c.FinishedAt = StateExited, int32(n), parseTime(l[labelFinishedAt])
		return c, nil
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		// Another List may have just reaped it: read its record again.
		if labels, err := ctr.Labels(ctx); err == nil {
			if code, ok := labels[labelExitCode]; ok {
				n, _ := strconv.Atoi(code)
				c.State, c.ExitCode, c.FinishedAt = StateExited, int32(n), parseTime(labels[labelFinishedAt])
				return c, nil
			}
		}
		if !c.StartedAt.IsZero() {
			// Started once, and its task is gone without a record: the
			// node lost it (the machine was powered off, containerd's
			// state was wiped). When it ended is unknown; now, when the
			// kubelet finds out, is recorded, so that the pod's
			// lastState says "ended a moment ago" rather than inventing
			// a time, and says the same on the next look.
			c.State, c.ExitCode, c.FinishedAt = StateExited, 255, time.Now()
			if err := r.recordExit(ctx, ctr, c); err != nil && !errdefs.IsNotFound(err) {
				return c, err
			}
		}
		return c, nil
	}
	if err != nil {
		return c, err
	}
	st, err := task.Status(ctx)
	if err != nil {
		return c, err
	}
	c.PID = task.Pid()
	switch st.Status {
	case containerd.Running, containerd.Paused, containerd.Pausing:
		c.State = StateRunning
	case containerd.Stopped:
		c.State, c.ExitCode, c.FinishedAt = StateExited, int32(st.ExitStatus), st.ExitTime
		if c.FinishedAt.IsZero() {
			c.FinishedAt = time.Now()
		}
		if err := r.recordExit(ctx, ctr, c); err != nil {
			return c, err
		}
		if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
			return c, fmt.Errorf("containerd: delete the task of %s: %w", c.ID, err)
		}
	}
	return c, nil
}

func (r *Runtime) recordExit(ctx context.Context, ctr containerd.Container, c Container) error {
	_, err := ctr.SetLabels(ctx, map[string]string{
		labelExitCode:   strconv.Itoa(int(c.ExitCode)),
		labelFinishedAt: c.FinishedAt.UTC().Format(time.RFC3339Nano),
	})
	return err
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// PodDir is a pod's directory on the node.
func (r *Runtime) PodDir(uid types.UID) string { return filepath.Join(r.podsDir, string(uid)) }

// cgroup is a container's cgroup path: one per pod under the node's parent.
func (r *Runtime) cgroup(uid types.UID, id string) string {
	return r.cgroupParent + "/pod" + string(uid) + "/" + id
}

// Spec is what StartContainer needs to know about one container.
type Spec struct {
	PodUID       types.UID
	PodName      string
	Namespace    string
	Name         string // "" for the sandbox
	Attempt      int
	Image        string // as in the pod spec
	Args         []string
	UseImageArgs bool // no command given: the image's entrypoint runs Args (or its own cmd if Args is empty)
	Env          []string
	WorkingDir   string
	Hostname     string
	Mounts       []specs.Mount
	MemoryLimit  int64 // bytes, 0: none
	CPUQuota     int64 // µs per 100 ms period, 0: none
	CPUShares    uint64
	// The sandbox's namespaces to join (app containers only).
	NetNS    string
	SharePID uint32 // the pause process: its IPC and UTS namespaces are shared
	// Sandbox only.
	PodIP string
}

// StartContainer creates a container from s with image and starts it,
// its output going to a log file. It returns the container's ID.
func (r *Runtime) StartContainer(ctx context.Context, s Spec, image containerd.Image) (string, error) {
	id := newID()
	kind := "container"
	if s.Name == "" {
		kind = "sandbox"
	}
	logPath := filepath.Join(r.PodDir(s.PodUID), "logs", "sandbox.log")
	if kind == "container" {
		logPath = filepath.Join(r.PodDir(s.PodUID), "logs", s.Name, strconv.Itoa(s.Attempt)+".log")
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return "", err
	}
	labels := map[string]string{
		labelKind: kind, labelPodUID: string(s.PodUID), labelPodName: s.PodName, labelPodNamespace: s.Namespace,
		labelContainerName: s.Name, labelAttempt: strconv.Itoa(s.Attempt), labelImage: s.Image, labelLogPath: logPath,
	}
	if kind == "sandbox" {
		labels[labelNetNS], labels[labelPodIP] = s.NetNS, s.PodIP
	}
	opts := []oci.SpecOpts{oci.WithImageConfig(image)}
	switch {
	case !s.UseImageArgs:
		opts = append(opts, oci.WithProcessArgs(s.Args...))
	case len(s.Args) > 0:
		opts = append(opts, oci.WithImageConfigArgs(image, s.Args))
	}
	opts = append(opts,
		oci.WithEnv(s.Env),
		oci.WithHostname(s.Hostname),
		oci.WithCgroup(r.cgroup(s.PodUID, id)),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: s.NetNS}),
		oci.WithMounts(s.Mounts),
	)
	if s.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(s.WorkingDir))
	}
	if s.SharePID != 0 {
		for _, ns := range []specs.LinuxNamespaceType{specs.IPCNamespace, specs.UTSNamespace} {
			opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: ns, Path: fmt.Sprintf("/proc/%d/ns/%s", s.SharePID, nsFile(ns))}))
		}
	}
	if s.MemoryLimit > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(s.MemoryLimit)))
	}
	if s.CPUQuota > 0 {
		opts = append(opts, oci.WithCPUCFS(s.CPUQuota, 100000))
	}
	if s.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(s.CPUShares))
	}
	ctr, err := r.client.NewContainer(ctx, id,
		containerd.WithImage(image),
		containerd.WithNewSnapshot(id, image),
		containerd.WithRuntime("io.containerd.runc.v2", &options.Options{Root: r.runcRoot}),
		containerd.WithNewSpec(opts...),
		containerd.WithContainerLabels(labels),
	)
	if err != nil {
		return "", fmt.Errorf("create container: %w", err)
	}
	task, err := ctr.NewTask(ctx, cio.LogFile(logPath))
	if err != nil {
		ctr.Delete(ctx, containerd.WithSnapshotCleanup)
		return "", fmt.Errorf("create the container's task: %w", err)
	}
	if err := task.Start(ctx); err != nil {
		task.Delete(ctx, containerd.WithProcessKill)
		ctr.Delete(ctx, containerd.WithSnapshotCleanup)
		return "", fmt.Errorf("start: %w", err)
	}
	if _, err := ctr.SetLabels(ctx, map[string]string{labelStartedAt: time.Now().UTC().Format(time.RFC3339Nano)}); err != nil {
		return id, err
	}
	return id, nil
}

func nsFile(t specs.LinuxNamespaceType) string {
	switch t {
	case specs.IPCNamespace:
		return "ipc"
	case specs.UTSNamespace:
		return "uts"
	}
	return string(t)
}

// StopContainer stops a running container as Kubernetes does: SIGTERM,
// then SIGKILL once grace has passed.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	ctr, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		return err
	}
	if grace > 0 {
		if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
		select {
		case <-exited:
			return nil
		case <-time.After(grace):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("container %s did not die after SIGKILL", id)
	}
}

// RemoveContainer deletes a container, its task and its snapshot, and its
// cgroup.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	ctr, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	info, _ := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
	if task, err := ctr.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete the task of %s: %w", id, err)
		}
	}
	if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	removeCgroup(r.cgroup(types.UID(info.Labels[labelPodUID]), id))
	return nil
}

// RemovePodCgroup removes the pod's cgroup once its containers are gone.
func (r *Runtime) RemovePodCgroup(uid types.UID) {
	removeCgroup(r.cgroupParent + "/pod" + string(uid))
}

// removeCgroup removes a cgroup v1 path from every controller (runc with
// the cgroupfs driver makes one directory per controller), and on a
// cgroup v2 host from the unified tree.
func removeCgroup(path string) {
	controllers, _ := filepath.Glob("/sys/fs/cgroup/*")
	controllers = append(controllers, "/sys/fs/cgroup")
	for _, c := range controllers {
		os.Remove(filepath.Join(c, path))
	}
}

// Image errors, with the reasons Kubernetes shows in a container's
// waiting state.
var (
	ErrImagePull      = errors.New("ErrImagePull")
	ErrImageNeverPull = errors.New("ErrImageNeverPull")
)

// fifoDir holds the pipes of exec sessions, on the node's own run dir.
func (r *Runtime) fifoDir() string { return filepath.Join(filepath.Dir(r.runcRoot), "fifo") }
