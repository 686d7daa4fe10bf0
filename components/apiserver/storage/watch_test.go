package storage

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
)

// startWatch starts a watch that the test stops when it ends.
func startWatch(tb testing.TB, s *Store, namespace string, opts WatchOptions) watch.Interface {
	tb.Helper()
	w, err := s.Watch(context.Background(), namespace, opts)
	if err != nil {
		tb.Fatalf("watch %q %+v: %v", namespace, opts, err)
	}
	tb.Cleanup(w.Stop)
	return w
}

// setLabel updates a pod's label and returns the pod as written.
func setLabel(tb testing.TB, s *Store, namespace, name, key, value string) k8sruntime.Object {
	tb.Helper()
	out, err := s.GuaranteedUpdate(context.Background(), namespace, name, Preconditions{}, func(cur k8sruntime.Object) (k8sruntime.Object, error) {
		m := cur.(metav1.Object)
		labels := m.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[key] = value
		m.SetLabels(labels)
		return cur, nil
	})
	if err != nil {
		tb.Fatalf("set label %s=%s on %s/%s: %v", key, value, namespace, name, err)
	}
	return out
}

func mustDelete(tb testing.TB, s *Store, namespace, name string) k8sruntime.Object {
	tb.Helper()
	out, err := s.Delete(context.Background(), namespace, name, Preconditions{})
	if err != nil {
		tb.Fatalf("delete %s/%s: %v", namespace, name, err)
	}
	return out
}

// expectBookmark reads the next event and checks it is a BOOKMARK of a
// Pod with only resourceVersion (at least minRV) and, if initialEnd, the
// initial-events-end annotation. It returns the bookmark's revision.
func expectBookmark(tb testing.TB, w watch.Interface, minRV int64, initialEnd bool) int64 {
	tb.Helper()
	ev := nextEvent(tb, w)
	p, ok := ev.Object.(*corev1.Pod)
	if ev.Type != watch.Bookmark || !ok {
		tb.Fatalf("got %s; want a BOOKMARK", describe(ev))
	}
	rv := rvOf(tb, p)
	wantAnnotations := map[string]string(nil)
	if initialEnd {
		wantAnnotations = map[string]string{"k8s.io/initial-events-end": "true"}
	}
	if rv < minRV || p.Kind != "Pod" || p.APIVersion != "v1" || p.Name != "" || len(p.Spec.Containers) != 0 ||
		fmt.Sprint(p.Annotations) != fmt.Sprint(wantAnnotations) {
		tb.Fatalf("bookmark %s kind=%s/%s; want rv >= %d, kind v1/Pod, annotations %v and nothing else", describe(ev), p.APIVersion, p.Kind, minRV, wantAnnotations)
	}
	return rv
}

// TestWatchFromResourceVersion: a watch from the resourceVersion of a list
// sends every change after it, in order. Reference: Kubernetes API
// concepts, "Efficient detection of changes".
func TestWatchFromResourceVersion(t *testing.T) {
	s := newPodStore(t)
	mustCreate(t, s, pod("default", "before", nil))
	list := mustList(t, s, "", ListOptions{})
	w := startWatch(t, s, "default", WatchOptions{ResourceVersion: list.ResourceVersion})

	added := mustCreate(t, s, pod("default", "web", nil))
	mustCreate(t, s, pod("other", "web", nil)) // another namespace: not sent
	modified := setLabel(t, s, "default", "web", "app", "web")
	deleted := mustDelete(t, s, "default", "web")

	expectEvent(t, w, watch.Added, "web", rvOf(t, added))
	ev := expectEvent(t, w, watch.Modified, "web", rvOf(t, modified))
	if ev.Object.(*corev1.Pod).Labels["app"] != "web" {
		t.Errorf("MODIFIED carries %v; want the new labels", ev.Object.(*corev1.Pod).Labels)
	}
	ev = expectEvent(t, w, watch.Deleted, "web", rvOf(t, deleted))
	if p := ev.Object.(*corev1.Pod); p.Labels["app"] != "web" || p.Spec.Containers[0].Image != "nginx" {
		t.Errorf("DELETED carries %+v; want the last state", p.ObjectMeta)
	}
}

