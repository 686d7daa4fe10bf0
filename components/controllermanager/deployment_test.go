package controllermanager

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	core "k8s.io/client-go/testing"
)

// Reference: kubernetes/pkg/controller/deployment/{rolling,sync,progress,
// recreate}_test.go; the Kubernetes documentation, "Deployments" (rolling
// update, rollback, scaling, pausing, failed deployment).

// ---- builders ----

func newDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Generation: 1, ResourceVersion: "1"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
			},
			// The apiserver's defaults.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxSurge: ptr(intstr.FromString("25%")), MaxUnavailable: ptr(intstr.FromString("25%"))}},
			RevisionHistoryLimit:    ptr(int32(10)),
			ProgressDeadlineSeconds: ptr(int32(600)),
		},
	}
}

// rsOf is a ReplicaSet d made at revision rev for image, with replicas
// pods of which available are available, created at created.
func rsOf(d *appsv1.Deployment, image string, rev int, replicas, available int32, created time.Time) *appsv1.ReplicaSet {
	t := d.Spec.Template.DeepCopy()
	t.Spec.Containers[0].Image = image
	hash := deploymentTemplateHash(t, nil)
	rs := newReplicaSetFor(&appsv1.Deployment{ObjectMeta: d.ObjectMeta, Spec: appsv1.DeploymentSpec{
		Replicas: d.Spec.Replicas, Selector: d.Spec.Selector, Template: *t, Strategy: d.Spec.Strategy}}, hash, int64(rev), replicas)
	rs.UID = types.UID("uid-" + rs.Name)
	rs.ResourceVersion = "1"
	rs.Generation = 1
	rs.CreationTimestamp = metav1.NewTime(created)
	rs.Status = appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: available, AvailableReplicas: available, ObservedGeneration: 1}
	return rs
}

