package controllermanager

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	core "k8s.io/client-go/testing"
)

// Reference: "Namespaces" in the Kubernetes docs; the namespace
// lifecycle: Terminating until its content is gone and the "kubernetes"
// finalizer removed.

func terminating(name string) *corev1.Namespace {
	now := metav1.NewTime(t0)
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, DeletionTimestamp: &now, ResourceVersion: "5"},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
	}
}

func newNamespaceFixture(t *testing.T, ns *corev1.Namespace, content ...runtime.Object) (*fixture, *namespaceController, *dynamicfake.FakeDynamicClient) {
	f := newFixture(t, ns)
	f.client.Resources = []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: []string{"delete", "list", "watch"}},
			{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: []string{"delete", "list", "watch"}},
			{Name: "nodes", Namespaced: false, Kind: "Node", Verbs: []string{"delete", "list", "watch"}},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "replicasets", Namespaced: true, Kind: "ReplicaSet", Verbs: []string{"delete", "list", "watch"}},
		}},
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(clientgoscheme.Scheme, map[schema.GroupVersionResource]string{
		{Version: "v1", Resource: "pods"}:                       "PodList",
		{Version: "v1", Resource: "configmaps"}:                 "ConfigMapList",
		{Group: "apps", Version: "v1", Resource: "replicasets"}: "ReplicaSetList",
	}, content...)
	f.ctx.Dynamic, f.ctx.Discovery = dyn, f.client.Discovery()
	c, err := newNamespaceController(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.load(ns)
	return f, c.(*namespaceController), dyn
}

func deletedIn(dyn *dynamicfake.FakeDynamicClient) []string {
	var out []string
	for _, a := range dyn.Actions() {
		if d, ok := a.(core.DeleteAction); ok {
			out = append(out, d.GetNamespace()+"/"+d.GetResource().Resource+"/"+d.GetName())
		}
	}
	slices.Sort(out)
	return out
}

func TestNamespaceDeletesContentThenFinalizes(t *testing.T) {
	lab := terminating("lab")
	inLab := newPod("web", web, func(p *corev1.Pod) { p.Namespace = "lab" })
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "lab"}}
	elsewhere := newPod("keep", web)
	f, n, dyn := newNamespaceFixture(t, lab, inLab, cm, elsewhere)
	ctx := context.Background()

	if err := n.syncHandler(ctx, "lab"); err != nil {
		t.Fatal(err)
	}
	if got, want := deletedIn(dyn), []string{"lab/configmaps/settings", "lab/pods/web"}; !slices.Equal(got, want) {
		t.Errorf("deleted %v, want %v (and nothing outside lab)", got, want)
	}
	if w := f.writes(); len(w) != 0 {
		t.Fatalf("finalized with content left: %v", describe(w))
	}

	// Empty now: the "kubernetes" finalizer goes, through namespaces/finalize.
	if err := n.syncHandler(ctx, "lab"); err != nil {
		t.Fatal(err)
	}
	w := f.writes()
	if got := describe(w); len(got) != 1 || got[0] != "create namespaces/finalize" {
		t.Fatalf("writes = %v, want create namespaces/finalize", got)
	}
	if fin := w[0].(core.CreateAction).GetObject().(*corev1.Namespace).Spec.Finalizers; len(fin) != 0 {
		t.Errorf("spec.finalizers = %v, want none", fin)
	}
}

// An apiserver without namespaces/<name>/finalize (tinykube's, for now):
// the finalizer is removed with an update.
func TestNamespaceFinalizeFallsBackToUpdate(t *testing.T) {
	f, n, _ := newNamespaceFixture(t, terminating("lab"))
	f.client.PrependReactor("create", "namespaces", func(a core.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "finalize" {
			return true, nil, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "lab")
		}
		return false, nil, nil
	})
	if err := n.syncHandler(context.Background(), "lab"); err != nil {
		t.Fatal(err)
	}
	got := describe(f.writes())
	if want := []string{"create namespaces/finalize", "update namespaces"}; !slices.Equal(got, want) {
		t.Errorf("writes = %v, want %v", got, want)
	}
}

func TestNamespaceNotBeingDeleted(t *testing.T) {
	f, n, dyn := newNamespaceFixture(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "lab"}}, newPod("web", web, func(p *corev1.Pod) { p.Namespace = "lab" }))
	if err := n.syncHandler(context.Background(), "lab"); err != nil {
		t.Fatal(err)
	}
	if len(f.writes()) != 0 || len(deletedIn(dyn)) != 0 {
		t.Errorf("wrote to a namespace that is not being deleted: %v %v", describe(f.writes()), deletedIn(dyn))
	}
}