// TestWatchInitialEvents: sendInitialEvents=true sends the state, then
// the initial-events-end bookmark, then changes: kubectl's watch-list.
// Reference: Kubernetes API concepts, "Streaming lists"; KUBECTL-CONTRACT.md,
// "delete".
func TestWatchInitialEvents(t *testing.T) {
	s := newPodStore(t)
	var last k8sruntime.Object
	for _, name := range []string{"p2", "p0", "p1"} {
		last = mustCreate(t, s, pod("default", name, nil))
	}
	mustCreate(t, s, pod("other", "p9", nil))

	w := startWatch(t, s, "default", WatchOptions{SendInitialEvents: ptr.To(true), AllowBookmarks: true})
	for _, name := range []string{"p0", "p1", "p2"} {
		expectEvent(t, w, watch.Added, name, 0)
	}
	rv := expectBookmark(t, w, rvOf(t, last), true)
	live := mustCreate(t, s, pod("default", "p3", nil))
	expectEvent(t, w, watch.Added, "p3", rvOf(t, live))

	// From a resourceVersion the state is at least that new.
	w = startWatch(t, s, "default", WatchOptions{ResourceVersion: fmt.Sprint(rv), SendInitialEvents: ptr.To(true), AllowBookmarks: true})
	for _, name := range []string{"p0", "p1", "p2", "p3"} {
		expectEvent(t, w, watch.Added, name, 0)
	}
	expectBookmark(t, w, rvOf(t, live), true)

	// Without AllowBookmarks there is no bookmark: the next event is live.
	w = startWatch(t, s, "default", WatchOptions{SendInitialEvents: ptr.To(true)})
	for _, name := range []string{"p0", "p1", "p2", "p3"} {
		expectEvent(t, w, watch.Added, name, 0)
	}
	mustCreate(t, s, pod("default", "p4", nil))
	expectEvent(t, w, watch.Added, "p4", 0)

	_, err := s.Watch(context.Background(), "default", WatchOptions{ResourceVersion: fmt.Sprint(rvOf(t, live) + 1000), SendInitialEvents: ptr.To(true)})
	if !apierrors.IsTimeout(err) {
		t.Errorf("watch-list from a future resourceVersion: %v; want Timeout (too large resource version)", err)
	}
}

// TestWatchLegacyInitialEvents: resourceVersion "" or "0" without
// sendInitialEvents sends the state as ADDED events, and no
// initial-events-end bookmark; sendInitialEvents=false only changes.
// Reference: Kubernetes API concepts, "Semantics for watch".
func TestWatchLegacyInitialEvents(t *testing.T) {
	s := newPodStore(t)
	mustCreate(t, s, pod("default", "p0", nil))
	existing := []string{"p0"}
	for i, rv := range []string{"", "0"} {
		w := startWatch(t, s, "", WatchOptions{ResourceVersion: rv, AllowBookmarks: true})
		for _, name := range existing {
			expectEvent(t, w, watch.Added, name, 0)
		}
		name := fmt.Sprintf("p%d", i+1)
		mustCreate(t, s, pod("default", name, nil))
		expectEvent(t, w, watch.Added, name, 0)
		existing = append(existing, name)
	}
	w := startWatch(t, s, "", WatchOptions{SendInitialEvents: ptr.To(false)})
	mustCreate(t, s, pod("default", "newest", nil))
	expectEvent(t, w, watch.Added, "newest", 0)
}

