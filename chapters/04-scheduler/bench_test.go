package chapter04

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/tinykube/tinykube/components/scheduler/schedulertest"
	"github.com/tinykube/tinykube/internal/cluster"
	"github.com/tinykube/tinykube/internal/scenario"
)

// The scheduler's figures (issue 5) in a real cluster: etcd, the
// apiserver (TLS, client certificates) and the scheduler as the agent runs
// them, each its own process; nodes are Node objects only (the cluster has
// no node machine: pods are bound, not run). Run as root after
// `make build`:
//
//	go test -run '^$' -bench . -benchtime 1x -count 5 ./chapters/04-scheduler/
//
// Each op is one round on a fresh cluster; report the medians of the
// custom metrics. components/scheduler/bench_test.go measures the same
// in one process, without root.

// benchCluster starts a chapter 4 cluster of one master, of its own name
// and network, whose scheduler has the rate limits Kubernetes' scheduler
// benchmarks give kube-scheduler (5000 requests/s; the default is 50).
func benchCluster(b *testing.B) (*cluster.Cluster, kubernetes.Interface) {
	return scenario.StartCluster(b, 4, 0, 10000,
		scenario.WithSettings("scheduler", map[string]string{"kube-api-qps": "5000", "kube-api-burst": "5000"}))
}

// BenchmarkClusterThroughput: pods wait (created while the scheduler is
// frozen), then the scheduler binds them onto simulated nodes; pods bound
// per second from the first binding to the last, and the CPU time etcd,
// the apiserver and the scheduler spent per pod (cpu-us/pod), and the
// scheduler alone (scheduler-cpu-us/pod). Goal: at least 700/s.
func BenchmarkClusterThroughput(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a cluster")
	}
	for _, size := range []struct{ nodes, pods int }{{100, 1000}, {1000, 5000}} {
		b.Run(fmt.Sprintf("%dnodes-%dpods", size.nodes, size.pods), func(b *testing.B) {
			var rates, cpus, scheds []float64
			for range b.N {
				b.StopTimer()
				r, cpu, sched := clusterRound(b, size.nodes, size.pods)
				rates, cpus, scheds = append(rates, r), append(cpus, cpu), append(scheds, sched)
				b.StartTimer()
			}
			b.ReportMetric(median(rates), "pods/s")
			b.ReportMetric(median(cpus), "cpu-us/pod")
			b.ReportMetric(median(scheds), "scheduler-cpu-us/pod")
		})
	}
}

// clusterRound returns pods bound per second, and the CPU time per pod of
// etcd, the apiserver and the scheduler together and of the scheduler
// alone.
func clusterRound(b *testing.B, nodes, pods int) (rate, cpuPerPod, schedulerCPUPerPod float64) {
	c, cs := benchCluster(b)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < nodes; i += 16 {
				if _, err := cs.CoreV1().Nodes().Create(ctx, schedulertest.SimulatedNode(fmt.Sprintf("node-%04d", i), "4", "32Gi"), metav1.CreateOptions{}); err != nil {
					b.Errorf("create node: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	pids := map[string]int{}
	for _, kind := range []string{"etcd", "apiserver", "scheduler"} {
		pids[kind] = componentPID(b, c, kind)
	}
	// The scheduler frozen while the pods are created, so that it binds
	// them all from a full queue.
	if err := syscall.Kill(pids["scheduler"], syscall.SIGSTOP); err != nil {
		b.Fatal(err)
	}
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < pods; i += 16 {
				if _, err := cs.CoreV1().Pods("default").Create(ctx, schedulertest.BenchPod(fmt.Sprintf("p-%d", i)), metav1.CreateOptions{}); err != nil {
					b.Errorf("create pod: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		syscall.Kill(pids["scheduler"], syscall.SIGCONT)
		b.FailNow()
	}
	w, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	cpu0, sched0 := cpuSeconds(b, pids), cpuSeconds(b, map[string]int{"scheduler": pids["scheduler"]})
	b.StartTimer()
	if err := syscall.Kill(pids["scheduler"], syscall.SIGCONT); err != nil {
		b.Fatal(err)
	}
	var first, last time.Time
	bound := map[string]bool{}
	timeout := time.After(2 * time.Minute)
	for len(bound) < pods {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				b.Fatalf("watch closed after %d of %d pods bound; the scheduler's log ends:\n%s", len(bound), pods, logTail(c))
			}
			if p, isPod := ev.Object.(*corev1.Pod); isPod && ev.Type == watch.Modified && p.Spec.NodeName != "" && !bound[p.Name] {
				bound[p.Name] = true
				last = time.Now()
				if first.IsZero() {
					first = last
				}
			}
		case <-timeout:
			b.Fatalf("only %d of %d pods bound within 2 minutes; the scheduler's log ends:\n%s", len(bound), pods, logTail(c))
		}
	}
	b.StopTimer()
	cpu := cpuSeconds(b, pids) - cpu0
	sched := cpuSeconds(b, map[string]int{"scheduler": pids["scheduler"]}) - sched0
	return float64(pods-1) / last.Sub(first).Seconds(), cpu * 1e6 / float64(pods), sched * 1e6 / float64(pods)
}

// BenchmarkClusterLatency creates pods one at a time on an idle cluster of
// two simulated nodes, each when the one before is bound, and reports the
// p50 and p99 of created → bound (the Create call's start to the watch
// event that shows the pod bound). Goal: p99 at most 50 ms.
func BenchmarkClusterLatency(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a cluster")
	}
	const perRound = 200
	var p50s, p99s []float64
	for range b.N {
		b.StopTimer()
		_, cs := benchCluster(b)
		ctx := context.Background()
		for _, n := range []string{"node1", "node2"} {
			if _, err := cs.CoreV1().Nodes().Create(ctx, schedulertest.SimulatedNode(n, "64", "256Gi"), metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		w, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(w.Stop)
		schedulertest.Latency(b, cs, w, "warm") // not counted: connections open, caches warm
		b.StartTimer()
		var ms []float64
		for i := range perRound {
			ms = append(ms, schedulertest.Latency(b, cs, w, fmt.Sprintf("l-%d", i)).Seconds()*1000)
		}
		b.StopTimer()
		slices.Sort(ms)
		p50s, p99s = append(p50s, ms[len(ms)/2]), append(p99s, ms[len(ms)*99/100])
		b.StartTimer()
	}
	b.ReportMetric(median(p50s), "p50-ms")
	b.ReportMetric(median(p99s), "p99-ms")
}

// logTail is the end of the scheduler's log, for a round that failed.
func logTail(c *cluster.Cluster) string {
	data, err := os.ReadFile(filepath.Join(c.Config.LogDir("master"), "scheduler.log"))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

func componentPID(b *testing.B, c *cluster.Cluster, kind string) int {
	sts, err := c.Status(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	st, ok := cluster.Component(sts, "master", kind)
	if !ok || st.PID == 0 {
		b.Fatalf("no %s on the master", kind)
	}
	return st.PID
}

// cpuSeconds sums the CPU time (user and system) of the processes.
func cpuSeconds(b *testing.B, pids map[string]int) float64 {
	var total float64
	for kind, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Fatalf("%s: %v", kind, err)
		}
		// The fields after the command (which may hold spaces), from
		// the state on: utime and stime are the 12th and 13th.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		utime, _ := strconv.ParseFloat(f[11], 64)
		stime, _ := strconv.ParseFloat(f[12], 64)
		total += (utime + stime) / 100 // clock ticks, 100 a second
	}
	return total
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
