// Package scenario runs tinykube's scenarios: testscript files
// (rogpeppe/go-internal/testscript) that bring a real cluster up on the
// host, drive it with the same commands a student types (`exec tinykube
// ...`, later `exec kubectl ...`), inject faults, and check the state they
// lead to. Chapters and labs keep their scenarios in testdata/script and
// run them with Run.
//
// Each script gets its own cluster name, state directory, machine network
// and home directory, so scripts can run side by side; $TESTDATA is the
// repository's testdata folder (the course notes' manifests are in
// $TESTDATA/manifests); whatever a script starts is
// torn down when it ends, also when it fails. Commands added to
// testscript's own:
//
//	waitfor [-t DURATION] [-stdout REGEXP] PROGRAM [ARGS...]
//	    run PROGRAM until it exits 0 (and its stdout matches REGEXP);
//	    on timeout (default 30s) fail printing the last output. The last
//	    run's output is the command's output, for stdout/stderr checks.
//	kill-component [-signal NAME] COMPONENT [MACHINE]
//	    kill a component's process by PID (SIGKILL by default), as a
//	    crash would; MACHINE defaults to the first that runs it.
//	on MACHINE PROGRAM [ARGS...]
//	    run PROGRAM on a machine of the cluster (e.g. `on node1 ip addr`).
//
// Scenarios need root and network namespaces. Without them Run skips
// with the reason, except under CI (CI=true), where a skip is a failure.
package scenario

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tinykube/tinykube/internal/cluster"
	"github.com/tinykube/tinykube/internal/machine"
	"github.com/tinykube/tinykube/internal/machine/machinetest"
)

// Run runs every script in dir (relative to the calling test's package).
func Run(t *testing.T, dir string) {
	machinetest.RequireNetns(t)
	bin := BinDir(t)
	testscript.Run(t, testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup:               func(e *testscript.Env) error { return setup(e, bin) },
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitfor":        cmdWait,
			"kill-component": cmdKillComponent,
			"on":             cmdOn,
		},
	})
}

// BinDir returns the repository's bin directory, where `make build` puts
// tinykube and the components. It fails the test if tinykube is not there.
func BinDir(t testing.TB) string {
	if dir := os.Getenv("TINYKUBE_BIN"); dir != "" {
		return dir
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			bin := filepath.Join(dir, "bin")
			if _, err := os.Stat(filepath.Join(bin, "tinykube")); err != nil {
				t.Fatalf("%s/tinykube is missing: run `make build` first (`make test` does)", bin)
			}
			return bin
		}
		if dir == filepath.Dir(dir) {
			t.Fatalf("no go.mod above %s: run the scenarios from the tinykube repository", wd)
		}
	}
}

func setup(e *testscript.Env, bin string) error {
	name := "s" + randomHex(3) // 7 characters: fits the cluster name limit of 8
	e.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	e.Setenv("TINYKUBE_BIN", bin)
	e.Setenv("TINYKUBE_CLUSTER", name)
	e.Setenv("TINYKUBE_STATE_ROOT", filepath.Join(e.WorkDir, "state"))
	e.Setenv("TINYKUBE_MACHINE_CIDR", randomCIDR())
	// The course notes' manifests and the other shared test data.
	e.Setenv("TESTDATA", filepath.Join(filepath.Dir(bin), "testdata"))
	// A home of its own: kubectl caches discovery under ~/.kube.
	e.Setenv("HOME", filepath.Join(e.WorkDir, "home"))
	for _, key := range []string{"CI"} {
		if v := os.Getenv(key); v != "" {
			e.Setenv(key, v)
		}
	}
	// Whatever the script started goes when it ends, even if it failed.
	// If it failed, what the cluster looked like is in the test's log
	// first: a flaky failure in CI can be understood afterwards.
	e.Defer(func() {
		if f, ok := e.T().(interface{ Failed() bool }); ok && f.Failed() {
			e.T().Log(clusterReport(e.Vars, bin, filepath.Join(e.WorkDir, "state", name)))
		}
		cmd := exec.Command(filepath.Join(bin, "tinykube"), "down")
		cmd.Env = e.Vars
		if out, err := cmd.CombinedOutput(); err != nil {
			e.T().Log(fmt.Sprintf("tearing down cluster %s: %v\n%s", name, err, out))
		}
	})
	return nil
}

// clusterReport is the state of a failed script's cluster, if it is up:
// its nodes and pods, the latest events, and the end of every
// component's log.
func clusterReport(env []string, bin, stateDir string) string {
	if _, err := os.Stat(stateDir); err != nil {
		return "" // no cluster was started
	}
	var b strings.Builder
	b.WriteString("the cluster when the script failed:\n")
	for _, args := range [][]string{
		{"kubectl", "get", "nodes,pods", "-A", "-o", "wide"},
		{"kubectl", "get", "events", "-A", "--sort-by=.lastTimestamp"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "tinykube"), args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		cancel()
		fmt.Fprintf(&b, "$ tinykube %s\n%s", strings.Join(args, " "), lastLines(string(out), 40))
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(stateDir, "machines", "*", "logs", "*.log"))
	for _, log := range logs {
		data, err := os.ReadFile(log)
		if err != nil || len(data) == 0 {
			continue
		}
		rel, _ := filepath.Rel(stateDir, log)
		fmt.Fprintf(&b, "--- %s (the end)\n%s", rel, lastLines(string(data), 15))
	}
	return b.String()
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "") + "\n"
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// randomCIDR picks a /24 in 10.210.0.0–10.243.255.0 so that scripts running
// side by side do not share a network.
func randomCIDR() string {
	// 10.210.0.0 to 10.243.255.0: clear of the pod (10.244.0.0/16) and
	// service (10.96.0.0/12) ranges.
	n, _ := rand.Int(rand.Reader, big.NewInt(34*256))
	v := int(n.Int64())
	return fmt.Sprintf("10.%d.%d.0/24", 210+v/256, v%256)
}

