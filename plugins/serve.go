package plugins

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-plugin"
)

// Serve runs impl as a component process. It is all a component's main
// needs:
//
//	func main() { plugins.Serve(etcd.New()) }
//
// Started by a tinykube agent, it serves the lifecycle contract until the
// agent stops it. Run by hand, it prints what it is and how it is meant to be
// run, and exits with status 1.
func Serve(impl Component) {
	if os.Getenv(Handshake.MagicCookieKey) != Handshake.MagicCookieValue {
		printUsage(impl)
		os.Exit(1)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: PluginSets(&directStdio{Component: impl, stdout: os.Stdout, stderr: os.Stderr}),
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}

// directStdio gives a component back its real stdout and stderr at the
// first call. go-plugin's Serve points them at a gRPC stream, whose last
// lines are lost when a process crashes; the real file descriptors reach
// the agent, and so the component's log, line by line, crash or not.
type directStdio struct {
	Component
	once           sync.Once
	stdout, stderr *os.File
}

func (d *directStdio) restore() {
	d.once.Do(func() { os.Stdout, os.Stderr = d.stdout, d.stderr })
}

func (d *directStdio) Identify(ctx context.Context) (Identity, error) {
	d.restore()
	return d.Component.Identify(ctx)
}

func (d *directStdio) Start(ctx context.Context, s Settings) error {
	d.restore()
	return d.Component.Start(ctx, s)
}

func printUsage(impl Component) {
	id, err := impl.Identify(context.Background())
	if err != nil {
		id = Identity{Kind: "?", Implementation: "?", Version: "?"}
	}
	self := filepath.Base(os.Args[0])
	path, _ := filepath.Abs(os.Args[0])
	fmt.Fprintf(os.Stderr, `%s is the tinykube %s component (implementation %q, version %s).

It is not run by hand: the tinykube agent on a machine starts it as a plugin
process and drives it over gRPC (hashicorp/go-plugin, lifecycle contract
version %d: Identify, Start, Health, Stop).

Run it in a cluster:
    tinykube up --use %s=%s
Check it against the contract:
    go test ./plugins/conformance -run TestBinary -binary %s
`, self, id.Kind, id.Implementation, id.Version, ProtocolVersion, id.Kind, path, path)
}
