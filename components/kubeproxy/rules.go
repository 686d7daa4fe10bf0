package kubeproxy

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Node is what the rules need to know about the node kube-proxy runs on.
type Node struct {
	// Name is the node's name. Endpoints whose nodeName is Name are local:
	// the only ones a traffic policy of Local sends to.
	Name string
	// IP is the node's address. A load balancer source range that
	// contains it lets the node itself through.
	IP netip.Addr
	// ClusterCIDR is the pods' address range (10.244.0.0/16). Traffic to a
	// ClusterIP from outside it (the node itself, a machine that routes
	// through this node) is masqueraded, so that the answer comes back the
	// way it went. Zero: kube-proxy cannot tell pods from others and
	// masquerades no ClusterIP traffic.
	ClusterCIDR netip.Prefix
}

// Snapshot is everything the rules depend on: the cluster's Services and
// EndpointSlices (as the informers hold them; Rules does not modify them)
// and the node.
type Snapshot struct {
	Node           Node
	Services       []*corev1.Service
	EndpointSlices []*discoveryv1.EndpointSlice
}

// Ruleset is kube-proxy's whole rule set: its chains in the filter and
// nat tables, and the jumps into them from the tables' built-in chains.
// It is a plain value; RestoreInput turns it into iptables-restore input.
type Ruleset struct {
	Filter Table
	NAT    Table
}

// Table is kube-proxy's part of one iptables table.
type Table struct {
	Name   string  // "filter" or "nat"
	Chains []Chain // kube-proxy's own chains, in the order they are written
	Jumps  []Jump  // rules in built-in chains that send packets to them
}

// Chain is one of kube-proxy's chains and its rules in order.
type Chain struct {
	Name  string
	Rules []string // each rule's arguments after "-A <Name>"
}

// Jump is a rule in a built-in chain (PREROUTING, INPUT, FORWARD, OUTPUT,
// POSTROUTING) that jumps to one of kube-proxy's chains. The built-in
// chains are shared with everyone else, so kube-proxy only ever inserts or
// deletes these rules, never rewrites the chain.
type Jump struct {
	From string // the built-in chain
	To   string // kube-proxy's chain
	Rule string // the rule's arguments after "-A <From>", ending in "-j <To>"
}

// Chain returns the chain called name, or nil.
func (t *Table) Chain(name string) *Chain {
	for i := range t.Chains {
		if t.Chains[i].Name == name {
			return &t.Chains[i]
		}
	}
	return nil
}

// byName indexes the table's chains by name (a rule set has thousands).
func (t *Table) byName() map[string]*Chain {
	m := make(map[string]*Chain, len(t.Chains))
	for i := range t.Chains {
		m[t.Chains[i].Name] = &t.Chains[i]
	}
	return m
}

// The chains every rule set has. Their names are Kubernetes' own, so what
// `iptables -t nat -S` shows on a tinykube node matches what it shows on
// any Kubernetes node.
const (
	// nat table
	ChainServices    = "KUBE-SERVICES"    // entry: one rule per ClusterIP, external IP and load balancer IP
	ChainNodePorts   = "KUBE-NODEPORTS"   // one rule per node port; last stop of KUBE-SERVICES (nat); health check ports (filter)
	ChainPostrouting = "KUBE-POSTROUTING" // masquerades the packets KUBE-MARK-MASQ marked
	ChainMarkMasq    = "KUBE-MARK-MASQ"   // marks a packet for masquerading

	// filter table
	ChainExternalServices = "KUBE-EXTERNAL-SERVICES" // rejects external traffic to Services with no endpoints
	ChainForward          = "KUBE-FORWARD"           // accepts forwarded Service traffic
	ChainProxyFirewall    = "KUBE-PROXY-FIREWALL"    // drops traffic loadBalancerSourceRanges do not allow
)

// Prefixes of the per-service-port and per-endpoint chains.
const (
	prefixService    = "KUBE-SVC-" // all usable endpoints (traffic policy Cluster)
	prefixServiceLoc = "KUBE-SVL-" // this node's endpoints (traffic policy Local)
	prefixExternal   = "KUBE-EXT-" // traffic to node ports, external IPs, load balancer IPs
	prefixFirewall   = "KUBE-FW-"  // loadBalancerSourceRanges
	prefixEndpoint   = "KUBE-SEP-" // one endpoint: DNAT to its pod
)

// MasqueradeMark is the packet mark (bit 14) KUBE-MARK-MASQ sets and
// KUBE-POSTROUTING looks for, as in Kubernetes.
const MasqueradeMark = "0x4000"

