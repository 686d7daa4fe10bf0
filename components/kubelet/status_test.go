package kubelet

// Unit tests of ComputeStatus: the pod status the kubelet reports, from
// which kubectl prints READY, STATUS and RESTARTS.
//
// Reference: kubernetes pkg/kubelet/kubelet_pods.go (getPhase,
// convertToAPIContainerStatuses, generateAPIPodStatus) and
// pkg/kubelet/status/generate.go (the pod conditions).

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// now is when ComputeStatus runs in these tests.
var now = t0.Add(2 * time.Hour)

const busyboxRef = "docker.io/library/busybox:latest"

func ptrTo[T any](v T) *T { return &v }

// Expected container statuses.

func waitingCS(name, reason, message string) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name:    name,
		Image:   busyboxRef,
		State:   corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}},
		Started: ptrTo(false),
	}
}

func terminatedState(c Container) *corev1.ContainerStateTerminated {
	reason := "Completed"
	if c.ExitCode != 0 {
		reason = "Error"
	}
	return &corev1.ContainerStateTerminated{
		ExitCode: c.ExitCode, Reason: reason, ContainerID: "containerd://" + c.ID,
		StartedAt: metav1.NewTime(c.StartedAt), FinishedAt: metav1.NewTime(c.FinishedAt),
	}
}

// instanceCS is the status of a container that has an instance on the
// node: its ID, image ID and restart count, and no state yet.
func instanceCS(c Container) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name: c.Name, Image: busyboxRef, ImageID: "docker.io/library/busybox@" + c.ImageRef,
		ContainerID: "containerd://" + c.ID, RestartCount: int32(c.Attempt), Started: ptrTo(false),
	}
}

func runningCS(c Container) corev1.ContainerStatus {
	cs := instanceCS(c)
	cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.StartedAt)}
	cs.Ready, cs.Started = true, ptrTo(true)
	return cs
}

func terminatedCS(c Container) corev1.ContainerStatus {
	cs := instanceCS(c)
	cs.State.Terminated = terminatedState(c)
	return cs
}

func withLast(cs corev1.ContainerStatus, prev Container) corev1.ContainerStatus {
	cs.LastTerminationState.Terminated = terminatedState(prev)
	return cs
}

func withWaiting(cs corev1.ContainerStatus, reason, message string) corev1.ContainerStatus {
	cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}
	return cs
}

func ready(cs corev1.ContainerStatus) corev1.ContainerStatus {
	cs.Ready = true
	return cs
}

