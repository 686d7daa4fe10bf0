package controllermanager

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	core "k8s.io/client-go/testing"
)

// Reference: "EndpointSlices" in the Kubernetes docs (conditions ready,
// serving, terminating; at most 100 endpoints per slice by default).

func newSliceFixture(t *testing.T, objects ...runtime.Object) (*fixture, *endpointSliceController) {
	f := newFixture(t, objects...)
	c, err := newEndpointSliceController(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.load(objects...)
	return f, c.(*endpointSliceController)
}

func conditions(ready, serving, terminating bool) discoveryv1.EndpointConditions {
	return discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating}
}

func TestDesiredSlices(t *testing.T) {
	now := metav1.NewTime(t0)
	pods := []*corev1.Pod{
		newPod("a", web, onNode("node1", "10.244.1.2"), ready(t0), withPort("http", 8080)),
		newPod("b", web, onNode("node2", "10.244.2.2"), withPort("http", 8080)),
		newPod("going", web, onNode("node1", "10.244.1.9"), ready(t0), withPort("http", 8080), func(p *corev1.Pod) { p.DeletionTimestamp = &now }),
		newPod("no-ip", web, withPort("http", 8080)),
	}
	got := desiredSlices(webService(), pods)
	if len(got) != 1 {
		t.Fatalf("%d slices, want 1", len(got))
	}
	var conds []string
	for _, ep := range got[0].endpoints {
		c := ep.Conditions
		conds = append(conds, fmt.Sprintf("%s ready=%v serving=%v terminating=%v", ep.Addresses[0], *c.Ready, *c.Serving, *c.Terminating))
	}
	want := []string{
		"10.244.1.2 ready=true serving=true terminating=false",
		"10.244.1.9 ready=false serving=true terminating=true", // draining: kept, no new traffic
		"10.244.2.2 ready=false serving=false terminating=false",
	}
	if diff := cmp.Diff(want, conds); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
	if p := got[0].ports; len(p) != 1 || *p[0].Name != "http" || *p[0].Port != 8080 {
		t.Errorf("ports = %+v, want http 8080", p)
	}

	// No pod: one empty placeholder slice.
	if got := desiredSlices(webService(), nil); len(got) != 1 || len(got[0].endpoints) != 0 {
		t.Errorf("no pods: %+v, want one empty slice", got)
	}

	// 250 pods: 100 + 100 + 50.
	var many []*corev1.Pod
	for i := 0; i < 250; i++ {
		many = append(many, newPod(fmt.Sprintf("p%d", i), web, onNode("node1", fmt.Sprintf("10.244.%d.%d", 1+i/200, i%200)), ready(t0), withPort("http", 8080)))
	}
	var sizes []int
	for _, s := range desiredSlices(webService(), many) {
		sizes = append(sizes, len(s.endpoints))
	}
	if diff := cmp.Diff([]int{100, 100, 50}, sizes); diff != "" {
		t.Errorf("slice sizes (-want +got):\n%s", diff)
	}
}

func TestEndpointSliceSync(t *testing.T) {
	svc := webService()
	pod := newPod("a", web, onNode("node1", "10.244.1.2"), ready(t0), withPort("http", 8080))
	f, e := newSliceFixture(t, svc, pod)
	ctx := context.Background()
	if err := e.syncHandler(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	w := f.writes()
	if len(w) != 1 || w[0].GetVerb() != "create" {
		t.Fatalf("writes = %v, want one create", describe(w))
	}
	slice := w[0].(core.CreateAction).GetObject().(*discoveryv1.EndpointSlice)
	if slice.GenerateName != "web-" || slice.Labels[discoveryv1.LabelServiceName] != "web" || slice.Labels[discoveryv1.LabelManagedBy] != ManagedBy || slice.Labels["team"] != "a" {
		t.Errorf("slice metadata = %+v", slice.ObjectMeta)
	}
	if ref := metav1.GetControllerOf(slice); ref == nil || ref.Kind != "Service" || ref.UID != svc.UID {
		t.Errorf("slice owner = %+v, want the Service (the garbage collector deletes the slice with it)", slice.OwnerReferences)
	}

	// Up to date: nothing to write.
	slice = slice.DeepCopy()
	slice.Name = "web-abcde"
	f.load(slice)
	if err := f.client.Tracker().Add(slice); err != nil {
		t.Fatal(err)
	}
	f.client.ClearActions()
	if err := e.syncHandler(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	if w := f.writes(); len(w) != 0 {
		t.Fatalf("writes with the slice up to date: %v", describe(w))
	}

	// A second pod: the same slice is updated, not a new one made.
	f.load(newPod("b", web, onNode("node2", "10.244.2.2"), ready(t0), withPort("http", 8080)))
	if err := e.syncHandler(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	w = f.writes()
	if len(w) != 1 || w[0].GetVerb() != "update" {
		t.Fatalf("writes = %v, want one update", describe(w))
	}
	if got := w[0].(core.UpdateAction).GetObject().(*discoveryv1.EndpointSlice); got.Name != "web-abcde" || len(got.Endpoints) != 2 {
		t.Errorf("updated slice %s has %d endpoints, want web-abcde with 2", got.Name, len(got.Endpoints))
	}
}

// A slice whose ports no longer match is replaced: created first, the old
// one deleted after.
func TestPlanSlicesReplacesOnPortChange(t *testing.T) {
	svc := webService()
	old := newSlice(svc, sliceContent{})
	old.Name = "web-old"
	pods := []*corev1.Pod{newPod("a", web, onNode("node1", "10.244.1.2"), ready(t0), withPort("http", 8080))}
	create, update, remove := planSlices(svc, desiredSlices(svc, pods), []*discoveryv1.EndpointSlice{old})
	if len(create) != 1 || len(update) != 0 || len(remove) != 1 || remove[0].Name != "web-old" {
		t.Errorf("plan = %d create, %d update, %d remove; want the placeholder replaced", len(create), len(update), len(remove))
	}
}

func TestEndpointSliceOfTheKubernetesService(t *testing.T) {
	f, e := newSliceFixture(t)
	if err := e.syncHandler(context.Background(), "default/kubernetes"); err != nil {
		t.Fatal(err)
	}
	w := f.writes()
	if len(w) != 1 {
		t.Fatalf("writes = %v", describe(w))
	}
	s := w[0].(core.CreateAction).GetObject().(*discoveryv1.EndpointSlice)
	if s.Name != "kubernetes" || s.Endpoints[0].Addresses[0] != "10.200.0.10" || *s.Ports[0].Port != 6443 || s.Labels[discoveryv1.LabelServiceName] != "kubernetes" {
		t.Errorf("kubernetes slice = %+v", s)
	}
}
