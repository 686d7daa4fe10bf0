package conformance

import (
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// startEtcd runs an etcd on loopback for the rest of the test and returns
// its client URL: the store a component under test (an apiserver) needs.
// It is etcd's own embedded server, not tinykube's etcd component, so
// that a student's apiserver is checked against the real thing.
func startEtcd(t testing.TB) string {
	t.Helper()
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", FreePort(t))}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", FreePort(t))}
	cfg := embed.NewConfig()
	cfg.Name = "conformance"
	cfg.Dir = filepath.Join(t.TempDir(), "etcd")
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{clientURL}, []url.URL{clientURL}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peerURL}, []url.URL{peerURL}
	cfg.InitialCluster = "conformance=" + peerURL.String()
	cfg.TickMs, cfg.ElectionMs = 10, 100
	cfg.LogLevel = "error"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("conformance: etcd for the component under test: %v", err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(20 * time.Second):
		t.Fatal("conformance: etcd for the component under test not ready within 20s")
	}
	return clientURL.String()
}