// TestWatchPredicate: an object that starts or stops matching the
// selector is ADDED or DELETED for a watch with that selector.
// Reference: Kubernetes API concepts, "Watch" (label selectors).
func TestWatchPredicate(t *testing.T) {
	s := newPodStore(t)
	w := startWatch(t, s, "", WatchOptions{SendInitialEvents: ptr.To(false), Predicate: hasLabel("app", "web")})

	mustCreate(t, s, pod("default", "x", map[string]string{"app": "web"}))
	expectEvent(t, w, watch.Added, "x", 0)

	left := setLabel(t, s, "default", "x", "app", "db")
	ev := expectEvent(t, w, watch.Deleted, "x", rvOf(t, left))
	if got := ev.Object.(*corev1.Pod).Labels["app"]; got != "web" {
		t.Errorf("DELETED for leaving the selector carries app=%s; want the last matching state, app=web", got)
	}

	back := setLabel(t, s, "default", "x", "app", "web")
	ev = expectEvent(t, w, watch.Added, "x", rvOf(t, back))
	if got := ev.Object.(*corev1.Pod).Labels["app"]; got != "web" {
		t.Errorf("ADDED for entering the selector carries app=%s", got)
	}

	// Changes to objects that never match are not sent: the next event
	// is the one after them.
	mustCreate(t, s, pod("default", "y", map[string]string{"app": "db"}))
	setLabel(t, s, "default", "y", "tier", "backend")
	mustDelete(t, s, "default", "y")
	touched := setLabel(t, s, "default", "x", "tier", "frontend")
	expectEvent(t, w, watch.Modified, "x", rvOf(t, touched))

	deleted := mustDelete(t, s, "default", "x")
	expectEvent(t, w, watch.Deleted, "x", rvOf(t, deleted))
}

