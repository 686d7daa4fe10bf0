package controllermanager

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// The node lifecycle controller: it notices that a node has gone silent.
//
// Every kubelet proves it is alive by renewing its Lease in the namespace
// kube-node-lease (every 10 s) and by posting its Node's status (the
// Ready condition's lastHeartbeatTime). Every node-monitor-period (5 s)
// this controller looks at each node: if it has heard nothing new from it
// for node-monitor-grace-period (40 s), the kubelet is taken for lost
// (stopped, crashed, or cut off from the apiserver: the controller cannot
// tell which). It then
//
//  1. sets the node's conditions Ready, MemoryPressure, DiskPressure and
//     PIDPressure to Unknown, reason NodeStatusUnknown, "Kubelet stopped
//     posting node status." (kubectl get nodes: STATUS NotReady);
//  2. records the event NodeNotReady on the node and marks the node's pods
//     Ready=False (event NodeNotReady on each), so that Services stop
//     sending them traffic;
//  3. taints the node: node.kubernetes.io/unreachable with the effects
//     NoSchedule (the scheduler puts nothing new there) and NoExecute
//     (the taint-eviction-controller, tainteviction.go, deletes the pods
//     that do not tolerate it; every pod tolerates it for 300 s by
//     default, see the apiserver's DefaultTolerationSeconds). A node whose
//     kubelet posts Ready=False gets node.kubernetes.io/not-ready instead.
//
// When the kubelet posts Ready=True again, the taints come off. The pods
// are not brought back: the ReplicationController or ReplicaSet has made
// new ones elsewhere, and the returning node starts empty (the course
// notes' 工作负载大转移, the workload moves; it returns to balance only as
// new pods are scheduled).
//
// The taints follow the node's conditions also when nothing is lost: a
// node under memory pressure is tainted node.kubernetes.io/memory-pressure,
// a cordoned node (spec.unschedulable) node.kubernetes.io/unschedulable,
// both NoSchedule (upstream's TaintNodesByCondition).
//
// Two safety rules of kube-controller-manager are simplified here:
//
//   - When every node is NotReady, the fault is more likely the master's
//     (its network) than every node's: no NoExecute taint is added, and
//     those there are removed, so nothing is evicted ("master disruption
//     mode"). A one-node cluster therefore never evicts.
//   - Upstream adds NoExecute taints through a rate-limited queue per zone
//     (--node-eviction-rate 0.1: one node every 10 s; slower when more
//     than 55% of a zone is down). tinykube has one zone and few nodes, so
//     NoExecute taints are added at once.
//
// Reference: kubernetes/pkg/controller/nodelifecycle/node_lifecycle_controller.go,
// pkg/controller/util/node/controller_utils.go;
// https://kubernetes.io/docs/concepts/architecture/nodes/#node-controller.

// Default timings, kube-controller-manager's flags.
const (
	DefaultNodeMonitorPeriod      = 5 * time.Second  // --node-monitor-period
	DefaultNodeMonitorGracePeriod = 40 * time.Second // --node-monitor-grace-period
	DefaultNodeStartupGracePeriod = time.Minute      // --node-startup-grace-period
)

// The conditions the controller sets when a kubelet has gone silent, and
// the reasons and messages it gives, as upstream.
var nodeLifecycleConditions = []corev1.NodeConditionType{
	corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure,
}

const (
	NodeStatusUnknownReason       = "NodeStatusUnknown"
	NodeStatusUnknownMessage      = "Kubelet stopped posting node status."
	NodeStatusNeverUpdatedReason  = "NodeStatusNeverUpdated"
	NodeStatusNeverUpdatedMessage = "Kubelet never posted node status."
)

// NodeLifecycleConfig is the node lifecycle controller's timings.
type NodeLifecycleConfig struct {
	// MonitorPeriod is how often every node is looked at
	// (setting node-monitor-period, 5s).
	MonitorPeriod time.Duration
	// GracePeriod is how long a node may stay silent before it is marked
	// Unknown (setting node-monitor-grace-period, 40s). It must be several
	// times the kubelet's Lease renewal interval (10 s), or a live node
	// whose renewal is a little late is taken for lost.
	GracePeriod time.Duration
	// StartupGracePeriod is the same for a node that never posted a Ready
	// condition, counted from its creation (setting
	// node-startup-grace-period, 1m).
	StartupGracePeriod time.Duration
}

