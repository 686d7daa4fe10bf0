package dns

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	miekg "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The answers, section by section of the specification.
// Reference: kubernetes/dns docs/specification.md.

func svc(ns, name, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: clusterIP, Ports: ports},
	}
	if clusterIP != corev1.ClusterIPNone {
		s.Spec.ClusterIPs = []string{clusterIP}
	}
	return s
}

func sport(name string, proto corev1.Protocol, port int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: proto, Port: port}
}

type ep struct {
	ip, hostname string
	ready        bool
}

func slice(ns, service string, eps []ep, ports ...corev1.ServicePort) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: service + "-abcde", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, e := range eps {
		ready := e.ready
		out := discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}
		if e.hostname != "" {
			h := e.hostname
			out.Hostname = &h
		}
		s.Endpoints = append(s.Endpoints, out)
	}
	for _, p := range ports {
		p := p
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: &p.Name, Protocol: &p.Protocol, Port: &p.Port})
	}
	return s
}

func pod(ns, name, ip string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
}

// cluster is the snapshot the tests ask.
func cluster() *Snapshot {
	headless := svc("default", "web", corev1.ClusterIPNone, sport("http", corev1.ProtocolTCP, 80))
	publish := svc("default", "publish", corev1.ClusterIPNone, sport("http", corev1.ProtocolTCP, 80))
	publish.Spec.PublishNotReadyAddresses = true
	dual := svc("default", "dual", "10.96.0.70", sport("http", corev1.ProtocolTCP, 80))
	dual.Spec.ClusterIPs = []string{"10.96.0.70", "fd00:10:96::70"}
	ext := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "www.example.com", Ports: []corev1.ServicePort{sport("http", corev1.ProtocolTCP, 80)}}}
	extIn := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "mysql.default.svc.cluster.local"}}
	loop1 := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "loop1", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "loop2.default.svc.cluster.local."}}
	loop2 := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "loop2", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "loop1.default.svc.cluster.local."}}
	services := []*corev1.Service{
		svc("default", "kubernetes", "10.96.0.1", sport("https", corev1.ProtocolTCP, 443)),
		svc("default", "mysql", "10.96.0.50", sport("mysql", corev1.ProtocolTCP, 3306)),
		svc("my-ns", "my-service", "10.96.0.60", sport("http", corev1.ProtocolTCP, 80), sport("dns", corev1.ProtocolUDP, 53), sport("", corev1.ProtocolTCP, 8080)),
		headless, publish, dual, ext, extIn, loop1, loop2,
		svc("default", "empty", corev1.ClusterIPNone, sport("http", corev1.ProtocolTCP, 80)),
	}
	slices := []*discoveryv1.EndpointSlice{
		slice("default", "web", []ep{
			{"10.244.1.10", "web-0", true}, {"10.244.2.11", "web-1", true},
			{"10.244.1.12", "", true}, {"10.244.2.13", "web-3", false},
		}, sport("http", corev1.ProtocolTCP, 8080)),
		slice("default", "publish", []ep{{"10.244.1.30", "", false}}, sport("http", corev1.ProtocolTCP, 8080)),
		slice("default", "empty", []ep{{"10.244.1.40", "", false}}, sport("http", corev1.ProtocolTCP, 8080)),
		// The slice of a ClusterIP Service names no endpoint in DNS.
		slice("default", "mysql", []ep{{"10.244.2.50", "", true}}, sport("mysql", corev1.ProtocolTCP, 3306)),
	}
	hostNet := pod("default", "on-host", "10.200.0.11")
	hostNet.Spec.HostNetwork = true
	pods := []*corev1.Pod{pod("default", "web-0", "10.244.1.10"), pod("default", "client", "10.244.1.20"), pod("other", "mysql-x", "10.244.2.50"), hostNet}
	o := Options{
		Domain: "cluster.local", DNSAddress: netip.MustParseAddr("10.96.0.10"),
		ReverseCIDRs: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12"), netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:10:96::/112")},
	}
	return NewSnapshot(o, services, slices, pods, 42)
}

// qa is a question and the reply it should get. Records are written as
// miekg prints them, with spaces for tabs; ns is the authority section's
// owner and type only ("cluster.local. SOA").
type qa struct {
	name    string
	qtype   uint16
	rcode   int
	answer  []string
	ns      []string
	extra   []string
	forward bool
	chase   string
}

