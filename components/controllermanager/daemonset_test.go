package controllermanager

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	core "k8s.io/client-go/testing"
)

// Reference: kubernetes/pkg/controller/daemon/daemon_controller_test.go
// and update_test.go; https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/.

var dsAgent = map[string]string{"app": "agent"}

func newDaemonSet(name string, lbls map[string]string, opts ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	ten := int32(10)
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Generation: 1, ResourceVersion: "1"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "tinykube/demo:1.0"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &one, MaxSurge: &zero}},
			RevisionHistoryLimit: &ten,
		},
	}
	for _, o := range opts {
		o(ds)
	}
	return ds
}

func dsNode(name string, lbls map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls, ResourceVersion: "1"},
		Spec:       corev1.NodeSpec{Taints: taints},
	}
}

var dsControlPlaneTaint = corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}

// dsHash is the hash the controller gives ds's current template.
func dsHash(t *testing.T, ds *appsv1.DaemonSet) string {
	t.Helper()
	patch, err := controllerRevisionPatch(ds)
	if err != nil {
		t.Fatal(err)
	}
	return controllerRevisionHash(patch, ds.Status.CollisionCount)
}

// daemonPod is a pod of ds on node, made from the template of hash.
func daemonPod(name string, ds *appsv1.DaemonSet, node, hash string, opts ...func(*corev1.Pod)) *corev1.Pod {
	lbls := cloneWithLabel(ds.Spec.Template.Labels, appsv1.DefaultDaemonSetUniqueLabelKey, hash)
	opts = append([]func(*corev1.Pod){ownedBy(ds, "DaemonSet", "apps/v1"), onNode(node, "10.244.0.9"), ready(t0.Add(-time.Hour))}, opts...)
	return newPod(name, lbls, opts...)
}

func newDSController(t *testing.T, objects ...runtime.Object) (*fixture, *daemonSetController) {
	t.Helper()
	f := newFixture(t, objects...)
	c, err := newDaemonSetController(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := c.(*daemonSetController)
	d.now = func() time.Time { return t0 }
	d.expectations.now = d.now
	f.load(objects...)
	return f, d
}

func lastDSStatus(t *testing.T, f *fixture) appsv1.DaemonSetStatus {
	t.Helper()
	for _, a := range slices.Backward(f.writes()) {
		if a.GetVerb() == "update" && a.GetResource().Resource == "daemonsets" && a.GetSubresource() == "status" {
			return a.(core.UpdateAction).GetObject().(*appsv1.DaemonSet).Status
		}
	}
	t.Fatalf("no status update; actions %v", describe(f.writes()))
	return appsv1.DaemonSetStatus{}
}

func TestNodeShouldRunDaemonPod(t *testing.T) {
	withSelector := func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"} }
	withAffinity := func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}}},
			}}}}}
	}
	tolerateControlPlane := func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: dsControlPlaneTaint.Key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	}
	hostNetwork := func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.HostNetwork = true }
	pinned := func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeName = "node1" }
	taint := func(key string, effect corev1.TaintEffect) corev1.Taint {
		return corev1.Taint{Key: key, Effect: effect}
	}

	for _, tc := range []struct {
		name                string
		ds                  *appsv1.DaemonSet
		node                *corev1.Node
		run, continueRuning bool
	}{
		{"a plain node", newDaemonSet("a", dsAgent), dsNode("node1", nil), true, true},
		{"nodeSelector matches", newDaemonSet("a", dsAgent, withSelector), dsNode("node1", map[string]string{"disk": "ssd"}), true, true},
		{"nodeSelector does not match", newDaemonSet("a", dsAgent, withSelector), dsNode("node1", map[string]string{"disk": "hdd"}), false, false},
		{"node affinity matches", newDaemonSet("a", dsAgent, withAffinity), dsNode("node1", map[string]string{"zone": "b"}), true, true},
		{"node affinity does not match", newDaemonSet("a", dsAgent, withAffinity), dsNode("node1", map[string]string{"zone": "c"}), false, false},
		{"template pinned to another node", newDaemonSet("a", dsAgent, pinned), dsNode("node2", nil), false, false},
		{"template pinned to this node", newDaemonSet("a", dsAgent, pinned), dsNode("node1", nil), true, true},
		// A NoSchedule taint keeps new pods off but lets a running one stay.
		{"control-plane taint", newDaemonSet("a", dsAgent), dsNode("master", nil, dsControlPlaneTaint), false, true},
		{"control-plane taint tolerated", newDaemonSet("a", dsAgent, tolerateControlPlane), dsNode("master", nil, dsControlPlaneTaint), true, true},
		// A NoExecute taint evicts too.
		{"NoExecute taint", newDaemonSet("a", dsAgent), dsNode("node1", nil, taint("dedicated", corev1.TaintEffectNoExecute)), false, false},
		// PreferNoSchedule is only a preference.
		{"PreferNoSchedule taint", newDaemonSet("a", dsAgent), dsNode("node1", nil, taint("dedicated", corev1.TaintEffectPreferNoSchedule)), true, true},
		// The standard tolerations every daemon pod gets.
		{"not ready", newDaemonSet("a", dsAgent), dsNode("node1", nil, taint(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)), true, true},
		{"unreachable", newDaemonSet("a", dsAgent), dsNode("node1", nil, taint(corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)), true, true},
		{"cordoned", newDaemonSet("a", dsAgent), dsNode("node1", nil, taint(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)), true, true},
		{"memory pressure", newDaemonSet("a", dsAgent), dsNode("node1", nil, taint(corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule)), true, true},
		{"disk pressure", newDaemonSet("a", dsAgent), dsNode("node1", nil, taint(corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule)), true, true},
		{"pid pressure", newDaemonSet("a", dsAgent), dsNode("node1", nil, taint(corev1.TaintNodePIDPressure, corev1.TaintEffectNoSchedule)), true, true},
		// network-unavailable only for host-network pods.
		{"network unavailable", newDaemonSet("a", dsAgent), dsNode("node1", nil, taint(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)), false, true},
		{"network unavailable, hostNetwork", newDaemonSet("a", dsAgent, hostNetwork), dsNode("node1", nil, taint(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run, cont := nodeShouldRunDaemonPod(tc.node, tc.ds)
			if run != tc.run || cont != tc.continueRuning {
				t.Errorf("nodeShouldRunDaemonPod = (shouldRun %v, shouldContinueRunning %v), want (%v, %v)", run, cont, tc.run, tc.continueRuning)
			}
		})
	}
}