func TestComputeStatusContainers(t *testing.T) {
	crashMsg := "back-off 20s restarting failed container=c pod=p_ns(" + testUID + ")"
	crashing := Actions{StartInit: -1, Waiting: map[string]Waiting{"c": {Reason: "CrashLoopBackOff", Message: crashMsg}}}
	pullErr := map[string]Waiting{"c": {Reason: "ErrImagePull", Message: `failed to pull image "busybox": no registry`}}
	tests := []struct {
		name     string
		pod      *corev1.Pod
		ctrs     []Container
		actions  Actions
		errors   map[string]Waiting
		wantInit []corev1.ContainerStatus
		want     []corev1.ContainerStatus
	}{
		{
			name: "not created yet: ContainerCreating",
			pod:  newPod("c"),
			want: []corev1.ContainerStatus{waitingCS("c", "ContainerCreating", "")},
		},
		{
			name:     "init containers not started: every container waits PodInitializing",
			pod:      withInit(newPod("c"), "i0", "i1"),
			ctrs:     []Container{sandbox(StateRunning)},
			wantInit: []corev1.ContainerStatus{waitingCS("i0", "PodInitializing", ""), waitingCS("i1", "PodInitializing", "")},
			want:     []corev1.ContainerStatus{waitingCS("c", "PodInitializing", "")},
		},
		{
			name:     "init container running: not ready; the next one and the app wait",
			pod:      withInit(newPod("c"), "i0", "i1"),
			ctrs:     []Container{sandbox(StateRunning), running("i0", 0)},
			wantInit: []corev1.ContainerStatus{func() corev1.ContainerStatus { cs := runningCS(running("i0", 0)); cs.Ready = false; return cs }(), waitingCS("i1", "PodInitializing", "")},
			want:     []corev1.ContainerStatus{waitingCS("c", "PodInitializing", "")},
		},
		{
			// convertToAPIContainerStatuses: the default waiting reason is
			// PodInitializing for every container of a pod that has init
			// containers, ContainerCreating otherwise.
			name:     "init containers done, app not created yet: PodInitializing, as in Kubernetes",
			pod:      withInit(newPod("c"), "i0"),
			ctrs:     []Container{sandbox(StateRunning), exited("i0", 0, 0)},
			wantInit: []corev1.ContainerStatus{ready(terminatedCS(exited("i0", 0, 0)))},
			want:     []corev1.ContainerStatus{waitingCS("c", "PodInitializing", "")},
		},
		{
			name:     "init container failed and backed off: Init:CrashLoopBackOff",
			pod:      withInit(newPod("c"), "i0"),
			ctrs:     []Container{sandbox(StateRunning), exited("i0", 1, 1), exited("i0", 0, 1)},
			actions:  Actions{StartInit: -1, Waiting: map[string]Waiting{"i0": {Reason: "CrashLoopBackOff", Message: "back-off 10s"}}},
			wantInit: []corev1.ContainerStatus{withLast(withWaiting(instanceCS(exited("i0", 1, 1)), "CrashLoopBackOff", "back-off 10s"), exited("i0", 1, 1))},
			want:     []corev1.ContainerStatus{waitingCS("c", "PodInitializing", "")},
		},
		{
			name:     "init container's image cannot be pulled: the error is its waiting reason",
			pod:      withInit(newPod("c"), "i0"),
			ctrs:     []Container{sandbox(StateRunning)},
			errors:   map[string]Waiting{"i0": {Reason: "ErrImagePull", Message: "no registry"}},
			wantInit: []corev1.ContainerStatus{waitingCS("i0", "ErrImagePull", "no registry")},
			want:     []corev1.ContainerStatus{waitingCS("c", "PodInitializing", "")},
		},
		{
			name:   "image cannot be pulled: ErrImagePull from Errors, with its message",
			pod:    newPod("c"),
			ctrs:   []Container{sandbox(StateRunning)},
			errors: pullErr,
			want:   []corev1.ContainerStatus{waitingCS("c", "ErrImagePull", `failed to pull image "busybox": no registry`)},
		},
		{
			name: "created, not yet running: waiting ContainerCreating",
			pod:  newPod("c"),
			ctrs: []Container{sandbox(StateRunning), func() Container { c := running("c", 0); c.State = StateCreated; return c }()},
			want: []corev1.ContainerStatus{withWaiting(instanceCS(running("c", 0)), "ContainerCreating", "")},
		},
		{
			name: "running: ready, started, containerd:// ID, normalized image, image ID",
			pod:  newPod("c"),
			ctrs: []Container{sandbox(StateRunning), running("c", 0)},
			want: []corev1.ContainerStatus{runningCS(running("c", 0))},
		},
		{
			name: "running after restarts: restartCount and lastState",
			pod:  newPod("c"),
			ctrs: []Container{sandbox(StateRunning), exited("c", 0, 1), exited("c", 1, 2), running("c", 2)},
			want: []corev1.ContainerStatus{withLast(runningCS(running("c", 2)), exited("c", 1, 2))},
		},
		{
			name: "exited 0, not restarted: terminated Completed",
			pod:  withPolicy(newPod("c"), corev1.RestartPolicyNever),
			ctrs: []Container{sandbox(StateRunning), exited("c", 0, 0)},
			want: []corev1.ContainerStatus{terminatedCS(exited("c", 0, 0))},
		},
		{
			name: "exited 3: terminated Error with the exit code",
			pod:  withPolicy(newPod("c"), corev1.RestartPolicyNever),
			ctrs: []Container{sandbox(StateRunning), exited("c", 0, 3)},
			want: []corev1.ContainerStatus{terminatedCS(exited("c", 0, 3))},
		},
		{
			name: "exited after a restart: terminated, and lastState the one before",
			pod:  withPolicy(newPod("c"), corev1.RestartPolicyOnFailure),
			ctrs: []Container{sandbox(StateRunning), exited("c", 0, 1), exited("c", 1, 0)},
			want: []corev1.ContainerStatus{withLast(terminatedCS(exited("c", 1, 0)), exited("c", 0, 1))},
		},
		{
			name:    "crash looping: waiting CrashLoopBackOff, lastState the crash",
			pod:     newPod("c"),
			ctrs:    []Container{sandbox(StateRunning), exited("c", 2, 1), exited("c", 3, 1)},
			actions: crashing,
			want:    []corev1.ContainerStatus{withLast(withWaiting(instanceCS(exited("c", 3, 1)), "CrashLoopBackOff", crashMsg), exited("c", 3, 1))},
		},
		{
			name:   "restart failed to pull: waiting ErrImagePull, lastState the exit",
			pod:    newPod("c"),
			ctrs:   []Container{sandbox(StateRunning), exited("c", 0, 0)},
			errors: pullErr,
			want:   []corev1.ContainerStatus{withLast(withWaiting(instanceCS(exited("c", 0, 0)), "ErrImagePull", `failed to pull image "busybox": no registry`), exited("c", 0, 0))},
		},
		{
			name: "two containers keep spec order",
			pod:  newPod("b", "a"),
			ctrs: []Container{sandbox(StateRunning), running("a", 0)},
			want: []corev1.ContainerStatus{waitingCS("b", "ContainerCreating", ""), runningCS(running("a", 0))},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.actions.Waiting == nil {
				tt.actions = Actions{StartInit: -1}
			}
			st := ComputeStatus(StatusInput{Pod: tt.pod, Containers: tt.ctrs, Actions: tt.actions, Errors: tt.errors, HostIP: "10.0.0.1", Now: now})
			if diff := cmp.Diff(tt.wantInit, st.InitContainerStatuses); diff != "" {
				t.Errorf("initContainerStatuses (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, st.ContainerStatuses); diff != "" {
				t.Errorf("containerStatuses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestComputeStatusImage(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name        string
		image       string
		imageRef    string
		wantImage   string
		wantImageID string
	}{
		{"docker hub short name", "busybox", "sha256:feed", busyboxRef, "docker.io/library/busybox@sha256:feed"},
		{"user image with tag", "tinykube/demo:1.0", "sha256:beef", "docker.io/tinykube/demo:1.0", "docker.io/tinykube/demo@sha256:beef"},
		{"registry with a port", "localhost:5000/app", "sha256:cafe", "localhost:5000/app:latest", "localhost:5000/app@sha256:cafe"},
		{"registry.k8s.io", "registry.k8s.io/pause:3.10", "sha256:abcd", "registry.k8s.io/pause:3.10", "registry.k8s.io/pause@sha256:abcd"},
		{"by digest: the image ID is name@digest, not name@sha256@digest", "busybox@" + digest, digest, "docker.io/library/busybox@" + digest, "docker.io/library/busybox@" + digest},
		{"no digest known: no image ID", "busybox", "", busyboxRef, ""},
		{"an invalid name is shown as written", "Busybox", "", "Busybox", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := newPod("c")
			pod.Spec.Containers[0].Image = tt.image
			c := running("c", 0)
			c.Image, c.ImageRef = tt.image, tt.imageRef
			st := ComputeStatus(StatusInput{Pod: pod, Containers: []Container{sandbox(StateRunning), c}, Actions: Actions{StartInit: -1}, Now: now})
			got := st.ContainerStatuses[0]
			if got.Image != tt.wantImage || got.ImageID != tt.wantImageID {
				t.Errorf("image, imageID = %q, %q; want %q, %q", got.Image, got.ImageID, tt.wantImage, tt.wantImageID)
			}
		})
	}
}

func TestImageName(t *testing.T) {
	for in, want := range map[string]string{
		"docker.io/library/busybox:latest":    "docker.io/library/busybox",
		"localhost:5000/app:1":                "localhost:5000/app",
		"localhost:5000/app":                  "localhost:5000/app",
		"docker.io/library/busybox@sha256:ab": "docker.io/library/busybox",
		"registry.k8s.io/pause":               "registry.k8s.io/pause",
	} {
		if got := imageName(in); got != want {
			t.Errorf("imageName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestComputeStatusPhase(t *testing.T) {
	sb := sandbox(StateRunning)
	crashing := Actions{StartInit: -1, Waiting: map[string]Waiting{"c": {Reason: "CrashLoopBackOff"}}}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		ctrs    []Container
		actions Actions
		want    corev1.PodPhase
	}{
		{name: "nothing on the node yet", pod: newPod("c"), want: corev1.PodPending},
		{name: "sandbox only", pod: newPod("c"), ctrs: []Container{sb}, want: corev1.PodPending},
		{name: "init running", pod: withInit(newPod("c"), "i"), ctrs: []Container{sb, running("i", 0)}, want: corev1.PodPending},
		{name: "init failed, Always: retried, Pending", pod: withInit(newPod("c"), "i"), ctrs: []Container{sb, exited("i", 0, 1)}, want: corev1.PodPending},
		{name: "init failed, Never: Failed", pod: withPolicy(withInit(newPod("c"), "i"), corev1.RestartPolicyNever), ctrs: []Container{sb, exited("i", 0, 1)}, want: corev1.PodFailed},
		{name: "init done, app not started", pod: withInit(newPod("c"), "i"), ctrs: []Container{sb, exited("i", 0, 0)}, want: corev1.PodPending},
		{name: "one of two started", pod: newPod("a", "b"), ctrs: []Container{sb, running("a", 0)}, want: corev1.PodPending},
		{name: "all running", pod: newPod("a", "b"), ctrs: []Container{sb, running("a", 0), running("b", 0)}, want: corev1.PodRunning},
		{name: "crash looping is Running", pod: newPod("c"), ctrs: []Container{sb, exited("c", 4, 1)}, actions: crashing, want: corev1.PodRunning},
		{name: "Always, all exited 0: restarting, Running", pod: newPod("c"), ctrs: []Container{sb, exited("c", 0, 0)}, want: corev1.PodRunning},
		{name: "OnFailure, all exited 0: Succeeded", pod: withPolicy(newPod("a", "b"), corev1.RestartPolicyOnFailure), ctrs: []Container{sb, exited("a", 0, 0), exited("b", 0, 0)}, want: corev1.PodSucceeded},
		{name: "OnFailure, one failed: restarting, Running", pod: withPolicy(newPod("a", "b"), corev1.RestartPolicyOnFailure), ctrs: []Container{sb, exited("a", 0, 0), exited("b", 0, 1)}, want: corev1.PodRunning},
		{name: "Never, all exited 0: Succeeded", pod: withPolicy(newPod("c"), corev1.RestartPolicyNever), ctrs: []Container{sb, exited("c", 0, 0)}, want: corev1.PodSucceeded},
		{name: "Never, one failed: Failed", pod: withPolicy(newPod("a", "b"), corev1.RestartPolicyNever), ctrs: []Container{sb, exited("a", 0, 0), exited("b", 0, 137)}, want: corev1.PodFailed},
		{name: "Never, one failed, one runs: Running", pod: withPolicy(newPod("a", "b"), corev1.RestartPolicyNever), ctrs: []Container{sb, exited("a", 0, 1), running("b", 0)}, want: corev1.PodRunning},
		{name: "Succeeded stays Succeeded", pod: withPhase(newPod("c"), corev1.PodSucceeded), ctrs: []Container{sb, running("c", 1)}, want: corev1.PodSucceeded},
		{name: "Failed stays Failed", pod: withPhase(newPod("c"), corev1.PodFailed), want: corev1.PodFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.actions.Waiting == nil {
				tt.actions = Actions{StartInit: -1}
			}
			st := ComputeStatus(StatusInput{Pod: tt.pod, Containers: tt.ctrs, Actions: tt.actions, HostIP: "10.0.0.1", Now: now})
			if st.Phase != tt.want {
				t.Errorf("phase = %s, want %s", st.Phase, tt.want)
			}
		})
	}
}

func TestComputeStatusConditions(t *testing.T) {
	earlier := metav1.NewTime(t0.Add(time.Minute))
	nowT := metav1.NewTime(now)
	cond := func(typ corev1.PodConditionType, ok bool, reason string, at metav1.Time) corev1.PodCondition {
		c := corev1.PodCondition{Type: typ, Status: corev1.ConditionFalse, Reason: reason, LastTransitionTime: at}
		if ok {
			c.Status = corev1.ConditionTrue
		}
		return c
	}
	scheduled := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)}
	sb := sandbox(StateRunning)
	tests := []struct {
		name string
		pod  *corev1.Pod
		old  []corev1.PodCondition
		ctrs []Container
		want []corev1.PodCondition
	}{
		{
			// Kubernetes' order: PodReadyToStartContainers, Initialized,
			// Ready, ContainersReady, then the scheduler's PodScheduled.
			name: "running and ready, first report",
			pod:  newPod("c"),
			ctrs: []Container{sb, running("c", 0)},
			want: []corev1.PodCondition{
				cond(corev1.PodReadyToStartContainers, true, "", nowT),
				cond(corev1.PodInitialized, true, "", nowT),
				cond(corev1.PodReady, true, "", nowT),
				cond(corev1.ContainersReady, true, "", nowT),
			},
		},
		{
			name: "unchanged conditions keep their lastTransitionTime; PodScheduled carried over",
			pod:  newPod("c"),
			old: []corev1.PodCondition{
				scheduled,
				cond(corev1.PodReadyToStartContainers, true, "", earlier),
				cond(corev1.PodInitialized, true, "", earlier),
				cond(corev1.ContainersReady, false, "ContainersNotReady", earlier),
				cond(corev1.PodReady, false, "ContainersNotReady", earlier),
			},
			ctrs: []Container{sb, running("c", 0)},
			want: []corev1.PodCondition{
				cond(corev1.PodReadyToStartContainers, true, "", earlier),
				cond(corev1.PodInitialized, true, "", earlier),
				cond(corev1.PodReady, true, "", nowT),
				cond(corev1.ContainersReady, true, "", nowT),
				scheduled,
			},
		},
		{
			name: "no sandbox yet",
			pod:  newPod("c"),
			old:  []corev1.PodCondition{scheduled},
			want: []corev1.PodCondition{
				cond(corev1.PodReadyToStartContainers, false, "", nowT),
				cond(corev1.PodInitialized, true, "", nowT),
				cond(corev1.PodReady, false, "ContainersNotReady", nowT),
				cond(corev1.ContainersReady, false, "ContainersNotReady", nowT),
				scheduled,
			},
		},
		{
			name: "init containers not done",
			pod:  withInit(newPod("c"), "i"),
			ctrs: []Container{sb, running("i", 0)},
			want: []corev1.PodCondition{
				cond(corev1.PodReadyToStartContainers, true, "", nowT),
				cond(corev1.PodInitialized, false, "ContainersNotInitialized", nowT),
				cond(corev1.PodReady, false, "ContainersNotReady", nowT),
				cond(corev1.ContainersReady, false, "ContainersNotReady", nowT),
			},
		},
		{
			name: "one of two containers not ready",
			pod:  newPod("a", "b"),
			ctrs: []Container{sb, running("a", 0), exited("b", 0, 1)},
			want: []corev1.PodCondition{
				cond(corev1.PodReadyToStartContainers, true, "", nowT),
				cond(corev1.PodInitialized, true, "", nowT),
				cond(corev1.PodReady, false, "ContainersNotReady", nowT),
				cond(corev1.ContainersReady, false, "ContainersNotReady", nowT),
			},
		},
		{
			// generate.go: a Succeeded pod is Initialized and not Ready,
			// both with reason PodCompleted.
			name: "Succeeded: PodCompleted",
			pod:  withPolicy(newPod("c"), corev1.RestartPolicyNever),
			old: []corev1.PodCondition{
				cond(corev1.PodInitialized, true, "", earlier),
				cond(corev1.PodReady, true, "", earlier),
			},
			ctrs: []Container{sb, exited("c", 0, 0)},
			want: []corev1.PodCondition{
				cond(corev1.PodReadyToStartContainers, true, "", nowT),
				cond(corev1.PodInitialized, true, "PodCompleted", earlier),
				cond(corev1.PodReady, false, "PodCompleted", nowT),
				cond(corev1.ContainersReady, false, "PodCompleted", nowT),
			},
		},
		{
			// generate.go: a Failed pod's Ready and ContainersReady say
			// PodFailed.
			name: "Failed: PodFailed",
			pod:  withPolicy(newPod("c"), corev1.RestartPolicyNever),
			ctrs: []Container{sb, exited("c", 0, 2)},
			want: []corev1.PodCondition{
				cond(corev1.PodReadyToStartContainers, true, "", nowT),
				cond(corev1.PodInitialized, true, "", nowT),
				cond(corev1.PodReady, false, "PodFailed", nowT),
				cond(corev1.ContainersReady, false, "PodFailed", nowT),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.pod.Status.Conditions = tt.old
			st := ComputeStatus(StatusInput{Pod: tt.pod, Containers: tt.ctrs, Actions: Actions{StartInit: -1}, HostIP: "10.0.0.1", Now: now})
			want := tt.want
			if !slices.ContainsFunc(want, func(c corev1.PodCondition) bool { return c.Type == corev1.PodScheduled }) {
				// A pod the kubelet met without a scheduler (spec.nodeName)
				// is reported scheduled.
				want = append(slices.Clone(want), cond(corev1.PodScheduled, true, "", nowT))
			}
			if diff := cmp.Diff(want, st.Conditions); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
		})
	}
}

// The whole status of a running pod, field by field.
func TestComputeStatusRunningPod(t *testing.T) {
	started := metav1.NewTime(t0)
	pod := newPod("c")
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodPending, StartTime: &started, QOSClass: corev1.PodQOSBestEffort,
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: started}},
	}
	in := StatusInput{Pod: pod, Containers: []Container{sandbox(StateRunning), running("c", 0)}, Actions: Actions{StartInit: -1}, HostIP: "10.0.0.1", Now: now}
	nowT := metav1.NewTime(now)
	want := corev1.PodStatus{
		Phase: corev1.PodRunning,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: nowT},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: nowT},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: nowT},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: nowT},
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: started},
		},
		HostIP:            "10.0.0.1",
		HostIPs:           []corev1.HostIP{{IP: "10.0.0.1"}},
		PodIP:             "10.244.1.5",
		PodIPs:            []corev1.PodIP{{IP: "10.244.1.5"}},
		StartTime:         &started,
		ContainerStatuses: []corev1.ContainerStatus{runningCS(running("c", 0))},
		QOSClass:          corev1.PodQOSBestEffort,
	}
	if diff := cmp.Diff(want, ComputeStatus(in)); diff != "" {
		t.Errorf("ComputeStatus (-want +got):\n%s", diff)
	}
}

