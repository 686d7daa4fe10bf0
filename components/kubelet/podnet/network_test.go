package podnet

// Integration tests: real namespaces, bridges, veths and routes. They need
// root and network namespaces (machinetest.RequireNetns: a skip on a
// laptop, a failure in CI).
//
// Each test builds its own little world with the machine layer's local
// backend: a cluster "pn<4 hex digits>" of two node machines on a random
// LAN 10.203.X.0/24. The pod CIDRs (10.244.1.0/24, 10.244.2.0/24) and the
// service range exist only inside those node namespaces. Everything is
// removed when the test ends, pass or fail (t.Cleanup): first Teardown,
// then the machine layer's Destroy, which is checked to leave nothing.
//
// Reference: MACHINES-AND-NETWORK.md, "Pod network".

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinykube/tinykube/internal/machine"
	"github.com/tinykube/tinykube/internal/machine/machinetest"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// world is a test cluster: its machine network and its nodes' configs.
type world struct {
	net   machine.Network
	nodes []Config // one per node machine, NetNSPath set
}

var (
	usedMu   sync.Mutex
	usedLANs = map[int]bool{}
)

// newWorld creates a cluster of nodes node machines and returns it; its
// destruction, checked, runs when the test ends.
func newWorld(t testing.TB, nodes int) world {
	t.Helper()
	machinetest.RequireNetns(t)

	b := make([]byte, 2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	x := freeLAN(t)
	addr := func(last int) netip.Addr { return netip.AddrFrom4([4]byte{10, 203, byte(x), byte(last)}) }
	w := world{net: machine.Network{
		Cluster:     "pn" + hex.EncodeToString(b),
		CIDR:        netip.PrefixFrom(addr(0), 24),
		HostAddress: addr(1),
	}}
	stateDir := t.TempDir()
	for i := 1; i <= nodes; i++ {
		name := fmt.Sprintf("node%d", i)
		w.net.Machines = append(w.net.Machines, machine.Spec{Name: name, Role: machine.RoleNode, Address: addr(10 + i)})
		w.nodes = append(w.nodes, Config{
			Cluster:     w.net.Cluster,
			Node:        name,
			PodCIDR:     ipnet(fmt.Sprintf("10.244.%d.0/24", i)),
			ServiceCIDR: ipnet("10.96.0.0/12"),
			NodeIP:      addr(10 + i).AsSlice(),
			StateDir:    filepath.Join(stateDir, name, "podnet"),
			NetNSPath:   machine.NetnsPath(machine.LocalNamespace(w.net.Cluster, name)),
		})
	}

	local := machine.NewLocal()
	t.Cleanup(func() {
		ctx := context.Background()
		if err := local.Destroy(ctx, w.net); err != nil {
			t.Errorf("Destroy(%s): %v", w.net.Cluster, err)
		}
		if left, err := local.Leftovers(ctx, w.net); err != nil || len(left) > 0 {
			t.Errorf("after Destroy(%s): leftovers %q, %v", w.net.Cluster, left, err)
		}
	})
	if _, err := local.Create(context.Background(), w.net); err != nil {
		t.Fatalf("creating cluster %s: %v", w.net.Cluster, err)
	}
	return w
}

// freeLAN returns an X such that no link of the host has an address in
// 10.203.X.0/24 and no other test of this process uses it.
func freeLAN(t testing.TB) int {
	usedMu.Lock()
	defer usedMu.Unlock()
	hostAddrs, _ := net.InterfaceAddrs()
	for range 1000 {
		r, err := rand.Int(rand.Reader, big.NewInt(256))
		if err != nil {
			t.Fatal(err)
		}
		x := int(r.Int64())
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 203, byte(x), 0}), 24)
		inUse := usedLANs[x]
		for _, a := range hostAddrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := addrFromIP(n.IP); ok && p.Contains(ip) {
					inUse = true
				}
			}
		}
		if !inUse {
			usedLANs[x] = true
			return x
		}
	}
	t.Fatal("no free 10.203.X.0/24 network")
	return 0
}

