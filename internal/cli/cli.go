// Package cli is the tinykube command line: it parses arguments and calls
// the cluster, agent and machine packages, which do the work.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tinykube/tinykube/internal/agent"
	"github.com/tinykube/tinykube/internal/cluster"
	"github.com/tinykube/tinykube/internal/config"
	"github.com/tinykube/tinykube/internal/machine"
	"github.com/tinykube/tinykube/plugins"
)

const usage = `tinykube: Kubernetes rebuilt for teaching.

Usage:
  tinykube up [--chapter N] [--nodes N] [--use KIND=PATH]... [--config FILE]
              [--machine-cidr CIDR]
                             start a cluster (1 master + 2 nodes by default)
  tinykube down [--check]    remove everything the cluster made
  tinykube status            machines, components, their state and health
  tinykube logs COMPONENT [--machine M] [-f]
                             a component's log (agent for the agent's own)
  tinykube machine stop|start MACHINE
                             power a machine off (as a power cut) or on
  tinykube etcdctl ARGS...   the real etcdctl, pointed at the cluster's etcd
  tinykube kubectl ARGS...   the real kubectl, with the cluster's admin kubeconfig
  tinykube agent --config FILE --machine M
                             run a machine's agent (tinykube up does this)

Every command acts on the cluster named by --name or $TINYKUBE_CLUSTER
(default "tk"), whose state is under --state-root or $TINYKUBE_STATE_ROOT
(default /var/lib/tinykube); flags go after the command. $TINYKUBE_MACHINE_CIDR
sets the default of --machine-cidr.
`

// env is what every command needs.
type env struct {
	stdout, stderr io.Writer
	binDir         string
	name           string
	stateRoot      string
}

// Run runs the tinykube command line and returns the exit status.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr, name: envOr("TINYKUBE_CLUSTER", "tk"), stateRoot: envOr("TINYKUBE_STATE_ROOT", "/var/lib/tinykube")}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "tinykube:", err)
		return 1
	}
	e.binDir = filepath.Dir(self)
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	commands := map[string]func(context.Context, []string) error{
		"up":      e.up,
		"down":    e.down,
		"status":  e.status,
		"logs":    e.logs,
		"machine": e.machine,
		"etcdctl": e.etcdctl,
		"kubectl": e.kubectl,
		"agent":   e.agent,
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "tinykube: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err := cmd(ctx, args[1:]); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "tinykube %s: %v\n", args[0], err)
		}
		return 1
	}
	return 0
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// flags returns a flag set with the flags every command has.
func (e *env) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("tinykube "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.StringVar(&e.name, "name", e.name, "the cluster's name")
	fs.StringVar(&e.stateRoot, "state-root", e.stateRoot, "where clusters keep their state")
	return fs
}

func (e *env) open() (*cluster.Cluster, error) {
	return cluster.Open(e.name, e.stateRoot, machine.NewLocal(), e.binDir, e.stdout)
}

// useFlags collects repeated --use KIND=PATH.
type useFlags []string

func (u *useFlags) String() string     { return strings.Join(*u, ",") }
func (u *useFlags) Set(v string) error { *u = append(*u, v); return nil }