func rrStrings(rrs []miekg.RR, brief bool) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == miekg.TypeOPT {
			continue
		}
		if brief {
			out = append(out, rr.Header().Name+" "+miekg.TypeToString[rr.Header().Rrtype])
			continue
		}
		out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	return out
}

func ask(s *Snapshot, name string, qtype uint16) Reply {
	req := new(miekg.Msg)
	req.SetQuestion(name, qtype)
	return s.Answer(req)
}

func check(t *testing.T, s *Snapshot, cases []qa) {
	t.Helper()
	for _, c := range cases {
		r := ask(s, c.name, c.qtype)
		label := c.name + " " + miekg.TypeToString[c.qtype]
		if c.forward {
			if !r.Forward || r.Msg != nil {
				t.Errorf("%s: want it forwarded upstream, got %v", label, r.Msg)
			}
			continue
		}
		if r.Forward {
			t.Errorf("%s: forwarded upstream, want an answer", label)
			continue
		}
		m := r.Msg
		if m.Rcode != c.rcode {
			t.Errorf("%s: rcode %s, want %s", label, miekg.RcodeToString[m.Rcode], miekg.RcodeToString[c.rcode])
		}
		if !m.Authoritative && m.Rcode != miekg.RcodeRefused {
			t.Errorf("%s: not authoritative", label)
		}
		if d := cmp.Diff(c.answer, rrStrings(m.Answer, false)); d != "" {
			t.Errorf("%s: answer (-want +got):\n%s", label, d)
		}
		if d := cmp.Diff(c.ns, rrStrings(m.Ns, true)); d != "" {
			t.Errorf("%s: authority (-want +got):\n%s", label, d)
		}
		if d := cmp.Diff(c.extra, rrStrings(m.Extra, false)); d != "" {
			t.Errorf("%s: additional (-want +got):\n%s", label, d)
		}
		if r.Chase != c.chase {
			t.Errorf("%s: chase %q, want %q", label, r.Chase, c.chase)
		}
	}
}

var (
	soaZone = []string{"cluster.local. SOA"}
	ok      = miekg.RcodeSuccess
	nx      = miekg.RcodeNameError
)

// 2.2 - Record for Schema Version.
func TestSchemaVersion(t *testing.T) {
	check(t, cluster(), []qa{
		{name: "dns-version.cluster.local.", qtype: miekg.TypeTXT, rcode: ok,
			answer: []string{`dns-version.cluster.local. 5 IN TXT "1.1.0"`}},
		{name: "dns-version.cluster.local.", qtype: miekg.TypeA, rcode: ok, ns: soaZone},
	})
}