// setup runs Setup for cfg and registers its Teardown, with a check that
// it left nothing, for when the test ends (before the cluster's Destroy).
// If onThread, it calls Setup as a kubelet would, from a thread inside the
// node and with no NetNSPath; otherwise with NetNSPath.
func setup(t testing.TB, cfg Config, onThread bool) *Network {
	t.Helper()
	var n *Network
	var err error
	if onThread {
		path := cfg.NetNSPath
		cfg.NetNSPath = ""
		err = inNetnsPath(path, func() error {
			n, err = Setup(cfg)
			return err
		})
	} else {
		n, err = Setup(cfg)
	}
	if err != nil {
		t.Fatalf("Setup(%s): %v", cfg.Node, err)
	}
	t.Cleanup(func() {
		// Teardown needs an open Network: the test may have closed this one.
		n2, err := Setup(withNetNS(cfg))
		if err != nil {
			t.Errorf("Setup(%s) for teardown: %v", cfg.Node, err)
			return
		}
		n.Close()
		if err := n2.Teardown(); err != nil {
			t.Errorf("Teardown(%s): %v", cfg.Node, err)
		}
		checkNothingLeft(t, cfg)
	})
	return n
}

// withNetNS returns cfg with NetNSPath set to the node's namespace.
func withNetNS(cfg Config) Config {
	if cfg.NetNSPath == "" {
		cfg.NetNSPath = machine.NetnsPath(machine.LocalNamespace(cfg.Cluster, cfg.Node))
	}
	return cfg
}

// inNetnsPath runs fn on a thread inside the namespace at path.
func inNetnsPath(path string, fn func() error) error {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	return machine.InNetns(ns, fn)
}

// nodeHandle returns a netlink handle in cfg's node, closed when t ends.
func nodeHandle(t testing.TB, cfg Config) *netlink.Handle {
	t.Helper()
	ns, err := netns.GetFromPath(withNetNS(cfg).NetNSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// checkNothingLeft fails t if anything Setup or AddPod make is left in
// cfg's node: pod namespaces, the bridge, veths, owned routes, records.
func checkNothingLeft(t testing.TB, cfg Config) {
	t.Helper()
	names, err := machine.ListNetns(podNetNSPrefix(cfg.Cluster, cfg.Node))
	if err != nil || len(names) > 0 {
		t.Errorf("node %s: pod namespaces left: %q (%v)", cfg.Node, names, err)
	}
	ns, err := netns.GetFromPath(withNetNS(cfg).NetNSPath)
	if err != nil {
		t.Errorf("node %s: %v", cfg.Node, err)
		return
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Errorf("node %s: %v", cfg.Node, err)
		return
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		t.Error(err)
	}
	for _, l := range links {
		if name := l.Attrs().Name; name == BridgeName || strings.HasPrefix(name, hostVethPrefix) {
			t.Errorf("node %s: link %s (%s) left", cfg.Node, name, l.Type())
		}
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: RouteProtocol, Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_PROTOCOL)
	if err != nil || len(routes) > 0 {
		t.Errorf("node %s: routes of protocol %d left: %v (%v)", cfg.Node, RouteProtocol, routes, err)
	}
	if _, err := os.Stat(cfg.StateDir); !errors.Is(err, os.ErrNotExist) {
		entries, _ := os.ReadDir(cfg.StateDir)
		t.Errorf("node %s: state directory %s left (%d entries, %v)", cfg.Node, cfg.StateDir, len(entries), err)
	}
}

// echo listens on addr inside the namespace at nsPath and answers every
// connection with the caller's IP and a newline, until the test ends.
func echo(t testing.TB, nsPath, addr string) {
	t.Helper()
	var ln net.Listener
	err := inNetnsPath(nsPath, func() error {
		var err error
		ln, err = net.Listen("tcp4", addr) // the socket stays in the namespace
		return err
	})
	if err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, nsPath, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintln(c, host)
			c.Close()
		}
	}()
}

