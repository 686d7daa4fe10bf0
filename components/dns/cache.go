package dns

import (
	"container/list"
	"strings"
	"sync"
	"time"

	miekg "github.com/miekg/dns"
)

// How long the cache keeps an upstream answer: its records' smallest TTL,
// at most MaxCacheTTL; a "no such name" or "no such record" as long as
// its SOA says (RFC 2308), at most MaxNegativeTTL; a failure (SERVFAIL,
// or no upstream answering) ServfailTTL, so that a burst of questions for
// a name nobody can answer fails fast instead of waiting on upstream
// again and again (CoreDNS's cache does the same, 5 s).
const (
	MaxCacheTTL    = 300 * time.Second
	MaxNegativeTTL = 60 * time.Second
	ServfailTTL    = 5 * time.Second
)

// Cache remembers upstream answers for their TTL. It is small and
// simple: at most size entries, the least recently used goes first. Only
// answers from outside the cluster are cached: the cluster's own are
// computed from the snapshot faster than a cache lookup. Safe for
// concurrent use.
type Cache struct {
	mu      sync.Mutex
	size    int
	entries map[cacheKey]*list.Element
	lru     *list.List // front: most recently used
}

type cacheKey struct {
	name   string // lower case
	qtype  uint16
	qclass uint16
}

type cacheEntry struct {
	key     cacheKey
	msg     *miekg.Msg
	stored  time.Time
	expires time.Time
}

// NewCache returns a cache of at most size answers; size 0 caches
// nothing.
func NewCache(size int) *Cache {
	return &Cache{size: size, entries: map[cacheKey]*list.Element{}, lru: list.New()}
}

func keyOf(q miekg.Question) cacheKey {
	return cacheKey{name: strings.ToLower(q.Name), qtype: q.Qtype, qclass: q.Qclass}
}

// Get returns the cached answer to req's question at time now, as a reply
// to req: req's ID and question, every TTL lowered by the time the answer
// spent in the cache. The returned message is the caller's.
func (c *Cache) Get(req *miekg.Msg, now time.Time) (*miekg.Msg, bool) {
	if len(req.Question) != 1 {
		return nil, false
	}
	c.mu.Lock()
	el, ok := c.entries[keyOf(req.Question[0])]
	if !ok {
		c.mu.Unlock()
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.lru.Remove(el)
		delete(c.entries, e.key)
		c.mu.Unlock()
		return nil, false
	}
	c.lru.MoveToFront(el)
	m := e.msg.Copy()
	age := uint32(now.Sub(e.stored) / time.Second)
	c.mu.Unlock()

	m.Id, m.Question = req.Id, req.Question
	for _, section := range [][]miekg.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range section {
			if h := rr.Header(); h.Rrtype != miekg.TypeOPT {
				h.Ttl -= min(h.Ttl, age)
			}
		}
	}
	return m, true
}

// Put stores m, the answer to its own question, at time now, for as long
// as the constants above say. A truncated answer is not stored.
func (c *Cache) Put(m *miekg.Msg, now time.Time) {
	if c.size == 0 || len(m.Question) != 1 || m.Truncated {
		return
	}
	ttl := cacheTTL(m)
	if ttl <= 0 {
		return
	}
	key := keyOf(m.Question[0])
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.lru.Remove(el)
		delete(c.entries, key)
	}
	for c.lru.Len() >= c.size {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
	}
	c.entries[key] = c.lru.PushFront(&cacheEntry{key: key, msg: m.Copy(), stored: now, expires: now.Add(ttl)})
}

// Len is how many answers the cache holds.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// cacheTTL is how long m may be cached.
func cacheTTL(m *miekg.Msg) time.Duration {
	switch m.Rcode {
	case miekg.RcodeServerFailure:
		return ServfailTTL
	case miekg.RcodeSuccess, miekg.RcodeNameError:
	default:
		return 0 // REFUSED, FORMERR...: not an answer about the name
	}
	if m.Rcode == miekg.RcodeNameError || len(m.Answer) == 0 {
		for _, rr := range m.Ns {
			if soa, ok := rr.(*miekg.SOA); ok {
				return min(time.Duration(min(soa.Hdr.Ttl, soa.Minttl))*time.Second, MaxNegativeTTL)
			}
		}
		return 0 // a negative answer without SOA: RFC 2308 says do not cache
	}
	ttl := MaxCacheTTL
	for _, rr := range m.Answer {
		ttl = min(ttl, time.Duration(rr.Header().Ttl)*time.Second)
	}
	return ttl
}
