package podnet

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/tinykube/tinykube/internal/machine"
)

// ErrClosed is returned by the methods of a Network after Close or
// Teardown.
var ErrClosed = errors.New("podnet: network is closed")

// Config describes the node whose pod network Setup builds.
type Config struct {
	// Cluster and Node name the cluster and this node, e.g. "tk" and
	// "node1": pod namespaces are called "<Cluster>-<Node>-<uid prefix>",
	// since /run/netns is shared by every cluster on the host.
	Cluster, Node string
	// PodCIDR is the node's share of the pod network (its Node object's
	// spec.podCIDR), e.g. 10.244.1.0/24. IPv4, /30 or larger. Its first
	// address is the gateway, the bridge's own.
	PodCIDR *net.IPNet
	// ServiceCIDR is the cluster's Service range, e.g. 10.96.0.0/12. Nil
	// for none: then the node gets no route for it.
	ServiceCIDR *net.IPNet
	// NodeIP is the node's address on the LAN, e.g. 10.200.0.11: other
	// nodes route this node's pods through it.
	NodeIP net.IP
	// Uplink is the node's link to the LAN. Empty: the link that has NodeIP.
	Uplink string
	// StateDir keeps the address records (which pod has which IP), e.g.
	// /var/lib/tinykube/node1/podnet. Created if needed.
	StateDir string
	// NetNSPath is the node's network namespace, e.g. /run/netns/tk-node1.
	// Empty means the namespace of the thread calling Setup: a kubelet
	// runs inside its node (the agent starts it there), so that is the
	// node's. Tests and tools outside the node set it.
	NetNSPath string
}

// PodRef names a pod: the fields of its ObjectMeta this package needs.
// UID identifies it; Namespace and Name are kept for people reading the
// records.
type PodRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
}

// PodNet is a pod's network, as AddPod made it.
type PodNet struct {
	Pod PodRef
	// NetNSName is the pod's network namespace in /run/netns, e.g.
	// "tk-node1-3f2a9c1d", and NetNSPath its file: give the path to the
	// container runtime for the pod's sandbox (pause) container.
	NetNSName, NetNSPath string
	// IP is the pod's address (status.podIP), inside the node's pod CIDR.
	IP net.IP
	// Gateway is the pod's default gateway: the bridge's address.
	Gateway net.IP
	// Interface is the pod's link, inside its namespace ("eth0").
	Interface string
	// HostVeth is the other end of that link, on the node's bridge,
	// e.g. "veth3f2a9c1d".
	HostVeth string
}

// node is what the pure functions need to know about this node.
type node struct {
	name        string
	ip          netip.Addr
	podCIDR     netip.Prefix
	serviceCIDR netip.Prefix // invalid: none
	uplink      int          // index of the link to the LAN
}

// Network is a node's pod network. It is safe for concurrent use: its
// methods run one at a time. Its methods can be called from any goroutine:
// it talks to the node's namespace through a netlink socket opened there.
type Network struct {
	mu     sync.Mutex
	cfg    Config
	self   node
	nodeNS netns.NsHandle  // the node's namespace
	h      *netlink.Handle // netlink socket in nodeNS
	bridge int             // index of BridgeName
	ipam   *store          // the address records
	closed bool            // after Close or Teardown
}

// checkConfig validates cfg and returns what it says about the node
// (everything but the uplink).
func checkConfig(cfg Config) (node, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("podnet: config: "+format, args...))
	}
	if !nameRE.MatchString(cfg.Cluster) {
		bad("cluster %q: must be 1-20 characters of a-z, 0-9 and '-', starting with a letter or digit", cfg.Cluster)
	}
	if !nameRE.MatchString(cfg.Node) {
		bad("node %q: must be 1-20 characters of a-z, 0-9 and '-', starting with a letter or digit", cfg.Node)
	}
	self := node{name: cfg.Node}
	var ok bool
	switch self.podCIDR, ok = prefixFromIPNet(cfg.PodCIDR); {
	case !ok:
		bad("podCIDR %v: must be an IPv4 network with its host bits zero, e.g. 10.244.1.0/24", cfg.PodCIDR)
	case self.podCIDR.Bits() > 30:
		bad("podCIDR %s: too small for a gateway and a pod; use /30 or larger", self.podCIDR)
	}
	if cfg.ServiceCIDR != nil {
		if self.serviceCIDR, ok = prefixFromIPNet(cfg.ServiceCIDR); !ok {
			bad("serviceCIDR %v: must be an IPv4 network with its host bits zero, e.g. 10.96.0.0/12", cfg.ServiceCIDR)
		} else if self.podCIDR.IsValid() && self.serviceCIDR.Overlaps(self.podCIDR) {
			bad("serviceCIDR %s overlaps podCIDR %s", self.serviceCIDR, self.podCIDR)
		}
	}
	if self.ip, ok = addrFromIP(cfg.NodeIP); !ok {
		bad("nodeIP %v: must be an IPv4 address", cfg.NodeIP)
	}
	if cfg.StateDir == "" {
		bad("stateDir: required (where pods' addresses are recorded)")
	}
	return self, errors.Join(errs...)
}

