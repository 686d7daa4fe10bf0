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
	testingclock "k8s.io/utils/clock/testing"
)

// Reference: kubernetes/pkg/controller/tainteviction/taint_eviction_test.go,
// and https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/#taint-based-evictions.

func unreachable(added time.Time) corev1.Taint {
	t := metav1.NewTime(added)
	return corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &t}
}

// tolerating adds the toleration the apiserver gives every pod: the
// unreachable taint, for seconds (nil: forever).
func tolerating(key string, seconds *int64) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{
			Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds})
	}
}

func seconds(n int64) *int64 { return &n }

func TestEvictionTime(t *testing.T) {
	dedicated := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute}
	for _, tc := range []struct {
		name        string
		tolerations []corev1.Toleration
		taints      []corev1.Taint
		wantEvict   bool
		wantAfter   time.Duration
	}{
		{"no taint", nil, nil, false, 0},
		{"not tolerated: at once", nil, []corev1.Taint{unreachable(t0)}, true, 0},
		{"tolerated for 300s", []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds(300)}},
			[]corev1.Taint{unreachable(t0)}, true, 300 * time.Second},
		{"tolerated forever", []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists}},
			[]corev1.Taint{unreachable(t0)}, false, 0},
		{"everything tolerated (empty key, Exists)", []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			[]corev1.Taint{unreachable(t0), dedicated}, false, 0},
		{"one of two taints not tolerated", []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists}},
			[]corev1.Taint{unreachable(t0), dedicated}, true, 0},
		{"the shortest time wins", []corev1.Toleration{
			{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, TolerationSeconds: seconds(300)},
			{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds(5)},
		}, []corev1.Taint{unreachable(t0), dedicated}, true, 5 * time.Second},
		{"a value that does not match", []corev1.Toleration{{Key: "dedicated", Value: "web"}}, []corev1.Taint{dedicated}, true, 0},
		{"negative seconds: at once", []corev1.Toleration{{Operator: corev1.TolerationOpExists, TolerationSeconds: seconds(-1)}},
			[]corev1.Taint{unreachable(t0)}, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, evict := evictionTime(tc.tolerations, tc.taints, t0)
			if evict != tc.wantEvict || (evict && !at.Equal(t0.Add(tc.wantAfter))) {
				t.Errorf("evictionTime = %v, %v; want %v, t0+%v", at, evict, tc.wantEvict, tc.wantAfter)
			}
		})
	}
}

func newTaintEviction(t *testing.T, now time.Time, objects ...runtime.Object) (*fixture, *taintEvictionController, *testingclock.FakeClock) {
	f := newFixture(t, objects...)
	clk := testingclock.NewFakeClock(now)
	c, err := newTaintEvictionControllerWithClock(f.ctx, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.queue.ShutDown)
	f.load(objects...)
	return f, c, clk
}

func lostNode(added time.Time) *corev1.Node {
	return kubeletNode("node1", t0.Add(-time.Minute), withReady(corev1.ConditionUnknown), withTaints(
		corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}, unreachable(added)))
}

// checkEvicted checks that the pod got the DisruptionTarget condition and
// was then deleted, and the event.
func checkEvicted(t *testing.T, f *fixture, name string) {
	t.Helper()
	got := describe(f.writes())
	if !slices.Equal(got, []string{"update pods/status", "delete pods"}) {
		t.Fatalf("writes = %v, want the status update then the deletion", got)
	}
	pod := f.writes()[0].(core.UpdateAction).GetObject().(*corev1.Pod)
	c := podCondition(pod, corev1.DisruptionTarget)
	if c == nil || c.Status != corev1.ConditionTrue || c.Reason != "DeletionByTaintManager" || c.Message != "Taint manager: deleting due to NoExecute taint" {
		t.Errorf("DisruptionTarget = %+v, want True, DeletionByTaintManager", c)
	}
	if del := f.writes()[1].(core.DeleteAction).GetName(); del != name {
		t.Errorf("deleted %s, want %s", del, name)
	}
	want := "Normal TaintManagerEviction Marking for deletion Pod default/" + name
	if ev := f.events(); !slices.Equal(ev, []string{want}) {
		t.Errorf("events = %q, want %q", ev, want)
	}
}

func TestTaintEvictionUntoleratedAtOnce(t *testing.T) {
	pod := newPod("web-1", web, onNode("node1", "10.244.1.2"))
	f, c, _ := newTaintEviction(t, t0, lostNode(t0), pod)
	if err := c.syncHandler(context.Background(), "default/web-1"); err != nil {
		t.Fatal(err)
	}
	checkEvicted(t, f, "web-1")
}

