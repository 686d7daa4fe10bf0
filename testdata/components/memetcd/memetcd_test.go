package main

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinykube/tinykube/plugins"
	"github.com/tinykube/tinykube/plugins/conformance"
)

// Reference: plugins/contract.go, the Component lifecycle.
func TestConformance(t *testing.T) {
	conformance.RunInProcess(t, func() plugins.Component { return New() })
}

// start runs memetcd on loopback and returns a real etcd client for it: the
// best judge of whether memetcd speaks etcd's API.
func start(t *testing.T) (*Memetcd, *clientv3.Client) {
	t.Helper()
	m := New()
	s := conformance.SettingsFor(t, plugins.KindEtcd)
	if err := m.Start(context.Background(), s); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), plugins.StopGrace)
		defer cancel()
		if err := m.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	conformance.WaitHealthy(t, m, conformance.HealthyWithin)
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{"127.0.0.1:" + s.Values["client-port"]},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return m, c
}

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func put(t *testing.T, c *clientv3.Client, key, value string, opts ...clientv3.OpOption) *clientv3.PutResponse {
	t.Helper()
	resp, err := c.Put(testCtx(t), key, value, opts...)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return resp
}

func get(t *testing.T, c *clientv3.Client, key string, opts ...clientv3.OpOption) *clientv3.GetResponse {
	t.Helper()
	resp, err := c.Get(testCtx(t), key, opts...)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return resp
}

// keys renders kvs as "key=value@create/mod/version" for comparison.
func keys(kvs []*mvccpb.KeyValue) string {
	s := ""
	for _, kv := range kvs {
		s += fmt.Sprintf("%s=%s@%d/%d/%d ", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version)
	}
	return s
}

// Reference: https://etcd.io/docs/v3.5/learning/data_model/, "Logical view".
func TestRevisions(t *testing.T) {
	_, c := start(t)
	if rev := get(t, c, "foo").Header.Revision; rev != 1 {
		t.Fatalf("empty store at revision %d, want 1", rev)
	}
	put(t, c, "foo", "v1") // revision 2
	put(t, c, "foo", "v2") // revision 3
	if rev := put(t, c, "bar", "x").Header.Revision; rev != 4 {
		t.Errorf("third put at revision %d, want 4", rev)
	}
	if got, want := keys(get(t, c, "foo").Kvs), "foo=v2@2/3/2 "; got != want {
		t.Errorf("get foo = %q, want %q", got, want)
	}
	if got, want := keys(get(t, c, "foo", clientv3.WithRev(2)).Kvs), "foo=v1@2/2/1 "; got != want {
		t.Errorf("get foo at revision 2 = %q, want %q", got, want)
	}

	if _, err := c.Delete(testCtx(t), "foo"); err != nil {
		t.Fatal(err)
	}
	put(t, c, "foo", "again") // revision 6: a new life, version 1
	if got, want := keys(get(t, c, "foo").Kvs), "foo=again@6/6/1 "; got != want {
		t.Errorf("recreated foo = %q, want %q", got, want)
	}
	if got := get(t, c, "foo", clientv3.WithRev(5)).Kvs; len(got) != 0 {
		t.Errorf("get foo at revision 5, after its delete = %q, want nothing", keys(got))
	}

	if _, err := c.Compact(testCtx(t), 4); err != nil {
		t.Fatalf("compact: %v", err)
	}
	if _, err := c.Get(testCtx(t), "foo", clientv3.WithRev(3)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("get at a compacted revision: err = %v, want ErrCompacted", err)
	}
	if got, want := keys(get(t, c, "foo", clientv3.WithRev(4)).Kvs), "foo=v2@2/3/2 "; got != want {
		t.Errorf("get foo at the compaction revision = %q, want %q", got, want)
	}
	if _, err := c.Get(testCtx(t), "foo", clientv3.WithRev(100)); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Errorf("get at a future revision: err = %v, want ErrFutureRev", err)
	}
}