func newDeploymentFixture(t *testing.T, objects ...runtime.Object) (*fixture, *deploymentController) {
	t.Helper()
	f := newFixture(t, objects...)
	c, err := newDeploymentController(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	dc := c.(*deploymentController)
	dc.now = func() time.Time { return t0 }
	f.load(objects...)
	return f, dc
}

// settle plays the ReplicaSet controller and the kubelets, instantly:
// every ReplicaSet in the fake apiserver gets the pods it asks for, all
// available if available is set (else none of the new ones); the
// informers then show the apiserver's objects.
func settle(t *testing.T, f *fixture, available func(rs *appsv1.ReplicaSet) int32) {
	t.Helper()
	ctx := context.Background()
	list, err := f.client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		rs := &list.Items[i]
		rs.Status.Replicas = replicasOf(rs)
		rs.Status.AvailableReplicas = min(available(rs), replicasOf(rs))
		rs.Status.ReadyReplicas = rs.Status.AvailableReplicas
		rs.Status.ObservedGeneration = rs.Generation
		if _, err := f.client.AppsV1().ReplicaSets("default").UpdateStatus(ctx, rs, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		f.load(rs)
	}
	ds, err := f.client.AppsV1().Deployments("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range ds.Items {
		f.load(&ds.Items[i])
	}
}

func allAvailable(rs *appsv1.ReplicaSet) int32 { return replicasOf(rs) }

// replicaSetsNow is "name=replicas" of every ReplicaSet in the fake
// apiserver, by name.
func replicaSetsNow(t *testing.T, f *fixture) map[string]*appsv1.ReplicaSet {
	t.Helper()
	list, err := f.client.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*appsv1.ReplicaSet{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

func deploymentNow(t *testing.T, f *fixture, name string) *appsv1.Deployment {
	t.Helper()
	d, err := f.client.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func progressing(d *appsv1.Deployment) string {
	c := getDeploymentCondition(d.Status, appsv1.DeploymentProgressing)
	if c == nil {
		return "<none>"
	}
	return fmt.Sprintf("%s %s %s", c.Status, c.Reason, c.Message)
}

// ---- the pure part ----

// The pod-template-hash is a function of the template (and the collision
// count) only: a restarted controller, or another one, computes the same
// name for the same template.
func TestDeploymentTemplateHash(t *testing.T) {
	d := newDeployment("web", 3, "tinykube/demo:1.0")
	h1 := deploymentTemplateHash(&d.Spec.Template, nil)
	if h2 := deploymentTemplateHash(d.Spec.Template.DeepCopy(), nil); h1 != h2 {
		t.Errorf("hash of a copy = %q, want %q", h2, h1)
	}
	// Pinned: a change of the hash function renames every ReplicaSet of
	// every Deployment at the next controller upgrade (and starts a
	// rollout of each), so it must not change by accident.
	if want := "8594595b68"; h1 != want {
		t.Errorf("hash = %q, want %q", h1, want)
	}
	if !regexp.MustCompile(`^[bcdfghjklmnpqrstvwxz2456789]{1,10}$`).MatchString(h1) {
		t.Errorf("hash %q: want only consonants and digits (no words in names)", h1)
	}
	other := d.Spec.Template.DeepCopy()
	other.Spec.Containers[0].Image = "tinykube/demo:2.0"
	if h := deploymentTemplateHash(other, nil); h == h1 {
		t.Errorf("another image hashes the same: %q", h)
	}
	if h := deploymentTemplateHash(&d.Spec.Template, ptr(int32(1))); h == h1 {
		t.Errorf("collisionCount 1 hashes the same: %q", h)
	}
	// The label the hash adds is ignored when comparing templates.
	rs := rsOf(d, "tinykube/demo:1.0", 1, 3, 3, t0)
	if rs.Name != "web-"+h1 || rs.Spec.Template.Labels[podTemplateHashLabel] != h1 || rs.Spec.Selector.MatchLabels[podTemplateHashLabel] != h1 {
		t.Errorf("ReplicaSet %s, template labels %v, selector %v: want web-%s and the hash in both", rs.Name, rs.Spec.Template.Labels, rs.Spec.Selector.MatchLabels, h1)
	}
	if !equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
		t.Error("equalIgnoreHash(the ReplicaSet's template, the Deployment's) = false")
	}
}

func TestResolveFenceposts(t *testing.T) {
	for _, tc := range []struct {
		surge, unavailable intstr.IntOrString
		desired            int32
		wantSurge, wantUn  int32
	}{
		{intstr.FromString("25%"), intstr.FromString("25%"), 3, 1, 0}, // surge rounds up, unavailable down
		{intstr.FromString("25%"), intstr.FromString("25%"), 10, 3, 2},
		{intstr.FromString("25%"), intstr.FromString("25%"), 4, 1, 1},
		{intstr.FromInt32(0), intstr.FromInt32(0), 3, 0, 1}, // both 0 would never move
		{intstr.FromInt32(2), intstr.FromString("50%"), 5, 2, 2},
		{intstr.FromString("100%"), intstr.FromInt32(0), 2, 2, 0},
	} {
		s, u, err := resolveFenceposts(&tc.surge, &tc.unavailable, tc.desired)
		if err != nil || s != tc.wantSurge || u != tc.wantUn {
			t.Errorf("resolveFenceposts(%s, %s, %d) = %d, %d, %v; want %d, %d", tc.surge.String(), tc.unavailable.String(), tc.desired, s, u, err, tc.wantSurge, tc.wantUn)
		}
	}
	bad := intstr.FromString("lots")
	if _, _, err := resolveFenceposts(&bad, nil, 3); err == nil || !strings.Contains(err.Error(), "maxSurge") {
		t.Errorf("resolveFenceposts(\"lots\") error = %v, want one naming maxSurge", err)
	}
}

// simulateRolling runs rollingStep to the end on ReplicaSets whose new
// pods become available between steps if ready says so, and returns the
// steps taken.
func simulateRolling(t *testing.T, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, olds []*appsv1.ReplicaSet) []string {
	t.Helper()
	var steps []string
	for i := 0; i < 50; i++ {
		changes, err := rollingStep(d, newRS, olds)
		if err != nil {
			t.Fatal(err)
		}
		if len(changes) == 0 {
			return steps
		}
		var step []string
		for _, c := range changes {
			step = append(step, c.String())
			c.RS.Spec.Replicas = ptr(c.To)
		}
		steps = append(steps, strings.Join(step, ", "))
		// The pods come and go, and the new ones become available.
		for _, rs := range append([]*appsv1.ReplicaSet{newRS}, olds...) {
			rs.Status.Replicas = replicasOf(rs)
			rs.Status.AvailableReplicas = min(rs.Status.AvailableReplicas, replicasOf(rs))
			if rs == newRS {
				rs.Status.AvailableReplicas = replicasOf(rs)
			}
		}
	}
	t.Fatalf("no end after 50 steps: %q", steps)
	return nil
}

// The documentation's example: 3 replicas, maxSurge and maxUnavailable
// 25% (1 and 0 of 3): one new pod up, one old down, never fewer than 3
// available nor more than 4 pods.
func TestRollingStepSequence(t *testing.T) {
	d := newDeployment("web", 3, "tinykube/demo:2.0")
	old := rsOf(d, "tinykube/demo:1.0", 1, 3, 3, t0.Add(-time.Hour))
	old.Name = "old"
	newRS := rsOf(d, "tinykube/demo:2.0", 2, 0, 0, t0)
	newRS.Name = "new"
	got := simulateRolling(t, d, newRS, []*appsv1.ReplicaSet{old})
	want := []string{"new 0→1", "old 3→2", "new 1→2", "old 2→1", "new 2→3", "old 1→0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}

	// maxSurge 0, maxUnavailable 1: replace in place, one at a time.
	d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr(intstr.FromInt32(0)), MaxUnavailable: ptr(intstr.FromInt32(1))}
	old = rsOf(d, "tinykube/demo:1.0", 1, 3, 3, t0.Add(-time.Hour))
	old.Name = "old"
	newRS = rsOf(d, "tinykube/demo:2.0", 2, 0, 0, t0)
	newRS.Name = "new"
	got = simulateRolling(t, d, newRS, []*appsv1.ReplicaSet{old})
	want = []string{"old 3→2", "new 0→1", "old 2→1", "new 1→2", "old 1→0", "new 2→3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("maxSurge 0: steps (-want +got):\n%s", diff)
	}

	// Two old ReplicaSets (a rollout started during another): the
	// oldest goes first.
	d = newDeployment("web", 4, "tinykube/demo:3.0")
	d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr(intstr.FromInt32(0)), MaxUnavailable: ptr(intstr.FromInt32(2))}
	v1 := rsOf(d, "tinykube/demo:1.0", 1, 2, 2, t0.Add(-2*time.Hour))
	v1.Name = "v1"
	v2 := rsOf(d, "tinykube/demo:2.0", 2, 2, 2, t0.Add(-time.Hour))
	v2.Name = "v2"
	v3 := rsOf(d, "tinykube/demo:3.0", 3, 0, 0, t0)
	v3.Name = "v3"
	got = simulateRolling(t, d, v3, []*appsv1.ReplicaSet{v2, v1})
	want = []string{"v1 2→0", "v3 0→2", "v2 2→0", "v3 2→4"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("two old ReplicaSets: steps (-want +got):\n%s", diff)
	}
}

// A new image that never starts: the rollout stops after the surge, with
// every old pod still serving.
func TestRollingStepStopsWhenNewPodsNeverBecomeAvailable(t *testing.T) {
	d := newDeployment("web", 3, "tinykube/demo:broken")
	old := rsOf(d, "tinykube/demo:1.0", 1, 3, 3, t0.Add(-time.Hour))
	newRS := rsOf(d, "tinykube/demo:broken", 2, 1, 0, t0) // surged, not available
	changes, err := rollingStep(d, newRS, []*appsv1.ReplicaSet{old})
	if err != nil || len(changes) != 0 {
		t.Errorf("rollingStep = %v, %v; want no change while the new pod is not available", changes, err)
	}
}

// Old pods that are not available go first: they serve no one.
func TestRollingStepRemovesUnhealthyOldPodsFirst(t *testing.T) {
	d := newDeployment("web", 4, "tinykube/demo:2.0")
	d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr(intstr.FromInt32(0)), MaxUnavailable: ptr(intstr.FromInt32(1))}
	old := rsOf(d, "tinykube/demo:1.0", 1, 4, 2, t0.Add(-time.Hour)) // 2 of 4 crash-looping
	old.Name = "old"
	newRS := rsOf(d, "tinykube/demo:2.0", 2, 0, 0, t0)
	changes, err := rollingStep(d, newRS, []*appsv1.ReplicaSet{old})
	if err != nil || len(changes) != 1 || changes[0].String() != "old 4→3" {
		t.Errorf("rollingStep = %v, %v; want [old 4→3] (an unavailable pod, within maxUnavailable)", changes, err)
	}
}

// Scaling a Deployment in the middle of a rollout shares the new pods
// among its ReplicaSets in proportion. The documentation's example, at
// 10 → 20 with maxSurge 25%: 8 old and 5 new pods (13 = 10 + 3) become
// 15 and 10 (25 = 20 + 5).
func TestScaleStepProportional(t *testing.T) {
	d := newDeployment("web", 20, "tinykube/demo:2.0")
	old := rsOf(d, "tinykube/demo:1.0", 1, 8, 8, t0.Add(-time.Hour))
	old.Name = "old"
	newRS := rsOf(d, "tinykube/demo:2.0", 2, 5, 0, t0)
	newRS.Name = "new"
	for _, rs := range []*appsv1.ReplicaSet{old, newRS} {
		setReplicasAnnotations(rs, 10, 13)
	}
	if !isScalingEvent(d, []*appsv1.ReplicaSet{old, newRS}) {
		t.Fatal("isScalingEvent = false after spec.replicas 10 → 20")
	}
	var got []string
	for _, c := range scaleStep(d, newRS, []*appsv1.ReplicaSet{old}) {
		got = append(got, c.String())
	}
	if diff := cmp.Diff([]string{"old 8→15", "new 5→10"}, got); diff != "" {
		t.Errorf("scale 10 → 20 (-want +got):\n%s", diff)
	}

	// Down to 5 (max 5 + 2 = 7 of 13): old 8×7/13 ≈ 4, new 5×7/13 ≈ 3.
	d.Spec.Replicas = ptr(int32(5))
	got = nil
	for _, c := range scaleStep(d, newRS, []*appsv1.ReplicaSet{old}) {
		got = append(got, c.String())
	}
	if diff := cmp.Diff([]string{"old 8→4", "new 5→3"}, got); diff != "" {
		t.Errorf("scale 10 → 5 (-want +got):\n%s", diff)
	}

	// One active ReplicaSet takes the whole size.
	old.Spec.Replicas = ptr(int32(0))
	d.Spec.Replicas = ptr(int32(7))
	got = nil
	for _, c := range scaleStep(d, newRS, []*appsv1.ReplicaSet{old}) {
		got = append(got, c.String())
	}
	if diff := cmp.Diff([]string{"new 5→7"}, got); diff != "" {
		t.Errorf("one active ReplicaSet, scale to 7 (-want +got):\n%s", diff)
	}
}

func TestRecreateStep(t *testing.T) {
	d := newDeployment("web", 3, "tinykube/demo:2.0")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	old := rsOf(d, "tinykube/demo:1.0", 1, 3, 3, t0.Add(-time.Hour))
	old.Name = "old"

	// 1. Old ones down, no new one yet.
	changes, makeNew := recreateStep(d, nil, []*appsv1.ReplicaSet{old}, true)
	if len(changes) != 1 || changes[0].String() != "old 3→0" || makeNew {
		t.Errorf("step 1 = %v, makeNew %v; want [old 3→0], false", changes, makeNew)
	}
	// 2. Scaled to 0 but pods still terminating: wait.
	old.Spec.Replicas = ptr(int32(0))
	pods := map[types.UID][]*corev1.Pod{old.UID: {newPod("old-1", nil, func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning })}}
	if !oldPodsRunning(nil, []*appsv1.ReplicaSet{old}, pods) {
		t.Error("oldPodsRunning = false with a running old pod")
	}
	changes, makeNew = recreateStep(d, nil, []*appsv1.ReplicaSet{old}, true)
	if len(changes) != 0 || makeNew {
		t.Errorf("step 2 = %v, makeNew %v; want nothing while old pods run", changes, makeNew)
	}
	// 3. All gone (a finished pod does not count): make the new one.
	old.Status.Replicas = 0
	pods[old.UID][0].Status.Phase = corev1.PodSucceeded
	if oldPodsRunning(nil, []*appsv1.ReplicaSet{old}, pods) {
		t.Error("oldPodsRunning = true with only a finished pod")
	}
	if _, makeNew = recreateStep(d, nil, []*appsv1.ReplicaSet{old}, false); !makeNew {
		t.Error("step 3: makeNew = false with the old pods gone")
	}
	newRS := rsOf(d, "tinykube/demo:2.0", 2, 0, 0, t0)
	newRS.Name = "new"
	changes, _ = recreateStep(d, newRS, []*appsv1.ReplicaSet{old}, false)
	if len(changes) != 1 || changes[0].String() != "new 0→3" {
		t.Errorf("step 3 = %v, want [new 0→3]: all at once", changes)
	}
}