// TestWatchName: the watch kubectl delete makes to wait for one object.
func TestWatchName(t *testing.T) {
	s := newPodStore(t)
	mustCreate(t, s, pod("default", "web", nil))
	mustCreate(t, s, pod("default", "web-2", nil))
	w := startWatch(t, s, "default", WatchOptions{Name: "web", SendInitialEvents: ptr.To(true), AllowBookmarks: true})
	expectEvent(t, w, watch.Added, "web", 0)
	expectBookmark(t, w, 0, true)
	mustDelete(t, s, "default", "web-2")
	deleted := mustDelete(t, s, "default", "web")
	expectEvent(t, w, watch.Deleted, "web", rvOf(t, deleted))

	// One node: cluster-scoped, watched through the prefix.
	nodes := newNodeStore(t)
	for _, n := range []string{"node1", "node10"} {
		mustCreate(t, nodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	nw := startWatch(t, nodes, "", WatchOptions{Name: "node1"})
	expectEvent(t, nw, watch.Added, "node1", 0)
	nodes.Delete(context.Background(), "", "node10", Preconditions{})
	nodes.Delete(context.Background(), "", "node1", Preconditions{})
	expectEvent(t, nw, watch.Deleted, "node1", 0)
}

// TestWatchCompacted: a watch from a revision etcd compacted gets one
// ERROR event, 410 Expired, and ends. Reference: Kubernetes API concepts,
// "410 Gone responses".
func TestWatchCompacted(t *testing.T) {
	s := newPodStore(t)
	created := mustCreate(t, s, pod("default", "web", nil))
	setLabel(t, s, "default", "web", "a", "1")
	setLabel(t, s, "default", "web", "a", "2")
	compacted := compact(t)

	w := startWatch(t, s, "", WatchOptions{ResourceVersion: created.(*corev1.Pod).ResourceVersion})
	ev := nextEvent(t, w)
	st, ok := ev.Object.(*metav1.Status)
	if ev.Type != watch.Error || !ok || st.Code != 410 || st.Reason != metav1.StatusReasonExpired {
		t.Fatalf("got %s; want ERROR 410 Expired", describe(ev))
	}
	want := fmt.Sprintf("too old resource version: %s (%d); list again for a current resourceVersion", created.(*corev1.Pod).ResourceVersion, compacted)
	if st.Message != want {
		t.Errorf("message %q; want %q", st.Message, want)
	}
	select {
	case ev, open := <-w.ResultChan():
		if open {
			t.Errorf("after the ERROR got %s; want the channel closed", describe(ev))
		}
	case <-time.After(eventWait):
		t.Error("the channel stayed open after the ERROR event")
	}
}

// TestWatchBookmarks: with AllowBookmarks, a BOOKMARK comes every
// interval, at a revision at least that of the last event; a watch
// without AllowBookmarks on the same etcd stream gets none.
// Reference: Kubernetes API concepts, "Watch bookmarks".
func TestWatchBookmarks(t *testing.T) {
	s := newPodStore(t)
	plain := startWatch(t, s, "", WatchOptions{SendInitialEvents: ptr.To(false)})
	w := startWatch(t, s, "", WatchOptions{SendInitialEvents: ptr.To(false), AllowBookmarks: true, BookmarkInterval: 20 * time.Millisecond})
	created := mustCreate(t, s, pod("default", "web", nil))
	expectEvent(t, w, watch.Added, "web", rvOf(t, created))
	rv := rvOf(t, created)
	for range 3 {
		rv = expectBookmark(t, w, rv, false)
	}
	// The plain watch saw etcd's progress notifications too, and dropped
	// them: its next events are the pods.
	second := mustCreate(t, s, pod("default", "web-2", nil))
	expectEvent(t, plain, watch.Added, "web", rvOf(t, created))
	expectEvent(t, plain, watch.Added, "web-2", rvOf(t, second))
}

// TestWatchStopReleases: Stop and a cancelled context release the etcd
// watch and every goroutine behind it.
func TestWatchStopReleases(t *testing.T) {
	s := newPodStore(t)
	mustCreate(t, s, pod("default", "web", map[string]string{"app": "web"}))
	baseline := runtime.NumGoroutine()

	var watches []watch.Interface
	for i := range 10 {
		opts := WatchOptions{AllowBookmarks: i%2 == 0, BookmarkInterval: 10 * time.Millisecond}
		if i%3 == 0 {
			opts.Predicate = hasLabel("app", "web")
		}
		w, err := s.Watch(context.Background(), "", opts)
		if err != nil {
			t.Fatal(err)
		}
		watches = append(watches, w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var cancelled []watch.Interface
	for range 5 {
		w, err := s.Watch(ctx, "default", WatchOptions{AllowBookmarks: true, BookmarkInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		cancelled = append(cancelled, w)
	}
	// Every watch is running: it has sent the initial ADDED.
	for _, w := range append(watches, cancelled...) {
		expectEvent(t, w, watch.Added, "web", 0)
	}
	// A watch nobody reads, with a full channel, stops too.
	for i := range WatchBufferSize + 10 {
		mustCreate(t, s, pod("default", fmt.Sprintf("p%d", i), nil))
	}
	for _, w := range watches {
		w.Stop()
		w.Stop() // twice is fine
	}
	cancel()
	for _, w := range cancelled {
		for range w.ResultChan() { // closes once the watch has ended
		}
	}

	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines 10 s after the watches stopped; %d before they started:\n%s",
				runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatchSlowConsumer: a watch whose consumer leaves the channel full
// for SlowConsumerTimeout ends, after the events the channel holds.
func TestWatchSlowConsumer(t *testing.T) {
	s := newConfigMapStore(t)
	w := startWatch(t, s, "", WatchOptions{SendInitialEvents: ptr.To(false), SlowConsumerTimeout: 50 * time.Millisecond})
	for i := range WatchBufferSize + 1 {
		mustCreate(t, s, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("cm%d", i)}})
	}
	select {
	case <-w.(*watcher).done:
	case <-time.After(eventWait):
		t.Fatalf("the watch still runs %v after its consumer stalled", eventWait)
	}
	n := 0
	for range w.ResultChan() {
		n++
	}
	if n != WatchBufferSize {
		t.Errorf("the stalled consumer got %d events; want the %d the channel held", n, WatchBufferSize)
	}
}

// TestTranslate checks the watch event each etcd event becomes, without
// etcd. Reference: the table on filter.translate.
func TestTranslate(t *testing.T) {
	s := New(nil, DefaultCodec(), schema.GroupResource{Resource: "pods"}, "/registry/pods",
		func() k8sruntime.Object { return &corev1.Pod{} }, func() k8sruntime.Object { return &corev1.PodList{} })
	value := func(app string) []byte {
		data, err := s.encode(pod("default", "x", map[string]string{"app": app}))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	kv := func(app string, create, mod int64) *mvccpb.KeyValue {
		return &mvccpb.KeyValue{Key: []byte("/registry/pods/default/x"), Value: value(app), CreateRevision: create, ModRevision: mod}
	}
	put := func(prev *mvccpb.KeyValue, cur *mvccpb.KeyValue) *clientv3.Event {
		return &clientv3.Event{Type: clientv3.EventTypePut, Kv: cur, PrevKv: prev}
	}
	del := func(prev *mvccpb.KeyValue, rev int64) *clientv3.Event {
		return &clientv3.Event{Type: clientv3.EventTypeDelete, Kv: &mvccpb.KeyValue{Key: prev.Key, ModRevision: rev}, PrevKv: prev}
	}
	web := filter{store: s, predicate: hasLabel("app", "web")}
	all := filter{store: s}
	for _, c := range []struct {
		name   string
		f      filter
		e      *clientv3.Event
		want   watch.EventType // "" for none
		app    string          // the label of the object sent
		wantRV int64
	}{
		{"create", all, put(nil, kv("db", 5, 5)), watch.Added, "db", 5},
		{"update", all, put(kv("db", 5, 5), kv("web", 5, 6)), watch.Modified, "web", 6},
		{"delete", all, del(kv("web", 5, 6), 7), watch.Deleted, "web", 7},
		{"create matching", web, put(nil, kv("web", 5, 5)), watch.Added, "web", 5},
		{"create not matching", web, put(nil, kv("db", 5, 5)), "", "", 0},
		{"update matching", web, put(kv("web", 5, 5), kv("web", 5, 6)), watch.Modified, "web", 6},
		{"update into", web, put(kv("db", 5, 5), kv("web", 5, 6)), watch.Added, "web", 6},
		{"update out of", web, put(kv("web", 5, 5), kv("db", 5, 6)), watch.Deleted, "web", 6},
		{"update outside", web, put(kv("db", 5, 5), kv("db", 5, 6)), "", "", 0},
		{"delete matching", web, del(kv("web", 5, 6), 7), watch.Deleted, "web", 7},
		{"delete not matching", web, del(kv("db", 5, 6), 7), "", "", 0},
		{"name", filter{store: s, name: "x"}, put(nil, kv("db", 5, 5)), watch.Added, "db", 5},
		{"other name", filter{store: s, name: "y"}, put(nil, kv("db", 5, 5)), "", "", 0},
	} {
		ev, ok, err := c.f.translate(c.e)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if c.want == "" {
			if ok {
				t.Errorf("%s: sent %s; want nothing", c.name, describe(ev))
			}
			continue
		}
		p, _ := ev.Object.(*corev1.Pod)
		if !ok || ev.Type != c.want || p == nil || p.Labels["app"] != c.app || p.ResourceVersion != fmt.Sprint(c.wantRV) {
			t.Errorf("%s: sent %s (ok=%v); want %s app=%s rv=%d", c.name, describe(ev), ok, c.want, c.app, c.wantRV)
		}
	}
	if _, _, err := web.translate(del(&mvccpb.KeyValue{Key: []byte("/registry/pods/default/x"), Value: []byte("{not json")}, 7)); err == nil {
		t.Error("a value that does not decode gave no error")
	}
}
