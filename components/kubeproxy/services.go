package kubeproxy

import (
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// The first step of Rules: from Services and EndpointSlices to "service
// ports", the unit kube-proxy programs. A Service with two ports (http 80,
// https 443) is two service ports, each with its own chains, its own
// endpoints (pod IP and that port's target port) and its own balancing.

// servicePort is one port of one Service, with everything its rules need.
type servicePort struct {
	// name is how kube-proxy names the port in comments and chain hashes:
	// "namespace/service:port-name", or "namespace/service" when the port
	// has no name (a Service with a single port may leave it unnamed).
	name     string
	protocol string // "tcp", "udp" or "sctp", as iptables spells it

	clusterIP string
	port      int32
	nodePort  int32 // 0: none

	externalIPs     []string // spec.externalIPs
	loadBalancerIPs []string // status.loadBalancer.ingress[].ip
	sourceRanges    []string // spec.loadBalancerSourceRanges
	healthCheckPort int32    // spec.healthCheckNodePort, for externalTrafficPolicy Local

	// affinitySeconds is how long a client IP sticks to the endpoint it
	// was first sent to; 0 means no session affinity.
	affinitySeconds int32
	// internalLocal and externalLocal are the traffic policies: Local
	// sends traffic only to endpoints on this node.
	internalLocal, externalLocal bool

	endpoints []endpoint // sorted by address, then port
}

// endpoint is one pod (address and target port) behind a service port.
type endpoint struct {
	ip       string
	port     int32
	nodeName string
	// The conditions of an EndpointSlice endpoint: ready (serving and not
	// terminating), serving (passes its readiness probe), terminating
	// (being deleted). A nil condition counts as true, except terminating.
	ready, serving, terminating bool
}

// String is the endpoint as "ip:port", as comments and DNAT name it.
func (e endpoint) String() string { return e.ip + ":" + strconv.Itoa(int(e.port)) }

// externallyAccessible reports whether the port can be reached other than
// by its ClusterIP: a node port, an external IP or a load balancer IP.
func (sp *servicePort) externallyAccessible() bool {
	return sp.nodePort != 0 || len(sp.externalIPs) > 0 || len(sp.loadBalancerIPs) > 0
}

// Labels kube-proxy reads or skips, as in Kubernetes.
const (
	// LabelServiceName names, on an EndpointSlice, the Service it is for.
	LabelServiceName = discoveryv1.LabelServiceName // "kubernetes.io/service-name"
	// LabelServiceProxyName on a Service (or its slices) says another
	// proxy implements it: kube-proxy leaves it alone.
	LabelServiceProxyName = "service.kubernetes.io/service-proxy-name"
	// LabelHeadless marks the EndpointSlices of a headless Service.
	LabelHeadless = corev1.IsHeadlessService // "service.kubernetes.io/headless"
)

// ProxiedSelector is the label selector of the Services and EndpointSlices
// kube-proxy watches, as Kubernetes' kube-proxy sets it: not those another
// proxy handles, not those of headless Services.
const ProxiedSelector = "!" + LabelServiceProxyName + ",!" + LabelHeadless

// servicePorts turns Services and EndpointSlices into service ports, sorted
// by namespace and name, ports in the Service's order. Services that get no
// rules are left out: ExternalName Services (a DNS alias, chapter 7),
// headless ones (clusterIP None: DNS answers with the pods' own IPs), those
// without an IPv4 ClusterIP yet.
func servicePorts(services []*corev1.Service, endpointSlices []*discoveryv1.EndpointSlice) []*servicePort {
	// The slices of each Service, by "namespace/name".
	byService := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range endpointSlices {
		name := s.Labels[LabelServiceName]
		if name == "" || s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		key := s.Namespace + "/" + name
		byService[key] = append(byService[key], s)
	}
	sorted := append([]*corev1.Service(nil), services...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Namespace != sorted[j].Namespace {
			return sorted[i].Namespace < sorted[j].Namespace
		}
		return sorted[i].Name < sorted[j].Name
	})
	var out []*servicePort
	for _, svc := range sorted {
		if !proxied(svc) {
			continue
		}
		key := svc.Namespace + "/" + svc.Name
		for _, p := range svc.Spec.Ports {
			sp := newServicePort(svc, p)
			sp.endpoints = endpointsFor(p, byService[key])
			out = append(out, sp)
		}
	}
	return out
}

// proxied reports whether kube-proxy makes rules for svc.
func proxied(svc *corev1.Service) bool {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Labels[LabelServiceProxyName] != "" {
		return false
	}
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	return err == nil && ip.Is4() // "None" (headless) and "" fail here
}