func TestRange(t *testing.T) {
	_, c := start(t)
	for _, k := range []string{"/registry/pods/b", "/registry/pods/a", "/registry/pods/c", "/registry/services/x", "/other"} {
		put(t, c, k, "v")
	}
	names := func(r *clientv3.GetResponse) string {
		s := ""
		for _, kv := range r.Kvs {
			s += string(kv.Key) + ":" + string(kv.Value) + " "
		}
		return s
	}
	for _, tc := range []struct {
		name      string
		opts      []clientv3.OpOption
		want      string
		count     int64
		more      bool
		fromStart string
	}{
		{"prefix", []clientv3.OpOption{clientv3.WithPrefix()},
			"/registry/pods/a:v /registry/pods/b:v /registry/pods/c:v ", 3, false, "/registry/pods/"},
		{"limit", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithLimit(2)},
			"/registry/pods/a:v /registry/pods/b:v ", 3, true, "/registry/pods/"},
		{"keys only", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithKeysOnly()},
			"/registry/pods/a: /registry/pods/b: /registry/pods/c: ", 3, false, "/registry/pods/"},
		{"count only", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithCountOnly()},
			"", 5, false, ""},
		{"from key", []clientv3.OpOption{clientv3.WithFromKey()},
			"/registry/services/x:v ", 1, false, "/registry/q"},
		{"range", []clientv3.OpOption{clientv3.WithRange("/registry/pods/c")},
			"/registry/pods/a:v /registry/pods/b:v ", 2, false, "/registry/pods/a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, c, tc.fromStart, tc.opts...)
			if got := names(r); got != tc.want || r.Count != tc.count || r.More != tc.more {
				t.Errorf("got %q count %d more %v, want %q count %d more %v", got, r.Count, r.More, tc.want, tc.count, tc.more)
			}
		})
	}
	_, err := c.Get(testCtx(t), "/", clientv3.WithLastKey()...)
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("sorted read: err = %v, want Unimplemented", err)
	}
}

func TestDelete(t *testing.T) {
	_, c := start(t)
	put(t, c, "/a/1", "one")
	put(t, c, "/a/2", "two")
	put(t, c, "/b", "bee")
	r, err := c.Delete(testCtx(t), "/a/", clientv3.WithPrefix(), clientv3.WithPrevKV())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(r.PrevKvs), "/a/1=one@2/2/1 /a/2=two@3/3/1 "; r.Deleted != 2 || got != want {
		t.Errorf("delete /a/ = %d deleted, prev %q; want 2, %q", r.Deleted, got, want)
	}
	if r.Header.Revision != 5 {
		t.Errorf("delete of two keys at revision %d, want 5 (one revision for both)", r.Header.Revision)
	}
	r, err = c.Delete(testCtx(t), "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	if r.Deleted != 0 || r.Header.Revision != 5 {
		t.Errorf("delete of nothing: %d deleted at revision %d, want 0 at 5 (unchanged)", r.Deleted, r.Header.Revision)
	}
	if got := keys(get(t, c, "/", clientv3.WithPrefix()).Kvs); got != "/b=bee@4/4/1 " {
		t.Errorf("left after delete: %q", got)
	}
}

