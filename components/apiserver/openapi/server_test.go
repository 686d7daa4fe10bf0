package openapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// allVerbs are the verbs of an ordinary resource.
var allVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// testResources is a small resource table: one namespaced and one
// cluster-scoped core resource, one named-group resource with status and
// scale, the pods' subresources as tinykube serves them.
var testResources = []Resource{
	{Version: "v1", Kind: "Pod", Plural: "pods", Namespaced: true, Verbs: allVerbs,
		Subresources: []string{"status", "binding", "log", "exec", "attach", "eviction"}},
	{Version: "v1", Kind: "Namespace", Plural: "namespaces", Verbs: []string{"create", "delete", "get", "list", "patch", "update", "watch"},
		Subresources: []string{"status"}},
	{Group: "apps", Version: "v1", Kind: "Deployment", Plural: "deployments", Namespaced: true, Verbs: allVerbs,
		Subresources: []string{"status", "scale"}},
}

// fakeAPIServer serves the OpenAPI handler and just enough of the rest of
// an apiserver for kubectl explain and create to run: legacy discovery
// (/api, /apis and each group-version's resource list) for its resources,
// and a POST of pods that answers 201 with the body it got. It records the
// requests it saw.
type fakeAPIServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*url.URL // request URLs, in order
}

func newFakeAPIServer(t *testing.T, resources []Resource) *fakeAPIServer {
	t.Helper()
	h, err := NewHandler(resources)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	f := &fakeAPIServer{}
	mux := http.NewServeMux()
	mux.Handle("/openapi/", h)
	serveJSON := func(path string, v any) {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(v)
		})
	}
	serveJSON("/api", &metav1.APIVersions{
		TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: "127.0.0.1"}},
	})
	apps := metav1.GroupVersionForDiscovery{GroupVersion: "apps/v1", Version: "v1"}
	serveJSON("/apis", &metav1.APIGroupList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
		Groups:   []metav1.APIGroup{{Name: "apps", Versions: []metav1.GroupVersionForDiscovery{apps}, PreferredVersion: apps}},
	})
	for _, gv := range []string{"v1", "apps/v1"} {
		list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv}
		for _, r := range resources {
			if (r.Group == "" && gv != "v1") || (r.Group != "" && gv != r.Group+"/"+r.Version) {
				continue
			}
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: r.Plural, SingularName: strings.ToLower(r.Kind), Namespaced: r.Namespaced, Kind: r.Kind, Verbs: r.Verbs,
			})
		}
		path := "/apis/" + gv
		if gv == "v1" {
			path = "/api/v1"
		}
		serveJSON(path, list)
	}
	mux.HandleFunc("POST /api/v1/namespaces/{namespace}/pods", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "the fake apiserver does not serve "+r.URL.Path)
	})
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, r.URL)
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// requests returns the URLs requested so far whose path starts with prefix.
func (f *fakeAPIServer) requests(prefix string) []*url.URL {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*url.URL
	for _, u := range f.seen {
		if strings.HasPrefix(u.Path, prefix) {
			out = append(out, u)
		}
	}
	return out
}