func TestComputeStatusIPsAndStartTime(t *testing.T) {
	earlier := metav1.NewTime(t0)
	tests := []struct {
		name        string
		pod         *corev1.Pod
		old         corev1.PodStatus
		ctrs        []Container
		hostIP      string
		wantPodIPs  []corev1.PodIP
		wantHostIPs []corev1.HostIP
		wantStart   metav1.Time
	}{
		{
			name:        "first report: startTime is now, no sandbox, no pod IP",
			pod:         newPod("c"),
			hostIP:      "10.0.0.1",
			wantHostIPs: []corev1.HostIP{{IP: "10.0.0.1"}},
			wantStart:   metav1.NewTime(now),
		},
		{
			name:        "the pod IP is the running sandbox's; startTime kept",
			pod:         newPod("c"),
			old:         corev1.PodStatus{StartTime: &earlier},
			ctrs:        []Container{sandbox(StateRunning)},
			hostIP:      "10.0.0.1",
			wantPodIPs:  []corev1.PodIP{{IP: "10.244.1.5"}},
			wantHostIPs: []corev1.HostIP{{IP: "10.0.0.1"}},
			wantStart:   earlier,
		},
		{
			name:        "a dead sandbox has no IP",
			pod:         newPod("c"),
			old:         corev1.PodStatus{StartTime: &earlier, PodIP: "10.244.1.5", PodIPs: []corev1.PodIP{{IP: "10.244.1.5"}}},
			ctrs:        []Container{sandbox(StateExited), exited("c", 0, 137)},
			hostIP:      "10.0.0.1",
			wantHostIPs: []corev1.HostIP{{IP: "10.0.0.1"}},
			wantStart:   earlier,
		},
		{
			name:        "a finished pod keeps the IP it had",
			pod:         withPolicy(newPod("c"), corev1.RestartPolicyNever),
			old:         corev1.PodStatus{StartTime: &earlier, PodIP: "10.244.1.9", PodIPs: []corev1.PodIP{{IP: "10.244.1.9"}}},
			ctrs:        []Container{sandbox(StateExited), exited("c", 0, 0)},
			hostIP:      "10.0.0.1",
			wantPodIPs:  []corev1.PodIP{{IP: "10.244.1.9"}},
			wantHostIPs: []corev1.HostIP{{IP: "10.0.0.1"}},
			wantStart:   earlier,
		},
		{
			name:      "no host IP known: no hostIPs entry with an empty IP",
			pod:       newPod("c"),
			wantStart: metav1.NewTime(now),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.pod.Status = tt.old
			st := ComputeStatus(StatusInput{Pod: tt.pod, Containers: tt.ctrs, Actions: Actions{StartInit: -1}, HostIP: tt.hostIP, Now: now})
			wantPodIP := ""
			if len(tt.wantPodIPs) > 0 {
				wantPodIP = tt.wantPodIPs[0].IP
			}
			if st.PodIP != wantPodIP {
				t.Errorf("podIP = %q, want %q", st.PodIP, wantPodIP)
			}
			if diff := cmp.Diff(tt.wantPodIPs, st.PodIPs, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("podIPs (-want +got):\n%s", diff)
			}
			if st.HostIP != tt.hostIP {
				t.Errorf("hostIP = %q, want %q", st.HostIP, tt.hostIP)
			}
			if diff := cmp.Diff(tt.wantHostIPs, st.HostIPs, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("hostIPs (-want +got):\n%s", diff)
			}
			if st.StartTime == nil || !st.StartTime.Equal(&tt.wantStart) {
				t.Errorf("startTime = %v, want %v", st.StartTime, tt.wantStart)
			}
		})
	}
}