// The apiserver's optimistic concurrency, as in clientv3/kubernetes
// OptimisticPut: put if mod_revision is unchanged, else get.
func TestTxn(t *testing.T) {
	_, c := start(t)
	update := func(key, value string, modRev int64) *clientv3.TxnResponse {
		t.Helper()
		r, err := c.Txn(testCtx(t)).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
			Then(clientv3.OpPut(key, value)).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			t.Fatalf("txn: %v", err)
		}
		return r
	}
	if r := update("/pod", "created", 0); !r.Succeeded || r.Header.Revision != 2 {
		t.Fatalf("create with mod_revision 0: succeeded %v at revision %d, want true at 2", r.Succeeded, r.Header.Revision)
	}
	if r := update("/pod", "stale", 0); r.Succeeded {
		t.Errorf("second create succeeded, want it to fail")
	} else if got := keys(r.Responses[0].GetResponseRange().Kvs); got != "/pod=created@2/2/1 " {
		t.Errorf("failed txn's get = %q", got)
	} else if r.Header.Revision != 2 {
		t.Errorf("failed txn moved the revision to %d", r.Header.Revision)
	}
	if r := update("/pod", "updated", 2); !r.Succeeded {
		t.Errorf("update at the right mod_revision failed")
	}

	// Other compares, several ops, and reads that see the txn's own writes.
	r, err := c.Txn(testCtx(t)).
		If(clientv3.Compare(clientv3.Value("/pod"), "=", "updated"),
			clientv3.Compare(clientv3.Version("/pod"), ">", 1),
			clientv3.Compare(clientv3.CreateRevision("/missing"), "=", 0)).
		Then(clientv3.OpPut("/x", "1"), clientv3.OpPut("/y", "2"), clientv3.OpGet("/", clientv3.WithPrefix(), clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		t.Fatal(err)
	}
	if !r.Succeeded || r.Header.Revision != 4 || r.Responses[2].GetResponseRange().Count != 3 {
		t.Errorf("txn: succeeded %v at revision %d, count %d; want true at 4, count 3", r.Succeeded, r.Header.Revision, r.Responses[2].GetResponseRange().Count)
	}
	if got := keys(get(t, c, "/y").Kvs); got != "/y=2@4/4/1 " {
		t.Errorf("/y = %q, want it written at the txn's one revision", got)
	}
	if r, _ := c.Txn(testCtx(t)).If(clientv3.Compare(clientv3.Value("/missing"), "=", "")).Commit(); r == nil || r.Succeeded {
		t.Errorf("value compare on a missing key succeeded, want it to fail as in etcd")
	}

	_, err = c.Txn(testCtx(t)).Then(clientv3.OpPut("/x", "a"), clientv3.OpPut("/x", "b")).Commit()
	if !errors.Is(err, rpctypes.ErrDuplicateKey) {
		t.Errorf("two puts of one key: err = %v, want ErrDuplicateKey", err)
	}
	if rev := get(t, c, "/x").Header.Revision; rev != 4 {
		t.Errorf("a refused txn moved the revision to %d", rev)
	}
}

// next returns the next watch response, failing the test after a deadline.
func next(t *testing.T, wch clientv3.WatchChan) clientv3.WatchResponse {
	t.Helper()
	select {
	case r, ok := <-wch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no watch response within 5s")
	}
	panic("unreachable")
}

// events renders a watch response as "PUT key=value (prev) ...".
func events(r clientv3.WatchResponse) string {
	s := ""
	for _, ev := range r.Events {
		s += fmt.Sprintf("%s %s=%s@%d", ev.Type, ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision)
		if ev.PrevKv != nil {
			s += " (" + string(ev.PrevKv.Value) + ")"
		}
		s += "; "
	}
	return s
}

