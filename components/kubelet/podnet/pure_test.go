package podnet

// Unit tests of the pure parts: names, MACs, the address allocator, the
// route computations and the config checks. No root, no namespaces; the
// record store writes to a temporary directory.

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// netipOpt lets cmp compare netip values (their fields are unexported).
var netipOpt = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

func TestNames(t *testing.T) {
	uid := "3F2A9C1D-77b0-4c1e-9d3a-1234567890ab"
	if got, want := shortID(uid), "3f2a9c1d"; got != want {
		t.Errorf("shortID(%q) = %q, want %q", uid, got, want)
	}
	if got, want := shortID("ab-cd.ef_gh-ijkl"), "abcdefgh"; got != want {
		t.Errorf("shortID skips punctuation: got %q, want %q", got, want)
	}
	if got, want := shortID("pod1"), "pod1"; got != want {
		t.Errorf("shortID of a short UID = %q, want %q", got, want)
	}
	if got, want := podNetNSName("tk", "node1", uid), "tk-node1-3f2a9c1d"; got != want {
		t.Errorf("podNetNSName = %q, want %q", got, want)
	}
	// Reference: the kernel's IFNAMSIZ is 16 with the NUL: 15 characters.
	if got := hostVethName(uid); got != "veth3f2a9c1d" || len(got) > 15 {
		t.Errorf("hostVethName = %q, want veth3f2a9c1d (at most 15 characters)", got)
	}
	// The machine layer finds a node's pods by "<cluster>-<node>-".
	if !strings.HasPrefix(podNetNSName("tk", "node1", uid), podNetNSPrefix("tk", "node1")) {
		t.Error("a pod's namespace does not start with the node's pod prefix")
	}
}

func TestCheckUID(t *testing.T) {
	for _, uid := range []string{"3f2a9c1d-77b0-4c1e-9d3a-1234567890ab", "pod-1", "a"} {
		if err := checkUID(uid); err != nil {
			t.Errorf("checkUID(%q) = %v, want nil", uid, err)
		}
	}
	for _, uid := range []string{"", "../etc", "a/b", "-x", ".hidden", "---", "a b", strings.Repeat("a", 129)} {
		if err := checkUID(uid); err == nil {
			t.Errorf("checkUID(%q) = nil, want an error", uid)
		}
	}
}

func TestMACFor(t *testing.T) {
	got := macFor(netip.MustParseAddr("10.244.1.1"))
	if got.String() != "0a:58:0a:f4:01:01" {
		t.Errorf("macFor(10.244.1.1) = %s, want 0a:58:0a:f4:01:01", got)
	}
	// Unicast (bit 0 of the first byte clear), locally administered (bit 1 set).
	if got[0]&1 != 0 || got[0]&2 == 0 {
		t.Errorf("macFor gives %s: not a locally administered unicast MAC", got)
	}
	if macFor(netip.MustParseAddr("10.244.1.2")).String() == got.String() {
		t.Error("two addresses give the same MAC")
	}
}

func TestGatewayAndBroadcast(t *testing.T) {
	for _, c := range []struct{ cidr, gw, bc string }{
		{"10.244.1.0/24", "10.244.1.1", "10.244.1.255"},
		{"10.244.0.0/16", "10.244.0.1", "10.244.255.255"},
		{"10.244.1.8/30", "10.244.1.9", "10.244.1.11"},
		{"10.244.1.128/25", "10.244.1.129", "10.244.1.255"},
	} {
		p := netip.MustParsePrefix(c.cidr)
		if got := gatewayOf(p).String(); got != c.gw {
			t.Errorf("gatewayOf(%s) = %s, want %s", c.cidr, got, c.gw)
		}
		if got := broadcastOf(p).String(); got != c.bc {
			t.Errorf("broadcastOf(%s) = %s, want %s", c.cidr, got, c.bc)
		}
	}
}

// addrs parses addresses into a set.
func addrs(ss ...string) map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	for _, s := range ss {
		m[netip.MustParseAddr(s)] = true
	}
	return m
}

