package kubeproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// fakeTables records what a proxier gives iptables.
type fakeTables struct {
	save     []byte
	restores [][]byte
	saves    int
	fail     error
}

func (f *fakeTables) Save(context.Context) ([]byte, error) {
	f.saves++
	return f.save, nil
}

func (f *fakeTables) Restore(_ context.Context, input []byte) error {
	if f.fail != nil {
		return f.fail
	}
	f.restores = append(f.restores, input)
	return nil
}

// newTestProxier returns a proxier whose listers read from indexers the
// test fills, as sample-controller's tests preload informers.
func newTestProxier(t *testing.T, objs ...any) (*Proxier, cache.Indexer, cache.Indexer, *fakeTables) {
	t.Helper()
	svcs := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	slices := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, o := range objs {
		switch o.(type) {
		case *corev1.Service:
			svcs.Add(o)
		case *discoveryv1.EndpointSlice:
			slices.Add(o)
		}
	}
	ft := &fakeTables{}
	p := &Proxier{
		Node: node1, Tables: ft,
		MinSyncPeriod: time.Millisecond, SyncPeriod: time.Hour,
		ConntrackPrefix: []string{"true"}, // no conntrack in unit tests
		Metrics:         newMetrics(),
	}
	p.Services, p.EndpointSlices = listers(svcs, slices)
	return p, svcs, slices, ft
}

// listers reads Services and EndpointSlices from indexers.
func listers(svcs, slices cache.Indexer) (corelisters.ServiceLister, discoverylisters.EndpointSliceLister) {
	return corelisters.NewServiceLister(svcs), discoverylisters.NewEndpointSliceLister(slices)
}

func service(name, ip string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       corev1.ServiceSpec{ClusterIP: ip, Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
	}
}

func slice(service string, ips ...string) *discoveryv1.EndpointSlice {
	name, port := "http", int32(8080)
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: service + "-1", Namespace: "default", Labels: map[string]string{LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
	}
	for _, ip := range ips {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}})
	}
	return s
}

// TestSyncWritesOnlyWhatChanged: after a full sync, a new Service makes
// the next sync write KUBE-SERVICES and the new Service's chains, not the
// others'; a sync with no change writes nothing.
//
// Reference: chapters/06-kube-proxy, "Syncing".
func TestSyncWritesOnlyWhatChanged(t *testing.T) {
	p, svcs, slices, ft := newTestProxier(t, service("a", "10.96.0.10"), slice("a", "10.244.1.2"))
	ctx := context.Background()
	if err := p.Sync(ctx, true); err != nil {
		t.Fatal(err)
	}
	if ft.saves != 1 || len(ft.restores) != 1 {
		t.Fatalf("first sync: %d saves, %d restores; want a full sync (1 save, 1 restore)", ft.saves, len(ft.restores))
	}
	aChain := (&servicePort{name: "default/a:http", protocol: "tcp"}).chainService()
	if !bytes.Contains(ft.restores[0], []byte(":"+aChain)) {
		t.Errorf("first sync does not write %s:\n%s", aChain, ft.restores[0])
	}

	// Nothing changed: nothing to write.
	if err := p.Sync(ctx, false); err != nil {
		t.Fatal(err)
	}
	if len(ft.restores) != 1 {
		t.Errorf("a sync without changes ran iptables-restore with:\n%s", ft.restores[len(ft.restores)-1])
	}

	svcs.Add(service("b", "10.96.0.11"))
	slices.Add(slice("b", "10.244.2.3"))
	if err := p.Sync(ctx, false); err != nil {
		t.Fatal(err)
	}
	if ft.saves != 1 {
		t.Errorf("a partial sync read the tables (%d saves)", ft.saves)
	}
	input := string(ft.restores[len(ft.restores)-1])
	bChain := (&servicePort{name: "default/b:http", protocol: "tcp"}).chainService()
	for _, want := range []string{":KUBE-SERVICES - [0:0]", ":" + bChain, "--to-destination 10.244.2.3:8080"} {
		if !strings.Contains(input, want) {
			t.Errorf("partial sync input lacks %q:\n%s", want, input)
		}
	}
	for _, notWant := range []string{":" + aChain, "-A " + aChain, "KUBE-POSTROUTING", "*filter"} {
		if strings.Contains(input, notWant) {
			t.Errorf("partial sync input rewrites %s, which did not change:\n%s", notWant, input)
		}
	}

	// Service a goes: its chains are deleted.
	svcs.Delete(service("a", "10.96.0.10"))
	if err := p.Sync(ctx, false); err != nil {
		t.Fatal(err)
	}
	input = string(ft.restores[len(ft.restores)-1])
	if !strings.Contains(input, "-X "+aChain) {
		t.Errorf("deleting Service a does not delete %s:\n%s", aChain, input)
	}
	// a's endpoint had no Service: the filter table has nothing for it.
}

// TestSyncFailureMakesNextSyncFull: after iptables-restore fails, the
// tables are unknown; the next sync reads them back.
func TestSyncFailureMakesNextSyncFull(t *testing.T) {
	p, svcs, _, ft := newTestProxier(t, service("a", "10.96.0.10"))
	ctx := context.Background()
	if err := p.Sync(ctx, true); err != nil {
		t.Fatal(err)
	}
	p.OnChange()
	ft.fail = errors.New("boom")
	svcs.Add(service("b", "10.96.0.11"))
	if err := p.Sync(ctx, false); err == nil {
		t.Fatal("Sync with a failing iptables-restore succeeded")
	}
	if _, lastErr, _, pending := p.Status(); lastErr == nil || pending.IsZero() {
		t.Errorf("after a failed sync: lastErr %v, pending since %v; want the error and the change still pending", lastErr, pending)
	}
	ft.fail = nil
	saves := ft.saves
	if err := p.Sync(ctx, false); err != nil {
		t.Fatal(err)
	}
	if ft.saves != saves+1 {
		t.Errorf("the sync after a failure did not read the tables back")
	}
	if _, lastErr, _, pending := p.Status(); lastErr != nil || !pending.IsZero() {
		t.Errorf("after a good sync: lastErr %v, pending since %v", lastErr, pending)
	}
}

