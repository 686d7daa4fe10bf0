package dns

import (
	"context"
	"errors"
	"net"
	"time"

	miekg "github.com/miekg/dns"
)

// DefaultUpstreamTimeout is how long the forwarder waits for the upstream
// servers, all of them together, before it answers SERVFAIL. Short: a pod's
// resolver waits 5 s before it tries again, and a name the cluster cannot
// resolve should fail well before that.
const DefaultUpstreamTimeout = time.Second

// MaxInflight is how many questions may wait on upstream servers at once;
// more are answered SERVFAIL at once, so a dead upstream cannot pile up
// goroutines without bound.
const MaxInflight = 256

// ErrNoUpstream says no upstream server answered.
var ErrNoUpstream = errors.New("dns: no upstream server answered")

// Forwarder asks the upstream servers about names outside the cluster,
// with a cache in front. Safe for concurrent use.
type Forwarder struct {
	upstreams []string // host:port
	timeout   time.Duration
	cache     *Cache
	inflight  chan struct{}
	metrics   *Metrics
	now       func() time.Time
}

// NewForwarder returns a forwarder to upstreams (host:port), trying them
// in order within timeout in all, with a cache of cacheSize answers.
// metrics may be nil.
func NewForwarder(upstreams []string, timeout time.Duration, cacheSize int, metrics *Metrics) *Forwarder {
	if timeout <= 0 {
		timeout = DefaultUpstreamTimeout
	}
	return &Forwarder{
		upstreams: upstreams, timeout: timeout, cache: NewCache(cacheSize),
		inflight: make(chan struct{}, MaxInflight), metrics: metrics, now: time.Now,
	}
}

// Forward answers req from the cache or the upstream servers. It always
// returns a reply to req: SERVFAIL when no upstream answers within the
// timeout (or there is none). It never waits longer than the timeout.
func (f *Forwarder) Forward(ctx context.Context, req *miekg.Msg) *miekg.Msg {
	if m, ok := f.cache.Get(req, f.now()); ok {
		f.metrics.cacheHit()
		return m
	}
	f.metrics.cacheMiss()
	resp, err := f.exchange(ctx, req)
	if err != nil {
		resp = new(miekg.Msg)
		resp.SetRcode(req, miekg.RcodeServerFailure)
		resp.RecursionAvailable = true
		if errors.Is(err, ErrNoUpstream) {
			f.cache.Put(resp, f.now()) // fail fast for a while
		}
		return resp
	}
	f.cache.Put(resp, f.now())
	resp.Id, resp.Question = req.Id, req.Question
	return resp
}

// exchange asks each upstream in turn, sharing the timeout among those
// left, over UDP and again over TCP if the answer was truncated.
func (f *Forwarder) exchange(ctx context.Context, req *miekg.Msg) (*miekg.Msg, error) {
	if len(f.upstreams) == 0 || len(req.Question) != 1 {
		return nil, ErrNoUpstream
	}
	select {
	case f.inflight <- struct{}{}:
		defer func() { <-f.inflight }()
	default:
		return nil, errors.New("dns: too many questions waiting on upstream servers")
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()

	out := new(miekg.Msg)
	out.SetQuestion(req.Question[0].Name, req.Question[0].Qtype)
	out.Question[0].Qclass = req.Question[0].Qclass
	out.RecursionDesired = true
	out.CheckingDisabled = req.CheckingDisabled
	out.SetEdns0(MaxUDPSize, false)
	for i, up := range f.upstreams {
		deadline, _ := ctx.Deadline()
		left := time.Until(deadline) / time.Duration(len(f.upstreams)-i)
		if left <= 0 {
			break
		}
		resp, err := exchangeOne(ctx, out, up, left)
		f.metrics.forwarded(up, resp)
		if err != nil || resp.Rcode == miekg.RcodeServerFailure || resp.Rcode == miekg.RcodeRefused {
			continue // the next one may know better
		}
		resp.SetEdns0(MaxUDPSize, false)
		return resp, nil
	}
	return nil, ErrNoUpstream
}

// exchangeOne asks one upstream server: UDP first, TCP if the answer did
// not fit.
func exchangeOne(ctx context.Context, m *miekg.Msg, upstream string, timeout time.Duration) (*miekg.Msg, error) {
	m = m.Copy()
	m.Id = miekg.Id()
	c := &miekg.Client{Net: "udp", Timeout: timeout, UDPSize: MaxUDPSize}
	resp, _, err := c.ExchangeContext(ctx, m, upstream)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, m, upstream)
	}
	return resp, err
}

// Chase asks upstream for the records of name (type qtype) that end a
// CNAME chain of m, and appends them to m's answer (Reply.Chase). If
// upstream cannot say, m is left as it is.
func (f *Forwarder) Chase(ctx context.Context, m *miekg.Msg, name string, qtype uint16) {
	q := new(miekg.Msg)
	q.SetQuestion(name, qtype)
	resp := f.Forward(ctx, q)
	if resp.Rcode != miekg.RcodeSuccess {
		return
	}
	m.Answer = append(m.Answer, resp.Answer...)
}

// Upstreams reads the name servers of a resolv.conf as host:port, leaving
// out the addresses in skip (this server's own, the cluster DNS address:
// asking them would ask ourselves).
func Upstreams(resolvConf string, skip ...string) ([]string, error) {
	cc, err := miekg.ClientConfigFromFile(resolvConf)
	if err != nil {
		return nil, err
	}
	var out []string
outer:
	for _, s := range cc.Servers {
		for _, k := range skip {
			if s == k {
				continue outer
			}
		}
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out, nil
}
