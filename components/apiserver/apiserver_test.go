package apiserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tinykube/tinykube/components/etcd"
	"github.com/tinykube/tinykube/plugins"
	"github.com/tinykube/tinykube/plugins/conformance"
)

// newTestServer starts an etcd on loopback and an apiserver over it, on
// plain HTTP, and returns a client-go clientset for it: the real client is
// the best judge of the API.
func newTestServer(t *testing.T) (*kubernetes.Clientset, *Server) {
	t.Helper()
	ctx := context.Background()
	e := etcd.New()
	settings := conformance.SettingsFor(t, plugins.KindEtcd)
	if err := e.Start(ctx, settings); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	conformance.WaitHealthy(t, e, 20*time.Second)
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:" + settings.Values["client-port"]}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	srv, err := NewServer(Config{Etcd: client, ServiceCIDR: "10.96.0.0/12"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	srv.advertise = strings.TrimPrefix(hs.URL, "http://")
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: hs.URL})
	if err != nil {
		t.Fatal(err)
	}
	return cs, srv
}

func TestBootstrap(t *testing.T) {
	cs, _ := newTestServer(t)
	ctx := context.Background()
	for _, name := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		ns, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("namespace %s: %v", name, err)
		}
		if ns.Status.Phase != corev1.NamespaceActive {
			t.Errorf("namespace %s phase %q", name, ns.Status.Phase)
		}
	}
	svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != "10.96.0.1" {
		t.Errorf("kubernetes Service ClusterIP %s, want 10.96.0.1", svc.Spec.ClusterIP)
	}
}

func TestCreateGetUpdateConflictDelete(t *testing.T) {
	cs, _ := newTestServer(t)
	ctx := context.Background()
	cms := cs.CoreV1().ConfigMaps("default")
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Data: map[string]string{"a": "1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.UID == "" || cm.ResourceVersion == "" || cm.CreationTimestamp.IsZero() {
		t.Fatalf("created object lacks server fields: %+v", cm.ObjectMeta)
	}
	if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second create: %v, want AlreadyExists", err)
	}
	stale := cm.DeepCopy()
	cm.Data["a"] = "2"
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	stale.Data["a"] = "3"
	_, err = cms.Update(ctx, stale, metav1.UpdateOptions{})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "the object has been modified") {
		t.Errorf("update from a stale resourceVersion: %v, want Conflict", err)
	}
	if err := cms.Delete(ctx, "c", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "c", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get after delete: %v, want NotFound", err)
	}
}

func TestValidationIs422AndWritesNothing(t *testing.T) {
	cs, _ := newTestServer(t)
	ctx := context.Background()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "noimage"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
	_, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.containers[0].image: Required value") {
		t.Fatalf("create without image: %v", err)
	}
	if _, err := cs.CoreV1().Pods("default").Get(ctx, "noimage", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("refused pod was written: %v", err)
	}
	_, err = cs.CoreV1().ConfigMaps("nope").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("create in a missing namespace: %v, want NotFound", err)
	}
}

func TestServiceAllocation(t *testing.T) {
	cs, _ := newTestServer(t)
	ctx := context.Background()
	svcs := cs.CoreV1().Services("default")
	seen := map[string]bool{}
	for _, name := range []string{"a", "b", "c"} {
		svc, err := svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ip, port := svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort
		if seen[ip] || port < NodePortMin || port > NodePortMax {
			t.Errorf("service %s got %s:%d", name, ip, port)
		}
		seen[ip] = true
	}
	_, err := svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "same"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "provided IP is already allocated") {
		t.Errorf("taking the kubernetes Service's IP: %v", err)
	}
}

