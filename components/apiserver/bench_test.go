package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tinykube/tinykube/components/etcd"
	"github.com/tinykube/tinykube/plugins"
	"github.com/tinykube/tinykube/plugins/conformance"
)

// The benchmarks below measure the apiserver as its clients see it: every
// request goes through client-go, HTTP on loopback, the handlers and an
// embedded etcd. Each op is one whole round of a figure (5000 creates, 200
// paced creates, 100 watched writes, one informer sync), so that
//
//	go test -run '^$' -bench . -benchtime 1x -count 5 ./components/apiserver/
//
// gives five values of every figure. The figures are the custom metrics;
// ns/op is only the length of a round.
//
// Clients, apiserver and etcd share one process and, on a small machine,
// its cores with whatever else runs there; the time figures rise with the
// machine's load. The cpu-* figures (the process's CPU time per unit of
// work, clients included) hardly do: they tell a slower apiserver from a
// busier machine.

// benchPods numbers the pods benchmarks create, so that names stay unique
// when a benchmark function runs again with a larger b.N.
var benchPods atomic.Int64

// benchEventWait is how long a benchmark waits for something it expects
// (a watch event, an informer's sync) before it fails.
const benchEventWait = 30 * time.Second

// newBenchServer starts an etcd on loopback and an apiserver over it, on
// plain HTTP, and returns the apiserver's URL. Everything stops when the
// benchmark ends.
func newBenchServer(b *testing.B) string {
	b.Helper()
	ctx := context.Background()
	e := etcd.New()
	settings := conformance.SettingsFor(b, plugins.KindEtcd)
	// etcd logs errors as it stops (and one as it starts) that would bury
	// the figures; an etcd that really fails shows as failed requests.
	settings.Values["log-level"] = "fatal"
	if err := e.Start(ctx, settings); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.Stop(ctx)
	})
	conformance.WaitHealthy(b, e, 20*time.Second)
	client, err := clientv3.New(clientv3.Config{
		Endpoints: []string{"http://127.0.0.1:" + settings.Values["client-port"]},
		Logger:    zap.NewNop(),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close() })

	// The listener exists before the server starts, so the apiserver can
	// be told the address it advertises.
	hs := httptest.NewUnstartedServer(nil)
	srv, err := NewServer(Config{Etcd: client, Advertise: hs.Listener.Addr().String(), ServiceCIDR: "10.96.0.0/12"})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Bootstrap(ctx); err != nil {
		b.Fatal(err)
	}
	hs.Config.Handler = srv
	hs.Start()
	b.Cleanup(hs.Close)
	return hs.URL
}

// newBenchClient returns a clientset of its own for the apiserver at url,
// as a separate controller would have. Client-side rate limiting is off
// (QPS 10000), and the client has its own connection pool: client-go
// hands every plain-HTTP config the shared http.DefaultTransport, which
// keeps only 2 idle connections per host, so 16 clients sharing it would
// mostly measure TCP connection setup.
func newBenchClient(b *testing.B, url string) *kubernetes.Clientset {
	b.Helper()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 100
	b.Cleanup(transport.CloseIdleConnections)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: url, QPS: 10000, Burst: 10000, Transport: transport})
	if err != nil {
		b.Fatal(err)
	}
	return cs
}

// benchPod returns a small pod, as a Deployment's would be before the
// server's defaults.
func benchPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}},
	}
}

