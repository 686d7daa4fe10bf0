package controllermanager

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	core "k8s.io/client-go/testing"
)

// Reference: kubernetes/pkg/controller/statefulset/stateful_set_control_test.go;
// https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/
// ("Deployment and Scaling Guarantees", "Rolling Updates").

func newStatefulSet(name string, replicas int32, opts ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	zero, ten := int32(0), int32(10)
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Generation: 1, ResourceVersion: "1"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: web},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: web},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "tinykube/demo:1.0"}}},
			},
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &zero}},
			RevisionHistoryLimit: &ten,
		},
	}
	for _, o := range opts {
		o(set)
	}
	return set
}

func ssParallel(set *appsv1.StatefulSet) { set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }

// revA and revB are two revisions of a set's template.
func ssRevisionsAB(set *appsv1.StatefulSet) (a, b revisionAt) {
	ta := set.Spec.Template.DeepCopy()
	tb := set.Spec.Template.DeepCopy()
	tb.Spec.Containers[0].Image = "tinykube/demo:latest"
	return revisionAt{set.Name + "-a", ta}, revisionAt{set.Name + "-b", tb}
}

// ssPod is the pod of ordinal at rev, Running and Ready unless opts say
// otherwise.
func ssPod(set *appsv1.StatefulSet, rev revisionAt, ordinal int, opts ...func(*corev1.Pod)) *corev1.Pod {
	p := newStatefulSetPod(set, rev, ordinal)
	p.UID = types.UID("uid-" + p.Name)
	p.ResourceVersion = "1"
	p.Status.Phase = corev1.PodRunning
	ready(t0.Add(-time.Hour))(p)
	for _, o := range opts {
		o(p)
	}
	return p
}

func ssNotReady(p *corev1.Pod) { p.Status.Conditions = nil }
func ssPending(p *corev1.Pod)  { p.Status = corev1.PodStatus{Phase: corev1.PodPending} }
func ssFailed(p *corev1.Pod)   { p.Status.Phase = corev1.PodFailed; p.Status.Conditions = nil }
func ssTerminating(p *corev1.Pod) {
	now := metav1.NewTime(t0)
	p.DeletionTimestamp = &now
}

func ssSteps(plan []statefulSetAction) []string {
	var out []string
	for _, a := range plan {
		out = append(out, a.String())
	}
	return out
}

func TestStatefulSetPlan(t *testing.T) {
	set := newStatefulSet("web", 3)
	a, _ := ssRevisionsAB(set)
	for _, tc := range []struct {
		name string
		set  *appsv1.StatefulSet
		pods []*corev1.Pod
		want []string
	}{
		// OrderedReady: one at a time, each after the one before is Running and Ready.
		{"none yet", set, nil, []string{"create web-0"}},
		{"web-0 ssPending", set, []*corev1.Pod{ssPod(set, a, 0, ssPending)}, nil},
		{"web-0 running, not ready", set, []*corev1.Pod{ssPod(set, a, 0, ssNotReady)}, nil},
		{"web-0 ready", set, []*corev1.Pod{ssPod(set, a, 0)}, []string{"create web-1"}},
		{"all ready", set, []*corev1.Pod{ssPod(set, a, 0), ssPod(set, a, 1), ssPod(set, a, 2)}, nil},
		// A deleted pod comes back with its name; a ssFailed one is deleted first.
		{"web-1 gone", set, []*corev1.Pod{ssPod(set, a, 0), ssPod(set, a, 2)}, []string{"create web-1"}},
		{"web-1 ssFailed", set, []*corev1.Pod{ssPod(set, a, 0), ssPod(set, a, 1, ssFailed), ssPod(set, a, 2)}, []string{"delete web-1"}},
		{"web-1 still ssTerminating", set, []*corev1.Pod{ssPod(set, a, 0), ssPod(set, a, 1, ssTerminating), ssPod(set, a, 2)}, nil},
		// Scale down: highest first, one at a time, each once the last is gone.
		{"scale 3 to 1", newStatefulSet("web", 1), []*corev1.Pod{ssPod(set, a, 0), ssPod(set, a, 1), ssPod(set, a, 2)}, []string{"delete web-2"}},
		{"scale 3 to 1, web-2 going", newStatefulSet("web", 1), []*corev1.Pod{ssPod(set, a, 0), ssPod(set, a, 1), ssPod(set, a, 2, ssTerminating)}, nil},
		{"scale down waits for web-0", newStatefulSet("web", 1), []*corev1.Pod{ssPod(set, a, 0, ssNotReady), ssPod(set, a, 1)}, nil},
		// Parallel: all at once.
		{"ssParallel, none yet", newStatefulSet("web", 3, ssParallel), nil, []string{"create web-0", "create web-1", "create web-2"}},
		{"ssParallel, scale 3 to 1", newStatefulSet("web", 1, ssParallel), []*corev1.Pod{ssPod(set, a, 0, ssPending), ssPod(set, a, 1), ssPod(set, a, 2)}, []string{"delete web-2", "delete web-1"}},
		// A pod whose identity label was removed gets it back.
		{"relabel", set, []*corev1.Pod{ssPod(set, a, 0, func(p *corev1.Pod) { delete(p.Labels, appsv1.StatefulSetPodNameLabel) })}, []string{"relabel web-0", "create web-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ssSteps(statefulSetPlan(tc.set, a, a, tc.pods, t0))
			if !slices.Equal(got, tc.want) {
				t.Errorf("plan = %q, want %q", got, tc.want)
			}
		})
	}
}

