package etcd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"

	"github.com/tinykube/tinykube/plugins"
)

// Version is the reference etcd component's version.
const Version = "v0.1.0"

// Default ports, as in Kubernetes.
const (
	DefaultClientPort = 2379
	DefaultPeerPort   = 2380
)

// Default raft timings. etcd's own (100 ms heartbeat, 1 s election) suit
// machines on a real network; machines on one host talk in microseconds,
// and a shorter election timeout lets a restarted member lead again in
// about a tenth of the time. Settings heartbeat-ms and election-ms change
// them (on slow VMs, say).
const (
	DefaultHeartbeatMs = 10
	DefaultElectionMs  = 100
)

// Etcd is the reference etcd component: an embedded etcd server.
type Etcd struct {
	mu      sync.Mutex
	server  *embed.Etcd
	client  *clientv3.Client // in-process client, for health checks
	urls    []string         // client URLs served
	started bool
}

var _ plugins.Component = (*Etcd)(nil)

// New returns an etcd component, not yet started.
func New() *Etcd { return &Etcd{} }

// Identify says this is the reference etcd.
func (e *Etcd) Identify(context.Context) (plugins.Identity, error) {
	return plugins.Identity{Kind: plugins.KindEtcd, Implementation: "reference", Version: Version}, nil
}

// Start starts an embedded etcd member on the machine's address, with its
// data under s.DataDir. Settings: client-port (2379), peer-port (2380),
// heartbeat-ms (10), election-ms (100), log-level (info; or debug, warn, error).
func (e *Etcd) Start(_ context.Context, s plugins.Settings) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return plugins.ErrAlreadyStarted
	}
	cfg, err := config(s)
	if err != nil {
		return err
	}
	server, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("etcd: start: %w", err)
	}
	e.server = server
	e.client = v3client.New(server.Server)
	for _, u := range cfg.AdvertiseClientUrls {
		e.urls = append(e.urls, u.String())
	}
	e.started = true
	return nil
}

// config turns the component's settings into an embedded etcd config.
func config(s plugins.Settings) (*embed.Config, error) {
	clientPort, err := port(s.Values, "client-port", DefaultClientPort)
	if err != nil {
		return nil, err
	}
	peerPort, err := port(s.Values, "peer-port", DefaultPeerPort)
	if err != nil {
		return nil, err
	}
	heartbeat, err := millis(s.Values, "heartbeat-ms", DefaultHeartbeatMs)
	if err != nil {
		return nil, err
	}
	election, err := millis(s.Values, "election-ms", DefaultElectionMs)
	if err != nil {
		return nil, err
	}
	if election < 5*heartbeat {
		return nil, fmt.Errorf("etcd: election-ms=%d must be at least 5 × heartbeat-ms=%d", election, heartbeat)
	}
	if s.Address == "" || s.DataDir == "" {
		return nil, errors.New("etcd: settings need the machine's address and a data directory")
	}
	name := s.Machine
	if name == "" {
		name = "default"
	}
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("%s:%d", s.Address, clientPort)}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("%s:%d", s.Address, peerPort)}

	cfg := embed.NewConfig()
	cfg.Name = name
	cfg.Dir = filepath.Join(s.DataDir, "member-data")
	// Clients reach etcd on the machine's address; on the machine itself
	// also on loopback, as with kubeadm's etcd.
	cfg.ListenClientUrls = []url.URL{clientURL}
	if s.Address != "127.0.0.1" {
		cfg.ListenClientUrls = append(cfg.ListenClientUrls, url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", clientPort)})
	}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = fmt.Sprintf("%s=%s", name, peerURL.String())
	cfg.TickMs, cfg.ElectionMs = uint(heartbeat), uint(election)
	cfg.LogLevel = "info"
	if level := s.Values["log-level"]; level != "" {
		cfg.LogLevel = level // debug, info, warn, error
	}
	cfg.LogOutputs = []string{"stderr"}
	return cfg, nil
}

func port(values map[string]string, key string, def int) (int, error) {
	v, ok := values[key]
	if !ok || v == "" {
		return def, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("etcd: setting %s=%q: want a port number 1-65535", key, v)
	}
	return p, nil
}

func millis(values map[string]string, key string, def int) (int, error) {
	v, ok := values[key]
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 60000 {
		return 0, fmt.Errorf("etcd: setting %s=%q: want milliseconds, 1-60000", key, v)
	}
	return n, nil
}

// Health is healthy when the member has joined its cluster and answers a read.
func (e *Etcd) Health(ctx context.Context) (plugins.Health, error) {
	e.mu.Lock()
	server, client, started := e.server, e.client, e.started
	e.mu.Unlock()
	if !started {
		return plugins.Health{}, plugins.ErrNotStarted
	}
	if server == nil {
		return plugins.Health{Message: "stopped"}, nil
	}
	select {
	case err := <-server.Err():
		return plugins.Health{Message: fmt.Sprintf("etcd failed: %v", err)}, nil
	case <-server.Server.ReadyNotify():
	default:
		return plugins.Health{Message: "starting: waiting for the member to be ready"}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	resp, err := client.Get(ctx, "health")
	if err != nil {
		return plugins.Health{Message: fmt.Sprintf("a read failed: %v", err)}, nil
	}
	return plugins.Health{
		Healthy: true,
		Message: fmt.Sprintf("serving %v, revision %d", e.urls, resp.Header.Revision),
	}, nil
}

// Stop closes the server, waiting for it until ctx's deadline.
func (e *Etcd) Stop(ctx context.Context) error {
	e.mu.Lock()
	server := e.server
	e.server = nil
	e.mu.Unlock()
	if server == nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		server.Close()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("etcd: not stopped before the deadline: %w", ctx.Err())
	}
}
