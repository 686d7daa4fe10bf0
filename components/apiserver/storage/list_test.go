package storage

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// names lists "namespace/name@rv" of a pod list's items, in order.
func names(tb testing.TB, list runtime.Object) []string {
	tb.Helper()
	var out []string
	for _, p := range list.(*corev1.PodList).Items {
		out = append(out, p.Namespace+"/"+p.Name+"@"+p.ResourceVersion)
	}
	return out
}

// namesOnly strips "@rv" from names.
func namesOnly(tb testing.TB, list runtime.Object) string {
	tb.Helper()
	var out []string
	for _, n := range names(tb, list) {
		out = append(out, n[:strings.Index(n, "@")])
	}
	return strings.Join(out, " ")
}

func mustList(tb testing.TB, s *Store, namespace string, opts ListOptions) *corev1.PodList {
	tb.Helper()
	list, err := s.List(context.Background(), namespace, opts)
	if err != nil {
		tb.Fatalf("list %q %+v: %v", namespace, opts, err)
	}
	return list.(*corev1.PodList)
}

func hasLabel(key, value string) func(runtime.Object) bool {
	return func(obj runtime.Object) bool { return obj.(metav1.Object).GetLabels()[key] == value }
}

func TestList(t *testing.T) {
	s := newPodStore(t)
	mustCreate(t, s, pod("b", "web", map[string]string{"app": "web"}))
	mustCreate(t, s, pod("a", "db", map[string]string{"app": "db"}))
	mustCreate(t, s, pod("a", "web", map[string]string{"app": "web"}))
	mustCreate(t, s, pod("ab", "web", map[string]string{"app": "web"})) // not in namespace "a"
	last := mustCreate(t, s, pod("a", "cache", nil))

	all := mustList(t, s, "", ListOptions{})
	if got, want := namesOnly(t, all), "a/cache a/db a/web ab/web b/web"; got != want {
		t.Errorf("all namespaces: %s; want %s", got, want)
	}
	if rvOf(t, all) < rvOf(t, last) {
		t.Errorf("list resourceVersion %s is older than its newest item %d", all.ResourceVersion, rvOf(t, last))
	}
	for _, p := range all.Items {
		if p.ResourceVersion == "" || p.Kind != "Pod" {
			t.Errorf("item %s/%s: resourceVersion %q kind %q", p.Namespace, p.Name, p.ResourceVersion, p.Kind)
		}
	}
	if all.Continue != "" || all.RemainingItemCount != nil {
		t.Errorf("an unlimited list has continue %q remaining %v", all.Continue, all.RemainingItemCount)
	}
	if got, want := namesOnly(t, mustList(t, s, "a", ListOptions{})), "a/cache a/db a/web"; got != want {
		t.Errorf("namespace a: %s; want %s", got, want)
	}
	if got, want := namesOnly(t, mustList(t, s, "", ListOptions{Predicate: hasLabel("app", "web")})), "a/web ab/web b/web"; got != want {
		t.Errorf("app=web: %s; want %s", got, want)
	}
	if got := mustList(t, s, "nope", ListOptions{}); len(got.Items) != 0 || got.ResourceVersion == "" {
		t.Errorf("empty namespace: %d items, resourceVersion %q", len(got.Items), got.ResourceVersion)
	}
	if n, err := s.Count(context.Background()); err != nil || n != 5 {
		t.Errorf("Count = %d, %v; want 5", n, err)
	}

	nodes := newNodeStore(t)
	for _, n := range []string{"node2", "node1"} {
		mustCreate(t, nodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	list, err := nodes.List(context.Background(), "", ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if items := list.(*corev1.NodeList).Items; len(items) != 2 || items[0].Name != "node1" || items[1].Name != "node2" {
		t.Errorf("nodes: %+v", items)
	}
}

// TestListPaging: pages of a limited list fit together as one list at the
// first page's revision, whatever is written between them. Reference:
// Kubernetes API concepts, "Retrieving large results sets in chunks".
func TestListPaging(t *testing.T) {
	s := newPodStore(t)
	ctx := context.Background()
	for i := range 10 {
		mustCreate(t, s, pod("default", fmt.Sprintf("p%02d", i), map[string]string{"even": fmt.Sprint(i%2 == 0)}))
	}
	snapshot := mustList(t, s, "", ListOptions{})

	var got []string
	opts := ListOptions{Limit: 3}
	for page, wantRemaining := range []int64{7, 4, 1, -1} {
		list := mustList(t, s, "", opts)
		got = append(got, names(t, list)...)
		if list.ResourceVersion != snapshot.ResourceVersion {
			t.Errorf("page %d: resourceVersion %s; want the first page's %s", page, list.ResourceVersion, snapshot.ResourceVersion)
		}
		if wantRemaining < 0 {
			if list.Continue != "" || list.RemainingItemCount != nil {
				t.Errorf("last page: continue %q remaining %v; want neither", list.Continue, list.RemainingItemCount)
			}
			break
		}
		if list.Continue == "" || list.RemainingItemCount == nil || *list.RemainingItemCount != wantRemaining {
			t.Fatalf("page %d: continue %q remaining %v; want a token and %d", page, list.Continue, list.RemainingItemCount, wantRemaining)
		}
		// Change things between pages: none of it may show.
		mustCreate(t, s, pod("default", fmt.Sprintf("p%02da", page), nil))
		if page == 0 {
			if _, err := s.Delete(ctx, "default", "p09", Preconditions{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.GuaranteedUpdate(ctx, "default", "p08", Preconditions{}, func(cur runtime.Object) (runtime.Object, error) {
			cur.(*corev1.Pod).Labels["touched"] = fmt.Sprint(page)
			return cur, nil
		}); err != nil {
			t.Fatal(err)
		}
		opts = ListOptions{Limit: 3, Continue: list.Continue}
	}
	if want := names(t, snapshot); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("pages:\n%v\nwant the list at the first page's revision:\n%v", got, want)
	}

	// A predicate filters before the limit counts: 3 even pods a page.
	// (The pages are read at the revision of the first, before p09 went.)
	opts = ListOptions{Limit: 3, Predicate: hasLabel("even", "true")}
	var pages []string
	for {
		list := mustList(t, s, "", opts)
		pages = append(pages, namesOnly(t, list))
		if list.RemainingItemCount != nil {
			t.Errorf("remainingItemCount %d with a predicate; want none (unknown)", *list.RemainingItemCount)
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	if got, want := strings.Join(pages, " | "), "default/p00 default/p02 default/p04 | default/p06 default/p08"; got != want {
		t.Errorf("even pods, 3 a page: %s; want %s", got, want)
	}

	_, err := s.List(ctx, "", ListOptions{Limit: 3, Continue: snapshot.ResourceVersion})
	if !apierrors.IsBadRequest(err) {
		t.Errorf("a made-up continue token: %v; want BadRequest", err)
	}
	tok, _ := encodeContinue("/elsewhere/x", "/elsewhere/", 5)
	_, err = s.List(ctx, "", ListOptions{Limit: 3, Continue: tok, ResourceVersion: "5"})
	if !apierrors.IsBadRequest(err) {
		t.Errorf("continue with a resourceVersion: %v; want BadRequest", err)
	}
}

// TestListContinueAfterCompaction: a continue token whose revision etcd
// has compacted gets 410 Expired, with Kubernetes' message and a token to
// go on inconsistently.
func TestListContinueAfterCompaction(t *testing.T) {
	s := newPodStore(t)
	for i := range 5 {
		mustCreate(t, s, pod("default", fmt.Sprintf("p%d", i), nil))
	}
	first := mustList(t, s, "", ListOptions{Limit: 2})
	mustCreate(t, s, pod("default", "p9", nil)) // so that the page's revision is history
	compact(t)

	_, err := s.List(context.Background(), "", ListOptions{Limit: 2, Continue: first.Continue})
	status, ok := err.(apierrors.APIStatus)
	if !ok || !apierrors.IsResourceExpired(err) || status.Status().Code != 410 ||
		!strings.HasPrefix(err.Error(), "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter") {
		t.Fatalf("continue after compaction: %v; want 410 Expired", err)
	}
	next := status.Status().ListMeta.Continue
	if next == "" {
		t.Fatal("the 410 carries no continue token to go on with")
	}
	rest := mustList(t, s, "", ListOptions{Limit: 10, Continue: next})
	if got, want := namesOnly(t, rest), "default/p2 default/p3 default/p4 default/p9"; got != want {
		t.Errorf("going on inconsistently: %s; want %s", got, want)
	}
}

// TestListResourceVersion covers resourceVersion and resourceVersionMatch.
// Reference: Kubernetes API concepts, "Semantics for get and list".
func TestListResourceVersion(t *testing.T) {
	s := newPodStore(t)
	ctx := context.Background()
	mustCreate(t, s, pod("default", "a", nil))
	before := mustList(t, s, "", ListOptions{})
	mustCreate(t, s, pod("default", "b", nil))

	for _, opts := range []ListOptions{
		{ResourceVersion: before.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact},
		{ResourceVersion: before.ResourceVersion, Limit: 10}, // no match, a limit: Exact
	} {
		if got := mustList(t, s, "", opts); namesOnly(t, got) != "default/a" || got.ResourceVersion != before.ResourceVersion {
			t.Errorf("%+v: %s at %s; want default/a at %s", opts, namesOnly(t, got), got.ResourceVersion, before.ResourceVersion)
		}
	}
	for _, opts := range []ListOptions{
		{},
		{ResourceVersion: "0"},
		{ResourceVersion: before.ResourceVersion},
		{ResourceVersion: before.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan},
		{ResourceVersion: "0", ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan},
	} {
		if got := namesOnly(t, mustList(t, s, "", opts)); got != "default/a default/b" {
			t.Errorf("%+v: %s; want the latest, default/a default/b", opts, got)
		}
	}

	current := mustList(t, s, "", ListOptions{})
	future := fmt.Sprint(rvOf(t, current) + 1000)
	_, err := s.List(ctx, "", ListOptions{ResourceVersion: future, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if st, ok := err.(apierrors.APIStatus); !ok || st.Status().Code != 504 || st.Status().Details == nil ||
		len(st.Status().Details.Causes) != 1 || st.Status().Details.Causes[0].Type != metav1.CauseTypeResourceVersionTooLarge {
		t.Errorf("a future resourceVersion: %v; want 504 with cause ResourceVersionTooLarge", err)
	}
	_, err = s.List(ctx, "", ListOptions{ResourceVersion: future, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if !apierrors.IsTimeout(err) {
		t.Errorf("Exact at a future resourceVersion: %v; want Timeout", err)
	}

	for _, opts := range []ListOptions{
		{ResourceVersion: "abc"},
		{ResourceVersion: "-3"},
		{ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan},
		{ResourceVersion: "0", ResourceVersionMatch: metav1.ResourceVersionMatchExact},
		{ResourceVersion: "5", ResourceVersionMatch: "Newest"},
		{Limit: -1},
	} {
		if _, err := s.List(ctx, "", opts); !apierrors.IsBadRequest(err) {
			t.Errorf("%+v: %v; want BadRequest", opts, err)
		}
	}

	compact(t)
	_, err = s.List(ctx, "", ListOptions{ResourceVersion: before.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if !apierrors.IsResourceExpired(err) {
		t.Errorf("Exact at a compacted revision: %v; want 410 Expired", err)
	}
}

func TestContinueToken(t *testing.T) {
	tok, err := encodeContinue("/registry/pods/default/web\x00", "/registry/pods/", 42)
	if err != nil {
		t.Fatal(err)
	}
	start, rev, err := decodeContinue(tok, "/registry/pods/")
	if err != nil || start != "/registry/pods/default/web\x00" || rev != 42 {
		t.Errorf("round trip: %q %d %v", start, rev, err)
	}
	for _, bad := range []string{
		`{"v":"meta.k8s.io/v1","rv":42,"start":"../secrets/default/x"}`,
		`{"v":"meta.k8s.io/v1","rv":42,"start":"/registry/secrets/x"}`,
		`{"v":"meta.k8s.io/v1","rv":42,"start":""}`,
		`{"v":"meta.k8s.io/v1","rv":0,"start":"default/x"}`,
		`{"v":"v2","rv":42,"start":"default/x"}`,
		`not json`,
	} {
		if _, _, err := decodeContinue(base64URL(bad), "/registry/pods/"); err == nil {
			t.Errorf("token %s was accepted", bad)
		}
	}
	if _, _, err := decodeContinue("!!!", "/registry/pods/"); err == nil {
		t.Error("a token that is not base64 was accepted")
	}
}

func base64URL(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
