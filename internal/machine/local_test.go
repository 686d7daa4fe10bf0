package machine_test

// Tests of the local backend that build real clusters. They need root and
// network namespaces (machinetest.RequireNetns). Every cluster gets a random
// name ("tm" + 4 hex digits) and a random network 10.201.X.0/24, which
// exists only in the namespaces and the host link the test makes, and every
// test destroys its clusters even when it fails.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tinykube/tinykube/internal/machine"
	"github.com/tinykube/tinykube/internal/machine/machinetest"
	"golang.org/x/sys/unix"
)

// helperEnv, when set, makes the test binary a helper program instead of
// running tests: Spawn starts it on a machine (see runHelper).
const helperEnv = "TINYKUBE_MACHINE_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "listen" {
		runHelper()
		return
	}
	os.Exit(m.Run())
}

// runHelper listens on $HELPER_ADDR and answers every connection with
// "<$HELPER_NAME> sees <caller's IP>", so a test learns both who answered
// and from which address the call came. It runs until killed.
func runHelper() {
	name := os.Getenv("HELPER_NAME")
	ln, err := net.Listen("tcp", os.Getenv("HELPER_ADDR"))
	if err != nil {
		fmt.Println("helper:", err)
		os.Exit(1)
	}
	fmt.Printf("%s listening on %s\n", name, ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Println("helper:", err)
			os.Exit(1)
		}
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		fmt.Fprintf(c, "%s sees %s\n", name, host)
		c.Close()
	}
}

var (
	usedMu   sync.Mutex
	usedNets = map[int]bool{}
)

// testNetwork returns a 3-machine network with a fresh random cluster name
// and network.
func testNetwork(t testing.TB) machine.Network {
	t.Helper()
	b := make([]byte, 2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	usedMu.Lock()
	defer usedMu.Unlock()
	var x int
	for {
		r, err := rand.Int(rand.Reader, big.NewInt(256))
		if err != nil {
			t.Fatal(err)
		}
		// Skip networks this process or a cluster on the host uses.
		if x = int(r.Int64()); !usedNets[x] && !hostUses(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 201, byte(x), 0}), 24)) {
			usedNets[x] = true
			break
		}
	}
	addr := func(last int) netip.Addr { return netip.AddrFrom4([4]byte{10, 201, byte(x), byte(last)}) }
	return machine.Network{
		Cluster:     "tm" + hex.EncodeToString(b),
		CIDR:        netip.PrefixFrom(addr(0), 24),
		HostAddress: addr(1),
		Machines: []machine.Spec{
			{Name: "master", Role: machine.RoleMaster, Address: addr(10)},
			{Name: "node1", Role: machine.RoleNode, Address: addr(11)},
			{Name: "node2", Role: machine.RoleNode, Address: addr(12)},
		},
	}
}

// hostUses reports whether an interface of the host has an address in p.
func hostUses(p netip.Prefix) bool {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipnet, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipnet.IP); ok && p.Contains(ip.Unmap()) {
				return true
			}
		}
	}
	return false
}

// create creates n and registers its destruction, with a check that
// nothing is left, to run when the test ends.
func create(t *testing.T, n machine.Network) []machine.Machine {
	t.Helper()
	b := machine.NewLocal()
	t.Cleanup(func() { destroyAndCheck(t, n) })
	start := time.Now()
	ms, err := b.Create(context.Background(), n)
	if err != nil {
		t.Fatalf("Create(%s): %v", n.Cluster, err)
	}
	t.Logf("created cluster %s (%s) in %v", n.Cluster, n.CIDR, time.Since(start))
	return ms
}

