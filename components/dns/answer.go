package dns

import (
	"net/netip"
	"strings"

	miekg "github.com/miekg/dns"
)

// MaxUDPSize is the largest UDP reply this server sends to a client that
// offers more (EDNS0): 1232 bytes, the size the DNS community settled on
// to stay clear of IP fragmentation (DNS Flag Day 2020).
const MaxUDPSize = 1232

// maxChase is how many CNAMEs in a row the answer follows inside the
// cluster's zone before it gives up (a loop of ExternalName Services).
const maxChase = 8

// Reply is the answer to one request, and what the caller must still do
// with it, in this order:
//
//  1. If Forward is set, the question is not the cluster's: send the
//     request to the upstream servers and relay their answer (Msg is nil).
//  2. If Chase is set, Msg's answer ends in a CNAME to a name outside the
//     cluster (an ExternalName Service): the caller may ask upstream for
//     Chase (same type) and append those records to Msg.Answer; if it
//     cannot, Msg stands as it is.
//  3. Send Msg, truncated to what the transport allows (Msg.Truncate for
//     UDP).
type Reply struct {
	Msg     *miekg.Msg
	Forward bool
	Chase   string
}

// node is what a name holds, by record type. exists is false for a name
// that does not exist at all (NXDOMAIN); a name can exist and hold no
// record of the type asked for (NODATA: NOERROR with an empty answer).
type node struct {
	exists bool
	addrs  []netip.Addr // A (IPv4) and AAAA (IPv6)
	cname  string
	txt    string
	srv    []srvTarget
	ptr    []string
	apex   bool // SOA and NS
}

type srvTarget struct {
	target string
	port   uint16
}

// Answer answers req from the snapshot: the reply's code, answer,
// authority (the zone's SOA in a negative answer) and additional
// sections. Pure: it reads the snapshot and req and changes neither.
//
// Reference: kubernetes/dns docs/specification.md; the section that
// defines each name is cited where the name is read (lookupCluster).
func (s *Snapshot) Answer(req *miekg.Msg) Reply {
	m := new(miekg.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(MaxUDPSize, false)
		if opt.Version() != 0 {
			// RFC 6891 6.1.3: we speak EDNS version 0 only.
			m.Rcode = miekg.RcodeBadVers
			return Reply{Msg: m}
		}
	}
	if req.Opcode != miekg.OpcodeQuery {
		m.Rcode = miekg.RcodeNotImplemented
		return Reply{Msg: m}
	}
	if len(req.Question) != 1 {
		m.Rcode = miekg.RcodeFormatError
		return Reply{Msg: m}
	}
	q := req.Question[0]
	n, apex, ours := s.lookup(strings.ToLower(q.Name))
	if !ours {
		return Reply{Forward: true}
	}
	switch {
	case q.Qclass != miekg.ClassINET && q.Qclass != miekg.ClassANY:
		m.Rcode = miekg.RcodeRefused
		return Reply{Msg: m}
	case q.Qtype == miekg.TypeAXFR || q.Qtype == miekg.TypeIXFR:
		m.Rcode = miekg.RcodeRefused // no zone transfers
		return Reply{Msg: m}
	}
	m.Authoritative = true
	return Reply{Msg: m, Chase: s.fill(m, q.Name, q.Qtype, n, apex, 0)}
}

// fill writes the answer to (name, qtype), whose node is n in the zone
// apex, into m. It returns the outside name a CNAME chain ends in, if any.
func (s *Snapshot) fill(m *miekg.Msg, name string, qtype uint16, n node, apex string, depth int) string {
	if !n.exists {
		m.Rcode = miekg.RcodeNameError
		m.Ns = []miekg.RR{s.soa(apex)}
		return ""
	}
	if n.cname != "" && qtype != miekg.TypeCNAME {
		// RFC 1034 3.6.2: a CNAME answers every type; the resolver goes
		// on with its target. Inside the cluster we go on ourselves.
		m.Answer = append(m.Answer, &miekg.CNAME{Hdr: s.hdr(name, miekg.TypeCNAME), Target: n.cname})
		next, nextApex, ours := s.lookup(n.cname)
		switch {
		case !ours:
			return n.cname
		case depth >= maxChase:
			m.Rcode = miekg.RcodeServerFailure
			return ""
		}
		return s.fill(m, n.cname, qtype, next, nextApex, depth+1)
	}
	rrs := s.records(name, qtype, n)
	if len(rrs) == 0 {
		m.Ns = []miekg.RR{s.soa(apex)} // NODATA (RFC 2308 2.2)
		return ""
	}
	m.Answer = append(m.Answer, rrs...)
	// 2.3.2, 2.4.2: the additional section may hold the addresses the SRV
	// records point at, saving the client a question.
	for _, rr := range rrs {
		if srv, ok := rr.(*miekg.SRV); ok {
			if t, _, ours := s.lookup(srv.Target); ours {
				m.Extra = append(m.Extra, s.addressRecords(srv.Target, miekg.TypeANY, t.addrs)...)
			}
		}
	}
	return ""
}

