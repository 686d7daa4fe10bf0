package printers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	discoveryv1beta1 "k8s.io/api/discovery/v1beta1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Kinds of the smaller groups: coordination, discovery, networking,
// autoscaling.

// Lease: NAME HOLDER AGE.
var leaseColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Holder", Type: "string", Description: coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]},
	ageColumn,
}

func leaseCells(l *coordinationv1.Lease, now time.Time) []interface{} {
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	return []interface{}{l.Name, holder, since(l.CreationTimestamp, now)}
}

// EndpointSlice: NAME ADDRESSTYPE PORTS ENDPOINTS AGE.
var endpointSliceColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "AddressType", Type: "string", Description: discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["addressType"]},
	{Name: "Ports", Type: "string", Description: discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["ports"]},
	{Name: "Endpoints", Type: "string", Description: discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["endpoints"]},
	ageColumn,
}

// endpointSliceCells: PORTS and ENDPOINTS list up to three port numbers
// (the port's name when it has no number, "*" with neither) and addresses,
// or "<unset>".
//
// Reference: printers.go, printEndpointSlice.
func endpointSliceCells(s *discoveryv1.EndpointSlice, now time.Time) []interface{} {
	var ports, addrs []string
	for _, p := range s.Ports {
		switch {
		case p.Port != nil:
			ports = append(ports, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			ports = append(ports, *p.Name)
		default:
			ports = append(ports, "*")
		}
	}
	for _, e := range s.Endpoints {
		addrs = append(addrs, e.Addresses...)
	}
	return []interface{}{
		s.Name, string(s.AddressType), orUnset(firstWithMore(ports, 3, ",")),
		orUnset(firstWithMore(addrs, 3, ",")), since(s.CreationTimestamp, now),
	}
}

// orUnset returns s, or "<unset>" when s is empty.
func orUnset(s string) string {
	if s == "" {
		return "<unset>"
	}
	return s
}

// Ingress: NAME CLASS HOSTS ADDRESS PORTS AGE.
var ingressColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Class", Type: "string", Description: "The name of the IngressClass resource that should be used for additional configuration"},
	{Name: "Hosts", Type: "string", Description: "Hosts that incoming requests are matched against before the ingress rule"},
	{Name: "Address", Type: "string", Description: "Address is a list containing ingress points for the load-balancer"},
	{Name: "Ports", Type: "string", Description: "Ports of TLS configurations that open"},
	ageColumn,
}

// ingressCells: HOSTS lists up to three rule hosts ("*" for none); ADDRESS
// the load balancer's IPs or hostnames; PORTS is "80", or "80, 443" with TLS.
//
// Reference: printers.go, printIngress.
func ingressCells(ing *networkingv1.Ingress, now time.Time) []interface{} {
	class := "<none>"
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	var addrs []string
	for _, in := range ing.Status.LoadBalancer.Ingress {
		addrs = append(addrs, firstNonEmpty(in.IP, in.Hostname))
	}
	ports := "80"
	if len(ing.Spec.TLS) != 0 {
		ports = "80, 443"
	}
	return []interface{}{
		ing.Name, class, ingressHosts(ing.Spec.Rules), strings.Join(sortedUnique(addrs), ","),
		ports, since(ing.CreationTimestamp, now),
	}
}

// ingressHosts lists the first three rules' hosts. Past three, it counts the
// remaining rules, with or without a host: "a,b,c + 2 more...".
func ingressHosts(rules []networkingv1.IngressRule) string {
	const max = 3
	var hosts []string
	for _, r := range rules {
		if len(hosts) == max {
			return fmt.Sprintf("%s + %d more...", strings.Join(hosts, ","), len(rules)-max)
		}
		if r.Host != "" {
			hosts = append(hosts, r.Host)
		}
	}
	if len(hosts) == 0 {
		return "*"
	}
	return strings.Join(hosts, ",")
}

// HorizontalPodAutoscaler: NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS
// AGE.
var horizontalPodAutoscalerColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Reference", Type: "string", Description: autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["scaleTargetRef"]},
	{Name: "Targets", Type: "string", Description: autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["metrics"]},
	{Name: "MinPods", Type: "string", Description: autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["minReplicas"]},
	{Name: "MaxPods", Type: "string", Description: autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()["maxReplicas"]},
	{Name: "Replicas", Type: "string", Description: autoscalingv2.HorizontalPodAutoscalerStatus{}.SwaggerDoc()["currentReplicas"]},
	ageColumn,
}

