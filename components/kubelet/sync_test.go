package kubelet

// Unit tests of the pure sync core: ComputeActions, Latest, finished,
// shouldRestart and BackoffKey. No containerd, no apiserver: a pod and the
// containers "on the node" go in, the next step comes out.
//
// Reference: kubernetes pkg/kubelet/kuberuntime/kuberuntime_manager.go,
// computePodActions (one step per sync, init containers one at a time,
// sandbox changes kill the pod) and doBackOff (the CrashLoopBackOff
// message).

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// t0 is when the test pod's first sandbox started; everything else
// happens after it.
var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

const testUID = "0b1c2d3e-uid"

// newPod is pod "p" in namespace "ns" with app containers named by
// names (image busybox) and restartPolicy Always, as the apiserver
// defaults it.
func newPod(names ...string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: testUID},
		Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways, NodeName: "node1"},
	}
	for _, n := range names {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: n, Image: "busybox"})
	}
	return pod
}

func withPolicy(pod *corev1.Pod, p corev1.RestartPolicy) *corev1.Pod {
	pod.Spec.RestartPolicy = p
	return pod
}

func withInit(pod *corev1.Pod, names ...string) *corev1.Pod {
	for _, n := range names {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Name: n, Image: "busybox"})
	}
	return pod
}

func withPhase(pod *corev1.Pod, phase corev1.PodPhase) *corev1.Pod {
	pod.Status.Phase = phase
	return pod
}

// sandbox is the pod's pause container, started at t0.
func sandbox(state State) Container {
	c := Container{ID: "sandbox0", PodUID: testUID, Sandbox: true, State: state, StartedAt: t0, NetNS: "/run/netns/tk-node1-0b1c2d3e", PodIP: "10.244.1.5"}
	if state == StateExited {
		c.ExitCode, c.FinishedAt = 255, t0.Add(time.Hour)
	}
	return c
}

// started is when attempt of a container started: a minute per attempt
// after the sandbox.
func started(attempt int) time.Time { return t0.Add(time.Duration(attempt+1) * time.Minute) }

func running(name string, attempt int) Container {
	return Container{
		ID: name + "-" + string(rune('0'+attempt)), PodUID: testUID, Name: name, Attempt: attempt,
		State: StateRunning, StartedAt: started(attempt), Image: "busybox", ImageRef: "sha256:feed",
	}
}

func exited(name string, attempt int, code int32) Container {
	c := running(name, attempt)
	c.State, c.ExitCode, c.FinishedAt = StateExited, code, started(attempt).Add(30*time.Second)
	return c
}

func noBackoff(string, time.Time) (time.Duration, bool) { return 0, false }

func backoffFor(d time.Duration) Backoff {
	return func(string, time.Time) (time.Duration, bool) { return d, true }
}

