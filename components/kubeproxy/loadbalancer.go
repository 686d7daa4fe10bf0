package kubeproxy

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// The stand-in load balancer.
//
// In a cloud, a Service of type LoadBalancer gets a load balancer from the
// cloud: the cloud-controller-manager's service controller asks for one,
// and writes its address to the Service's status.loadBalancer.ingress.
// kube-proxy then catches traffic to that address on every node. On a
// laptop there is no cloud, and the Service would stay <pending> for ever.
//
// tinykube does what k3s's ServiceLB does: the "load balancer" is the
// nodes themselves. A LoadBalancer Service's ingress is the address of
// every ready node, and its port is opened there: http://NODE-IP:PORT
// reaches the Service from the host, balanced like its ClusterIP. Like
// ServiceLB, two LoadBalancer Services cannot share a port (the first one
// created gets it; the other stays pending until it is free), and a port
// the nodes use themselves is refused.
//
// Who fills the status: the kube-proxy of every node, the same way. Each
// computes the same answer from the same Nodes and Services
// (LoadBalancerIngress is pure) and writes it only when the status says
// otherwise, so the first write wins and the others find nothing to do. In
// Kubernetes this is a controller's job, not kube-proxy's (the
// cloud-controller-manager's; in k3s a controller in the server); tinykube
// puts it here so that the type works from chapter 6, and a
// controller-manager can take it over (kube-proxy setting
// load-balancer=false).

// ReservedNodePorts are ports the nodes use themselves (kubelet 10250,
// kube-proxy's metrics 10249 and health 10256): a LoadBalancer Service
// asking for one stays pending.
var ReservedNodePorts = []int32{10249, 10250, 10256}

// LoadBalancerIngress returns the status.loadBalancer.ingress the stand-in
// load balancer gives each LoadBalancer Service, by "namespace/name". A
// Service whose ingress is empty is pending: no node is ready, or its
// port is taken, and the reason says why. Services of another load balancer
// class (spec.loadBalancerClass set) are not in the result: someone else
// handles them.
func LoadBalancerIngress(services []*corev1.Service, nodes []*corev1.Node) (ingress map[string][]corev1.LoadBalancerIngress, pending map[string]string) {
	var ips []string
	for _, n := range nodes {
		if !nodeReady(n) || n.DeletionTimestamp != nil {
			continue
		}
		for _, a := range n.Status.Addresses {
			if ip, err := netip.ParseAddr(a.Address); a.Type == corev1.NodeInternalIP && err == nil && ip.Is4() {
				ips = append(ips, ip.String())
				break
			}
		}
	}
	sort.Slice(ips, func(i, j int) bool { return netip.MustParseAddr(ips[i]).Less(netip.MustParseAddr(ips[j])) })

	var lbs []*corev1.Service
	for _, svc := range services {
		if svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil {
			lbs = append(lbs, svc)
		}
	}
	// The oldest Service keeps its ports.
	sort.Slice(lbs, func(i, j int) bool {
		a, b := lbs[i], lbs[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	ingress, pending = map[string][]corev1.LoadBalancerIngress{}, map[string]string{}
	taken := map[string]string{} // "TCP/80" → the Service that has it
	vip := corev1.LoadBalancerIPModeVIP
	for _, svc := range lbs {
		key := svc.Namespace + "/" + svc.Name
		why := ""
		for _, p := range svc.Spec.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			port := string(proto) + "/" + strconv.Itoa(int(p.Port))
			switch {
			case slices.Contains(ReservedNodePorts, p.Port):
				why = fmt.Sprintf("port %s is used by the nodes themselves", port)
			case p.Port >= 30000 && p.Port <= 32767:
				why = fmt.Sprintf("port %s is in the node port range 30000-32767", port)
			case taken[port] != "":
				why = fmt.Sprintf("port %s is taken by LoadBalancer Service %s", port, taken[port])
			}
			if why != "" {
				break
			}
		}
		if why == "" && len(ips) == 0 {
			why = "no node is ready"
		}
		if why != "" {
			ingress[key], pending[key] = nil, why
			continue
		}
		for _, p := range svc.Spec.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			taken[string(proto)+"/"+strconv.Itoa(int(p.Port))] = key
		}
		for _, ip := range ips {
			ingress[key] = append(ingress[key], corev1.LoadBalancerIngress{IP: ip, IPMode: &vip})
		}
	}
	return ingress, pending
}

// nodeReady reports whether a Node's Ready condition is True.
func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ingressEqual reports whether two ingress lists say the same.
func ingressEqual(a, b []corev1.LoadBalancerIngress) bool {
	return slices.EqualFunc(a, b, func(x, y corev1.LoadBalancerIngress) bool {
		xm, ym := corev1.LoadBalancerIPModeVIP, corev1.LoadBalancerIPModeVIP
		if x.IPMode != nil {
			xm = *x.IPMode
		}
		if y.IPMode != nil {
			ym = *y.IPMode
		}
		return x.IP == y.IP && x.Hostname == y.Hostname && xm == ym
	})
}