// horizontalPodAutoscalerCells: REFERENCE is "Kind/name"; TARGETS shows
// "current/target" for the first two metrics ("cpu: 40%/80%").
//
// Reference: printers.go, printHorizontalPodAutoscaler.
func horizontalPodAutoscalerCells(hpa *autoscalingv2.HorizontalPodAutoscaler, now time.Time) []interface{} {
	minPods := "<unset>"
	if hpa.Spec.MinReplicas != nil {
		minPods = strconv.Itoa(int(*hpa.Spec.MinReplicas))
	}
	return []interface{}{
		hpa.Name,
		fmt.Sprintf("%s/%s", hpa.Spec.ScaleTargetRef.Kind, hpa.Spec.ScaleTargetRef.Name),
		hpaMetrics(hpa.Spec.Metrics, hpa.Status.CurrentMetrics),
		minPods,
		int64(hpa.Spec.MaxReplicas),
		int64(hpa.Status.CurrentReplicas),
		since(hpa.CreationTimestamp, now),
	}
}

// hpaMetrics renders each metric as current/target, current being
// "<unknown>" until the autoscaler has measured it; "<none>" without metrics.
func hpaMetrics(specs []autoscalingv2.MetricSpec, statuses []autoscalingv2.MetricStatus) string {
	if len(specs) == 0 {
		return "<none>"
	}
	list := make([]string, 0, len(specs))
	for i, spec := range specs {
		var st *autoscalingv2.MetricStatus
		if i < len(statuses) {
			st = &statuses[i]
		}
		list = append(list, hpaMetric(spec, st))
	}
	return firstWithMore(list, 2, ", ")
}

// hpaMetric renders one metric; st is its status, or nil.
func hpaMetric(spec autoscalingv2.MetricSpec, st *autoscalingv2.MetricStatus) string {
	const unknown = "<unknown>"
	switch {
	case spec.Type == autoscalingv2.ExternalMetricSourceType && spec.External != nil:
		t := spec.External.Target
		cur := unknown
		if t.AverageValue != nil {
			if st != nil && st.External != nil && st.External.Current.AverageValue != nil {
				cur = quantity(st.External.Current.AverageValue)
			}
			return fmt.Sprintf("%s/%s (avg)", cur, quantity(t.AverageValue))
		}
		if st != nil && st.External != nil {
			cur = quantity(st.External.Current.Value)
		}
		return fmt.Sprintf("%s/%s", cur, quantity(t.Value))

	case spec.Type == autoscalingv2.PodsMetricSourceType && spec.Pods != nil:
		cur := unknown
		if st != nil && st.Pods != nil {
			cur = quantity(st.Pods.Current.AverageValue)
		}
		return fmt.Sprintf("%s/%s", cur, quantity(spec.Pods.Target.AverageValue))

	case spec.Type == autoscalingv2.ObjectMetricSourceType && spec.Object != nil:
		t := spec.Object.Target
		cur := unknown
		if t.AverageValue != nil {
			if st != nil && st.Object != nil && st.Object.Current.AverageValue != nil {
				cur = quantity(st.Object.Current.AverageValue)
			}
			return fmt.Sprintf("%s/%s (avg)", cur, quantity(t.AverageValue))
		}
		if st != nil && st.Object != nil {
			cur = quantity(st.Object.Current.Value)
		}
		return fmt.Sprintf("%s/%s", cur, quantity(t.Value))

	case spec.Type == autoscalingv2.ResourceMetricSourceType && spec.Resource != nil:
		var current *autoscalingv2.MetricValueStatus
		if st != nil && st.Resource != nil {
			current = &st.Resource.Current
		}
		return resourceMetric(spec.Resource.Name.String(), spec.Resource.Target, current)

	case spec.Type == autoscalingv2.ContainerResourceMetricSourceType && spec.ContainerResource != nil:
		var current *autoscalingv2.MetricValueStatus
		if st != nil && st.ContainerResource != nil {
			current = &st.ContainerResource.Current
		}
		return resourceMetric(spec.ContainerResource.Name.String(), spec.ContainerResource.Target, current)
	}
	return "<unknown type>"
}

// resourceMetric renders a (container) resource metric: "memory: 1Gi/2Gi"
// for an average value, "cpu: 40%/80%" for a utilization ("<auto>" target
// when unset).
func resourceMetric(name string, target autoscalingv2.MetricTarget, current *autoscalingv2.MetricValueStatus) string {
	cur := "<unknown>"
	if target.AverageValue != nil {
		if current != nil {
			cur = quantity(current.AverageValue)
		}
		return fmt.Sprintf("%s: %s/%s", name, cur, quantity(target.AverageValue))
	}
	if current != nil && current.AverageUtilization != nil {
		cur = fmt.Sprintf("%d%%", *current.AverageUtilization)
	}
	want := "<auto>"
	if target.AverageUtilization != nil {
		want = fmt.Sprintf("%d%%", *target.AverageUtilization)
	}
	return fmt.Sprintf("%s: %s/%s", name, cur, want)
}
