package controllermanager

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	core "k8s.io/client-go/testing"
)

// Reference: kubernetes/pkg/controller/nodelifecycle/node_lifecycle_controller_test.go
// (TestMonitorNodeHealth*), and
// https://kubernetes.io/docs/concepts/architecture/nodes/#node-controller.

var lifecycleCfg = NodeLifecycleConfig{MonitorPeriod: 5 * time.Second, GracePeriod: 40 * time.Second, StartupGracePeriod: time.Minute}

// kubeletNode is a Node as the kubelet posts it: Ready, no pressure, the
// heartbeat at the given time.
func kubeletNode(name string, heartbeat time.Time, opts ...func(*corev1.Node)) *corev1.Node {
	hb := metav1.NewTime(heartbeat)
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), ResourceVersion: "1", CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
	}
	for _, c := range []struct {
		t      corev1.NodeConditionType
		status corev1.ConditionStatus
		reason string
	}{
		{corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory"},
		{corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure"},
		{corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID"},
		{corev1.NodeReady, corev1.ConditionTrue, "KubeletReady"},
	} {
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: c.t, Status: c.status, Reason: c.reason,
			LastHeartbeatTime: hb, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))})
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

func withReady(status corev1.ConditionStatus) func(*corev1.Node) {
	return func(n *corev1.Node) { nodeCondition(n.Status.Conditions, corev1.NodeReady).Status = status }
}

func withTaints(taints ...corev1.Taint) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Spec.Taints = taints }
}

func nodeLease(name string, renewed time.Time) *coordinationv1.Lease {
	rt := metav1.NewMicroTime(renewed)
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease, ResourceVersion: "1"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &name, RenewTime: &rt},
	}
}

func conditionSummary(conds []corev1.NodeCondition) []string {
	var out []string
	for _, c := range conds {
		out = append(out, string(c.Type)+"="+string(c.Status)+"/"+c.Reason)
	}
	slices.Sort(out)
	return out
}