// Setup builds the node's side of the pod network, or adopts it if a
// previous run of the kubelet built it (every step checks before it acts):
//
//  1. net.ipv4.ip_forward=1, so the node routes pods' packets, and
//     net.bridge.bridge-nf-call-iptables=1, so packets between two pods of
//     this node, which cross the bridge without being routed, still pass
//     through iptables (kube-proxy's Service rules). Both are per namespace.
//  2. The bridge BridgeName with the gateway address (the pod CIDR's first)
//     and a MAC derived from it (see macFor), up.
//  3. A route for the service range out of the uplink (see wantRoutes).
//  4. The address records in StateDir are loaded: List returns the pods a
//     previous run made.
//
// Routes to other nodes' pods are SyncRoutes' job. The returned Network
// holds a handle on the node's namespace and a netlink socket in it:
// Close it (or Teardown it) when done.
func Setup(cfg Config) (*Network, error) {
	self, err := checkConfig(cfg)
	if err != nil {
		return nil, err
	}
	n := &Network{cfg: cfg, self: self, nodeNS: netns.None()}
	if err := n.setup(); err != nil {
		n.closeHandles()
		return nil, fmt.Errorf("podnet: setting up node %s: %w", cfg.Node, err)
	}
	return n, nil
}

// setup does Setup's steps.
func (n *Network) setup() error {
	var err error
	if n.cfg.NetNSPath != "" {
		n.nodeNS, err = netns.GetFromPath(n.cfg.NetNSPath)
	} else {
		n.nodeNS, err = netns.Get() // this thread's: a kubelet runs in its node
	}
	if err != nil {
		return fmt.Errorf("opening the node's network namespace: %w", err)
	}
	if n.h, err = netlink.NewHandleAt(n.nodeNS, unix.NETLINK_ROUTE); err != nil {
		return fmt.Errorf("opening netlink in the node's namespace: %w", err)
	}
	if n.self.uplink, err = n.findUplink(); err != nil {
		return err
	}

	// 1. Sysctls, on a thread inside the node.
	err = machine.InNetns(n.nodeNS, func() error {
		if err := machine.WriteSysctl("net/ipv4/ip_forward", "1"); err != nil {
			return err
		}
		if err := machine.WriteSysctl("net/bridge/bridge-nf-call-iptables", "1"); err != nil {
			return fmt.Errorf("%w (the br_netfilter kernel module is not loaded: run `modprobe br_netfilter` as root on the host)", err)
		}
		return nil
	})
	if err != nil {
		return err
	}

	// 2. The bridge.
	if n.bridge, err = ensureBridge(n.h, n.self.podCIDR); err != nil {
		return err
	}

	// 3. The service range. (Only this route: a peer route is not removed
	// here, so that pods keep reaching other nodes while the kubelet
	// restarts, until its first SyncRoutes.)
	if n.self.serviceCIDR.IsValid() {
		r := toNetlink(Route{Dst: n.self.serviceCIDR, LinkIndex: n.self.uplink})
		if err := n.h.RouteReplace(r); err != nil {
			return fmt.Errorf("adding route %s dev %s: %w", n.self.serviceCIDR, n.cfg.Uplink, err)
		}
	}

	// 4. The records.
	n.ipam, err = openStore(n.cfg.StateDir)
	return err
}

// findUplink returns the index of the node's link to the LAN: Config.Uplink,
// or the link holding NodeIP. It fills in n.cfg.Uplink.
func (n *Network) findUplink() (int, error) {
	if n.cfg.Uplink != "" {
		link, err := n.h.LinkByName(n.cfg.Uplink)
		if err != nil {
			return 0, fmt.Errorf("uplink %s: %w", n.cfg.Uplink, err)
		}
		return link.Attrs().Index, nil
	}
	addrs, err := n.h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return 0, fmt.Errorf("listing addresses: %w", err)
	}
	for _, a := range addrs {
		if a.IP.Equal(n.cfg.NodeIP) {
			link, err := n.h.LinkByIndex(a.LinkIndex)
			if err != nil {
				return 0, fmt.Errorf("finding the link with node IP %s: %w", n.cfg.NodeIP, err)
			}
			n.cfg.Uplink = link.Attrs().Name
			return a.LinkIndex, nil
		}
	}
	return 0, fmt.Errorf("no link in this network namespace has node IP %s: is the kubelet running inside its node (nsenter --net=/run/netns/%s-%s)? Otherwise set Config.Uplink",
		n.cfg.NodeIP, n.cfg.Cluster, n.cfg.Node)
}

