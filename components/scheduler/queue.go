package scheduler

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/clock"
)

// ClusterEvent is a change in the cluster that may make a pod that did not
// fit, fit now.
type ClusterEvent string

// The events the queue tells apart. A Node update is split by what
// changed, so that a pod waiting for room is not retried because a label
// changed.
const (
	NodeAdd               ClusterEvent = "NodeAdd"
	NodeDelete            ClusterEvent = "NodeDelete"
	NodeLabelChange       ClusterEvent = "NodeLabelChange"
	NodeTaintChange       ClusterEvent = "NodeTaintChange" // taints, or spec.unschedulable
	NodeAllocatableChange ClusterEvent = "NodeAllocatableChange"
	NodeConditionChange   ClusterEvent = "NodeConditionChange"
	AssignedPodAdd        ClusterEvent = "AssignedPodAdd" // a pod was bound to a node
	AssignedPodUpdate     ClusterEvent = "AssignedPodUpdate"
	AssignedPodDelete     ClusterEvent = "AssignedPodDelete" // a bound pod is gone (deleted, or finished)
	NamespaceChange       ClusterEvent = "NamespaceChange"
)

// NodeEvents lists what changed between two versions of a Node.
func NodeEvents(old, cur *corev1.Node) []ClusterEvent {
	var out []ClusterEvent
	if !equality.Semantic.DeepEqual(old.Labels, cur.Labels) {
		out = append(out, NodeLabelChange)
	}
	if !equality.Semantic.DeepEqual(old.Spec.Taints, cur.Spec.Taints) || old.Spec.Unschedulable != cur.Spec.Unschedulable {
		out = append(out, NodeTaintChange)
	}
	if !equality.Semantic.DeepEqual(old.Status.Allocatable, cur.Status.Allocatable) {
		out = append(out, NodeAllocatableChange)
	}
	conditions := func(n *corev1.Node) map[corev1.NodeConditionType]corev1.ConditionStatus {
		m := map[corev1.NodeConditionType]corev1.ConditionStatus{}
		for _, c := range n.Status.Conditions {
			m[c.Type] = c.Status
		}
		return m
	}
	if !equality.Semantic.DeepEqual(conditions(old), conditions(cur)) {
		out = append(out, NodeConditionChange)
	}
	return out
}

// ErrQueueClosed is Pop's error once the queue is closed.
var ErrQueueClosed = errors.New("scheduler: queue closed")

// QueuedPod is a pod waiting in the queue, with its history.
type QueuedPod struct {
	Pod *corev1.Pod
	// Timestamp is when the pod last entered a queue: its place in line
	// among pods of equal priority, and the start of its backoff.
	Timestamp time.Time
	// Attempts counts the scheduling attempts so far.
	Attempts int
	// UnschedulablePlugins are the plugins that rejected it last time.
	UnschedulablePlugins map[string]bool
	// Cycle is the scheduling cycle of the last Pop.
	Cycle int64

	index int // in its heap
}