// IsOwnChain reports whether chain is one kube-proxy makes (and may delete).
func IsOwnChain(chain string) bool {
	switch chain {
	case ChainServices, ChainNodePorts, ChainPostrouting, ChainMarkMasq, ChainExternalServices, ChainForward, ChainProxyFirewall:
		return true
	}
	for _, p := range []string{prefixService, prefixServiceLoc, prefixExternal, prefixFirewall, prefixEndpoint} {
		if strings.HasPrefix(chain, p) {
			return true
		}
	}
	return false
}

// hash16 is how Kubernetes names the chains of a service port: the first
// 16 characters of the base32 SHA-256 of the port's name and protocol (and
// for an endpoint, its "ip:port"). iptables limits chain names to 28
// characters; a hash fits whatever the namespace and name, and is the same
// on every node and every run, so a student can find a Service's chain on
// any node, and a real Kubernetes node names it the same.
func hash16(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "")))
	return base32.StdEncoding.EncodeToString(sum[:])[:16]
}

func (sp *servicePort) chainService() string  { return prefixService + hash16(sp.name, sp.protocol) }
func (sp *servicePort) chainLocal() string    { return prefixServiceLoc + hash16(sp.name, sp.protocol) }
func (sp *servicePort) chainExternal() string { return prefixExternal + hash16(sp.name, sp.protocol) }
func (sp *servicePort) chainFirewall() string { return prefixFirewall + hash16(sp.name, sp.protocol) }
func (sp *servicePort) chainEndpoint(e endpoint) string {
	return prefixEndpoint + hash16(sp.name, sp.protocol, e.String())
}

// Rules computes the whole rule set for a snapshot. It is a pure function:
// the same snapshot gives the same rules, byte for byte, on every node with
// the same name, so it is tested with golden files (testdata/*.rules).
//
// The walk of a packet to a ClusterIP, for the chapter's Service web
// (10.96.0.20:80, pods 10.244.1.5 and 10.244.2.7 on port 8080):
//
//	nat PREROUTING (from a pod) or OUTPUT (from the node)
//	  → KUBE-SERVICES: -d 10.96.0.20 --dport 80       → KUBE-SVC-…
//	  → KUBE-SVC-…:    probability 0.5                → KUBE-SEP-A, else KUBE-SEP-B
//	  → KUBE-SEP-A:    DNAT --to-destination 10.244.1.5:8080
//
// and to a node port: KUBE-SERVICES' last rule sends packets addressed to
// the node itself to KUBE-NODEPORTS, which sends port 30080 to KUBE-EXT-…,
// which marks the packet for masquerading and goes on to KUBE-SVC-….
func Rules(s Snapshot) *Ruleset {
	r, _ := rules(s)
	return r
}

