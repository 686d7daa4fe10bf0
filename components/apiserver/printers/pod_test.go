package printers_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tinykube/tinykube/components/apiserver/printers"
)

// Container states, for brevity.
var (
	running = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Hour)}}
	// waiting is a container waiting for reason.
	waiting = func(reason string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
	}
	// terminated is a container that ended d ago.
	terminated = func(reason string, exit int32, d time.Duration) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exit, FinishedAt: ago(d)}}
	}
)

// pod is a pod created 5m ago with app containers named after names.
func pod(phase corev1.PodPhase, names ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: ago(5 * time.Minute)},
		Status:     corev1.PodStatus{Phase: phase},
	}
	for _, n := range names {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n, Image: "nginx"})
	}
	return p
}

// with applies changes to p and returns it.
func with(p *corev1.Pod, changes ...func(*corev1.Pod)) *corev1.Pod {
	for _, c := range changes {
		c(p)
	}
	return p
}

// statuses sets the app containers' statuses.
func statuses(s ...corev1.ContainerStatus) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Status.ContainerStatuses = s }
}

// initContainers adds init containers and their statuses.
func initContainers(specs []corev1.Container, s ...corev1.ContainerStatus) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.InitContainers = specs
		p.Status.InitContainerStatuses = s
	}
}

// conditions sets the pod's conditions.
func conditions(c ...corev1.PodCondition) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Status.Conditions = c }
}

// deleted sets the deletion timestamp, as a graceful delete does.
func deleted(p *corev1.Pod) { p.DeletionTimestamp = agoPtr(10 * time.Second) }

// scheduled places the pod on node-1 with an IP.
func scheduled(p *corev1.Pod) {
	p.Spec.NodeName = "node-1"
	p.Status.PodIP = "10.244.1.5"
	p.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.5"}}
}

