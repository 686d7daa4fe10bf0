package kubeproxy

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// bigCluster returns n Services of e endpoints each.
func bigCluster(n, e int) ([]*corev1.Service, []*discoveryv1.EndpointSlice) {
	var svcs []*corev1.Service
	var eps []*discoveryv1.EndpointSlice
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("svc%04d", i)
		svcs = append(svcs, service(name, fmt.Sprintf("10.96.%d.%d", 1+i/250, 1+i%250)))
		var ips []string
		for j := 0; j < e; j++ {
			ips = append(ips, fmt.Sprintf("10.244.%d.%d", j+1, 2+i%250))
		}
		s := slice(name, ips...)
		node := "node1"
		for k := range s.Endpoints {
			s.Endpoints[k].NodeName = &node
		}
		eps = append(eps, s)
	}
	return svcs, eps
}

// BenchmarkRules: computing the rules of 1000 Services of 10 endpoints
// (the pure part of a sync).
func BenchmarkRules(b *testing.B) {
	svcs, eps := bigCluster(1000, 10)
	s := Snapshot{Node: node1, Services: svcs, EndpointSlices: eps}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Rules(s)
	}
}

// BenchmarkSync1000x10 measures the figures on a real iptables (a
// namespace of the benchmark's own), reporting medians:
//
//   - full-sync-ms: the first sync of 1000 Services × 10 endpoints, from
//     nothing (issue: ≤ 1 s);
//   - add-one-ms: one Service more when 1000 exist, a partial sync
//     (issue: ≤ 150 ms);
//   - resync-ms: the periodic read-back when nothing changed.
//
// Run with: go test ./components/kubeproxy -run '^$' -bench Sync1000 -benchtime 5x
func BenchmarkSync1000x10(b *testing.B) {
	tables := scratchNetns(b)
	svcs, eps := bigCluster(1000, 10)
	var full, addOne, resync []time.Duration
	for i := 0; i < b.N; i++ {
		svcIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		sliceIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		for j := range svcs {
			svcIdx.Add(svcs[j])
			sliceIdx.Add(eps[j])
		}
		p := &Proxier{Node: node1, Tables: tables, ConntrackPrefix: []string{"true"}, SyncPeriod: time.Hour}
		p.Services, p.EndpointSlices = listers(svcIdx, sliceIdx)
		ctx := context.Background()
		start := time.Now()
		if err := p.Sync(ctx, true); err != nil {
			b.Fatal(err)
		}
		full = append(full, time.Since(start))

		svcIdx.Add(service("extra", "10.97.0.1"))
		sliceIdx.Add(slice("extra", "10.244.9.2", "10.244.9.3"))
		start = time.Now()
		if err := p.Sync(ctx, false); err != nil {
			b.Fatal(err)
		}
		addOne = append(addOne, time.Since(start))

		start = time.Now()
		if err := p.Sync(ctx, true); err != nil {
			b.Fatal(err)
		}
		resync = append(resync, time.Since(start))

		b.StopTimer()
		if err := Cleanup(ctx, tables); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(medianMs(full), "full-sync-ms")
	b.ReportMetric(medianMs(addOne), "add-one-ms")
	b.ReportMetric(medianMs(resync), "resync-ms")
}

func medianMs(ds []time.Duration) float64 {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return float64(ds[len(ds)/2].Microseconds()) / 1000
}
