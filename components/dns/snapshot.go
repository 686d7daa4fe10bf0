package dns

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// SchemaVersion is the version of the Kubernetes DNS schema these answers
// follow, served as the TXT record dns-version.<zone>. Reference:
// kubernetes/dns docs/specification.md, 2.2 "Record for Schema Version"
// (CoreDNS's kubernetes plugin serves "1.1.0" too).
const SchemaVersion = "1.1.0"

// DefaultTTL is the TTL of every answer from the cluster's records, as in
// CoreDNS's kubernetes plugin: short, because Services and pods change.
const DefaultTTL = 5

// TolerateUnreadyAnnotation is the old way for a Service to publish
// endpoints that are not ready (spec.publishNotReadyAddresses is the new
// one); the specification still names it (2.1, "ready").
const TolerateUnreadyAnnotation = "service.alpha.kubernetes.io/tolerate-unready-endpoints"

// Options are what the answers depend on besides the cluster's objects.
type Options struct {
	// Domain is the cluster domain, "cluster.local".
	Domain string
	// DNSAddress is the cluster DNS Service's address (10.96.0.10): the
	// answer for the zone's name server, ns.dns.<zone>.
	DNSAddress netip.Addr
	// ReverseCIDRs are the address ranges whose PTR questions are the
	// cluster's: the service and pod ranges. A PTR question for any other
	// address goes upstream.
	ReverseCIDRs []netip.Prefix
	// TTL of the records; 0 means DefaultTTL.
	TTL uint32
}

// Snapshot is the cluster's DNS data at one moment: the Services, their
// ready endpoints and the pods' addresses, indexed for answering. It is
// built by NewSnapshot and never changed afterwards, so any number of
// goroutines may answer from it while a newer one is being built.
type Snapshot struct {
	zone     string // "cluster.local.", lower case, fully qualified
	dnsAddr  netip.Addr
	reverse  []reverseZone
	ttl      uint32
	serial   uint32
	services map[string]*service // by "<name>.<namespace>"
	// namespaces that have at least one Service: <ns>.svc.<zone> exists.
	namespaces map[string]bool
	// ptr maps an address to the names it has, for PTR questions.
	ptr map[netip.Addr][]string
}

// reverseZone is a range whose PTR records are ours, and the reverse zone
// named by its whole octets (10.96.0.0/12 → 10.in-addr.arpa.), the owner of
// the SOA record in a negative answer.
type reverseZone struct {
	cidr netip.Prefix
	apex string
}

// serviceKind is what a Service's name resolves to.
type serviceKind int

const (
	kindClusterIP    serviceKind = iota // its ClusterIPs (2.3)
	kindHeadless                        // its ready endpoints' addresses (2.4)
	kindExternalName                    // a CNAME to spec.externalName (2.5)
)

// service is one Service as DNS sees it.
type service struct {
	fqdn         string // <name>.<ns>.svc.<zone>.
	kind         serviceKind
	clusterIPs   []netip.Addr
	externalName string // fully qualified, lower case
	ports        []port
	// endpoints are the ready endpoints of a headless Service, sorted by
	// hostname; nil for the other kinds.
	endpoints []endpoint
}

// port is a named port of a Service or of an EndpointSlice.
type port struct {
	name     string // lower case
	protocol string // "tcp", "udp", "sctp"
	number   uint16
}

// endpoint is a ready endpoint of a headless Service.
type endpoint struct {
	hostname string // the endpoint's hostname, or its address with dashes
	addrs    []netip.Addr
	ports    []port // the named ports of its EndpointSlice (target ports)
}