// A new pod: stable name, hostname and subdomain for DNS, identity labels.
func TestNewStatefulSetPod(t *testing.T) {
	set := newStatefulSet("web", 3)
	a, _ := ssRevisionsAB(set)
	pod := statefulSetPlan(set, a, a, nil, t0)[0].Pod
	if pod.Name != "web-0" || pod.GenerateName != "" || pod.Spec.Hostname != "web-0" || pod.Spec.Subdomain != "web" {
		t.Errorf("pod name %q generateName %q hostname %q subdomain %q, want web-0, none, web-0, web", pod.Name, pod.GenerateName, pod.Spec.Hostname, pod.Spec.Subdomain)
	}
	want := map[string]string{"app": "web", appsv1.StatefulSetPodNameLabel: "web-0", appsv1.PodIndexLabel: "0", appsv1.ControllerRevisionHashLabelKey: "web-a"}
	for k, v := range want {
		if pod.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, pod.Labels[k], v)
		}
	}
	if ref := metav1.GetControllerOf(pod); ref == nil || ref.Kind != "StatefulSet" || ref.UID != set.UID {
		t.Errorf("owner = %+v, want the StatefulSet", pod.OwnerReferences)
	}
	for _, tc := range []struct {
		name   string
		parent string
		ord    int
	}{{"web-0", "web", 0}, {"my-web-12", "my-web", 12}, {"web-01", "", -1}, {"web-x", "", -1}, {"web", "", -1}, {"web--1", "web-", 1}} {
		if p, o := statefulSetParentAndOrdinal(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.name}}); p != tc.parent || o != tc.ord {
			t.Errorf("statefulSetParentAndOrdinal(%q) = (%q, %d), want (%q, %d)", tc.name, p, o, tc.parent, tc.ord)
		}
	}
}

