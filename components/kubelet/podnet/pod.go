package podnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/tinykube/tinykube/internal/machine"
)

// ErrNameClash is wrapped by AddPod when another pod of the node has a
// UID with the same first 8 letters and digits, which name its namespace
// and veth. (For UUIDs, one chance in four billion per pair.)
var ErrNameClash = errors.New("podnet: two pods' UIDs start alike")

// AddPod gives the pod pod its network and returns it:
//
//  1. an address from the node's pod CIDR, recorded in StateDir;
//  2. a network namespace, /run/netns/<Cluster>-<Node>-<uid prefix>;
//  3. a veth pair (a virtual cable): one end is the pod's eth0, with the
//     address and a default route via the gateway; the other end,
//     veth<uid prefix>, is a port of the node's bridge, in hairpin mode so
//     that a pod can reach itself through a Service.
//
// AddPod is idempotent: for a pod it already knows it returns the same
// PodNet, first remaking whatever is missing (after a crash in the middle
// of an AddPod, say). If a first AddPod of a pod fails, it removes what it
// made and releases the address.
func (n *Network) AddPod(ctx context.Context, pod PodRef) (PodNet, error) {
	if err := checkUID(pod.UID); err != nil {
		return PodNet{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.usable(); err != nil {
		return PodNet{}, err
	}
	if err := ctx.Err(); err != nil {
		return PodNet{}, fmt.Errorf("podnet: adding pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if other, ok := n.clash(pod.UID); ok {
		return PodNet{}, fmt.Errorf("podnet: pod %s/%s (uid %s) and pod %s/%s (uid %s) would share network namespace %s: %w",
			pod.Namespace, pod.Name, pod.UID, other.Pod.Namespace, other.Pod.Name, other.Pod.UID, podNetNSName(n.cfg.Cluster, n.cfg.Node, pod.UID), ErrNameClash)
	}

	r, known := n.ipam.byUID(pod.UID)
	if known && !n.self.podCIDR.Contains(r.IP) {
		return PodNet{}, fmt.Errorf("podnet: pod %s/%s (uid %s) has address %s, outside this node's pod CIDR %s (the node's CIDR changed?); DelPod it, then add it again",
			pod.Namespace, pod.Name, pod.UID, r.IP, n.self.podCIDR)
	}
	if !known {
		ip, err := n.ipam.reserve(n.self.podCIDR, pod)
		if err != nil {
			return PodNet{}, err
		}
		r = record{Pod: pod, IP: ip}
	}
	pn := n.podNet(r)
	if err := n.wirePod(ctx, pn); err != nil {
		err = fmt.Errorf("podnet: adding pod %s/%s (uid %s): %w", pod.Namespace, pod.Name, pod.UID, err)
		if !known {
			// Leave nothing of a pod that never got its network.
			if derr := n.delPod(pod.UID); derr != nil {
				err = errors.Join(err, fmt.Errorf("cleaning up (call DelPod): %w", derr))
			}
		}
		return PodNet{}, err
	}
	return pn, nil
}

// clash returns the record of another pod whose UID gives the same names
// as uid.
func (n *Network) clash(uid string) (record, bool) {
	for _, r := range n.ipam.records() {
		if r.Pod.UID != uid && shortID(r.Pod.UID) == shortID(uid) {
			return r, true
		}
	}
	return record{}, false
}

// podNet returns the PodNet of record r: everything but the address is
// derived from the pod's UID.
func (n *Network) podNet(r record) PodNet {
	name := podNetNSName(n.cfg.Cluster, n.cfg.Node, r.Pod.UID)
	return PodNet{
		Pod:       r.Pod,
		NetNSName: name,
		NetNSPath: machine.NetnsPath(name),
		IP:        r.IP.AsSlice(),
		Gateway:   gatewayOf(n.self.podCIDR).AsSlice(),
		Interface: PodInterface,
		HostVeth:  hostVethName(r.Pod.UID),
	}
}

// wirePod makes pn's namespace and veth as AddPod describes them, reusing
// whatever exists already.
func (n *Network) wirePod(ctx context.Context, pn PodNet) error {
	// The namespace. A stale file (no namespace mounted on it: the host
	// rebooted with /run on disk, or a crash between creating the file and
	// mounting on it) is removed first.
	var podNS netns.NsHandle
	fresh := !machine.IsNetns(pn.NetNSPath)
	if fresh {
		if err := machine.DeleteNamedNetns(pn.NetNSName); err != nil {
			return err
		}
		var err error
		if podNS, err = machine.NewNamedNetns(pn.NetNSName, nil); err != nil {
			return err
		}
	} else {
		var err error
		if podNS, err = netns.GetFromPath(pn.NetNSPath); err != nil {
			return fmt.Errorf("opening network namespace %s: %w", pn.NetNSPath, err)
		}
	}
	defer podNS.Close()
	podH, err := netlink.NewHandleAt(podNS, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("opening netlink in %s: %w", pn.NetNSName, err)
	}
	defer podH.Close()
	if err := ctx.Err(); err != nil {
		return err
	}

	ip, _ := addrFromIP(pn.IP)
	host, eth0, err := n.ensureVeth(podH, podNS, pn, ip, fresh)
	if err != nil {
		return err
	}

	// The pod's end: lo and eth0 up, the address, the default route.
	lo, err := podH.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("finding lo in %s: %w", pn.NetNSName, err)
	}
	if err := podH.LinkSetUp(lo); err != nil {
		return fmt.Errorf("setting lo up in %s: %w", pn.NetNSName, err)
	}
	if err := podH.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("setting %s up in %s: %w", PodInterface, pn.NetNSName, err)
	}
	addr := &net.IPNet{IP: pn.IP, Mask: net.CIDRMask(n.self.podCIDR.Bits(), 32)}
	if err := n.ensureAddr(podH, eth0, addr, fresh); err != nil {
		return fmt.Errorf("%s in %s: %w", PodInterface, pn.NetNSName, err)
	}
	def := &netlink.Route{
		LinkIndex: eth0.Attrs().Index,
		Gw:        pn.Gateway,
		Dst:       &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)},
	}
	if err := podH.RouteReplace(def); err != nil {
		return fmt.Errorf("adding the default route via %s in %s: %w", pn.Gateway, pn.NetNSName, err)
	}

	// Both ends up: the cable has a carrier. The kernel reacts to that a
	// moment later, on another thread ("linkwatch"): it marks each end
	// operationally up and only then lets it send (until then a link
	// drops every packet). Wait for it, then plug the node's end into the
	// bridge: a link that is up when it joins starts forwarding at once;
	// one that joins before waits for linkwatch too, and the first
	// packets to the pod (an ARP request) are lost, costing a 1 s retry.
	if err := n.h.LinkSetUp(host); err != nil {
		return fmt.Errorf("setting %s up: %w", pn.HostVeth, err)
	}
	if err := waitOperUp(ctx, podH, eth0); err != nil {
		return fmt.Errorf("%s in %s: %w", PodInterface, pn.NetNSName, err)
	}
	if err := waitOperUp(ctx, n.h, host); err != nil {
		return err
	}
	if host.Attrs().MasterIndex != n.bridge {
		if err := n.h.LinkSetMasterByIndex(host, n.bridge); err != nil {
			return fmt.Errorf("adding %s to %s: %w", pn.HostVeth, BridgeName, err)
		}
	}
	// Hairpin: a bridge never sends a frame back out of the port it came
	// in by, unless told to. A pod that calls a Service and is picked as
	// its backend sends a packet out of its port that must come back in.
	if err := n.h.LinkSetHairpin(host, true); err != nil {
		return fmt.Errorf("setting hairpin mode on %s: %w", pn.HostVeth, err)
	}
	// The bridge itself has a carrier once it has a forwarding port: with
	// the first pod of the node, it too waits for linkwatch.
	br, err := n.h.LinkByIndex(n.bridge)
	if err != nil {
		return fmt.Errorf("finding %s: %w", BridgeName, err)
	}
	return waitOperUp(ctx, n.h, br)
}

