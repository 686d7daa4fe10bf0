package dns

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	miekg "github.com/miekg/dns"
)

// Metrics are the DNS server's figures, served on /metrics in
// Prometheus' text format under CoreDNS's names, so a dashboard made for
// CoreDNS reads them too:
//
//	coredns_dns_requests_total{proto,type}     questions, by transport and type
//	coredns_dns_responses_total{rcode}         answers, by response code
//	coredns_dns_request_duration_seconds       time to answer (histogram)
//	coredns_cache_hits_total, coredns_cache_misses_total   the upstream cache
//	coredns_forward_requests_total{to}         questions sent upstream
//	coredns_forward_responses_total{to,rcode}  and what came back (NOANSWER: nothing)
//
// Counting happens on every question, so the hot counters are atomic
// (no lock); the exposition is hand-written: a metrics library is not
// worth its weight here. A nil *Metrics counts nothing.
type Metrics struct {
	requests  [2][numCounted + 1]atomic.Uint64 // [udp|tcp][type]; the last counts the rest
	responses [24]atomic.Uint64                // by rcode; the last counts the rest
	duration  histogram
	hits      atomic.Uint64
	misses    atomic.Uint64

	mu       sync.Mutex
	forwards map[string]*[24]uint64 // upstream → by rcode (23: no answer)
	sent     map[string]uint64
}

// countedTypes are the question types counted by name; the rest count as
// "other", as in CoreDNS.
var countedTypes = [numCounted]uint16{miekg.TypeA, miekg.TypeAAAA, miekg.TypeSRV, miekg.TypePTR, miekg.TypeTXT,
	miekg.TypeCNAME, miekg.TypeSOA, miekg.TypeNS, miekg.TypeMX, miekg.TypeANY, miekg.TypeAXFR, miekg.TypeIXFR}

const numCounted = 12

// durationBuckets are CoreDNS's: from 0.25 ms, doubling.
var durationBuckets = []float64{0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192}

// NewMetrics returns zeroed metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		duration: histogram{bounds: durationBuckets, counts: make([]atomic.Uint64, len(durationBuckets)+1)},
		forwards: map[string]*[24]uint64{},
		sent:     map[string]uint64{},
	}
}

// observe counts one answered question.
func (m *Metrics) observe(tcp bool, qtype uint16, rcode int, took time.Duration) {
	if m == nil {
		return
	}
	proto := 0
	if tcp {
		proto = 1
	}
	t := len(countedTypes)
	for i, ct := range countedTypes {
		if ct == qtype {
			t = i
			break
		}
	}
	m.requests[proto][t].Add(1)
	m.responses[min(max(rcode, 0), 23)].Add(1)
	m.duration.observe(took.Seconds())
}

func (m *Metrics) cacheHit() {
	if m != nil {
		m.hits.Add(1)
	}
}

func (m *Metrics) cacheMiss() {
	if m != nil {
		m.misses.Add(1)
	}
}

// forwarded counts a question sent to upstream and its answer (nil: none).
func (m *Metrics) forwarded(upstream string, resp *miekg.Msg) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent[upstream]++
	byRcode := m.forwards[upstream]
	if byRcode == nil {
		byRcode = new([24]uint64)
		m.forwards[upstream] = byRcode
	}
	rcode := 23
	if resp != nil {
		rcode = min(max(resp.Rcode, 0), 22)
	}
	byRcode[rcode]++
}

// Requests is how many questions were answered in all.
func (m *Metrics) Requests() uint64 {
	var n uint64
	for p := range m.requests {
		for t := range m.requests[p] {
			n += m.requests[p][t].Load()
		}
	}
	return n
}

// WriteTo writes the metrics in Prometheus' text format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	p := func(format string, args ...any) { fmt.Fprintf(cw, format, args...) }

	p("# HELP coredns_dns_requests_total Counter of DNS requests made per protocol and type.\n")
	p("# TYPE coredns_dns_requests_total counter\n")
	for proto, name := range []string{"udp", "tcp"} {
		for t := range m.requests[proto] {
			if n := m.requests[proto][t].Load(); n > 0 {
				p("coredns_dns_requests_total{proto=%q,type=%q} %d\n", name, typeName(t), n)
			}
		}
	}
	p("# HELP coredns_dns_responses_total Counter of response status codes.\n")
	p("# TYPE coredns_dns_responses_total counter\n")
	for rcode := range m.responses {
		if n := m.responses[rcode].Load(); n > 0 {
			p("coredns_dns_responses_total{rcode=%q} %d\n", rcodeName(rcode), n)
		}
	}
	p("# HELP coredns_dns_request_duration_seconds Histogram of the time (in seconds) each request took.\n")
	p("# TYPE coredns_dns_request_duration_seconds histogram\n")
	m.duration.write(cw, "coredns_dns_request_duration_seconds")
	p("# HELP coredns_cache_hits_total The count of cache hits.\n# TYPE coredns_cache_hits_total counter\n")
	p("coredns_cache_hits_total %d\n", m.hits.Load())
	p("# HELP coredns_cache_misses_total The count of cache misses.\n# TYPE coredns_cache_misses_total counter\n")
	p("coredns_cache_misses_total %d\n", m.misses.Load())

	m.mu.Lock()
	ups := make([]string, 0, len(m.sent))
	for up := range m.sent {
		ups = append(ups, up)
	}
	sort.Strings(ups)
	p("# HELP coredns_forward_requests_total Counter of requests made per upstream.\n# TYPE coredns_forward_requests_total counter\n")
	for _, up := range ups {
		p("coredns_forward_requests_total{to=%q} %d\n", up, m.sent[up])
	}
	p("# HELP coredns_forward_responses_total Counter of responses received per upstream.\n# TYPE coredns_forward_responses_total counter\n")
	for _, up := range ups {
		for rcode, n := range m.forwards[up] {
			if n > 0 {
				name := rcodeName(rcode)
				if rcode == 23 {
					name = "NOANSWER" // timed out, or unreachable
				}
				p("coredns_forward_responses_total{rcode=%q,to=%q} %d\n", name, up, n)
			}
		}
	}
	m.mu.Unlock()
	return cw.n, cw.err
}

func typeName(i int) string {
	if i < len(countedTypes) {
		return miekg.TypeToString[countedTypes[i]]
	}
	return "other"
}

func rcodeName(rcode int) string {
	if s, ok := miekg.RcodeToString[rcode]; ok && rcode < 23 {
		return s
	}
	return "other"
}

// histogram is a Prometheus histogram with atomic buckets.
type histogram struct {
	bounds []float64
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum    atomic.Uint64   // float64 bits
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v)
	h.counts[i].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func (h *histogram) write(w io.Writer, name string) {
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(w, "%s_bucket{le=%q} %d\n", name, strconv.FormatFloat(b, 'g', -1, 64), cum)
	}
	cum += h.counts[len(h.bounds)].Load()
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", name, cum, name, math.Float64frombits(h.sum.Load()), name, cum)
}

type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
	return n, err
}