// Reference: https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/
// and upstream printPod: the STATUS, READY and RESTARTS `kubectl get pods`
// shows.
func TestPodCells(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	started := true
	tests := []struct {
		name string
		pod  *corev1.Pod
		// want is READY STATUS RESTARTS; the other cells are checked below.
		want []interface{}
	}{
		{"pending, not scheduled", pod(corev1.PodPending, "app"),
			[]interface{}{"0/1", "Pending", "0"}},
		{"container creating", with(pod(corev1.PodPending, "app"), statuses(
			corev1.ContainerStatus{Name: "app", State: waiting("ContainerCreating")})),
			[]interface{}{"0/1", "ContainerCreating", "0"}},
		{"running, 1 of 2 ready, restarted", with(pod(corev1.PodRunning, "app", "sidecar"), statuses(
			corev1.ContainerStatus{Name: "app", Ready: true, State: running},
			corev1.ContainerStatus{Name: "sidecar", State: running, RestartCount: 3,
				LastTerminationState: terminated("Error", 1, 2*time.Minute)})),
			[]interface{}{"1/2", "Running", "3 (2m ago)"}},
		{"restarts without a last termination time", with(pod(corev1.PodRunning, "app"), statuses(
			corev1.ContainerStatus{Name: "app", Ready: true, State: running, RestartCount: 2})),
			[]interface{}{"1/1", "Running", "2"}},
		{"crash loop", with(pod(corev1.PodRunning, "app"), statuses(
			corev1.ContainerStatus{Name: "app", State: waiting("CrashLoopBackOff"), RestartCount: 5,
				LastTerminationState: terminated("Error", 1, 30*time.Second)})),
			[]interface{}{"0/1", "CrashLoopBackOff", "5 (30s ago)"}},
		{"image pull", with(pod(corev1.PodPending, "app"), statuses(
			corev1.ContainerStatus{Name: "app", State: waiting("ImagePullBackOff")})),
			[]interface{}{"0/1", "ImagePullBackOff", "0"}},
		{"completed", with(pod(corev1.PodSucceeded, "app"), statuses(
			corev1.ContainerStatus{Name: "app", State: terminated("Completed", 0, time.Minute)})),
			[]interface{}{"0/1", "Completed", "0"}},
		{"error", with(pod(corev1.PodFailed, "app"), statuses(
			corev1.ContainerStatus{Name: "app", State: terminated("Error", 1, time.Minute)})),
			[]interface{}{"0/1", "Error", "0"}},
		{"exit code without reason", with(pod(corev1.PodFailed, "app"), statuses(
			corev1.ContainerStatus{Name: "app", State: terminated("", 2, time.Minute)})),
			[]interface{}{"0/1", "ExitCode:2", "0"}},
		{"signal without reason", with(pod(corev1.PodFailed, "app"), statuses(
			corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Signal: 9, ExitCode: 137}}})),
			[]interface{}{"0/1", "Signal:9", "0"}},
		{"first container's reason wins", with(pod(corev1.PodRunning, "a", "b"), statuses(
			corev1.ContainerStatus{Name: "a", State: waiting("CrashLoopBackOff")},
			corev1.ContainerStatus{Name: "b", State: waiting("ImagePullBackOff")})),
			[]interface{}{"0/2", "CrashLoopBackOff", "0"}},
		{"one completed, one still running and pod ready", with(pod(corev1.PodRunning, "a", "b"), statuses(
			corev1.ContainerStatus{Name: "a", State: terminated("Completed", 0, time.Minute)},
			corev1.ContainerStatus{Name: "b", Ready: true, State: running}),
			conditions(corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})),
			[]interface{}{"1/2", "Running", "0"}},
		{"one completed, one still running, pod not ready", with(pod(corev1.PodRunning, "a", "b"), statuses(
			corev1.ContainerStatus{Name: "a", State: terminated("Completed", 0, time.Minute)},
			corev1.ContainerStatus{Name: "b", Ready: true, State: running})),
			[]interface{}{"1/2", "NotReady", "0"}},
		{"evicted", with(pod(corev1.PodFailed, "app"), func(p *corev1.Pod) { p.Status.Reason = "Evicted" }),
			[]interface{}{"0/1", "Evicted", "0"}},
		{"scheduling gated", with(pod(corev1.PodPending, "app"), conditions(corev1.PodCondition{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated})),
			[]interface{}{"0/1", "SchedulingGated", "0"}},
		{"terminating", with(pod(corev1.PodRunning, "app"), deleted, statuses(
			corev1.ContainerStatus{Name: "app", Ready: true, State: running})),
			[]interface{}{"1/1", "Terminating", "0"}},
		{"deleted after completing is not terminating", with(pod(corev1.PodSucceeded, "app"), deleted, statuses(
			corev1.ContainerStatus{Name: "app", State: terminated("Completed", 0, time.Minute)})),
			[]interface{}{"0/1", "Completed", "0"}},
		{"node lost", with(pod(corev1.PodRunning, "app"), func(p *corev1.Pod) { p.Status.Reason = "NodeLost" }, statuses(
			corev1.ContainerStatus{Name: "app", Ready: true, State: running})),
			[]interface{}{"1/1", "NodeLost", "0"}},
		{"node lost and deleted", with(pod(corev1.PodRunning, "app"), deleted, func(p *corev1.Pod) { p.Status.Reason = "NodeLost" }),
			[]interface{}{"0/1", "Unknown", "0"}},
		{"unknown phase", pod(corev1.PodUnknown, "app"),
			[]interface{}{"0/1", "Unknown", "0"}},
		{"first of two init containers running", with(pod(corev1.PodPending, "app"), initContainers(
			[]corev1.Container{{Name: "init-a"}, {Name: "init-b"}},
			corev1.ContainerStatus{Name: "init-a", State: running},
			corev1.ContainerStatus{Name: "init-b", State: waiting("PodInitializing")})),
			[]interface{}{"0/1", "Init:0/2", "0"}},
		{"second init container running", with(pod(corev1.PodPending, "app"), initContainers(
			[]corev1.Container{{Name: "init-a"}, {Name: "init-b"}},
			corev1.ContainerStatus{Name: "init-a", State: terminated("Completed", 0, time.Minute)},
			corev1.ContainerStatus{Name: "init-b", State: running})),
			[]interface{}{"0/1", "Init:1/2", "0"}},
		{"init container crash loop", with(pod(corev1.PodPending, "app"), initContainers(
			[]corev1.Container{{Name: "init"}},
			corev1.ContainerStatus{Name: "init", State: waiting("CrashLoopBackOff"), RestartCount: 4,
				LastTerminationState: terminated("Error", 1, 20*time.Second)}),
			statuses(corev1.ContainerStatus{Name: "app", State: waiting("PodInitializing")})),
			[]interface{}{"0/1", "Init:CrashLoopBackOff", "4 (20s ago)"}},
		{"init container failed", with(pod(corev1.PodFailed, "app"), initContainers(
			[]corev1.Container{{Name: "init"}},
			corev1.ContainerStatus{Name: "init", State: terminated("Error", 1, time.Minute)})),
			[]interface{}{"0/1", "Init:Error", "0"}},
		{"init container exit code", with(pod(corev1.PodPending, "app"), initContainers(
			[]corev1.Container{{Name: "init"}},
			corev1.ContainerStatus{Name: "init", State: terminated("", 3, time.Minute)})),
			[]interface{}{"0/1", "Init:ExitCode:3", "0"}},
		{"sidecar counts as a container", with(pod(corev1.PodRunning, "app"), initContainers(
			[]corev1.Container{{Name: "proxy", RestartPolicy: &always}},
			corev1.ContainerStatus{Name: "proxy", Started: &started, Ready: true, State: running, RestartCount: 1,
				LastTerminationState: terminated("Error", 1, 3*time.Minute)}),
			statuses(corev1.ContainerStatus{Name: "app", Ready: true, State: running}),
			conditions(corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue})),
			[]interface{}{"2/2", "Running", "1 (3m ago)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cells(t, tt.pod)
			if got[0] != "web" || got[4] != "5m" {
				t.Errorf("NAME, AGE = %v, %v, want web, 5m", got[0], got[4])
			}
			if diff := cmp.Diff(tt.want, got[1:4]); diff != "" {
				t.Errorf("READY STATUS RESTARTS (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPodWideCells(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		want []interface{} // IP NODE NOMINATED-NODE READINESS-GATES
	}{
		{"unscheduled", pod(corev1.PodPending, "app"),
			[]interface{}{"<none>", "<none>", "<none>", "<none>"}},
		{"nominated", with(pod(corev1.PodPending, "app"), func(p *corev1.Pod) { p.Status.NominatedNodeName = "node-2" }),
			[]interface{}{"<none>", "<none>", "node-2", "<none>"}},
		{"scheduled, one of two gates true", with(pod(corev1.PodRunning, "app"), scheduled, func(p *corev1.Pod) {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/dns"}}
		}, conditions(
			corev1.PodCondition{Type: "example.com/lb", Status: corev1.ConditionTrue},
			corev1.PodCondition{Type: "example.com/dns", Status: corev1.ConditionFalse})),
			[]interface{}{"10.244.1.5", "node-1", "<none>", "1/2"}},
		{"podIP set, podIPs not (not defaulted)", with(pod(corev1.PodRunning, "app"), func(p *corev1.Pod) { p.Status.PodIP = "10.244.2.9" }),
			[]interface{}{"10.244.2.9", "<none>", "<none>", "<none>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, cells(t, tt.pod)[5:]); diff != "" {
				t.Errorf("wide cells (-want +got):\n%s", diff)
			}
		})
	}
}

// Finished pods carry a Completed row condition, as upstream's rows do.
func TestPodRowConditions(t *testing.T) {
	tests := []struct {
		phase corev1.PodPhase
		want  string // condition reason, "" for none
	}{
		{corev1.PodPending, ""},
		{corev1.PodRunning, ""},
		{corev1.PodSucceeded, "Succeeded"},
		{corev1.PodFailed, "Failed"},
	}
	for _, tt := range tests {
		table, err := printers.Table(pod(tt.phase, "app"), metav1.IncludeNone, now)
		if err != nil {
			t.Fatal(err)
		}
		conds := table.Rows[0].Conditions
		switch {
		case tt.want == "" && len(conds) != 0:
			t.Errorf("%s: conditions %+v, want none", tt.phase, conds)
		case tt.want != "" && (len(conds) != 1 || conds[0].Type != metav1.RowCompleted || conds[0].Reason != tt.want):
			t.Errorf("%s: conditions %+v, want Completed because %s", tt.phase, conds, tt.want)
		}
	}
}
