package kubeproxy

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Metrics are kube-proxy's figures, served on /metrics in Prometheus' text
// format under Kubernetes' names, so the same queries work on a tinykube
// node and a Kubernetes one:
//
//	kubeproxy_sync_proxy_rules_duration_seconds       how long a sync takes (histogram)
//	kubeproxy_sync_full_proxy_rules_duration_seconds  the same, full syncs only
//	kubeproxy_sync_partial_proxy_rules_duration_seconds  partial syncs only
//	kubeproxy_network_programming_duration_seconds    from a change seen to its rules applied (histogram)
//	kubeproxy_sync_proxy_rules_last_timestamp_seconds when the last sync succeeded
//	kubeproxy_sync_proxy_rules_iptables_restore_failures_total
//	kubeproxy_sync_proxy_rules_iptables_total{table}  rules kube-proxy has in each table
//
// A hand-written exposition keeps the component free of a metrics library;
// the format is three lines per figure.
type Metrics struct {
	mu           sync.Mutex
	sync         histogram
	fullSync     histogram
	partialSync  histogram
	programming  histogram
	lastSync     time.Time
	failures     int
	rulesByTable map[string]int
}

// newMetrics returns empty metrics.
func newMetrics() *Metrics {
	// Kubernetes' buckets for these: exponential from 1 ms.
	syncBuckets := []float64{0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384}
	return &Metrics{
		sync:         histogram{buckets: syncBuckets},
		fullSync:     histogram{buckets: syncBuckets},
		partialSync:  histogram{buckets: syncBuckets},
		programming:  histogram{buckets: []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60}},
		rulesByTable: map[string]int{},
	}
}

// observeSync records a successful sync.
func (m *Metrics) observeSync(d time.Duration, full bool, at time.Time, rules map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sync.observe(d.Seconds())
	if full {
		m.fullSync.observe(d.Seconds())
	} else {
		m.partialSync.observe(d.Seconds())
	}
	m.lastSync = at
	m.rulesByTable = rules
}

// observeProgramming records how long a change took to reach the tables.
func (m *Metrics) observeProgramming(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.programming.observe(d.Seconds())
}

func (m *Metrics) failed() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failures++
}

// WriteTo writes the metrics in Prometheus' text format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cw := &countWriter{w: w}
	m.sync.write(cw, "kubeproxy_sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds")
	m.fullSync.write(cw, "kubeproxy_sync_full_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds for full resyncs")
	m.partialSync.write(cw, "kubeproxy_sync_partial_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds for partial resyncs")
	m.programming.write(cw, "kubeproxy_network_programming_duration_seconds", "In-cluster network programming latency in seconds")
	last := 0.0
	if !m.lastSync.IsZero() {
		last = float64(m.lastSync.UnixNano()) / 1e9
	}
	fmt.Fprintf(cw, "# HELP kubeproxy_sync_proxy_rules_last_timestamp_seconds The last time proxy rules were successfully synced\n# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge\nkubeproxy_sync_proxy_rules_last_timestamp_seconds %s\n", strconv.FormatFloat(last, 'f', 3, 64))
	fmt.Fprintf(cw, "# HELP kubeproxy_sync_proxy_rules_iptables_restore_failures_total Cumulative proxy iptables restore failures\n# TYPE kubeproxy_sync_proxy_rules_iptables_restore_failures_total counter\nkubeproxy_sync_proxy_rules_iptables_restore_failures_total %d\n", m.failures)
	fmt.Fprintf(cw, "# HELP kubeproxy_sync_proxy_rules_iptables_total Total number of iptables rules owned by kube-proxy\n# TYPE kubeproxy_sync_proxy_rules_iptables_total gauge\n")
	tables := make([]string, 0, len(m.rulesByTable))
	for t := range m.rulesByTable {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		fmt.Fprintf(cw, "kubeproxy_sync_proxy_rules_iptables_total{table=%q} %d\n", t, m.rulesByTable[t])
	}
	return cw.n, cw.err
}

// histogram is a Prometheus histogram: counts of observations at or below
// each bucket's bound, their sum and count.
type histogram struct {
	buckets []float64
	counts  []int
	sum     float64
	count   int
}

func (h *histogram) observe(v float64) {
	if h.counts == nil {
		h.counts = make([]int, len(h.buckets))
	}
	for i, b := range h.buckets {
		if v <= b {
			h.counts[i]++
		}
	}
	h.sum += v
	h.count++
}

func (h *histogram) write(w io.Writer, name, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	for i, b := range h.buckets {
		n := 0
		if h.counts != nil {
			n = h.counts[i]
		}
		fmt.Fprintf(w, "%s_bucket{le=%q} %d\n", name, strconv.FormatFloat(b, 'g', -1, 64), n)
	}
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %s\n%s_count %d\n", name, h.count, name, strconv.FormatFloat(h.sum, 'g', -1, 64), name, h.count)
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