func TestAssessNode(t *testing.T) {
	heartbeat := t0.Add(-time.Minute)
	seen := &nodeHealth{probeTime: t0.Add(-41 * time.Second), heartbeat: metav1.NewTime(heartbeat), renewTime: metav1.NewMicroTime(heartbeat)}
	unknown := []string{"DiskPressure=Unknown/NodeStatusUnknown", "MemoryPressure=Unknown/NodeStatusUnknown", "PIDPressure=Unknown/NodeStatusUnknown", "Ready=Unknown/NodeStatusUnknown"}
	for _, tc := range []struct {
		name      string
		prev      *nodeHealth
		node      *corev1.Node
		lease     *coordinationv1.Lease
		wantProbe time.Time
		want      []string // the conditions written; nil: none
	}{
		{name: "first sight: a full grace period from now", node: kubeletNode("n", heartbeat), lease: nodeLease("n", heartbeat), wantProbe: t0},
		{name: "silent for 41s: Unknown", prev: seen, node: kubeletNode("n", heartbeat), lease: nodeLease("n", heartbeat), wantProbe: seen.probeTime, want: unknown},
		{name: "silent for 41s but no Lease either", prev: seen, node: kubeletNode("n", heartbeat), wantProbe: seen.probeTime, want: unknown},
		{name: "Lease renewed: heard from", prev: seen, node: kubeletNode("n", heartbeat), lease: nodeLease("n", t0.Add(-50*time.Second)), wantProbe: t0},
		{name: "status posted: heard from", prev: seen, node: kubeletNode("n", t0.Add(-time.Second)), lease: nodeLease("n", heartbeat), wantProbe: t0},
		{name: "silent for 39s: not yet", prev: &nodeHealth{probeTime: t0.Add(-39 * time.Second), heartbeat: metav1.NewTime(heartbeat)},
			node: kubeletNode("n", heartbeat), wantProbe: t0.Add(-39 * time.Second)},
		{name: "Unknown already: nothing to write", prev: seen, node: func() *corev1.Node {
			n := kubeletNode("n", heartbeat)
			for i := range n.Status.Conditions {
				n.Status.Conditions[i].Status = corev1.ConditionUnknown
			}
			return n
		}(), wantProbe: seen.probeTime},
		{name: "never posted, created 30s ago: startup grace", node: func() *corev1.Node {
			n := kubeletNode("n", heartbeat)
			n.Status.Conditions, n.CreationTimestamp = nil, metav1.NewTime(t0.Add(-30*time.Second))
			return n
		}(), wantProbe: t0.Add(-30 * time.Second)},
		{name: "never posted, created 61s ago", node: func() *corev1.Node {
			n := kubeletNode("n", heartbeat)
			n.Status.Conditions, n.CreationTimestamp = nil, metav1.NewTime(t0.Add(-61*time.Second))
			return n
		}(), wantProbe: t0.Add(-61 * time.Second), want: []string{"DiskPressure=Unknown/NodeStatusNeverUpdated", "MemoryPressure=Unknown/NodeStatusNeverUpdated", "PIDPressure=Unknown/NodeStatusNeverUpdated", "Ready=Unknown/NodeStatusNeverUpdated"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.node.DeepCopy()
			h, conds := assessNode(tc.prev, tc.node, tc.lease, lifecycleCfg, t0)
			if !h.probeTime.Equal(tc.wantProbe) {
				t.Errorf("probeTime = %v, want %v", h.probeTime, tc.wantProbe)
			}
			if got := conditionSummary(conds); !slices.Equal(got, tc.want) {
				t.Errorf("conditions written = %v, want %v", got, tc.want)
			}
			for _, c := range conds {
				if c.Reason == NodeStatusUnknownReason && (c.Message != "Kubelet stopped posting node status." || !c.LastTransitionTime.Time.Equal(t0) || !c.LastHeartbeatTime.Time.Equal(heartbeat)) {
					t.Errorf("condition %+v: want the message, transition now, the kubelet's last heartbeat kept", c)
				}
			}
			if tc.node.Status.Conditions != nil && conditionSummary(tc.node.Status.Conditions)[0] != conditionSummary(before.Status.Conditions)[0] {
				t.Error("assessNode modified the node it was given")
			}
		})
	}
}

func TestNodeTaints(t *testing.T) {
	earlier := metav1.NewTime(t0.Add(-time.Minute))
	user := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	unreachableNE := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &earlier}
	unreachableNS := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule, TimeAdded: &earlier}
	for _, tc := range []struct {
		name  string
		node  *corev1.Node
		evict bool
		want  []string
	}{
		{"ready: nothing", kubeletNode("n", t0), true, nil},
		{"ready: ours removed, the user's kept", kubeletNode("n", t0, withTaints(user, unreachableNE, unreachableNS)), true, []string{"dedicated=db:NoSchedule"}},
		{"unknown: unreachable", kubeletNode("n", t0, withReady(corev1.ConditionUnknown), withTaints(user)), true,
			[]string{"dedicated=db:NoSchedule", "node.kubernetes.io/unreachable:NoSchedule", "node.kubernetes.io/unreachable:NoExecute"}},
		{"false: not-ready", kubeletNode("n", t0, withReady(corev1.ConditionFalse)), true,
			[]string{"node.kubernetes.io/not-ready:NoSchedule", "node.kubernetes.io/not-ready:NoExecute"}},
		{"false after unknown: swapped", kubeletNode("n", t0, withReady(corev1.ConditionFalse), withTaints(unreachableNS, unreachableNE)), true,
			[]string{"node.kubernetes.io/not-ready:NoSchedule", "node.kubernetes.io/not-ready:NoExecute"}},
		{"every node down: no NoExecute", kubeletNode("n", t0, withReady(corev1.ConditionUnknown), withTaints(unreachableNE)), false,
			[]string{"node.kubernetes.io/unreachable:NoSchedule"}},
		{"cordoned, memory pressure", kubeletNode("n", t0, func(n *corev1.Node) {
			n.Spec.Unschedulable = true
			nodeCondition(n.Status.Conditions, corev1.NodeMemoryPressure).Status = corev1.ConditionTrue
		}), true, []string{"node.kubernetes.io/memory-pressure:NoSchedule", "node.kubernetes.io/unschedulable:NoSchedule"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := nodeTaints(tc.node, tc.evict, t0)
			var names []string
			for _, taint := range got {
				names = append(names, taint.ToString())
				switch {
				case taint.Key == "dedicated":
				case slices.ContainsFunc(tc.node.Spec.Taints, func(o corev1.Taint) bool { return o.MatchTaint(&taint) }):
					if !taint.TimeAdded.Equal(&earlier) {
						t.Errorf("taint %s kept but timeAdded = %v, want %v", taint.ToString(), taint.TimeAdded, earlier)
					}
				case taint.TimeAdded == nil || !taint.TimeAdded.Time.Equal(t0):
					t.Errorf("new taint %s: timeAdded = %v, want now", taint.ToString(), taint.TimeAdded)
				}
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("taints = %v, want %v", names, tc.want)
			}
		})
	}
}

