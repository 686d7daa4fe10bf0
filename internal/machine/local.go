package machine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Local is the backend whose machines are Linux network namespaces on this
// host. A machine has its own network (links, addresses, routes, iptables,
// sysctls under /proc/sys/net) but shares the host's filesystem, processes
// and cgroups. That is all tinykube needs to run several "machines" on one
// host: each runs its own agents, listening on its own address.
//
// For cluster "tk" on 10.200.0.0/24 with machines master and node1 it
// builds four namespaces and three veth pairs (virtual cables, ════):
//
//	namespace       link      address                   port on bridge br0 in tk-lan
//	(the host's)    tk-host   10.200.0.1/24    ════     host
//	tk-master       eth0      10.200.0.10/24   ════     master
//	tk-node1        eth0      10.200.0.11/24   ════     node1
//
// The LAN is the bridge (a virtual switch) br0, in a namespace of its own
// so that bridged frames never pass through the host's firewall. The host's
// link lets programs on the host (kubectl) reach the machines, as a laptop
// reaches VMs on a host-only network. Machines have no default route: they reach each other and the
// host, nothing else. net.ipv4.ip_forward is 1 in every machine, so a
// machine can later route for the pods it runs.
//
// Namespaces are named in /run/netns (as `ip netns add` does): the LAN
// "<cluster>-lan", a machine LocalNamespace(cluster, machine), and the pod
// namespaces a kubelet makes on a machine must start with
// LocalNamespace(cluster, machine) + "-". Destroy and Leftovers rely on
// that prefix; they never touch a name without it.
//
// On top of Network.Validate, the local backend requires that no machine is
// called "lan", "br0", "host" or "lo" (names it uses itself) and that no
// machine's name is another's followed by a dash ("node" and "node-1"),
// since machine node's pod namespaces would then include node-1.
//
// Reference: MACHINES-AND-NETWORK.md (the team's proven recipe), "Topology"
// and "Teardown".
//
// Local needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN). It keeps no state: a
// Local is safe for concurrent use, and any process can Open or Destroy
// what another Created.
type Local struct{}

var _ Backend = (*Local)(nil)

// NewLocal returns the local backend.
func NewLocal() *Local { return &Local{} }

// Names of the links the local backend makes, besides the machines' own
// names (each machine's port on the LAN bridge is named after the machine).
const (
	lanBridge   = "br0"  // the bridge in the LAN namespace
	lanHostPort = "host" // the host's port on that bridge
	machineLink = "eth0" // a machine's link to the LAN, inside the machine
)

// LocalNamespace returns the name of the network namespace (in /run/netns)
// of machine in cluster, e.g. "tk-node1". A kubelet running on that machine
// must name its pod namespaces LocalNamespace(cluster, machine) + "-" +
// something unique, e.g. "tk-node1-3f2a9c1d", so that the machine's
// Processes, PowerOff and the cluster's Destroy find them.
func LocalNamespace(cluster, machine string) string { return cluster + "-" + machine }

// lanNamespace returns the name of the LAN namespace of cluster.
func lanNamespace(cluster string) string { return cluster + "-lan" }

// hostLinkName returns the name of cluster's link in the host's namespace:
// at most 8+5 characters, under the kernel's limit of 15.
func hostLinkName(cluster string) string { return cluster + "-host" }

// reservedNames are machine names that would clash with a name the local
// backend uses, with the reason.
var reservedNames = map[string]string{
	"lan":       "the LAN namespace is <cluster>-lan",
	lanBridge:   "the LAN's bridge is called " + lanBridge,
	lanHostPort: "the host's port on the LAN bridge is called " + lanHostPort,
	"lo":        "every namespace has a loopback link lo",
}

// validateLocal checks n for the local backend: Network.Validate and the
// rules of the Local doc comment.
func validateLocal(n Network) error {
	errs := []error{n.Validate()}
	for i, m := range n.Machines {
		if why, ok := reservedNames[m.Name]; ok {
			errs = append(errs, fmt.Errorf("machine: network %q: machines[%d].name %q: reserved by the local backend (%s); choose another name", n.Cluster, i, m.Name, why))
		}
		for j, o := range n.Machines {
			if i != j && strings.HasPrefix(m.Name, o.Name+"-") {
				errs = append(errs, fmt.Errorf("machine: network %q: machines[%d].name %q: starts with machines[%d].name %q and a dash, so the pod namespaces of %q (%s-*) would include it; rename one",
					n.Cluster, i, m.Name, j, o.Name, o.Name, LocalNamespace(n.Cluster, o.Name)))
			}
		}
	}
	return errors.Join(errs...)
}