func TestRolloutStatusConditions(t *testing.T) {
	d := newDeployment("web", 3, "tinykube/demo:2.0")
	old := rsOf(d, "tinykube/demo:1.0", 1, 2, 2, t0.Add(-time.Hour))
	newRS := rsOf(d, "tinykube/demo:2.0", 2, 2, 1, t0.Add(-time.Minute))
	d.Status = appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, AvailableReplicas: 3, ReadyReplicas: 3, Conditions: []appsv1.DeploymentCondition{
		newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonNewReplicaSetCreated, "Created new replica set", t0.Add(-time.Minute)),
	}}

	// More updated pods than last time: progressing, lastUpdateTime now.
	st := rolloutStatus(d, []*appsv1.ReplicaSet{old, newRS}, newRS, t0)
	c := getDeploymentCondition(st, appsv1.DeploymentProgressing)
	wantMsg := fmt.Sprintf("ReplicaSet %q is progressing.", newRS.Name)
	if c.Reason != reasonReplicaSetUpdated || c.Message != wantMsg || !c.LastUpdateTime.Equal(&metav1.Time{Time: t0}) || !c.LastTransitionTime.Time.Equal(t0.Add(-time.Minute)) {
		t.Errorf("Progressing = %+v; want ReplicaSetUpdated %q, updated now, transitioned a minute ago", c, wantMsg)
	}
	if a := getDeploymentCondition(st, appsv1.DeploymentAvailable); a.Status != corev1.ConditionTrue || a.Reason != reasonMinimumReplicasAvailable || a.Message != "Deployment has minimum availability." {
		t.Errorf("Available = %+v, want True MinimumReplicasAvailable (3 of 3 - 0)", a)
	}
	if st.Replicas != 4 || st.UpdatedReplicas != 2 || st.AvailableReplicas != 3 || st.UnavailableReplicas != 1 {
		t.Errorf("status = %+v; want replicas 4, updated 2, available 3, unavailable 1", st)
	}

	// No progress for 10 minutes past the last update: timed out.
	d.Status = st
	st = rolloutStatus(d, []*appsv1.ReplicaSet{old, newRS}, newRS, t0.Add(601*time.Second))
	c = getDeploymentCondition(st, appsv1.DeploymentProgressing)
	if c.Status != corev1.ConditionFalse || c.Reason != reasonProgressDeadlineExceeded || c.Message != fmt.Sprintf("ReplicaSet %q has timed out progressing.", newRS.Name) {
		t.Errorf("after the deadline, Progressing = %+v; want False ProgressDeadlineExceeded", c)
	}
	if after := progressCheckAfter(d, d.Status, t0.Add(300*time.Second)); after != 301*time.Second {
		t.Errorf("progressCheckAfter halfway = %v, want 301s (the deadline, and a second)", after)
	}

	// Complete: every pod new and available.
	old.Spec.Replicas, old.Status = ptr(int32(0)), appsv1.ReplicaSetStatus{}
	newRS.Spec.Replicas, newRS.Status = ptr(int32(3)), appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}
	st = rolloutStatus(d, []*appsv1.ReplicaSet{old, newRS}, newRS, t0.Add(time.Hour))
	c = getDeploymentCondition(st, appsv1.DeploymentProgressing)
	if c.Status != corev1.ConditionTrue || c.Reason != reasonNewReplicaSetAvailable || c.Message != fmt.Sprintf("ReplicaSet %q has successfully progressed.", newRS.Name) {
		t.Errorf("complete: Progressing = %+v; want True NewReplicaSetAvailable", c)
	}
}

