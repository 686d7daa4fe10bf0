package controllermanager

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

// Reference: "Garbage Collection" and "Use Cascading Deletion" in the
// Kubernetes docs: background, foreground and orphan propagation,
// blockOwnerDeletion.

var (
	podsGVR = corev1.SchemeGroupVersion.WithResource("pods")
	rcsGVR  = corev1.SchemeGroupVersion.WithResource("replicationcontrollers")
)

// gcFixture is a collector over indexers loaded with cached objects and a
// fake dynamic client holding the apiserver's objects.
type gcFixture struct {
	t      *testing.T
	gc     *garbageCollector
	client *dynamicfake.FakeDynamicClient
}

// newGCFixture: cached are in the informers' caches; live are in the
// apiserver only (the cache is behind).
func newGCFixture(t *testing.T, cached []runtime.Object, live ...runtime.Object) *gcFixture {
	client := dynamicfake.NewSimpleDynamicClient(clientgoscheme.Scheme, append(slices.Clone(cached), live...)...)
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(corev1.SchemeGroupVersion.WithKind("Pod"), meta.RESTScopeNamespace)
	mapper.Add(corev1.SchemeGroupVersion.WithKind("ReplicationController"), meta.RESTScopeNamespace)
	gc := newGC(client, mapper)
	for _, gvr := range []schema.GroupVersionResource{podsGVR, rcsGVR} {
		gc.sources[gvr] = gcSource{
			indexer: cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{ownerUIDIndex: indexByOwnerUID}),
			synced:  func() bool { return true },
		}
	}
	f := &gcFixture{t: t, gc: gc, client: client}
	for _, obj := range cached {
		f.cache(obj)
	}
	return f
}

func (f *gcFixture) cache(obj runtime.Object) {
	gvr := podsGVR
	if _, ok := obj.(*corev1.ReplicationController); ok {
		gvr = rcsGVR
	}
	if err := f.gc.sources[gvr].indexer.Add(obj); err != nil {
		f.t.Fatal(err)
	}
}

func (f *gcFixture) uncache(obj runtime.Object) {
	gvr := podsGVR
	if _, ok := obj.(*corev1.ReplicationController); ok {
		gvr = rcsGVR
	}
	if err := f.gc.sources[gvr].indexer.Delete(obj); err != nil {
		f.t.Fatal(err)
	}
}

func (f *gcFixture) sync(gvr schema.GroupVersionResource, obj metav1.Object) {
	f.t.Helper()
	if err := f.gc.syncHandler(context.Background(), refOf(gvr, obj)); err != nil {
		f.t.Fatalf("sync %s: %v", obj.GetName(), err)
	}
}

// writes lists the writes as "verb resource name [propagation]" and
// "patch resource name <patch>".
func (f *gcFixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		switch a := a.(type) {
		case core.DeleteAction:
			s := "delete " + a.GetResource().Resource + " " + a.GetName()
			if p := a.GetDeleteOptions().PropagationPolicy; p != nil {
				s += " " + string(*p)
			}
			out = append(out, s)
		case core.PatchAction:
			var patch struct {
				Metadata map[string]any `json:"metadata"`
			}
			json.Unmarshal(a.GetPatch(), &patch)
			delete(patch.Metadata, "resourceVersion")
			delete(patch.Metadata, "uid")
			b, _ := json.Marshal(patch.Metadata)
			out = append(out, "patch "+a.GetResource().Resource+" "+a.GetName()+" "+string(b))
		}
	}
	return out
}

func beingDeleted(finalizer string) func(*corev1.ReplicationController) {
	return func(rc *corev1.ReplicationController) {
		now := metav1.NewTime(t0)
		rc.DeletionTimestamp = &now
		rc.Finalizers = []string{finalizer}
	}
}

func rcWith(opts ...func(*corev1.ReplicationController)) *corev1.ReplicationController {
	rc := mysqlRC(2)
	for _, o := range opts {
		o(rc)
	}
	return rc
}

// kubectl delete rc mysql (background): the RC is gone; its pods follow.
func TestGCBackgroundDeletesOrphanedDependents(t *testing.T) {
	rc := rcWith()
	pod := newPod("mysql-1", mysql, ownedBy(rc, "ReplicationController", "v1"))
	f := newGCFixture(t, []runtime.Object{pod})
	// The RC's deletion event: its dependents are looked at.
	f.sync(rcsGVR, rc)
	if n := f.gc.queue.Len(); n != 1 {
		t.Fatalf("queued %d objects after the owner went, want its 1 pod", n)
	}
	f.sync(podsGVR, pod)
	if got, want := f.writes(), []string{"delete pods mysql-1 Background"}; !slices.Equal(got, want) {
		t.Errorf("writes = %q, want %q", got, want)
	}
	// The deletion is conditioned on the pod's UID.
	for _, a := range f.client.Actions() {
		if d, ok := a.(core.DeleteAction); ok {
			if pre := d.GetDeleteOptions().Preconditions; pre == nil || *pre.UID != pod.UID {
				t.Errorf("delete without the UID precondition: %+v", d.GetDeleteOptions())
			}
		}
	}
}