// operUpTimeout bounds waitOperUp when ctx has no earlier deadline.
const operUpTimeout = 5 * time.Second

// waitOperUp waits until link (in the namespace of h) is operationally up,
// polling from every 100 µs to every 10 ms.
func waitOperUp(ctx context.Context, h *netlink.Handle, link netlink.Link) error {
	deadline := time.Now().Add(operUpTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	wait := 100 * time.Microsecond
	for {
		l, err := h.LinkByIndex(link.Attrs().Index)
		if err != nil {
			return fmt.Errorf("finding %s: %w", link.Attrs().Name, err)
		}
		state := l.Attrs().OperState
		if state == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is still %s, not up, after %v", link.Attrs().Name, state, operUpTimeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to come up: %w", link.Attrs().Name, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Millisecond)
	}
}

// ensureVeth returns the two ends of pn's veth: host in the node, eth0 in
// the pod (podH, podNS). It makes the pair unless both ends exist and are
// each other's peer; if only one end exists (or a mismatched pair), it is
// deleted first. fresh says the namespace was just made, so it holds no
// eth0 yet.
func (n *Network) ensureVeth(podH *netlink.Handle, podNS netns.NsHandle, pn PodNet, ip netip.Addr, fresh bool) (host, eth0 netlink.Link, err error) {
	host, err = n.h.LinkByName(pn.HostVeth)
	if err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil, nil, fmt.Errorf("finding %s: %w", pn.HostVeth, err)
	}
	if !fresh {
		eth0, err = podH.LinkByName(PodInterface)
		if err != nil && !errors.As(err, new(netlink.LinkNotFoundError)) {
			return nil, nil, fmt.Errorf("finding %s in %s: %w", PodInterface, pn.NetNSName, err)
		}
	}
	// A veth's "parent index" is its peer's index, in the peer's namespace.
	if host != nil && eth0 != nil && host.Attrs().ParentIndex == eth0.Attrs().Index && eth0.Attrs().ParentIndex == host.Attrs().Index {
		return host, eth0, nil
	}
	if host != nil {
		// ENODEV: the kernel removed it meanwhile, with a namespace it freed.
		if err := n.h.LinkDel(host); err != nil && !errors.Is(err, unix.ENODEV) {
			return nil, nil, fmt.Errorf("deleting stale %s: %w", pn.HostVeth, err)
		}
	}
	if eth0 != nil {
		if err := podH.LinkDel(eth0); err != nil {
			return nil, nil, fmt.Errorf("deleting stale %s in %s: %w", PodInterface, pn.NetNSName, err)
		}
	}

	// The pair is made in the node; the kernel puts the peer straight
	// into the pod's namespace. It joins the bridge later (see wirePod).
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: pn.HostVeth, Flags: net.FlagUp},
		PeerName:         PodInterface,
		PeerHardwareAddr: macFor(ip),
		PeerNamespace:    netlink.NsFd(podNS),
	}
	if err := n.h.LinkAdd(veth); err != nil {
		return nil, nil, fmt.Errorf("adding veth %s (node) - %s (%s): %w", pn.HostVeth, PodInterface, pn.NetNSName, err)
	}
	eth0, err = podH.LinkByName(PodInterface)
	if err != nil {
		return nil, nil, fmt.Errorf("finding %s in %s: %w", PodInterface, pn.NetNSName, err)
	}
	return veth, eth0, nil
}