// validateCluster checks just the cluster name, which is all Destroy and
// Leftovers need: they find everything by its prefix.
func validateCluster(cluster string) error {
	if !clusterNameRE.MatchString(cluster) {
		return fmt.Errorf("machine: cluster %q: must be 1-8 characters of a-z and 0-9", cluster)
	}
	return nil
}

// testHookCreate, when a test sets it, is called before each step of
// Create ("lan", "machine <name>", "host link"); an error makes Create fail
// there, to check that a half-made cluster is removed.
var testHookCreate func(step string) error

// Create makes the LAN, every machine and the host's link, in that order.
// Before it starts it checks that nothing of the cluster exists (no
// namespace with its prefix, no host link) and that no link of the host has
// an address inside n.CIDR (another cluster, or a real network, uses it);
// either wraps ErrExists. If a step fails, Create destroys what it made and
// returns the step's error.
func (l *Local) Create(ctx context.Context, n Network) ([]Machine, error) {
	if err := validateLocal(n); err != nil {
		return nil, err
	}
	if err := checkFree(n); err != nil {
		return nil, err
	}
	if err := build(ctx, n); err != nil {
		// checkFree found nothing with the cluster's prefix, so all that
		// Destroy finds now was made by this call.
		if derr := l.Destroy(context.WithoutCancel(ctx), n); derr != nil {
			err = errors.Join(err, fmt.Errorf("machine: removing the half-made cluster %q (run Destroy again): %w", n.Cluster, derr))
		}
		return nil, err
	}
	return localMachines(n), nil
}

// checkFree returns an error wrapping ErrExists if anything of cluster
// n.Cluster exists, or if a link of the host has an address inside n.CIDR.
func checkFree(n Network) error {
	names, err := ListNetns(n.Cluster + "-")
	if err != nil {
		return err
	}
	if len(names) > 0 {
		return fmt.Errorf("machine: cluster %q: network namespaces %s exist in %s; Destroy the cluster first: %w",
			n.Cluster, strings.Join(names, ", "), netnsDir, ErrExists)
	}
	return withHostHandle(func(h *netlink.Handle) error {
		links, err := h.LinkList()
		if err != nil {
			return fmt.Errorf("machine: listing the host's links: %w", err)
		}
		linkName := map[int]string{}
		for _, link := range links {
			linkName[link.Attrs().Index] = link.Attrs().Name
			if link.Attrs().Name == hostLinkName(n.Cluster) {
				return fmt.Errorf("machine: cluster %q: link %s exists in the host's network namespace; Destroy the cluster first: %w",
					n.Cluster, link.Attrs().Name, ErrExists)
			}
		}
		addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
		if err != nil {
			return fmt.Errorf("machine: listing the host's addresses: %w", err)
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && n.CIDR.Contains(ip.Unmap()) {
				return fmt.Errorf("machine: network %q: cidr %s is in use: link %s in the host's network namespace has address %s (another cluster uses this network: Destroy it or choose another cidr): %w",
					n.Cluster, n.CIDR, linkName[a.LinkIndex], a.IPNet, ErrExists)
			}
		}
		return nil
	})
}

