package controllermanager

import (
	"context"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// The taint eviction controller: a NoExecute taint on a node means "no
// pod may run here", not only "no new pod" (NoSchedule). A pod on a node
// with NoExecute taints
//
//   - that it does not tolerate is deleted at once;
//   - that it tolerates, some for a limited time (tolerationSeconds), is
//     deleted when the shortest of those times has passed since the node
//     was tainted, unless the taints are gone by then;
//   - that it tolerates without a time limit stays.
//
// Before deleting, the controller adds the condition DisruptionTarget
// (reason DeletionByTaintManager) to the pod's status, so that whoever
// looks at the pod later knows why it went, and records the event
// TaintManagerEviction "Marking for deletion Pod default/x".
//
// The node lifecycle controller (nodelifecycle.go) taints a lost node
// node.kubernetes.io/unreachable:NoExecute, and every pod tolerates that
// taint for 300 s (the apiserver adds the toleration; setting
// default-unreachable-toleration-seconds): so the pods of a lost node are
// deleted five minutes after it is lost. Deleted, not gone: a pod is
// removed for good by its kubelet, once its containers have stopped, and
// the lost node's kubelet cannot. The pod stays Terminating until the node
// returns (or is deleted), while its ReplicationController, which does not
// count terminating pods, has made a new one on another node.
//
// The timing is a delaying workqueue: a pod that must go in 5 s is put
// back on the queue to be looked at again in 5 s (AddAfter), and then
// deleted if the taint is still there. Its clock is injected, so that the
// unit tests step a fake clock instead of waiting.
//
// Reference: kubernetes/pkg/controller/tainteviction/taint_eviction.go;
// https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/#taint-based-evictions.

// The condition the controller adds before deleting a pod, as upstream.
const (
	TaintEvictionReason  = "DeletionByTaintManager"
	TaintEvictionMessage = "Taint manager: deleting due to NoExecute taint"
)

// noExecuteTaints returns the NoExecute taints among taints.
func noExecuteTaints(taints []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// toleratesTaint reports whether toleration t matches taint: the same
// effect (or any, when empty); the same key, or any key with an empty key
// and Exists; and Exists or the same value. The rule is k8s.io/api's
// (Toleration.ToleratesTaint), which the scheduler and the kubelet use too.
func toleratesTaint(t corev1.Toleration, taint corev1.Taint) bool {
	return t.ToleratesTaint(klog.Background(), &taint, false)
}

// evictionTime is the pure core of the controller: when must a pod with
// these tolerations leave a node with these NoExecute taints, which have
// been there since `since`? evict is false when it may stay (no taint, or
// every taint tolerated without a time limit). A time not after since
// means at once: a taint is not tolerated at all.
//
// As upstream, the pod's time is the shortest tolerationSeconds among the
// tolerations it uses (0 or less: none).
func evictionTime(tolerations []corev1.Toleration, taints []corev1.Taint, since time.Time) (at time.Time, evict bool) {
	if len(taints) == 0 {
		return time.Time{}, false
	}
	var min *int64
	for _, taint := range taints {
		tolerated := false
		for _, t := range tolerations {
			if !toleratesTaint(t, taint) {
				continue
			}
			tolerated = true
			if s := t.TolerationSeconds; s != nil && (min == nil || *s < *min) {
				min = s
			}
		}
		if !tolerated {
			return since, true // not tolerated: go now
		}
	}
	if min == nil {
		return time.Time{}, false // tolerated forever
	}
	return since.Add(time.Duration(max(*min, 0)) * time.Second), true
}

type taintEvictionController struct {
	client   kubernetes.Interface
	pods     corelisters.PodLister
	nodes    corelisters.NodeLister
	recorder record.EventRecorder
	clock    clock.WithTicker
	// queue holds pod keys: pods to look at, now or later (AddAfter).
	queue  workqueue.TypedRateLimitingInterface[string]
	synced []cache.InformerSynced

	mu sync.Mutex
	// taintedSince is when the controller first saw each node with
	// NoExecute taints: the start of its pods' tolerationSeconds when the
	// taints do not say (a taint's timeAdded, when set and earlier, wins:
	// the node was tainted before this controller started).
	taintedSince map[string]time.Time
}

func newTaintEvictionController(c *Context) (Controller, error) {
	return newTaintEvictionControllerWithClock(c, clock.RealClock{})
}

func newTaintEvictionControllerWithClock(c *Context, clk clock.WithTicker) (*taintEvictionController, error) {
	pods := c.Informers.Core().V1().Pods()
	nodes := c.Informers.Core().V1().Nodes()
	t := &taintEvictionController{
		client: c.Client, pods: pods.Lister(), nodes: nodes.Lister(),
		recorder: c.Recorder("taint-eviction-controller"),
		clock:    clk,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "taint-eviction-controller", Clock: clk}),
		synced:       []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced},
		taintedSince: map[string]time.Time{},
	}
	// A pod bound to a node, or changed (its tolerations may have): look.
	pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    t.enqueuePod,
		UpdateFunc: func(_, cur any) { t.enqueuePod(cur) },
	})
	// A node's NoExecute taints changed: look at each of its pods.
	nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { t.nodeChanged(nil, obj.(*corev1.Node)) },
		UpdateFunc: func(old, cur any) { t.nodeChanged(old.(*corev1.Node), cur.(*corev1.Node)) },
		DeleteFunc: func(obj any) {
			if node, ok := untomb(obj).(*corev1.Node); ok {
				t.mu.Lock()
				delete(t.taintedSince, node.Name)
				t.mu.Unlock()
			}
		},
	})
	return t, nil
}

