package scheduler

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	testingclock "k8s.io/utils/clock/testing"
)

func newTestQueue() (*Queue, *testingclock.FakeClock) {
	c := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	return NewQueue(c, time.Second, 10*time.Second, NewFramework(DefaultPlugins()).EventsFor()), c
}

// pop pops with a short deadline: the queue must have a pod ready.
func pop(t *testing.T, q *Queue) *QueuedPod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	qp, err := q.Pop(ctx)
	if err != nil {
		t.Fatalf("Pop: %v", err)
	}
	return qp
}

func lengths(q *Queue) [3]int {
	a, b, u := q.Lengths()
	return [3]int{a, b, u}
}

func TestQueueOrder(t *testing.T) {
	q, c := newTestQueue()
	q.Add(pod("low-old"))
	c.Step(time.Millisecond)
	q.Add(pod("high", priority(100)))
	c.Step(time.Millisecond)
	q.Add(pod("low-new"))
	for _, want := range []string{"high", "low-old", "low-new"} {
		if got := pop(t, q).Pod.Name; got != want {
			t.Errorf("Pop = %s, want %s", got, want)
		}
	}
}

func TestQueueUnschedulableWaitsForAnEventItCaresAbout(t *testing.T) {
	q, c := newTestQueue()
	q.Add(pod("p"))
	qp := pop(t, q)
	qp.UnschedulablePlugins = map[string]bool{NameNodeResourcesFit: true}
	q.AddUnschedulable(qp)
	if got := lengths(q); got != [3]int{0, 0, 1} {
		t.Fatalf("after a rejection: %v, want it unschedulable", got)
	}
	// A label on a node does not make room.
	q.MoveOnEvent(NodeLabelChange)
	if got := lengths(q); got != [3]int{0, 0, 1} {
		t.Errorf("after NodeLabelChange: %v, want it still unschedulable", got)
	}
	// A pod leaving does; its 1 s backoff has not ended yet.
	q.MoveOnEvent(AssignedPodDelete)
	if got := lengths(q); got != [3]int{0, 1, 0} {
		t.Fatalf("after AssignedPodDelete: %v, want it in backoff", got)
	}
	c.Step(999 * time.Millisecond)
	q.Flush()
	if got := lengths(q); got != [3]int{0, 1, 0} {
		t.Errorf("999ms later: %v, want it still in backoff", got)
	}
	c.Step(time.Millisecond)
	q.Flush()
	if got := lengths(q); got != [3]int{1, 0, 0} {
		t.Errorf("1s later: %v, want it active", got)
	}
	if qp := pop(t, q); qp.Attempts != 2 {
		t.Errorf("attempts = %d, want 2", qp.Attempts)
	}
}

func TestQueueBackoffDoubles(t *testing.T) {
	q, _ := newTestQueue()
	qp := &QueuedPod{Pod: pod("p")}
	for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 9: 10 * time.Second} {
		qp.Attempts = attempts
		if got := q.backoffExpiry(qp).Sub(qp.Timestamp); got != want {
			t.Errorf("backoff after %d attempts = %v, want %v", attempts, got, want)
		}
	}
}

func TestQueueEventDuringAttemptMeansBackoff(t *testing.T) {
	// A node is added while the pod is being tried: when its attempt fails
	// it must not wait for another event, which may never come.
	q, _ := newTestQueue()
	q.Add(pod("p"))
	qp := pop(t, q)
	q.MoveOnEvent(NodeAdd)
	qp.UnschedulablePlugins = map[string]bool{NameNodeResourcesFit: true}
	q.AddUnschedulable(qp)
	if got := lengths(q); got != [3]int{0, 1, 0} {
		t.Errorf("%v, want it in backoff", got)
	}
}

func TestQueueErrorMeansBackoff(t *testing.T) {
	q, _ := newTestQueue()
	q.Add(pod("p"))
	qp := pop(t, q)
	q.AddUnschedulable(qp) // no plugin rejected it: an error
	if got := lengths(q); got != [3]int{0, 1, 0} {
		t.Errorf("%v, want it in backoff", got)
	}
}

func TestQueueLeftoverAfterFiveMinutes(t *testing.T) {
	q, c := newTestQueue()
	q.Add(pod("p"))
	qp := pop(t, q)
	qp.UnschedulablePlugins = map[string]bool{NameNodeAffinity: true}
	q.AddUnschedulable(qp)
	c.Step(MaxInUnschedulable)
	q.Flush()
	if got := lengths(q); got != [3]int{0, 0, 1} {
		t.Errorf("after 5m: %v, want it still unschedulable", got)
	}
	c.Step(time.Second)
	q.Flush()
	if got := lengths(q); got != [3]int{1, 0, 0} {
		t.Errorf("after 5m1s: %v, want it active", got)
	}
}

func TestQueueUpdate(t *testing.T) {
	q, c := newTestQueue()
	old := pod("p")
	q.Add(old)
	qp := pop(t, q)
	qp.UnschedulablePlugins = map[string]bool{NameTaintToleration: true}
	q.AddUnschedulable(qp)

	// Our own condition on its status: nothing to retry for.
	st := old.DeepCopy()
	st.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse}}
	q.Update(old, st)
	if got := lengths(q); got != [3]int{0, 0, 1} {
		t.Errorf("after a status update: %v, want it unschedulable", got)
	}
	// A toleration added: retried (after its backoff).
	tol := st.DeepCopy()
	tol.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
	q.Update(st, tol)
	c.Step(time.Second)
	q.Flush()
	if got := lengths(q); got != [3]int{1, 0, 0} {
		t.Fatalf("after a toleration was added: %v, want it active", got)
	}
	if got := pop(t, q).Pod; len(got.Spec.Tolerations) != 1 {
		t.Errorf("popped %+v, want the new version", got.Spec)
	}
}

func TestQueueDeleteAndClose(t *testing.T) {
	q, _ := newTestQueue()
	p := pod("p")
	q.Add(p)
	q.Delete(p)
	if got := lengths(q); got != [3]int{} {
		t.Errorf("after Delete: %v, want empty", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := q.Pop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Pop on an empty queue = %v, want the context's deadline", err)
	}
	done := make(chan error)
	go func() {
		_, err := q.Pop(context.Background())
		done <- err
	}()
	q.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrQueueClosed) {
			t.Errorf("Pop after Close = %v, want ErrQueueClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Pop still blocked 5s after Close")
	}
}

func TestNodeEvents(t *testing.T) {
	base := node("n1", "2", "4Gi")
	tests := []struct {
		name   string
		change func(*corev1.Node)
		want   []ClusterEvent
	}{
		{"heartbeat only", func(n *corev1.Node) { n.Status.Conditions[0].Reason = "again" }, nil},
		{"label", func(n *corev1.Node) { n.Labels["disk"] = "ssd" }, []ClusterEvent{NodeLabelChange}},
		{"cordon", func(n *corev1.Node) { n.Spec.Unschedulable = true }, []ClusterEvent{NodeTaintChange}},
		{"taint", withTaint("a", "b", corev1.TaintEffectNoSchedule), []ClusterEvent{NodeTaintChange}},
		{"more room", func(n *corev1.Node) {
			n.Status.Allocatable[corev1.ResourceCPU] = n.Status.Capacity[corev1.ResourceMemory]
		},
			[]ClusterEvent{NodeAllocatableChange}},
		{"not ready", withReady(corev1.ConditionFalse), []ClusterEvent{NodeConditionChange}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := base.DeepCopy()
			tt.change(cur)
			got := NodeEvents(base, cur)
			if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
				t.Errorf("NodeEvents = %v, want %v", got, tt.want)
			}
		})
	}
}
