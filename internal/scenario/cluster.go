package scenario

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tinykube/tinykube/internal/cluster"
	"github.com/tinykube/tinykube/internal/config"
	"github.com/tinykube/tinykube/internal/machine"
	"github.com/tinykube/tinykube/internal/machine/machinetest"
)

// StartCluster starts, for a benchmark or a Go test, the default cluster
// at chapter with nodes node machines, under a name and on a machine
// network of its own (as scenarios get), and returns it with an admin
// clientset allowed qps requests a second. The cluster is taken down when
// the test ends. It needs network namespaces (root) and `make build`.
// Options change the configuration before it starts (a component's
// settings, say: WithSettings).
func StartCluster(tb testing.TB, chapter, nodes int, qps float32, options ...func(*config.Cluster)) (*cluster.Cluster, kubernetes.Interface) {
	tb.Helper()
	machinetest.RequireNetns(tb)
	bin := BinDir(tb)
	cfg := config.Default()
	cfg.Name = "b" + randomHex(3)
	cfg.Chapter = chapter
	cfg.Machines = cfg.Machines[:1]
	for i := 1; i <= nodes; i++ {
		cfg.Machines = append(cfg.Machines, config.Machine{Name: "node" + strconv.Itoa(i), Role: config.RoleNode})
	}
	cfg.StateDir = filepath.Join(tb.TempDir(), cfg.Name)
	cfg.Network.MachineCIDR = randomCIDR()
	for _, o := range options {
		o(cfg)
	}
	if err := cfg.Complete(); err != nil {
		tb.Fatal(err)
	}
	c := cluster.New(cfg, machine.NewLocal(), bin, nil)
	tb.Cleanup(func() { c.Down(context.Background()) })
	if err := c.Up(context.Background()); err != nil {
		tb.Fatal(err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.AdminKubeconfig())
	if err != nil {
		tb.Fatal(err)
	}
	rc.QPS, rc.Burst = qps, int(2*qps)
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		tb.Fatal(err)
	}
	return c, cs
}

// WithSettings is a StartCluster option: settings for one component (its
// kind, e.g. "scheduler"), merged over any it already has.
func WithSettings(kind string, settings map[string]string) func(*config.Cluster) {
	return func(cfg *config.Cluster) {
		if cfg.Components == nil {
			cfg.Components = map[string]config.Component{}
		}
		comp := cfg.Components[kind]
		if comp.Settings == nil {
			comp.Settings = map[string]string{}
		}
		for k, v := range settings {
			comp.Settings[k] = v
		}
		cfg.Components[kind] = comp
	}
}