// build makes the cluster's network and machines; see Create.
func build(ctx context.Context, n Network) error {
	step := func(name string) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("machine: creating cluster %q: %w", n.Cluster, err)
		}
		if testHookCreate != nil {
			return testHookCreate(name)
		}
		return nil
	}

	// 1. The LAN: a namespace holding one bridge.
	if err := step("lan"); err != nil {
		return err
	}
	lan, err := NewNamedNetns(lanNamespace(n.Cluster), nil)
	if err != nil {
		return err
	}
	defer lan.Close()
	lanH, err := routeHandle(lan)
	if err != nil {
		return err
	}
	defer lanH.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: lanBridge, Flags: net.FlagUp}}
	if err := lanH.LinkAdd(br); err != nil {
		return fmt.Errorf("machine: adding bridge %s in %s: %w", lanBridge, lanNamespace(n.Cluster), err)
	}

	// 2. The machines: each a namespace, cabled to the bridge.
	for _, m := range n.Machines {
		if err := step("machine " + m.Name); err != nil {
			return err
		}
		if err := buildMachine(lanH, br.Index, n, m); err != nil {
			return err
		}
	}

	// 3. The host's cable to the bridge, its end in the host's namespace.
	if err := step("host link"); err != nil {
		return err
	}
	host, err := hostNetns()
	if err != nil {
		return err
	}
	defer host.Close()
	port := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: lanHostPort, MasterIndex: br.Index, Flags: net.FlagUp},
		PeerName:      hostLinkName(n.Cluster),
		PeerNamespace: netlink.NsFd(host),
	}
	if err := lanH.LinkAdd(port); err != nil {
		return fmt.Errorf("machine: adding veth %s (in %s) to %s (in the host): %w", lanHostPort, lanNamespace(n.Cluster), hostLinkName(n.Cluster), err)
	}
	return withHostHandle(func(h *netlink.Handle) error {
		return linkUpWithAddr(h, hostLinkName(n.Cluster), n.HostAddress, n.CIDR.Bits())
	})
}

// buildMachine makes machine m's namespace and its cable to the LAN bridge
// (index brIndex in the LAN handle lanH).
func buildMachine(lanH *netlink.Handle, brIndex int, n Network, m Spec) error {
	name := LocalNamespace(n.Cluster, m.Name)
	ns, err := NewNamedNetns(name, func() error { return WriteSysctl("net/ipv4/ip_forward", "1") })
	if err != nil {
		return err
	}
	defer ns.Close()
	// The cable is made in the LAN: one end is the bridge port named after
	// the machine, the other is moved into the machine as eth0.
	port := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: m.Name, MasterIndex: brIndex, Flags: net.FlagUp},
		PeerName:      machineLink,
		PeerNamespace: netlink.NsFd(ns),
	}
	if err := lanH.LinkAdd(port); err != nil {
		return fmt.Errorf("machine: adding veth %s (in %s) to %s (in %s): %w", m.Name, lanNamespace(n.Cluster), machineLink, name, err)
	}
	h, err := routeHandle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return upMachineLinks(h, n, m)
}

// upMachineLinks brings up lo and eth0 of machine m (h is a handle in its
// namespace), first giving eth0 its address if it has lost it.
func upMachineLinks(h *netlink.Handle, n Network, m Spec) error {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("machine %s: finding lo: %w", m.Name, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("machine %s: setting lo up: %w", m.Name, err)
	}
	if err := linkUpWithAddr(h, machineLink, m.Address, n.CIDR.Bits()); err != nil {
		return fmt.Errorf("machine %s: %w", m.Name, err)
	}
	return nil
}

