package storage

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
)

// benchObjects numbers the objects benchmarks create, so that names stay
// unique when the benchmark function runs again with a larger b.N.
var benchObjects atomic.Int64

// BenchmarkCreate creates pods from 16 concurrent clients (goroutines
// sharing one etcd client, as an apiserver's handlers do) and reports
// creates per second. Goal: at least 1000/s.
func BenchmarkCreate(b *testing.B) {
	const clients = 16
	s := newPodStore(b)
	ctx := context.Background()
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			name := fmt.Sprintf("p%d", benchObjects.Add(1))
			if _, err := s.Create(ctx, "default", name, pod("default", name, nil)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

// BenchmarkWatchFanout runs 100 watches of pods and creates one pod at a
// time; it reports the time from the start of the write to the moment the
// last of the 100 watches got its event (p50 and p99, in ms), and the
// write's own latency. Goal: p99 at most 50 ms.
func BenchmarkWatchFanout(b *testing.B) {
	const watchers = 100
	s := newPodStore(b)
	ctx := context.Background()
	got := make(chan struct{}, watchers)
	for range watchers {
		w, err := s.Watch(ctx, "default", WatchOptions{SendInitialEvents: ptr.To(false)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(w.Stop)
		go func() {
			for ev := range w.ResultChan() {
				if ev.Type == watch.Added {
					got <- struct{}{}
				}
			}
		}()
	}

	fanout := make([]time.Duration, 0, b.N)
	commit := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		name := fmt.Sprintf("p%d", benchObjects.Add(1))
		start := time.Now()
		if _, err := s.Create(ctx, "default", name, pod("default", name, nil)); err != nil {
			b.Fatal(err)
		}
		commit = append(commit, time.Since(start))
		for range watchers {
			select {
			case <-got:
			case <-time.After(eventWait):
				b.Fatalf("not every watch got the ADDED of %s within %v", name, eventWait)
			}
		}
		fanout = append(fanout, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(percentileMs(fanout, 50), "fanout-p50-ms")
	b.ReportMetric(percentileMs(fanout, 99), "fanout-p99-ms")
	b.ReportMetric(percentileMs(commit, 50), "write-p50-ms")
}

// percentileMs returns the p-th percentile of ds in milliseconds.
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