// destroyAndCheck destroys n and fails t if anything of it is left.
func destroyAndCheck(t *testing.T, n machine.Network) {
	t.Helper()
	b := machine.NewLocal()
	ctx := context.Background()
	start := time.Now()
	if err := b.Destroy(ctx, n); err != nil {
		t.Errorf("Destroy(%s): %v", n.Cluster, err)
	}
	took := time.Since(start)
	left, err := b.Leftovers(ctx, n)
	if err != nil {
		t.Errorf("Leftovers(%s): %v", n.Cluster, err)
	}
	if len(left) > 0 {
		t.Errorf("after Destroy(%s), Leftovers = %q, want none", n.Cluster, left)
	}
	if names := netnsNames(t, n.Cluster+"-"); len(names) > 0 {
		t.Errorf("after Destroy(%s), /run/netns still has %q", n.Cluster, names)
	}
	if _, err := net.InterfaceByName(n.Cluster + "-host"); err == nil {
		t.Errorf("after Destroy(%s), link %s-host still exists in the host", n.Cluster, n.Cluster)
	}
	t.Logf("destroyed cluster %s in %v", n.Cluster, took)
}

// netnsNames lists the names in /run/netns that start with prefix.
func netnsNames(t testing.TB, prefix string) []string {
	t.Helper()
	entries, err := os.ReadDir("/run/netns")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names
}