// 2.3 - Records for a Service with ClusterIP.
func TestClusterIPService(t *testing.T) {
	check(t, cluster(), []qa{
		// 2.3.1: A (and AAAA, for the IPv6 ClusterIP of a dual-stack Service).
		{name: "kubernetes.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: ok,
			answer: []string{"kubernetes.default.svc.cluster.local. 5 IN A 10.96.0.1"}},
		{name: "my-service.my-ns.svc.cluster.local.", qtype: miekg.TypeA, rcode: ok,
			answer: []string{"my-service.my-ns.svc.cluster.local. 5 IN A 10.96.0.60"}},
		{name: "dual.default.svc.cluster.local.", qtype: miekg.TypeAAAA, rcode: ok,
			answer: []string{"dual.default.svc.cluster.local. 5 IN AAAA fd00:10:96::70"}},
		{name: "dual.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: ok,
			answer: []string{"dual.default.svc.cluster.local. 5 IN A 10.96.0.70"}},
		// An IPv4-only Service has no AAAA: NODATA, not NXDOMAIN, so a
		// resolver asking A and AAAA side by side keeps the A.
		{name: "mysql.default.svc.cluster.local.", qtype: miekg.TypeAAAA, rcode: ok, ns: soaZone},
		// 2.3.2: SRV per named port, the Service's A in additional.
		{name: "_https._tcp.kubernetes.default.svc.cluster.local.", qtype: miekg.TypeSRV, rcode: ok,
			answer: []string{"_https._tcp.kubernetes.default.svc.cluster.local. 5 IN SRV 0 100 443 kubernetes.default.svc.cluster.local."},
			extra:  []string{"kubernetes.default.svc.cluster.local. 5 IN A 10.96.0.1"}},
		{name: "_http._tcp.my-service.my-ns.svc.cluster.local.", qtype: miekg.TypeSRV, rcode: ok,
			answer: []string{"_http._tcp.my-service.my-ns.svc.cluster.local. 5 IN SRV 0 100 80 my-service.my-ns.svc.cluster.local."},
			extra:  []string{"my-service.my-ns.svc.cluster.local. 5 IN A 10.96.0.60"}},
		{name: "_dns._udp.my-service.my-ns.svc.cluster.local.", qtype: miekg.TypeSRV, rcode: ok,
			answer: []string{"_dns._udp.my-service.my-ns.svc.cluster.local. 5 IN SRV 0 100 53 my-service.my-ns.svc.cluster.local."},
			extra:  []string{"my-service.my-ns.svc.cluster.local. 5 IN A 10.96.0.60"}},
		// The wrong protocol, an unknown name: no such record.
		{name: "_http._udp.my-service.my-ns.svc.cluster.local.", qtype: miekg.TypeSRV, rcode: nx, ns: soaZone},
		{name: "_nope._tcp.my-service.my-ns.svc.cluster.local.", qtype: miekg.TypeSRV, rcode: nx, ns: soaZone},
		// _tcp.<service> exists (it has SRV names below it); _sctp does not.
		{name: "_tcp.my-service.my-ns.svc.cluster.local.", qtype: miekg.TypeSRV, rcode: ok, ns: soaZone},
		{name: "_sctp.my-service.my-ns.svc.cluster.local.", qtype: miekg.TypeSRV, rcode: nx, ns: soaZone},
		// 2.3.3: PTR for the ClusterIP.
		{name: "1.0.96.10.in-addr.arpa.", qtype: miekg.TypePTR, rcode: ok,
			answer: []string{"1.0.96.10.in-addr.arpa. 5 IN PTR kubernetes.default.svc.cluster.local."}},
		{name: "50.0.96.10.in-addr.arpa.", qtype: miekg.TypePTR, rcode: ok,
			answer: []string{"50.0.96.10.in-addr.arpa. 5 IN PTR mysql.default.svc.cluster.local."}},
		{name: "0.7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.", qtype: miekg.TypePTR, rcode: ok,
			answer: []string{"0.7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa. 5 IN PTR dual.default.svc.cluster.local."}},
		// An unused service address: NXDOMAIN, the reverse zone's SOA.
		{name: "99.0.96.10.in-addr.arpa.", qtype: miekg.TypePTR, rcode: nx, ns: []string{"10.in-addr.arpa. SOA"}},
		// No endpoint names under a ClusterIP Service.
		{name: "10-244-2-50.mysql.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: nx, ns: soaZone},
	})
}

// 2.4 - Records for a Headless Service.
func TestHeadlessService(t *testing.T) {
	check(t, cluster(), []qa{
		// 2.4.1: an A record per ready endpoint; web-3 is not ready.
		{name: "web.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: ok, answer: []string{
			"web.default.svc.cluster.local. 5 IN A 10.244.1.12",
			"web.default.svc.cluster.local. 5 IN A 10.244.1.10",
			"web.default.svc.cluster.local. 5 IN A 10.244.2.11",
		}},
		// ... and one per hostname: a StatefulSet's pods by name.
		{name: "web-0.web.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: ok,
			answer: []string{"web-0.web.default.svc.cluster.local. 5 IN A 10.244.1.10"}},
		{name: "web-1.web.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: ok,
			answer: []string{"web-1.web.default.svc.cluster.local. 5 IN A 10.244.2.11"}},
		// An endpoint without a hostname is named by its address.
		{name: "10-244-1-12.web.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: ok,
			answer: []string{"10-244-1-12.web.default.svc.cluster.local. 5 IN A 10.244.1.12"}},
		{name: "web-3.web.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: nx, ns: soaZone},
		// "If there are no ready endpoints for the headless Service, the
		// answer should be NXDOMAIN."
		{name: "empty.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: nx, ns: soaZone},
		// publishNotReadyAddresses makes every endpoint count as ready.
		{name: "publish.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: ok,
			answer: []string{"publish.default.svc.cluster.local. 5 IN A 10.244.1.30"}},
		// 2.4.2: SRV per ready endpoint and named port, pointing at the
		// endpoint's name, with its target port; the addresses in
		// additional.
		{name: "_http._tcp.web.default.svc.cluster.local.", qtype: miekg.TypeSRV, rcode: ok, answer: []string{
			"_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 33 8080 10-244-1-12.web.default.svc.cluster.local.",
			"_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 33 8080 web-0.web.default.svc.cluster.local.",
			"_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 33 8080 web-1.web.default.svc.cluster.local.",
		}, extra: []string{
			"10-244-1-12.web.default.svc.cluster.local. 5 IN A 10.244.1.12",
			"web-0.web.default.svc.cluster.local. 5 IN A 10.244.1.10",
			"web-1.web.default.svc.cluster.local. 5 IN A 10.244.2.11",
		}},
		// 2.4.3: PTR for a ready endpoint names it under its Service.
		{name: "10.1.244.10.in-addr.arpa.", qtype: miekg.TypePTR, rcode: ok,
			answer: []string{"10.1.244.10.in-addr.arpa. 5 IN PTR web-0.web.default.svc.cluster.local."}},
		{name: "12.1.244.10.in-addr.arpa.", qtype: miekg.TypePTR, rcode: ok,
			answer: []string{"12.1.244.10.in-addr.arpa. 5 IN PTR 10-244-1-12.web.default.svc.cluster.local."}},
	})
}

// 2.5 - Records for External Name Services.
func TestExternalNameService(t *testing.T) {
	check(t, cluster(), []qa{
		// A CNAME for every type; the outside target is for the caller to
		// chase upstream.
		{name: "ext.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: ok,
			answer: []string{"ext.default.svc.cluster.local. 5 IN CNAME www.example.com."}, chase: "www.example.com."},
		{name: "ext.default.svc.cluster.local.", qtype: miekg.TypeCNAME, rcode: ok,
			answer: []string{"ext.default.svc.cluster.local. 5 IN CNAME www.example.com."}},
		// SRV of its named ports point at the external name.
		{name: "_http._tcp.ext.default.svc.cluster.local.", qtype: miekg.TypeSRV, rcode: ok,
			answer: []string{"_http._tcp.ext.default.svc.cluster.local. 5 IN SRV 0 100 80 www.example.com."}},
		// A target inside the cluster is followed at once.
		{name: "db.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: ok, answer: []string{
			"db.default.svc.cluster.local. 5 IN CNAME mysql.default.svc.cluster.local.",
			"mysql.default.svc.cluster.local. 5 IN A 10.96.0.50",
		}},
		// A loop of CNAMEs ends in SERVFAIL, not in an endless answer.
		{name: "loop1.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: miekg.RcodeServerFailure, answer: []string{
			"loop1.default.svc.cluster.local. 5 IN CNAME loop2.default.svc.cluster.local.",
			"loop2.default.svc.cluster.local. 5 IN CNAME loop1.default.svc.cluster.local.",
			"loop1.default.svc.cluster.local. 5 IN CNAME loop2.default.svc.cluster.local.",
			"loop2.default.svc.cluster.local. 5 IN CNAME loop1.default.svc.cluster.local.",
			"loop1.default.svc.cluster.local. 5 IN CNAME loop2.default.svc.cluster.local.",
			"loop2.default.svc.cluster.local. 5 IN CNAME loop1.default.svc.cluster.local.",
			"loop1.default.svc.cluster.local. 5 IN CNAME loop2.default.svc.cluster.local.",
			"loop2.default.svc.cluster.local. 5 IN CNAME loop1.default.svc.cluster.local.",
			"loop1.default.svc.cluster.local. 5 IN CNAME loop2.default.svc.cluster.local.",
		}},
	})
}