// ensureAddr gives link (in the namespace of h) the address addr unless it
// has it. fresh: the link is new, so it has none.
func (n *Network) ensureAddr(h *netlink.Handle, link netlink.Link, addr *net.IPNet, fresh bool) error {
	if !fresh {
		have, err := h.AddrList(link, netlink.FAMILY_V4)
		if err != nil {
			return fmt.Errorf("listing addresses: %w", err)
		}
		for _, a := range have {
			if a.IPNet.String() == addr.String() {
				return nil
			}
		}
	}
	if err := h.AddrAdd(link, &netlink.Addr{IPNet: addr}); err != nil {
		return fmt.Errorf("adding address %s: %w", addr, err)
	}
	return nil
}

// DelPod removes the network of the pod with uid: its veth, its namespace
// (unmounted and removed from /run/netns) and its address record, which
// frees the address. It is idempotent: a pod with no network is not an
// error. Containers still running in the namespace keep it alive, without
// a network; stop them first.
func (n *Network) DelPod(ctx context.Context, uid string) error {
	if err := checkUID(uid); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.usable(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("podnet: deleting pod uid %s: %w", uid, err)
	}
	return n.delPod(uid)
}

// delPod is DelPod with mu held. Even with no record of the pod (the state
// directory was lost), what its names name is removed, unless those names
// are another known pod's.
func (n *Network) delPod(uid string) error {
	r, known := n.ipam.byUID(uid)
	if _, clash := n.clash(uid); clash && !known {
		return nil // the namespace and veth with these names are the other pod's
	}
	var errs []error
	name := hostVethName(uid)
	if link, err := n.h.LinkByName(name); err == nil {
		if err := n.h.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("podnet: deleting %s: %w", name, err))
		}
	} else if !errors.As(err, new(netlink.LinkNotFoundError)) {
		errs = append(errs, fmt.Errorf("podnet: finding %s: %w", name, err))
	}
	errs = append(errs, machine.DeleteNamedNetns(podNetNSName(n.cfg.Cluster, n.cfg.Node, uid)))
	if known {
		if err := errors.Join(errs...); err != nil {
			return err // keep the record, so that a retry finds the pod
		}
		errs = append(errs, n.ipam.release(r.IP))
	}
	return errors.Join(errs...)
}

// List returns the networks of the pods the Network knows, sorted by IP:
// after a restart, those a previous run made. A kubelet adopts them on
// start: it calls AddPod again for each pod it still runs (which remakes
// anything missing) and DelPod for the others.
func (n *Network) List() ([]PodNet, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.usable(); err != nil {
		return nil, err
	}
	var pns []PodNet
	for _, r := range n.ipam.records() {
		pns = append(pns, n.podNet(r))
	}
	return pns, nil
}