// ensureBridge makes BridgeName (h is a handle in the node) with the
// gateway address of podCIDR and a fixed MAC, up, unless it exists; it
// fixes what differs in an existing one. It returns the bridge's index.
func ensureBridge(h *netlink.Handle, podCIDR netip.Prefix) (int, error) {
	gw := gatewayOf(podCIDR)
	mac := macFor(gw)
	link, err := h.LinkByName(BridgeName)
	switch {
	case errors.As(err, new(netlink.LinkNotFoundError)):
		// Giving the MAC at creation also tells the kernel it was set by
		// hand, so the bridge never replaces it with a port's.
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: BridgeName, HardwareAddr: mac, Flags: net.FlagUp}}
		if err := h.LinkAdd(br); err != nil {
			return 0, fmt.Errorf("adding bridge %s: %w", BridgeName, err)
		}
		link = br
	case err != nil:
		return 0, fmt.Errorf("finding bridge %s: %w", BridgeName, err)
	case link.Type() != "bridge":
		return 0, fmt.Errorf("link %s exists and is a %s, not a bridge; delete it (ip link del %s) and start again", BridgeName, link.Type(), BridgeName)
	}
	if !bytes.Equal(link.Attrs().HardwareAddr, mac) {
		if err := h.LinkSetHardwareAddr(link, mac); err != nil {
			return 0, fmt.Errorf("setting the MAC of %s to %s: %w", BridgeName, mac, err)
		}
	}

	// The gateway address. Any other IPv4 address on the bridge is from an
	// earlier pod CIDR: it goes, with the route to its network.
	want := &net.IPNet{IP: gw.AsSlice(), Mask: net.CIDRMask(podCIDR.Bits(), 32)}
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return 0, fmt.Errorf("listing the addresses of %s: %w", BridgeName, err)
	}
	have := false
	for _, a := range addrs {
		if a.IPNet.String() == want.String() {
			have = true
			continue
		}
		if err := h.AddrDel(link, &a); err != nil {
			return 0, fmt.Errorf("removing old address %s from %s: %w", a.IPNet, BridgeName, err)
		}
	}
	if !have {
		if err := h.AddrAdd(link, &netlink.Addr{IPNet: want}); err != nil {
			return 0, fmt.Errorf("adding address %s to %s: %w", want, BridgeName, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return 0, fmt.Errorf("setting %s up: %w", BridgeName, err)
	}
	return link.Attrs().Index, nil
}

// usable returns ErrClosed after Close or Teardown. Call it with mu held.
func (n *Network) usable() error {
	if n.closed {
		return ErrClosed
	}
	return nil
}

// Close releases the Network's handles and leaves everything it made in
// place: a later Setup adopts it. Idempotent.
func (n *Network) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closeHandles()
	return nil
}

// closeHandles closes the netlink socket and the namespace handle.
func (n *Network) closeHandles() {
	if n.h != nil {
		n.h.Close()
		n.h = nil
	}
	if n.nodeNS.IsOpen() {
		n.nodeNS.Close()
		n.nodeNS = netns.None()
	}
	n.closed = true
}

// Teardown removes everything this package made on the node, then closes
// the Network:
//
//  1. every pod's network: the pods of the records, then any namespace of
//     this node's pods left without a record ("<Cluster>-<Node>-*" in
//     /run/netns) and any link left on the bridge;
//  2. the routes marked RouteProtocol (peers' and the service range's);
//  3. the bridge;
//  4. the address records, and StateDir if nothing else is in it.
//
// It goes on after an error and returns them all. The sysctls stay as they
// are (the machine layer sets ip_forward itself). Teardown of a closed
// Network returns ErrClosed: call Setup again first.
func (n *Network) Teardown() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.usable(); err != nil {
		return err
	}
	var errs []error
	for _, r := range n.ipam.records() {
		errs = append(errs, n.delPod(r.Pod.UID))
	}
	names, err := machine.ListNetns(podNetNSPrefix(n.cfg.Cluster, n.cfg.Node))
	errs = append(errs, err)
	for _, name := range names {
		errs = append(errs, machine.DeleteNamedNetns(name))
	}
	errs = append(errs, n.deleteBridge())
	if have, err := n.ownedRoutes(); err != nil {
		errs = append(errs, err)
	} else {
		errs = append(errs, n.applyRoutes(routeChanges{Delete: have}))
	}
	errs = append(errs, n.ipam.removeAll())
	n.closeHandles()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("podnet: tearing down node %s: %w", n.cfg.Node, err)
	}
	return nil
}

// deleteBridge deletes the links left on the bridge, then the bridge.
func (n *Network) deleteBridge() error {
	links, err := n.h.LinkList()
	if err != nil {
		return fmt.Errorf("podnet: listing links: %w", err)
	}
	var errs []error
	for _, l := range links {
		if l.Attrs().MasterIndex == n.bridge {
			if err := n.h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, fmt.Errorf("podnet: deleting %s from %s: %w", l.Attrs().Name, BridgeName, err))
			}
		}
	}
	for _, l := range links {
		if l.Attrs().Index == n.bridge {
			if err := n.h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, fmt.Errorf("podnet: deleting bridge %s: %w", BridgeName, err))
			}
		}
	}
	return errors.Join(errs...)
}