// One pod per eligible node, pinned by node affinity (not nodeName), with
// the standard tolerations and the revision labels; none on the tainted
// control-plane node. The template is recorded as revision 1.
func TestDaemonSetCreatesOnePodPerNode(t *testing.T) {
	ds := newDaemonSet("agent", dsAgent)
	f, d := newDSController(t, ds, dsNode("master", nil, dsControlPlaneTaint), dsNode("node1", nil), dsNode("node2", nil))
	if err := d.syncHandler(context.Background(), "default/agent"); err != nil {
		t.Fatal(err)
	}
	hash := dsHash(t, ds)
	pods := createdPods(f.writes())
	var nodes []string
	for _, p := range pods {
		nodes = append(nodes, daemonPodTargetNode(p))
		if p.Spec.NodeName != "" {
			t.Errorf("pod spec.nodeName = %q: the scheduler binds daemon pods", p.Spec.NodeName)
		}
		if p.GenerateName != "agent-" || p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != hash || p.Labels[daemonSetTemplateGenerationLabel] != "1" || p.Labels["app"] != "agent" {
			t.Errorf("pod %+v: want generateName agent-, labels app, controller-revision-hash=%s, pod-template-generation=1", p.ObjectMeta, hash)
		}
		if ref := metav1.GetControllerOf(p); ref == nil || ref.Kind != "DaemonSet" || ref.UID != ds.UID {
			t.Errorf("pod owner = %+v, want the DaemonSet", p.OwnerReferences)
		}
		if !slices.ContainsFunc(p.Spec.Tolerations, func(tol corev1.Toleration) bool {
			return tol.Key == corev1.TaintNodeUnreachable && tol.Effect == corev1.TaintEffectNoExecute && tol.Operator == corev1.TolerationOpExists && tol.TolerationSeconds == nil
		}) || len(p.Spec.Tolerations) != 6 {
			t.Errorf("pod tolerations = %+v, want the 6 standard ones", p.Spec.Tolerations)
		}
	}
	slices.Sort(nodes)
	if !slices.Equal(nodes, []string{"node1", "node2"}) {
		t.Errorf("pods for nodes %v, want [node1 node2]; actions %v", nodes, describe(f.writes()))
	}
	var cr *appsv1.ControllerRevision
	for _, a := range f.writes() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "controllerrevisions" {
			cr = a.(core.CreateAction).GetObject().(*appsv1.ControllerRevision)
		}
	}
	if cr == nil || cr.Name != "agent-"+hash || cr.Revision != 1 || cr.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != hash || cr.Labels["app"] != "agent" {
		t.Fatalf("controller revision = %+v, want agent-%s, revision 1, labelled", cr, hash)
	}
	if tmpl, err := controllerRevisionTemplate(cr); err != nil || tmpl.Spec.Containers[0].Image != "tinykube/demo:1.0" {
		t.Errorf("revision data = %s (%v), want the template back", cr.Data.Raw, err)
	}
	if !strings.Contains(string(cr.Data.Raw), `"$patch":"replace"`) {
		t.Errorf("revision data = %s, want a replacing patch for kubectl rollout undo", cr.Data.Raw)
	}
	st := lastDSStatus(t, f)
	if st.DesiredNumberScheduled != 2 || st.CurrentNumberScheduled != 0 || st.ObservedGeneration != 1 || st.NumberUnavailable != 2 {
		t.Errorf("status = %+v, want desired 2, current 0 (the cache shows no pod yet), observedGeneration 1", st)
	}
	// The informer has not shown the pods yet: no second batch.
	f.client.ClearActions()
	if err := d.syncHandler(context.Background(), "default/agent"); err != nil {
		t.Fatal(err)
	}
	if n := len(createdPods(f.writes())); n != 0 {
		t.Errorf("second sync created %d pods before the first showed up, want 0", n)
	}
}