// withDefaults fills the zero timings with the defaults.
func (c NodeLifecycleConfig) withDefaults() NodeLifecycleConfig {
	if c.MonitorPeriod <= 0 {
		c.MonitorPeriod = DefaultNodeMonitorPeriod
	}
	if c.GracePeriod <= 0 {
		c.GracePeriod = DefaultNodeMonitorGracePeriod
	}
	if c.StartupGracePeriod <= 0 {
		c.StartupGracePeriod = DefaultNodeStartupGracePeriod
	}
	return c
}

// nodeLifecycleConfigFrom reads the settings node-monitor-period,
// node-monitor-grace-period and node-startup-grace-period.
func nodeLifecycleConfigFrom(v map[string]string) (NodeLifecycleConfig, error) {
	c := NodeLifecycleConfig{}.withDefaults()
	for _, s := range []struct {
		key string
		d   *time.Duration
	}{{"node-monitor-period", &c.MonitorPeriod}, {"node-monitor-grace-period", &c.GracePeriod}, {"node-startup-grace-period", &c.StartupGracePeriod}} {
		if val := v[s.key]; val != "" {
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				return c, fmt.Errorf("setting %s=%q: want a duration such as 40s", s.key, val)
			}
			*s.d = d
		}
	}
	if c.GracePeriod <= c.MonitorPeriod {
		return c, fmt.Errorf("setting node-monitor-grace-period (%v) must be longer than node-monitor-period (%v)", c.GracePeriod, c.MonitorPeriod)
	}
	return c, nil
}

// nodeHealth is what the controller remembers of a node between two
// looks: when it last heard from it, and the heartbeats it saw then. It
// is the controller's own memory, by its own clock: a new leader starts
// with none and gives every node a full grace period.
type nodeHealth struct {
	// probeTime is when the controller last saw a new heartbeat.
	probeTime time.Time
	// heartbeat is the Ready condition's lastHeartbeatTime last seen.
	heartbeat metav1.Time
	// renewTime is the Lease's spec.renewTime last seen.
	renewTime metav1.MicroTime
}

// assessNode is the pure core of the monitor. Given what was remembered
// of a node (nil: never seen), the node and its Lease (nil: none) as they
// are now, it returns what to remember, and, if the node has been silent
// longer than its grace period, the conditions to write in its status
// (nil when there is nothing to change).
//
// A heartbeat is anything new: a Ready condition with another
// lastHeartbeatTime, or a Lease renewed later than last seen. Times the
// kubelet wrote are only compared with each other, never with the
// controller's clock: the two machines' clocks may differ.
func assessNode(prev *nodeHealth, node *corev1.Node, lease *coordinationv1.Lease, cfg NodeLifecycleConfig, now time.Time) (nodeHealth, []corev1.NodeCondition) {
	ready := nodeCondition(node.Status.Conditions, corev1.NodeReady)
	grace := cfg.GracePeriod
	if ready == nil {
		grace = cfg.StartupGracePeriod // the kubelet has not posted yet
	}

	var h nodeHealth
	switch {
	case prev != nil:
		h = *prev
		if ready != nil && !ready.LastHeartbeatTime.Equal(&prev.heartbeat) {
			h.probeTime, h.heartbeat = now, ready.LastHeartbeatTime
		}
	case ready == nil:
		h.probeTime = node.CreationTimestamp.Time
	default:
		h.probeTime, h.heartbeat = now, ready.LastHeartbeatTime
	}
	if lease != nil && lease.Spec.RenewTime != nil && h.renewTime.Before(lease.Spec.RenewTime) {
		h.probeTime, h.renewTime = now, *lease.Spec.RenewTime
	}

	if !now.After(h.probeTime.Add(grace)) {
		return h, nil // heard from recently enough
	}
	// Silent too long: every condition the kubelet owns becomes Unknown
	// (it may be true or not; nobody knows). lastHeartbeatTime stays: it
	// is the kubelet's last word.
	conds := make([]corev1.NodeCondition, len(node.Status.Conditions))
	for i := range node.Status.Conditions {
		node.Status.Conditions[i].DeepCopyInto(&conds[i])
	}
	changed := false
	t := metav1.NewTime(now)
	for _, typ := range nodeLifecycleConditions {
		c := nodeCondition(conds, typ)
		switch {
		case c == nil:
			conds = append(conds, corev1.NodeCondition{
				Type: typ, Status: corev1.ConditionUnknown,
				Reason: NodeStatusNeverUpdatedReason, Message: NodeStatusNeverUpdatedMessage,
				LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: t,
			})
			changed = true
		case c.Status != corev1.ConditionUnknown:
			c.Status, c.Reason, c.Message, c.LastTransitionTime = corev1.ConditionUnknown, NodeStatusUnknownReason, NodeStatusUnknownMessage, t
			changed = true
		}
	}
	if !changed {
		return h, nil // marked Unknown already
	}
	return h, conds
}