func newServicePort(svc *corev1.Service, p corev1.ServicePort) *servicePort {
	name := svc.Namespace + "/" + svc.Name
	if p.Name != "" {
		name += ":" + p.Name
	}
	protocol := p.Protocol
	if protocol == "" {
		protocol = corev1.ProtocolTCP
	}
	sp := &servicePort{
		name:          name,
		protocol:      strings.ToLower(string(protocol)),
		clusterIP:     svc.Spec.ClusterIP,
		port:          p.Port,
		internalLocal: svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal,
	}
	if svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		sp.nodePort = p.NodePort
	}
	for _, ip := range svc.Spec.ExternalIPs {
		if a, err := netip.ParseAddr(ip); err == nil && a.Is4() {
			sp.externalIPs = append(sp.externalIPs, a.String())
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			a, err := netip.ParseAddr(ing.IP)
			// ipMode Proxy: the load balancer sends packets to the
			// nodes with its own address as destination; kube-proxy
			// must not catch traffic to it.
			if err != nil || !a.Is4() || (ing.IPMode != nil && *ing.IPMode == corev1.LoadBalancerIPModeProxy) {
				continue
			}
			sp.loadBalancerIPs = append(sp.loadBalancerIPs, a.String())
		}
		for _, r := range svc.Spec.LoadBalancerSourceRanges {
			if p, err := netip.ParsePrefix(strings.TrimSpace(r)); err == nil && p.Addr().Is4() {
				sp.sourceRanges = append(sp.sourceRanges, p.Masked().String())
			}
		}
	}
	// externalTrafficPolicy only means something for external traffic.
	sp.externalLocal = svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal && sp.externallyAccessible()
	if sp.externalLocal && svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		sp.healthCheckPort = svc.Spec.HealthCheckNodePort
	}
	if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		sp.affinitySeconds = corev1.DefaultClientIPServiceAffinitySeconds // 10800: 3 hours
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			sp.affinitySeconds = *c.ClientIP.TimeoutSeconds
		}
	}
	return sp
}

// endpointsFor collects the endpoints of Service port p from the Service's
// slices. A slice lists addresses once and ports once; the endpoints of p
// are each address with the slice's port of the same name and protocol,
// whose number is the pod's target port (for a named targetPort such as
// "http", the number the endpoints controller found in that pod's
// containers, which may differ from pod to pod).
func endpointsFor(p corev1.ServicePort, serviceSlices []*discoveryv1.EndpointSlice) []endpoint {
	protocol := p.Protocol
	if protocol == "" {
		protocol = corev1.ProtocolTCP
	}
	seen := map[string]int{} // "ip:port" → index in out
	var out []endpoint
	for _, s := range serviceSlices {
		for _, sp := range s.Ports {
			name, proto := "", corev1.ProtocolTCP
			if sp.Name != nil {
				name = *sp.Name
			}
			if sp.Protocol != nil {
				proto = *sp.Protocol
			}
			if name != p.Name || proto != protocol || sp.Port == nil || *sp.Port <= 0 {
				continue
			}
			for _, e := range s.Endpoints {
				if len(e.Addresses) == 0 {
					continue
				}
				ip, err := netip.ParseAddr(e.Addresses[0]) // the only one kube-proxy uses
				if err != nil || !ip.Is4() {
					continue
				}
				ep := endpoint{
					ip:          ip.String(),
					port:        *sp.Port,
					ready:       e.Conditions.Ready == nil || *e.Conditions.Ready,
					serving:     e.Conditions.Serving == nil || *e.Conditions.Serving,
					terminating: e.Conditions.Terminating != nil && *e.Conditions.Terminating,
				}
				if e.NodeName != nil {
					ep.nodeName = *e.NodeName
				}
				// The same pod in two slices (it happens briefly while the
				// controller moves it): keep the readier report.
				if i, ok := seen[ep.String()]; ok {
					if ep.ready && !out[i].ready {
						out[i] = ep
					}
					continue
				}
				seen[ep.String()] = len(out)
				out = append(out, ep)
			}
		}
	}
	slices.SortFunc(out, func(a, b endpoint) int {
		if c := netip.MustParseAddr(a.ip).Compare(netip.MustParseAddr(b.ip)); c != 0 {
			return c
		}
		return int(a.port) - int(b.port)
	})
	return out
}

// categorize picks the endpoints traffic may go to, as Kubernetes does:
//
//   - cluster: the ready endpoints on any node, for traffic policy
//     Cluster;
//   - local: the ready endpoints on this node, for traffic policy Local.
//
// When none is ready, the serving ones that are terminating take their
// place: a Service whose pods are all being replaced keeps answering from
// the old pods until the new ones are ready, rather than refusing.
func (sp *servicePort) categorize(node string) (cluster, local []endpoint) {
	pick := func(onlyLocal bool) []endpoint {
		var ready, terminating []endpoint
		for _, e := range sp.endpoints {
			if onlyLocal && e.nodeName != node {
				continue
			}
			switch {
			case e.ready:
				ready = append(ready, e)
			case e.serving && e.terminating:
				terminating = append(terminating, e)
			}
		}
		if len(ready) > 0 {
			return ready
		}
		return terminating
	}
	return pick(false), pick(true)
}
