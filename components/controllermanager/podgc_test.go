package controllermanager

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	core "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

// Reference: kubernetes/pkg/controller/podgc/gc_controller_test.go.

func phase(p corev1.PodPhase) func(*corev1.Pod) {
	return func(pod *corev1.Pod) { pod.Status.Phase = p }
}

func boundTo(node string) func(*corev1.Pod) {
	return func(pod *corev1.Pod) { pod.Spec.NodeName = node }
}

func newNode(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

func TestPodGCPlanTerminatedOverThreshold(t *testing.T) {
	var pods []*corev1.Pod
	for i, name := range []string{"c", "a", "b", "d"} {
		pods = append(pods, newPod(name, nil, phase(corev1.PodSucceeded), boundTo("node1"), createdAt(t0.Add(time.Duration(i)*time.Minute))))
	}
	pods = append(pods, newPod("running", nil, phase(corev1.PodRunning), boundTo("node1"), createdAt(t0.Add(-time.Hour))))
	plan := podGCPlan(pods, map[string]*corev1.Node{"node1": newNode("node1")}, nil, 2)
	var got []string
	for _, d := range plan {
		got = append(got, d.pod.Name)
	}
	if !slices.Equal(got, []string{"c", "a"}) {
		t.Errorf("deleted %v, want the 2 oldest finished pods c, a", got)
	}
	if plan := podGCPlan(pods, nil, nil, 0); len(plan) != 0 {
		t.Errorf("threshold 0 deleted %d pods, want none", len(plan))
	}
}

func TestPodGCPlanUnscheduledTerminating(t *testing.T) {
	going := newPod("going", nil, func(p *corev1.Pod) { p.DeletionTimestamp = ptr(metav1.NewTime(t0)) })
	pending := newPod("pending", nil)
	plan := podGCPlan([]*corev1.Pod{going, pending}, nil, nil, 100)
	if len(plan) != 1 || plan[0].pod != going {
		t.Errorf("plan %+v, want only the unscheduled terminating pod", plan)
	}
}

// A pod on a node that is gone: nothing happens during the quarantine;
// after it, the node is confirmed gone with the apiserver, the pod is
// marked Failed with DisruptionTarget and force-deleted.
func TestPodGCOrphans(t *testing.T) {
	orphan := newPod("orphan", nil, onNode("node9", "10.244.9.2"))
	fine := newPod("fine", nil, onNode("node1", "10.244.1.2"))
	objs := []runtime.Object{orphan, fine, newNode("node1")}
	f := newFixture(t, objs...)
	c, _ := newPodGCController(f.ctx)
	gc := c.(*podGCController)
	clk := clocktesting.NewFakeClock(t0)
	gc.clock = clk
	f.load(objs...)
	ctx := context.Background()
	if err := gc.gc(ctx); err != nil {
		t.Fatal(err)
	}
	if w := describe(f.writes()); len(w) != 0 {
		t.Fatalf("writes during the quarantine: %v, want none", w)
	}
	clk.Step(podGCQuarantine + time.Second)
	if err := gc.gc(ctx); err != nil {
		t.Fatal(err)
	}
	w := f.writes()
	if got := describe(w); !slices.Equal(got, []string{"update pods/status", "delete pods"}) {
		t.Fatalf("writes %v, want the status update, then the delete", got)
	}
	st := w[0].(core.UpdateAction).GetObject().(*corev1.Pod).Status
	c0 := podCondition(&corev1.Pod{Status: st}, corev1.DisruptionTarget)
	if st.Phase != corev1.PodFailed || c0 == nil || c0.Reason != "DeletionByPodGC" || c0.Message != "PodGC: node no longer exists" {
		t.Errorf("status %+v, want Failed with DisruptionTarget/DeletionByPodGC", st)
	}
	d := w[1].(core.DeleteAction)
	if d.GetName() != "orphan" || d.GetDeleteOptions().GracePeriodSeconds == nil || *d.GetDeleteOptions().GracePeriodSeconds != 0 {
		t.Errorf("delete %s %+v, want orphan with grace 0", d.GetName(), d.GetDeleteOptions())
	}
}