func podKey(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

// Queue is the scheduling queue: the pods waiting for a node, in three
// parts, as in kube-scheduler:
//
//   - active: ready to be tried, highest priority first, then oldest first
//     (the PrioritySort plugin's order);
//   - backoff: tried and failed; each waits out its backoff (1 s, doubling
//     per attempt, at most 10 s) before going back to active;
//   - unschedulable: tried, and no node fitted; it stays here until a
//     cluster event that one of the plugins that rejected it cares about
//     (a node added, a pod deleted...), or 5 minutes at most.
//
// A pod that failed while an event arrived (during its attempt) goes to
// backoff rather than unschedulable: the event it waited for may have
// come already.
//
// All methods are safe for concurrent use.
type Queue struct {
	clock          clock.WithTicker
	initialBackoff time.Duration
	maxBackoff     time.Duration
	events         map[string][]ClusterEvent // plugin → the events it cares about

	mu               sync.Mutex
	cond             *sync.Cond
	active           podHeap
	backoff          podHeap
	unschedulable    map[string]*QueuedPod
	schedulingCycle  int64
	moveRequestCycle int64
	closed           bool
}

// MaxInUnschedulable is how long a pod stays unschedulable without an
// event before it is tried again anyway.
const MaxInUnschedulable = 5 * time.Minute

// NewQueue returns an empty queue. events says, per plugin, which cluster
// events could make a pod it rejected fit (Framework.EventsFor).
func NewQueue(c clock.WithTicker, initialBackoff, maxBackoff time.Duration, events map[string][]ClusterEvent) *Queue {
	q := &Queue{
		clock: c, initialBackoff: initialBackoff, maxBackoff: maxBackoff, events: events,
		unschedulable: map[string]*QueuedPod{},
	}
	q.cond = sync.NewCond(&q.mu)
	q.active = podHeap{index: map[string]*QueuedPod{}, less: func(a, b *QueuedPod) bool {
		if pa, pb := podPriority(a.Pod), podPriority(b.Pod); pa != pb {
			return pa > pb
		}
		return a.Timestamp.Before(b.Timestamp)
	}}
	q.backoff = podHeap{index: map[string]*QueuedPod{}, less: func(a, b *QueuedPod) bool {
		return q.backoffExpiry(a).Before(q.backoffExpiry(b))
	}}
	return q
}

// Run moves pods whose backoff has ended to active every second, and
// pods unschedulable for more than MaxInUnschedulable, until ctx ends.
func (q *Queue) Run(ctx context.Context) {
	t := q.clock.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			q.Flush()
		}
	}
}

// Flush does one round of Run's work.
func (q *Queue) Flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	for q.backoff.Len() > 0 && !q.backoffExpiry(q.backoff.peek()).After(now) {
		qp := heap.Pop(&q.backoff).(*QueuedPod)
		heap.Push(&q.active, qp)
	}
	for key, qp := range q.unschedulable {
		if now.Sub(qp.Timestamp) > MaxInUnschedulable {
			delete(q.unschedulable, key)
			q.moveLocked(qp)
		}
	}
	if q.active.Len() > 0 {
		q.cond.Broadcast()
	}
}

// Add queues a new pod, ready to be tried.
func (q *Queue) Add(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := podKey(pod)
	if q.active.get(key) != nil {
		return
	}
	q.backoff.remove(key)
	delete(q.unschedulable, key)
	heap.Push(&q.active, &QueuedPod{Pod: pod, Timestamp: q.clock.Now()})
	q.cond.Broadcast()
}

// Update replaces a queued pod with its new version. An unschedulable pod
// whose spec or labels changed (a toleration added, say) is tried again;
// a status update (our own condition, for one) changes nothing.
func (q *Queue) Update(old, cur *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := podKey(cur)
	for _, h := range []*podHeap{&q.active, &q.backoff} {
		if qp := h.get(key); qp != nil {
			qp.Pod = cur
			heap.Fix(h, qp.index)
			return
		}
	}
	if qp := q.unschedulable[key]; qp != nil {
		qp.Pod = cur
		if old == nil || !equality.Semantic.DeepEqual(old.Spec, cur.Spec) || !equality.Semantic.DeepEqual(old.Labels, cur.Labels) {
			delete(q.unschedulable, key)
			q.moveLocked(qp)
			q.cond.Broadcast()
		}
	}
	// Not queued: being scheduled right now; the attempt ends with its own
	// requeue or bind.
}

// Delete forgets a pod.
func (q *Queue) Delete(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := podKey(pod)
	q.active.remove(key)
	q.backoff.remove(key)
	delete(q.unschedulable, key)
}