// nodeCondition returns the condition of type t in conds, or nil.
func nodeCondition(conds []corev1.NodeCondition, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// readyStatus is the node's Ready condition's status ("" if it has none).
func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	if c := nodeCondition(node.Status.Conditions, corev1.NodeReady); c != nil {
		return c.Status
	}
	return ""
}

// The taints the controller manages, and the condition each stands for:
// a NoSchedule taint for every condition in a bad state, as upstream's
// nodeConditionToTaintKeyStatusMap.
var conditionTaints = []struct {
	condition corev1.NodeConditionType
	status    corev1.ConditionStatus
	key       string
}{
	{corev1.NodeReady, corev1.ConditionFalse, corev1.TaintNodeNotReady},
	{corev1.NodeReady, corev1.ConditionUnknown, corev1.TaintNodeUnreachable},
	{corev1.NodeMemoryPressure, corev1.ConditionTrue, corev1.TaintNodeMemoryPressure},
	{corev1.NodeDiskPressure, corev1.ConditionTrue, corev1.TaintNodeDiskPressure},
	{corev1.NodePIDPressure, corev1.ConditionTrue, corev1.TaintNodePIDPressure},
	{corev1.NodeNetworkUnavailable, corev1.ConditionTrue, corev1.TaintNodeNetworkUnavailable},
}

// managedTaint reports whether the controller owns taint: it adds and
// removes it, whoever put it there.
func managedTaint(t corev1.Taint) bool {
	if t.Effect == corev1.TaintEffectNoSchedule {
		if t.Key == corev1.TaintNodeUnschedulable {
			return true
		}
		for _, ct := range conditionTaints {
			if ct.key == t.Key {
				return true
			}
		}
	}
	return t.Effect == corev1.TaintEffectNoExecute && (t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable)
}

// nodeTaints is the pure core of the taint sync: the node's taints as
// they should be. Taints the controller does not manage are kept as they
// are; managed ones follow the node's conditions: NoSchedule for every
// bad condition and for spec.unschedulable; NoExecute not-ready (Ready
// False) or unreachable (Ready Unknown) unless evict is false. A taint
// that stays keeps its timeAdded; a new one is added at now.
func nodeTaints(node *corev1.Node, evict bool, now time.Time) []corev1.Taint {
	var want []corev1.Taint
	for _, ct := range conditionTaints {
		if c := nodeCondition(node.Status.Conditions, ct.condition); c != nil && c.Status == ct.status {
			want = append(want, corev1.Taint{Key: ct.key, Effect: corev1.TaintEffectNoSchedule})
		}
	}
	if node.Spec.Unschedulable {
		want = append(want, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	if evict {
		switch readyStatus(node) {
		case corev1.ConditionFalse:
			want = append(want, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute})
		case corev1.ConditionUnknown:
			want = append(want, corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute})
		}
	}

	// Two taints are the same taint when key and effect match (a node
	// cannot have both node.kubernetes.io/unreachable:NoExecute twice).
	matches := func(t corev1.Taint) func(corev1.Taint) bool {
		return func(u corev1.Taint) bool { return t.MatchTaint(&u) }
	}
	var out []corev1.Taint
	for _, t := range node.Spec.Taints {
		if !managedTaint(t) || slices.ContainsFunc(want, matches(t)) {
			out = append(out, *t.DeepCopy()) // someone else's, or still wanted
		}
	}
	added := metav1.NewTime(now)
	for _, w := range want {
		if !slices.ContainsFunc(out, matches(w)) {
			w.TimeAdded = &added
			out = append(out, w)
		}
	}
	return out
}

