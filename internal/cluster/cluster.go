// Package cluster brings a whole tinykube cluster up and down: machines
// from a machine backend, an agent on each, and the components the chapter
// turns on. It is what `tinykube up`, `down`, `status` and `machine` do.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tinykube/tinykube/internal/agent"
	"github.com/tinykube/tinykube/internal/config"
	"github.com/tinykube/tinykube/internal/machine"
	"github.com/tinykube/tinykube/plugins"
)

// UpTimeout bounds how long Up waits for every component to be healthy.
var UpTimeout = 90 * time.Second

// Cluster is a cluster that exists (or is being made).
type Cluster struct {
	Config  *config.Cluster
	Backend machine.Backend
	// BinDir holds the tinykube binary and the reference components.
	BinDir string
	// Out receives progress lines; nil discards them.
	Out io.Writer
}

// New returns a handle on the cluster cfg describes; cfg must be complete.
func New(cfg *config.Cluster, backend machine.Backend, binDir string, out io.Writer) *Cluster {
	if out == nil {
		out = io.Discard
	}
	return &Cluster{Config: cfg, Backend: backend, BinDir: binDir, Out: out}
}

// Open returns the cluster called name whose state lives under stateRoot,
// as `tinykube up` left it.
func Open(name, stateRoot string, backend machine.Backend, binDir string, out io.Writer) (*Cluster, error) {
	path := filepath.Join(stateRoot, name, "cluster.yaml")
	if _, err := os.Stat(path); err != nil {
		// A config that set its own stateDir: up left a copy in the run dir.
		if run := filepath.Join(config.RunRoot, name, "cluster.yaml"); fileExists(run) {
			path = run
		}
	}
	cfg, err := config.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no cluster %q here (%s does not exist); start one with `tinykube up`", name, path)
	}
	if err != nil {
		return nil, err
	}
	if err := cfg.Complete(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return New(cfg, backend, binDir, out), nil
}

// Network is the machine layer's view of the cluster.
func (c *Cluster) Network() machine.Network {
	n := machine.Network{
		Cluster:     c.Config.Name,
		CIDR:        netip.MustParsePrefix(c.Config.Network.MachineCIDR),
		HostAddress: c.Config.HostAddress(),
	}
	for _, m := range c.Config.Machines {
		n.Machines = append(n.Machines, machine.Spec{
			Name:    m.Name,
			Role:    machine.Role(m.Role),
			Address: netip.MustParseAddr(m.Address),
		})
	}
	return n
}

func (c *Cluster) step(format string, args ...any) func() {
	start := time.Now()
	fmt.Fprintf(c.Out, "  "+format+" ...", args...)
	return func() { fmt.Fprintf(c.Out, " done (%s)\n", since(start)) }
}

func since(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }

// Up makes the machines, starts an agent on each and waits until every
// component is healthy. A previous run of the same cluster is cleaned
// first. If anything fails, Up tears down everything it made and returns
// the error: a cluster is either all up or not there.
func (c *Cluster) Up(ctx context.Context) (err error) {
	cfg := c.Config
	if err := c.checkBinaries(); err != nil {
		return err
	}
	if c.exists(ctx) {
		done := c.step("cleaning up a previous run of cluster %q", cfg.Name)
		if err := c.Down(ctx); err != nil {
			return fmt.Errorf("cleaning a previous run: %w", err)
		}
		done()
	}
	defer func() {
		if err != nil {
			fmt.Fprintf(c.Out, "  tearing down what was made ...\n")
			if derr := c.Down(context.Background()); derr != nil {
				err = fmt.Errorf("%w\n(and tearing down: %v)", err, derr)
			}
		}
	}()

	done := c.step("creating machines %s on %s", machineNames(cfg), cfg.Network.MachineCIDR)
	machines, err := c.Backend.Create(ctx, c.Network())
	if err != nil {
		fmt.Fprintln(c.Out)
		return err
	}
	done()

	if cfg.Chapter >= 3 {
		if err := c.routePodsFromMaster(ctx, machines); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(cfg.RunDir(), 0o755); err != nil {
		return err
	}
	data, err := cfg.Marshal()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(cfg.ConfigFile(), data, 0o644); err != nil {
		return err
	}
	// A copy where later commands look whatever the state dir.
	if err := os.WriteFile(filepath.Join(cfg.RunDir(), "cluster.yaml"), data, 0o644); err != nil {
		return err
	}
	if cfg.Chapter >= 2 {
		done = c.step("making the CA, certificates and the admin kubeconfig")
		if err := c.makePKI(); err != nil {
			fmt.Fprintln(c.Out)
			return err
		}
		done()
	}
	done = c.step("starting an agent on each machine")
	for _, m := range machines {
		if err := c.startAgent(m); err != nil {
			fmt.Fprintln(c.Out)
			return err
		}
	}
	done()
	return c.waitSettled(ctx, machines)
}

// routePodsFromMaster routes each node's pod CIDR through the node from the
// master, which runs no kubelet of its own: so that the master's
// components (DNS) can answer pods. The nodes route each other's pods
// themselves (their kubelets do, from the Node objects).
func (c *Cluster) routePodsFromMaster(ctx context.Context, machines []machine.Machine) error {
	master := c.Config.Master()
	for _, m := range machines {
		if m.Spec().Name != master.Name {
			continue
		}
		for _, node := range c.Config.Nodes() {
			out, err := m.Command(ctx, "ip", "route", "replace", c.Config.NodePodCIDR(node.Name), "via", node.Address).CombinedOutput()
			if err != nil {
				return fmt.Errorf("routing %s's pods from %s: %v: %s", node.Name, master.Name, err, out)
			}
		}
	}
	return nil
}

// checkBinaries fails before anything is made if a component binary of
// the plan cannot be run.
func (c *Cluster) checkBinaries() error {
	seen := map[string]bool{}
	for _, m := range c.Config.Machines {
		for _, p := range c.Config.Plan(m, c.BinDir) {
			if seen[p.Kind] {
				continue
			}
			seen[p.Kind] = true
			if err := plugins.CheckBinary(p.Binary); err != nil {
				hint := ""
				if p.Reference {
					hint = fmt.Sprintf(" (chapter %d needs the %s component; if tinykube has no reference %s yet, give one with --use %s=PATH)", c.Config.Chapter, p.Kind, p.Kind, p.Kind)
				}
				return fmt.Errorf("component %s%s: %w", p.Kind, hint, err)
			}
		}
	}
	return nil
}

func (c *Cluster) exists(ctx context.Context) bool {
	if _, err := os.Stat(c.Config.StateDir); err == nil {
		return true
	}
	if _, err := os.Stat(c.Config.RunDir()); err == nil {
		return true
	}
	left, err := c.Backend.Leftovers(ctx, c.Network())
	return err != nil || len(left) > 0
}

func (c *Cluster) startAgent(m machine.Machine) error {
	name := m.Spec().Name
	argv := []string{filepath.Join(c.BinDir, "tinykube"), "agent", "--config", c.Config.ConfigFile(), "--machine", name}
	logFile := filepath.Join(c.Config.LogDir(name), "agent.log")
	pid, err := m.Spawn(argv, nil, logFile)
	if err != nil {
		return fmt.Errorf("starting the agent on %s: %w", name, err)
	}
	return WritePIDFile(c.Config.AgentPIDFile(name), pid)
}

// waitSettled polls the agents until every component is healthy, printing
// each as it becomes so; it fails at the first component that failed.
func (c *Cluster) waitSettled(ctx context.Context, machines []machine.Machine) error {
	start := time.Now()
	deadline := start.Add(UpTimeout)
	reported := map[string]bool{}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		all := true
		var last []string
		for _, m := range machines {
			name := m.Spec().Name
			st, err := agent.FetchStatus(ctx, m.Dial, c.Config.AgentSocket(name))
			if err != nil {
				all = false
				last = append(last, fmt.Sprintf("%s: agent not answering yet (%v)", name, err))
				if !agentAlive(c.Config.AgentPIDFile(name)) {
					log := filepath.Join(c.Config.LogDir(name), "agent.log")
					return fmt.Errorf("the agent on %s exited; see %s, which ends:\n%s", name, log, tailOf(log, 8))
				}
				continue
			}
			for _, comp := range st.Components {
				key := name + "/" + comp.Kind
				switch {
				case comp.State == agent.StateFailed:
					return fmt.Errorf("%s on %s failed to start: %s%s", comp.Kind, name, comp.Message, logTail(comp.Log))
				case comp.Settled():
					if !reported[key] {
						reported[key] = true
						fmt.Fprintf(c.Out, "  %-8s %-18s healthy after %s (%s)\n", name, comp.Kind, since(start), comp.Message)
					}
				default:
					all = false
					last = append(last, fmt.Sprintf("%s/%s: %s %s", name, comp.Kind, comp.State, comp.Message))
				}
			}
		}
		if all {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy within %v; last seen:\n  %s", UpTimeout, strings.Join(last, "\n  "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// logTail returns the last lines of a log file, indented, to show with an
// error.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 12 {
		lines = lines[len(lines)-12:]
	}
	return fmt.Sprintf("\nlast lines of %s:\n    %s", path, strings.Join(lines, "\n    "))
}

func machineNames(cfg *config.Cluster) string {
	var names []string
	for _, m := range cfg.Machines {
		names = append(names, m.Name)
	}
	return strings.Join(names, ", ")
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// readPID reads a PID file; 0 when there is none.
// WritePIDFile writes pid to path atomically (a new file renamed over the
// old), so that a reader never sees it empty: the agent rewrites the file
// its starter wrote while the starter may be reading it.
func WritePIDFile(path string, pid int) error {
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readPID(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// agentAlive reports whether the process in the PID file runs and is
// tinykube (a PID can be reused by another program).
func agentAlive(pidFile string) bool {
	pid := readPID(pidFile)
	if pid <= 0 {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	// Between fork and exec the agent is still a copy of `tinykube up`, so
	// the program's name is what is checked, not its arguments; during
	// the exec itself the command line reads empty.
	args := strings.Split(string(cmdline), "\x00")
	if len(cmdline) > 0 && filepath.Base(args[0]) != "tinykube" {
		return false
	}
	// A zombie (exited, not yet reaped) is not alive.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// Down stops every agent (which stops its components in reverse order),
// then removes the machines, the runtime and state directories. It is
// idempotent and fails only if something is left behind, naming it.
func (c *Cluster) Down(ctx context.Context) error {
	cfg := c.Config
	// Ask each agent to stop; it stops its components gracefully.
	var pids []int
	for _, m := range cfg.Machines {
		pidFile := cfg.AgentPIDFile(m.Name)
		if agentAlive(pidFile) {
			pid := readPID(pidFile)
			if err := syscall.Kill(pid, syscall.SIGTERM); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	deadline := time.Now().Add(plugins.StopGrace + time.Second)
	for _, m := range cfg.Machines {
		for agentAlive(cfg.AgentPIDFile(m.Name)) && time.Now().Before(deadline) {
			pause(5 * time.Millisecond)
		}
	}
	// Whatever still runs goes with the machines.
	if err := c.Backend.Destroy(ctx, c.Network()); err != nil {
		return err
	}
	// Containers' mounts and cgroups outlive their processes.
	if err := unmountAll(cfg.RunDir(), cfg.StateDir); err != nil {
		return err
	}
	if err := removeCgroups(cfg.Name); err != nil {
		return err
	}
	removeStaleShimSockets()
	for _, dir := range []string{cfg.RunDir(), cfg.StateDir} {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("removing %s: %w", dir, err)
		}
	}
	left, err := c.Leftovers(ctx)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("cluster %q: left behind after down:\n  %s", cfg.Name, strings.Join(left, "\n  "))
	}
	return nil
}

// Leftovers lists whatever of the cluster still exists, one line each.
func (c *Cluster) Leftovers(ctx context.Context) ([]string, error) {
	left, err := c.Backend.Leftovers(ctx, c.Network())
	if err != nil {
		return nil, err
	}
	for _, dir := range []string{c.Config.RunDir(), c.Config.StateDir} {
		if _, err := os.Stat(dir); err == nil {
			left = append(left, "directory "+dir)
		}
	}
	for _, m := range mountsUnder(c.Config.RunDir(), c.Config.StateDir) {
		left = append(left, "mount "+m)
	}
	for _, d := range cgroupDirs(c.Config.Name) {
		left = append(left, "cgroup "+d)
	}
	return left, nil
}

// pause waits d. It is used only between polls of a condition.
func pause(d time.Duration) {
	t := time.NewTimer(d)
	<-t.C
}

// tailOf returns the last n lines of a log file, indented, for an error
// message that shows what went wrong without sending the user to look.
func tailOf(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "    (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