// NewSnapshot indexes the cluster's Services, EndpointSlices and pods for
// answering. serial is the SOA serial of the answers: callers pass a number
// that grows with every change (a generation count, or Unix seconds). It
// reads the objects and keeps none of them. Pure.
func NewSnapshot(o Options, services []*corev1.Service, slices []*discoveryv1.EndpointSlice, pods []*corev1.Pod, serial uint32) *Snapshot {
	s := &Snapshot{
		zone:       fqdn(o.Domain),
		dnsAddr:    o.DNSAddress,
		ttl:        o.TTL,
		serial:     serial,
		services:   make(map[string]*service, len(services)),
		namespaces: map[string]bool{},
		ptr:        map[netip.Addr][]string{},
	}
	if s.ttl == 0 {
		s.ttl = DefaultTTL
	}
	for _, c := range o.ReverseCIDRs {
		s.reverse = append(s.reverse, reverseZone{cidr: c.Masked(), apex: reverseApex(c)})
	}
	publishUnready := map[string]bool{}
	for _, svc := range services {
		key := strings.ToLower(svc.Name + "." + svc.Namespace)
		e := &service{fqdn: key + ".svc." + s.zone, ports: servicePorts(svc.Spec.Ports)}
		switch {
		case svc.Spec.Type == corev1.ServiceTypeExternalName:
			if svc.Spec.ExternalName == "" {
				continue // not valid; the apiserver refuses it
			}
			e.kind, e.externalName = kindExternalName, fqdn(svc.Spec.ExternalName)
		case svc.Spec.ClusterIP == corev1.ClusterIPNone:
			e.kind = kindHeadless
		default:
			e.kind = kindClusterIP
			ips := svc.Spec.ClusterIPs
			if len(ips) == 0 && svc.Spec.ClusterIP != "" {
				ips = []string{svc.Spec.ClusterIP}
			}
			for _, ip := range ips {
				if a, err := netip.ParseAddr(ip); err == nil {
					e.clusterIPs = append(e.clusterIPs, a)
					s.ptr[a] = append(s.ptr[a], e.fqdn)
				}
			}
			if len(e.clusterIPs) == 0 {
				continue // no address yet: nothing to answer
			}
		}
		s.services[key] = e
		s.namespaces[strings.ToLower(svc.Namespace)] = true
		publishUnready[key] = svc.Spec.PublishNotReadyAddresses || svc.Annotations[TolerateUnreadyAnnotation] == "true"
	}

	// The ready endpoints of headless Services, from their EndpointSlices.
	for _, sl := range slices {
		name := sl.Labels[discoveryv1.LabelServiceName]
		key := strings.ToLower(name + "." + sl.Namespace)
		svc := s.services[key]
		if name == "" || svc == nil || svc.kind != kindHeadless {
			continue
		}
		if sl.AddressType != discoveryv1.AddressTypeIPv4 && sl.AddressType != discoveryv1.AddressTypeIPv6 {
			continue // FQDN slices name no address
		}
		ports := slicePorts(sl.Ports)
		for _, ep := range sl.Endpoints {
			// A nil ready condition means ready (the EndpointSlice API).
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready && !publishUnready[key] {
				continue
			}
			var addrs []netip.Addr
			for _, a := range ep.Addresses {
				if ip, err := netip.ParseAddr(a); err == nil {
					addrs = append(addrs, ip)
				}
			}
			if len(addrs) == 0 {
				continue
			}
			host := dashed(addrs[0])
			if ep.Hostname != nil && *ep.Hostname != "" {
				host = strings.ToLower(*ep.Hostname)
			}
			svc.endpoints = addEndpoint(svc.endpoints, endpoint{hostname: host, addrs: addrs, ports: ports})
		}
	}
	for _, svc := range s.services {
		sort.Slice(svc.endpoints, func(i, j int) bool { return svc.endpoints[i].hostname < svc.endpoints[j].hostname })
		for _, ep := range svc.endpoints {
			for _, a := range ep.addrs {
				s.ptr[a] = append(s.ptr[a], ep.hostname+"."+svc.fqdn)
			}
		}
	}

	// Every other running pod's address points back at its pod record,
	// a-b-c-d.<ns>.pod.<zone> (2.6), which resolves to it again.
	for _, pod := range pods {
		if pod.Spec.HostNetwork || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		ips := pod.Status.PodIPs
		if len(ips) == 0 && pod.Status.PodIP != "" {
			ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
		}
		for _, ip := range ips {
			a, err := netip.ParseAddr(ip.IP)
			if err != nil || len(s.ptr[a]) > 0 {
				continue
			}
			s.ptr[a] = []string{dashed(a) + "." + strings.ToLower(pod.Namespace) + ".pod." + s.zone}
		}
	}
	for a, names := range s.ptr {
		sort.Strings(names)
		s.ptr[a] = dedup(names)
	}
	return s
}