// TestRunBatchesChanges: the first sync comes at once; change
// notifications that come within MinSyncPeriod make one sync.
func TestRunBatchesChanges(t *testing.T) {
	p, svcs, _, ft := newTestProxier(t, service("a", "10.96.0.10"))
	p.MinSyncPeriod = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	waitFor(t, func() bool { last, _, _, _ := p.Status(); return !last.IsZero() })
	for i, name := range []string{"b", "c", "d"} {
		svcs.Add(service(name, fmt.Sprintf("10.96.0.%d", 11+i)))
	}
	for range 3 {
		p.OnChange()
	}
	waitFor(t, func() bool { _, _, _, pending := p.Status(); return pending.IsZero() })
	cancel()
	<-done
	// One full sync at start, one partial for the three Services.
	if n := len(ft.restores); n != 2 {
		t.Errorf("%d restores for a start and three quick changes, want 2", n)
	}
	last := string(ft.restores[len(ft.restores)-1])
	for _, name := range []string{"b", "c", "d"} {
		if !strings.Contains(last, "default/"+name+":http has no endpoints") {
			t.Errorf("the second sync does not have Service %s:\n%s", name, last)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHealthz: 503 before the first sync and when a change waits too long,
// 200 otherwise.
func TestHealthz(t *testing.T) {
	p, _, _, _ := newTestProxier(t, service("a", "10.96.0.10"))
	h := &ProxierHealth{Proxier: p, Timeout: 50 * time.Millisecond}
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get(); code != http.StatusServiceUnavailable {
		t.Errorf("before any sync: %d %s, want 503", code, body)
	}
	if err := p.Sync(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if code, body := get(); code != http.StatusOK || !strings.Contains(body, `"lastUpdated":"20`) {
		t.Errorf("after a sync: %d %s, want 200 with lastUpdated", code, body)
	}
	p.OnChange()
	time.Sleep(80 * time.Millisecond)
	if code, body := get(); code != http.StatusServiceUnavailable {
		t.Errorf("a change pending for longer than the timeout: %d %s, want 503", code, body)
	}
}

// TestStaleUDPFlows: an endpoint gone from a UDP Service's port is
// forgotten at each of its addresses; TCP ports need nothing.
func TestStaleUDPFlows(t *testing.T) {
	before := servicePorts(loadSnapshot(t, "testdata/multiport.yaml", node1).Services, loadSnapshot(t, "testdata/multiport.yaml", node1).EndpointSlices)
	s := loadSnapshot(t, "testdata/multiport.yaml", node1)
	s.EndpointSlices = s.EndpointSlices[:1] // the v2 pod 10.244.2.7 goes
	after := servicePorts(s.Services, s.EndpointSlices)
	got := staleUDPFlows(before, after, "node1")
	want := []staleFlow{{serviceIP: "10.96.0.23", endpointIP: "10.244.2.7"}}
	if len(got) != 1 || got[0] != want[0] {
		t.Errorf("stale flows = %+v, want %+v", got, want)
	}
}

func TestMetricsText(t *testing.T) {
	m := newMetrics()
	m.observeSync(3*time.Millisecond, true, time.Unix(1700000000, 0), map[string]int{"nat": 12, "filter": 4})
	var buf bytes.Buffer
	m.WriteTo(&buf)
	for _, want := range []string{
		`kubeproxy_sync_proxy_rules_duration_seconds_bucket{le="0.004"} 1`,
		`kubeproxy_sync_proxy_rules_duration_seconds_count 1`,
		`kubeproxy_sync_full_proxy_rules_duration_seconds_count 1`,
		`kubeproxy_sync_proxy_rules_last_timestamp_seconds 1700000000.000`,
		`kubeproxy_sync_proxy_rules_iptables_total{table="nat"} 12`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, buf.String())
		}
	}
}

// TestResyncRepairs: a periodic resync rewrites only the chains someone
// changed behind kube-proxy's back.
func TestResyncRepairs(t *testing.T) {
	p, _, _, ft := newTestProxier(t, service("a", "10.96.0.10"), slice("a", "10.244.1.2"), service("b", "10.96.0.11"), slice("b", "10.244.2.3"))
	ctx := context.Background()
	if err := p.Sync(ctx, true); err != nil {
		t.Fatal(err)
	}
	// The tables as iptables-save would show them, with b's service chain
	// emptied by hand (iptables -t nat -F KUBE-SVC-...).
	bChain := (&servicePort{name: "default/b:http", protocol: "tcp"}).chainService()
	tampered := *p.applied
	tampered.NAT.Chains = append([]Chain(nil), p.applied.NAT.Chains...)
	for i := range tampered.NAT.Chains {
		if tampered.NAT.Chains[i].Name == bChain {
			tampered.NAT.Chains[i].Rules = nil
		}
	}
	ft.save = tampered.Text()
	if err := p.Sync(ctx, true); err != nil {
		t.Fatal(err)
	}
	input := string(ft.restores[len(ft.restores)-1])
	if !strings.Contains(input, ":"+bChain) {
		t.Errorf("resync does not repair %s:\n%s", bChain, input)
	}
	if n := strings.Count(input, "\n:"); n != 1 {
		t.Errorf("resync rewrites %d chains, want only the tampered one:\n%s", n, input)
	}
}
