package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	miekg "github.com/miekg/dns"
)

// handler answers DNS questions: from the current snapshot for the
// cluster's names, through the forwarder for the rest. It is the I/O
// around Snapshot.Answer.
type handler struct {
	snapshot  atomic.Pointer[Snapshot] // nil until the first sync: SERVFAIL
	forwarder *Forwarder
	metrics   *Metrics
}

// ServeDNS answers one request (miekg.Handler).
func (h *handler) ServeDNS(w miekg.ResponseWriter, req *miekg.Msg) {
	start := time.Now()
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	m := h.reply(req)
	// A UDP answer must fit what the client can take: 512 bytes, or the
	// size it offers with EDNS0 (up to ours); a TCP one, 64 KiB.
	// Truncate compresses names if that is enough, else drops whole
	// records and sets TC; the client then asks again over TCP.
	size := miekg.MaxMsgSize
	if !tcp {
		size = miekg.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = min(max(int(opt.UDPSize()), miekg.MinMsgSize), MaxUDPSize)
		}
	}
	m.Truncate(size)
	var qtype uint16
	if len(req.Question) == 1 {
		qtype = req.Question[0].Qtype
	}
	// Counted before the answer leaves: a client that has its answer
	// finds it in /metrics.
	h.metrics.observe(tcp, qtype, m.Rcode, time.Since(start))
	w.WriteMsg(m)
}

// reply follows Reply's steps.
func (h *handler) reply(req *miekg.Msg) *miekg.Msg {
	snap := h.snapshot.Load()
	if snap == nil {
		m := new(miekg.Msg)
		m.SetRcode(req, miekg.RcodeServerFailure) // not synced yet: ask again soon
		return m
	}
	r := snap.Answer(req)
	ctx := context.Background()
	if r.Forward {
		return h.forwarder.Forward(ctx, req)
	}
	if r.Chase != "" {
		h.forwarder.Chase(ctx, r.Msg, r.Chase, req.Question[0].Qtype)
	}
	return r.Msg
}

// dnsServers are the UDP and TCP servers on one address.
type dnsServers struct {
	udp, tcp *miekg.Server
	addr     string // host:port, as bound
}

// listenDNS binds address:port over UDP and TCP (port 0: a free port, the
// same for both) and serves h on them. It returns when both listen.
func listenDNS(address string, port int, h miekg.Handler) (*dnsServers, error) {
	var pc net.PacketConn
	var l net.Listener
	var err error
	for try := 0; try < 10; try++ {
		pc, err = net.ListenPacket("udp", net.JoinHostPort(address, strconv.Itoa(port)))
		if err != nil {
			return nil, fmt.Errorf("dns: listening on %s port %d/udp: %w", address, port, err)
		}
		bound := pc.LocalAddr().(*net.UDPAddr).Port
		l, err = net.Listen("tcp", net.JoinHostPort(address, strconv.Itoa(bound)))
		if err == nil {
			break
		}
		pc.Close()
		if port != 0 {
			return nil, fmt.Errorf("dns: listening on %s port %d/tcp: %w", address, port, err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dns: no free port on %s for both UDP and TCP: %w", address, err)
	}
	s := &dnsServers{addr: l.Addr().String()}
	var wg sync.WaitGroup
	wg.Add(2)
	s.udp = &miekg.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: wg.Done}
	s.tcp = &miekg.Server{Listener: l, Handler: h, NotifyStartedFunc: wg.Done,
		ReadTimeout: 2 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }}
	go s.udp.ActivateAndServe()
	go s.tcp.ActivateAndServe()
	wg.Wait()
	return s, nil
}

func (s *dnsServers) shutdown(ctx context.Context) {
	s.udp.ShutdownContext(ctx)
	s.tcp.ShutdownContext(ctx)
}

// httpServers are the HTTP servers of health and metrics.
type httpServers []*http.Server

// listenHTTP serves, on each port (0: none), /healthz (200 while the
// process serves), /readyz (200 once ready says so: answers come from a
// synced snapshot; 503 before) and /metrics. The agent starts it with the
// health port and the metrics port (CoreDNS's 9153, the kube-dns
// Service's metrics port).
func listenHTTP(address string, ports []int, metrics *Metrics, ready func() bool) (httpServers, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready: the first sync with the apiserver has not ended", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		metrics.WriteTo(w)
	})
	var out httpServers
	for _, port := range ports {
		if port == 0 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(address, strconv.Itoa(port)))
		if err != nil {
			out.shutdown(context.Background())
			return nil, fmt.Errorf("dns: listening on %s port %d/tcp (health and metrics): %w", address, port, err)
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintf(os.Stderr, "dns: http on %s: %v\n", l.Addr(), err)
			}
		}()
		out = append(out, srv)
	}
	return out, nil
}

func (s httpServers) shutdown(ctx context.Context) {
	for _, srv := range s {
		srv.Shutdown(ctx)
	}
}