func TestAppendRevisionHistory(t *testing.T) {
	if got := appendRevisionHistory("", "1"); got != "1" {
		t.Errorf(`appendRevisionHistory("", "1") = %q`, got)
	}
	if got := appendRevisionHistory("1,3", "5"); got != "1,3,5" {
		t.Errorf(`appendRevisionHistory("1,3", "5") = %q`, got)
	}
	long := strings.Repeat("1234,", 400) + "9"
	if got := appendRevisionHistory(long, "10"); len(got) > deploymentRevisionHistoryChars || !strings.HasSuffix(got, ",9,10") {
		t.Errorf("history of %d chars: %d chars, ends %q; want at most %d, ending ,9,10", len(long), len(got), got[len(got)-6:], deploymentRevisionHistoryChars)
	}
}

// ---- syncHandler on a fake apiserver ----

// A new Deployment: one ReplicaSet, web-<hash>, with all the pods at once
// (nothing to replace), revision 1.
func TestDeploymentCreatesItsReplicaSet(t *testing.T) {
	d := newDeployment("web", 3, "tinykube/demo:1.0")
	d.Annotations = map[string]string{changeCauseAnnotation: "kubectl create --record"}
	f, dc := newDeploymentFixture(t, d)
	if err := dc.syncHandler(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	hash := deploymentTemplateHash(&d.Spec.Template, nil)
	rs := replicaSetsNow(t, f)["web-"+hash]
	if rs == nil {
		t.Fatalf("no ReplicaSet web-%s; actions %v", hash, describe(f.writes()))
	}
	if replicasOf(rs) != 3 || rs.Spec.Selector.MatchLabels[podTemplateHashLabel] != hash || rs.Spec.Template.Labels[podTemplateHashLabel] != hash || rs.Labels["app"] != "web" {
		t.Errorf("ReplicaSet spec %+v labels %v: want 3 replicas, the hash in selector and template", rs.Spec, rs.Labels)
	}
	wantAnn := map[string]string{revisionAnnotation: "1", desiredReplicasAnnotation: "3", maxReplicasAnnotation: "4", changeCauseAnnotation: "kubectl create --record"}
	if diff := cmp.Diff(wantAnn, rs.Annotations); diff != "" {
		t.Errorf("ReplicaSet annotations (-want +got):\n%s", diff)
	}
	if !metav1.IsControlledBy(rs, d) {
		t.Errorf("ownerReferences = %+v, want the Deployment as controller", rs.OwnerReferences)
	}
	if got := f.events(); !slices.Contains(got, "Normal ScalingReplicaSet Scaled up replica set web-"+hash+" from 0 to 3") {
		t.Errorf("events = %q; want Scaled up replica set web-%s from 0 to 3", got, hash)
	}
	got := deploymentNow(t, f, "web")
	if got.Annotations[revisionAnnotation] != "1" {
		t.Errorf("Deployment revision = %q, want 1", got.Annotations[revisionAnnotation])
	}
	if p := progressing(got); p != fmt.Sprintf("True NewReplicaSetCreated Created new replica set %q", "web-"+hash) {
		t.Errorf("Progressing = %s", p)
	}
	if a := getDeploymentCondition(got.Status, appsv1.DeploymentAvailable); a == nil || a.Reason != reasonMinimumReplicasUnavailable {
		t.Errorf("Available = %+v, want False MinimumReplicasUnavailable (no pod yet)", a)
	}
}

// run syncs the Deployment until it makes no more writes, settling the
// ReplicaSets between syncs, and returns the events.
func run(t *testing.T, f *fixture, dc *deploymentController, available func(*appsv1.ReplicaSet) int32) []string {
	t.Helper()
	var events []string
	for i := 0; i < 30; i++ {
		f.client.ClearActions()
		if err := dc.syncHandler(context.Background(), "default/web"); err != nil {
			t.Fatal(err)
		}
		events = append(events, f.events()...)
		writes := f.writes()
		settle(t, f, available)
		if len(writes) == 0 {
			return events
		}
	}
	t.Fatalf("still writing after 30 syncs; events %q", events)
	return nil
}

// A rolling update from start to end, through syncHandler: the events are
// the ones `kubectl describe deployment` shows, and the status ends as
// `kubectl rollout status` wants it.
func TestDeploymentRollingUpdate(t *testing.T) {
	d := newDeployment("web", 3, "tinykube/demo:1.0")
	f, dc := newDeploymentFixture(t, d)
	run(t, f, dc, allAvailable)
	v1 := "web-" + deploymentTemplateHash(&d.Spec.Template, nil)

	// kubectl set image: a new template, a new generation.
	d = deploymentNow(t, f, "web")
	d.Spec.Template.Spec.Containers[0].Image = "tinykube/demo:2.0"
	d.Generation++
	if _, err := f.client.AppsV1().Deployments("default").Update(context.Background(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.load(d)
	v2 := "web-" + deploymentTemplateHash(&d.Spec.Template, nil)
	events := run(t, f, dc, allAvailable)
	want := []string{
		"Normal ScalingReplicaSet Scaled up replica set " + v2 + " from 0 to 1",
		"Normal ScalingReplicaSet Scaled down replica set " + v1 + " from 3 to 2",
		"Normal ScalingReplicaSet Scaled up replica set " + v2 + " from 1 to 2",
		"Normal ScalingReplicaSet Scaled down replica set " + v1 + " from 2 to 1",
		"Normal ScalingReplicaSet Scaled up replica set " + v2 + " from 2 to 3",
		"Normal ScalingReplicaSet Scaled down replica set " + v1 + " from 1 to 0",
	}
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	rss := replicaSetsNow(t, f)
	if replicasOf(rss[v1]) != 0 || replicasOf(rss[v2]) != 3 || rss[v2].Annotations[revisionAnnotation] != "2" {
		t.Errorf("%s: %d replicas; %s: %d replicas, revision %s; want 0 and 3, revision 2", v1, replicasOf(rss[v1]), v2, replicasOf(rss[v2]), rss[v2].Annotations[revisionAnnotation])
	}
	got := deploymentNow(t, f, "web")
	st := got.Status
	if st.ObservedGeneration != 2 || st.Replicas != 3 || st.UpdatedReplicas != 3 || st.AvailableReplicas != 3 || st.UnavailableReplicas != 0 || got.Annotations[revisionAnnotation] != "2" {
		t.Errorf("status %+v, revision %s; want generation 2 observed, 3/3/3, revision 2", st, got.Annotations[revisionAnnotation])
	}
	if p := progressing(got); p != fmt.Sprintf("True NewReplicaSetAvailable ReplicaSet %q has successfully progressed.", v2) {
		t.Errorf("Progressing = %s", p)
	}

	// kubectl rollout undo: the template of revision 1 again. Its
	// ReplicaSet comes back as revision 3, its old number kept in
	// revision-history, and takes the pods back.
	d = deploymentNow(t, f, "web")
	d.Spec.Template.Spec.Containers[0].Image = "tinykube/demo:1.0"
	d.Generation++
	if _, err := f.client.AppsV1().Deployments("default").Update(context.Background(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.load(d)
	run(t, f, dc, allAvailable)
	rss = replicaSetsNow(t, f)
	if len(rss) != 2 {
		t.Errorf("ReplicaSets %v, want the two (an undo makes no new one)", slices.Collect(mapsKeys(rss)))
	}
	if a := rss[v1].Annotations; replicasOf(rss[v1]) != 3 || replicasOf(rss[v2]) != 0 || a[revisionAnnotation] != "3" || a[revisionHistoryAnnotation] != "1" {
		t.Errorf("after undo: %s %d replicas, annotations %v; %s %d replicas; want 3, revision 3, history 1; 0", v1, replicasOf(rss[v1]), a, v2, replicasOf(rss[v2]))
	}
	if got := deploymentNow(t, f, "web"); got.Annotations[revisionAnnotation] != "3" {
		t.Errorf("Deployment revision after undo = %q, want 3", got.Annotations[revisionAnnotation])
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// A paused Deployment does not roll out a new template, but is scaled;
// its Progressing condition says DeploymentPaused, then DeploymentResumed.
func TestDeploymentPaused(t *testing.T) {
	d := newDeployment("web", 3, "tinykube/demo:1.0")
	f, dc := newDeploymentFixture(t, d)
	run(t, f, dc, allAvailable)
	v1 := "web-" + deploymentTemplateHash(&d.Spec.Template, nil)

	d = deploymentNow(t, f, "web")
	d.Spec.Paused = true
	d.Spec.Template.Spec.Containers[0].Image = "tinykube/demo:2.0"
	d.Spec.Replicas = ptr(int32(5))
	d.Generation++
	if _, err := f.client.AppsV1().Deployments("default").Update(context.Background(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.load(d)
	events := run(t, f, dc, allAvailable)
	rss := replicaSetsNow(t, f)
	if len(rss) != 1 || replicasOf(rss[v1]) != 5 {
		t.Errorf("paused: ReplicaSets %v, %s at %d; want only %s, scaled to 5", slices.Collect(mapsKeys(rss)), v1, replicasOf(rss[v1]), v1)
	}
	if diff := cmp.Diff([]string{"Normal ScalingReplicaSet Scaled up replica set " + v1 + " from 3 to 5"}, events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if p := progressing(deploymentNow(t, f, "web")); p != "Unknown DeploymentPaused Deployment is paused" {
		t.Errorf("Progressing = %s, want Unknown DeploymentPaused", p)
	}

	d = deploymentNow(t, f, "web")
	d.Spec.Paused = false
	d.Generation++
	if _, err := f.client.AppsV1().Deployments("default").Update(context.Background(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.load(d)
	f.client.ClearActions()
	if err := dc.syncHandler(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	// The first status written says so; the same sync then starts the
	// rollout (NewReplicaSetCreated).
	var first *appsv1.Deployment
	for _, a := range f.writes() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			first = a.(core.UpdateAction).GetObject().(*appsv1.Deployment)
			break
		}
	}
	if first == nil || progressing(first) != "Unknown DeploymentResumed Deployment is resumed" {
		t.Errorf("after resume, first status write = %v, want Progressing Unknown DeploymentResumed", first)
	}
	settle(t, f, allAvailable)
	run(t, f, dc, allAvailable)
	v2 := "web-" + deploymentTemplateHash(&d.Spec.Template, nil)
	if rss := replicaSetsNow(t, f); replicasOf(rss[v2]) != 5 || replicasOf(rss[v1]) != 0 {
		t.Errorf("resumed: %s at %d, %s at %d; want the rollout done, 5 and 0", v2, replicasOf(rss[v2]), v1, replicasOf(rss[v1]))
	}
}

// Recreate: the old ReplicaSet goes to 0, and the new one is made only
// when the old pods are gone.
func TestDeploymentRecreate(t *testing.T) {
	d := newDeployment("web", 3, "tinykube/demo:2.0")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	old := rsOf(d, "tinykube/demo:1.0", 1, 3, 3, t0.Add(-time.Hour))
	pod := newPod("old-pod", old.Spec.Template.Labels, ownedBy(old, "ReplicaSet", "apps/v1"), onNode("node1", "10.244.1.2"))
	f, dc := newDeploymentFixture(t, d, old, pod)
	ctx := context.Background()
	if err := dc.syncHandler(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	rss := replicaSetsNow(t, f)
	if len(rss) != 1 || replicasOf(rss[old.Name]) != 0 {
		t.Fatalf("first sync: ReplicaSets %v, old at %d; want only the old one, at 0", slices.Collect(mapsKeys(rss)), replicasOf(rss[old.Name]))
	}
	// The ReplicaSet controller saw 0 but the pod is still terminating.
	settle(t, f, allAvailable)
	if err := dc.syncHandler(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(replicaSetsNow(t, f)); n != 1 {
		t.Fatalf("a new ReplicaSet while an old pod runs: %d ReplicaSets", n)
	}
	// The pod is gone.
	if err := f.factory.Core().V1().Pods().Informer().GetIndexer().Delete(pod); err != nil {
		t.Fatal(err)
	}
	if err := dc.syncHandler(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	v2 := "web-" + deploymentTemplateHash(&d.Spec.Template, nil)
	if rs := replicaSetsNow(t, f)[v2]; rs == nil || replicasOf(rs) != 3 {
		t.Errorf("new ReplicaSet %s = %v; want it made with all 3 replicas at once", v2, rs)
	}
}

// progressDeadlineSeconds: a rollout whose new pods never become
// available is reported as failed.
func TestDeploymentProgressDeadline(t *testing.T) {
	d := newDeployment("web", 3, "tinykube/demo:1.0")
	d.Spec.ProgressDeadlineSeconds = ptr(int32(30))
	f, dc := newDeploymentFixture(t, d)
	run(t, f, dc, allAvailable)
	d = deploymentNow(t, f, "web")
	d.Spec.Template.Spec.Containers[0].Image = "tinykube/demo:broken"
	d.Generation++
	if _, err := f.client.AppsV1().Deployments("default").Update(context.Background(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.load(d)
	v2 := "web-" + deploymentTemplateHash(&d.Spec.Template, nil)
	broken := func(rs *appsv1.ReplicaSet) int32 {
		if rs.Name == v2 {
			return 0
		}
		return replicasOf(rs)
	}
	run(t, f, dc, broken)
	if p := progressing(deploymentNow(t, f, "web")); !strings.HasPrefix(p, "True ") {
		t.Fatalf("before the deadline, Progressing = %s", p)
	}
	dc.now = func() time.Time { return t0.Add(31 * time.Second) }
	run(t, f, dc, broken)
	want := fmt.Sprintf("False ProgressDeadlineExceeded ReplicaSet %q has timed out progressing.", v2)
	if p := progressing(deploymentNow(t, f, "web")); p != want {
		t.Errorf("after the deadline, Progressing = %s, want %s", p, want)
	}
}

// revisionHistoryLimit: old ReplicaSets beyond it, scaled to 0, are
// deleted, lowest revision first.
func TestDeploymentCleansUpOldReplicaSets(t *testing.T) {
	d := newDeployment("web", 2, "tinykube/demo:4.0")
	d.Spec.RevisionHistoryLimit = ptr(int32(1))
	objs := []runtime.Object{d}
	for i, img := range []string{"1.0", "2.0", "3.0"} {
		objs = append(objs, rsOf(d, "tinykube/demo:"+img, i+1, 0, 0, t0.Add(time.Duration(i-5)*time.Hour)))
	}
	current := rsOf(d, "tinykube/demo:4.0", 4, 2, 2, t0.Add(-time.Hour))
	objs = append(objs, current)
	d.Annotations = map[string]string{revisionAnnotation: "4"}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2, ReadyReplicas: 2}
	f, dc := newDeploymentFixture(t, objs...)
	if err := dc.syncHandler(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, a := range f.writes() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "replicasets" {
			deleted = append(deleted, a.(core.DeleteAction).GetName())
		}
	}
	want := []string{objs[1].(*appsv1.ReplicaSet).Name, objs[2].(*appsv1.ReplicaSet).Name}
	if diff := cmp.Diff(want, deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
}

// An orphan ReplicaSet the selector matches is adopted (and, running the
// current template, becomes the new ReplicaSet: nothing is made).
func TestDeploymentAdoptsOrphanReplicaSet(t *testing.T) {
	d := newDeployment("web", 3, "tinykube/demo:1.0")
	rs := rsOf(d, "tinykube/demo:1.0", 1, 3, 3, t0.Add(-time.Hour))
	rs.OwnerReferences = nil
	f, dc := newDeploymentFixture(t, d, rs)
	if err := dc.syncHandler(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	got := replicaSetsNow(t, f)
	if len(got) != 1 || !metav1.IsControlledBy(got[rs.Name], d) {
		t.Errorf("ReplicaSets %v, owner of %s %+v; want it adopted, no other made", slices.Collect(mapsKeys(got)), rs.Name, got[rs.Name].OwnerReferences)
	}
}