func newNodeLifecycle(t *testing.T, objects ...runtime.Object) (*fixture, *nodeLifecycleController) {
	f := newFixture(t, objects...)
	f.ctx.Config.NodeLifecycle = lifecycleCfg
	c, err := newNodeLifecycleController(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := c.(*nodeLifecycleController)
	n.now = func() time.Time { return t0 }
	f.load(objects...)
	return f, n
}

// A node goes silent: 40 s later it is Unknown, its pods NotReady, and
// the taint sync taints it; when its kubelet posts Ready again, the taints
// come off.
func TestNodeLifecycleLostNode(t *testing.T) {
	last := t0.Add(-time.Minute)
	node1, node2 := kubeletNode("node1", last), kubeletNode("node2", last)
	lease1, lease2 := nodeLease("node1", last), nodeLease("node2", last)
	pods := []runtime.Object{
		newPod("web-1", web, onNode("node1", "10.244.1.2"), ready(last)),
		newPod("web-2", web, onNode("node2", "10.244.2.2"), ready(last)),
	}
	f, n := newNodeLifecycle(t, append(pods, node1, node2, lease1, lease2)...)
	ctx := context.Background()

	n.monitorNodeHealth(ctx) // first sight at t0
	if w := f.writes(); len(w) != 0 {
		t.Fatalf("first look wrote %v, want nothing", describe(w))
	}
	// 41 s later node2 has renewed its Lease; node1 has not.
	n.now = func() time.Time { return t0.Add(41 * time.Second) }
	f.load(nodeLease("node2", t0.Add(35*time.Second)))
	f.events()
	n.monitorNodeHealth(ctx)

	var statusNodes, statusPods []string
	var lost *corev1.Node
	for _, a := range f.writes() {
		if a.GetVerb() != "update" || a.GetSubresource() != "status" {
			t.Errorf("unexpected write %s %s", a.GetVerb(), a.GetResource().Resource)
			continue
		}
		switch obj := a.(core.UpdateAction).GetObject().(type) {
		case *corev1.Node:
			statusNodes, lost = append(statusNodes, obj.Name), obj
		case *corev1.Pod:
			statusPods = append(statusPods, obj.Name)
			if c := podCondition(obj, corev1.PodReady); c == nil || c.Status != corev1.ConditionFalse {
				t.Errorf("pod %s Ready = %+v, want False", obj.Name, c)
			}
		}
	}
	if !slices.Equal(statusNodes, []string{"node1"}) || !slices.Equal(statusPods, []string{"web-1"}) {
		t.Fatalf("status written for nodes %v and pods %v, want node1 and web-1", statusNodes, statusPods)
	}
	if got := readyStatus(lost); got != corev1.ConditionUnknown {
		t.Errorf("node1 Ready = %s, want Unknown", got)
	}
	wantEvents := []string{"Normal NodeNotReady Node node1 status is now: NodeNotReady", "Warning NodeNotReady Node is not ready"}
	if got := f.events(); !slices.Equal(got, wantEvents) {
		t.Errorf("events = %q, want %q", got, wantEvents)
	}

	// The informer shows node1 Unknown: its taints follow.
	f.load(lost)
	f.client.ClearActions()
	if err := n.syncHandler(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	tainted := lastNodeUpdate(t, f)
	if got := taintList(tainted.Spec.Taints); got != "node.kubernetes.io/unreachable:NoSchedule, node.kubernetes.io/unreachable:NoExecute" {
		t.Errorf("node1 taints = %s, want unreachable NoSchedule and NoExecute", got)
	}

	// A further look writes nothing more: Unknown already.
	f.load(tainted)
	f.client.ClearActions()
	n.now = func() time.Time { return t0.Add(46 * time.Second) }
	n.monitorNodeHealth(ctx)
	if w := f.writes(); len(w) != 0 {
		t.Errorf("a further look wrote %v, want nothing", describe(w))
	}

	// The kubelet is back: Ready, fresh heartbeat. The taints come off.
	back := kubeletNode("node1", t0.Add(50*time.Second), withTaints(tainted.Spec.Taints...))
	f.load(back)
	f.client.ClearActions()
	if err := n.syncHandler(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	if got := lastNodeUpdate(t, f).Spec.Taints; len(got) != 0 {
		t.Errorf("taints after the kubelet came back = %s, want none", taintList(got))
	}
}

// When every node is silent, the master is the likelier culprit: the
// nodes get NoSchedule taints but no NoExecute, so nothing is evicted.
func TestNodeLifecycleMasterDisruption(t *testing.T) {
	last := t0.Add(-time.Minute)
	f, n := newNodeLifecycle(t, kubeletNode("node1", last), kubeletNode("node2", last))
	ctx := context.Background()
	n.monitorNodeHealth(ctx)
	n.now = func() time.Time { return t0.Add(41 * time.Second) }
	n.monitorNodeHealth(ctx)
	for _, a := range f.writes() {
		if node, ok := a.(core.UpdateAction).GetObject().(*corev1.Node); ok {
			f.load(node)
		}
	}
	n.monitorNodeHealth(ctx) // sees both Unknown: evictions off
	f.client.ClearActions()
	if err := n.syncHandler(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	if got := taintList(lastNodeUpdate(t, f).Spec.Taints); got != "node.kubernetes.io/unreachable:NoSchedule" {
		t.Errorf("node1 taints with every node down = %s, want unreachable:NoSchedule only", got)
	}
}

func lastNodeUpdate(t *testing.T, f *fixture) *corev1.Node {
	t.Helper()
	var node *corev1.Node
	for _, a := range f.writes() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "nodes" && a.GetSubresource() == "" {
			node = a.(core.UpdateAction).GetObject().(*corev1.Node)
		}
	}
	if node == nil {
		t.Fatalf("no node update; writes %v", describe(f.writes()))
	}
	return node
}

func TestNodeLifecycleSettings(t *testing.T) {
	c, err := nodeLifecycleConfigFrom(map[string]string{"node-monitor-grace-period": "10s", "node-monitor-period": "2s"})
	if err != nil || c.GracePeriod != 10*time.Second || c.MonitorPeriod != 2*time.Second || c.StartupGracePeriod != DefaultNodeStartupGracePeriod {
		t.Errorf("config = %+v, %v; want grace 10s, period 2s, startup grace the default", c, err)
	}
	for _, bad := range []map[string]string{
		{"node-monitor-grace-period": "forty"},
		{"node-monitor-period": "-1s"},
		{"node-monitor-grace-period": "5s", "node-monitor-period": "5s"},
	} {
		if _, err := nodeLifecycleConfigFrom(bad); err == nil || !strings.Contains(err.Error(), "node-monitor") {
			t.Errorf("settings %v: error %v, want one naming the setting", bad, err)
		}
	}
}