// sameTaints reports whether a and b hold the same taints (key, value,
// effect), in any order.
func sameTaints(a, b []corev1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !slices.ContainsFunc(b, func(t corev1.Taint) bool {
			return t.Key == a[i].Key && t.Value == a[i].Value && t.Effect == a[i].Effect
		}) {
			return false
		}
	}
	return true
}

// evictionsAllowed is the master disruption rule: NoExecute taints only
// while at least one node is Ready.
func evictionsAllowed(nodes []*corev1.Node) bool {
	for _, n := range nodes {
		if readyStatus(n) == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// podNotReady returns a copy of pod with its Ready condition False, or
// nil if it has no Ready condition or it is False already.
func podNotReady(pod *corev1.Pod, now time.Time) *corev1.Pod {
	for i, c := range pod.Status.Conditions {
		if c.Type != corev1.PodReady {
			continue
		}
		if c.Status == corev1.ConditionFalse {
			return nil
		}
		p := pod.DeepCopy()
		p.Status.Conditions[i].Status = corev1.ConditionFalse
		p.Status.Conditions[i].LastTransitionTime = metav1.NewTime(now)
		return p
	}
	return nil
}

type nodeLifecycleController struct {
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	leases   coordinationlisters.LeaseLister
	pods     corelisters.PodLister
	recorder record.EventRecorder
	cfg      NodeLifecycleConfig
	now      func() time.Time
	// queue holds node names whose taints to sync.
	queue  workqueue.TypedRateLimitingInterface[string]
	synced []cache.InformerSynced

	// The monitor's memory, touched by monitorNodeHealth only.
	health map[string]*nodeHealth
	// retryNotReady: nodes whose pods could not all be marked NotReady.
	retryNotReady map[string]bool
	// evict: whether NoExecute taints were allowed at the last look.
	evict bool
	mu    sync.Mutex // guards evict (read by the workers)
}

func newNodeLifecycleController(c *Context) (Controller, error) {
	nodes := c.Informers.Core().V1().Nodes()
	leases := c.Informers.Coordination().V1().Leases()
	pods := c.Informers.Core().V1().Pods()
	n := &nodeLifecycleController{
		client: c.Client, nodes: nodes.Lister(), leases: leases.Lister(), pods: pods.Lister(),
		recorder: c.Recorder("node-controller"),
		cfg:      c.Config.NodeLifecycle.withDefaults(),
		now:      time.Now,
		queue:    newQueue[string]("node-lifecycle-controller"),
		synced:   []cache.InformerSynced{nodes.Informer().HasSynced, leases.Informer().HasSynced, pods.Informer().HasSynced},
		health:   map[string]*nodeHealth{}, retryNotReady: map[string]bool{}, evict: true,
	}
	// Any change of a node may change its taints: sync them. (A Lease
	// renewal changes nothing by itself: the monitor reads the Leases.)
	enqueue := func(obj any) { addKey(n.queue, obj) }
	nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, cur any) { enqueue(cur) },
	})
	return n, nil
}

// Run runs the monitor every node-monitor-period and the taint workers,
// until ctx is done.
func (n *nodeLifecycleController) Run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if cache.WaitForNamedCacheSync("node-lifecycle-controller", ctx.Done(), n.synced...) {
			wait.UntilWithContext(ctx, n.monitorNodeHealth, n.cfg.MonitorPeriod)
		}
	}()
	runWorkers(ctx, "node-lifecycle-controller", n.queue, workers, n.synced, n.syncHandler)
	wg.Wait()
}