// rules is Rules, also returning the service ports it made the rules of.
func rules(s Snapshot) (*Ruleset, []*servicePort) {
	g := &generator{node: s.Node, chains: map[string]int{}}
	// The fixed chains first, in the order a reader meets them.
	g.nat(ChainServices)
	g.nat(ChainNodePorts)
	g.nat(ChainPostrouting,
		"-m mark ! --mark "+MasqueradeMark+"/"+MasqueradeMark+" -j RETURN",
		// Clear the mark: a packet that loops through the stack again
		// (hairpin) must not be masqueraded twice.
		"-j MARK --xor-mark "+MasqueradeMark,
		comment("kubernetes service traffic requiring SNAT")+" -j MASQUERADE --random-fully")
	g.nat(ChainMarkMasq, "-j MARK --or-mark "+MasqueradeMark)
	g.filter(ChainServices)
	g.filter(ChainExternalServices)
	g.filter(ChainNodePorts)
	g.filter(ChainForward,
		"-m conntrack --ctstate INVALID -j DROP",
		comment("kubernetes forwarding rules")+" -m mark --mark "+MasqueradeMark+"/"+MasqueradeMark+" -j ACCEPT",
		comment("kubernetes forwarding conntrack rule")+" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
	g.filter(ChainProxyFirewall)

	ports := servicePorts(s.Services, s.EndpointSlices)
	for _, sp := range ports {
		g.servicePort(sp)
	}

	// Last in KUBE-SERVICES: anything addressed to this node itself may
	// be for a node port. (Not 127.0.0.0/8: that would need
	// route_localnet, which opens the node's loopback services to the
	// network.)
	g.add("nat", ChainServices, comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain")+
		" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j "+ChainNodePorts)

	g.out.Filter.Jumps = []Jump{
		jump("INPUT", ChainProxyFirewall, "-m conntrack --ctstate NEW "+comment("kubernetes load balancer firewall")),
		jump("INPUT", ChainNodePorts, comment("kubernetes health check service ports")),
		jump("INPUT", ChainExternalServices, "-m conntrack --ctstate NEW "+comment("kubernetes externally-visible service portals")),
		jump("FORWARD", ChainProxyFirewall, "-m conntrack --ctstate NEW "+comment("kubernetes load balancer firewall")),
		jump("FORWARD", ChainForward, comment("kubernetes forwarding rules")),
		jump("FORWARD", ChainServices, "-m conntrack --ctstate NEW "+comment("kubernetes service portals")),
		jump("FORWARD", ChainExternalServices, "-m conntrack --ctstate NEW "+comment("kubernetes externally-visible service portals")),
		jump("OUTPUT", ChainProxyFirewall, "-m conntrack --ctstate NEW "+comment("kubernetes load balancer firewall")),
		jump("OUTPUT", ChainServices, "-m conntrack --ctstate NEW "+comment("kubernetes service portals")),
	}
	g.out.NAT.Jumps = []Jump{
		jump("PREROUTING", ChainServices, comment("kubernetes service portals")),
		jump("OUTPUT", ChainServices, comment("kubernetes service portals")),
		jump("POSTROUTING", ChainPostrouting, comment("kubernetes postrouting rules")),
	}
	return &g.out, ports
}

func jump(from, to, match string) Jump {
	return Jump{From: from, To: to, Rule: match + " -j " + to}
}

// generator accumulates a Ruleset.
type generator struct {
	node   Node
	out    Ruleset
	chains map[string]int // "table/chain" → index in its table's Chains
}

func (g *generator) table(name string) *Table {
	if name == "nat" {
		g.out.NAT.Name = "nat"
		return &g.out.NAT
	}
	g.out.Filter.Name = "filter"
	return &g.out.Filter
}

// chain adds an empty chain to a table, unless it is there already.
func (g *generator) chain(table, name string) {
	key := table + "/" + name
	if _, ok := g.chains[key]; ok {
		return
	}
	t := g.table(table)
	g.chains[key] = len(t.Chains)
	t.Chains = append(t.Chains, Chain{Name: name})
}

// add appends rules to a chain, making the chain if needed.
func (g *generator) add(table, chain string, rules ...string) {
	g.chain(table, chain)
	c := &g.table(table).Chains[g.chains[table+"/"+chain]]
	c.Rules = append(c.Rules, rules...)
}

func (g *generator) nat(chain string, rules ...string)    { g.add("nat", chain, rules...) }
func (g *generator) filter(chain string, rules ...string) { g.add("filter", chain, rules...) }

// comment is iptables' comment match, quoted when it has spaces (as
// iptables-restore reads it).
func comment(text string) string {
	if strings.ContainsAny(text, " \t") {
		text = `"` + text + `"`
	}
	return "-m comment --comment " + text
}

// servicePort writes everything for one service port. Its structure follows
// Kubernetes' iptables proxier (pkg/proxy/iptables, syncProxyRules), so the
// rules come out as a real node's do.
func (g *generator) servicePort(sp *servicePort) {
	cluster, local := sp.categorize(g.node.Name)
	proto := "-m " + sp.protocol + " -p " + sp.protocol
	dest := func(ip string, port int32) string {
		return proto + " -d " + ip + " --dport " + strconv.Itoa(int(port))
	}

	// Which endpoints each kind of traffic may use. Internal traffic (to
	// the ClusterIP) follows internalTrafficPolicy; external traffic (node
	// port, external IPs, load balancer IPs) follows
	// externalTrafficPolicy. Cluster means every ready endpoint; Local
	// means only this node's, which keeps the client's source address
	// (no masquerading, no second hop) at the price of dropping traffic
	// on nodes without one.
	hasEndpoints := len(cluster) > 0 || len(local) > 0
	// The cluster chain is also needed with both policies Local when the
	// port is externally accessible: pods and the node itself calling an
	// external address may use any endpoint (see KUBE-EXT below).
	usesCluster := len(cluster) > 0 && (!sp.internalLocal || sp.externallyAccessible())
	usesLocal := len(local) > 0 && (sp.internalLocal || sp.externalLocal)
	internalChain, hasInternal := sp.chainService(), len(cluster) > 0
	if sp.internalLocal {
		internalChain, hasInternal = sp.chainLocal(), len(local) > 0
	}
	externalPolicyChain, hasExternal := sp.chainService(), len(cluster) > 0
	if sp.externalLocal {
		externalPolicyChain, hasExternal = sp.chainLocal(), len(local) > 0
	}
	usesExternal := hasEndpoints && sp.externallyAccessible()
	loadBalancerChain := sp.chainExternal()
	usesFirewall := hasEndpoints && len(sp.loadBalancerIPs) > 0 && len(sp.sourceRanges) > 0
	if usesFirewall {
		loadBalancerChain = sp.chainFirewall()
	}

	// Where traffic with no endpoint to go to ends, in the filter table:
	// REJECT (the client gets "connection refused" at once, rather than
	// waiting for a timeout) when the Service has no endpoint at all; DROP
	// when it has some, only not on this node (traffic policy Local).
	internalVerdict, internalWhy := "", ""
	externalVerdict, externalWhy := "", ""
	switch {
	case !hasEndpoints:
		internalVerdict, internalWhy = "REJECT", sp.name+" has no endpoints"
		externalVerdict, externalWhy = "REJECT", sp.name+" has no endpoints"
	default:
		if !hasInternal {
			internalVerdict, internalWhy = "DROP", sp.name+" has no local endpoints"
		}
		if !hasExternal {
			externalVerdict, externalWhy = "DROP", sp.name+" has no local endpoints"
		}
	}

	// 1. Catch the packets: the ClusterIP.
	if hasInternal {
		g.add("nat", ChainServices, comment(sp.name+" cluster IP")+" "+dest(sp.clusterIP, sp.port)+" -j "+internalChain)
	} else {
		g.add("filter", ChainServices, comment(internalWhy)+" "+dest(sp.clusterIP, sp.port)+" -j "+internalVerdict)
	}
	// External IPs: addresses the cluster does not own, routed to a node
	// by someone else; packets to them are treated as external traffic.
	for _, ip := range sp.externalIPs {
		if hasEndpoints {
			g.add("nat", ChainServices, comment(sp.name+" external IP")+" "+dest(ip, sp.port)+" -j "+sp.chainExternal())
		}
		if !hasExternal {
			g.add("filter", ChainExternalServices, comment(externalWhy)+" "+dest(ip, sp.port)+" -j "+externalVerdict)
		}
	}
	// Load balancer IPs, from the Service's status.
	for _, ip := range sp.loadBalancerIPs {
		if hasEndpoints {
			g.add("nat", ChainServices, comment(sp.name+" loadbalancer IP")+" "+dest(ip, sp.port)+" -j "+loadBalancerChain)
		}
		if usesFirewall {
			g.add("filter", ChainProxyFirewall, comment(sp.name+" traffic not accepted by "+sp.chainFirewall())+" "+dest(ip, sp.port)+" -j DROP")
		}
	}
	if !hasExternal {
		for _, ip := range sp.loadBalancerIPs {
			g.add("filter", ChainExternalServices, comment(externalWhy)+" "+dest(ip, sp.port)+" -j "+externalVerdict)
		}
	}
	// The node port: any address of this node (KUBE-SERVICES sends
	// packets for local addresses here last).
	if sp.nodePort != 0 {
		if hasEndpoints {
			g.add("nat", ChainNodePorts, comment(sp.name)+" "+proto+" --dport "+strconv.Itoa(int(sp.nodePort))+" -j "+sp.chainExternal())
		}
		if !hasExternal {
			g.add("filter", ChainExternalServices, comment(externalWhy)+" -m addrtype --dst-type LOCAL "+proto+" --dport "+strconv.Itoa(int(sp.nodePort))+" -j "+externalVerdict)
		}
	}
	// A load balancer asks each node's health check port whether to send
	// it traffic (externalTrafficPolicy Local): kube-proxy answers there.
	if sp.healthCheckPort != 0 {
		g.add("filter", ChainNodePorts, comment(sp.name+" health check node port")+" -m tcp -p tcp --dport "+strconv.Itoa(int(sp.healthCheckPort))+" -j ACCEPT")
	}

	// 2. The chains the caught packets go through.
	if usesExternal {
		ext := sp.chainExternal()
		g.chain("nat", ext)
		if !sp.externalLocal {
			// The endpoint may be on another node: masquerade, so that
			// its answer comes back through this node, which undoes the
			// DNAT. Without it the answer would go straight to the
			// client from an address it never called.
			g.add("nat", ext, comment("masquerade traffic for "+sp.name+" external destinations")+" -j "+ChainMarkMasq)
		} else {
			// Pods and the node itself calling an external address are
			// not "external" clients: they may use any endpoint.
			if g.node.ClusterCIDR.IsValid() {
				g.add("nat", ext, comment("pod traffic for "+sp.name+" external destinations")+" -s "+g.node.ClusterCIDR.String()+" -j "+sp.chainService())
			}
			g.add("nat", ext, comment("masquerade LOCAL traffic for "+sp.name+" external destinations")+" -m addrtype --src-type LOCAL -j "+ChainMarkMasq)
			g.add("nat", ext, comment("route LOCAL traffic for "+sp.name+" external destinations")+" -m addrtype --src-type LOCAL -j "+sp.chainService())
		}
		if hasExternal {
			g.add("nat", ext, "-j "+externalPolicyChain)
		}
	}
	if usesFirewall {
		fw := sp.chainFirewall()
		allowNode := false
		for _, r := range sp.sourceRanges {
			g.add("nat", fw, comment(sp.name+" loadbalancer IP")+" -s "+r+" -j "+sp.chainExternal())
			if p, err := netip.ParsePrefix(r); err == nil && g.node.IP.IsValid() && p.Contains(g.node.IP) {
				allowNode = true
			}
		}
		if allowNode {
			for _, ip := range sp.loadBalancerIPs {
				g.add("nat", fw, comment(sp.name+" loadbalancer IP")+" -s "+ip+" -j "+sp.chainExternal())
			}
		}
		// Not DNATed: KUBE-PROXY-FIREWALL (filter) drops it.
		g.add("nat", fw, comment("other traffic to "+sp.name+" will be dropped by KUBE-PROXY-FIREWALL"))
	}
	if hasInternal && g.node.ClusterCIDR.IsValid() {
		// Traffic to the ClusterIP from outside the pod network (the
		// node itself, a machine routing the service range through this
		// node) is masqueraded, for the same reason as external traffic.
		g.add("nat", internalChain, comment(sp.name+" cluster IP")+" "+dest(sp.clusterIP, sp.port)+" ! -s "+g.node.ClusterCIDR.String()+" -j "+ChainMarkMasq)
	}
	if usesCluster {
		g.balance(sp, sp.chainService(), cluster)
	}
	if usesLocal {
		g.balance(sp, sp.chainLocal(), local)
	}

	// 3. One chain per endpoint, which rewrites the destination to the pod.
	var reachable []endpoint
	if usesCluster {
		reachable = append(reachable, cluster...)
	}
	if usesLocal {
		reachable = append(reachable, local...)
	}
	written := map[string]bool{}
	for _, e := range reachable {
		if written[e.String()] {
			continue
		}
		written[e.String()] = true
		sep := sp.chainEndpoint(e)
		// A pod calling its own Service and picked as the endpoint
		// (hairpin): masquerade, or the pod would get an answer from
		// itself to a connection it made to the ClusterIP, and drop it.
		g.add("nat", sep, comment(sp.name)+" -s "+e.ip+" -j "+ChainMarkMasq)
		affinity := ""
		if sp.affinitySeconds > 0 {
			// Remember the client's address in a list named after this
			// endpoint; KUBE-SVC-… checks the lists first.
			affinity = " -m recent --name " + sep + " --set"
		}
		g.add("nat", sep, comment(sp.name)+affinity+" "+proto+" -j DNAT --to-destination "+e.String())
	}
}

// balance writes a service chain: one rule per endpoint, each taking its
// share of what the rules before it left. With n endpoints the first rule
// matches with probability 1/n, the second with 1/(n-1) of the rest, ...,
// the last with certainty: each endpoint gets 1/n of new connections.
// (Only new connections: conntrack sends the rest of a connection where its
// first packet went, without looking at these rules again.)
func (g *generator) balance(sp *servicePort, chain string, endpoints []endpoint) {
	if sp.affinitySeconds > 0 {
		// Session affinity: a client seen in the last affinitySeconds
		// goes back to the same endpoint.
		for _, e := range endpoints {
			sep := sp.chainEndpoint(e)
			g.add("nat", chain, comment(sp.name+" -> "+e.String())+" -m recent --name "+sep+
				" --rcheck --seconds "+strconv.Itoa(int(sp.affinitySeconds))+" --reap -j "+sep)
		}
	}
	n := len(endpoints)
	for i, e := range endpoints {
		rule := comment(sp.name + " -> " + e.String())
		if i < n-1 {
			rule += " -m statistic --mode random --probability " + probability(n-i)
		}
		g.add("nat", chain, rule+" -j "+sp.chainEndpoint(e))
	}
}

// probability is 1/n as iptables' statistic match takes it.
func probability(n int) string { return fmt.Sprintf("%0.10f", 1.0/float64(n)) }