// A LoadBalancer Service with externalTrafficPolicy Local gets a
// healthCheckNodePort; it keeps it across updates, gives it back when it
// no longer needs it, and a deleted Service frees it.
func TestHealthCheckNodePort(t *testing.T) {
	cs, _ := newTestServer(t)
	ctx := context.Background()
	svcs := cs.CoreV1().Services("default")
	svc, err := svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "lb"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hc := svc.Spec.HealthCheckNodePort
	if hc < NodePortMin || hc > NodePortMax || hc == svc.Spec.Ports[0].NodePort {
		t.Fatalf("healthCheckNodePort %d (node port %d): want a node port of its own", hc, svc.Spec.Ports[0].NodePort)
	}

	svc.Labels = map[string]string{"x": "y"}
	if svc, err = svcs.Update(ctx, svc, metav1.UpdateOptions{}); err != nil || svc.Spec.HealthCheckNodePort != hc {
		t.Fatalf("an update: healthCheckNodePort %d, %v; want %d kept", svc.Spec.HealthCheckNodePort, err, hc)
	}

	// Cluster policy (the field left as it was, as a patch of the policy
	// alone leaves it): no health check port; the port is free again.
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	if svc, err = svcs.Update(ctx, svc, metav1.UpdateOptions{}); err != nil || svc.Spec.HealthCheckNodePort != 0 {
		t.Fatalf("to Cluster: healthCheckNodePort %d, %v; want 0", svc.Spec.HealthCheckNodePort, err)
	}
	other, err := svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "other"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80, NodePort: hc}}}}, metav1.CreateOptions{})
	if err != nil || other.Spec.Ports[0].NodePort != hc {
		t.Fatalf("taking the freed health check port %d: %v", hc, err)
	}

	// Back to Local: a new health check port; it goes with the Service.
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	if svc, err = svcs.Update(ctx, svc, metav1.UpdateOptions{}); err != nil || svc.Spec.HealthCheckNodePort == 0 || svc.Spec.HealthCheckNodePort == hc {
		t.Fatalf("back to Local: healthCheckNodePort %d, %v; want a new one", svc.Spec.HealthCheckNodePort, err)
	}
	hc = svc.Spec.HealthCheckNodePort
	if err := svcs.Delete(ctx, "lb", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "again"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80, NodePort: hc}}}}, metav1.CreateOptions{}); err != nil {
		t.Errorf("the deleted Service's health check port %d is not free: %v", hc, err)
	}
}

func TestWatchAndBinding(t *testing.T) {
	cs, _ := newTestServer(t)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	w, err := pods.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node2"}}, metav1.CreateOptions{})
	if !apierrors.IsConflict(err) {
		t.Errorf("second binding: %v, want Conflict", err)
	}
	want := []watch.EventType{watch.Added, watch.Modified}
	deadline := time.After(10 * time.Second)
	for i := 0; i < len(want); i++ {
		select {
		case ev := <-w.ResultChan():
			if ev.Type != want[i] {
				t.Fatalf("event %d: %s, want %s", i, ev.Type, want[i])
			}
			if i == 1 && ev.Object.(*corev1.Pod).Spec.NodeName != "node1" {
				t.Errorf("bound pod's nodeName %q", ev.Object.(*corev1.Pod).Spec.NodeName)
			}
		case <-deadline:
			t.Fatalf("no event %d (%s) within 10s", i, want[i])
		}
	}
}

var _ = errors.New

func TestServiceAccountTokens(t *testing.T) {
	cs, srv := newTestServer(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv.saKeys = &ServiceAccountKeys{Signer: key, Issuer: DefaultIssuer}
	ctx := context.Background()
	if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt"}, Data: map[string]string{"ca.crt": "x"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Spec.ServiceAccountName != "default" || len(pod.Spec.Volumes) != 1 || !strings.HasPrefix(pod.Spec.Volumes[0].Name, "kube-api-access-") {
		t.Fatalf("pod not given the service account's volume: account %q, volumes %+v", pod.Spec.ServiceAccountName, pod.Spec.Volumes)
	}
	if m := pod.Spec.Containers[0].VolumeMounts; len(m) != 1 || m[0].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" || !m[0].ReadOnly {
		t.Fatalf("container mounts %+v", m)
	}

	tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, "default", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p", UID: pod.UID}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := srv.authenticateToken(ctx, tr.Status.Token)
	if err != nil || u.Name != "system:serviceaccount:default:default" {
		t.Fatalf("token authenticates as %+v, %v", u, err)
	}
	// A token bound to a pod dies with it.
	if err := cs.CoreV1().Pods("default").Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if u, err := srv.authenticateToken(ctx, tr.Status.Token); err == nil {
		t.Fatalf("token of a deleted pod authenticates as %+v", u)
	}
	if _, err := srv.authenticateToken(ctx, tr.Status.Token+"x"); err == nil {
		t.Fatal("a tampered token authenticates")
	}
}

// A deleted namespace stays Terminating until the namespace controller
// finalizes it; updates meanwhile do not delete it.
func TestNamespaceFinalize(t *testing.T) {
	cs, _ := newTestServer(t)
	ctx := context.Background()
	nss := cs.CoreV1().Namespaces()
	if _, err := nss.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := nss.Delete(ctx, "x", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err := nss.Get(ctx, "x", metav1.GetOptions{})
	if err != nil || ns.Status.Phase != corev1.NamespaceTerminating {
		t.Fatalf("after delete: %+v, %v; want Terminating", ns, err)
	}
	ns.Labels = map[string]string{"touched": "yes"}
	if ns, err = nss.Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update of a Terminating namespace: %v", err)
	}
	ns.Spec.Finalizers = nil
	if _, err := nss.Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("finalize: %v", err)
	}
	if _, err := nss.Get(ctx, "x", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after finalize: %v, want NotFound", err)
	}
}
