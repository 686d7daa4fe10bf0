package cluster_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/tinykube/tinykube/internal/cluster"
	"github.com/tinykube/tinykube/internal/config"
	"github.com/tinykube/tinykube/internal/machine"
	"github.com/tinykube/tinykube/internal/machine/machinetest"
	"github.com/tinykube/tinykube/internal/scenario"
)

// newCluster returns a chapter 1 cluster of its own name and network.
func newCluster(b *testing.B) *cluster.Cluster {
	machinetest.RequireRoot(b)
	bin := scenario.BinDir(b)
	suffix := make([]byte, 3)
	rand.Read(suffix)
	cfg := config.Default()
	cfg.Chapter = 1 // the figures are the machines' and etcd's
	cfg.Name = "b" + hex.EncodeToString(suffix)
	cfg.StateDir = filepath.Join(b.TempDir(), cfg.Name)
	cfg.Network.MachineCIDR = fmt.Sprintf("10.250.%d.0/24", suffix[0])
	if err := cfg.Complete(); err != nil {
		b.Fatal(err)
	}
	c := cluster.New(cfg, machine.NewLocal(), bin, nil)
	b.Cleanup(func() { c.Down(context.Background()) })
	return c
}

func median(ds []time.Duration) float64 {
	slices.Sort(ds)
	return float64(ds[len(ds)/2].Microseconds()) / 1000
}

// BenchmarkUpDown measures `tinykube up --chapter 1` until etcd is healthy,
// and `tinykube down`, reporting the median of each (issue: up ≤ 2 s,
// down ≤ 2 s). Run with -benchtime 5x for the median of 5.
func BenchmarkUpDown(b *testing.B) {
	c := newCluster(b)
	ctx := context.Background()
	var ups, downs []time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := c.Up(ctx); err != nil {
			b.Fatal(err)
		}
		ups = append(ups, time.Since(start))
		start = time.Now()
		if err := c.Down(ctx); err != nil {
			b.Fatal(err)
		}
		downs = append(downs, time.Since(start))
	}
	b.ReportMetric(median(ups), "up-median-ms")
	b.ReportMetric(median(downs), "down-median-ms")
}

// BenchmarkRestartKilledComponent kills etcd's process and measures until
// the agent reports it healthy again (issue: ≤ 1 s). Each iteration has a
// fresh cluster: a second crash soon after the first is a crash loop, and
// the agent waits longer before each restart on purpose.
func BenchmarkRestartKilledComponent(b *testing.B) {
	c := newCluster(b)
	ctx := context.Background()
	master := c.Config.Master().Name
	var restarts []time.Duration
	for i := 0; i < b.N; i++ {
		if err := c.Up(ctx); err != nil {
			b.Fatal(err)
		}
		sts, err := c.Status(ctx)
		if err != nil {
			b.Fatal(err)
		}
		before, _ := cluster.Component(sts, master, "etcd")
		start := time.Now()
		if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		deadline := start.Add(30 * time.Second)
		for {
			sts, err := c.Status(ctx)
			if err != nil {
				b.Fatal(err)
			}
			now, _ := cluster.Component(sts, master, "etcd")
			if now.Restarts > before.Restarts && now.Healthy {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("etcd not healthy again within 30s; last status %+v", now)
			}
		}
		restarts = append(restarts, time.Since(start))
		if err := c.Down(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(median(restarts), "restart-median-ms")
}