// Services is how many Services the snapshot answers for.
func (s *Snapshot) Services() int { return len(s.services) }

// addEndpoint adds ep, merging it into an endpoint of the same hostname
// (the same pod can sit in two slices while they are rewritten).
func addEndpoint(eps []endpoint, ep endpoint) []endpoint {
	for i := range eps {
		if eps[i].hostname != ep.hostname {
			continue
		}
		for _, a := range ep.addrs {
			if !containsAddr(eps[i].addrs, a) {
				eps[i].addrs = append(eps[i].addrs, a)
			}
		}
		for _, p := range ep.ports {
			if !containsPort(eps[i].ports, p) {
				eps[i].ports = append(eps[i].ports, p)
			}
		}
		return eps
	}
	return append(eps, ep)
}

func containsAddr(as []netip.Addr, a netip.Addr) bool {
	for _, b := range as {
		if a == b {
			return true
		}
	}
	return false
}

func containsPort(ps []port, p port) bool {
	for _, q := range ps {
		if p == q {
			return true
		}
	}
	return false
}

// servicePorts are a Service's named ports; unnamed ports have no SRV
// record (2.3.2).
func servicePorts(ps []corev1.ServicePort) []port {
	var out []port
	for _, p := range ps {
		if p.Name == "" || p.Port <= 0 || p.Port > 65535 {
			continue
		}
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		out = append(out, port{name: strings.ToLower(p.Name), protocol: strings.ToLower(string(proto)), number: uint16(p.Port)})
	}
	return out
}

// slicePorts are an EndpointSlice's named ports.
func slicePorts(ps []discoveryv1.EndpointPort) []port {
	var out []port
	for _, p := range ps {
		if p.Name == nil || *p.Name == "" || p.Port == nil || *p.Port <= 0 || *p.Port > 65535 {
			continue
		}
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		out = append(out, port{name: strings.ToLower(*p.Name), protocol: strings.ToLower(string(proto)), number: uint16(*p.Port)})
	}
	return out
}

// dashed writes an address as one DNS label: 10.244.1.5 → 10-244-1-5,
// fd00::5 → fd00--5. It is the hostname of an endpoint that has none, and
// the first label of a pod record.
func dashed(a netip.Addr) string {
	if a.Is4() {
		return strings.ReplaceAll(a.String(), ".", "-")
	}
	return strings.ReplaceAll(a.String(), ":", "-")
}

// undashed reads a label written by dashed; ok is false if it is no
// address.
func undashed(label string) (netip.Addr, bool) {
	if strings.Count(label, "-") == 3 && !strings.Contains(label, "--") {
		a, err := netip.ParseAddr(strings.ReplaceAll(label, "-", "."))
		return a, err == nil && a.Is4()
	}
	a, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ":"))
	return a, err == nil && a.Is6() && !a.Is4In6()
}

// fqdn lower-cases name and makes it fully qualified.
func fqdn(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// reverseApex names the reverse zone of the whole octets (or nibbles) of
// a range: 10.244.0.0/16 → 244.10.in-addr.arpa., 10.96.0.0/12 →
// 10.in-addr.arpa.
func reverseApex(p netip.Prefix) string {
	b := p.Addr().AsSlice()
	var labels []string
	if p.Addr().Is4() {
		for i := 0; i < p.Bits()/8; i++ {
			labels = append([]string{strconv.Itoa(int(b[i]))}, labels...)
		}
		return strings.Join(append(labels, "in-addr.arpa."), ".")
	}
	const hex = "0123456789abcdef"
	for i := 0; i < p.Bits()/4; i++ {
		nibble := b[i/2] >> 4
		if i%2 == 1 {
			nibble = b[i/2] & 0xf
		}
		labels = append([]string{string(hex[nibble])}, labels...)
	}
	return strings.Join(append(labels, "ip6.arpa."), ".")
}

func dedup(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
