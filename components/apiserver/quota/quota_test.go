package quota

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Reference: https://kubernetes.io/docs/concepts/policy/resource-quotas/
// and the messages of k8s.io/apiserver/pkg/admission/plugin/resourcequota.

var now = time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)

// list parses "pods=2,requests.cpu=500m".
func list(s string) corev1.ResourceList {
	out := corev1.ResourceList{}
	if s == "" {
		return out
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		out[corev1.ResourceName(k)] = resource.MustParse(v)
	}
	return out
}

// rq is a quota the controller has counted: status.hard = spec.hard.
func rq(name, hard, used string, scopes ...corev1.ResourceQuotaScope) corev1.ResourceQuota {
	return corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "lab", ResourceVersion: "7"},
		Spec:       corev1.ResourceQuotaSpec{Hard: list(hard), Scopes: scopes},
		Status:     corev1.ResourceQuotaStatus{Hard: list(hard), Used: list(used)},
	}
}

type ctr struct{ name, requests, limits string }

func pod(name string, containers ...ctr) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "lab"}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c.name, Image: "tinykube/demo:1.0",
			Resources: corev1.ResourceRequirements{Requests: list(c.requests), Limits: list(c.limits)}})
	}
	return p
}

func svc(typ corev1.ServiceType, ports int) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "lab"}, Spec: corev1.ServiceSpec{Type: typ}}
	for i := 0; i < ports; i++ {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: int32(80 + i)})
	}
	return s
}

var (
	pods       = schema.GroupResource{Resource: "pods"}
	services   = schema.GroupResource{Resource: "services"}
	configmaps = schema.GroupResource{Resource: "configmaps"}
)

func TestUsage(t *testing.T) {
	deleting := pod("gone", ctr{"web", "cpu=1", ""})
	deleting.DeletionTimestamp = &metav1.Time{Time: now.Add(-time.Minute)}
	grace := int64(30)
	deleting.DeletionGracePeriodSeconds = &grace
	finished := pod("done", ctr{"web", "cpu=1", ""})
	finished.Status.Phase = corev1.PodSucceeded
	withInit := pod("init", ctr{"web", "cpu=100m", ""}, ctr{"side", "cpu=200m", ""})
	withInit.Spec.InitContainers = []corev1.Container{{Name: "setup", Resources: corev1.ResourceRequirements{Requests: list("cpu=1")}}}

	tests := []struct {
		name string
		gr   schema.GroupResource
		obj  runtime.Object
		want string
	}{
		{"pod: requests, and their old names, and limits", pods, pod("a", ctr{"web", "cpu=250m,memory=64Mi", "memory=128Mi"}, ctr{"log", "cpu=250m", ""}),
			"count/pods=1,pods=1,cpu=500m,requests.cpu=500m,memory=64Mi,requests.memory=64Mi,limits.memory=128Mi"},
		{"pod: an init container needs only to fit", pods, withInit, "count/pods=1,pods=1,cpu=1,requests.cpu=1"},
		{"pod: finished counts only as an object", pods, finished, "count/pods=1"},
		{"pod: deleted past its grace period counts only as an object", pods, deleting, "count/pods=1"},
		{"pod: extended and hugepages", pods, pod("g", ctr{"web", "example.com/gpu=1,hugepages-2Mi=4Mi", ""}),
			"count/pods=1,pods=1,requests.example.com/gpu=1,hugepages-2Mi=4Mi,requests.hugepages-2Mi=4Mi"},
		{"service: ClusterIP", services, svc(corev1.ServiceTypeClusterIP, 2), "count/services=1,services=1,services.nodeports=0,services.loadbalancers=0"},
		{"service: NodePort uses a node port per port", services, svc(corev1.ServiceTypeNodePort, 2), "count/services=1,services=1,services.nodeports=2,services.loadbalancers=0"},
		{"service: LoadBalancer", services, svc(corev1.ServiceTypeLoadBalancer, 1), "count/services=1,services=1,services.nodeports=1,services.loadbalancers=1"},
		{"configmap: both names", configmaps, &corev1.ConfigMap{}, "count/configmaps=1,configmaps=1"},
		{"deployment: count/deployments.apps", schema.GroupResource{Group: "apps", Resource: "deployments"}, &corev1.ConfigMap{}, "count/deployments.apps=1"},
		{"event: never counted", schema.GroupResource{Resource: "events"}, &corev1.Event{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Usage(tt.gr, tt.obj, now); !Equal(got, list(tt.want)) {
				t.Errorf("Usage = %s, want %s", prettyPrint(got), prettyPrint(list(tt.want)))
			}
		})
	}
}

