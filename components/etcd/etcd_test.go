package etcd

import (
	"context"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tinykube/tinykube/plugins"
	"github.com/tinykube/tinykube/plugins/conformance"
)

func TestConformance(t *testing.T) {
	conformance.RunInProcess(t, func() plugins.Component { return New() })
}

// TestDataSurvivesRestart checks what chapter 1 promises: a key written
// before the component stops is there after it starts again on the same
// data directory.
func TestDataSurvivesRestart(t *testing.T) {
	s := conformance.SettingsFor(t, plugins.KindEtcd)
	ctx := context.Background()

	put := func(e *Etcd) {
		if _, err := e.client.Put(ctx, "/chapter1/greeting", "hello"); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	first := New()
	if err := first.Start(ctx, s); err != nil {
		t.Fatal(err)
	}
	conformance.WaitHealthy(t, first, conformance.HealthyWithin)
	put(first)
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	second := New()
	if err := second.Start(ctx, s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Stop(ctx) })
	conformance.WaitHealthy(t, second, conformance.HealthyWithin)

	// Read through the network, as a student's etcdctl would.
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:" + s.Values["client-port"]}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Get(ctx, "/chapter1/greeting")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "hello" {
		t.Fatalf("after restart got %v, want /chapter1/greeting=hello", resp.Kvs)
	}
}

func TestBadSettings(t *testing.T) {
	s := conformance.SettingsFor(t, plugins.KindEtcd)
	s.Values["client-port"] = "seventy"
	err := New().Start(context.Background(), s)
	if err == nil || err.Error() != `etcd: setting client-port="seventy": want a port number 1-65535` {
		t.Fatalf("Start with a bad port = %v", err)
	}
}