// 2.6 - Deprecated Records: pods by address, for any address, and the
// pods' PTR records that point back at them.
func TestPodRecords(t *testing.T) {
	check(t, cluster(), []qa{
		{name: "10-244-1-20.default.pod.cluster.local.", qtype: miekg.TypeA, rcode: ok,
			answer: []string{"10-244-1-20.default.pod.cluster.local. 5 IN A 10.244.1.20"}},
		{name: "1-2-3-4.anything.pod.cluster.local.", qtype: miekg.TypeA, rcode: ok,
			answer: []string{"1-2-3-4.anything.pod.cluster.local. 5 IN A 1.2.3.4"}},
		{name: "1-2-3-4.anything.pod.cluster.local.", qtype: miekg.TypeAAAA, rcode: ok, ns: soaZone},
		{name: "fd00--5.default.pod.cluster.local.", qtype: miekg.TypeAAAA, rcode: ok,
			answer: []string{"fd00--5.default.pod.cluster.local. 5 IN AAAA fd00::5"}},
		{name: "1-2-3.default.pod.cluster.local.", qtype: miekg.TypeA, rcode: nx, ns: soaZone},
		{name: "1-2-3-400.default.pod.cluster.local.", qtype: miekg.TypeA, rcode: nx, ns: soaZone},
		{name: "client.default.pod.cluster.local.", qtype: miekg.TypeA, rcode: nx, ns: soaZone},
		// PTR: a pod in no headless Service points at its pod record...
		{name: "20.1.244.10.in-addr.arpa.", qtype: miekg.TypePTR, rcode: ok,
			answer: []string{"20.1.244.10.in-addr.arpa. 5 IN PTR 10-244-1-20.default.pod.cluster.local."}},
		{name: "50.2.244.10.in-addr.arpa.", qtype: miekg.TypePTR, rcode: ok,
			answer: []string{"50.2.244.10.in-addr.arpa. 5 IN PTR 10-244-2-50.other.pod.cluster.local."}},
		// ... a pod address nobody has is no name.
		{name: "99.1.244.10.in-addr.arpa.", qtype: miekg.TypePTR, rcode: nx, ns: []string{"244.10.in-addr.arpa. SOA"}},
	})
}