func TestDaemonSetKeepsOnePodPerNode(t *testing.T) {
	ds := newDaemonSet("agent", dsAgent, func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = map[string]string{"agent": "yes"} })
	hash := dsHash(t, ds)
	yes := map[string]string{"agent": "yes"}
	objects := []runtime.Object{ds,
		dsNode("node1", yes), dsNode("node2", yes), dsNode("node3", nil), dsNode("node4", yes),
		// node1: two pods, the newer goes.
		daemonPod("agent-old", ds, "node1", hash, createdAt(t0.Add(-2*time.Hour))),
		daemonPod("agent-dup", ds, "node1", hash, createdAt(t0.Add(-time.Hour))),
		// node2: failed, deleted (and replaced once gone).
		daemonPod("agent-failed", ds, "node2", hash, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }),
		// node3 lost its label: its pod goes.
		daemonPod("agent-unwanted", ds, "node3", hash),
		// node4: still terminating: no replacement yet.
		daemonPod("agent-going", ds, "node4", hash, func(p *corev1.Pod) { now := metav1.NewTime(t0); p.DeletionTimestamp = &now }),
		// Pods for a node that is gone: the unbound one goes; the bound
		// one is the pod garbage collector's.
		daemonPod("agent-ghost", ds, "node9", hash, func(p *corev1.Pod) {
			p.Spec.NodeName = ""
			p.Spec.Affinity = daemonPodNodeAffinity(nil, "node9")
		}),
		daemonPod("agent-bound-ghost", ds, "node8", hash),
	}
	f, d := newDSController(t, objects...)
	if err := d.syncHandler(context.Background(), "default/agent"); err != nil {
		t.Fatal(err)
	}
	if got, want := deletedNames(f.writes()), []string{"agent-dup", "agent-failed", "agent-ghost", "agent-unwanted"}; !slices.Equal(got, want) {
		t.Errorf("deleted %v, want %v", got, want)
	}
	if n := len(createdPods(f.writes())); n != 0 {
		t.Errorf("created %d pods, want 0 (node2's and node4's wait for the old pod to be gone)", n)
	}
	if ev := f.events(); !slices.Contains(ev, "Warning FailedDaemonPod Found failed daemon pod default/agent-failed on node node2, will try to kill it") {
		t.Errorf("events = %q, want FailedDaemonPod", ev)
	}
	st := lastDSStatus(t, f)
	want := appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberMisscheduled: 1, // node3 (node9 is no node)

		NumberReady: 3, NumberAvailable: 3, UpdatedNumberScheduled: 3, ObservedGeneration: 1}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("status = %+v, want %+v", st, want)
	}
}

