package controllermanager

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	core "k8s.io/client-go/testing"
)

// Reference: kubernetes/pkg/controller/endpoint/endpoints_controller_test.go;
// "Service" in the Kubernetes docs (targetPort may name a container port).

func webService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-svc-web", Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{
			Selector:  web,
			ClusterIP: "10.96.0.20",
			Ports:     []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}},
		},
	}
}

// withPort gives a pod's container a named port.
func withPort(name string, port int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: corev1.ProtocolTCP})
	}
}

func newEndpointsFixture(t *testing.T, objects ...runtime.Object) (*fixture, *endpointsController) {
	f := newFixture(t, objects...)
	c, err := newEndpointsController(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.load(objects...)
	return f, c.(*endpointsController)
}

func addr(pod, ip, node string) corev1.EndpointAddress {
	return corev1.EndpointAddress{IP: ip, NodeName: &node, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: pod, UID: types.UID("uid-" + pod)}}
}

func TestEndpointSubsets(t *testing.T) {
	now := metav1.NewTime(t0)
	pods := []*corev1.Pod{
		newPod("a", web, onNode("node1", "10.244.1.2"), ready(t0), withPort("http", 8080)),
		newPod("b", web, onNode("node2", "10.244.2.2"), withPort("http", 8080)),            // running, not ready
		newPod("c", web, onNode("node2", "10.244.2.3"), ready(t0), withPort("http", 9090)), // the name means another number
		newPod("no-ip", web, withPort("http", 8080)),
		newPod("going", web, onNode("node1", "10.244.1.9"), ready(t0), withPort("http", 8080), func(p *corev1.Pod) { p.DeletionTimestamp = &now }),
		newPod("done", web, onNode("node1", "10.244.1.8"), withPort("http", 8080), func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
		newPod("no-port", web, onNode("node1", "10.244.1.7"), ready(t0)),
	}
	got := endpointSubsets(webService(), pods)
	want := []corev1.EndpointSubset{
		{
			Addresses:         []corev1.EndpointAddress{addr("a", "10.244.1.2", "node1")},
			NotReadyAddresses: []corev1.EndpointAddress{addr("b", "10.244.2.2", "node2")},
			Ports:             []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}},
		},
		{
			Addresses: []corev1.EndpointAddress{addr("c", "10.244.2.3", "node2")},
			Ports:     []corev1.EndpointPort{{Name: "http", Port: 9090, Protocol: corev1.ProtocolTCP}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("subsets (-want +got):\n%s", diff)
	}

	// publishNotReadyAddresses: every address is ready, even a terminating one.
	svc := webService()
	svc.Spec.PublishNotReadyAddresses = true
	all := endpointSubsets(svc, pods[:2])
	if len(all) != 1 || len(all[0].Addresses) != 2 || len(all[0].NotReadyAddresses) != 0 {
		t.Errorf("publishNotReadyAddresses: subsets = %+v, want both addresses ready", all)
	}
}

func TestEndpointsSync(t *testing.T) {
	svc := webService()
	pod := newPod("a", web, onNode("node1", "10.244.1.2"), ready(t0), withPort("http", 8080))
	f, e := newEndpointsFixture(t, svc, pod)
	ctx := context.Background()
	if err := e.syncHandler(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	w := f.writes()
	if len(w) != 1 || w[0].GetVerb() != "create" || w[0].GetResource().Resource != "endpoints" {
		t.Fatalf("writes = %v, want create endpoints", describe(w))
	}
	ep := w[0].(core.CreateAction).GetObject().(*corev1.Endpoints)
	if ep.Name != "web" || ep.Labels["team"] != "a" || len(ep.Subsets) != 1 || ep.Subsets[0].Addresses[0].IP != "10.244.1.2" {
		t.Errorf("endpoints = %+v", ep)
	}

	// Converged: the same again writes nothing.
	f.load(ep)
	f.client.ClearActions()
	if err := e.syncHandler(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("writes with the endpoints up to date: %v", describe(w))
	}

	// The pod stops being ready: the address moves to notReadyAddresses.
	notReady := pod.DeepCopy()
	notReady.Status.Conditions = nil
	f.load(notReady)
	if err := e.syncHandler(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	w = f.writes()
	if len(w) != 1 || w[0].GetVerb() != "update" {
		t.Fatalf("writes = %v, want update endpoints", describe(w))
	}
	if sub := w[0].(core.UpdateAction).GetObject().(*corev1.Endpoints).Subsets[0]; len(sub.Addresses) != 0 || len(sub.NotReadyAddresses) != 1 {
		t.Errorf("subset = %+v, want the address not ready", sub)
	}
}

func TestEndpointsOfDeletedService(t *testing.T) {
	f, e := newEndpointsFixture(t, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}})
	if err := e.syncHandler(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	if got := describe(f.writes()); len(got) != 1 || got[0] != "delete endpoints" {
		t.Errorf("writes = %v, want delete endpoints", got)
	}
}

func TestEndpointsWithoutSelectorAreTheUsers(t *testing.T) {
	svc := webService()
	svc.Spec.Selector = nil
	f, e := newEndpointsFixture(t, svc)
	if err := e.syncHandler(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("writes for a Service without selector: %v", describe(w))
	}
}

// The `kubernetes` Service's endpoints are the apiserver's to write; if
// they are missing, the controller puts them back: the apiserver's
// address, from the kubeconfig, port 6443.
func TestEndpointsOfTheKubernetesService(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(6443)}}}}
	f, e := newEndpointsFixture(t, svc)
	if err := e.syncHandler(context.Background(), "default/kubernetes"); err != nil {
		t.Fatal(err)
	}
	w := f.writes()
	if len(w) != 1 {
		t.Fatalf("writes = %v", describe(w))
	}
	got := w[0].(core.CreateAction).GetObject().(*corev1.Endpoints).Subsets
	want := []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "10.200.0.10"}},
		Ports:     []corev1.EndpointPort{{Name: "https", Port: 6443, Protocol: corev1.ProtocolTCP}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kubernetes endpoints (-want +got):\n%s", diff)
	}
}

func TestEndpointsOfTheKubernetesServiceAreTheAPIServers(t *testing.T) {
	theirs := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.200.0.99"}}}}}
	f, e := newEndpointsFixture(t, theirs)
	if err := e.syncHandler(context.Background(), "default/kubernetes"); err != nil {
		t.Fatal(err)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("rewrote the apiserver's own endpoints: %v", describe(w))
	}
}

func TestFindPort(t *testing.T) {
	pod := newPod("a", web, withPort("http", 8080))
	for _, tc := range []struct {
		target intstr.IntOrString
		want   int32
		err    bool
	}{
		{intstr.FromString("http"), 8080, false},
		{intstr.FromInt32(9000), 9000, false},
		{intstr.IntOrString{}, 80, false}, // unset: the Service port
		{intstr.FromString("metrics"), 0, true},
	} {
		got, err := findPort(pod, corev1.ServicePort{Port: 80, TargetPort: tc.target})
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("findPort(%v) = %d, %v; want %d, error %v", tc.target, got, err, tc.want, tc.err)
		}
	}
}