func TestComputeActions(t *testing.T) {
	crash := func(name string, wait string) map[string]Waiting {
		return map[string]Waiting{name: {
			Reason:  "CrashLoopBackOff",
			Message: "back-off " + wait + " restarting failed container=" + name + " pod=p_ns(" + testUID + ")",
		}}
	}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		ctrs    []Container
		backoff Backoff
		want    Actions
	}{
		// The sandbox comes first: no container runs without one.
		{
			name: "new pod: no sandbox, create one",
			pod:  newPod("c"),
			want: Actions{StartInit: -1, CreateSandbox: true},
		},
		{
			name: "sandbox gone but a container still runs: kill it, then a new sandbox",
			pod:  newPod("c"),
			ctrs: []Container{running("c", 0)},
			want: Actions{StartInit: -1, KillPod: true, CreateSandbox: true},
		},
		{
			name: "dead sandbox with running containers: kill the pod, new sandbox",
			pod:  newPod("c"),
			ctrs: []Container{sandbox(StateExited), running("c", 0)},
			want: Actions{StartInit: -1, KillPod: true, CreateSandbox: true},
		},
		{
			// Kubernetes: changes.KillPod = createPodSandbox; the dead
			// sandbox is removed, not left behind.
			name: "dead sandbox and nothing running: the dead sandbox is killed (removed) too",
			pod:  newPod("c"),
			ctrs: []Container{sandbox(StateExited), exited("c", 0, 137)},
			want: Actions{StartInit: -1, KillPod: true, CreateSandbox: true},
		},
		{
			// computePodActions: "if !shouldRestartOnFailure(pod) &&
			// attempt != 0 && len(podStatus.ContainerStatuses) != 0" the pod
			// is killed and no new sandbox is made.
			name: "restartPolicy Never: a pod whose containers ran gets no new sandbox, only killed",
			pod:  withPolicy(newPod("c"), corev1.RestartPolicyNever),
			ctrs: []Container{sandbox(StateExited), running("c", 0)},
			want: Actions{StartInit: -1, KillPod: true, Done: true},
		},
		{
			name: "restartPolicy Never: killed, sandbox removed, a container never started: stays so",
			pod:  withPolicy(newPod("a", "b"), corev1.RestartPolicyNever),
			ctrs: []Container{exited("a", 0, 137)},
			want: Actions{StartInit: -1, Done: true},
		},
		{
			name: "restartPolicy Never: a new pod still gets its first sandbox",
			pod:  withPolicy(newPod("c"), corev1.RestartPolicyNever),
			want: Actions{StartInit: -1, CreateSandbox: true},
		},
		{
			name: "restartPolicy OnFailure: a dead sandbox is replaced",
			pod:  withPolicy(newPod("c"), corev1.RestartPolicyOnFailure),
			ctrs: []Container{sandbox(StateExited), running("c", 0)},
			want: Actions{StartInit: -1, KillPod: true, CreateSandbox: true},
		},

		// Init containers: one at a time, in order, each must succeed.
		{
			name: "init: first one not started: start init 0, no app container yet",
			pod:  withInit(newPod("c"), "i0", "i1"),
			ctrs: []Container{sandbox(StateRunning)},
			want: Actions{StartInit: 0},
		},
		{
			name: "init: first one running: wait for it",
			pod:  withInit(newPod("c"), "i0", "i1"),
			ctrs: []Container{sandbox(StateRunning), running("i0", 0)},
			want: Actions{StartInit: -1},
		},
		{
			name: "init: first one created, not yet running: wait for it",
			pod:  withInit(newPod("c"), "i0"),
			ctrs: []Container{sandbox(StateRunning), func() Container { c := running("i0", 0); c.State = StateCreated; return c }()},
			want: Actions{StartInit: -1},
		},
		{
			name: "init: first one succeeded: start the second",
			pod:  withInit(newPod("c"), "i0", "i1"),
			ctrs: []Container{sandbox(StateRunning), exited("i0", 0, 0)},
			want: Actions{StartInit: 1},
		},
		{
			name: "init: all succeeded: start the app containers",
			pod:  withInit(newPod("a", "b"), "i0", "i1"),
			ctrs: []Container{sandbox(StateRunning), exited("i0", 0, 0), exited("i1", 0, 0)},
			want: Actions{StartInit: -1, Start: []int{0, 1}},
		},
		{
			name:    "init: failed under Never: the pod is done (Failed), its sandbox killed",
			pod:     withPolicy(withInit(newPod("c"), "i0", "i1"), corev1.RestartPolicyNever),
			ctrs:    []Container{sandbox(StateRunning), exited("i0", 0, 1)},
			backoff: backoffFor(10 * time.Second), // never asked
			want:    Actions{StartInit: -1, KillPod: true, Done: true},
		},
		{
			name:    "init: failed under Always, backed off: Waiting CrashLoopBackOff",
			pod:     withInit(newPod("c"), "i0"),
			ctrs:    []Container{sandbox(StateRunning), exited("i0", 0, 1)},
			backoff: backoffFor(10 * time.Second),
			want:    Actions{StartInit: -1, Waiting: crash("i0", "10s")},
		},
		{
			name: "init: failed under Always, backoff over: restart it",
			pod:  withInit(newPod("c"), "i0"),
			ctrs: []Container{sandbox(StateRunning), exited("i0", 0, 1)},
			want: Actions{StartInit: 0},
		},
		{
			name: "init: failed under OnFailure, backoff over: restart it",
			pod:  withPolicy(withInit(newPod("c"), "i0"), corev1.RestartPolicyOnFailure),
			ctrs: []Container{sandbox(StateRunning), exited("i0", 2, 1)},
			want: Actions{StartInit: 0},
		},
		{
			name: "init: a later attempt succeeded: the failure before it does not count",
			pod:  withInit(newPod("c"), "i0"),
			ctrs: []Container{sandbox(StateRunning), exited("i0", 0, 1), exited("i0", 1, 0)},
			want: Actions{StartInit: -1, Start: []int{0}},
		},
		{
			// computePodActions: with a new sandbox "Pod has init
			// containers, return the first one": they run again.
			name: "init: succeeded in a previous sandbox: run again in the new one",
			pod:  withInit(newPod("c"), "i0"),
			ctrs: []Container{
				func() Container { s := sandbox(StateRunning); s.StartedAt = t0.Add(time.Hour); return s }(),
				exited("i0", 0, 0), exited("c", 0, 137),
			},
			want: Actions{StartInit: 0},
		},

		// App containers.
		{
			name: "app: none started: start them all",
			pod:  newPod("a", "b"),
			ctrs: []Container{sandbox(StateRunning)},
			want: Actions{StartInit: -1, Start: []int{0, 1}},
		},
		{
			name: "app: one runs, the other not started: start the other",
			pod:  newPod("a", "b"),
			ctrs: []Container{sandbox(StateRunning), running("a", 0)},
			want: Actions{StartInit: -1, Start: []int{1}},
		},
		{
			name: "app: all running: nothing to do",
			pod:  newPod("a", "b"),
			ctrs: []Container{sandbox(StateRunning), running("a", 0), running("b", 3)},
			want: Actions{StartInit: -1},
		},
		{
			name: "app: created, not yet running: wait",
			pod:  newPod("a"),
			ctrs: []Container{sandbox(StateRunning), func() Container { c := running("a", 0); c.State = StateCreated; return c }()},
			want: Actions{StartInit: -1},
		},
		{
			name: "Always, exit 0: restarted",
			pod:  newPod("c"),
			ctrs: []Container{sandbox(StateRunning), exited("c", 0, 0)},
			want: Actions{StartInit: -1, Start: []int{0}},
		},
		{
			name: "Always, exit 1: restarted",
			pod:  newPod("c"),
			ctrs: []Container{sandbox(StateRunning), exited("c", 0, 1)},
			want: Actions{StartInit: -1, Start: []int{0}},
		},
		{
			name: "OnFailure, exit 1: restarted",
			pod:  withPolicy(newPod("c"), corev1.RestartPolicyOnFailure),
			ctrs: []Container{sandbox(StateRunning), exited("c", 0, 1)},
			want: Actions{StartInit: -1, Start: []int{0}},
		},
		{
			name: "OnFailure, exit 0 while another runs: not restarted",
			pod:  withPolicy(newPod("a", "b"), corev1.RestartPolicyOnFailure),
			ctrs: []Container{sandbox(StateRunning), exited("a", 0, 0), running("b", 0)},
			want: Actions{StartInit: -1},
		},
		{
			name: "Never, exit 1 while another runs: not restarted, not done",
			pod:  withPolicy(newPod("a", "b"), corev1.RestartPolicyNever),
			ctrs: []Container{sandbox(StateRunning), exited("a", 0, 1), running("b", 0)},
			want: Actions{StartInit: -1},
		},
		{
			name: "Never, exit 0 while the other is not started: start the other",
			pod:  withPolicy(newPod("a", "b"), corev1.RestartPolicyNever),
			ctrs: []Container{sandbox(StateRunning), exited("a", 0, 0)},
			want: Actions{StartInit: -1, Start: []int{1}},
		},
		{
			name:    "backoff in effect: Waiting with Kubernetes' message, nothing started",
			pod:     newPod("c"),
			ctrs:    []Container{sandbox(StateRunning), exited("c", 2, 1)},
			backoff: backoffFor(10 * time.Second),
			want:    Actions{StartInit: -1, Waiting: crash("c", "10s")},
		},
		{
			name:    "backoff at its cap: 5m0s, as time.Duration prints it",
			pod:     newPod("c"),
			ctrs:    []Container{sandbox(StateRunning), exited("c", 9, 1)},
			backoff: backoffFor(5 * time.Minute),
			want:    Actions{StartInit: -1, Waiting: crash("c", "5m0s")},
		},
		{
			name:    "backoff is rounded to the second",
			pod:     newPod("c"),
			ctrs:    []Container{sandbox(StateRunning), exited("c", 3, 1)},
			backoff: backoffFor(79600 * time.Millisecond),
			want:    Actions{StartInit: -1, Waiting: crash("c", "1m20s")},
		},
		{
			name: "backoff holds one container, the other still starts",
			pod:  newPod("a", "b"),
			ctrs: []Container{sandbox(StateRunning), exited("a", 1, 1)},
			backoff: func(key string, _ time.Time) (time.Duration, bool) {
				return 20 * time.Second, key == BackoffKey(newPod(), "a")
			},
			want: Actions{StartInit: -1, Start: []int{1}, Waiting: crash("a", "20s")},
		},

		// Finished pods.
		{
			name: "Never, all exited: done, the sandbox killed",
			pod:  withPolicy(newPod("a", "b"), corev1.RestartPolicyNever),
			ctrs: []Container{sandbox(StateRunning), exited("a", 0, 0), exited("b", 0, 1)},
			want: Actions{StartInit: -1, KillPod: true, Done: true},
		},
		{
			name: "OnFailure, all exited 0: done",
			pod:  withPolicy(newPod("a", "b"), corev1.RestartPolicyOnFailure),
			ctrs: []Container{sandbox(StateRunning), exited("a", 0, 0), exited("b", 1, 0)},
			want: Actions{StartInit: -1, KillPod: true, Done: true},
		},
		{
			name: "done, nothing runs and no sandbox left: nothing to kill",
			pod:  withPolicy(newPod("c"), corev1.RestartPolicyNever),
			ctrs: []Container{exited("c", 0, 0)},
			want: Actions{StartInit: -1, Done: true},
		},
		{
			// Killing removes the dead sandbox and frees the pod's IP.
			name: "done, nothing runs but a dead sandbox is left: kill (remove) it",
			pod:  withPolicy(newPod("c"), corev1.RestartPolicyNever),
			ctrs: []Container{sandbox(StateExited), exited("c", 0, 0)},
			want: Actions{StartInit: -1, KillPod: true, Done: true},
		},
		{
			name: "Always never finishes: all exited 0 are restarted",
			pod:  newPod("a", "b"),
			ctrs: []Container{sandbox(StateRunning), exited("a", 0, 0), exited("b", 0, 0)},
			want: Actions{StartInit: -1, Start: []int{0, 1}},
		},
		{
			name: "pod already Succeeded and nothing runs: stays done",
			pod:  withPhase(newPod("c"), corev1.PodSucceeded),
			want: Actions{StartInit: -1, Done: true},
		},
		{
			name: "pod already Succeeded, restartPolicy Always: no restart, no new sandbox",
			pod:  withPhase(newPod("c"), corev1.PodSucceeded),
			ctrs: []Container{exited("c", 0, 0)},
			want: Actions{StartInit: -1, Done: true},
		},
		{
			name: "pod already Failed, something still runs: kill it",
			pod:  withPhase(newPod("c"), corev1.PodFailed),
			ctrs: []Container{sandbox(StateRunning), running("c", 0)},
			want: Actions{StartInit: -1, KillPod: true, Done: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backoff := tt.backoff
			if backoff == nil {
				backoff = noBackoff
			}
			got := ComputeActions(tt.pod, tt.ctrs, backoff)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ComputeActions (-want +got):\n%s", diff)
			}
		})
	}
}