// A RollingUpdate with maxUnavailable 1 replaces one node's pod at a time:
// it deletes one old pod, and no other until the new pod there is available.
func TestDaemonSetRollingUpdate(t *testing.T) {
	ds := newDaemonSet("agent", dsAgent)
	oldHash := dsHash(t, ds)
	ds.Generation = 2
	ds.Spec.Template.Spec.Containers[0].Image = "tinykube/demo:2.0"
	hash := dsHash(t, ds)
	nodes := []*corev1.Node{dsNode("node1", nil), dsNode("node2", nil), dsNode("node3", nil)}

	old := map[string][]*corev1.Pod{
		"node1": {daemonPod("a1", ds, "node1", oldHash)},
		"node2": {daemonPod("a2", ds, "node2", oldHash)},
		"node3": {daemonPod("a3", ds, "node3", oldHash)},
	}
	del, create := rollingUpdatePlan(ds, nodes, old, hash, t0)
	if len(del) != 1 || len(create) != 0 {
		t.Fatalf("all old and available: delete %v create %v, want one deletion", dsPodNames(del), create)
	}
	// node1 has its new pod, not ready yet: nothing more.
	old["node1"] = []*corev1.Pod{daemonPod("b1", ds, "node1", hash, func(p *corev1.Pod) { p.Status.Conditions = nil })}
	if del, _ := rollingUpdatePlan(ds, nodes, old, hash, t0); len(del) != 0 {
		t.Errorf("a new pod unavailable: delete %v, want none", dsPodNames(del))
	}
	// An old pod that is not available anyway goes at once.
	old["node3"] = []*corev1.Pod{daemonPod("a3", ds, "node3", oldHash, func(p *corev1.Pod) { p.Status.Conditions = nil })}
	if del, _ := rollingUpdatePlan(ds, nodes, old, hash, t0); !slices.Equal(dsPodNames(del), []string{"a3"}) {
		t.Errorf("an unavailable old pod: delete %v, want [a3]", dsPodNames(del))
	}
	// OnDelete: the controller never deletes an old pod (syncHandler does
	// not call the plan), and an old pod is not an extra.
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	objects := []runtime.Object{ds, nodes[0], nodes[1], old["node2"][0]}
	f, d := newDSController(t, objects...)
	if err := d.syncHandler(context.Background(), "default/agent"); err != nil {
		t.Fatal(err)
	}
	if got := deletedNames(f.writes()); len(got) != 0 {
		t.Errorf("OnDelete: deleted %v, want none", got)
	}
	if st := lastDSStatus(t, f); st.UpdatedNumberScheduled != 0 || st.CurrentNumberScheduled != 1 || st.DesiredNumberScheduled != 2 {
		t.Errorf("OnDelete status = %+v, want desired 2, current 1, updated 0", st)
	}
}

// With maxSurge the new pod comes up next to the old one, which goes once
// the new one is available.
func TestDaemonSetRollingUpdateSurge(t *testing.T) {
	ds := newDaemonSet("agent", dsAgent)
	oldHash := dsHash(t, ds)
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: &one, MaxUnavailable: &zero}
	ds.Spec.Template.Spec.Containers[0].Image = "tinykube/demo:2.0"
	hash := dsHash(t, ds)
	nodes := []*corev1.Node{dsNode("node1", nil), dsNode("node2", nil)}
	pods := map[string][]*corev1.Pod{
		"node1": {daemonPod("a1", ds, "node1", oldHash)},
		"node2": {daemonPod("a2", ds, "node2", oldHash)},
	}
	if del, create := rollingUpdatePlan(ds, nodes, pods, hash, t0); len(del) != 0 || len(create) != 1 {
		t.Fatalf("surge 1: delete %v create %v, want one node to get a new pod", dsPodNames(del), create)
	}
	// node1 has both; the new one not ready: both stay, no other surge.
	fresh := daemonPod("b1", ds, "node1", hash, func(p *corev1.Pod) { p.Status.Conditions = nil }, createdAt(t0))
	pods["node1"] = append(pods["node1"], fresh)
	if del, create := rollingUpdatePlan(ds, nodes, pods, hash, t0); len(del) != 0 || len(create) != 0 {
		t.Errorf("surging on node1: delete %v create %v, want nothing", dsPodNames(del), create)
	}
	if _, del, _ := podsShouldBeOnNode(nodes[0], pods["node1"], ds, hash, t0); len(del) != 0 {
		t.Errorf("new pod not ready: node1 deletes %v, want none", dsPodNames(del))
	}
	// The new one is available: the old one goes.
	ready(t0)(fresh)
	if _, del, _ := podsShouldBeOnNode(nodes[0], pods["node1"], ds, hash, t0); !slices.Equal(dsPodNames(del), []string{"a1"}) {
		t.Errorf("new pod available: node1 deletes %v, want [a1]", dsPodNames(del))
	}
}

