package podnet

// Routes between nodes ("host-gw"): a node reaches another node's pods by
// sending their packets to that node, which owns their pod CIDR. What
// routes a node should have is a pure function of the cluster's nodes
// (wantRoutes); how to get there from the routes it has is another
// (diffRoutes). SyncRoutes does the I/O.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouteProtocol marks every route this package makes: the kernel keeps a
// route's "protocol" (who made it) and lets a program list routes by it.
// SyncRoutes and Teardown only ever change routes with this mark, so routes
// a user adds by hand are never touched. See them with
// `ip route show proto 123` inside a node.
//
// The number is not in /etc/iproute2/rt_protos (there "static" is 4, "boot"
// 3, "kernel" 2, bird 12, bgp 186...): it is tinykube's own.
const RouteProtocol = 123

// Peer is another node, as its Node object describes it.
type Peer struct {
	PodCIDR *net.IPNet // spec.podCIDR, e.g. 10.244.2.0/24
	NodeIP  net.IP     // its InternalIP in status.addresses, e.g. 10.200.0.12
}

// Route is a route this package owns, in the form the pure functions use.
type Route struct {
	Dst       netip.Prefix // where the packets go, e.g. 10.244.2.0/24
	Via       netip.Addr   // the next hop, e.g. 10.200.0.12; zero: Dst is right on the link
	LinkIndex int          // the link packets leave by (the uplink)
}

func (r Route) String() string {
	if r.Via.IsValid() {
		return fmt.Sprintf("%s via %s dev #%d", r.Dst, r.Via, r.LinkIndex)
	}
	return fmt.Sprintf("%s dev #%d", r.Dst, r.LinkIndex)
}

// wantRoutes returns the routes a node should have, sorted by Dst:
//
//   - if serviceCIDR is valid, serviceCIDR straight out of the uplink. No
//     packet is ever delivered to a Service IP (kube-proxy's iptables
//     rewrites it to a pod's), but the kernel looks up a route before
//     iptables rewrites a packet the node itself sends: without one, a
//     process on the node gets "network unreachable" for any ClusterIP.
//   - for every peer, its pod CIDR via its node IP, out of the uplink.
//
// A peer that is this node (same name or same node IP) is skipped.
// A peer that cannot be routed (no or a bad pod CIDR or node IP, a pod
// CIDR overlapping this node's, the service range or another peer's) is
// left out, and the returned error names it, so that one broken Node
// object does not cut the node off from all the others.
func wantRoutes(self node, peers map[string]Peer) ([]Route, error) {
	var want []Route
	if self.serviceCIDR.IsValid() {
		want = append(want, Route{Dst: self.serviceCIDR, LinkIndex: self.uplink})
	}
	names := make([]string, 0, len(peers))
	for name := range peers {
		names = append(names, name)
	}
	slices.Sort(names) // so that the same input gives the same errors
	var errs []error
	for _, name := range names {
		p := peers[name]
		cidr, ipOK := prefixFromIPNet(p.PodCIDR)
		ip, addrOK := addrFromIP(p.NodeIP)
		bad := func(why string, args ...any) {
			errs = append(errs, fmt.Errorf("podnet: node %q: %s; no route to its pods", name, fmt.Sprintf(why, args...)))
		}
		switch {
		case name == self.name || (addrOK && ip == self.ip):
			continue // this node: its pods are on its bridge
		case !ipOK:
			bad("pod CIDR %v is not an IPv4 network", p.PodCIDR)
		case !addrOK:
			bad("node IP %v is not an IPv4 address", p.NodeIP)
		case cidr.Overlaps(self.podCIDR):
			bad("pod CIDR %s overlaps this node's %s", cidr, self.podCIDR)
		case self.serviceCIDR.IsValid() && cidr.Overlaps(self.serviceCIDR):
			bad("pod CIDR %s overlaps the service range %s", cidr, self.serviceCIDR)
		case slices.ContainsFunc(want, func(r Route) bool { return r.Dst.Overlaps(cidr) }):
			bad("pod CIDR %s overlaps another node's", cidr)
		default:
			want = append(want, Route{Dst: cidr, Via: ip, LinkIndex: self.uplink})
		}
	}
	slices.SortFunc(want, func(a, b Route) int { return a.Dst.Addr().Compare(b.Dst.Addr()) })
	return want, errors.Join(errs...)
}