// A pod this controller marked, seen again before the cache shows its
// deletion, is deleted again (harmless) without a second event.
func TestTaintEvictionMarkedOnce(t *testing.T) {
	pod := newPod("web-1", web, onNode("node1", "10.244.1.2"), func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: TaintEvictionReason, Message: TaintEvictionMessage})
	})
	f, c, _ := newTaintEviction(t, t0, lostNode(t0), pod)
	if err := c.syncHandler(context.Background(), "default/web-1"); err != nil {
		t.Fatal(err)
	}
	if got := describe(f.writes()); len(got) != 1 || got[0] != "delete pods" {
		t.Errorf("writes %v, want [delete pods]", got)
	}
	if ev := f.events(); len(ev) != 0 {
		t.Errorf("events %v, want none (the first eviction said it)", ev)
	}
}

// A pod that tolerates the taint for 5 s is put back on the queue for
// 5 s; once the (fake) clock has moved on, it is deleted.
func TestTaintEvictionAfterTolerationSeconds(t *testing.T) {
	pod := newPod("web-1", web, onNode("node1", "10.244.1.2"), tolerating(corev1.TaintNodeUnreachable, seconds(5)))
	f, c, clk := newTaintEviction(t, t0.Add(time.Second), lostNode(t0), pod)
	ctx := context.Background()
	if err := c.syncHandler(ctx, "default/web-1"); err != nil {
		t.Fatal(err)
	}
	if w := f.writes(); len(w) != 0 || c.queue.Len() != 0 {
		t.Fatalf("1 s after the taint: writes %v, queue length %d; want nothing yet", describe(w), c.queue.Len())
	}
	clk.Step(3 * time.Second) // t0+4s: not yet
	if !waitQueueLen(c, 0, 50*time.Millisecond) {
		t.Fatalf("queue length %d at t0+4s, want 0", c.queue.Len())
	}
	clk.Step(time.Second) // t0+5s: the taint's time is up
	if !waitQueueLen(c, 1, 5*time.Second) {
		t.Fatalf("queue length %d at t0+5s, want the pod back", c.queue.Len())
	}
	key, _ := c.queue.Get()
	if key != "default/web-1" {
		t.Fatalf("queue gave %q", key)
	}
	if err := c.syncHandler(ctx, key); err != nil {
		t.Fatal(err)
	}
	c.queue.Done(key)
	checkEvicted(t, f, "web-1")
}

// waitQueueLen polls the queue's length (the delaying queue moves items
// in its own goroutine once the fake clock has passed their time).
func waitQueueLen(c *taintEvictionController, n int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		if c.queue.Len() == n {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTaintEvictionLeavesAlone(t *testing.T) {
	for _, tc := range []struct {
		name string
		node *corev1.Node
		pod  *corev1.Pod
	}{
		{"tolerated forever", lostNode(t0), newPod("web-1", web, onNode("node1", "a"), tolerating(corev1.TaintNodeUnreachable, nil))},
		{"tolerated for 300s, 10s in", lostNode(t0.Add(-10 * time.Second)), newPod("web-1", web, onNode("node1", "a"), tolerating(corev1.TaintNodeUnreachable, seconds(300)))},
		{"the node is back: no taint", kubeletNode("node1", t0), newPod("web-1", web, onNode("node1", "a"))},
		{"NoSchedule only", kubeletNode("node1", t0, withTaints(corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoSchedule})), newPod("web-1", web, onNode("node1", "a"))},
		{"terminating already", lostNode(t0), newPod("web-1", web, onNode("node1", "a"), func(p *corev1.Pod) {
			now := metav1.NewTime(t0)
			p.DeletionTimestamp = &now
		})},
		{"on another node", lostNode(t0), newPod("web-1", web, onNode("node2", "a"))},
		{"not scheduled", lostNode(t0), newPod("web-1", web)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, c, _ := newTaintEviction(t, t0, tc.node, tc.pod, kubeletNode("node2", t0))
			if err := c.syncHandler(context.Background(), "default/web-1"); err != nil {
				t.Fatal(err)
			}
			if w := f.writes(); len(w) != 0 {
				t.Errorf("writes = %v, want none", describe(w))
			}
		})
	}
}

// The taint's timeAdded is when the countdown started, also for a
// controller that saw it only later (a new leader).
func TestTaintEvictionCountsFromTimeAdded(t *testing.T) {
	pod := newPod("web-1", web, onNode("node1", "a"), tolerating(corev1.TaintNodeUnreachable, seconds(300)))
	f, c, _ := newTaintEviction(t, t0, lostNode(t0.Add(-301*time.Second)), pod)
	if err := c.syncHandler(context.Background(), "default/web-1"); err != nil {
		t.Fatal(err)
	}
	checkEvicted(t, f, "web-1")
}