// Probes decide whether a running container is ready and started; without
// them a running container is both. Reference: Kubernetes docs,
// "Configure Liveness, Readiness and Startup Probes".
func TestComputeStatusProbes(t *testing.T) {
	tests := []struct {
		name        string
		ctrs        []Container
		outcome     Outcome
		wantAsked   []string
		wantReady   bool
		wantStarted bool
		wantPodCond corev1.ConditionStatus
	}{
		{
			name:        "ready and started",
			ctrs:        []Container{sandbox(StateRunning), running("c", 1)},
			outcome:     Outcome{Ready: true, Started: true},
			wantAsked:   []string{"c-1/c"},
			wantReady:   true,
			wantStarted: true,
			wantPodCond: corev1.ConditionTrue,
		},
		{
			name:        "readiness probe failing: started, not ready, pod not Ready",
			ctrs:        []Container{sandbox(StateRunning), running("c", 1)},
			outcome:     Outcome{Ready: false, Started: true},
			wantAsked:   []string{"c-1/c"},
			wantStarted: true,
			wantPodCond: corev1.ConditionFalse,
		},
		{
			name:        "startup probe not passed yet: neither",
			ctrs:        []Container{sandbox(StateRunning), running("c", 0)},
			outcome:     Outcome{},
			wantAsked:   []string{"c-0/c"},
			wantPodCond: corev1.ConditionFalse,
		},
		{
			name:        "an exited container is not probed",
			ctrs:        []Container{sandbox(StateRunning), exited("c", 0, 1)},
			outcome:     Outcome{Ready: true, Started: true},
			wantPodCond: corev1.ConditionFalse,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []string
			probes := func(id string, spec *corev1.Container) Outcome {
				asked = append(asked, id+"/"+spec.Name)
				return tt.outcome
			}
			st := ComputeStatus(StatusInput{Pod: newPod("c"), Containers: tt.ctrs, Actions: Actions{StartInit: -1}, HostIP: "10.0.0.1", Now: now, Probes: probes})
			if diff := cmp.Diff(tt.wantAsked, asked); diff != "" {
				t.Errorf("probes asked (-want +got):\n%s", diff)
			}
			cs := st.ContainerStatuses[0]
			if cs.Ready != tt.wantReady || cs.Started == nil || *cs.Started != tt.wantStarted {
				t.Errorf("ready, started = %v, %v; want %v, %v", cs.Ready, cs.Started, tt.wantReady, tt.wantStarted)
			}
			for _, c := range st.Conditions {
				if (c.Type == corev1.PodReady || c.Type == corev1.ContainersReady) && c.Status != tt.wantPodCond {
					t.Errorf("condition %s = %s, want %s", c.Type, c.Status, tt.wantPodCond)
				}
			}
		})
	}
}
