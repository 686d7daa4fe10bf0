package dns

import (
	"fmt"
	"net/netip"
	"testing"

	miekg "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// benchSnapshot is a cluster of n ClusterIP Services with a named port.
func benchSnapshot(n int) *Snapshot {
	var svcs []*corev1.Service
	for i := 0; i < n; i++ {
		svcs = append(svcs, svc("default", fmt.Sprintf("svc-%d", i), fmt.Sprintf("10.96.%d.%d", i/250+1, i%250+1), sport("http", corev1.ProtocolTCP, 80)))
	}
	o := Options{Domain: "cluster.local", ReverseCIDRs: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}}
	return NewSnapshot(o, svcs, nil, nil, 1)
}

// BenchmarkAnswer is the pure function's cost per question, packing
// included: what one core spends on a cluster name besides the network.
//
//	go test ./components/dns -run '^$' -bench Answer
func BenchmarkAnswer(b *testing.B) {
	s := benchSnapshot(1000)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"svc-500.default.svc.cluster.local.", miekg.TypeA},
		{"svc-500.default.svc.cluster.local.", miekg.TypeAAAA},
		{"_http._tcp.svc-500.default.svc.cluster.local.", miekg.TypeSRV},
		{"1.3.96.10.in-addr.arpa.", miekg.TypePTR},
		{"nope.default.svc.cluster.local.", miekg.TypeA},
	} {
		b.Run(miekg.TypeToString[q.qtype]+"/"+q.name, func(b *testing.B) {
			req := question(q.name, q.qtype)
			b.ReportAllocs()
			buf := make([]byte, 4096)
			for i := 0; i < b.N; i++ {
				r := s.Answer(req)
				if _, err := r.Msg.PackBuffer(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