// openCluster opens the script's cluster.
func openCluster(ts *testscript.TestScript) *cluster.Cluster {
	c, err := cluster.Open(ts.Getenv("TINYKUBE_CLUSTER"), ts.Getenv("TINYKUBE_STATE_ROOT"), machine.NewLocal(), ts.Getenv("TINYKUBE_BIN"), nil)
	ts.Check(err)
	return c
}

func cmdWait(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! waitfor (wait for the opposite condition instead)")
	}
	fs := flag.NewFlagSet("waitfor", flag.ContinueOnError)
	timeout := fs.Duration("t", 30*time.Second, "how long to wait")
	pattern := fs.String("stdout", "", "regexp the program's stdout must match")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		ts.Fatalf("usage: waitfor [-t DURATION] [-stdout REGEXP] PROGRAM [ARGS...]")
	}
	var re *regexp.Regexp
	if *pattern != "" {
		var err error
		re, err = regexp.Compile("(?m)" + *pattern)
		ts.Check(err)
	}
	deadline := time.Now().Add(*timeout)
	for attempt := 1; ; attempt++ {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(lookPath(ts, fs.Arg(0)), fs.Args()[1:]...)
		cmd.Dir = ts.Getenv("WORK")
		cmd.Env = scriptEnv(ts)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err == nil && (re == nil || re.Match(stdout.Bytes())) {
			ts.Stdout().Write(stdout.Bytes())
			ts.Stderr().Write(stderr.Bytes())
			return
		}
		if time.Now().After(deadline) {
			why := "exit status 0 but stdout did not match " + *pattern
			if err != nil {
				why = err.Error()
			}
			ts.Fatalf("waitfor %s: condition not met within %v (%d attempts); last run: %s\nstdout:\n%s\nstderr:\n%s",
				strings.Join(fs.Args(), " "), *timeout, attempt, why, stdout.String(), stderr.String())
		}
		pollPause()
	}
}

// lookPath finds program in the script's PATH (not the test's).
func lookPath(ts *testscript.TestScript, program string) string {
	if strings.Contains(program, "/") {
		return program
	}
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		path := filepath.Join(dir, program)
		if st, err := os.Stat(path); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return path
		}
	}
	return program
}

// pollPause is the pause between two checks of a condition.
func pollPause() {
	t := time.NewTimer(100 * time.Millisecond)
	<-t.C
}

// scriptEnv is the script's environment, for programs run by custom
// commands.
func scriptEnv(ts *testscript.TestScript) []string {
	var env []string
	for _, key := range []string{"PATH", "HOME", "CI", "WORK", "TESTDATA", "TINYKUBE_BIN", "TINYKUBE_CLUSTER", "TINYKUBE_STATE_ROOT", "TINYKUBE_MACHINE_CIDR"} {
		env = append(env, key+"="+ts.Getenv(key))
	}
	return env
}

func cmdKillComponent(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! kill-component")
	}
	fs := flag.NewFlagSet("kill-component", flag.ContinueOnError)
	sigName := fs.String("signal", "KILL", "the signal to send: KILL, TERM, ...")
	if err := fs.Parse(args); err != nil || fs.NArg() < 1 || fs.NArg() > 2 {
		ts.Fatalf("usage: kill-component [-signal NAME] COMPONENT [MACHINE]")
	}
	sig, ok := map[string]syscall.Signal{"KILL": syscall.SIGKILL, "TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "STOP": syscall.SIGSTOP, "CONT": syscall.SIGCONT}[*sigName]
	if !ok {
		ts.Fatalf("kill-component: unknown signal %q", *sigName)
	}
	kind := fs.Arg(0)
	c := openCluster(ts)
	sts, err := c.Status(context.Background())
	ts.Check(err)
	for _, st := range sts {
		if fs.NArg() == 2 && st.Machine.Name != fs.Arg(1) {
			continue
		}
		comp, ok := cluster.Component(sts, st.Machine.Name, kind)
		if !ok {
			continue
		}
		if comp.PID == 0 {
			ts.Fatalf("kill-component: %s on %s has no process now (state %s)", kind, st.Machine.Name, comp.State)
		}
		ts.Check(syscall.Kill(comp.PID, sig))
		fmt.Fprintf(ts.Stdout(), "sent SIG%s to %s on %s (pid %d)\n", *sigName, kind, st.Machine.Name, comp.PID)
		return
	}
	ts.Fatalf("kill-component: no machine runs %s", kind)
}

func cmdOn(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: on MACHINE PROGRAM [ARGS...]")
	}
	c := openCluster(ts)
	ms, err := c.Backend.Open(context.Background(), c.Network())
	ts.Check(err)
	for _, m := range ms {
		if m.Spec().Name != args[0] {
			continue
		}
		var stdout, stderr bytes.Buffer
		cmd := m.Command(context.Background(), args[1], args[2:]...)
		cmd.Dir = ts.Getenv("WORK")
		cmd.Env = append(cmd.Env, scriptEnv(ts)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		ts.Stdout().Write(stdout.Bytes())
		ts.Stderr().Write(stderr.Bytes())
		var exit *exec.ExitError
		switch {
		case err != nil && !errors.As(err, &exit):
			ts.Fatalf("on %s: %v", args[0], err)
		case err != nil && !neg:
			ts.Fatalf("on %s: %v", args[0], err)
		case err == nil && neg:
			ts.Fatalf("on %s: unexpected success", args[0])
		}
		return
	}
	ts.Fatalf("on: no machine %q", args[0])
}
