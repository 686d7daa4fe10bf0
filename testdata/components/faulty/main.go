// Command faulty is a component that goes wrong on purpose, to show how
// tinykube reports a broken component. What goes wrong depends on the name
// it is run under (make a copy or a link with that name):
//
//	crash-at-start   Start makes the process exit with status 3
//	never-healthy    Start works, Health never reports healthy
//	wrong-version    speaks contract version 99, which no host accepts
//	wrong-kind       claims to be a "dns" component
//
// Scenarios use it with `tinykube up --use etcd=.../crash-at-start`.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-plugin"

	"github.com/tinykube/tinykube/plugins"
)

// faulty is a component that fails in the way its name says.
type faulty struct {
	mode    string
	started bool
}

var _ plugins.Component = (*faulty)(nil)

func (f *faulty) Identify(context.Context) (plugins.Identity, error) {
	kind := plugins.KindEtcd
	if f.mode == "wrong-kind" {
		kind = plugins.KindDNS
	}
	return plugins.Identity{Kind: kind, Implementation: "faulty-" + f.mode, Version: "v0.0.0"}, nil
}

func (f *faulty) Start(context.Context, plugins.Settings) error {
	if f.started {
		return plugins.ErrAlreadyStarted
	}
	f.started = true
	if f.mode == "crash-at-start" {
		fmt.Fprintln(os.Stderr, "faulty: crashing at start, on purpose")
		os.Exit(3)
	}
	return nil
}

func (f *faulty) Health(context.Context) (plugins.Health, error) {
	if !f.started {
		return plugins.Health{}, plugins.ErrNotStarted
	}
	return plugins.Health{Message: "faulty: never healthy, on purpose"}, nil
}

func (f *faulty) Stop(context.Context) error { return nil }

func main() {
	f := &faulty{mode: filepath.Base(os.Args[0])}
	if f.mode == "wrong-version" && os.Getenv(plugins.Handshake.MagicCookieKey) != "" {
		// Serve by hand with another version: plugins.Serve always speaks
		// the right one.
		hs := plugins.Handshake
		hs.ProtocolVersion = 99
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig:  hs,
			VersionedPlugins: map[int]plugin.PluginSet{99: {plugins.PluginName: &plugins.GRPCPlugin{Impl: f}}},
			GRPCServer:       plugin.DefaultGRPCServer,
		})
		return
	}
	plugins.Serve(f)
}