func TestWatch(t *testing.T) {
	_, c := start(t)
	wctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	prefix := c.Watch(wctx, "/registry/", clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithCreatedNotify())
	if r := next(t, prefix); !r.Created {
		t.Fatalf("first response %+v, want created", r)
	}
	one := c.Watch(wctx, "/registry/a", clientv3.WithFilterPut(), clientv3.WithCreatedNotify())
	if r := next(t, one); !r.Created {
		t.Fatalf("first response %+v, want created", r)
	}

	put(t, c, "/registry/a", "1")                                  // 2
	put(t, c, "/elsewhere", "x")                                   // 3
	put(t, c, "/registry/a", "2")                                  // 4
	if _, err := c.Delete(testCtx(t), "/registry/a"); err != nil { // 5
		t.Fatal(err)
	}
	var got string
	for len(got) < len("PUT /registry/a=1@2; PUT /registry/a=2@4 (1); DELETE /registry/a=@5 (2); ") {
		got += events(next(t, prefix))
	}
	if want := "PUT /registry/a=1@2; PUT /registry/a=2@4 (1); DELETE /registry/a=@5 (2); "; got != want {
		t.Errorf("prefix watch saw %q, want %q", got, want)
	}
	if got, want := events(next(t, one)), "DELETE /registry/a=@5; "; got != want {
		t.Errorf("key watch without puts saw %q, want %q", got, want)
	}

	// From an old revision: the history is replayed first.
	old := c.Watch(wctx, "/", clientv3.WithPrefix(), clientv3.WithRev(3))
	got = ""
	for len(got) < len("PUT /elsewhere=x@3; PUT /registry/a=2@4; DELETE /registry/a=@5; ") {
		got += events(next(t, old))
	}
	if want := "PUT /elsewhere=x@3; PUT /registry/a=2@4; DELETE /registry/a=@5; "; got != want {
		t.Errorf("watch from revision 3 saw %q, want %q", got, want)
	}

	// A progress request answers with the revision every watcher is at.
	if err := c.RequestProgress(wctx); err != nil {
		t.Fatal(err)
	}
	if r := next(t, prefix); !r.IsProgressNotify() || r.Header.Revision != 5 {
		t.Errorf("after a progress request got %+v, want a progress notify at revision 5", r)
	}

	// Before a compaction: the watch is canceled with ErrCompacted.
	if _, err := c.Compact(testCtx(t), 4); err != nil {
		t.Fatal(err)
	}
	r := next(t, c.Watch(wctx, "/", clientv3.WithPrefix(), clientv3.WithRev(2)))
	if !errors.Is(r.Err(), rpctypes.ErrCompacted) || r.CompactRevision != 4 {
		t.Errorf("watch from a compacted revision: err %v, compact revision %d; want ErrCompacted, 4", r.Err(), r.CompactRevision)
	}
}

// Stop must not wait for open watches until its deadline.
func TestStopEndsWatches(t *testing.T) {
	m, c := start(t)
	wch := c.Watch(testCtx(t), "/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	next(t, wch)
	stopCtx, cancel := context.WithTimeout(context.Background(), plugins.StopGrace)
	defer cancel()
	began := time.Now()
	if err := m.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("Stop with an open watch took %v", took)
	}
	if h, err := m.Health(context.Background()); err != nil || h.Healthy {
		t.Errorf("Health after Stop = %+v, %v; want unhealthy", h, err)
	}
}

// What etcdctl endpoint health, endpoint status, member list and lease
// grant ask.
func TestMaintenance(t *testing.T) {
	_, c := start(t)
	ep := c.Endpoints()[0]
	st, err := c.Status(testCtx(t), ep)
	if err != nil {
		t.Fatal(err)
	}
	if st.Leader != st.Header.MemberId || st.Version == "" || st.DbSize <= 0 || st.RaftIndex != 1 {
		t.Errorf("status = %+v", st)
	}
	if a, err := c.AlarmList(testCtx(t)); err != nil || len(a.Alarms) != 0 {
		t.Errorf("alarms = %v, %v; want none", a, err)
	}
	ml, err := c.MemberList(testCtx(t))
	if err != nil || len(ml.Members) != 1 || ml.Members[0].ID != st.Header.MemberId {
		t.Errorf("member list = %v, %v; want this one member", ml, err)
	}
	l, err := c.Grant(testCtx(t), 30)
	if err != nil {
		t.Fatal(err)
	}
	put(t, c, "/leased", "v", clientv3.WithLease(l.ID))
	if kv := get(t, c, "/leased").Kvs[0]; kv.Lease != int64(l.ID) {
		t.Errorf("leased key has lease %d, want %d", kv.Lease, l.ID)
	}
	if _, err := c.Put(testCtx(t), "/k", "v", clientv3.WithLease(12345)); !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Errorf("put with an unknown lease: err = %v, want ErrLeaseNotFound", err)
	}
	if _, err := c.Revoke(testCtx(t), l.ID); err == nil {
		t.Errorf("revoke succeeded; memetcd does not implement it")
	}
}