// createPods creates n pods in namespace from concurrent clients, each
// client creating its share one after another, and reports the first
// error on b (safe from any goroutine).
func createPods(b *testing.B, clients []*kubernetes.Clientset, namespace string, n int) {
	b.Helper()
	var wg sync.WaitGroup
	for i, cs := range clients {
		share := n / len(clients)
		if i < n%len(clients) {
			share++
		}
		wg.Go(func() {
			for range share {
				name := fmt.Sprintf("p%d", benchPods.Add(1))
				if _, err := cs.CoreV1().Pods(namespace).Create(context.Background(), benchPod(name), metav1.CreateOptions{}); err != nil {
					b.Errorf("create pod %s/%s: %v", namespace, name, err)
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

// countPods returns how many pods the namespace holds, read through the
// API.
func countPods(b *testing.B, cs *kubernetes.Clientset, namespace string) int {
	b.Helper()
	list, err := cs.CoreV1().Pods(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		b.Fatalf("list pods in %s: %v", namespace, err)
	}
	return len(list.Items)
}

// BenchmarkCreate creates pods from 16 concurrent clients, 5000 a round,
// and reports creates per second, and the CPU time a create costs the
// whole process. Goal: at least 1000/s.
func BenchmarkCreate(b *testing.B) {
	if testing.Short() {
		b.Skip("starts an etcd and an apiserver")
	}
	const clients, round = 16, 5000
	url := newBenchServer(b)
	css := make([]*kubernetes.Clientset, clients)
	for i := range css {
		css[i] = newBenchClient(b, url)
	}
	createPods(b, css, "default", clients) // one each: connections open, code paths warm
	before := countPods(b, css[0], "default")

	b.ResetTimer()
	cpu := cpuTime(b)
	for range b.N {
		createPods(b, css, "default", round)
	}
	cpu = cpuTime(b) - cpu
	b.StopTimer()
	b.ReportMetric(float64(b.N*round)/b.Elapsed().Seconds(), "creates/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*round), "cpu-us/create")
	if got, want := countPods(b, css[0], "default"), before+b.N*round; got != want {
		b.Fatalf("the namespace holds %d pods after the creates, want %d", got, want)
	}
}

// BenchmarkCreateLatency creates pods from one client at a steady 20 a
// second, 200 a round, each sent on schedule whether or not the one before
// has come back (an open loop, so a slow answer cannot hide the next
// one's wait), and reports the p50 and p99 latency of a create in ms.
// Goal: p99 at most 25 ms.
func BenchmarkCreateLatency(b *testing.B) {
	if testing.Short() {
		b.Skip("starts an etcd and an apiserver")
	}
	const rate, round = 20, 200
	interval := time.Second / rate
	url := newBenchServer(b)
	cs := newBenchClient(b, url)
	createPods(b, []*kubernetes.Clientset{cs}, "default", 10) // warm up

	latencies := make([]time.Duration, 0, b.N*round)
	b.ResetTimer()
	for range b.N {
		took := make([]time.Duration, round)
		start := time.Now()
		var wg sync.WaitGroup
		for i := range round {
			if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
				time.Sleep(wait) // pacing, not waiting for a condition
			}
			wg.Go(func() {
				name := fmt.Sprintf("p%d", benchPods.Add(1))
				t0 := time.Now()
				if _, err := cs.CoreV1().Pods("default").Create(context.Background(), benchPod(name), metav1.CreateOptions{}); err != nil {
					b.Errorf("create pod default/%s: %v", name, err)
				}
				took[i] = time.Since(t0)
			})
		}
		wg.Wait()
		if b.Failed() {
			b.FailNow()
		}
		latencies = append(latencies, took...)
	}
	b.StopTimer()
	b.ReportMetric(percentileMs(latencies, 50), "p50-ms")
	b.ReportMetric(percentileMs(latencies, 99), "p99-ms")
}

// receipt is one watcher's report of an ADDED event, or of a failure.
type receipt struct {
	watcher int
	name    string
	at      time.Time
	err     error
}

// BenchmarkWatchFanout opens 100 client-go watches of the pods of a
// namespace and creates one pod at a time, 100 a round. For each create it
// takes the time from the start of the request to the moment the last of
// the 100 watchers got the ADDED event, and reports its p50 and p99 in ms,
// with the create's own p50 for comparison and the CPU time a write and
// its 100 deliveries cost the whole process. Goal: p99 at most 50 ms.
func BenchmarkWatchFanout(b *testing.B) {
	if testing.Short() {
		b.Skip("starts an etcd and an apiserver")
	}
	const watchers, round = 100, 100
	ctx := context.Background()
	url := newBenchServer(b)
	writer := newBenchClient(b, url)
	watchClient := newBenchClient(b, url)

	// Cleanups run last-registered first: the watches stop (and their
	// goroutines end) before the server closes.
	got := make(chan receipt, watchers)
	done := make(chan struct{})
	var readers sync.WaitGroup
	b.Cleanup(func() { close(done); readers.Wait() })
	for i := range watchers {
		w, err := watchClient.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
		if err != nil {
			b.Fatalf("watch %d: %v", i, err)
		}
		b.Cleanup(w.Stop)
		readers.Go(func() { readWatch(w, i, got, done) })
	}

	// expect waits for every watcher's ADDED of the pod name and returns
	// when the last one arrived.
	expect := func(name string) time.Time {
		var last time.Time
		seen := make([]bool, watchers)
		timeout := time.After(benchEventWait)
		for range watchers {
			select {
			case r := <-got:
				switch {
				case r.err != nil:
					b.Fatalf("watcher %d: %v", r.watcher, r.err)
				case r.name != name:
					b.Fatalf("watcher %d got ADDED %s, want %s", r.watcher, r.name, name)
				case seen[r.watcher]:
					b.Fatalf("watcher %d got ADDED %s twice", r.watcher, name)
				}
				seen[r.watcher] = true
				if r.at.After(last) {
					last = r.at
				}
			case <-timeout:
				b.Fatalf("not every watcher got ADDED %s within %v: %d of %d did", name, benchEventWait, countTrue(seen), watchers)
			}
		}
		return last
	}
	create := func() (name string, start time.Time, commit time.Duration) {
		name = fmt.Sprintf("p%d", benchPods.Add(1))
		start = time.Now()
		if _, err := writer.CoreV1().Pods("default").Create(ctx, benchPod(name), metav1.CreateOptions{}); err != nil {
			b.Fatalf("create pod default/%s: %v", name, err)
		}
		return name, start, time.Since(start)
	}
	// One write before the clock starts: every watch must be live.
	name, _, _ := create()
	expect(name)

	fanout := make([]time.Duration, 0, b.N*round)
	commit := make([]time.Duration, 0, b.N*round)
	b.ResetTimer()
	cpu := cpuTime(b)
	for range b.N * round {
		name, start, took := create()
		last := expect(name)
		commit = append(commit, took)
		fanout = append(fanout, last.Sub(start))
	}
	cpu = cpuTime(b) - cpu
	b.StopTimer()
	b.ReportMetric(percentileMs(fanout, 50), "p50-ms")
	b.ReportMetric(percentileMs(fanout, 99), "p99-ms")
	b.ReportMetric(percentileMs(commit, 50), "write-p50-ms")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N*round), "cpu-ms/write")
}

// readWatch passes each ADDED event of w to got, stamped with the time it
// arrived, until done closes. An event of another type, or the end of the
// watch before done, is reported as an error: the benchmark only creates.
func readWatch(w watch.Interface, i int, got chan<- receipt, done <-chan struct{}) {
	report := func(r receipt) bool {
		select {
		case got <- r:
			return true
		case <-done:
			return false
		}
	}
	for {
		select {
		case <-done:
			return
		case ev, ok := <-w.ResultChan():
			at := time.Now()
			switch {
			case !ok:
				report(receipt{watcher: i, err: fmt.Errorf("the watch closed")})
				return
			case ev.Type != watch.Added:
				if !report(receipt{watcher: i, err: fmt.Errorf("unexpected %s event: %+v", ev.Type, ev.Object)}) {
					return
				}
			default:
				pod, _ := ev.Object.(*corev1.Pod)
				if pod == nil {
					report(receipt{watcher: i, err: fmt.Errorf("ADDED event of a %T", ev.Object)})
					return
				}
				if !report(receipt{watcher: i, name: pod.Name, at: at}) {
					return
				}
			}
		}
	}
}

// BenchmarkInformerSync starts a client-go informer on pods from a
// SharedInformerFactory, as a controller does, over 10,000 existing pods
// and reports the time from factory.Start to HasSynced in seconds. The
// pods are created (through the API, from 32 clients) before the clock
// starts. Goal: at most 2 s.
//
// Two ways in: "watchlist" is client-go's default since 1.35 (feature
// WatchListClient), one watch with sendInitialEvents=true that streams the
// pods and ends them with a bookmark; "list" is what older clients do, a
// paginated LIST and then a watch from its resourceVersion.
// Reference: https://kubernetes.io/docs/reference/using-api/api-concepts/#streaming-lists
func BenchmarkInformerSync(b *testing.B) {
	if testing.Short() {
		b.Skip("starts an etcd and an apiserver")
	}
	const pods, creators = 10000, 32
	url := newBenchServer(b)
	css := make([]*kubernetes.Clientset, creators)
	for i := range css {
		css[i] = newBenchClient(b, url)
	}
	setup := time.Now()
	createPods(b, css, "default", pods)
	b.Logf("created %d pods in %v", pods, time.Since(setup).Round(time.Millisecond))

	b.Run("watchlist", func(b *testing.B) { benchInformerSync(b, newBenchClient(b, url), pods) })
	b.Run("list", func(b *testing.B) { benchInformerSync(b, listOnly{newBenchClient(b, url)}, pods) })
}

// listOnly is a clientset whose informers LIST and then watch: client-go
// asks a client whether it can stream lists, and this one says no.
type listOnly struct{ kubernetes.Interface }

// IsWatchListSemanticsUnSupported tells client-go's reflector not to use
// a watch-list (k8s.io/client-go/util/watchlist).
func (listOnly) IsWatchListSemanticsUnSupported() bool { return true }

// benchInformerSync starts a fresh pod informer b.N times, each until it
// has synced, and reports the mean time to sync and the CPU time it
// cost the whole process. The informer must hold every one of the pods.
func benchInformerSync(b *testing.B, cs kubernetes.Interface, pods int) {
	var total, cpu time.Duration
	for range b.N {
		ctx, cancel := context.WithCancel(context.Background())
		factory := informers.NewSharedInformerFactory(cs, 0)
		informer := factory.Core().V1().Pods().Informer()

		start, cpu0 := time.Now(), cpuTime(b)
		factory.Start(ctx.Done())
		select {
		case <-informer.HasSyncedChecker().Done():
		case <-time.After(benchEventWait):
			cancel()
			factory.Shutdown()
			b.Fatalf("the pod informer had not synced within %v; its store held %d pods", benchEventWait, len(informer.GetStore().ListKeys()))
		}
		total += time.Since(start)
		cpu += cpuTime(b) - cpu0

		n := len(informer.GetStore().ListKeys())
		cancel()
		factory.Shutdown()
		if n != pods {
			b.Fatalf("the synced informer holds %d pods, want %d", n, pods)
		}
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "sync-s")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s")
}

// cpuTime returns the CPU time, user and system, the process has used so
// far: that of the benchmark's clients, the apiserver and etcd together.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// percentileMs returns the p-th percentile (nearest rank) of ds in
// milliseconds.
func percentileMs(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	i := (len(sorted)*p + 99) / 100
	i = min(max(i-1, 0), len(sorted)-1)
	return float64(sorted[i].Microseconds()) / 1000
}

// countTrue counts the true values of bs.
func countTrue(bs []bool) int {
	n := 0
	for _, v := range bs {
		if v {
			n++
		}
	}
	return n
}
