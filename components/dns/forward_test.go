package dns

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	miekg "github.com/miekg/dns"
)

// fakeUpstream is a DNS server on loopback that knows www.example.com
// (A 192.0.2.53, TTL 60) and says NXDOMAIN to everything else. It counts
// the questions it gets.
type fakeUpstream struct {
	addr  string
	asked atomic.Int64
}

func startUpstream(t testing.TB) *fakeUpstream {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &fakeUpstream{addr: pc.LocalAddr().String()}
	started := make(chan struct{})
	srv := &miekg.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: miekg.HandlerFunc(func(w miekg.ResponseWriter, req *miekg.Msg) {
			u.asked.Add(1)
			m := new(miekg.Msg)
			m.SetReply(req)
			m.RecursionAvailable = true
			q := req.Question[0]
			switch {
			case strings.EqualFold(q.Name, "www.example.com.") && q.Qtype == miekg.TypeA:
				rr, _ := miekg.NewRR("www.example.com. 60 IN A 192.0.2.53")
				m.Answer = append(m.Answer, rr)
			default:
				soa, _ := miekg.NewRR("example.com. 60 IN SOA ns.example.com. h.example.com. 1 2 3 4 30")
				m.Rcode, m.Ns = miekg.RcodeNameError, []miekg.RR{soa}
			}
			w.WriteMsg(m)
		})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return u
}

// silentUpstream reads questions and never answers: an upstream behind a
// black hole.
func silentUpstream(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		b := make([]byte, 512)
		for {
			if _, _, err := pc.ReadFrom(b); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func question(name string, qtype uint16) *miekg.Msg {
	m := new(miekg.Msg)
	m.SetQuestion(name, qtype)
	return m
}

func TestForwardAndCache(t *testing.T) {
	up := startUpstream(t)
	f := NewForwarder([]string{up.addr}, time.Second, 10, nil)
	now := time.Unix(1000, 0)
	f.now = func() time.Time { return now }

	m := f.Forward(context.Background(), question("WWW.example.com.", miekg.TypeA))
	if m.Rcode != miekg.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].(*miekg.A).A.String() != "192.0.2.53" {
		t.Fatalf("forwarded answer: %v", m)
	}
	if m.Question[0].Name != "WWW.example.com." {
		t.Errorf("question %q: the case asked should come back", m.Question[0].Name)
	}
	// From the cache 20 s later: no new question upstream, TTL 60-20.
	now = now.Add(20 * time.Second)
	req := question("www.example.com.", miekg.TypeA)
	req.Id = 99
	m = f.Forward(context.Background(), req)
	if up.asked.Load() != 1 {
		t.Errorf("upstream asked %d times, want 1 (the second from the cache)", up.asked.Load())
	}
	if m.Id != 99 || m.Answer[0].Header().Ttl != 40 {
		t.Errorf("cached answer: id %d ttl %d, want 99 and 40", m.Id, m.Answer[0].Header().Ttl)
	}
	// Expired after 60 s: asked again.
	now = now.Add(41 * time.Second)
	f.Forward(context.Background(), question("www.example.com.", miekg.TypeA))
	if up.asked.Load() != 2 {
		t.Errorf("upstream asked %d times after the TTL, want 2", up.asked.Load())
	}
	// NXDOMAIN is cached for the SOA's minimum (30 s).
	f.Forward(context.Background(), question("nope.example.com.", miekg.TypeA))
	now = now.Add(29 * time.Second)
	if m := f.Forward(context.Background(), question("nope.example.com.", miekg.TypeA)); m.Rcode != miekg.RcodeNameError || up.asked.Load() != 3 {
		t.Errorf("negative answer: rcode %s, upstream asked %d times, want NXDOMAIN from the cache (3)", miekg.RcodeToString[m.Rcode], up.asked.Load())
	}
}

// No upstream answering: SERVFAIL within the timeout, never a hang; and
// for a while from the cache, so a burst of questions fails at once.
func TestForwardServfailFast(t *testing.T) {
	for _, c := range []struct {
		name      string
		upstreams []string
	}{
		{"none configured", nil},
		{"black hole", []string{silentUpstream(t)}},
		{"two black holes", []string{silentUpstream(t), silentUpstream(t)}},
		{"refused connection", []string{"127.0.0.1:1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := NewForwarder(c.upstreams, 300*time.Millisecond, 10, nil)
			start := time.Now()
			m := f.Forward(context.Background(), question("www.example.com.", miekg.TypeA))
			took := time.Since(start)
			if m.Rcode != miekg.RcodeServerFailure {
				t.Errorf("rcode %s, want SERVFAIL", miekg.RcodeToString[m.Rcode])
			}
			if took > 600*time.Millisecond {
				t.Errorf("SERVFAIL after %v; want within the 300ms timeout", took)
			}
			start = time.Now()
			m = f.Forward(context.Background(), question("www.example.com.", miekg.TypeA))
			if m.Rcode != miekg.RcodeServerFailure || time.Since(start) > 50*time.Millisecond {
				t.Errorf("second question: %s after %v; want SERVFAIL from the cache at once", miekg.RcodeToString[m.Rcode], time.Since(start))
			}
		})
	}
}

// The second upstream answers when the first does not.
func TestForwardNextUpstream(t *testing.T) {
	up := startUpstream(t)
	f := NewForwarder([]string{silentUpstream(t), up.addr}, time.Second, 0, nil)
	m := f.Forward(context.Background(), question("www.example.com.", miekg.TypeA))
	if m.Rcode != miekg.RcodeSuccess || len(m.Answer) != 1 {
		t.Errorf("answer %v, want the second upstream's", m)
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := NewCache(2)
	now := time.Unix(0, 0)
	put := func(name string) {
		m := question(name, miekg.TypeA)
		rr, _ := miekg.NewRR(name + " 60 IN A 192.0.2.1")
		m.Answer = []miekg.RR{rr}
		c.Put(m, now)
	}
	has := func(name string) bool { _, ok := c.Get(question(name, miekg.TypeA), now); return ok }
	put("a.example.")
	put("b.example.")
	has("a.example.") // a is now the most recently used
	put("c.example.")
	if !has("a.example.") || has("b.example.") || !has("c.example.") || c.Len() != 2 {
		t.Errorf("after a, b, get a, c: a %v b %v c %v len %d; want b evicted", has("a.example."), has("b.example."), has("c.example."), c.Len())
	}
	// Truncated answers and refusals are not kept.
	m := question("t.example.", miekg.TypeA)
	m.Truncated = true
	c.Put(m, now)
	r := question("r.example.", miekg.TypeA)
	r.Rcode = miekg.RcodeRefused
	c.Put(r, now)
	if has("t.example.") || has("r.example.") {
		t.Error("a truncated answer or a refusal was cached")
	}
}

func TestUpstreamsFromResolvConf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(path, []byte("search example.com\nnameserver 192.0.2.1\nnameserver 10.96.0.10\nnameserver 192.0.2.2\n"), 0o644)
	got, err := Upstreams(path, "10.96.0.10")
	if err != nil || strings.Join(got, ",") != "192.0.2.1:53,192.0.2.2:53" {
		t.Errorf("Upstreams = %v, %v; want 192.0.2.1:53, 192.0.2.2:53 (the cluster DNS left out)", got, err)
	}
}