// RollingUpdate replaces pods from the highest ordinal down, one at a
// time, each once the one above is back healthy; not below the partition.
func TestStatefulSetRollingUpdatePlan(t *testing.T) {
	set := newStatefulSet("web", 3)
	a, b := ssRevisionsAB(set)
	plan := func(set *appsv1.StatefulSet, pods ...*corev1.Pod) []string {
		return ssSteps(statefulSetPlan(set, a, b, pods, t0))
	}

	if got := plan(set, ssPod(set, a, 0), ssPod(set, a, 1), ssPod(set, a, 2)); !slices.Equal(got, []string{"delete web-2"}) {
		t.Errorf("start: plan %q, want [delete web-2]", got)
	}
	// web-2 deleted: it is made again at revision b.
	got := statefulSetPlan(set, a, b, []*corev1.Pod{ssPod(set, a, 0), ssPod(set, a, 1)}, t0)
	if len(got) != 1 || got[0].Pod.Name != "web-2" || got[0].Pod.Labels[appsv1.ControllerRevisionHashLabelKey] != "web-b" || got[0].Pod.Spec.Containers[0].Image != "tinykube/demo:latest" {
		t.Errorf("web-2 gone: plan %v, want web-2 made at revision web-b", ssSteps(got))
	}
	if got := plan(set, ssPod(set, a, 0), ssPod(set, a, 1), ssPod(set, b, 2, ssNotReady)); got != nil {
		t.Errorf("new web-2 not ready: plan %q, want to wait", got)
	}
	if got := plan(set, ssPod(set, a, 0), ssPod(set, a, 1), ssPod(set, b, 2)); !slices.Equal(got, []string{"delete web-1"}) {
		t.Errorf("web-2 updated: plan %q, want [delete web-1]", got)
	}
	// Partition 2: only web-2 moves; a missing web-0 comes back at the current revision.
	two := int32(2)
	partitioned := newStatefulSet("web", 3, func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = &two })
	if got := plan(partitioned, ssPod(set, a, 0), ssPod(set, a, 1), ssPod(set, b, 2)); got != nil {
		t.Errorf("partition 2, web-2 updated: plan %q, want nothing", got)
	}
	got = statefulSetPlan(partitioned, a, b, []*corev1.Pod{ssPod(set, a, 1), ssPod(set, b, 2)}, t0)
	if len(got) != 1 || got[0].Pod.Name != "web-0" || got[0].Pod.Labels[appsv1.ControllerRevisionHashLabelKey] != "web-a" {
		t.Errorf("partition 2, web-0 gone: plan %v, want web-0 at revision web-a", ssSteps(got))
	}
	// OnDelete: never deletes for an update.
	onDelete := newStatefulSet("web", 3, func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	})
	if got := plan(onDelete, ssPod(set, a, 0), ssPod(set, a, 1), ssPod(set, a, 2)); got != nil {
		t.Errorf("OnDelete: plan %q, want nothing", got)
	}
}

func TestStatefulSetStatus(t *testing.T) {
	set := newStatefulSet("web", 3)
	a, b := ssRevisionsAB(set)
	pods := []*corev1.Pod{ssPod(set, a, 0), ssPod(set, a, 1), ssPod(set, b, 2, ssNotReady)}
	st := statefulSetStatus(set, pods, a.Name, b.Name, 0, t0)
	if st.Replicas != 3 || st.ReadyReplicas != 2 || st.AvailableReplicas != 2 || st.CurrentReplicas != 2 || st.UpdatedReplicas != 1 ||
		st.CurrentRevision != "web-a" || st.UpdateRevision != "web-b" || st.ObservedGeneration != 1 {
		t.Errorf("mid-rollout status = %+v", st)
	}
	// Every pod updated and ready: the update revision becomes current.
	pods = []*corev1.Pod{ssPod(set, b, 0), ssPod(set, b, 1), ssPod(set, b, 2)}
	st = statefulSetStatus(set, pods, a.Name, b.Name, 0, t0)
	if st.CurrentRevision != "web-b" || st.CurrentReplicas != 3 || st.UpdatedReplicas != 3 {
		t.Errorf("finished rollout status = %+v, want currentRevision web-b, 3 current", st)
	}
}

