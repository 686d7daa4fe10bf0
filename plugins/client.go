package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// Process is a component running as a plugin process, seen from the host.
type Process struct {
	Component        // calls go to the process
	Binary    string // the binary it was started from
	PID       int

	client *plugin.Client
}

// LaunchConfig says how to start a component process.
type LaunchConfig struct {
	Binary string    // path of the component binary
	Output io.Writer // receives everything the process writes (its log)
	Env    []string  // extra environment, KEY=VALUE
	// StartTimeout bounds the plugin handshake; 0 means 10 s.
	StartTimeout time.Duration
}

// ErrBinary is wrapped by Launch when the binary cannot be used at all.
var ErrBinary = errors.New("plugins: unusable component binary")

// Launch starts a component binary and connects to it. The caller must call
// Kill when done, also after an error from a later call. Errors name the
// binary and say what to do.
func Launch(ctx context.Context, cfg LaunchConfig) (*Process, error) {
	if err := CheckBinary(cfg.Binary); err != nil {
		return nil, err
	}
	out := cfg.Output
	if out == nil {
		out = io.Discard
	}
	timeout := cfg.StartTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	cmd := exec.Command(cfg.Binary)
	cmd.Env = append(os.Environ(), cfg.Env...)
	// The component dies with the agent that started it, so a killed agent
	// never leaves an orphan serving the old settings.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: PluginSets(nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     timeout,
		Stderr:           out,
		SyncStdout:       out,
		SyncStderr:       out,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:   "plugin-host",
			Output: out,
			Level:  hclog.Warn,
		}),
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("component binary %s did not start as a tinykube component (contract version %d): %w", cfg.Binary, ProtocolVersion, err)
	}
	raw, err := rpc.Dispense(PluginName)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("component binary %s does not serve the %q plugin: %w", cfg.Binary, PluginName, err)
	}
	comp, ok := raw.(Component)
	if !ok {
		client.Kill()
		return nil, fmt.Errorf("component binary %s: plugin %q is %T, not a Component", cfg.Binary, PluginName, raw)
	}
	p := &Process{Component: comp, Binary: cfg.Binary, client: client}
	if rc := client.ReattachConfig(); rc != nil {
		p.PID = rc.Pid
	}
	return p, nil
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool { return p.client.Exited() }

// Kill ends the process: gracefully if it still listens, by SIGKILL after
// go-plugin's own grace period otherwise. It is safe to call twice.
func (p *Process) Kill() { p.client.Kill() }

// CheckBinary says why path cannot be run as a component binary, or nil.
func CheckBinary(path string) error {
	if path == "" {
		return fmt.Errorf("%w: no binary path given", ErrBinary)
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s does not exist (build it with `make build`, or fix the path)", ErrBinary, path)
	case err != nil:
		return fmt.Errorf("%w: %s: %v", ErrBinary, path, err)
	case st.IsDir():
		return fmt.Errorf("%w: %s is a directory, not a program", ErrBinary, path)
	case st.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("%w: %s is not executable (chmod +x it)", ErrBinary, path)
	}
	return nil
}