// The backoff is asked about the container that failed, by its key, with
// the time it finished: flowcontrol.Backoff's IsInBackOffSince(key, t).
func TestComputeActionsAsksBackoff(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		ctrs []Container
		want []string
	}{
		{
			name: "a failed app container",
			pod:  newPod("a", "b"),
			ctrs: []Container{sandbox(StateRunning), exited("a", 1, 1), running("b", 0)},
			want: []string{"p_ns(" + testUID + "):a@" + started(1).Add(30*time.Second).Format(time.RFC3339)},
		},
		{
			name: "a failed init container",
			pod:  withInit(newPod("c"), "i0"),
			ctrs: []Container{sandbox(StateRunning), exited("i0", 0, 2)},
			want: []string{"p_ns(" + testUID + "):i0@" + started(0).Add(30*time.Second).Format(time.RFC3339)},
		},
		{
			name: "a container that will not restart is not asked about",
			pod:  withPolicy(newPod("a", "b"), corev1.RestartPolicyOnFailure),
			ctrs: []Container{sandbox(StateRunning), exited("a", 0, 0), running("b", 0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []string
			ComputeActions(tt.pod, tt.ctrs, func(key string, finishedAt time.Time) (time.Duration, bool) {
				asked = append(asked, key+"@"+finishedAt.Format(time.RFC3339))
				return 0, false
			})
			if diff := cmp.Diff(tt.want, asked); diff != "" {
				t.Errorf("backoff asked (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBackoffKey(t *testing.T) {
	// Kubernetes' key is "<pod>_<namespace>(<uid>):<container>"
	// (kuberuntime getStableKey, with format.Pod's name_namespace(uid)).
	if got, want := BackoffKey(newPod(), "web"), "p_ns("+testUID+"):web"; got != want {
		t.Errorf("BackoffKey = %q, want %q", got, want)
	}
}

func TestLatest(t *testing.T) {
	sb := sandbox(StateRunning)
	newer := sandbox(StateRunning)
	newer.ID, newer.StartedAt = "sandbox1", t0.Add(time.Hour)
	tests := []struct {
		name         string
		ctrs         []Container
		wantLatest   map[string]Container
		wantPrevious map[string]Container
	}{
		{
			name:         "nothing",
			wantLatest:   map[string]Container{},
			wantPrevious: map[string]Container{},
		},
		{
			name:         "the sandbox is named \"\"",
			ctrs:         []Container{sb, running("c", 0)},
			wantLatest:   map[string]Container{"": sb, "c": running("c", 0)},
			wantPrevious: map[string]Container{},
		},
		{
			name:         "the highest attempt wins, whatever the order listed",
			ctrs:         []Container{exited("c", 2, 1), running("c", 3), exited("c", 0, 1), exited("c", 1, 1)},
			wantLatest:   map[string]Container{"c": running("c", 3)},
			wantPrevious: map[string]Container{"c": exited("c", 2, 1)},
		},
		{
			name:         "same attempt (two sandboxes): the later start wins",
			ctrs:         []Container{newer, sandbox(StateExited)},
			wantLatest:   map[string]Container{"": newer},
			wantPrevious: map[string]Container{"": sandbox(StateExited)},
		},
		{
			name:         "each name on its own",
			ctrs:         []Container{exited("a", 0, 1), running("b", 0), running("a", 1)},
			wantLatest:   map[string]Container{"a": running("a", 1), "b": running("b", 0)},
			wantPrevious: map[string]Container{"a": exited("a", 0, 1)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]Container(nil), tt.ctrs...)
			latest, previous := Latest(tt.ctrs)
			if diff := cmp.Diff(tt.wantLatest, latest); diff != "" {
				t.Errorf("latest (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPrevious, previous); diff != "" {
				t.Errorf("previous (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(in, tt.ctrs, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Latest reordered its input (-before +after):\n%s", diff)
			}
		})
	}
}

func TestShouldRestart(t *testing.T) {
	// Reference: Kubernetes docs, "Container restart policy".
	tests := []struct {
		policy corev1.RestartPolicy
		exit   int32
		want   bool
	}{
		{corev1.RestartPolicyAlways, 0, true},
		{corev1.RestartPolicyAlways, 1, true},
		{corev1.RestartPolicyOnFailure, 0, false},
		{corev1.RestartPolicyOnFailure, 1, true},
		{corev1.RestartPolicyOnFailure, 137, true},
		{corev1.RestartPolicyNever, 0, false},
		{corev1.RestartPolicyNever, 1, false},
		{"", 0, true}, // unset: the apiserver defaults it to Always
	}
	for _, tt := range tests {
		if got := shouldRestart(tt.policy, tt.exit); got != tt.want {
			t.Errorf("shouldRestart(%q, %d) = %v, want %v", tt.policy, tt.exit, got, tt.want)
		}
	}
}

func TestFinished(t *testing.T) {
	tests := []struct {
		name       string
		pod        *corev1.Pod
		ctrs       []Container
		wantDone   bool
		wantFailed bool
	}{
		{name: "nothing ran", pod: newPod("c")},
		{name: "running", pod: newPod("c"), ctrs: []Container{running("c", 0)}},
		{name: "Always never finishes", pod: newPod("c"), ctrs: []Container{exited("c", 0, 0)}},
		{name: "OnFailure, exit 0", pod: withPolicy(newPod("c"), corev1.RestartPolicyOnFailure), ctrs: []Container{exited("c", 0, 0)}, wantDone: true},
		{name: "OnFailure, exit 1 restarts", pod: withPolicy(newPod("c"), corev1.RestartPolicyOnFailure), ctrs: []Container{exited("c", 0, 1)}},
		{name: "Never, exit 0", pod: withPolicy(newPod("c"), corev1.RestartPolicyNever), ctrs: []Container{exited("c", 0, 0)}, wantDone: true},
		{name: "Never, one of two failed", pod: withPolicy(newPod("a", "b"), corev1.RestartPolicyNever), ctrs: []Container{exited("a", 0, 0), exited("b", 0, 2)}, wantDone: true, wantFailed: true},
		{name: "Never, one of two not started", pod: withPolicy(newPod("a", "b"), corev1.RestartPolicyNever), ctrs: []Container{exited("a", 0, 0)}},
		{name: "Never, init failed", pod: withPolicy(withInit(newPod("c"), "i"), corev1.RestartPolicyNever), ctrs: []Container{exited("i", 0, 1)}, wantDone: true, wantFailed: true},
		{name: "OnFailure, init failed: retried", pod: withPolicy(withInit(newPod("c"), "i"), corev1.RestartPolicyOnFailure), ctrs: []Container{exited("i", 0, 1)}},
		{name: "phase Succeeded", pod: withPhase(newPod("c"), corev1.PodSucceeded), wantDone: true},
		{name: "phase Failed", pod: withPhase(newPod("c"), corev1.PodFailed), wantDone: true, wantFailed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			latest, _ := Latest(tt.ctrs)
			done, failed := finished(tt.pod, latest)
			if done != tt.wantDone || failed != tt.wantFailed {
				t.Errorf("finished = (done %v, failed %v), want (%v, %v)", done, failed, tt.wantDone, tt.wantFailed)
			}
		})
	}
}
