// Package conformance is the one test suite of the component contract. The
// same checks grade tinykube's reference components and a student's: run in
// process through go-plugin's gRPC test connection (RunInProcess), or
// against a built binary exactly as the agent starts it (RunBinary).
//
// Reference: plugins/doc.go, "The lifecycle".
package conformance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/tinykube/tinykube/plugins"
)

// Kinds lists the component kinds the contract knows.
var Kinds = []string{
	plugins.KindEtcd, plugins.KindAPIServer, plugins.KindScheduler,
	plugins.KindControllerManager, plugins.KindContainerd, plugins.KindKubelet,
	plugins.KindKubeProxy, plugins.KindDNS,
}

// HealthyWithin is how long a started component may take to report healthy
// in the suite.
const HealthyWithin = 20 * time.Second

// RunInProcess runs the suite against components made by newComponent,
// called once per check, each served over an in-process gRPC connection.
func RunInProcess(t *testing.T, newComponent func() plugins.Component) {
	run(t, func(t *testing.T) plugins.Component {
		client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
			plugins.PluginName: &plugins.GRPCPlugin{Impl: newComponent()},
		})
		t.Cleanup(func() { client.Close() })
		raw, err := client.Dispense(plugins.PluginName)
		if err != nil {
			t.Fatalf("dispense %q: %v", plugins.PluginName, err)
		}
		return raw.(plugins.Component)
	})
	t.Run("StartedTwiceInProcess", func(t *testing.T) {
		// Checked once more without gRPC in between: the sentinel must be
		// the contract's own, so errors.Is works for in-process hosts too.
		c := newComponent()
		ctx := context.Background()
		s := SettingsFor(t, identify(t, c).Kind)
		if err := c.Start(ctx, s); err != nil {
			t.Fatalf("Start: %v", err)
		}
		defer stop(t, c)
		if err := c.Start(ctx, s); !errors.Is(err, plugins.ErrAlreadyStarted) {
			t.Errorf("second Start = %v, want plugins.ErrAlreadyStarted", err)
		}
	})
}

// RunBinary runs the suite against a component binary, launched for each
// check as the agent launches it.
func RunBinary(t *testing.T, binary string) {
	t.Run("RunByHand", func(t *testing.T) {
		out, err := exec.Command(binary).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Fatalf("running %s by hand: err = %v, want a non-zero exit", binary, err)
		}
		if !strings.Contains(string(out), "tinykube up --use") {
			t.Errorf("running %s by hand printed\n%s\nwant it to say how it is run (tinykube up --use ...)", binary, out)
		}
	})
	run(t, func(t *testing.T) plugins.Component {
		p, err := plugins.Launch(context.Background(), plugins.LaunchConfig{Binary: binary, Output: newTestWriter(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Kill)
		return p
	})
	t.Run("ExitsWhenKilled", func(t *testing.T) {
		p, err := plugins.Launch(context.Background(), plugins.LaunchConfig{Binary: binary, Output: newTestWriter(t)})
		if err != nil {
			t.Fatal(err)
		}
		p.Kill()
		if !p.Exited() {
			t.Errorf("process %d still running after Kill", p.PID)
		}
	})
}

func run(t *testing.T, connect func(t *testing.T) plugins.Component) {
	t.Run("Identify", func(t *testing.T) {
		c := connect(t)
		id := identify(t, c)
		if !slices.Contains(Kinds, id.Kind) {
			t.Errorf("Identify().Kind = %q, want one of %v", id.Kind, Kinds)
		}
		if id.Implementation == "" || id.Version == "" {
			t.Errorf("Identify() = %+v, want implementation and version set", id)
		}
		if again := identify(t, c); again != id {
			t.Errorf("Identify() changed from %+v to %+v", id, again)
		}
	})
	t.Run("HealthBeforeStart", func(t *testing.T) {
		c := connect(t)
		if _, err := c.Health(context.Background()); !errors.Is(err, plugins.ErrNotStarted) {
			t.Errorf("Health before Start = %v, want plugins.ErrNotStarted", err)
		}
	})
	t.Run("StopBeforeStart", func(t *testing.T) {
		c := connect(t)
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("Stop before Start = %v, want nil", err)
		}
	})
	t.Run("StartWithoutSettings", func(t *testing.T) {
		// Bad settings are an error from Start, never a crash or a hang.
		c := connect(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := c.Start(ctx, plugins.Settings{})
		if err == nil {
			stop(t, c)
			return // a component that needs nothing may start
		}
		if _, herr := c.Health(ctx); herr != nil && !errors.Is(herr, plugins.ErrNotStarted) {
			t.Errorf("after a refused Start, Health = %v; want a report or plugins.ErrNotStarted", herr)
		}
	})
	t.Run("StartHealthyStop", func(t *testing.T) {
		c := connect(t)
		ctx := context.Background()
		if kind := identify(t, c).Kind; NeedsCluster(kind) {
			t.Skipf("a %s needs a running cluster (an apiserver, a node's containerd) to be healthy: its chapter's scenarios check it", kind)
		}
		if err := c.Start(ctx, SettingsFor(t, identify(t, c).Kind)); err != nil {
			t.Fatalf("Start: %v", err)
		}
		WaitHealthy(t, c, HealthyWithin)
		if err := c.Start(ctx, SettingsFor(t, identify(t, c).Kind)); !errors.Is(err, plugins.ErrAlreadyStarted) {
			t.Errorf("second Start = %v, want plugins.ErrAlreadyStarted", err)
		}
		stop(t, c)
		// Stop is idempotent.
		if err := c.Stop(ctx); err != nil {
			t.Errorf("second Stop = %v, want nil", err)
		}
	})
}

// WaitHealthy polls Health until it reports healthy, failing the test with
// the last report after within.
func WaitHealthy(t testing.TB, c plugins.Component, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for {
		h, err := c.Health(context.Background())
		switch {
		case err != nil:
			last = "error: " + err.Error()
		case h.Healthy:
			return
		default:
			last = "unhealthy: " + h.Message
		}
		if time.Now().After(deadline) {
			t.Fatalf("not healthy within %v; last health: %s", within, last)
		}
		poll := time.NewTimer(20 * time.Millisecond)
		<-poll.C
	}
}

func stop(t *testing.T, c plugins.Component) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), plugins.StopGrace)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func identify(t *testing.T, c plugins.Component) plugins.Identity {
	t.Helper()
	id, err := c.Identify(context.Background())
	if err != nil {
		t.Fatalf("Identify: %v", err)
	}
	return id
}

