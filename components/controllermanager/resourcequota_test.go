package controllermanager

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	core "k8s.io/client-go/testing"
)

// Reference: https://kubernetes.io/docs/concepts/policy/resource-quotas/
// and kubernetes/pkg/controller/resourcequota/resource_quota_controller_test.go.

func newRQFixture(t *testing.T, objects ...runtime.Object) (*fixture, *resourceQuotaController) {
	f := newFixture(t, objects...)
	c, err := newResourceQuotaController(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.load(objects...)
	rq := c.(*resourceQuotaController)
	rq.now = func() time.Time { return t0 }
	return f, rq
}

func computeQuota(hard, used corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "compute-resources", Namespace: "default", ResourceVersion: "1"},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
		Status:     corev1.ResourceQuotaStatus{Hard: hard, Used: used},
	}
}

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func withResources(requests, limits corev1.ResourceList) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: requests, Limits: limits}
	}
}

// The status the controller wrote, and the writes it made.
func rqStatus(t *testing.T, f *fixture) *corev1.ResourceQuotaStatus {
	t.Helper()
	w := f.writes()
	if len(w) == 0 {
		return nil
	}
	if got := describe(w); len(got) != 1 || got[0] != "update resourcequotas/status" {
		t.Fatalf("writes = %v, want one update resourcequotas/status", got)
	}
	return &w[0].(core.UpdateAction).GetObject().(*corev1.ResourceQuota).Status
}

func TestResourceQuotaCountsUsage(t *testing.T) {
	res := withResources(rl("cpu", "200m"), rl("memory", "128Mi"))
	finished := newPod("done", nil, res, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })
	other := newPod("elsewhere", nil, res, func(p *corev1.Pod) { p.Namespace = "other" })
	// A new quota: no status yet.
	q := computeQuota(rl("pods", "2", "requests.cpu", "1", "limits.memory", "1Gi", "configmaps", "3"), nil)
	q.Status = corev1.ResourceQuotaStatus{}
	f, rq := newRQFixture(t, q, newPod("a", nil, res), newPod("b", nil, res), finished, other,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: "default"}})
	if err := rq.syncHandler(context.Background(), "default/compute-resources"); err != nil {
		t.Fatal(err)
	}
	st := rqStatus(t, f)
	if st == nil {
		t.Fatal("no status written")
	}
	want := map[string]string{"pods": "2", "requests.cpu": "400m", "limits.memory": "256Mi", "configmaps": "1"}
	for n, v := range want {
		if q := st.Used[corev1.ResourceName(n)]; q.String() != v {
			t.Errorf("used[%s] = %s, want %s", n, q.String(), v)
		}
	}
	if len(st.Used) != len(want) {
		t.Errorf("used = %v, want only %v", st.Used, want)
	}
	if h := st.Hard["pods"]; h.String() != "2" || len(st.Hard) != 4 {
		t.Errorf("hard = %v, want spec.hard", st.Hard)
	}
}

func TestResourceQuotaUsageGoesDown(t *testing.T) {
	// The apiserver charged 2 pods; one has since been deleted.
	res := withResources(rl("cpu", "200m"), nil)
	q := computeQuota(rl("pods", "2", "requests.cpu", "1"), rl("pods", "2", "requests.cpu", "400m"))
	f, rq := newRQFixture(t, q, newPod("a", nil, res))
	if err := rq.syncHandler(context.Background(), "default/compute-resources"); err != nil {
		t.Fatal(err)
	}
	st := rqStatus(t, f)
	if st == nil {
		t.Fatal("no status written")
	}
	if p, c := st.Used["pods"], st.Used["requests.cpu"]; p.String() != "1" || c.String() != "200m" {
		t.Errorf("used = pods %s, requests.cpu %s; want 1 and 200m", p.String(), c.String())
	}
}

func TestResourceQuotaNothingToWrite(t *testing.T) {
	q := computeQuota(rl("pods", "2", "services.nodeports", "2"), rl("pods", "1", "services.nodeports", "0"))
	f, rq := newRQFixture(t, q, newPod("a", nil))
	for _, key := range []string{"default/compute-resources", "default/gone"} {
		if err := rq.syncHandler(context.Background(), key); err != nil {
			t.Fatal(err)
		}
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("writes = %v, want none (status already true; a deleted quota)", describe(w))
	}
}

func TestResourceQuotaNewHard(t *testing.T) {
	// kubectl edit quota: spec.hard raised; status.hard follows.
	q := computeQuota(rl("pods", "3"), rl("pods", "2"))
	q.Status.Hard = rl("pods", "2")
	f, rq := newRQFixture(t, q, newPod("a", nil), newPod("b", nil))
	if err := rq.syncHandler(context.Background(), "default/compute-resources"); err != nil {
		t.Fatal(err)
	}
	st := rqStatus(t, f)
	if h, u := st.Hard["pods"], st.Used["pods"]; h.String() != "3" || u.String() != "2" {
		t.Errorf("status pods %s/%s, want 2/3", u.String(), h.String())
	}
}

func TestResourceQuotaSyncPeriodSetting(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 5 * time.Minute, "30s": 30 * time.Second} {
		if got, err := resourceQuotaSyncPeriodFrom(map[string]string{"resource-quota-sync-period": in}); err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := resourceQuotaSyncPeriodFrom(map[string]string{"resource-quota-sync-period": "soon"}); err == nil {
		t.Error(`"soon": no error`)
	}
}
