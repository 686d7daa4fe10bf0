package chapter03

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/tinykube/tinykube/internal/cluster"
	"github.com/tinykube/tinykube/internal/scenario"
)

// The kubelet's figures (issue 4): pod startup latency with the image
// present, a burst of 20 pods on one node, deletion, and the idle
// kubelet's CPU and memory with 20 pods. Run as root:
//
//	go test -run '^$' -bench . -benchtime 1x -count 3 ./chapters/03-kubelet/

// benchCluster starts a chapter 3 cluster with one node.
func benchCluster(b *testing.B) (*cluster.Cluster, kubernetes.Interface) {
	return scenario.StartCluster(b, 3, 1, 1000)
}

func sleeper(name string) *corev1.Pod {
	grace := int64(1)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName:                      "node1",
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				// The demo server exits at SIGTERM, as a well-behaved
				// app does (busybox sleep as PID 1 ignores it and waits
				// for the SIGKILL after the grace period).
				Name: "c", Image: "tinykube/demo:1.0", ImagePullPolicy: corev1.PullIfNotPresent,
			}},
		},
	}
}

// waitPods watches pods until done says every pod it has seen is where it
// should be, or the deadline passes.
func waitPods(b *testing.B, w watch.Interface, within time.Duration, done func(ev watch.Event) bool) {
	b.Helper()
	timeout := time.After(within)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				b.Fatal("watch ended")
			}
			if done(ev) {
				return
			}
		case <-timeout:
			b.Fatalf("pods not there within %v", within)
		}
	}
}

func pct(ds []time.Duration, p int) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return float64(s[i].Microseconds()) / 1000
}

// BenchmarkPodStartup creates pods one at a time (image present) and
// measures from the create call until a watch sees the pod Running, and
// from the delete call until the watch sees it gone. Goals: startup p50
// ≤ 300 ms, p99 ≤ 1 s; deletion median ≤ 1 s.
func BenchmarkPodStartup(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a cluster")
	}
	_, cs := benchCluster(b)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	const n = 30
	var starts, deletes []time.Duration
	for i := 0; i < b.N; i++ {
		for j := 0; j < n; j++ {
			name := fmt.Sprintf("p%d-%d", i, j)
			w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if _, err := pods.Create(ctx, sleeper(name), metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			waitPods(b, w, 30*time.Second, func(ev watch.Event) bool {
				p, ok := ev.Object.(*corev1.Pod)
				return ok && p.Status.Phase == corev1.PodRunning
			})
			starts = append(starts, time.Since(start))
			start = time.Now()
			if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				b.Fatal(err)
			}
			waitPods(b, w, 30*time.Second, func(ev watch.Event) bool { return ev.Type == watch.Deleted })
			deletes = append(deletes, time.Since(start))
			w.Stop()
		}
	}
	b.ReportMetric(pct(starts, 50), "start-p50-ms")
	b.ReportMetric(pct(starts, 99), "start-p99-ms")
	b.ReportMetric(pct(deletes, 50), "delete-p50-ms")
}

// BenchmarkBurst20 creates 20 pods on one node at once and measures until
// all are Running (goal ≤ 3 s), then the kubelet's CPU use and memory
// while they idle, then deletes them all (until all are gone).
func BenchmarkBurst20(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a cluster")
	}
	c, cs := benchCluster(b)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	var bursts, deletes []time.Duration
	var cpu, rss []float64
	for i := 0; i < b.N; i++ {
		w, err := pods.Watch(ctx, metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		running := map[string]bool{}
		start := time.Now()
		for j := 0; j < 20; j++ {
			if _, err := pods.Create(ctx, sleeper(fmt.Sprintf("b%d-%d", i, j)), metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		waitPods(b, w, 60*time.Second, func(ev watch.Event) bool {
			if p, ok := ev.Object.(*corev1.Pod); ok && p.Status.Phase == corev1.PodRunning {
				running[p.Name] = true
			}
			return len(running) == 20
		})
		bursts = append(bursts, time.Since(start))

		pid := kubeletPID(b, c)
		c0, r0 := cpuAndRSS(b, pid)
		const idle = 10 * time.Second
		time.Sleep(idle) // measuring idle use: the wait is the measurement
		c1, r1 := cpuAndRSS(b, pid)
		cpu = append(cpu, (c1-c0)/idle.Seconds()*100)
		rss = append(rss, (r0+r1)/2)

		gone := 0
		start = time.Now()
		if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			b.Fatal(err)
		}
		waitPods(b, w, 60*time.Second, func(ev watch.Event) bool {
			if ev.Type == watch.Deleted {
				gone++
			}
			return gone == 20
		})
		deletes = append(deletes, time.Since(start))
		w.Stop()
	}
	slices.Sort(cpu)
	slices.Sort(rss)
	b.ReportMetric(pct(bursts, 50), "burst20-ms")
	b.ReportMetric(pct(deletes, 50), "delete20-ms")
	b.ReportMetric(cpu[len(cpu)/2], "idle-cpu-%")
	b.ReportMetric(rss[len(rss)/2], "idle-rss-MiB")
}

func kubeletPID(b *testing.B, c *cluster.Cluster) int {
	sts, err := c.Status(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	st, ok := cluster.Component(sts, "node1", "kubelet")
	if !ok || st.PID == 0 {
		b.Fatal("no kubelet on node1")
	}
	return st.PID
}

// cpuAndRSS reads a process's CPU time (seconds) and resident memory (MiB).
func cpuAndRSS(b *testing.B, pid int) (float64, float64) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	var rssKB float64
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rssKB, _ = strconv.ParseFloat(strings.Fields(v)[0], 64)
		}
	}
	return (utime + stime) / 100, rssKB / 1024 // clock ticks are 1/100 s on Linux
}
