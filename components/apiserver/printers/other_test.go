package printers_test

import (
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Reference: upstream printLease, printEndpointSlice, printIngress.
func TestNetworkingAndCoordinationCells(t *testing.T) {
	runCellTests(t, []cellTest{
		{"held lease", &coordinationv1.Lease{ObjectMeta: meta("node-1", 2*time.Hour), Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("node-1")}},
			[]interface{}{"node-1", "node-1", "120m"}},
		{"free lease", &coordinationv1.Lease{ObjectMeta: meta("scheduler", 2*time.Hour)},
			[]interface{}{"scheduler", "", "120m"}},
		{"endpoint slice", &discoveryv1.EndpointSlice{
			ObjectMeta:  meta("web-x7k2p", 6*time.Minute),
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Port: ptr(int32(80))}, {Name: ptr("metrics")}, {}, {Port: ptr(int32(443))}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.244.1.4"}}, {Addresses: []string{"10.244.2.4", "10.244.3.4"}},
			},
		}, []interface{}{"web-x7k2p", "IPv4", "80,metrics,* + 1 more...", "10.244.1.4,10.244.2.4,10.244.3.4", "6m"}},
		{"empty endpoint slice", &discoveryv1.EndpointSlice{ObjectMeta: meta("none", 6*time.Minute), AddressType: discoveryv1.AddressTypeIPv6},
			[]interface{}{"none", "IPv6", "<unset>", "<unset>", "6m"}},
		{"ingress with TLS and an address", &networkingv1.Ingress{
			ObjectMeta: meta("web", 4*time.Hour),
			Spec: networkingv1.IngressSpec{
				IngressClassName: ptr("nginx"),
				Rules:            []networkingv1.IngressRule{{Host: "a.example.com"}, {Host: "b.example.com"}},
				TLS:              []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}}},
			},
			Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{
				{IP: "203.0.113.5"}, {Hostname: "lb.example.com"}, {IP: "203.0.113.5"},
			}}},
		}, []interface{}{"web", "nginx", "a.example.com,b.example.com", "203.0.113.5,lb.example.com", "80, 443", "4h"}},
		{"catch-all ingress", &networkingv1.Ingress{ObjectMeta: meta("all", 4*time.Hour), Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{}}}},
			[]interface{}{"all", "<none>", "*", "", "80", "4h"}},
		{"ingress with many rules", &networkingv1.Ingress{ObjectMeta: meta("many", 4*time.Hour), Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{
			{Host: "a"}, {}, {Host: "b"}, {Host: "c"}, {Host: "d"}, {Host: "e"},
		}}}, []interface{}{"many", "<none>", "a,b,c + 3 more...", "", "80", "4h"}},
	})
}

// Reference: upstream printHorizontalPodAutoscaler and formatHPAMetrics;
// `kubectl get hpa`.
func TestHorizontalPodAutoscalerCells(t *testing.T) {
	hpa := func(metrics []autoscalingv2.MetricSpec, current []autoscalingv2.MetricStatus) *autoscalingv2.HorizontalPodAutoscaler {
		return &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: meta("web", 20*time.Minute),
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
				MinReplicas:    ptr(int32(2)), MaxReplicas: 10, Metrics: metrics,
			},
			Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 3, CurrentMetrics: current},
		}
	}
	cpu := autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(80))},
	}}
	cpuNow := autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
		Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr(int32(40))},
	}}
	memory := autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(resource.MustParse("1Gi"))},
	}}
	pods := autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "qps"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(resource.MustParse("100"))},
	}}
	external := autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
		Metric: autoscalingv2.MetricIdentifier{Name: "queue"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: ptr(resource.MustParse("30"))},
	}}
	unset := hpa(nil, nil)
	unset.Spec.MinReplicas = nil
	row := func(targets string) []interface{} {
		return []interface{}{"web", "Deployment/web", targets, "2", int64(10), int64(3), "20m"}
	}
	runCellTests(t, []cellTest{
		{"cpu, measured", hpa([]autoscalingv2.MetricSpec{cpu}, []autoscalingv2.MetricStatus{cpuNow}), row("cpu: 40%/80%")},
		{"cpu, not measured yet", hpa([]autoscalingv2.MetricSpec{cpu}, nil), row("cpu: <unknown>/80%")},
		{"memory average value", hpa([]autoscalingv2.MetricSpec{memory}, nil), row("memory: <unknown>/1Gi")},
		{"three metrics", hpa([]autoscalingv2.MetricSpec{cpu, pods, external}, []autoscalingv2.MetricStatus{cpuNow}),
			row("cpu: 40%/80%, <unknown>/100 + 1 more...")},
		{"external value", hpa([]autoscalingv2.MetricSpec{external}, nil), row("<unknown>/30")},
		{"no metrics, no min", unset, []interface{}{"web", "Deployment/web", "<none>", "<unset>", int64(10), int64(3), "20m"}},
	})
}