func TestNextIP(t *testing.T) {
	p24 := netip.MustParsePrefix("10.244.1.0/24")
	cases := []struct {
		name string
		cidr netip.Prefix
		used map[netip.Addr]bool
		last string // "" for none
		want string // "" for full
	}{
		{"first pod skips network and gateway", p24, nil, "", "10.244.1.2"},
		{"after the last one handed out", p24, addrs("10.244.1.2"), "10.244.1.2", "10.244.1.3"},
		{"a released address is not reused at once", p24, addrs("10.244.1.3"), "10.244.1.3", "10.244.1.4"},
		{"skips used addresses", p24, addrs("10.244.1.5", "10.244.1.6"), "10.244.1.4", "10.244.1.7"},
		{"wraps around before the broadcast", p24, addrs("10.244.1.254"), "10.244.1.254", "10.244.1.2"},
		{"wraps around past used ones", p24, addrs("10.244.1.254", "10.244.1.2"), "10.244.1.253", "10.244.1.3"},
		{"last outside the network starts at the beginning", p24, nil, "10.9.9.9", "10.244.1.2"},
		{"last is the gateway", p24, nil, "10.244.1.1", "10.244.1.2"},
		{"/30 has room for one pod", netip.MustParsePrefix("10.244.1.8/30"), nil, "", "10.244.1.10"},
		{"/30 with its pod is full", netip.MustParsePrefix("10.244.1.8/30"), addrs("10.244.1.10"), "10.244.1.10", ""},
		{"/31 has no room", netip.MustParsePrefix("10.244.1.8/31"), nil, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var last netip.Addr
			if c.last != "" {
				last = netip.MustParseAddr(c.last)
			}
			got, ok := nextIP(c.cidr, c.used, last)
			switch {
			case c.want == "" && ok:
				t.Errorf("nextIP = %s, want none (full)", got)
			case c.want != "" && (!ok || got.String() != c.want):
				t.Errorf("nextIP = %s, %v; want %s", got, ok, c.want)
			}
		})
	}

	t.Run("a full /24 hands out 253 distinct pod addresses", func(t *testing.T) {
		used := map[netip.Addr]bool{}
		var last netip.Addr
		for range 253 {
			ip, ok := nextIP(p24, used, last)
			if !ok {
				t.Fatalf("full after %d addresses, want 253", len(used))
			}
			if used[ip] || ip == gatewayOf(p24) || ip == p24.Addr() || ip == broadcastOf(p24) {
				t.Fatalf("nextIP handed out %s (used %v)", ip, used[ip])
			}
			used[ip], last = true, ip
		}
		if ip, ok := nextIP(p24, used, last); ok {
			t.Errorf("254th address %s, want none", ip)
		}
	})
}

func TestStore(t *testing.T) {
	cidr := netip.MustParsePrefix("10.244.1.0/30") // room for one pod
	dir := filepath.Join(t.TempDir(), "podnet")
	a := PodRef{Namespace: "default", Name: "a", UID: "aaaa"}
	b := PodRef{Namespace: "default", Name: "b", UID: "bbbb"}

	s, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := s.reserve(cidr, a)
	if err != nil || ip.String() != "10.244.1.2" {
		t.Fatalf("reserve(a) = %s, %v; want 10.244.1.2", ip, err)
	}
	if _, err := s.reserve(cidr, b); !errors.Is(err, ErrNoAddress) {
		t.Fatalf("reserve(b) in a full /30 = %v, want ErrNoAddress", err)
	}

	// A restarted kubelet finds the record.
	s2, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := s2.byUID("aaaa"); !ok || r.IP != ip || r.Pod != a {
		t.Fatalf("after reopening, byUID(aaaa) = %+v, %v; want %s for %+v", r, ok, ip, a)
	}
	if _, err := s2.reserve(cidr, b); !errors.Is(err, ErrNoAddress) {
		t.Fatalf("after reopening, reserve(b) = %v, want ErrNoAddress: the address is a's", err)
	}

	// Released, the address goes to b.
	if err := s2.release(ip); err != nil {
		t.Fatal(err)
	}
	if err := s2.release(ip); err != nil {
		t.Fatalf("releasing twice: %v, want nil", err)
	}
	if ip, err := s2.reserve(cidr, b); err != nil || ip.String() != "10.244.1.2" {
		t.Fatalf("reserve(b) after release = %s, %v", ip, err)
	}

	if err := s2.removeAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after removeAll, %s still exists (%v)", dir, err)
	}
}