// Pop waits for a pod in active and returns it, its Attempts and Cycle
// counted. It returns ErrQueueClosed once Close is called, ctx's error
// once ctx ends.
func (q *Queue) Pop(ctx context.Context) (*QueuedPod, error) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.cond.Broadcast()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 && !q.closed && ctx.Err() == nil {
		q.cond.Wait()
	}
	if q.closed {
		return nil, ErrQueueClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	qp := heap.Pop(&q.active).(*QueuedPod)
	q.schedulingCycle++
	qp.Attempts++
	qp.Cycle = q.schedulingCycle
	return qp, nil
}

// AddUnschedulable puts back a pod whose attempt failed: to unschedulable
// if plugins rejected it and no event came during the attempt, to backoff
// otherwise (an error, or an event it may have been waiting for). A pod
// queued again meanwhile (a new version was added) stays where it is.
func (q *Queue) AddUnschedulable(qp *QueuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := podKey(qp.Pod)
	if q.active.get(key) != nil || q.backoff.get(key) != nil || q.unschedulable[key] != nil {
		return
	}
	qp.Timestamp = q.clock.Now()
	if len(qp.UnschedulablePlugins) == 0 || q.moveRequestCycle >= qp.Cycle {
		heap.Push(&q.backoff, qp)
		return
	}
	q.unschedulable[key] = qp
}

// MoveOnEvent moves back the unschedulable pods that event could help: to
// backoff if their backoff has not ended yet, to active otherwise.
func (q *Queue) MoveOnEvent(event ClusterEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	moved := false
	for key, qp := range q.unschedulable {
		if q.interested(qp, event) {
			delete(q.unschedulable, key)
			q.moveLocked(qp)
			moved = true
		}
	}
	q.moveRequestCycle = q.schedulingCycle
	if moved {
		q.cond.Broadcast()
	}
}

// interested reports whether a plugin that rejected qp cares about event.
func (q *Queue) interested(qp *QueuedPod, event ClusterEvent) bool {
	if len(qp.UnschedulablePlugins) == 0 {
		return true
	}
	for plugin := range qp.UnschedulablePlugins {
		events, registered := q.events[plugin]
		if !registered {
			return true // a plugin that did not say: any event may help
		}
		for _, e := range events {
			if e == event {
				return true
			}
		}
	}
	return false
}

func (q *Queue) moveLocked(qp *QueuedPod) {
	if q.backoffExpiry(qp).After(q.clock.Now()) {
		heap.Push(&q.backoff, qp)
	} else {
		heap.Push(&q.active, qp)
	}
}

// backoffExpiry is when qp's backoff ends: initial × 2^(attempts−1) after
// its timestamp, at most maxBackoff.
func (q *Queue) backoffExpiry(qp *QueuedPod) time.Time {
	d := q.initialBackoff
	for i := 1; i < qp.Attempts && d < q.maxBackoff; i++ {
		d *= 2
	}
	return qp.Timestamp.Add(min(d, q.maxBackoff))
}

// Close wakes every Pop with ErrQueueClosed.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// Lengths returns how many pods each part holds: active, backoff,
// unschedulable.
func (q *Queue) Lengths() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), len(q.unschedulable)
}

// podHeap is a heap of queued pods that can also find one by key.
type podHeap struct {
	items []*QueuedPod
	index map[string]*QueuedPod
	less  func(a, b *QueuedPod) bool
}

// Len, Less, Swap, Push and Pop implement heap.Interface.
func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}
func (h *podHeap) Push(x any) {
	qp := x.(*QueuedPod)
	qp.index = len(h.items)
	h.items = append(h.items, qp)
	h.index[podKey(qp.Pod)] = qp
}
func (h *podHeap) Pop() any {
	qp := h.items[len(h.items)-1]
	h.items[len(h.items)-1] = nil
	h.items = h.items[:len(h.items)-1]
	delete(h.index, podKey(qp.Pod))
	return qp
}
func (h *podHeap) peek() *QueuedPod          { return h.items[0] }
func (h *podHeap) get(key string) *QueuedPod { return h.index[key] }
func (h *podHeap) remove(key string) {
	if qp := h.index[key]; qp != nil {
		heap.Remove(h, qp.index)
	}
}
