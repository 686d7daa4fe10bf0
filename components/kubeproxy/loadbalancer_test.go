package kubeproxy

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name, ip string, ready corev1.ConditionStatus) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}},
		},
	}
}

func lbService(name string, created int, ports ...int32) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: metav1.NewTime(time.Unix(int64(1700000000+created), 0))},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
	}
	for _, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: p, Protocol: corev1.ProtocolTCP})
	}
	return s
}

// TestLoadBalancerIngress: the stand-in load balancer's ingress is every
// ready node's address; the first Service created keeps a port; ports the
// nodes use are refused; other classes are left alone.
//
// Reference: chapters/06-kube-proxy, "LoadBalancer without a cloud".
func TestLoadBalancerIngress(t *testing.T) {
	nodes := []*corev1.Node{node("node2", "10.200.0.12", corev1.ConditionTrue), node("node1", "10.200.0.11", corev1.ConditionTrue), node("node3", "10.200.0.13", corev1.ConditionUnknown)}
	other := lbService("other-class", 0, 80)
	class := "example.com/metal"
	other.Spec.LoadBalancerClass = &class
	services := []*corev1.Service{
		lbService("second", 2, 80),
		lbService("first", 1, 80, 443),
		lbService("kubelet", 3, 10250),
		lbService("nodeport-range", 4, 30080),
		lbService("alone", 5, 8080),
		other,
		{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: "default"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}},
	}
	ingress, pending := LoadBalancerIngress(services, nodes)
	ips := func(key string) string {
		var out []string
		for _, i := range ingress[key] {
			out = append(out, i.IP)
		}
		return strings.Join(out, ",")
	}
	for key, want := range map[string]string{
		"default/first":          "10.200.0.11,10.200.0.12",
		"default/alone":          "10.200.0.11,10.200.0.12",
		"default/second":         "",
		"default/kubelet":        "",
		"default/nodeport-range": "",
	} {
		if got := ips(key); got != want {
			t.Errorf("%s: ingress %q, want %q (pending: %q)", key, got, want, pending[key])
		}
	}
	if !strings.Contains(pending["default/second"], "taken by LoadBalancer Service default/first") {
		t.Errorf("second: pending %q, want it to name the Service that has the port", pending["default/second"])
	}
	for _, key := range []string{"default/other-class", "default/plain"} {
		if _, ok := ingress[key]; ok {
			t.Errorf("%s is not the stand-in's, but got ingress %v", key, ingress[key])
		}
	}
	if _, pending := LoadBalancerIngress(services, nil); pending["default/first"] != "no node is ready" {
		t.Errorf("without nodes: pending %q", pending["default/first"])
	}
}