func TestGCKeepsDependentsOfLiveOwners(t *testing.T) {
	rc := rcWith()
	pod := newPod("mysql-1", mysql, ownedBy(rc, "ReplicationController", "v1"))
	// In the cache.
	f := newGCFixture(t, []runtime.Object{rc, pod})
	f.sync(podsGVR, pod)
	// Not in the cache yet, but in the apiserver: the cache is behind.
	g := newGCFixture(t, []runtime.Object{pod}, rc)
	g.sync(podsGVR, pod)
	if w := append(f.writes(), g.writes()...); len(w) != 0 {
		t.Errorf("writes for a pod whose owner exists: %q", w)
	}
	// A namesake (same name, another UID) is not the owner.
	other := rcWith(func(rc *corev1.ReplicationController) { rc.UID = "uid-other" })
	h := newGCFixture(t, []runtime.Object{other, pod})
	h.sync(podsGVR, pod)
	if got := h.writes(); len(got) != 1 || !strings.HasPrefix(got[0], "delete pods mysql-1") {
		t.Errorf("writes = %q, want the pod deleted (its owner was replaced)", got)
	}
}

func TestGCRemovesOnlyGoneOwners(t *testing.T) {
	rc := rcWith()
	gone := rcWith(func(rc *corev1.ReplicationController) { rc.Name, rc.UID = "gone", "uid-gone" })
	pod := newPod("mysql-1", mysql, ownedBy(rc, "ReplicationController", "v1"), ownedBy(gone, "ReplicationController", "v1"))
	f := newGCFixture(t, []runtime.Object{rc, pod})
	f.sync(podsGVR, pod)
	got := f.writes()
	if len(got) != 1 || !strings.HasPrefix(got[0], "patch pods mysql-1 ") || strings.Contains(got[0], "uid-gone") || !strings.Contains(got[0], "uid-mysql") {
		t.Errorf("writes = %q, want a patch keeping only the reference to the live owner", got)
	}
}

// kubectl delete rc mysql --cascade=orphan.
func TestGCOrphan(t *testing.T) {
	rc := rcWith(beingDeleted(metav1.FinalizerOrphanDependents))
	own := ownedBy(rc, "ReplicationController", "v1")
	pods := []runtime.Object{newPod("mysql-1", mysql, own), newPod("mysql-2", mysql, own)}
	f := newGCFixture(t, append(pods, rc))
	f.sync(rcsGVR, rc)
	want := []string{
		`patch pods mysql-1 {"ownerReferences":null}`,
		`patch pods mysql-2 {"ownerReferences":null}`,
		`patch replicationcontrollers mysql {"finalizers":null}`,
	}
	got := f.writes()
	slices.Sort(got[:2])
	if !slices.Equal(got, want) {
		t.Errorf("writes = %q, want %q", got, want)
	}
}

// kubectl delete rc mysql --cascade=foreground: the pods go first, the RC
// after.
func TestGCForeground(t *testing.T) {
	rc := rcWith(beingDeleted(metav1.FinalizerDeleteDependents))
	own := ownedBy(rc, "ReplicationController", "v1")
	p1, p2 := newPod("mysql-1", mysql, own), newPod("mysql-2", mysql, own)
	f := newGCFixture(t, []runtime.Object{p1, p2, rc})
	f.sync(rcsGVR, rc)
	got := f.writes()
	slices.Sort(got)
	if want := []string{"delete pods mysql-1 Background", "delete pods mysql-2 Background"}; !slices.Equal(got, want) {
		t.Fatalf("writes = %q, want %q (and the finalizer kept while they exist)", got, want)
	}
	// One pod is gone; the other is still stopping (blockOwnerDeletion).
	f.client.ClearActions()
	f.uncache(p1)
	going := p2.DeepCopy()
	now := metav1.NewTime(t0)
	going.DeletionTimestamp = &now
	f.cache(going)
	f.sync(rcsGVR, rc)
	if got := f.writes(); len(got) != 0 {
		t.Fatalf("writes while a blocking dependent remains: %q", got)
	}
	// Both gone: the finalizer goes, and with it the RC.
	f.uncache(going)
	f.sync(rcsGVR, rc)
	if got, want := f.writes(), []string{`patch replicationcontrollers mysql {"finalizers":null}`}; !slices.Equal(got, want) {
		t.Errorf("writes = %q, want %q", got, want)
	}
}

// A dependent with another live owner survives a foreground deletion of
// one of them.
func TestGCForegroundSparesSharedDependents(t *testing.T) {
	rc := rcWith(beingDeleted(metav1.FinalizerDeleteDependents))
	other := rcWith(func(rc *corev1.ReplicationController) { rc.Name, rc.UID = "other", "uid-other" })
	pod := newPod("shared", mysql, ownedBy(rc, "ReplicationController", "v1"), ownedBy(other, "ReplicationController", "v1"))
	f := newGCFixture(t, []runtime.Object{rc, other, pod})
	f.sync(rcsGVR, rc)
	got := f.writes()
	if len(got) != 1 || !strings.HasPrefix(got[0], "patch pods shared ") || strings.Contains(got[0], `"uid-mysql"`) {
		t.Errorf("writes = %q, want only the reference to mysql removed", got)
	}
}

func TestDeletableResourcesSkipsEvents(t *testing.T) {
	f := newFixture(t)
	f.client.Resources = []*metav1.APIResourceList{{
		GroupVersion: "v1",
		APIResources: []metav1.APIResource{
			{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: []string{"delete", "list", "watch", "get"}},
			{Name: "pods/status", Namespaced: true, Kind: "Pod", Verbs: []string{"get", "update"}},
			{Name: "events", Namespaced: true, Kind: "Event", Verbs: []string{"delete", "list", "watch"}},
			{Name: "bindings", Namespaced: true, Kind: "Binding", Verbs: []string{"create"}},
		},
	}}
	got, err := deletableResources(f.client.Discovery())
	if err != nil {
		t.Fatal(err)
	}
	if want := []schema.GroupVersionResource{podsGVR}; !slices.Equal(got, want) {
		t.Errorf("deletableResources = %v, want %v", got, want)
	}
}
