package storage

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// testClient talks to the one etcd every test of this package shares; each
// test keeps its objects under its own prefix (newStore).
var testClient *clientv3.Client

// TestMain starts an embedded etcd on free loopback ports, runs the tests
// and benchmarks, and removes it.
func TestMain(m *testing.M) {
	os.Exit(runWithEtcd(m))
}

func runWithEtcd(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tinykube-storage-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)

	cfg := embed.NewConfig()
	cfg.Name = "test"
	cfg.Dir = dir
	cfg.TickMs = 10
	cfg.ElectionMs = 100
	cfg.LogLevel = "error"
	// etcd logs errors when it is closed; keep them in a file, shown only
	// if a test fails.
	logFile := filepath.Join(dir, "etcd.log")
	cfg.LogOutputs = []string{logFile}
	clientURL := url.URL{Scheme: "http", Host: freeAddr()}
	peerURL := url.URL{Scheme: "http", Host: freeAddr()}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{clientURL}, []url.URL{clientURL}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peerURL}, []url.URL{peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	server, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start etcd:", err)
		return 1
	}
	defer server.Close()
	select {
	case <-server.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "etcd was not ready within 30 s")
		return 1
	}

	testClient, err = clientv3.New(clientv3.Config{
		Endpoints:   []string{clientURL.String()},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(), // it warns of every read of a compacted revision, which tests make on purpose
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd client:", err)
		return 1
	}
	defer testClient.Close()
	code := m.Run()
	if code != 0 {
		if log, err := os.ReadFile(logFile); err == nil && len(log) > 0 {
			fmt.Fprintf(os.Stderr, "etcd's log:\n%s", log)
		}
	}
	return code
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// prefixes numbers test prefixes, so that a test run again (go test
// -count) starts afresh.
var prefixes atomic.Int64

// testPrefix is a key prefix of the test's own, so that tests sharing
// etcd do not see each other's objects: /<test>-<n>/registry/<resource>.
func testPrefix(tb testing.TB, resource string) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(tb.Name())
	return fmt.Sprintf("/%s-%d/registry/%s", name, prefixes.Add(1), resource)
}

// newPodStore, newConfigMapStore and newNodeStore return Stores under the
// test's prefix.
func newPodStore(tb testing.TB) *Store {
	return New(testClient, DefaultCodec(), schema.GroupResource{Resource: "pods"}, testPrefix(tb, "pods"),
		func() runtime.Object { return &corev1.Pod{} }, func() runtime.Object { return &corev1.PodList{} })
}

func newConfigMapStore(tb testing.TB) *Store {
	return New(testClient, DefaultCodec(), schema.GroupResource{Resource: "configmaps"}, testPrefix(tb, "configmaps"),
		func() runtime.Object { return &corev1.ConfigMap{} }, func() runtime.Object { return &corev1.ConfigMapList{} })
}

func newNodeStore(tb testing.TB) *Store {
	return New(testClient, DefaultCodec(), schema.GroupResource{Resource: "nodes"}, testPrefix(tb, "nodes"),
		func() runtime.Object { return &corev1.Node{} }, func() runtime.Object { return &corev1.NodeList{} })
}

// pod returns a pod as a handler would hand it to Create.
func pod(namespace, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels, UID: types.UID("uid-" + namespace + "-" + name)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
	}
}

// mustCreate creates obj and returns what Create returned.
func mustCreate(tb testing.TB, s *Store, obj runtime.Object) runtime.Object {
	tb.Helper()
	m := metaOf(tb, obj)
	out, err := s.Create(context.Background(), m.GetNamespace(), m.GetName(), obj)
	if err != nil {
		tb.Fatalf("create %s/%s: %v", m.GetNamespace(), m.GetName(), err)
	}
	return out
}

func metaOf(tb testing.TB, obj runtime.Object) metav1.Object {
	tb.Helper()
	m, ok := obj.(metav1.Object)
	if !ok {
		tb.Fatalf("%T has no metadata", obj)
	}
	return m
}

// rvOf returns an object's or a list's resourceVersion as a number.
func rvOf(tb testing.TB, obj runtime.Object) int64 {
	tb.Helper()
	var s string
	if l, ok := obj.(metav1.ListInterface); ok {
		s = l.GetResourceVersion()
	} else {
		s = metaOf(tb, obj).GetResourceVersion()
	}
	rv, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		tb.Fatalf("resourceVersion of %T %q: %v", obj, s, err)
	}
	return rv
}

// compact compacts etcd's history up to its current revision, as the
// apiserver does every 5 minutes, and returns that revision.
func compact(tb testing.TB) int64 {
	tb.Helper()
	ctx := context.Background()
	resp, err := testClient.Get(ctx, "compact-probe")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := testClient.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		tb.Fatalf("compact at %d: %v", resp.Header.Revision, err)
	}
	return resp.Header.Revision
}

// eventWait is how long a test waits for a watch event it expects.
const eventWait = 10 * time.Second

// nextEvent returns the watch's next event, failing the test if none
// comes within eventWait or the channel closes.
func nextEvent(tb testing.TB, w watch.Interface) watch.Event {
	tb.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			tb.Fatalf("watch closed; want an event")
		}
		return ev
	case <-time.After(eventWait):
		tb.Fatalf("no watch event within %v", eventWait)
	}
	return watch.Event{}
}

// expectEvent reads the next event and checks its type, the object's
// name and, if rv > 0, its resourceVersion.
func expectEvent(tb testing.TB, w watch.Interface, typ watch.EventType, name string, rv int64) watch.Event {
	tb.Helper()
	ev := nextEvent(tb, w)
	got := describe(ev)
	if ev.Type != typ || ev.Type != watch.Error && metaOf(tb, ev.Object).GetName() != name ||
		rv > 0 && rvOf(tb, ev.Object) != rv {
		tb.Fatalf("got event %s; want %s %s rv=%d", got, typ, name, rv)
	}
	return ev
}

// describe prints an event for failure messages.
func describe(ev watch.Event) string {
	if st, ok := ev.Object.(*metav1.Status); ok {
		return fmt.Sprintf("%s %d %s %q", ev.Type, st.Code, st.Reason, st.Message)
	}
	if m, ok := ev.Object.(metav1.Object); ok {
		return fmt.Sprintf("%s %s/%s rv=%s labels=%v annotations=%v", ev.Type, m.GetNamespace(), m.GetName(), m.GetResourceVersion(), m.GetLabels(), m.GetAnnotations())
	}
	return fmt.Sprintf("%s %T", ev.Type, ev.Object)
}