func (e *env) up(ctx context.Context, args []string) error {
	fs := e.flags("up")
	configFile := fs.String("config", "", "cluster config file (default: built-in defaults, as in cluster.yaml)")
	chapter := fs.Int("chapter", 0, "run the components of chapters 1..N")
	nodes := fs.Int("nodes", -1, "number of node machines")
	cidr := fs.String("machine-cidr", os.Getenv("TINYKUBE_MACHINE_CIDR"), "the machines' network (default 10.200.0.0/24, or $TINYKUBE_MACHINE_CIDR)")
	var uses useFlags
	fs.Var(&uses, "use", "KIND=PATH: run PATH as the KIND component (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	nameSet := false
	fs.Visit(func(f *flag.Flag) { nameSet = nameSet || f.Name == "name" })

	cfg := config.Default()
	if *configFile != "" {
		var err error
		if cfg, err = config.Load(*configFile); err != nil {
			return err
		}
	}
	if nameSet || os.Getenv("TINYKUBE_CLUSTER") != "" || *configFile == "" {
		cfg.Name = e.name
	}
	if *configFile == "" || cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(e.stateRoot, cfg.Name)
	}
	if *chapter != 0 {
		cfg.Chapter = *chapter
	}
	if *nodes >= 0 {
		cfg.SetNodes(*nodes)
	}
	if *cidr != "" {
		cfg.Network.MachineCIDR = *cidr
		for i := range cfg.Machines {
			cfg.Machines[i].Address = ""
		}
	}
	for _, u := range uses {
		kind, path, ok := strings.Cut(u, "=")
		if !ok {
			return fmt.Errorf("--use %q: want KIND=PATH, e.g. --use etcd=./my-etcd", u)
		}
		if err := cfg.Use(kind, path); err != nil {
			return err
		}
	}
	if err := cfg.Complete(); err != nil {
		return fmt.Errorf("cluster config: %w", err)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("tinykube up makes network namespaces and needs root: run it with sudo (sudo make up)")
	}

	start := time.Now()
	fmt.Fprintf(e.stdout, "tinykube: starting cluster %q, chapter %d (%s) ...\n", cfg.Name, cfg.Chapter, strings.Join(config.ChapterKinds(cfg.Chapter), ", "))
	c := cluster.New(cfg, machine.NewLocal(), e.binDir, e.stdout)
	if err := c.Up(ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "tinykube: cluster %q is up in %s\n\n", cfg.Name, time.Since(start).Round(time.Millisecond))
	sts, err := c.Status(ctx)
	if err != nil {
		return err
	}
	c.PrintStatus(e.stdout, sts)
	self := filepath.Join(e.binDir, "tinykube")
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, self); err == nil && !strings.HasPrefix(rel, "..") {
			self = rel
		}
	}
	if cfg.Chapter >= 2 {
		fmt.Fprintf(e.stdout, "\nkubectl: %[1]s kubectl get nodes,pods -A   (or: export KUBECONFIG=%[2]s)\n", self, cfg.AdminKubeconfig())
	} else {
		fmt.Fprintf(e.stdout, "\nnext: %[1]s etcdctl put /hello world; %[1]s etcdctl get /hello; %[1]s down\n", self)
	}
	return nil
}

func (e *env) down(ctx context.Context, args []string) error {
	fs := e.flags("down")
	check := fs.Bool("check", false, "after removing, list anything left and fail if there is")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := e.open()
	if err != nil {
		// No readable state: remove what carries the cluster's name anyway.
		cfg := config.Default()
		cfg.Name = e.name
		cfg.StateDir = filepath.Join(e.stateRoot, e.name)
		if cerr := cfg.Complete(); cerr != nil {
			return cerr
		}
		c = cluster.New(cfg, machine.NewLocal(), e.binDir, e.stdout)
	}
	start := time.Now()
	if err := c.Down(ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "tinykube: cluster %q is down (%s)\n", c.Config.Name, time.Since(start).Round(time.Millisecond))
	if *check {
		left, err := c.Leftovers(ctx)
		if err != nil {
			return err
		}
		if len(left) > 0 {
			return fmt.Errorf("left behind:\n  %s", strings.Join(left, "\n  "))
		}
		fmt.Fprintln(e.stdout, "tinykube: nothing left behind (namespaces, links, processes, directories)")
	}
	return nil
}

func (e *env) status(ctx context.Context, args []string) error {
	fs := e.flags("status")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := e.open()
	if err != nil {
		return err
	}
	sts, err := c.Status(ctx)
	if err != nil {
		return err
	}
	c.PrintStatus(e.stdout, sts)
	return nil
}

func (e *env) logs(ctx context.Context, args []string) error {
	fs := e.flags("logs")
	machineName := fs.String("machine", "", "the machine (default: the first that runs the component)")
	follow := fs.Bool("f", false, "keep printing as the log grows")
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: tinykube logs COMPONENT [--machine M] [-f]")
	}
	kind := fs.Arg(0)
	c, err := e.open()
	if err != nil {
		return err
	}
	path := ""
	for _, m := range c.Config.Machines {
		if *machineName != "" && m.Name != *machineName {
			continue
		}
		if kind == "agent" {
			path = filepath.Join(c.Config.LogDir(m.Name), "agent.log")
			break
		}
		for _, p := range c.Config.Plan(m, e.binDir) {
			if p.Kind == kind {
				path = filepath.Join(c.Config.LogDir(m.Name), kind+".log")
			}
		}
		if path != "" {
			break
		}
	}
	if path == "" {
		return fmt.Errorf("no component %q runs on %s at chapter %d; components: agent, %s", kind, orAll(*machineName), c.Config.Chapter, strings.Join(config.ChapterKinds(c.Config.Chapter), ", "))
	}
	return printFile(ctx, e.stdout, path, *follow)
}