// NXDOMAIN says the name does not exist, so a resolver goes on down its
// search list; NODATA (NOERROR, no answer) says the name exists without
// records of that type. Both carry the zone's SOA, whose minimum is how
// long the "no" may be cached (RFC 2308).
func TestNegativeAnswers(t *testing.T) {
	s := cluster()
	check(t, s, []qa{
		{name: "nope.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: nx, ns: soaZone},
		{name: "mysql.nope.svc.cluster.local.", qtype: miekg.TypeA, rcode: nx, ns: soaZone},
		{name: "nope.cluster.local.", qtype: miekg.TypeA, rcode: nx, ns: soaZone},
		{name: "a.b.c.d.mysql.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: nx, ns: soaZone},
		// Names with names below them exist, and hold nothing.
		{name: "default.svc.cluster.local.", qtype: miekg.TypeA, rcode: ok, ns: soaZone},
		{name: "svc.cluster.local.", qtype: miekg.TypeA, rcode: ok, ns: soaZone},
		{name: "pod.cluster.local.", qtype: miekg.TypeA, rcode: ok, ns: soaZone},
		{name: "mysql.default.svc.cluster.local.", qtype: miekg.TypeMX, rcode: ok, ns: soaZone},
		// The zone's apex has its SOA and NS; the name server has an address.
		{name: "cluster.local.", qtype: miekg.TypeSOA, rcode: ok,
			answer: []string{"cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5"}},
		{name: "cluster.local.", qtype: miekg.TypeNS, rcode: ok,
			answer: []string{"cluster.local. 5 IN NS ns.dns.cluster.local."}},
		{name: "ns.dns.cluster.local.", qtype: miekg.TypeA, rcode: ok,
			answer: []string{"ns.dns.cluster.local. 5 IN A 10.96.0.10"}},
	})
	m := ask(s, "nope.default.svc.cluster.local.", miekg.TypeA).Msg
	if soa := m.Ns[0].(*miekg.SOA); soa.Minttl != DefaultTTL || soa.Hdr.Ttl != DefaultTTL || soa.Serial != 42 {
		t.Errorf("SOA in a negative answer: %v; want TTL and minimum %d, serial 42", soa, DefaultTTL)
	}
}

// The names a pod's resolver tries, with the search list the kubelet
// writes (search default.svc.cluster.local svc.cluster.local
// cluster.local, ndots:5): every short name ends at the Service.
// Reference: chapters/07-dns/README.md, "Search paths and ndots".
func TestSearchPath(t *testing.T) {
	s := cluster()
	search := []string{"default.svc.cluster.local.", "svc.cluster.local.", "cluster.local."}
	for _, c := range []struct{ typed, found string }{
		{"mysql", "mysql.default.svc.cluster.local."},
		{"mysql.default", "mysql.default.svc.cluster.local."},
		{"my-service.my-ns", "my-service.my-ns.svc.cluster.local."},
		{"mysql.default.svc", "mysql.default.svc.cluster.local."},
		{"mysql.default.svc.cluster.local", "mysql.default.svc.cluster.local."},
		{"web-0.web", "web-0.web.default.svc.cluster.local."},
	} {
		// Fewer than 5 dots: the search list first, in order, then the
		// name as it is; the first answer that is not NXDOMAIN wins.
		var tried []string
		found := ""
		for _, suffix := range append(search, "") {
			name := c.typed + "." + suffix
			tried = append(tried, name)
			r := ask(s, name, miekg.TypeA)
			if r.Forward {
				continue // upstream would say NXDOMAIN for these
			}
			if r.Msg.Rcode == miekg.RcodeSuccess && len(r.Msg.Answer) > 0 {
				found = name
				break
			}
			if r.Msg.Rcode != miekg.RcodeNameError {
				t.Errorf("%s: %s is %s, not NXDOMAIN: the search would stop there", c.typed, name, miekg.RcodeToString[r.Msg.Rcode])
			}
		}
		if found != c.found {
			t.Errorf("%s: found at %q, want %q (tried %v)", c.typed, found, c.found, tried)
		}
	}
}

// Questions that are not about the cluster go upstream: other names,
// reverse names outside the service and pod ranges.
func TestForwarded(t *testing.T) {
	check(t, cluster(), []qa{
		{name: "www.example.com.", qtype: miekg.TypeA, forward: true},
		{name: "mysql.default.svc.", qtype: miekg.TypeA, forward: true},
		{name: "local.", qtype: miekg.TypeA, forward: true},
		{name: "notcluster.local.", qtype: miekg.TypeA, forward: true},
		{name: "10.0.200.10.in-addr.arpa.", qtype: miekg.TypePTR, forward: true},
		{name: "8.8.8.8.in-addr.arpa.", qtype: miekg.TypePTR, forward: true},
		{name: "96.10.in-addr.arpa.", qtype: miekg.TypePTR, forward: true},
	})
}

// The message around the answer: the question's case comes back as
// asked (names compare case-insensitively), EDNS0 is answered, bad
// requests get the code that says why, never a panic.
func TestMessage(t *testing.T) {
	s := cluster()
	check(t, s, []qa{
		{name: "MySQL.Default.SVC.cluster.LOCAL.", qtype: miekg.TypeA, rcode: ok,
			answer: []string{"MySQL.Default.SVC.cluster.LOCAL. 5 IN A 10.96.0.50"}},
		{name: "cluster.local.", qtype: miekg.TypeAXFR, rcode: miekg.RcodeRefused},
		{name: "mysql.default.svc.cluster.local.", qtype: miekg.TypeANY, rcode: ok,
			answer: []string{"mysql.default.svc.cluster.local. 5 IN A 10.96.0.50"}},
	})

	req := new(miekg.Msg)
	req.SetQuestion("mysql.default.svc.cluster.local.", miekg.TypeA)
	req.Id = 4242
	req.SetEdns0(4096, false)
	m := s.Answer(req).Msg
	if m.Id != 4242 || !m.Response || !m.RecursionDesired || !m.RecursionAvailable {
		t.Errorf("header: %+v", m.MsgHdr)
	}
	if opt := m.IsEdns0(); opt == nil || opt.UDPSize() != MaxUDPSize {
		t.Errorf("EDNS0 in the reply: %v, want UDP size %d", opt, MaxUDPSize)
	}
	req.IsEdns0().SetVersion(1)
	if m := s.Answer(req).Msg; m.Rcode != miekg.RcodeBadVers {
		t.Errorf("EDNS version 1: rcode %s, want BADVERS", miekg.RcodeToString[m.Rcode])
	}

	chaos := new(miekg.Msg)
	chaos.SetQuestion("version.cluster.local.", miekg.TypeTXT)
	chaos.Question[0].Qclass = miekg.ClassCHAOS
	if m := s.Answer(chaos).Msg; m.Rcode != miekg.RcodeRefused {
		t.Errorf("class CHAOS: rcode %s, want REFUSED", miekg.RcodeToString[m.Rcode])
	}
	update := new(miekg.Msg)
	update.SetUpdate("cluster.local.")
	if m := s.Answer(update).Msg; m.Rcode != miekg.RcodeNotImplemented {
		t.Errorf("UPDATE: rcode %s, want NOTIMP", miekg.RcodeToString[m.Rcode])
	}
	two := new(miekg.Msg)
	two.SetQuestion("mysql.default.svc.cluster.local.", miekg.TypeA)
	two.Question = append(two.Question, two.Question[0])
	if m := s.Answer(two).Msg; m.Rcode != miekg.RcodeFormatError {
		t.Errorf("two questions: rcode %s, want FORMERR", miekg.RcodeToString[m.Rcode])
	}
	none := new(miekg.Msg)
	none.Id = 7
	if m := s.Answer(none).Msg; m.Rcode != miekg.RcodeFormatError {
		t.Errorf("no question: rcode %s, want FORMERR", miekg.RcodeToString[m.Rcode])
	}
}

// The snapshot reads the cluster's objects once and keeps none: changing
// them afterwards changes no answer.
func TestSnapshotKeepsNoObject(t *testing.T) {
	s := svc("default", "mysql", "10.96.0.50", sport("mysql", corev1.ProtocolTCP, 3306))
	snap := NewSnapshot(Options{Domain: "cluster.local"}, []*corev1.Service{s}, nil, nil, 1)
	s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.Ports[0].Name = "10.96.0.99", []string{"10.96.0.99"}, "changed"
	check(t, snap, []qa{
		{name: "mysql.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: ok,
			answer: []string{"mysql.default.svc.cluster.local. 5 IN A 10.96.0.50"}},
		{name: "_mysql._tcp.mysql.default.svc.cluster.local.", qtype: miekg.TypeSRV, rcode: ok,
			answer: []string{"_mysql._tcp.mysql.default.svc.cluster.local. 5 IN SRV 0 100 3306 mysql.default.svc.cluster.local."},
			extra:  []string{"mysql.default.svc.cluster.local. 5 IN A 10.96.0.50"}},
	})
}

func TestDashed(t *testing.T) {
	for _, c := range []struct {
		label string
		addr  string // "" for no address
	}{
		{"10-244-1-5", "10.244.1.5"}, {"fd00--5", "fd00::5"}, {"1-2-3", ""}, {"web-0", ""},
		{"1-2-3-4-5", ""}, {"256-1-1-1", ""}, {"--", "::"}, {"", ""},
	} {
		a, ok := undashed(c.label)
		if got := map[bool]string{true: a.String(), false: ""}[ok]; got != c.addr {
			t.Errorf("undashed(%q) = %q, want %q", c.label, got, c.addr)
		}
		if ok && dashed(a) != c.label {
			t.Errorf("dashed(%s) = %q, want %q", a, dashed(a), c.label)
		}
	}
}

// Any question, however odd, gets a reply or goes upstream: never a
// panic, never a reply without a code.
func FuzzAnswer(f *testing.F) {
	for _, seed := range []string{
		"mysql.default.svc.cluster.local.", "_http._tcp.web.default.svc.cluster.local.", "1-2-3-4.x.pod.cluster.local.",
		"1.0.96.10.in-addr.arpa.", "..cluster.local.", "_._.svc.cluster.local.", "cluster.local.", "-.pod.cluster.local.",
		"0.7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.", "x.in-addr.arpa.",
	} {
		f.Add(seed, uint16(miekg.TypeA))
	}
	s := cluster()
	f.Fuzz(func(t *testing.T, name string, qtype uint16) {
		req := new(miekg.Msg)
		req.SetQuestion(name, qtype)
		r := s.Answer(req)
		if r.Forward == (r.Msg != nil) {
			t.Fatalf("%q %d: forward %v with message %v", name, qtype, r.Forward, r.Msg)
		}
		if r.Msg != nil {
			if _, err := r.Msg.Pack(); err != nil && miekg.IsFqdn(name) && len(name) < 250 {
				t.Logf("%q %d: reply does not pack: %v", name, qtype, err)
			}
		}
	})
}