// monitorNodeHealth is one look at every node: a silent one is marked
// Unknown, and its pods NotReady.
func (n *nodeLifecycleController) monitorNodeHealth(ctx context.Context) {
	nodes, err := n.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	now := n.now()
	seen := map[string]bool{}
	for _, cached := range nodes {
		node := cached
		seen[node.Name] = true
		prev := n.health[node.Name]
		if prev == nil {
			n.recorder.Eventf(node, corev1.EventTypeNormal, "RegisteredNode", "Node %s event: Registered Node %s in Controller", node.Name, node.Name)
		}
		lease, _ := n.leases.Leases(corev1.NamespaceNodeLease).Get(node.Name) // nil if it has none
		h, conds := assessNode(prev, node, lease, n.cfg, now)
		n.health[node.Name] = &h
		before := readyStatus(node)
		if conds != nil {
			update := node.DeepCopy() // never modify the cache's copy
			update.Status.Conditions = conds
			updated, err := n.client.CoreV1().Nodes().UpdateStatus(ctx, update, metav1.UpdateOptions{})
			if err != nil {
				// The next look tries again: the node is still silent.
				logf("node-lifecycle-controller", "node %s: marking it Unknown: %v (next look retries)", node.Name, err)
				continue
			}
			logf("node-lifecycle-controller", "node %s: nothing heard for %v: Ready=Unknown", node.Name, now.Sub(h.probeTime).Round(time.Second))
			node = updated
		}
		after := readyStatus(node)
		if before == corev1.ConditionTrue && after != corev1.ConditionTrue {
			// Said once, when the controller makes the change.
			n.recorder.Eventf(node, corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", node.Name)
			n.retryNotReady[node.Name] = true
		}
		if n.retryNotReady[node.Name] && after != corev1.ConditionTrue {
			if err := n.markPodsNotReady(ctx, node.Name, now); err != nil {
				logf("node-lifecycle-controller", "node %s: marking its pods NotReady: %v (next look retries)", node.Name, err)
				continue
			}
		}
		delete(n.retryNotReady, node.Name)
	}
	for name := range n.health {
		if !seen[name] {
			delete(n.health, name) // the node was deleted
			delete(n.retryNotReady, name)
		}
	}

	// Master disruption: when evictions turn on or off, every node's
	// NoExecute taint changes.
	evict := evictionsAllowed(nodes)
	n.mu.Lock()
	changed := evict != n.evict
	n.evict = evict
	n.mu.Unlock()
	if changed {
		if !evict {
			logf("node-lifecycle-controller", "every node is NotReady: the master is probably cut off; no evictions until one is Ready")
		}
		for _, node := range nodes {
			n.queue.Add(node.Name)
		}
	}
}

// markPodsNotReady sets Ready=False on the pods bound to node, as
// upstream's MarkPodsNotReady: Services stop sending them traffic.
func (n *nodeLifecycleController) markPodsNotReady(ctx context.Context, node string, now time.Time) error {
	pods, err := n.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	var errs []error
	for _, pod := range pods {
		if pod.Spec.NodeName != node {
			continue
		}
		p := podNotReady(pod, now)
		if p == nil {
			continue
		}
		if _, err := n.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		n.recorder.Event(pod, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d pods: %v", len(errs), errs[0])
	}
	return nil
}

// syncHandler compares the actual state with the desired, and attempts to
// converge the two: the node's taints should say what its conditions say.
func (n *nodeLifecycleController) syncHandler(ctx context.Context, name string) error {
	node, err := n.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil // deleted: nothing to taint
	}
	if err != nil {
		return err
	}
	n.mu.Lock()
	evict := n.evict
	n.mu.Unlock()
	want := nodeTaints(node, evict, n.now())
	if sameTaints(want, node.Spec.Taints) {
		return nil
	}
	update := node.DeepCopy()
	update.Spec.Taints = want
	if _, err := n.client.CoreV1().Nodes().Update(ctx, update, metav1.UpdateOptions{}); err != nil {
		// A conflict (the kubelet wrote meanwhile) or the apiserver away:
		// requeued, and the next try starts from the fresh node.
		return err
	}
	logf("node-lifecycle-controller", "node %s: taints %s", name, taintList(want))
	return nil
}

// taintList prints taints as kubectl describe does: key:Effect, ...
func taintList(taints []corev1.Taint) string {
	if len(taints) == 0 {
		return "<none>"
	}
	var s string
	for i, t := range taints {
		if i > 0 {
			s += ", "
		}
		s += t.ToString()
	}
	return s
}