func orAll(m string) string {
	if m == "" {
		return "any machine"
	}
	return m
}

// reorder puts flags before positional arguments, so `logs etcd -f` works
// as well as `logs -f etcd`.
func reorder(args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case !strings.HasPrefix(a, "-"):
			rest = append(rest, a)
		case a == "-f" || strings.Contains(a, "="):
			flags = append(flags, a)
		default:
			flags = append(flags, a)
			if i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		}
	}
	return append(flags, rest...)
}

func printFile(ctx context.Context, w io.Writer, path string, follow bool) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s does not exist yet: the component has not been started", path)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		if _, err := io.Copy(w, f); err != nil {
			return err
		}
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (e *env) machine(ctx context.Context, args []string) error {
	fs := e.flags("machine")
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	if fs.NArg() != 2 || (fs.Arg(0) != "stop" && fs.Arg(0) != "start") {
		return fmt.Errorf("usage: tinykube machine stop|start MACHINE")
	}
	c, err := e.open()
	if err != nil {
		return err
	}
	name := fs.Arg(1)
	if fs.Arg(0) == "stop" {
		if err := c.StopMachine(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "tinykube: machine %s is powered off\n", name)
		return nil
	}
	if err := c.StartMachine(ctx, name); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "tinykube: machine %s is powered on and its components are healthy\n", name)
	return nil
}

// etcdctl runs the real etcdctl (built by `make build` next to tinykube)
// against the cluster's etcd. Flags of its own come after the command
// name, as with etcdctl itself.
func (e *env) etcdctl(ctx context.Context, args []string) error {
	c, err := e.open()
	if err != nil {
		return err
	}
	master := c.Config.Master()
	port := strconv.Itoa(2379)
	if p := c.Config.Components[plugins.KindEtcd].Settings["client-port"]; p != "" {
		port = p
	}
	// Become etcdctl (exec, not a child process), so that signals, exit
	// status and a watch's output are etcdctl's own.
	path := filepath.Join(e.binDir, "etcdctl")
	env := append(os.Environ(), "ETCDCTL_ENDPOINTS=http://"+master.Address+":"+port)
	if err := syscall.Exec(path, append([]string{"etcdctl"}, args...), env); err != nil {
		return fmt.Errorf("running %s: %w (build it with `make build`)", path, err)
	}
	return nil
}

// kubectl runs the real kubectl (built by `make build` next to tinykube)
// with the cluster's admin kubeconfig.
func (e *env) kubectl(ctx context.Context, args []string) error {
	c, err := e.open()
	if err != nil {
		return err
	}
	if c.Config.Chapter < 2 {
		return fmt.Errorf("cluster %q runs chapter %d: there is no apiserver for kubectl to talk to before chapter 2 (tinykube up --chapter 2)", c.Config.Name, c.Config.Chapter)
	}
	path := filepath.Join(e.binDir, "kubectl")
	env := append(os.Environ(), "KUBECONFIG="+c.Config.AdminKubeconfig())
	if err := syscall.Exec(path, append([]string{"kubectl"}, args...), env); err != nil {
		return fmt.Errorf("running %s: %w (build it with `make build`)", path, err)
	}
	return nil
}

func (e *env) agent(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("tinykube agent", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	configFile := fs.String("config", "", "the cluster config written by tinykube up")
	name := fs.String("machine", "", "this machine's name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configFile == "" || *name == "" {
		return fmt.Errorf("usage: tinykube agent --config FILE --machine NAME (tinykube up starts agents; you rarely run one by hand)")
	}
	cfg, err := config.Load(*configFile)
	if err != nil {
		return err
	}
	if err := cfg.Complete(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(e.stdout, nil)).With("machine", *name)
	a, err := agent.New(cfg, *name, e.binDir, log)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.RunDir(), 0o755); err != nil {
		return err
	}
	pidFile := cfg.AgentPIDFile(*name)
	if err := cluster.WritePIDFile(pidFile, os.Getpid()); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serveErr := make(chan error, 1)
	go func() {
		err := agent.Serve(ctx, cfg.AgentSocket(*name), a)
		if err != nil {
			cancel() // an agent nobody can ask is no use: stop
		}
		serveErr <- err
	}()
	log.Info("agent started", "pid", os.Getpid(), "components", len(cfg.Plan(mustMachine(cfg, *name), e.binDir)))
	runErr := a.Run(ctx)
	cancel()
	if err := <-serveErr; err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

func mustMachine(cfg *config.Cluster, name string) config.Machine {
	m, _ := cfg.Machine(name)
	return m
}