func TestAdmit(t *testing.T) {
	limited := ctr{"web", "cpu=200m", "memory=128Mi"}
	bestEffort := pod("be", ctr{"web", "", ""})
	terminating := pod("job", limited)
	deadline := int64(60)
	terminating.Spec.ActiveDeadlineSeconds = &deadline
	tests := []struct {
		name    string
		quotas  []corev1.ResourceQuota
		req     Request
		wantErr string
		want    map[string]string // quota name → its new status.used
	}{
		{
			name:   "fits: used goes up",
			quotas: []corev1.ResourceQuota{rq("compute", "pods=2,requests.cpu=1,limits.memory=1Gi", "pods=1,requests.cpu=200m,limits.memory=128Mi")},
			req:    Request{Resource: pods, Object: pod("b", limited)},
			want:   map[string]string{"compute": "pods=2,requests.cpu=400m,limits.memory=256Mi"},
		},
		{
			name:    "a third pod on pods=2",
			quotas:  []corev1.ResourceQuota{rq("compute-resources", "pods=2,requests.cpu=1,limits.memory=1Gi", "pods=2,requests.cpu=400m,limits.memory=256Mi")},
			req:     Request{Resource: pods, Object: pod("c", limited)},
			wantErr: "exceeded quota: compute-resources, requested: pods=1, used: pods=2, limited: pods=2",
		},
		{
			name:    "two resources over",
			quotas:  []corev1.ResourceQuota{rq("compute", "pods=5,requests.cpu=1,limits.memory=1Gi", "pods=1,requests.cpu=900m,limits.memory=1000Mi")},
			req:     Request{Resource: pods, Object: pod("c", limited)},
			wantErr: "exceeded quota: compute, requested: limits.memory=128Mi,requests.cpu=200m, used: limits.memory=1000Mi,requests.cpu=900m, limited: limits.memory=1Gi,requests.cpu=1",
		},
		{
			name:    "no limits: must specify, container by container",
			quotas:  []corev1.ResourceQuota{rq("compute-resources", "pods=2,limits.cpu=2,limits.memory=1Gi", "pods=0,limits.cpu=0,limits.memory=0")},
			req:     Request{Resource: pods, Object: pod("x", ctr{"web", "", ""}, ctr{"log", "", "cpu=1"})},
			wantErr: "failed quota: compute-resources: must specify limits.cpu for: web; limits.memory for: log,web",
		},
		{
			name:    "must specify comes before exceeded",
			quotas:  []corev1.ResourceQuota{rq("q", "pods=1,requests.cpu=1", "pods=1,requests.cpu=0")},
			req:     Request{Resource: pods, Object: pod("x", ctr{"web", "", ""})},
			wantErr: "failed quota: q: must specify requests.cpu for: web",
		},
		{
			name:    "not counted yet by the controller",
			quotas:  []corev1.ResourceQuota{rq("q", "pods=2,requests.cpu=1", "pods=0")},
			req:     Request{Resource: pods, Object: pod("x", limited)},
			wantErr: "status unknown for quota: q, resources: pods,requests.cpu",
		},
		{
			name:   "a quota with no status.hard yet does not apply",
			quotas: []corev1.ResourceQuota{{ObjectMeta: metav1.ObjectMeta{Name: "new"}, Spec: corev1.ResourceQuotaSpec{Hard: list("pods=0")}}},
			req:    Request{Resource: pods, Object: pod("x", limited)},
		},
		{
			name:   "a pod quota leaves configmaps alone",
			quotas: []corev1.ResourceQuota{rq("compute", "pods=0", "pods=0")},
			req:    Request{Resource: configmaps, Object: &corev1.ConfigMap{}},
		},
		{
			name:    "configmaps by their old name",
			quotas:  []corev1.ResourceQuota{rq("objects", "configmaps=1", "configmaps=1")},
			req:     Request{Resource: configmaps, Object: &corev1.ConfigMap{}},
			wantErr: "exceeded quota: objects, requested: configmaps=1, used: configmaps=1, limited: configmaps=1",
		},
		{
			name:    "count/deployments.apps",
			quotas:  []corev1.ResourceQuota{rq("objects", "count/deployments.apps=1", "count/deployments.apps=1")},
			req:     Request{Resource: schema.GroupResource{Group: "apps", Resource: "deployments"}, Object: &corev1.ConfigMap{}},
			wantErr: "exceeded quota: objects, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1",
		},
		{
			name: "every quota that applies is charged, scoped ones only in scope",
			quotas: []corev1.ResourceQuota{
				rq("all", "pods=10", "pods=3"),
				rq("best-effort", "pods=1", "pods=0", corev1.ResourceQuotaScopeBestEffort),
				rq("not-best-effort", "pods=5", "pods=3", corev1.ResourceQuotaScopeNotBestEffort),
			},
			req:  Request{Resource: pods, Object: bestEffort},
			want: map[string]string{"all": "pods=4", "best-effort": "pods=1"},
		},
		{
			name:    "BestEffort scope full",
			quotas:  []corev1.ResourceQuota{rq("best-effort", "pods=1", "pods=1", corev1.ResourceQuotaScopeBestEffort)},
			req:     Request{Resource: pods, Object: bestEffort},
			wantErr: "exceeded quota: best-effort, requested: pods=1, used: pods=1, limited: pods=1",
		},
		{
			name:   "Terminating scope: pods with activeDeadlineSeconds",
			quotas: []corev1.ResourceQuota{rq("t", "pods=1", "pods=0", corev1.ResourceQuotaScopeTerminating), rq("nt", "pods=1", "pods=1", corev1.ResourceQuotaScopeNotTerminating)},
			req:    Request{Resource: pods, Object: terminating},
			want:   map[string]string{"t": "pods=1"},
		},
		{
			name:    "a ClusterIP Service that becomes NodePort needs node ports",
			quotas:  []corev1.ResourceQuota{rq("svc", "services=5,services.nodeports=1", "services=1,services.nodeports=0")},
			req:     Request{Resource: services, Object: svc(corev1.ServiceTypeNodePort, 2), Old: svc(corev1.ServiceTypeClusterIP, 2)},
			wantErr: "exceeded quota: svc, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1",
		},
		{
			name:   "an update that changes nothing quota counts",
			quotas: []corev1.ResourceQuota{rq("svc", "services=1,services.nodeports=1", "services=1,services.nodeports=0")},
			req:    Request{Resource: services, Object: svc(corev1.ServiceTypeClusterIP, 3), Old: svc(corev1.ServiceTypeClusterIP, 1)},
		},
		{
			name:   "pods are not charged on update",
			quotas: []corev1.ResourceQuota{rq("compute", "pods=0", "pods=0")},
			req:    Request{Resource: pods, Object: pod("a", limited), Old: pod("a", limited)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Now = now
			before := make([]corev1.ResourceQuota, len(tt.quotas))
			for i := range tt.quotas {
				tt.quotas[i].DeepCopyInto(&before[i])
			}
			charged, err := Admit(tt.quotas, tt.req)
			switch {
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Fatalf("error = %v,\nwant %s", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error = %v, want none", err)
			}
			got := map[string]string{}
			for _, q := range charged {
				got[q.Name] = prettyPrint(q.Status.Used)
			}
			if len(got) != len(tt.want) {
				t.Errorf("charged %v, want %v", got, tt.want)
			}
			for name, used := range tt.want {
				if got[name] != prettyPrint(list(used)) {
					t.Errorf("quota %s: used = %s, want %s", name, got[name], prettyPrint(list(used)))
				}
			}
			for i := range tt.quotas {
				if !Equal(tt.quotas[i].Status.Used, before[i].Status.Used) {
					t.Errorf("Admit changed its input quota %s", tt.quotas[i].Name)
				}
			}
		})
	}
}

func TestUsed(t *testing.T) {
	limited := ctr{"web", "cpu=200m", "memory=128Mi"}
	finished := pod("done", limited)
	finished.Status.Phase = corev1.PodFailed
	objects := map[schema.GroupResource][]runtime.Object{
		pods:     {pod("a", limited), pod("b", limited), pod("be", ctr{"web", "", ""}), finished},
		services: {svc(corev1.ServiceTypeNodePort, 2)},
	}
	tests := []struct {
		name   string
		spec   corev1.ResourceQuotaSpec
		want   string
		wantGR []schema.GroupResource
	}{
		{"compute", corev1.ResourceQuotaSpec{Hard: list("pods=10,requests.cpu=2,limits.memory=1Gi,count/pods=10")},
			"pods=3,requests.cpu=400m,limits.memory=256Mi,count/pods=4", []schema.GroupResource{pods}},
		{"best effort scope", corev1.ResourceQuotaSpec{Hard: list("pods=10"), Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}},
			"pods=1", []schema.GroupResource{pods}},
		{"services and nothing listed for configmaps", corev1.ResourceQuotaSpec{Hard: list("services.nodeports=4,configmaps=3,secrets=1")},
			"services.nodeports=2", []schema.GroupResource{configmaps, {Resource: "secrets"}, services}},
		{"zero when nothing uses it", corev1.ResourceQuotaSpec{Hard: list("services.loadbalancers=1")},
			"services.loadbalancers=0", []schema.GroupResource{services}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if gr := Resources(tt.spec.Hard); len(gr) != len(tt.wantGR) {
				t.Errorf("Resources = %v, want %v", gr, tt.wantGR)
			}
			got, err := Used(tt.spec, objects, now)
			if err != nil {
				t.Fatal(err)
			}
			if !Equal(got, list(tt.want)) {
				t.Errorf("Used = %s, want %s", prettyPrint(got), prettyPrint(list(tt.want)))
			}
		})
	}
}

func TestObjectCountName(t *testing.T) {
	for gr, want := range map[schema.GroupResource]string{
		pods: "count/pods", {Group: "apps", Resource: "deployments"}: "count/deployments.apps",
		{Group: "networking.k8s.io", Resource: "ingresses"}: "count/ingresses.networking.k8s.io",
	} {
		if got := ObjectCountName(gr); string(got) != want {
			t.Errorf("ObjectCountName(%v) = %s, want %s", gr, got, want)
		}
		if back, ok := objectCountResource(corev1.ResourceName(want)); !ok || back != gr {
			t.Errorf("objectCountResource(%s) = %v, want %v", want, back, gr)
		}
	}
}