// waitFor polls cond every 10 ms until it returns true or timeout passes;
// then it fails t with what cond saw last.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last saw: %s", timeout, what, saw)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// greeting dials address with dial and returns the helper's answer.
func greeting(dial func(ctx context.Context, network, address string) (net.Conn, error), address string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	c, err := dial(ctx, "tcp", address)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// hostDial dials from the test process, in the host's namespace.
func hostDial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// startHelper spawns the helper on m, listening on port of every address
// of m, logging to a file in a fresh directory, and waits until it listens.
// It returns its PID and log file.
func startHelper(t *testing.T, m machine.Machine, port int) (int, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A directory that does not exist yet: Spawn must make it.
	logFile := filepath.Join(t.TempDir(), "logs", m.Spec().Name+".log")
	pid, err := m.Spawn([]string{exe}, []string{
		helperEnv + "=listen",
		"HELPER_NAME=" + m.Spec().Name,
		"HELPER_ADDR=0.0.0.0:" + strconv.Itoa(port),
	}, logFile)
	if err != nil {
		t.Fatalf("Spawn on %s: %v", m.Spec().Name, err)
	}
	waitFor(t, 5*time.Second, m.Spec().Name+"'s helper to log that it listens", func() (bool, string) {
		b, err := os.ReadFile(logFile)
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(string(b), "listening on"), fmt.Sprintf("log %q", b)
	})
	return pid, logFile
}

// randomPort returns a port for the helper; ports are per namespace, so
// any free-looking high port will do.
func randomPort(t testing.TB) int {
	r, err := rand.Int(rand.Reader, big.NewInt(20000))
	if err != nil {
		t.Fatal(err)
	}
	return 20000 + int(r.Int64())
}

// run runs name with args on m and returns its trimmed output.
func run(t testing.TB, m machine.Machine, name string, args ...string) string {
	t.Helper()
	out, err := m.Command(context.Background(), name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("on %s: %s %q: %v\n%s", m.Spec().Name, name, args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// alive reports whether process pid exists (a zombie counts as gone: the
// Spawn reaper takes it soon after).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestLocalCluster(t *testing.T) {
	machinetest.RequireNetns(t)
	n := testNetwork(t)
	ms := create(t, n)
	master, node1, node2 := ms[0], ms[1], ms[2]
	port := randomPort(t)
	portStr := strconv.Itoa(port)
	at := func(m machine.Machine) string { return net.JoinHostPort(m.Spec().Address.String(), portStr) }

	pids := map[string]int{}
	logs := map[string]string{}
	for _, m := range ms {
		pids[m.Spec().Name], logs[m.Spec().Name] = startHelper(t, m, port)
	}

	t.Run("spawned processes run on their machine", func(t *testing.T) {
		for _, m := range ms {
			got, err := m.Processes()
			if err != nil {
				t.Fatalf("%s.Processes: %v", m.Spec().Name, err)
			}
			if want := pids[m.Spec().Name]; !slices.Equal(got, []int{want}) {
				t.Errorf("%s.Processes() = %v, want [%d] (its helper only)", m.Spec().Name, got, want)
			}
		}
		// Setsid: the helper leads a session of its own.
		sid, err := unix.Getsid(pids["node1"])
		if err != nil || sid != pids["node1"] {
			t.Errorf("session of node1's helper = %d, %v; want its own PID %d", sid, err, pids["node1"])
		}
		b, _ := os.ReadFile(logs["node1"])
		if want := fmt.Sprintf(":%d\n", port); !strings.Contains(string(b), "node1 listening on ") || !strings.Contains(string(b), want) {
			t.Errorf("node1's log = %q, want \"node1 listening on ...%s\" (output appended to the log file, env passed)", b, want)
		}
	})

	t.Run("machines reach each other from their own address", func(t *testing.T) {
		for _, from := range ms {
			for _, to := range ms {
				got, err := greeting(from.Dial, at(to))
				want := fmt.Sprintf("%s sees %s", to.Spec().Name, from.Spec().Address)
				if err != nil || got != want {
					t.Errorf("%s dials %s: got %q, %v; want %q", from.Spec().Name, at(to), got, err, want)
				}
			}
		}
	})

	t.Run("the host reaches every machine", func(t *testing.T) {
		for _, to := range ms {
			got, err := greeting(hostDial, at(to))
			want := fmt.Sprintf("%s sees %s", to.Spec().Name, n.HostAddress)
			if err != nil || got != want {
				t.Errorf("host dials %s: got %q, %v; want %q", at(to), got, err, want)
			}
		}
	})

	t.Run("loopback is the machine's own", func(t *testing.T) {
		local := net.JoinHostPort("127.0.0.1", portStr)
		got, err := greeting(node2.Dial, local)
		if want := "node2 sees 127.0.0.1"; err != nil || got != want {
			t.Errorf("node2 dials %s: got %q, %v; want %q", local, got, err, want)
		}
		if got, err := greeting(hostDial, local); err == nil && strings.Contains(got, " sees ") {
			t.Errorf("host dials %s: got %q from a machine; the host's loopback must not be a machine's", local, got)
		}
	})

	t.Run("machines forward and have no default route", func(t *testing.T) {
		for _, m := range ms {
			if got := run(t, m, "cat", "/proc/sys/net/ipv4/ip_forward"); got != "1" {
				t.Errorf("%s: net.ipv4.ip_forward = %q, want 1", m.Spec().Name, got)
			}
			// /proc/net is the reading process's namespace: cat's, here.
			routes := run(t, m, "cat", "/proc/net/route")
			for _, line := range strings.Split(routes, "\n")[1:] {
				if f := strings.Fields(line); len(f) > 1 && f[1] == "00000000" {
					t.Errorf("%s has a default route: %q", m.Spec().Name, line)
				}
			}
			if !strings.Contains(routes, "eth0") {
				t.Errorf("%s has no route on eth0:\n%s", m.Spec().Name, routes)
			}
		}
	})

	t.Run("power off and on", func(t *testing.T) {
		ctx := context.Background()
		if err := node2.PowerOff(ctx); err != nil {
			t.Fatalf("PowerOff: %v", err)
		}
		if alive(pids["node2"]) {
			t.Errorf("node2's helper %d is alive after PowerOff returned", pids["node2"])
		}
		if got, err := node2.Processes(); err != nil || len(got) > 0 {
			t.Errorf("node2.Processes() after PowerOff = %v, %v; want none", got, err)
		}
		if on, err := node2.Powered(ctx); err != nil || on {
			t.Errorf("node2.Powered() after PowerOff = %v, %v; want false", on, err)
		}
		// Unreachable, even through a route or ARP entry the others
		// remember. (The helper is dead too, but a dead helper on a live
		// machine would answer "connection refused" at once.)
		if got, err := greeting(master.Dial, at(node2)); err == nil || isRefused(err) {
			t.Errorf("master dials powered-off node2: got %q, %v; want a timeout", got, err)
		}
		if got, err := greeting(hostDial, at(node2)); err == nil || isRefused(err) {
			t.Errorf("host dials powered-off node2: got %q, %v; want a timeout", got, err)
		}
		// The others are unharmed.
		if _, err := greeting(master.Dial, at(node1)); err != nil {
			t.Errorf("master dials node1 while node2 is off: %v", err)
		}
		if err := node2.PowerOff(ctx); err != nil {
			t.Errorf("second PowerOff: %v, want nil (idempotent)", err)
		}

		// PowerOn must also repair a machine whose address was lost.
		run(t, node2, "ip", "addr", "flush", "dev", "eth0")
		if err := node2.PowerOn(ctx); err != nil {
			t.Fatalf("PowerOn: %v", err)
		}
		if got := run(t, node2, "ip", "-4", "-o", "addr", "show", "dev", "eth0"); !strings.Contains(got, node2.Spec().Address.String()+"/24") {
			t.Errorf("after PowerOn, node2's eth0: %q, want address %s/24", got, node2.Spec().Address)
		}
		if err := node2.PowerOn(ctx); err != nil {
			t.Errorf("second PowerOn: %v, want nil (idempotent)", err)
		}
		if on, err := node2.Powered(ctx); err != nil || !on {
			t.Errorf("node2.Powered() after PowerOn = %v, %v; want true", on, err)
		}
		if got, err := node2.Processes(); err != nil || len(got) > 0 {
			t.Errorf("node2.Processes() after PowerOn = %v, %v; want none (nothing starts by itself)", got, err)
		}
		startHelper(t, node2, port)
		for name, dial := range map[string]func(context.Context, string, string) (net.Conn, error){"master": master.Dial, "host": hostDial} {
			waitFor(t, 5*time.Second, name+" to reach node2 again", func() (bool, string) {
				got, err := greeting(dial, at(node2))
				return err == nil && strings.HasPrefix(got, "node2 sees "), fmt.Sprintf("%q, %v", got, err)
			})
		}
	})

	t.Run("open finds the machines", func(t *testing.T) {
		opened, err := machine.NewLocal().Open(context.Background(), n)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		for i, m := range opened {
			if m.Spec() != n.Machines[i] {
				t.Errorf("Open()[%d].Spec() = %+v, want %+v", i, m.Spec(), n.Machines[i])
			}
		}
		got, err := opened[0].Processes()
		if err != nil || !slices.Equal(got, []int{pids["master"]}) {
			t.Errorf("opened master.Processes() = %v, %v; want [%d]", got, err, pids["master"])
		}
		other := n
		other.Cluster += "x"
		if _, err := machine.NewLocal().Open(context.Background(), other); !errors.Is(err, machine.ErrNotFound) {
			t.Errorf("Open(cluster %s that was never made) = %v, want ErrNotFound", other.Cluster, err)
		}
	})

	t.Run("create over an existing cluster fails and changes nothing", func(t *testing.T) {
		before := netnsNames(t, n.Cluster+"-")
		_, err := machine.NewLocal().Create(context.Background(), n)
		if !errors.Is(err, machine.ErrExists) {
			t.Fatalf("Create(existing %s) = %v, want ErrExists", n.Cluster, err)
		}
		t.Logf("the error: %v", err)
		if after := netnsNames(t, n.Cluster+"-"); !slices.Equal(before, after) {
			t.Errorf("namespaces changed: %q, then %q", before, after)
		}
		if _, err := greeting(hostDial, at(master)); err != nil {
			t.Errorf("host no longer reaches master: %v", err)
		}
		if got, err := master.Processes(); err != nil || !slices.Equal(got, []int{pids["master"]}) {
			t.Errorf("master.Processes() = %v, %v; want its helper [%d] still there", got, err, pids["master"])
		}
	})

	t.Run("create on a network in use fails", func(t *testing.T) {
		other := testNetwork(t)
		other.CIDR, other.HostAddress = n.CIDR, n.HostAddress
		for i := range other.Machines {
			other.Machines[i].Address = n.Machines[i].Address
		}
		_, err := machine.NewLocal().Create(context.Background(), other)
		if err != nil {
			t.Cleanup(func() { destroyAndCheck(t, other) }) // in case it did make something
		}
		if !errors.Is(err, machine.ErrExists) || !strings.Contains(err.Error(), n.Cluster+"-host") {
			t.Fatalf("Create(%s on %s, used by %s) = %v, want ErrExists naming link %s-host", other.Cluster, n.CIDR, n.Cluster, err, n.Cluster)
		}
		t.Logf("the error: %v", err)
		if left, err := machine.NewLocal().Leftovers(context.Background(), other); err != nil || len(left) > 0 {
			t.Errorf("Leftovers(%s) = %q, %v; want none", other.Cluster, left, err)
		}
	})
}

// isRefused reports whether err is "connection refused".
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

func TestLocalDestroy(t *testing.T) {
	machinetest.RequireNetns(t)
	n := testNetwork(t)
	ms := create(t, n)
	node1 := ms[1]
	b := machine.NewLocal()
	ctx := context.Background()

	helper, _ := startHelper(t, node1, randomPort(t))
	// A pod namespace on node1, as a kubelet would make it, with a process.
	pod := machine.LocalNamespace(n.Cluster, "node1") + "-pod1"
	if err := os.WriteFile("/run/netns/"+pod, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("unshare", "--net=/run/netns/"+pod, "true").CombinedOutput(); err != nil {
		t.Fatalf("making pod namespace %s: %v\n%s", pod, err, out)
	}
	podProc := exec.Command("nsenter", "--net=/run/netns/"+pod, "--", "sleep", "300")
	if err := podProc.Start(); err != nil {
		t.Fatal(err)
	}
	go podProc.Wait()
	t.Cleanup(func() { podProc.Process.Kill() })
	waitFor(t, 5*time.Second, "node1.Processes to show the helper and the pod's process", func() (bool, string) {
		got, err := node1.Processes()
		return err == nil && slices.Contains(got, helper) && slices.Contains(got, podProc.Process.Pid), fmt.Sprint(got, err)
	})

	left, err := b.Leftovers(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"network namespace " + n.Cluster + "-lan",
		"network namespace " + pod,
		"link " + n.Cluster + "-host",
		fmt.Sprintf("process %d (", podProc.Process.Pid),
		fmt.Sprintf("process %d (", helper),
	} {
		if !slices.ContainsFunc(left, func(l string) bool { return strings.Contains(l, want) }) {
			t.Errorf("Leftovers() before Destroy = %q, want a line with %q", left, want)
		}
	}

	start := time.Now()
	if err := b.Destroy(ctx, n); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	took := time.Since(start)
	t.Logf("Destroy took %v", took)
	if took > time.Second {
		t.Errorf("Destroy took %v, want well under 1 s", took)
	}
	for _, pid := range []int{helper, podProc.Process.Pid} {
		waitFor(t, 2*time.Second, fmt.Sprintf("process %d to be reaped", pid), func() (bool, string) {
			return !alive(pid), "alive"
		})
	}
	if left, err := b.Leftovers(ctx, n); err != nil || len(left) > 0 {
		t.Errorf("Leftovers() after Destroy = %q, %v; want none", left, err)
	}
	if err := b.Destroy(ctx, n); err != nil {
		t.Errorf("second Destroy: %v, want nil (idempotent)", err)
	}
}

// Destroy matches "<cluster>-" exactly: destroying tmab12 must not touch
// tmab122, whose names also start with "tmab12".
func TestLocalDestroyKeepsOtherClusters(t *testing.T) {
	machinetest.RequireNetns(t)
	a := testNetwork(t)
	b := testNetwork(t)
	b.Cluster = a.Cluster + "2"
	create(t, a)
	msB := create(t, b)
	ctx := context.Background()
	leftB, err := machine.NewLocal().Leftovers(ctx, b)
	if err != nil {
		t.Fatal(err)
	}

	destroyAndCheck(t, a)

	if got, err := machine.NewLocal().Leftovers(ctx, b); err != nil || !slices.Equal(got, leftB) {
		t.Errorf("Leftovers(%s) after Destroy(%s) = %q, %v; want it unchanged: %q", b.Cluster, a.Cluster, got, err, leftB)
	}
	port := randomPort(t)
	startHelper(t, msB[0], port)
	addr := net.JoinHostPort(b.Machines[0].Address.String(), strconv.Itoa(port))
	if _, err := greeting(hostDial, addr); err != nil {
		t.Errorf("host dials %s's master after Destroy(%s): %v", b.Cluster, a.Cluster, err)
	}
}

func TestLocalCreateRemovesHalfMadeCluster(t *testing.T) {
	machinetest.RequireNetns(t)
	for _, step := range []string{"lan", "machine node2", "host link"} {
		t.Run(step, func(t *testing.T) {
			n := testNetwork(t)
			t.Cleanup(func() { destroyAndCheck(t, n) })
			injected := errors.New("injected failure")
			defer machine.SetCreateHook(func(s string) error {
				if s == step {
					return injected
				}
				return nil
			})()
			_, err := machine.NewLocal().Create(context.Background(), n)
			if !errors.Is(err, injected) {
				t.Fatalf("Create with a failure at %q = %v, want the injected error", step, err)
			}
			if left, err := machine.NewLocal().Leftovers(context.Background(), n); err != nil || len(left) > 0 {
				t.Errorf("Leftovers() after the failed Create = %q, %v; want none", left, err)
			}
		})
	}
}

func TestLocalSpawnErrors(t *testing.T) {
	machinetest.RequireNetns(t)
	n := testNetwork(t)
	ms := create(t, n)
	if _, err := ms[0].Spawn(nil, nil, filepath.Join(t.TempDir(), "x.log")); err == nil {
		t.Error("Spawn(no argv) = nil error, want one")
	}
	if _, err := ms[0].Spawn([]string{"/nonexistent/program"}, nil, filepath.Join(t.TempDir(), "x.log")); err == nil {
		t.Error("Spawn(/nonexistent/program) = nil error, want one")
	}
	if _, err := ms[0].Dial(context.Background(), "udp", "10.0.0.1:53"); err == nil {
		t.Error(`Dial("udp") = nil error, want one (only tcp and unix)`)
	}
	// A unix socket is on the shared filesystem: dial it from a machine.
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.WriteString(c, "hi\n")
			c.Close()
		}
	}()
	c, err := ms[0].Dial(context.Background(), "unix", sock)
	if err != nil {
		t.Fatalf("Dial(unix %s): %v", sock, err)
	}
	c.Close()
}

// BenchmarkCreateDestroy measures making and removing a 3-machine cluster;
// it reports each as create-ms/op and destroy-ms/op.
func BenchmarkCreateDestroy(b *testing.B) {
	machinetest.RequireNetns(b)
	n := testNetwork(b)
	bk := machine.NewLocal()
	ctx := context.Background()
	b.Cleanup(func() { bk.Destroy(ctx, n) })
	var created, destroyed time.Duration
	ops := 0
	for b.Loop() {
		ops++
		start := time.Now()
		if _, err := bk.Create(ctx, n); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := bk.Destroy(ctx, n); err != nil {
			b.Fatal(err)
		}
		created += mid.Sub(start)
		destroyed += time.Since(mid)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(ops) }
	b.ReportMetric(ms(created), "create-ms/op")
	b.ReportMetric(ms(destroyed), "destroy-ms/op")
}