func newSSController(t *testing.T, objects ...runtime.Object) (*fixture, *statefulSetController) {
	t.Helper()
	f := newFixture(t, objects...)
	c, err := newStatefulSetController(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := c.(*statefulSetController)
	s.now = func() time.Time { return t0 }
	f.load(objects...)
	return f, s
}

func TestStatefulSetSyncCreatesFirstPod(t *testing.T) {
	set := newStatefulSet("web", 3, func(s *appsv1.StatefulSet) {
		s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}
	})
	f, s := newSSController(t, set)
	ctx := context.Background()
	if err := s.syncHandler(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	var cr *appsv1.ControllerRevision
	var status *appsv1.StatefulSetStatus
	for _, a := range f.writes() {
		switch {
		case a.GetVerb() == "create" && a.GetResource().Resource == "controllerrevisions":
			cr = a.(core.CreateAction).GetObject().(*appsv1.ControllerRevision)
		case a.GetVerb() == "update" && a.GetSubresource() == "status":
			status = &a.(core.UpdateAction).GetObject().(*appsv1.StatefulSet).Status
		}
	}
	if cr == nil || cr.Revision != 1 || cr.Labels[appsv1.ControllerRevisionHashLabelKey] == "" || cr.Name != "web-"+cr.Labels[appsv1.ControllerRevisionHashLabelKey] {
		t.Fatalf("revision = %+v, want web-<hash>, revision 1", cr)
	}
	pods := createdPods(f.writes())
	if len(pods) != 1 || pods[0].Name != "web-0" || pods[0].Labels[appsv1.ControllerRevisionHashLabelKey] != cr.Name {
		t.Fatalf("created %v, want web-0 at revision %s", pods, cr.Name)
	}
	if !slices.ContainsFunc(pods[0].Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "data" && v.EmptyDir != nil }) {
		t.Errorf("volumes = %+v, want an emptyDir \"data\" in place of the claim", pods[0].Spec.Volumes)
	}
	if status == nil || status.CurrentRevision != cr.Name || status.UpdateRevision != cr.Name || status.ObservedGeneration != 1 {
		t.Errorf("status = %+v, want both revisions %s", status, cr.Name)
	}
	events := f.events()
	if !slices.Contains(events, "Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful") ||
		!slices.ContainsFunc(events, func(e string) bool {
			return len(e) > 0 && e[:len("Warning VolumeClaimsNotSupported")] == "Warning VolumeClaimsNotSupported"
		}) {
		t.Errorf("events = %q, want SuccessfulCreate and VolumeClaimsNotSupported", events)
	}
	// The warning is given once per set.
	if err := s.syncHandler(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(f.events(), func(e string) bool { return strings.HasPrefix(e, "Warning ") }) {
		t.Error("VolumeClaimsNotSupported given twice")
	}
}

// A template change makes a new revision and starts the rollout at the
// highest ordinal; the pods' revision is the revision's name.
func TestStatefulSetSyncRollingUpdate(t *testing.T) {
	set := newStatefulSet("web", 2)
	patch, _ := controllerRevisionPatch(set)
	hash := controllerRevisionHash(patch, nil)
	yes := true
	old := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: "web-" + hash, Namespace: "default", ResourceVersion: "1",
			Labels:          cloneWithLabel(web, appsv1.ControllerRevisionHashLabelKey, hash),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: set.UID, Controller: &yes}}},
		Data: runtime.RawExtension{Raw: patch}, Revision: 1,
	}
	tmpl, _ := controllerRevisionTemplate(old)
	rev := revisionAt{old.Name, tmpl}
	pods := []runtime.Object{ssPod(set, rev, 0), ssPod(set, rev, 1)}
	set.Status.CurrentRevision = old.Name
	set.Generation = 2
	set.Spec.Template.Spec.Containers[0].Image = "tinykube/demo:latest"
	f, s := newSSController(t, append(pods, set, old)...)
	if err := s.syncHandler(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	if got := deletedNames(f.writes()); !slices.Equal(got, []string{"web-1"}) {
		t.Errorf("deleted %v, want [web-1]; actions %v", got, describe(f.writes()))
	}
	for _, a := range f.writes() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			st := a.(core.UpdateAction).GetObject().(*appsv1.StatefulSet).Status
			if st.CurrentRevision != old.Name || st.UpdateRevision == old.Name || st.UpdatedReplicas != 0 || st.CurrentReplicas != 2 {
				t.Errorf("status = %+v, want current %s, a new update revision", st, old.Name)
			}
		}
	}
}
