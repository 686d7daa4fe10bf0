package scheduler

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/tinykube/tinykube/components/scheduler/schedulertest"
)

// The scheduler's figures (issue 5), measured as its users see them:
// pods created through the apiserver, bound through pods/binding, seen
// bound through a watch. etcd, the apiserver, the scheduler and the
// clients share one process and the machine's cores; nodes are Node
// objects only (no kubelet: pods are bound, not run). Each op is one
// whole round on a fresh apiserver, so that
//
//	go test -run '^$' -bench . -benchtime 1x -count 5 ./components/scheduler/
//
// gives five values of each figure; report their medians. The custom
// metrics are the figures; ns/op is only the length of a round.

// benchNode is scheduler_perf's default node: 4 CPUs, 32Gi, 110 pods.
func benchNode(i int) *corev1.Node {
	return schedulertest.SimulatedNode(fmt.Sprintf("node-%04d", i), "4", "32Gi")
}

// benchScheduler starts a scheduler for the apiserver at url, with the
// rate limits scheduler_perf gives kube-scheduler (5000 QPS), until the
// benchmark ends.
func benchScheduler(b *testing.B, url string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		cfg := DefaultConfig("")
		cfg.RestConfig, cfg.Log, cfg.QPS, cfg.Burst = pooledConfig(b, url), io.Discard, 5000, 5000
		done <- Run(ctx, cfg)
	}()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("scheduler: %v", err)
		}
	})
}

// createPods creates n pods named prefix-0.. from 16 clients at once.
func createPods(b *testing.B, css []*kubernetes.Clientset, prefix string, n int) {
	var wg sync.WaitGroup
	for c, cs := range css {
		wg.Go(func() {
			for i := c; i < n; i += len(css) {
				if _, err := cs.CoreV1().Pods("default").Create(context.Background(), schedulertest.BenchPod(fmt.Sprintf("%s-%d", prefix, i)), metav1.CreateOptions{}); err != nil {
					b.Errorf("create pod: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// BenchmarkThroughput binds pods already waiting onto simulated nodes and
// reports pods bound per second, from the first binding seen to the last.
// Goal: at least 700/s. creates/s, the rate at which 16 clients created
// those pods just before, tells what the apiserver and etcd could take on
// the machine at the time; cpu-us/pod, the CPU time the whole process
// (etcd, apiserver, scheduler, watcher) spent per pod bound, hardly
// depends on what else the machine runs: 2 cores give at most
// 2,000,000 / cpu-us/pod pods a second.
func BenchmarkThroughput(b *testing.B) {
	if testing.Short() {
		b.Skip("starts an etcd and an apiserver")
	}
	for _, size := range []struct{ nodes, pods int }{{100, 1000}, {1000, 5000}} {
		b.Run(fmt.Sprintf("%dnodes-%dpods", size.nodes, size.pods), func(b *testing.B) {
			var rates, creates, cpus []float64
			for range b.N {
				b.StopTimer()
				r, c, cpu := throughputRound(b, size.nodes, size.pods)
				rates, creates, cpus = append(rates, r), append(creates, c), append(cpus, cpu)
				b.StartTimer()
			}
			b.ReportMetric(median(rates), "pods/s")
			b.ReportMetric(median(creates), "creates/s")
			b.ReportMetric(median(cpus), "cpu-us/pod")
		})
	}
}

// throughputRound returns the pods bound per second, and, for scale, the
// pods the apiserver created per second (16 clients) in the same round:
// a binding is a write as a create is, and each also brings an event.
func throughputRound(b *testing.B, nodes, pods int) (rate, creates, cpuPerPod float64) {
	url := startAPIServer(b)
	css := make([]*kubernetes.Clientset, 16)
	for i := range css {
		css[i] = clientFor(b, url)
	}
	var all []*corev1.Node
	for i := range nodes {
		all = append(all, benchNode(i))
	}
	createNodes(b, css[0], all...)
	t0 := time.Now()
	createPods(b, css, "p", pods)
	creates = float64(pods) / time.Since(t0).Seconds()
	w, err := css[0].CoreV1().Pods("default").Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop) // before the server closes, even if the round fails

	b.StartTimer()
	cpu := cpuTime(b)
	benchScheduler(b, url)
	var first, last time.Time
	bound := map[string]bool{}
	timeout := time.After(5 * time.Minute)
	for len(bound) < pods {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				b.Fatalf("watch closed after %d of %d pods bound", len(bound), pods)
			}
			if p, isPod := ev.Object.(*corev1.Pod); isPod && ev.Type == watch.Modified && p.Spec.NodeName != "" && !bound[p.Name] {
				bound[p.Name] = true
				last = time.Now()
				if first.IsZero() {
					first = last
				}
			}
		case <-timeout:
			b.Fatalf("only %d of %d pods bound within 5 minutes", len(bound), pods)
		}
	}
	b.StopTimer()
	cpuPerPod = float64((cpuTime(b) - cpu).Microseconds()) / float64(pods)
	return float64(pods-1) / last.Sub(first).Seconds(), creates, cpuPerPod
}

// cpuTime is the CPU time the process (etcd, apiserver, scheduler and
// clients together) has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLatency creates pods one at a time on an idle cluster of two
// simulated nodes, each when the one before is bound, and reports the p50
// and p99 of created → bound (the Create call's start to the watch event
// that shows the pod bound). Goal: p99 at most 50 ms.
func BenchmarkLatency(b *testing.B) {
	if testing.Short() {
		b.Skip("starts an etcd and an apiserver")
	}
	const perRound = 200
	var p50s, p99s []float64
	for range b.N {
		b.StopTimer()
		url := startAPIServer(b)
		cs := clientFor(b, url)
		// Room for every pod of the round: 2 × 110 pods, 2 × 64 CPUs.
		createNodes(b, cs, schedulertest.SimulatedNode("node1", "64", "256Gi"), schedulertest.SimulatedNode("node2", "64", "256Gi"))
		benchScheduler(b, url)
		w, err := cs.CoreV1().Pods("default").Watch(context.Background(), metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(w.Stop) // before the server closes, even if the round fails
		// One pod first, not counted: connections open, caches synced.
		schedulertest.Latency(b, cs, w, "warm")
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

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