// routeChanges is what turns the routes a node has into those it should
// have. Apply Delete first, then Add and Replace: a peer whose pod CIDR
// changed loses its old route before it gets its new one.
type routeChanges struct {
	Delete  []Route // routes we own that nobody wants any more
	Add     []Route // wanted routes to destinations we have no route to
	Replace []Route // wanted routes whose destination we route elsewhere
}

// empty reports whether there is nothing to do.
func (c routeChanges) empty() bool {
	return len(c.Delete)+len(c.Add)+len(c.Replace) == 0
}

// diffRoutes compares the routes a node has (only those this package owns)
// with those it wants. A destination identifies a route: there is at most
// one route per destination in the main table.
func diffRoutes(have, want []Route) routeChanges {
	var c routeChanges
	haveByDst := map[netip.Prefix]Route{}
	for _, r := range have {
		haveByDst[r.Dst] = r
	}
	wantByDst := map[netip.Prefix]bool{}
	for _, w := range want {
		wantByDst[w.Dst] = true
		h, ok := haveByDst[w.Dst]
		switch {
		case !ok:
			c.Add = append(c.Add, w)
		case h != w:
			c.Replace = append(c.Replace, w)
		}
	}
	for _, h := range have {
		if !wantByDst[h.Dst] {
			c.Delete = append(c.Delete, h)
		}
	}
	return c
}

// SyncRoutes makes the node's routes to other nodes' pods be exactly
// peers (keyed by node name; this node may be among them and is skipped),
// together with the route to the service range: it adds what is missing,
// replaces routes whose next hop changed and deletes routes it owns that
// are no longer wanted. It only ever touches routes marked with
// RouteProtocol. Call it whenever the Node objects change.
//
// A peer that cannot be routed is left out and named in the returned error;
// the other peers' routes are still synced. Idempotent.
func (n *Network) SyncRoutes(peers map[string]Peer) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.usable(); err != nil {
		return err
	}
	want, wantErr := wantRoutes(n.self, peers)
	have, err := n.ownedRoutes()
	if err != nil {
		return err
	}
	if err := n.applyRoutes(diffRoutes(have, want)); err != nil {
		return err
	}
	return wantErr
}

// ownedRoutes lists the routes of the main table marked RouteProtocol.
func (n *Network) ownedRoutes() ([]Route, error) {
	rs, err := n.h.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("podnet: listing routes: %w", err)
	}
	var have []Route
	for _, r := range rs {
		dst, ok := prefixFromIPNet(r.Dst)
		if !ok {
			continue // not IPv4, or a default route: not one we make
		}
		via, _ := addrFromIP(r.Gw)
		have = append(have, Route{Dst: dst, Via: via, LinkIndex: r.LinkIndex})
	}
	return have, nil
}

// applyRoutes carries out c, in the order its doc comment gives.
func (n *Network) applyRoutes(c routeChanges) error {
	var errs []error
	for _, r := range c.Delete {
		if err := n.h.RouteDel(toNetlink(r)); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("podnet: deleting route %s: %w", r, err))
		}
	}
	for _, r := range c.Add {
		if err := n.h.RouteAdd(toNetlink(r)); err != nil {
			errs = append(errs, fmt.Errorf("podnet: adding route %s: %w", r, err))
		}
	}
	for _, r := range c.Replace {
		if err := n.h.RouteReplace(toNetlink(r)); err != nil {
			errs = append(errs, fmt.Errorf("podnet: replacing route %s: %w", r, err))
		}
	}
	return errors.Join(errs...)
}

// toNetlink turns r into a netlink route marked as ours.
func toNetlink(r Route) *netlink.Route {
	nr := &netlink.Route{
		Dst:       &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), 32)},
		LinkIndex: r.LinkIndex,
		Protocol:  RouteProtocol,
		Table:     unix.RT_TABLE_MAIN,
		Scope:     netlink.SCOPE_UNIVERSE,
	}
	if r.Via.IsValid() {
		nr.Gw = r.Via.AsSlice()
	} else {
		nr.Scope = netlink.SCOPE_LINK // "dev eth0" with no next hop
	}
	return nr
}

// prefixFromIPNet converts an IPv4 network, returning false for nil, IPv6,
// a default route or host bits set.
func prefixFromIPNet(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	ip, ok := addrFromIP(n.IP)
	ones, bits := n.Mask.Size()
	if !ok || bits != 32 || ones == 0 {
		return netip.Prefix{}, false
	}
	p := netip.PrefixFrom(ip, ones)
	return p, p == p.Masked()
}

// addrFromIP converts an IPv4 address, returning false for nil or IPv6.
func addrFromIP(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	return a, a.Is4()
}