// records are n's records of type qtype (every type for ANY), owned by
// name.
func (s *Snapshot) records(name string, qtype uint16, n node) []miekg.RR {
	all := qtype == miekg.TypeANY
	var out []miekg.RR
	if qtype == miekg.TypeA || qtype == miekg.TypeAAAA || all {
		out = append(out, s.addressRecords(name, qtype, n.addrs)...)
	}
	if (qtype == miekg.TypeCNAME || all) && n.cname != "" {
		out = append(out, &miekg.CNAME{Hdr: s.hdr(name, miekg.TypeCNAME), Target: n.cname})
	}
	if (qtype == miekg.TypeTXT || all) && n.txt != "" {
		out = append(out, &miekg.TXT{Hdr: s.hdr(name, miekg.TypeTXT), Txt: []string{n.txt}})
	}
	if qtype == miekg.TypeSRV || all {
		weight := uint16(100)
		if len(n.srv) > 1 {
			weight = uint16(max(1, 100/len(n.srv)))
		}
		for _, t := range n.srv {
			out = append(out, &miekg.SRV{Hdr: s.hdr(name, miekg.TypeSRV), Priority: 0, Weight: weight, Port: t.port, Target: t.target})
		}
	}
	if qtype == miekg.TypePTR || all {
		for _, p := range n.ptr {
			out = append(out, &miekg.PTR{Hdr: s.hdr(name, miekg.TypePTR), Ptr: p})
		}
	}
	if n.apex && (qtype == miekg.TypeSOA || all) {
		out = append(out, s.soa(name))
	}
	if n.apex && (qtype == miekg.TypeNS || all) {
		out = append(out, &miekg.NS{Hdr: s.hdr(name, miekg.TypeNS), Ns: "ns.dns." + s.zone})
	}
	return out
}

// addressRecords are A records for the IPv4 addresses and AAAA records for
// the IPv6 ones, as qtype asks (TypeANY: both).
func (s *Snapshot) addressRecords(name string, qtype uint16, addrs []netip.Addr) []miekg.RR {
	var out []miekg.RR
	for _, a := range addrs {
		switch {
		case a.Is4() && (qtype == miekg.TypeA || qtype == miekg.TypeANY):
			out = append(out, &miekg.A{Hdr: s.hdr(name, miekg.TypeA), A: a.AsSlice()})
		case a.Is6() && (qtype == miekg.TypeAAAA || qtype == miekg.TypeANY):
			out = append(out, &miekg.AAAA{Hdr: s.hdr(name, miekg.TypeAAAA), AAAA: a.AsSlice()})
		}
	}
	return out
}

func (s *Snapshot) hdr(name string, t uint16) miekg.RR_Header {
	return miekg.RR_Header{Name: name, Rrtype: t, Class: miekg.ClassINET, Ttl: s.ttl}
}

// soa is the zone's SOA record, owned by its apex. In a negative answer
// its TTL and minimum say how long a resolver may remember the "no"
// (RFC 2308): the records' TTL, so a Service created a moment later is
// found at once.
func (s *Snapshot) soa(apex string) miekg.RR {
	return &miekg.SOA{
		Hdr:     s.hdr(apex, miekg.TypeSOA),
		Ns:      "ns.dns." + s.zone,
		Mbox:    "hostmaster." + s.zone,
		Serial:  s.serial,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  s.ttl,
	}
}

// lookup finds what name (lower case, fully qualified) holds. ours is
// false for a name the cluster does not answer for, which goes upstream;
// apex is the zone the name is in.
func (s *Snapshot) lookup(name string) (n node, apex string, ours bool) {
	if rest, ok := under(name, s.zone); ok {
		return s.lookupCluster(rest), s.zone, true
	}
	if ip, ok := parseReverse(name); ok {
		// 2.3.3, 2.4.3: PTR records for the service and pod ranges.
		for _, z := range s.reverse {
			if z.cidr.Contains(ip) {
				names := s.ptr[ip]
				return node{exists: len(names) > 0, ptr: names}, z.apex, true
			}
		}
	}
	return node{}, "", false
}

// under returns what is left of name before zone ("" for the zone
// itself), if name is in zone.
func under(name, zone string) (string, bool) {
	switch {
	case name == zone:
		return "", true
	case strings.HasSuffix(name, zone) && name[len(name)-len(zone)-1] == '.':
		return name[:len(name)-len(zone)-1], true
	}
	return "", false
}

// lookupCluster finds a name in the cluster's zone, given by the part
// before the zone: "mysql.default.svc" for mysql.default.svc.cluster.local.
func (s *Snapshot) lookupCluster(rest string) node {
	if rest == "" {
		return node{exists: true, apex: true}
	}
	labels := strings.Split(rest, ".")
	last, inner := labels[len(labels)-1], labels[:len(labels)-1]
	switch {
	case rest == "dns-version":
		// 2.2: dns-version.<zone>. IN TXT <schema-version>
		return node{exists: true, txt: SchemaVersion}
	case last == "svc":
		return s.lookupService(inner)
	case last == "pod":
		return lookupPod(inner)
	case rest == "dns":
		return node{exists: true}
	case rest == "ns.dns":
		// The name server the SOA and NS records name: the DNS Service.
		if s.dnsAddr.IsValid() {
			return node{exists: true, addrs: []netip.Addr{s.dnsAddr}}
		}
	}
	return node{}
}

