package controllermanager

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	core "k8s.io/client-go/testing"
)

// Reference: kubernetes/pkg/controller/replicaset/replica_set_test.go, and
// the course notes: RC 根据定义文件的Pod模版创建、销毁Pod使其达到预期数量.

var web = map[string]string{"app": "web"}

func newRSManager(t *testing.T, objects ...runtime.Object) (*fixture, *replicaManager) {
	f := newFixture(t, objects...)
	c, err := newReplicaSetController(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := c.(*replicaManager)
	m.now = func() time.Time { return t0 }
	m.expectations.now = m.now
	f.load(objects...)
	return f, m
}

func createdPods(actions []core.Action) []*corev1.Pod {
	var out []*corev1.Pod
	for _, a := range actions {
		if a.GetVerb() == "create" && a.GetResource().Resource == "pods" {
			out = append(out, a.(core.CreateAction).GetObject().(*corev1.Pod))
		}
	}
	return out
}

func deletedNames(actions []core.Action) []string {
	var out []string
	for _, a := range actions {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "pods" {
			out = append(out, a.(core.DeleteAction).GetName())
		}
	}
	slices.Sort(out)
	return out
}

func TestReplicaSetCreatesMissingPods(t *testing.T) {
	rs := newReplicaSet("web", 3, web)
	f, m := newRSManager(t, rs)
	if err := m.syncHandler(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	pods := createdPods(f.writes())
	if len(pods) != 3 {
		t.Fatalf("created %d pods, want 3; actions %v", len(pods), describe(f.writes()))
	}
	for _, p := range pods {
		if p.GenerateName != "web-" || p.Labels["app"] != "web" || p.Spec.Containers[0].Image != "tinykube/demo:1.0" {
			t.Errorf("pod %+v: want generateName web-, the template's labels and spec", p.ObjectMeta)
		}
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.Kind != "ReplicaSet" || ref.APIVersion != "apps/v1" || ref.UID != rs.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Errorf("pod ownerReferences = %+v, want the ReplicaSet as controller, blockOwnerDeletion", p.OwnerReferences)
		}
	}
	if got := f.events(); len(got) != 3 || !strings.HasPrefix(got[0], "Normal SuccessfulCreate Created pod: web-") {
		t.Errorf("events = %q, want 3 SuccessfulCreate", got)
	}
	// Status: what the informer shows now (no pod yet), at generation 1.
	st := lastStatus(t, f)
	if st.Replicas != 0 || st.ObservedGeneration != 1 {
		t.Errorf("status = %+v, want replicas 0, observedGeneration 1", st)
	}
}

// The informer has not shown the 3 new pods yet: a second sync must not
// create 3 more. Once they show up, the expectations are met.
func TestReplicaSetExpectationsPreventOverCreation(t *testing.T) {
	rs := newReplicaSet("web", 3, web)
	f, m := newRSManager(t, rs)
	ctx := context.Background()
	if err := m.syncHandler(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	// The fake records actions before naming the pods: read them back.
	list, err := f.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 3 {
		t.Fatalf("pods after the first sync: %v, %v; want 3", list, err)
	}
	f.client.ClearActions()
	if err := m.syncHandler(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(createdPods(f.writes())); n != 0 {
		t.Fatalf("second sync with a slow informer created %d pods, want 0", n)
	}
	if m.expectations.Satisfied("default/web") {
		t.Fatal("expectations satisfied before the informer showed the pods")
	}
	// The informer catches up.
	for i := range list.Items {
		f.load(&list.Items[i])
		m.addPod(&list.Items[i])
	}
	if !m.expectations.Satisfied("default/web") {
		t.Fatal("expectations not satisfied after the informer showed the 3 pods")
	}
	f.client.ClearActions()
	if err := m.syncHandler(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(createdPods(f.writes())); n != 0 {
		t.Errorf("created %d pods with 3 of 3 present, want 0", n)
	}
	if st := lastStatus(t, f); st.Replicas != 3 {
		t.Errorf("status.replicas = %d, want 3", st.Replicas)
	}
	// ...and after ExpectationsTimeout a lost event no longer blocks.
	m.expectations.ExpectCreations("default/web", 1)
	m.now = func() time.Time { return t0.Add(ExpectationsTimeout + time.Second) }
	m.expectations.now = m.now
	if !m.expectations.Satisfied("default/web") {
		t.Error("expectations still block after ExpectationsTimeout")
	}
}

func TestReplicaSetDeletesTheLeastUsefulPods(t *testing.T) {
	rs := newReplicaSet("web", 2, web)
	pods := []runtime.Object{
		newPod("old-ready", web, ownedBy(rs, "ReplicaSet", "apps/v1"), onNode("node1", "10.244.1.2"), ready(t0.Add(-time.Hour)), createdAt(t0.Add(-2*time.Hour))),
		newPod("new-ready", web, ownedBy(rs, "ReplicaSet", "apps/v1"), onNode("node2", "10.244.2.2"), ready(t0.Add(-time.Minute)), createdAt(t0.Add(-2*time.Minute))),
		newPod("not-ready", web, ownedBy(rs, "ReplicaSet", "apps/v1"), onNode("node2", "10.244.2.3")),
		newPod("unscheduled", web, ownedBy(rs, "ReplicaSet", "apps/v1")),
	}
	f, m := newRSManager(t, append(pods, rs)...)
	if err := m.syncHandler(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	if got, want := deletedNames(f.writes()), []string{"not-ready", "unscheduled"}; !slices.Equal(got, want) {
		t.Errorf("deleted %v, want %v", got, want)
	}
	// Two deletions are expected; the informer shows them going.
	if m.expectations.Satisfied("default/web") {
		t.Error("expectations satisfied before the deletions were seen")
	}
	for _, name := range []string{"not-ready", "unscheduled"} {
		m.deletePod(newPod(name, web, ownedBy(rs, "ReplicaSet", "apps/v1")))
	}
	if !m.expectations.Satisfied("default/web") {
		t.Error("expectations not satisfied after both deletions were seen")
	}
}

func TestPodsToDeleteRanking(t *testing.T) {
	rs := newReplicaSet("web", 0, web)
	own := ownedBy(rs, "ReplicaSet", "apps/v1")
	pods := []*corev1.Pod{
		newPod("running-old", web, own, onNode("node1", "a"), ready(t0.Add(-time.Hour)), createdAt(t0.Add(-3*time.Hour))),
		newPod("running-new", web, own, onNode("node1", "b"), ready(t0.Add(-time.Minute)), createdAt(t0.Add(-2*time.Hour))),
		newPod("alone-on-node2", web, own, onNode("node2", "c"), ready(t0.Add(-time.Minute)), createdAt(t0.Add(-2*time.Hour))),
		newPod("pending-on-node", web, own, func(p *corev1.Pod) { p.Spec.NodeName = "node3" }),
		newPod("unscheduled", web, own),
		newPod("cheap", web, own, onNode("node1", "d"), ready(t0.Add(-time.Hour)), func(p *corev1.Pod) {
			p.Annotations = map[string]string{PodDeletionCost: "-10"}
		}),
		newPod("running-not-ready", web, own, onNode("node3", "e")),
	}
	var got []string
	for _, p := range podsToDelete(pods, len(pods)-1) {
		got = append(got, p.Name)
	}
	// Unscheduled, then Pending, then not ready, then by deletion cost,
	// then doubled-up nodes first (node1 has 3 of the pods, node2 one),
	// newer ready first: the one kept is node2's.
	want := []string{"unscheduled", "pending-on-node", "running-not-ready", "cheap", "running-new", "running-old"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deletion order (-want +got):\n%s", diff)
	}
}

func TestReplicaSetAdoptsAndReleases(t *testing.T) {
	rs := newReplicaSet("web", 2, web)
	other := newReplicaSet("other", 1, map[string]string{"app": "other"})
	pods := []runtime.Object{
		newPod("orphan", web),
		newPod("relabelled", map[string]string{"app": "debug"}, ownedBy(rs, "ReplicaSet", "apps/v1")),
		newPod("someone-elses", web, ownedBy(other, "ReplicaSet", "apps/v1")),
	}
	f, m := newRSManager(t, append(pods, rs, other)...)
	if err := m.syncHandler(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	patches := map[string]string{}
	for _, a := range f.writes() {
		if p, ok := a.(core.PatchAction); ok {
			patches[p.GetName()] = string(p.GetPatch())
		}
	}
	if p := patches["orphan"]; !strings.Contains(p, `"controller":true`) || !strings.Contains(p, `"uid":"uid-web"`) {
		t.Errorf("orphan's patch = %s, want an adopting controller reference to web", p)
	}
	if p := patches["relabelled"]; !strings.Contains(p, `"$patch":"delete"`) {
		t.Errorf("relabelled's patch = %s, want its reference removed", p)
	}
	if _, ok := patches["someone-elses"]; ok {
		t.Error("touched a pod another ReplicaSet controls")
	}
	// Adopted: one of two, so one pod is created.
	if n := len(createdPods(f.writes())); n != 1 {
		t.Errorf("created %d pods after adopting one of 2, want 1", n)
	}
}

func TestReplicaSetDoesNotAdoptWhenBeingDeleted(t *testing.T) {
	rs := newReplicaSet("web", 2, web)
	now := metav1.NewTime(t0)
	rs.DeletionTimestamp = &now
	rs.Finalizers = []string{metav1.FinalizerOrphanDependents}
	f, m := newRSManager(t, rs, newPod("orphan", web))
	if err := m.syncHandler(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	for _, a := range f.writes() {
		if a.GetResource().Resource == "pods" {
			t.Errorf("a ReplicaSet being deleted wrote a pod: %v", describe([]core.Action{a}))
		}
	}
}

func TestCalculateStatus(t *testing.T) {
	rs := newReplicaSet("web", 3, web)
	rs.Generation = 4
	rs.Spec.MinReadySeconds = 10
	rs.Spec.Template.Labels = map[string]string{"app": "web", "tier": "front"}
	pods := []*corev1.Pod{
		newPod("a", map[string]string{"app": "web", "tier": "front"}, ready(t0.Add(-time.Minute))),   // available
		newPod("b", map[string]string{"app": "web", "tier": "front"}, ready(t0.Add(-5*time.Second))), // ready, not yet available
		newPod("c", web), // neither; not fully labelled
	}
	got := calculateStatus(rs, pods, nil, t0)
	want := appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 1, ObservedGeneration: 4}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	failed := calculateStatus(rs, pods[:1], errors.New("quota exceeded"), t0)
	if len(failed.Conditions) != 1 || failed.Conditions[0].Type != appsv1.ReplicaSetReplicaFailure || failed.Conditions[0].Reason != "FailedCreate" {
		t.Errorf("conditions after a failed create = %+v, want ReplicaFailure FailedCreate", failed.Conditions)
	}
	rs.Status = failed
	if again := calculateStatus(rs, pods, nil, t0); len(again.Conditions) != 0 {
		t.Errorf("conditions after a good sync = %+v, want none", again.Conditions)
	}
}

// A refused create is not expected forever: the next sync tries again.
func TestReplicaSetFailedCreates(t *testing.T) {
	rs := newReplicaSet("web", 4, web)
	f, m := newRSManager(t, rs)
	f.client.PrependReactor("create", "pods", func(core.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New(`pods "web-x" is forbidden: exceeded quota`)
	})
	err := m.syncHandler(context.Background(), "default/web")
	if err == nil {
		t.Fatal("sync succeeded with every create refused")
	}
	// Slow start: the first batch (one pod) failed, so no more were tried.
	if n := len(createdPods(f.client.Actions())); n != 1 {
		t.Errorf("tried %d creates, want 1 (slow start stops at the first failed batch)", n)
	}
	if !m.expectations.Satisfied("default/web") {
		t.Error("expectations still wait for pods that were never created")
	}
	if ev := f.events(); len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning FailedCreate") {
		t.Errorf("events = %q, want one FailedCreate", ev)
	}
	if st := lastStatus(t, f); len(st.Conditions) != 1 || st.Conditions[0].Reason != "FailedCreate" {
		t.Errorf("status conditions = %+v, want ReplicaFailure FailedCreate", st.Conditions)
	}
}

func TestReplicaSetGone(t *testing.T) {
	f, m := newRSManager(t)
	m.expectations.ExpectCreations("default/web", 2)
	if err := m.syncHandler(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	if len(f.writes()) != 0 {
		t.Errorf("writes for a deleted ReplicaSet: %v", describe(f.writes()))
	}
	if _, ok := m.expectations.byKey["default/web"]; ok {
		t.Error("expectations of a deleted ReplicaSet kept")
	}
}

func TestSlowStartBatch(t *testing.T) {
	var calls atomic.Int32
	n, err := slowStartBatch(10, 1, func() error { calls.Add(1); return nil })
	if n != 10 || err != nil || calls.Load() != 10 {
		t.Errorf("slowStartBatch(10) = %d, %v after %d calls; want 10, nil, 10", n, err, calls.Load())
	}
}

func TestClaim(t *testing.T) {
	rs := newReplicaSet("web", 1, web)
	sel := labels.SelectorFromSet(web)
	now := metav1.NewTime(t0)
	going := newPod("going", web, func(p *corev1.Pod) { p.DeletionTimestamp = &now })
	owned, adopt, release := claim(rs, sel, []*corev1.Pod{newPod("orphan", web), going})
	if len(owned) != 0 || len(adopt) != 1 || adopt[0].Name != "orphan" || len(release) != 0 {
		t.Errorf("claim = %v, %v, %v; want only the orphan adopted (not the pod being deleted)", owned, adopt, release)
	}
}

// lastStatus is the status of the last status write.
func lastStatus(t *testing.T, f *fixture) appsv1.ReplicaSetStatus {
	t.Helper()
	var st *appsv1.ReplicaSetStatus
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			switch o := a.(core.UpdateAction).GetObject().(type) {
			case *appsv1.ReplicaSet:
				st = &o.Status
			case *corev1.ReplicationController:
				s := replicaSetFromRC(o).Status
				st = &s
			}
		}
	}
	if st == nil {
		t.Fatalf("no status written; actions %v", describe(f.client.Actions()))
	}
	return *st
}