func TestDaemonSetMaxSurgeUnavailable(t *testing.T) {
	i, p := intstr.FromInt32, intstr.FromString
	for _, tc := range []struct {
		surge, unavailable intstr.IntOrString
		desired            int
		wantS, wantU       int
	}{
		{i(0), i(1), 5, 0, 1},
		{p("25%"), p("0%"), 5, 2, 0}, // surge rounds up
		{p("0%"), p("25%"), 5, 0, 1}, // unavailable rounds down
		{p("0%"), p("10%"), 5, 0, 1}, // both 0: one at a time
		{i(0), p("100%"), 3, 0, 3},
	} {
		ds := newDaemonSet("a", dsAgent)
		ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: &tc.surge, MaxUnavailable: &tc.unavailable}
		if gs, gu := daemonSetMaxSurgeUnavailable(ds, tc.desired); gs != tc.wantS || gu != tc.wantU {
			t.Errorf("surge %s, unavailable %s of %d: got (%d, %d), want (%d, %d)", tc.surge.String(), tc.unavailable.String(), tc.desired, gs, gu, tc.wantS, tc.wantU)
		}
	}
}

// `kubectl rollout undo` puts an old template back: its revision is
// reused, renumbered as the newest, not copied.
func TestDaemonSetHistoryUndo(t *testing.T) {
	ds := newDaemonSet("agent", dsAgent)
	patch1, _ := controllerRevisionPatch(ds)
	hash1 := dsHash(t, ds)
	rev := func(name string, n int64, patch []byte, hash string) *appsv1.ControllerRevision {
		yes := true
		return &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", ResourceVersion: "1",
				Labels:          map[string]string{"app": "agent", appsv1.DefaultDaemonSetUniqueLabelKey: hash},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: ds.UID, Controller: &yes}}},
			Data: runtime.RawExtension{Raw: patch}, Revision: n,
		}
	}
	v2 := newDaemonSet("agent", dsAgent)
	v2.Spec.Template.Spec.Containers[0].Image = "tinykube/demo:2.0"
	patch2, _ := controllerRevisionPatch(v2)
	hash2 := dsHash(t, v2)
	f, d := newDSController(t, ds, dsNode("node1", nil),
		rev("agent-"+hash1, 1, patch1, hash1), rev("agent-"+hash2, 2, patch2, hash2))
	if err := d.syncHandler(context.Background(), "default/agent"); err != nil {
		t.Fatal(err)
	}
	var updated *appsv1.ControllerRevision
	for _, a := range f.writes() {
		switch {
		case a.GetResource().Resource != "controllerrevisions":
		case a.GetVerb() == "update":
			updated = a.(core.UpdateAction).GetObject().(*appsv1.ControllerRevision)
		default:
			t.Errorf("unexpected %s of a controller revision", a.GetVerb())
		}
	}
	if updated == nil || updated.Name != "agent-"+hash1 || updated.Revision != 3 {
		t.Fatalf("updated revision = %+v, want agent-%s renumbered 3", updated, hash1)
	}
	if pods := createdPods(f.writes()); len(pods) != 1 || pods[0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != hash1 {
		t.Errorf("created %v, want one pod with hash %s", pods, hash1)
	}
}

func TestDaemonSetAdoptsOrphans(t *testing.T) {
	ds := newDaemonSet("agent", dsAgent)
	hash := dsHash(t, ds)
	orphan := daemonPod("stray", ds, "node1", hash, func(p *corev1.Pod) { p.OwnerReferences = nil })
	f, d := newDSController(t, ds, dsNode("node1", nil), orphan)
	if err := d.syncHandler(context.Background(), "default/agent"); err != nil {
		t.Fatal(err)
	}
	var patched []string
	for _, a := range f.writes() {
		if a.GetVerb() == "patch" && a.GetResource().Resource == "pods" {
			patched = append(patched, a.(core.PatchAction).GetName())
		}
	}
	if !slices.Equal(patched, []string{"stray"}) || len(createdPods(f.writes())) != 0 {
		t.Errorf("patched %v, created %d; want stray adopted and nothing created", patched, len(createdPods(f.writes())))
	}
}

func dsPodNames(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}