// lookupService finds a name under svc.<zone>, given by its labels left
// to right without "svc": [mysql default] for mysql.default.svc.<zone>.
func (s *Snapshot) lookupService(labels []string) node {
	switch len(labels) {
	case 0: // svc.<zone>: a name with names below it, and no records
		return node{exists: true}
	case 1: // <ns>.svc.<zone> exists while the namespace has a Service
		return node{exists: s.namespaces[labels[0]]}
	}
	n := len(labels)
	svc := s.services[labels[n-2]+"."+labels[n-1]]
	if svc == nil {
		return node{}
	}
	switch n {
	case 2: // <service>.<ns>.svc.<zone>
		switch svc.kind {
		case kindClusterIP:
			// 2.3.1: A (and AAAA) records for the ClusterIPs.
			return node{exists: true, addrs: svc.clusterIPs}
		case kindExternalName:
			// 2.5: a CNAME to the external name.
			return node{exists: true, cname: svc.externalName}
		}
		// 2.4.1: one A record per ready endpoint; "if there are no
		// ready endpoints for the headless Service, the answer should
		// be NXDOMAIN".
		var addrs []netip.Addr
		for _, ep := range svc.endpoints {
			addrs = append(addrs, ep.addrs...)
		}
		return node{exists: len(addrs) > 0, addrs: addrs}
	case 3:
		label := labels[0]
		if strings.HasPrefix(label, "_") {
			// _<proto>.<service>.<ns>.svc.<zone>: on the way to SRV
			// names; it exists if some named port has that protocol.
			return node{exists: len(s.srvTargets(svc, "", label[1:])) > 0}
		}
		// 2.4.1: <hostname>.<service>.<ns>.svc.<zone> for a ready
		// endpoint of a headless Service.
		for _, ep := range svc.endpoints {
			if ep.hostname == label {
				return node{exists: true, addrs: ep.addrs}
			}
		}
	case 4:
		// 2.3.2, 2.4.2: _<port>._<proto>.<service>.<ns>.svc.<zone> SRV.
		if strings.HasPrefix(labels[0], "_") && strings.HasPrefix(labels[1], "_") {
			t := s.srvTargets(svc, labels[0][1:], labels[1][1:])
			return node{exists: len(t) > 0, srv: t}
		}
	}
	return node{}
}

// srvTargets are the SRV records of svc's ports named portName (any name
// if "") with protocol proto: the Service's name and port for a ClusterIP
// (or ExternalName) Service; for a headless one, each ready endpoint's
// name and its own port (the target port: a client of a headless Service
// talks to the pods directly).
func (s *Snapshot) srvTargets(svc *service, portName, proto string) []srvTarget {
	match := func(p port) bool { return p.protocol == proto && (portName == "" || p.name == portName) }
	var out []srvTarget
	switch svc.kind {
	case kindHeadless:
		for _, ep := range svc.endpoints {
			for _, p := range ep.ports {
				if match(p) {
					out = append(out, srvTarget{target: ep.hostname + "." + svc.fqdn, port: p.number})
				}
			}
		}
	default:
		target := svc.fqdn
		if svc.kind == kindExternalName {
			target = svc.externalName
		}
		for _, p := range svc.ports {
			if match(p) {
				out = append(out, srvTarget{target: target, port: p.number})
			}
		}
	}
	return out
}

// lookupPod finds a name under pod.<zone>, given by its labels without
// "pod". 2.6: a-b-c-d.<ns>.pod.<zone> is the address a.b.c.d, for any
// namespace and any address; nothing is looked up.
func lookupPod(labels []string) node {
	switch len(labels) {
	case 0, 1: // pod.<zone>, <ns>.pod.<zone>: names with names below
		return node{exists: true}
	case 2:
		if a, ok := undashed(labels[0]); ok {
			return node{exists: true, addrs: []netip.Addr{a}}
		}
	}
	return node{}
}

// parseReverse reads a full reverse name: 5.1.244.10.in-addr.arpa. →
// 10.244.1.5, and the 32 nibbles of an ip6.arpa. name.
func parseReverse(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(labels[3] + "." + labels[2] + "." + labels[1] + "." + labels[0])
		return a, err == nil
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa."); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, l := range labels {
			if len(l) != 1 {
				return netip.Addr{}, false
			}
			v := strings.IndexByte("0123456789abcdef", l[0])
			if v < 0 {
				return netip.Addr{}, false
			}
			j := 31 - i // labels run from the last nibble to the first
			if j%2 == 0 {
				b[j/2] |= byte(v) << 4
			} else {
				b[j/2] |= byte(v)
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}