func TestStoreNeverHandsOutTwice(t *testing.T) {
	// Two stores on one directory (two kubelets by mistake, or a record
	// written behind this one's back): the file system decides.
	cidr := netip.MustParsePrefix("10.244.1.0/24")
	dir := t.TempDir()
	s1, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Addr]string{}
	for i := range 20 {
		s := s1
		if i%2 == 1 {
			s = s2
		}
		uid := "pod" + string(rune('a'+i))
		ip, err := s.reserve(cidr, PodRef{Name: uid, UID: uid})
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := seen[ip]; dup {
			t.Fatalf("%s handed out to %s and %s", ip, other, uid)
		}
		seen[ip] = uid
	}
}

func TestStoreDamagedRecord(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "10.244.1.7"), []byte("{half"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := openStore(dir)
	if err == nil || !strings.Contains(err.Error(), "10.244.1.7") {
		t.Fatalf("openStore with a damaged record = %v, want an error naming it", err)
	}
}

// route builds a Route for tests; via may be "".
func route(dst, via string, link int) Route {
	r := Route{Dst: netip.MustParsePrefix(dst), LinkIndex: link}
	if via != "" {
		r.Via = netip.MustParseAddr(via)
	}
	return r
}

// ipnet parses a CIDR for a Peer.
func ipnet(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

func TestWantRoutes(t *testing.T) {
	self := node{
		name:        "node1",
		ip:          netip.MustParseAddr("10.200.0.11"),
		podCIDR:     netip.MustParsePrefix("10.244.1.0/24"),
		serviceCIDR: netip.MustParsePrefix("10.96.0.0/12"),
		uplink:      2,
	}
	peers := map[string]Peer{
		"node1": {PodCIDR: ipnet("10.244.1.0/24"), NodeIP: net.ParseIP("10.200.0.11")}, // itself
		"node2": {PodCIDR: ipnet("10.244.2.0/24"), NodeIP: net.ParseIP("10.200.0.12")},
		"node3": {PodCIDR: ipnet("10.244.3.0/24"), NodeIP: net.ParseIP("10.200.0.13")},
	}
	got, err := wantRoutes(self, peers)
	if err != nil {
		t.Fatalf("wantRoutes: %v", err)
	}
	want := []Route{
		route("10.96.0.0/12", "", 2),
		route("10.244.2.0/24", "10.200.0.12", 2),
		route("10.244.3.0/24", "10.200.0.13", 2),
	}
	if d := cmp.Diff(want, got, netipOpt); d != "" {
		t.Errorf("wantRoutes (-want +got):\n%s", d)
	}

	t.Run("no service range", func(t *testing.T) {
		s := self
		s.serviceCIDR = netip.Prefix{}
		got, err := wantRoutes(s, nil)
		if err != nil || len(got) != 0 {
			t.Errorf("wantRoutes without services or peers = %v, %v; want none", got, err)
		}
	})

	t.Run("bad peers are left out and named", func(t *testing.T) {
		bad := map[string]Peer{
			"good":     {PodCIDR: ipnet("10.244.2.0/24"), NodeIP: net.ParseIP("10.200.0.12")},
			"nocidr":   {NodeIP: net.ParseIP("10.200.0.20")},
			"noip":     {PodCIDR: ipnet("10.244.4.0/24")},
			"v6":       {PodCIDR: ipnet("fd00::/64"), NodeIP: net.ParseIP("10.200.0.21")},
			"mine":     {PodCIDR: ipnet("10.244.1.0/25"), NodeIP: net.ParseIP("10.200.0.22")},
			"services": {PodCIDR: ipnet("10.96.1.0/24"), NodeIP: net.ParseIP("10.200.0.23")},
			"twin":     {PodCIDR: ipnet("10.244.2.0/24"), NodeIP: net.ParseIP("10.200.0.24")},
		}
		got, err := wantRoutes(self, bad)
		want := []Route{route("10.96.0.0/12", "", 2), route("10.244.2.0/24", "10.200.0.12", 2)}
		if d := cmp.Diff(want, got, netipOpt); d != "" {
			t.Errorf("wantRoutes (-want +got):\n%s", d)
		}
		for _, name := range []string{"nocidr", "noip", "v6", "mine", "services", "twin"} {
			if err == nil || !strings.Contains(err.Error(), `"`+name+`"`) {
				t.Errorf("error %v does not name node %q", err, name)
			}
		}
		if err != nil && strings.Contains(err.Error(), `"good"`) {
			t.Errorf("error %v names the good node", err)
		}
	})
}

func TestDiffRoutes(t *testing.T) {
	svc := route("10.96.0.0/12", "", 2)
	n2 := route("10.244.2.0/24", "10.200.0.12", 2)
	n3 := route("10.244.3.0/24", "10.200.0.13", 2)
	n3moved := route("10.244.3.0/24", "10.200.0.33", 2)
	n3otherLink := route("10.244.3.0/24", "10.200.0.13", 5)
	n4 := route("10.244.4.0/24", "10.200.0.14", 2)

	cases := []struct {
		name       string
		have, want []Route
		changes    routeChanges
	}{
		{"nothing", nil, nil, routeChanges{}},
		{"in sync", []Route{svc, n2}, []Route{svc, n2}, routeChanges{}},
		{"first sync adds all", nil, []Route{svc, n2, n3}, routeChanges{Add: []Route{svc, n2, n3}}},
		{"a node left", []Route{svc, n2, n3}, []Route{svc, n2}, routeChanges{Delete: []Route{n3}}},
		{"a node's IP changed", []Route{svc, n3}, []Route{svc, n3moved}, routeChanges{Replace: []Route{n3moved}}},
		{"the uplink changed", []Route{n3}, []Route{n3otherLink}, routeChanges{Replace: []Route{n3otherLink}}},
		{"all at once", []Route{svc, n2, n3}, []Route{svc, n3moved, n4},
			routeChanges{Delete: []Route{n2}, Add: []Route{n4}, Replace: []Route{n3moved}}},
		{"everything goes", []Route{svc, n2}, nil, routeChanges{Delete: []Route{svc, n2}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := diffRoutes(c.have, c.want)
			if d := cmp.Diff(c.changes, got, netipOpt); d != "" {
				t.Errorf("diffRoutes (-want +got):\n%s", d)
			}
			if got.empty() != (len(c.changes.Add)+len(c.changes.Delete)+len(c.changes.Replace) == 0) {
				t.Errorf("empty() = %v", got.empty())
			}
		})
	}
}

func TestCheckConfig(t *testing.T) {
	good := Config{
		Cluster:     "tk",
		Node:        "node1",
		PodCIDR:     ipnet("10.244.1.0/24"),
		ServiceCIDR: ipnet("10.96.0.0/12"),
		NodeIP:      net.ParseIP("10.200.0.11"),
		StateDir:    "/var/lib/tinykube/node1/podnet",
	}
	self, err := checkConfig(good)
	if err != nil {
		t.Fatalf("checkConfig(good) = %v", err)
	}
	if self.podCIDR.String() != "10.244.1.0/24" || self.serviceCIDR.String() != "10.96.0.0/12" || self.ip.String() != "10.200.0.11" || self.name != "node1" {
		t.Errorf("checkConfig(good) = %+v", self)
	}
	noSvc := good
	noSvc.ServiceCIDR = nil
	if _, err := checkConfig(noSvc); err != nil {
		t.Errorf("checkConfig without a service range = %v, want nil", err)
	}

	bad := Config{
		Cluster:     "TK",
		Node:        "",
		PodCIDR:     &net.IPNet{IP: net.ParseIP("10.244.1.5"), Mask: net.CIDRMask(24, 32)},
		ServiceCIDR: ipnet("fd00::/108"),
		NodeIP:      nil,
	}
	_, err = checkConfig(bad)
	for _, field := range []string{"cluster", "node", "podCIDR", "serviceCIDR", "nodeIP", "stateDir"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("checkConfig(bad) = %v: does not name %s", err, field)
		}
	}
	small := good
	small.PodCIDR = ipnet("10.244.1.0/31")
	if _, err := checkConfig(small); err == nil || !strings.Contains(err.Error(), "/30") {
		t.Errorf("checkConfig with a /31 = %v, want an error about /30", err)
	}
	overlap := good
	overlap.ServiceCIDR = ipnet("10.244.0.0/16")
	if _, err := checkConfig(overlap); err == nil || !strings.Contains(err.Error(), "overlaps") {
		t.Errorf("checkConfig with overlapping ranges = %v, want an error", err)
	}
}