// linkUpWithAddr gives link name the address addr/bits unless it has it,
// then sets it up. The kernel adds the route to the address's network when
// the link comes up.
func linkUpWithAddr(h *netlink.Handle, name string, addr netip.Addr, bits int) error {
	link, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("finding link %s: %w", name, err)
	}
	have, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("listing addresses of %s: %w", name, err)
	}
	want := &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(bits, 32)}
	if !slices.ContainsFunc(have, func(a netlink.Addr) bool { return a.IPNet.String() == want.String() }) {
		if err := h.AddrAdd(link, &netlink.Addr{IPNet: want}); err != nil {
			return fmt.Errorf("adding address %s to %s: %w", want, name, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("setting %s up: %w", name, err)
	}
	return nil
}

// withHostHandle runs fn with a netlink handle in the host's namespace.
func withHostHandle(fn func(h *netlink.Handle) error) error {
	host, err := hostNetns()
	if err != nil {
		return err
	}
	defer host.Close()
	h, err := routeHandle(host)
	if err != nil {
		return err
	}
	defer h.Close()
	return fn(h)
}

// localMachines returns the machines of n.
func localMachines(n Network) []Machine {
	ms := make([]Machine, len(n.Machines))
	for i, spec := range n.Machines {
		ms[i] = &localMachine{spec: spec, net: n}
	}
	return ms
}

// Open returns the machines of n if the LAN namespace and every machine's
// namespace exist; otherwise an error wrapping ErrNotFound naming what is
// missing. It changes nothing.
func (l *Local) Open(ctx context.Context, n Network) ([]Machine, error) {
	if err := validateLocal(n); err != nil {
		return nil, err
	}
	names := []string{lanNamespace(n.Cluster)}
	for _, m := range n.Machines {
		names = append(names, LocalNamespace(n.Cluster, m.Name))
	}
	for _, name := range names {
		if !IsNetns(NetnsPath(name)) {
			return nil, fmt.Errorf("machine: cluster %q: network namespace %s does not exist (create the cluster first): %w", n.Cluster, name, ErrNotFound)
		}
	}
	return localMachines(n), nil
}

// Destroy kills every process in the cluster's namespaces (LAN, machines,
// pods: every name in /run/netns starting with "<cluster>-"), waits until
// they are gone, then deletes the host's link and the namespaces, pods
// first and the LAN last; the kernel removes the links inside them. Only
// n.Cluster (and n.Machines, for the order) is used. If processes outlive
// the wait, it returns an error naming them and keeps the namespaces, so
// that Leftovers still shows them.
func (l *Local) Destroy(ctx context.Context, n Network) error {
	if err := validateCluster(n.Cluster); err != nil {
		return err
	}
	names, err := ListNetns(n.Cluster + "-")
	if err != nil {
		return err
	}
	if err := killAll(ctx, netnsIDs(names)); err != nil {
		return fmt.Errorf("machine: destroying cluster %q (its namespaces are kept): %w", n.Cluster, err)
	}

	// The host's link goes with the LAN's end of its cable, but the kernel
	// frees a namespace in the background: delete it now, so it is gone
	// when Destroy returns.
	errs := []error{withHostHandle(func(h *netlink.Handle) error {
		return deleteHostLink(h, n.Cluster)
	})}

	rank := func(name string) int {
		switch {
		case name == lanNamespace(n.Cluster):
			return 2
		case slices.ContainsFunc(n.Machines, func(m Spec) bool { return LocalNamespace(n.Cluster, m.Name) == name }):
			return 1
		}
		return 0 // a pod's
	}
	slices.SortStableFunc(names, func(a, b string) int { return rank(a) - rank(b) })
	for _, name := range names {
		errs = append(errs, DeleteNamedNetns(name))
	}
	return errors.Join(errs...)
}

// deleteHostLink deletes cluster's link in the host (h is a handle in the
// host's namespace), if there is one and it is a veth as Create makes.
func deleteHostLink(h *netlink.Handle, cluster string) error {
	link, err := h.LinkByName(hostLinkName(cluster))
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("machine: finding link %s in the host: %w", hostLinkName(cluster), err)
	}
	if link.Type() != "veth" {
		return fmt.Errorf("machine: link %s in the host is a %s, not the veth the local backend makes; not deleting it (delete it by hand if it is a leftover)", hostLinkName(cluster), link.Type())
	}
	if err := h.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("machine: deleting link %s in the host: %w", hostLinkName(cluster), err)
	}
	return nil
}

// Leftovers lists, one line each, the cluster's namespaces in /run/netns
// (including stale files with no namespace mounted), its link in the host's
// namespace and the processes in its namespaces.
func (l *Local) Leftovers(ctx context.Context, n Network) ([]string, error) {
	if err := validateCluster(n.Cluster); err != nil {
		return nil, err
	}
	names, err := ListNetns(n.Cluster + "-")
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, name := range names {
		if IsNetns(NetnsPath(name)) {
			lines = append(lines, fmt.Sprintf("network namespace %s (%s)", name, NetnsPath(name)))
		} else {
			lines = append(lines, fmt.Sprintf("stale file %s (no namespace mounted on it)", NetnsPath(name)))
		}
	}
	err = withHostHandle(func(h *netlink.Handle) error {
		_, err := h.LinkByName(hostLinkName(n.Cluster))
		switch {
		case err == nil:
			lines = append(lines, fmt.Sprintf("link %s in the host's network namespace", hostLinkName(n.Cluster)))
		case !errors.As(err, new(netlink.LinkNotFoundError)):
			return fmt.Errorf("machine: finding link %s in the host: %w", hostLinkName(n.Cluster), err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	procs, err := procsIn(netnsIDs(names))
	if err != nil {
		return nil, err
	}
	for _, p := range procs {
		lines = append(lines, fmt.Sprintf("process %d (%s) in network namespace %s", p.pid, comm(p.pid), p.netns))
	}
	return lines, nil
}
