package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/tinykube/tinykube/plugins"
)

// Version is memetcd's version.
const Version = "v0.1.0"

// DefaultClientPort is where clients reach etcd when the client-port setting
// is absent, as in Kubernetes.
const DefaultClientPort = 2379

// Memetcd is an etcd component that keeps its data in memory only.
type Memetcd struct {
	mu      sync.Mutex
	started bool
	grpc    *grpc.Server // nil before Start and after Stop
	server  *server
	urls    []string // the client URLs served
	failed  error    // why serving stopped early, if it did
}

var _ plugins.Component = (*Memetcd)(nil)

// New returns a memetcd component, not yet started.
func New() *Memetcd { return &Memetcd{} }

// Identify says this is memetcd, an etcd whose data lives in memory only:
// where the reference etcd keeps its keys on disk under its data directory
// and finds them again after a restart, memetcd loses every key when it
// stops.
func (m *Memetcd) Identify(context.Context) (plugins.Identity, error) {
	return plugins.Identity{Kind: plugins.KindEtcd, Implementation: "memetcd", Version: Version}, nil
}

// Start serves etcd's v3 API at the setting client-port (2379) on the
// machine's address and, like the reference etcd, on loopback. It returns
// once listening. The peer-port setting is ignored: memetcd has no peers.
func (m *Memetcd) Start(_ context.Context, s plugins.Settings) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return plugins.ErrAlreadyStarted
	}
	port, err := clientPort(s.Values)
	if err != nil {
		return err
	}
	if s.Address == "" {
		return errors.New("memetcd: settings need the machine's address")
	}
	hosts := []string{s.Address}
	if s.Address != "127.0.0.1" {
		hosts = append(hosts, "127.0.0.1")
	}
	var listeners []net.Listener
	var urls []string
	for _, host := range hosts {
		l, err := net.Listen("tcp", net.JoinHostPort(host, port))
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return fmt.Errorf("memetcd: listen on the client port: %w", err)
		}
		listeners = append(listeners, l)
		urls = append(urls, "http://"+l.Addr().String())
	}
	m.urls = urls

	m.server = &server{
		store:    newStore(),
		member:   &pb.Member{ID: memberID, Name: s.Machine, ClientURLs: urls},
		stopping: make(chan struct{}),
	}
	// etcd's keepalive policy: a client may ping every 5 s while it has a
	// call open (a watch, say). gRPC's default, 5 minutes, would close the
	// connection of etcdctl watch, which pings every 10 s.
	m.grpc = grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		MinTime: 5 * time.Second, PermitWithoutStream: false,
	}))
	m.server.register(m.grpc)
	for _, l := range listeners {
		go m.serve(m.grpc, l)
	}
	m.started = true
	return nil
}

func (m *Memetcd) serve(g *grpc.Server, l net.Listener) {
	err := g.Serve(l) // nil once stopped
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil && m.failed == nil {
		m.failed = err
	}
}

// clientPort reads the client-port setting.
func clientPort(values map[string]string) (string, error) {
	v, ok := values["client-port"]
	if !ok || v == "" {
		return strconv.Itoa(DefaultClientPort), nil
	}
	if p, err := strconv.Atoi(v); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("memetcd: setting client-port=%q: want a port number 1-65535", v)
	}
	return v, nil
}

// Health is healthy while memetcd serves: it is ready as soon as it listens.
func (m *Memetcd) Health(context.Context) (plugins.Health, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case !m.started:
		return plugins.Health{}, plugins.ErrNotStarted
	case m.grpc == nil:
		return plugins.Health{Message: "stopped"}, nil
	case m.failed != nil:
		return plugins.Health{Message: fmt.Sprintf("serving failed: %v", m.failed)}, nil
	}
	return plugins.Health{Healthy: true, Message: fmt.Sprintf("serving %s from memory, revision %d",
		strings.Join(m.urls, ", "), m.server.store.Header().Revision)}, nil
}

// Stop ends open watches, lets other calls in flight finish until ctx's
// deadline, then closes every connection. The keys are lost.
func (m *Memetcd) Stop(ctx context.Context) error {
	m.mu.Lock()
	g, srv := m.grpc, m.server
	m.grpc = nil
	m.mu.Unlock()
	if g == nil {
		return nil
	}
	close(srv.stopping)
	done := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		g.Stop() // GracefulStop returns too
		<-done
	}
	return nil
}
