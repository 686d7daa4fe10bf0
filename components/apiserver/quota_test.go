package apiserver

import (
	"context"
	"fmt"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Reference: https://kubernetes.io/docs/concepts/policy/resource-quotas/
// ("If creating or updating a resource violates a quota constraint, the
// request will fail with HTTP status code 403 FORBIDDEN").

// quotaCounted creates a quota and sets its status as the controller
// would: hard from spec, used zero.
func quotaCounted(t *testing.T, cs kubernetes.Interface, ns, name string, hard corev1.ResourceList) {
	t.Helper()
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	q, err := cs.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ResourceQuotaSpec{Hard: hard}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q.Status.Hard, q.Status.Used = hard, corev1.ResourceList{}
	for n := range hard {
		q.Status.Used[n] = resource.MustParse("0")
	}
	if _, err := cs.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func limitedPod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "web", Image: "tinykube/demo:1.0",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": resource.MustParse("100m"), "memory": resource.MustParse("64Mi")}},
	}}}}
}

// Concurrent creates never get past the limit: each charge is a
// compare-and-swap on the quota, so exactly `pods` of them win.
func TestQuotaConcurrentCreates(t *testing.T) {
	cs, _ := newTestServer(t)
	ctx := context.Background()
	quotaCounted(t, cs, "lab", "compute-resources", corev1.ResourceList{"pods": resource.MustParse("5"), "limits.memory": resource.MustParse("1Gi")})

	var wg sync.WaitGroup
	var mu sync.Mutex
	created, refused := 0, 0
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := cs.CoreV1().Pods("lab").Create(ctx, limitedPod(fmt.Sprintf("p%d", i)), metav1.CreateOptions{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created++
			case apierrors.IsForbidden(err):
				refused++
			default:
				t.Errorf("create p%d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if created != 5 || refused != 7 {
		t.Errorf("created %d, refused %d; want 5 and 7", created, refused)
	}
	q, err := cs.CoreV1().ResourceQuotas("lab").Get(ctx, "compute-resources", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if used := q.Status.Used["pods"]; used.Value() != 5 {
		t.Errorf("status.used.pods = %s, want 5", used.String())
	}
	if used := q.Status.Used["limits.memory"]; used.String() != "320Mi" {
		t.Errorf("status.used[limits.memory] = %s, want 320Mi", used.String())
	}

	_, err = cs.CoreV1().Pods("lab").Create(ctx, limitedPod("x"), metav1.CreateOptions{})
	want := `pods "x" is forbidden: exceeded quota: compute-resources, requested: pods=1, used: pods=5, limited: pods=5`
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Errorf("sixth pod: %v\nwant %s", err, want)
	}
	noLimits := limitedPod("y")
	noLimits.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
	_, err = cs.CoreV1().Pods("lab").Create(ctx, noLimits, metav1.CreateOptions{})
	want = `pods "y" is forbidden: failed quota: compute-resources: must specify limits.memory for: web`
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Errorf("pod without limits: %v\nwant %s", err, want)
	}
	// A quota on pods leaves other kinds alone.
	if _, err := cs.CoreV1().ConfigMaps("lab").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, metav1.CreateOptions{}); err != nil {
		t.Errorf("a configmap is not limited by a pod quota: %v", err)
	}
}

// A Service that becomes a NodePort is charged its node ports on update.
func TestQuotaServiceUpdate(t *testing.T) {
	cs, _ := newTestServer(t)
	ctx := context.Background()
	quotaCounted(t, cs, "lab", "svc", corev1.ResourceList{"services": resource.MustParse("2"), "services.nodeports": resource.MustParse("1")})
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "web"},
		Ports:    []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 81}}}}
	svc, err := cs.CoreV1().Services("lab").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.Type = corev1.ServiceTypeNodePort
	_, err = cs.CoreV1().Services("lab").Update(ctx, svc, metav1.UpdateOptions{})
	want := `services "web" is forbidden: exceeded quota: svc, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1`
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Errorf("update to NodePort: %v\nwant %s", err, want)
	}
	q, _ := cs.CoreV1().ResourceQuotas("lab").Get(ctx, "svc", metav1.GetOptions{})
	if used := q.Status.Used["services"]; used.Value() != 1 {
		t.Errorf("status.used.services = %s, want 1", used.String())
	}
}
