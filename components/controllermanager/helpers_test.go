package controllermanager

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

// Test helpers shared by the controllers' unit tests. The tests follow
// sample-controller's controller_test.go (STYLE.md rule 15): objects are
// put straight into the informers' indexers (no informer runs), the
// controller's syncHandler is called directly, and the actions the fake
// clientset recorded are checked.

// t0 is the tests' "now".
var t0 = time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)

// fixture is a fake clientset, an informer factory over it (never
// started) and a Context for constructors.
type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	ctx      *Context
}

func newFixture(t *testing.T, objects ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objects...)
	// The fake does not do generateName: name objects as the apiserver
	// would, "<generateName>" plus a counter.
	var n atomic.Int32
	client.PrependReactor("create", "*", func(action core.Action) (bool, runtime.Object, error) {
		obj := action.(core.CreateAction).GetObject().(metav1.Object)
		if obj.GetName() == "" && obj.GetGenerateName() != "" {
			obj.SetName(fmt.Sprintf("%s%05d", obj.GetGenerateName(), n.Add(1)))
		}
		if obj.GetUID() == "" {
			obj.SetUID(types.UID("uid-" + obj.GetName()))
		}
		return false, nil, nil
	})
	f := &fixture{t: t, client: client, factory: informers.NewSharedInformerFactory(client, 0), recorder: record.NewFakeRecorder(100)}
	f.ctx = &Context{
		Client: client, Informers: f.factory,
		Recorder: func(string) record.EventRecorder { return f.recorder },
		Config:   Config{APIServer: APIServerAddress{IP: "10.200.0.10", Port: 6443}},
	}
	return f
}

// load puts objects into the informers' caches, as if the informers had
// listed them.
func (f *fixture) load(objects ...runtime.Object) {
	f.t.Helper()
	for _, obj := range objects {
		// The informer of the object's resource, found by its kind
		// (*appsv1.Deployment → apps/v1 deployments), so that any typed
		// object can be loaded.
		kinds, _, err := scheme.Scheme.ObjectKinds(obj)
		if err != nil {
			f.t.Fatalf("load: %T: %v", obj, err)
		}
		gvr, _ := meta.UnsafeGuessKindToResource(kinds[0])
		generic, err := f.factory.ForResource(gvr)
		if err != nil {
			f.t.Fatalf("load: no informer for %T: %v", obj, err)
		}
		inf := generic.Informer()
		if err := inf.GetIndexer().Add(obj); err != nil {
			f.t.Fatal(err)
		}
	}
}

// actions returns the recorded writes (list and watch left out), as
// "verb resource[/subresource]" lines, and the actions themselves.
func (f *fixture) writes() []core.Action {
	var out []core.Action
	for _, a := range f.client.Actions() {
		switch a.GetVerb() {
		case "list", "watch", "get":
			continue
		}
		out = append(out, a)
	}
	return out
}

func describe(actions []core.Action) []string {
	var out []string
	for _, a := range actions {
		s := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			s += "/" + a.GetSubresource()
		}
		out = append(out, s)
	}
	return out
}

// events drains the fake recorder.
func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// ---- object builders ----

func newPod(name string, lbls map[string]string, opts ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: lbls, UID: types.UID("uid-" + name),
			ResourceVersion: "1", CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "tinykube/demo:1.0"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// onNode binds a pod and makes it Running with an IP.
func onNode(node, ip string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.NodeName = node
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP = ip
	}
}

// ready makes a pod ready since the given time.
func ready(since time.Time) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(since)})
	}
}

func ownedBy(owner metav1.Object, kind string, apiVersion string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		yes := true
		p.OwnerReferences = append(p.OwnerReferences, metav1.OwnerReference{
			APIVersion: apiVersion, Kind: kind, Name: owner.GetName(), UID: owner.GetUID(), Controller: &yes, BlockOwnerDeletion: &yes})
	}
}

func createdAt(t time.Time) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t) }
}

func newReplicaSet(name string, replicas int32, lbls map[string]string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Generation: 1, ResourceVersion: "1"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "tinykube/demo:1.0"}}},
			},
		},
	}
}

// mysqlRC is the course notes' testdata/manifests/mysql-rc.yaml.
func mysqlRC(replicas int32) *corev1.ReplicationController {
	return &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "mysql", Namespace: "default", UID: "uid-mysql", Generation: 1, ResourceVersion: "1"},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: &replicas,
			Selector: map[string]string{"app": "mysql"},
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "mysql"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "mysql", Image: "mysql",
					Ports: []corev1.ContainerPort{{ContainerPort: 3306}},
					Env:   []corev1.EnvVar{{Name: "MYSQL_ROOT_PASSWORD", Value: "123456"}},
				}}},
			},
		},
	}
}