func (t *taintEvictionController) enqueuePod(obj any) {
	if pod, ok := obj.(*corev1.Pod); ok && pod.Spec.NodeName != "" && pod.DeletionTimestamp == nil {
		if key, ok := keyOf(pod); ok {
			t.queue.Add(key)
		}
	}
}

func (t *taintEvictionController) nodeChanged(old, cur *corev1.Node) {
	taints := noExecuteTaints(cur.Spec.Taints)
	if old != nil && sameTaints(noExecuteTaints(old.Spec.Taints), taints) {
		return
	}
	if len(taints) == 0 {
		t.mu.Lock()
		delete(t.taintedSince, cur.Name) // untainted: the clock starts over next time
		t.mu.Unlock()
	}
	pods, err := t.pods.List(labels.Everything())
	if err != nil {
		return
	}
	for _, pod := range pods {
		if pod.Spec.NodeName == cur.Name {
			t.enqueuePod(pod)
		}
	}
}

// since returns when node's NoExecute taints started to count: the
// earliest of their timeAdded and the first time the controller saw them.
func (t *taintEvictionController) since(node string, taints []corev1.Taint, now time.Time) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	since, ok := t.taintedSince[node]
	if !ok {
		since = now
		t.taintedSince[node] = now
	}
	for _, taint := range taints {
		if taint.TimeAdded != nil && taint.TimeAdded.Time.Before(since) {
			since = taint.TimeAdded.Time
		}
	}
	return since
}

// Run runs the controller's workers until ctx is done.
func (t *taintEvictionController) Run(ctx context.Context, workers int) {
	runWorkers(ctx, "taint-eviction-controller", t.queue, workers, t.synced, t.syncHandler)
}

// syncHandler compares the actual state with the desired, and attempts to
// converge the two: a pod should not be on a node with a NoExecute taint
// it does not (or no longer) tolerates.
func (t *taintEvictionController) syncHandler(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key we make: drop it
	}
	pod, err := t.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil {
		return nil // not on a node, or going already
	}
	node, err := t.nodes.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		return nil // its node was deleted: the pod garbage collector's business
	}
	if err != nil {
		return err
	}
	taints := noExecuteTaints(node.Spec.Taints)
	if len(taints) == 0 {
		return nil
	}
	now := t.clock.Now()
	at, evict := evictionTime(pod.Spec.Tolerations, taints, t.since(node.Name, taints, now))
	if !evict {
		return nil
	}
	if wait := at.Sub(now); wait > 0 {
		// Tolerated for now: look again when the time is up. Whatever
		// changes meanwhile (the taint goes, the pod goes) is seen then.
		t.queue.AddAfter(key, wait)
		return nil
	}
	return t.evict(ctx, pod)
}

// evict marks pod as a disruption target and deletes it, with its grace
// period: its kubelet stops it, if it can.
//
// A pod already marked is one this controller has evicted before the
// cache showed the deletion (the status update comes back first and
// queues the pod again): it is deleted again, which changes nothing, but
// without a second event and log line.
func (t *taintEvictionController) evict(ctx context.Context, pod *corev1.Pod) error {
	p := pod.DeepCopy() // never modify the cache's copy
	cond := corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: TaintEvictionReason, Message: TaintEvictionMessage,
		LastTransitionTime: metav1.NewTime(t.clock.Now()),
	}
	marked := false
	for i := range p.Status.Conditions {
		if c := &p.Status.Conditions[i]; c.Type == corev1.DisruptionTarget {
			marked = c.Status == corev1.ConditionTrue && c.Reason == TaintEvictionReason
			*c = cond
		}
	}
	if !marked {
		t.recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", pod.Namespace, pod.Name)
		if !slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.DisruptionTarget }) {
			p.Status.Conditions = append(p.Status.Conditions, cond)
		}
		if _, err := t.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err // a conflict: requeued, and looked at afresh
		}
	}
	err := t.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(pod.UID))})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if !marked {
		logf("taint-eviction-controller", "pod %s/%s on %s: deleted (NoExecute taint)", pod.Namespace, pod.Name, pod.Spec.NodeName)
	}
	return nil
}