// whoAmI dials addr from inside the namespace at nsPath and returns the
// address the other end saw us come from. It retries until a deadline
// and then fails t with the last error.
func whoAmI(t testing.TB, nsPath, addr string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := dialOnce(nsPath, addr, time.Second)
		if err == nil {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("dialing %s from %s: %v", addr, nsPath, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dialOnce dials addr from inside the namespace at nsPath, with timeout,
// and returns the line the other end sends.
func dialOnce(nsPath, addr string, timeout time.Duration) (string, error) {
	var got string
	err := inNetnsPath(nsPath, func() error {
		// On this locked thread: no happy eyeballs, no other goroutine.
		d := net.Dialer{Timeout: timeout, FallbackDelay: -1}
		c, err := d.Dial("tcp4", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		line, err := bufio.NewReader(c).ReadString('\n')
		got = strings.TrimSpace(line)
		return err
	})
	return got, err
}

// uid returns a fresh UUID-like pod UID.
func uid(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// addPod calls AddPod and fails t on error.
func addPod(t testing.TB, n *Network, name string, uid string) PodNet {
	t.Helper()
	pn, err := n.AddPod(context.Background(), PodRef{Namespace: "default", Name: name, UID: uid})
	if err != nil {
		t.Fatalf("AddPod(%s): %v", name, err)
	}
	return pn
}

// ownedRoutes lists h's routes of RouteProtocol as "dst via gw".
func ownedRouteStrings(t testing.TB, h *netlink.Handle) []string {
	t.Helper()
	rs, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: RouteProtocol}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		s := r.Dst.String()
		if r.Gw != nil {
			s += " via " + r.Gw.String()
		}
		out = append(out, s)
	}
	return out
}

// Reference: https://kubernetes.io/docs/concepts/cluster-administration/networking/
// ("pods can communicate with all other pods on any other node without NAT").
func TestTwoNodes(t *testing.T) {
	w := newWorld(t, 2)
	c1, c2 := w.nodes[0], w.nodes[1]
	n1 := setup(t, c1, true) // from a thread inside node1, as a kubelet
	n2 := setup(t, c2, false)
	t.Cleanup(func() { n1.Close() }) // the one a subtest reopens
	h1 := nodeHandle(t, c1)
	peers := map[string]Peer{
		"node1": {PodCIDR: c1.PodCIDR, NodeIP: c1.NodeIP},
		"node2": {PodCIDR: c2.PodCIDR, NodeIP: c2.NodeIP},
	}
	for _, n := range []*Network{n1, n2} {
		if err := n.SyncRoutes(peers); err != nil {
			t.Fatalf("SyncRoutes: %v", err)
		}
	}

	t.Run("setup made the bridge, sysctls and routes", func(t *testing.T) {
		br, err := h1.LinkByName(BridgeName)
		if err != nil {
			t.Fatal(err)
		}
		if got := br.Attrs().HardwareAddr.String(); got != "0a:58:0a:f4:01:01" {
			t.Errorf("%s MAC = %s, want 0a:58:0a:f4:01:01", BridgeName, got)
		}
		if br.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("%s is down", BridgeName)
		}
		as, err := h1.AddrList(br, netlink.FAMILY_V4)
		if err != nil || len(as) != 1 || as[0].IPNet.String() != "10.244.1.1/24" {
			t.Errorf("%s addresses = %v (%v), want 10.244.1.1/24", BridgeName, as, err)
		}
		err = inNetnsPath(c2.NetNSPath, func() error {
			for _, s := range []string{"net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables"} {
				if v, err := machine.ReadSysctl(s); err != nil || v != "1" {
					return fmt.Errorf("%s = %q, %v; want 1", s, v, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		want := "[10.96.0.0/12 10.244.2.0/24 via " + net.IP(c2.NodeIP).String() + "]"
		if got := fmt.Sprint(ownedRouteStrings(t, h1)); got != want {
			t.Errorf("node1's own routes = %s, want %s", got, want)
		}
	})

	a1 := addPod(t, n1, "a1", uid(t))
	a2 := addPod(t, n1, "a2", uid(t))
	b1 := addPod(t, n2, "b1", uid(t))

	t.Run("pods get addresses, namespaces and veths", func(t *testing.T) {
		for _, c := range []struct {
			pn       PodNet
			ip, gw   string
			nodeName string
		}{{a1, "10.244.1.2", "10.244.1.1", "node1"}, {a2, "10.244.1.3", "10.244.1.1", "node1"}, {b1, "10.244.2.2", "10.244.2.1", "node2"}} {
			if c.pn.IP.String() != c.ip || c.pn.Gateway.String() != c.gw || c.pn.Interface != "eth0" {
				t.Errorf("%s: IP %s gateway %s interface %s; want %s, %s, eth0", c.pn.Pod.Name, c.pn.IP, c.pn.Gateway, c.pn.Interface, c.ip, c.gw)
			}
			wantNS := w.net.Cluster + "-" + c.nodeName + "-" + shortID(c.pn.Pod.UID)
			if c.pn.NetNSName != wantNS || c.pn.NetNSPath != "/run/netns/"+wantNS || !machine.IsNetns(c.pn.NetNSPath) {
				t.Errorf("%s: namespace %s at %s (live: %v), want %s", c.pn.Pod.Name, c.pn.NetNSName, c.pn.NetNSPath, machine.IsNetns(c.pn.NetNSPath), wantNS)
			}
		}
		host, err := h1.LinkByName(a1.HostVeth)
		if err != nil {
			t.Fatal(err)
		}
		br, _ := h1.LinkByName(BridgeName)
		if host.Attrs().MasterIndex != br.Attrs().Index {
			t.Errorf("%s is not on %s", a1.HostVeth, BridgeName)
		}
		pi, err := h1.LinkGetProtinfo(host)
		if err != nil || !pi.Hairpin {
			t.Errorf("%s hairpin = %v (%v), want true", a1.HostVeth, pi.Hairpin, err)
		}
	})

	t.Run("AddPod again returns the same network", func(t *testing.T) {
		again := addPod(t, n1, "a1", a1.Pod.UID)
		if fmt.Sprint(again) != fmt.Sprint(a1) {
			t.Errorf("AddPod again = %+v, want %+v", again, a1)
		}
	})

	port := "7070"
	echo(t, b1.NetNSPath, b1.IP.String()+":"+port)
	echo(t, a2.NetNSPath, a2.IP.String()+":"+port)
	echo(t, a1.NetNSPath, a1.IP.String()+":"+port)
	echo(t, c1.NetNSPath, a1.Gateway.String()+":"+port) // on node1 itself

	t.Run("pod to pod across nodes keeps the source IP", func(t *testing.T) {
		if got := whoAmI(t, a1.NetNSPath, b1.IP.String()+":"+port); got != a1.IP.String() {
			t.Errorf("b1 sees a1 as %s, want %s", got, a1.IP)
		}
		if got := whoAmI(t, a2.NetNSPath, b1.IP.String()+":"+port); got != a2.IP.String() {
			t.Errorf("b1 sees a2 as %s, want %s", got, a2.IP)
		}
		if got := whoAmI(t, b1.NetNSPath, a1.IP.String()+":"+port); got != b1.IP.String() {
			t.Errorf("a1 sees b1 as %s, want %s", got, b1.IP)
		}
	})
	t.Run("pod to pod on one node", func(t *testing.T) {
		if got := whoAmI(t, a1.NetNSPath, a2.IP.String()+":"+port); got != a1.IP.String() {
			t.Errorf("a2 sees a1 as %s, want %s", got, a1.IP)
		}
	})
	t.Run("pod to its gateway", func(t *testing.T) {
		if got := whoAmI(t, a1.NetNSPath, a1.Gateway.String()+":"+port); got != a1.IP.String() {
			t.Errorf("node1 sees a1 as %s, want %s", got, a1.IP)
		}
	})
	t.Run("node to a pod of another node", func(t *testing.T) {
		if got := whoAmI(t, c1.NetNSPath, b1.IP.String()+":"+port); got != net.IP(c1.NodeIP).String() {
			t.Errorf("b1 sees node1 as %s, want %s", got, net.IP(c1.NodeIP))
		}
	})

	t.Run("SyncRoutes only touches its own routes", func(t *testing.T) {
		user := &netlink.Route{Dst: ipnet("10.244.99.0/24"), Gw: c2.NodeIP, Protocol: unix.RTPROT_BOOT}
		if err := h1.RouteAdd(user); err != nil {
			t.Fatal(err)
		}
		defer h1.RouteDel(user)
		if err := n1.SyncRoutes(map[string]Peer{"node1": peers["node1"]}); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(ownedRouteStrings(t, h1)); got != "[10.96.0.0/12]" {
			t.Errorf("after node2 left, node1's own routes = %s, want only the service range", got)
		}
		rs, err := h1.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: user.Dst}, netlink.RT_FILTER_DST)
		if err != nil || len(rs) != 1 {
			t.Errorf("the user's route is gone: %v (%v)", rs, err)
		}
		// node2 moves to another address on the LAN: its route is replaced.
		movedIP := net.IP(c2.NodeIP).To4()
		movedIP = net.IPv4(movedIP[0], movedIP[1], movedIP[2], 99)
		moved := map[string]Peer{"node2": {PodCIDR: c2.PodCIDR, NodeIP: movedIP}}
		if err := n1.SyncRoutes(moved); err != nil {
			t.Fatal(err)
		}
		want := "[10.96.0.0/12 10.244.2.0/24 via " + movedIP.String() + "]"
		if got := fmt.Sprint(ownedRouteStrings(t, h1)); got != want {
			t.Errorf("after node2 moved, node1's own routes = %s, want %s", got, want)
		}
		if err := n1.SyncRoutes(peers); err != nil {
			t.Fatal(err)
		}
		if got := whoAmI(t, a1.NetNSPath, b1.IP.String()+":"+port); got != a1.IP.String() {
			t.Errorf("after resync, b1 sees a1 as %s", got)
		}
	})

	t.Run("a restarted kubelet adopts its pods", func(t *testing.T) {
		n1.Close()
		if _, err := n1.AddPod(context.Background(), PodRef{UID: uid(t)}); !errors.Is(err, ErrClosed) {
			t.Errorf("AddPod after Close = %v, want ErrClosed", err)
		}
		var err error
		n1, err = Setup(c1) // the test's cleanup closes it
		if err != nil {
			t.Fatal(err)
		}
		list, err := n1.List()
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(list) != fmt.Sprint([]PodNet{a1, a2}) {
			t.Errorf("List after restart = %v, want a1 and a2 as before: %v", list, []PodNet{a1, a2})
		}
		a3 := addPod(t, n1, "a3", uid(t))
		if a3.IP.String() != "10.244.1.4" {
			t.Errorf("a3 got %s, want 10.244.1.4 (the next after a2)", a3.IP)
		}
		if again := addPod(t, n1, "a1", a1.Pod.UID); fmt.Sprint(again) != fmt.Sprint(a1) {
			t.Errorf("AddPod(a1) after restart = %v, want %v", again, a1)
		}
		if got := whoAmI(t, a3.NetNSPath, b1.IP.String()+":"+port); got != a3.IP.String() {
			t.Errorf("b1 sees a3 as %s", got)
		}
	})

	t.Run("DelPod removes a pod's network, once or twice", func(t *testing.T) {
		ctx := context.Background()
		if err := n1.DelPod(ctx, a1.Pod.UID); err != nil {
			t.Fatal(err)
		}
		if err := n1.DelPod(ctx, a1.Pod.UID); err != nil {
			t.Errorf("DelPod again: %v, want nil", err)
		}
		if _, err := os.Stat(a1.NetNSPath); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists (%v)", a1.NetNSPath, err)
		}
		if _, err := h1.LinkByName(a1.HostVeth); err == nil {
			t.Errorf("%s still exists", a1.HostVeth)
		}
		if _, err := os.Stat(filepath.Join(c1.StateDir, a1.IP.String())); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the record of %s still exists (%v)", a1.IP, err)
		}
		list, _ := n1.List()
		for _, pn := range list {
			if pn.Pod.UID == a1.Pod.UID {
				t.Errorf("List still has a1")
			}
		}
		// The bridge kept its MAC, and the other pods their gateway.
		br, _ := h1.LinkByName(BridgeName)
		if got := br.Attrs().HardwareAddr.String(); got != "0a:58:0a:f4:01:01" {
			t.Errorf("after a pod left, %s MAC = %s", BridgeName, got)
		}
		if got := whoAmI(t, a2.NetNSPath, a2.Gateway.String()+":"+port); got != a2.IP.String() {
			t.Errorf("node1 sees a2 as %s", got)
		}
	})

	t.Run("AddPod remakes a missing namespace and ignores a stale file", func(t *testing.T) {
		ctx := context.Background()
		// A stale file where a new pod's namespace goes (a crash, a reboot).
		u := uid(t)
		stale := machine.NetnsPath(podNetNSName(c2.Cluster, c2.Node, u))
		if err := os.WriteFile(stale, nil, 0o444); err != nil {
			t.Fatal(err)
		}
		pn := addPod(t, n2, "stale", u)
		if !machine.IsNetns(pn.NetNSPath) {
			t.Errorf("%s is not a namespace", pn.NetNSPath)
		}
		// The namespace of a known pod vanishes.
		if err := machine.DeleteNamedNetns(pn.NetNSName); err != nil {
			t.Fatal(err)
		}
		again := addPod(t, n2, "stale", u)
		if fmt.Sprint(again) != fmt.Sprint(pn) {
			t.Errorf("AddPod after losing the namespace = %v, want %v", again, pn)
		}
		echo(t, again.NetNSPath, again.IP.String()+":"+port)
		if got := whoAmI(t, a2.NetNSPath, again.IP.String()+":"+port); got != a2.IP.String() {
			t.Errorf("the remade pod sees a2 as %s", got)
		}
		if err := n2.DelPod(ctx, u); err != nil {
			t.Fatal(err)
		}
	})

	// Reference: wirePod's comment on linkwatch. A lost first packet (an
	// ARP request dropped by a bridge port not yet forwarding) costs a
	// 1 s retry, so a dial that needs more than 900 ms lost one.
	t.Run("a new pod is reachable at once", func(t *testing.T) {
		for i := range 5 {
			fresh := addPod(t, n1, fmt.Sprint("fresh", i), uid(t))
			if got, err := dialOnce(fresh.NetNSPath, b1.IP.String()+":"+port, 900*time.Millisecond); err != nil || got != fresh.IP.String() {
				t.Errorf("new pod %s to b1 at once: %q, %v", fresh.IP, got, err)
			}
			fresh2 := addPod(t, n1, fmt.Sprint("fresh-in", i), uid(t))
			echo(t, fresh2.NetNSPath, fresh2.IP.String()+":"+port)
			if got, err := dialOnce(b1.NetNSPath, fresh2.IP.String()+":"+port, 900*time.Millisecond); err != nil || got != b1.IP.String() {
				t.Errorf("b1 to new pod %s at once: %q, %v", fresh2.IP, got, err)
			}
		}
	})

	t.Run("concurrent AddPods get distinct addresses", func(t *testing.T) {
		var wg sync.WaitGroup
		pns := make([]PodNet, 10)
		errs := make([]error, 10)
		for i := range pns {
			wg.Go(func() {
				pns[i], errs[i] = n2.AddPod(context.Background(), PodRef{Namespace: "default", Name: fmt.Sprint("c", i), UID: uid(t)})
			})
		}
		wg.Wait()
		seen := map[string]bool{}
		for i, pn := range pns {
			if errs[i] != nil {
				t.Fatalf("AddPod c%d: %v", i, errs[i])
			}
			if seen[pn.IP.String()] {
				t.Errorf("%s handed out twice", pn.IP)
			}
			seen[pn.IP.String()] = true
		}
	})

	t.Run("bad UIDs are refused", func(t *testing.T) {
		if _, err := n2.AddPod(context.Background(), PodRef{UID: "../../etc"}); err == nil {
			t.Error("AddPod with UID ../../etc succeeded")
		}
	})
	// The cleanups tear both nodes down and check nothing is left.
}

// TestSetupIsIdempotent runs Setup over what a previous Setup made, and
// over a bridge a crash left with the wrong MAC and an old address.
func TestSetupIsIdempotent(t *testing.T) {
	w := newWorld(t, 1)
	c := w.nodes[0]
	n := setup(t, c, false)
	n.Close()
	h := nodeHandle(t, c)
	br, err := h.LinkByName(BridgeName)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetHardwareAddr(br, net.HardwareAddr{0x0a, 0x58, 1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if err := h.AddrAdd(br, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("10.244.77.1"), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		n, err := Setup(c)
		if err != nil {
			t.Fatalf("Setup again: %v", err)
		}
		n.Close()
	}
	br, err = h.LinkByName(BridgeName)
	if err != nil {
		t.Fatal(err)
	}
	if got := br.Attrs().HardwareAddr.String(); got != "0a:58:0a:f4:01:01" {
		t.Errorf("%s MAC = %s, want 0a:58:0a:f4:01:01", BridgeName, got)
	}
	as, err := h.AddrList(br, netlink.FAMILY_V4)
	if err != nil || len(as) != 1 || as[0].IPNet.String() != "10.244.1.1/24" {
		t.Errorf("%s addresses = %v (%v), want only 10.244.1.1/24", BridgeName, as, err)
	}
	if got := fmt.Sprint(ownedRouteStrings(t, h)); got != "[10.96.0.0/12]" {
		t.Errorf("routes = %s, want [10.96.0.0/12]", got)
	}
}

// TestSetupOutsideItsNode checks that Setup refuses a namespace without
// the node's IP (e.g. a kubelet not started inside its node), and makes
// nothing there.
func TestSetupOutsideItsNode(t *testing.T) {
	w := newWorld(t, 1)
	c := w.nodes[0]
	c.NodeIP = net.ParseIP("10.203.255.254") // on no link of the node
	_, err := Setup(c)
	if err == nil || !strings.Contains(err.Error(), "no link") {
		t.Fatalf("Setup with a foreign node IP = %v, want an error saying no link has it", err)
	}
	h := nodeHandle(t, c)
	if _, err := h.LinkByName(BridgeName); err == nil {
		t.Errorf("Setup failed but made %s", BridgeName)
	}
}

// BenchmarkAddDelPod measures a pod's network: AddPod then DelPod, in
// milliseconds per pod. (MACHINES-AND-NETWORK.md: 2-3 ms with netlink,
// 100-200 ms with the ip command.)
func BenchmarkAddDelPod(b *testing.B) {
	w := newWorld(b, 1)
	n := setup(b, w.nodes[0], false)
	ctx := context.Background()
	var add, del time.Duration
	pods := 0
	for b.Loop() {
		pods++
		u := uid(b)
		start := time.Now()
		if _, err := n.AddPod(ctx, PodRef{Namespace: "default", Name: "bench", UID: u}); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := n.DelPod(ctx, u); err != nil {
			b.Fatal(err)
		}
		add += mid.Sub(start)
		del += time.Since(mid)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(pods) }
	b.ReportMetric(ms(add+del), "ms/pod")
	b.ReportMetric(ms(add), "add-ms/pod")
	b.ReportMetric(ms(del), "del-ms/pod")
}