// NeedsCluster reports whether a component of kind can only become healthy
// inside a cluster: everything but etcd, the apiserver and containerd,
// which the suite can give what they need.
func NeedsCluster(kind string) bool {
	switch kind {
	case plugins.KindEtcd, plugins.KindAPIServer, plugins.KindContainerd:
		return false
	}
	return true
}

// SettingsFor returns settings a component of kind can start with on
// loopback, with free ports and a fresh data directory, and starts what
// the kind needs to be healthy (an etcd for an apiserver) for the rest of
// the test.
func SettingsFor(t testing.TB, kind string) plugins.Settings {
	s := plugins.Settings{
		Cluster: "conformance",
		Machine: "m1",
		Role:    "master",
		Address: "127.0.0.1",
		DataDir: t.TempDir(),
		Values:  map[string]string{},
		Peers:   map[string]string{"m1": "127.0.0.1"},
	}
	switch kind {
	case plugins.KindEtcd:
		s.Values["client-port"] = strconv.Itoa(FreePort(t))
		s.Values["peer-port"] = strconv.Itoa(FreePort(t))
		s.Values["log-level"] = "error"
	case plugins.KindContainerd:
		// The daemon's socket and state in the test's own directory, so
		// that nothing is shared with a cluster on the same host.
		run := t.TempDir()
		s.Values["address"] = filepath.Join(run, "containerd.sock")
		s.Values["state-dir"] = filepath.Join(run, "state")
	case plugins.KindAPIServer:
		s.Values["etcd-servers"] = startEtcd(t)
		s.Values["secure-port"] = strconv.Itoa(FreePort(t))
	}
	return s
}

// FreePort returns a TCP port free on loopback now.
func FreePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testWriter logs a component's output into the test until the test ends;
// output that comes later (a process still flushing) is dropped.
type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func newTestWriter(t *testing.T) *testWriter {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return w
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// Binaries returns the reference component binaries in dir, by kind.
func Binaries(dir string) map[string]string {
	found := map[string]string{}
	for _, kind := range Kinds {
		path := fmt.Sprintf("%s/tinykube-%s", dir, kind)
		if _, err := os.Stat(path); err == nil {
			found[kind] = path
		}
	}
	return found
}
