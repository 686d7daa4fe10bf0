package openapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/validation/spec"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"
)

// get serves one request and returns the recorder.
func get(t *testing.T, h http.Handler, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// documents returns the index and every group-version document, decoded
// as plain JSON, by group-version path.
func documents(t *testing.T, h http.Handler) (Index, map[string]map[string]any) {
	t.Helper()
	var index Index
	rec := get(t, h, Path)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", Path, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &index); err != nil {
		t.Fatalf("GET %s: %v", Path, err)
	}
	docs := map[string]map[string]any{}
	for gv, entry := range index.Paths {
		rec := get(t, h, entry.ServerRelativeURL)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", entry.ServerRelativeURL, rec.Code, rec.Body)
		}
		var doc map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatalf("GET %s: %v", entry.ServerRelativeURL, err)
		}
		docs[gv] = doc
	}
	return index, docs
}

func newTestHandler(t *testing.T) http.Handler {
	t.Helper()
	h, err := NewHandler(testResources)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	return h
}

func TestIndexListsEveryGroupVersion(t *testing.T) {
	h := newTestHandler(t)
	index, docs := documents(t, h)
	var got []string
	for gv := range index.Paths {
		got = append(got, gv)
	}
	sort.Strings(got)
	if want := []string{"api/v1", "apis/apps/v1"}; !slices.Equal(got, want) {
		t.Fatalf("index paths: got %v, want %v", got, want)
	}
	for gv, entry := range index.Paths {
		prefix := "/openapi/v3/" + gv + "?hash="
		if !strings.HasPrefix(entry.ServerRelativeURL, prefix) {
			t.Errorf("%s: serverRelativeURL %q, want %s<hash>", gv, entry.ServerRelativeURL, prefix)
		}
		rec := get(t, h, entry.ServerRelativeURL)
		if etag, hash := rec.Header().Get("ETag"), strings.TrimPrefix(entry.ServerRelativeURL, prefix); etag != strconv.Quote(hash) {
			t.Errorf("%s: ETag %s, want the URL's hash %q", gv, etag, hash)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", gv, ct)
		}
		doc := docs[gv]
		if doc["openapi"] != "3.0.0" {
			t.Errorf("%s: openapi %v, want 3.0.0", gv, doc["openapi"])
		}
		if info := doc["info"].(map[string]any); info["title"] != "Kubernetes" || info["version"] != KubernetesVersion {
			t.Errorf("%s: info %v", gv, info)
		}
	}
}

// gvkList reads a schema's x-kubernetes-group-version-kind.
func gvkList(s map[string]any) []schema.GroupVersionKind {
	var out []schema.GroupVersionKind
	list, _ := s[extensionGVK].([]any)
	for _, e := range list {
		m := e.(map[string]any)
		out = append(out, schema.GroupVersionKind{Group: m["group"].(string), Version: m["version"].(string), Kind: m["kind"].(string)})
	}
	return out
}

// kubectl finds the schema of a kind by its x-kubernetes-group-version-kind.
func TestKindSchemasCarryTheirGVK(t *testing.T) {
	_, docs := documents(t, newTestHandler(t))
	for _, r := range testResources {
		doc := docs[groupVersionPath(schema.GroupVersion{Group: r.Group, Version: r.Version})]
		schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
		for _, kind := range []string{r.Kind, r.Kind + "List"} {
			gvk := schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: kind}
			var found []string
			for name, s := range schemas {
				if slices.Contains(gvkList(s.(map[string]any)), gvk) {
					found = append(found, name)
				}
			}
			if len(found) != 1 {
				t.Errorf("%s: %d schemas carry it (%v), want exactly one", gvk, len(found), found)
			}
		}
	}
	// Names are upstream's.
	core := docs["api/v1"]["components"].(map[string]any)["schemas"].(map[string]any)
	for _, name := range []string{"io.k8s.api.core.v1.Pod", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "io.k8s.apimachinery.pkg.api.resource.Quantity"} {
		if _, ok := core[name]; !ok {
			t.Errorf("api/v1 has no schema %q", name)
		}
	}
	if gvks := gvkList(core["io.k8s.api.core.v1.Pod"].(map[string]any)); !slices.Equal(gvks, []schema.GroupVersionKind{{Version: "v1", Kind: "Pod"}}) {
		t.Errorf("Pod's x-kubernetes-group-version-kind: %v", gvks)
	}
	// The patch strategy and list type travel with the schema: kubectl and
	// strategic merge patch merge containers by name.
	containers := core["io.k8s.api.core.v1.PodSpec"].(map[string]any)["properties"].(map[string]any)["containers"].(map[string]any)
	for k, want := range map[string]any{"x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-type": "map"} {
		if containers[k] != want {
			t.Errorf("PodSpec.containers %s = %v, want %v", k, containers[k], want)
		}
	}
}

// Every $ref in a document points at a schema of the same document.
func TestRefsResolve(t *testing.T) {
	_, docs := documents(t, newTestHandler(t))
	for gv, doc := range docs {
		schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
		refs := 0
		var walk func(v any, at string)
		walk = func(v any, at string) {
			switch v := v.(type) {
			case map[string]any:
				if ref, ok := v["$ref"].(string); ok {
					refs++
					name, ok := strings.CutPrefix(ref, "#/components/schemas/")
					if _, found := schemas[name]; !ok || !found {
						t.Errorf("%s: %s: $ref %q resolves to nothing", gv, at, ref)
					}
				}
				for k, e := range v {
					walk(e, at+"/"+k)
				}
			case []any:
				for i, e := range v {
					walk(e, at+"/"+strconv.Itoa(i))
				}
			}
		}
		walk(doc, "")
		if refs == 0 {
			t.Errorf("%s: no $ref at all", gv)
		}
	}
}

// operation returns the operation at path and method of a document.
func operation(t *testing.T, doc map[string]any, path, method string) map[string]any {
	t.Helper()
	item, ok := doc["paths"].(map[string]any)[path].(map[string]any)
	if !ok {
		t.Fatalf("no path %s", path)
	}
	op, ok := item[method].(map[string]any)
	if !ok {
		t.Fatalf("no %s %s", method, path)
	}
	return op
}

// parameterNames are the names of an operation's parameters and its
// path's, which apply to every operation of the path.
func parameterNames(doc map[string]any, path string, op map[string]any) []string {
	var names []string
	item := doc["paths"].(map[string]any)[path].(map[string]any)
	for _, list := range []any{item["parameters"], op["parameters"]} {
		params, _ := list.([]any)
		for _, p := range params {
			names = append(names, p.(map[string]any)["name"].(string))
		}
	}
	return names
}

// Reference: api/openapi-spec/README.md in kubernetes/kubernetes (the
// extensions), and upstream's operation IDs and parameters.
func TestOperations(t *testing.T) {
	_, docs := documents(t, newTestHandler(t))
	core, apps := docs["api/v1"], docs["apis/apps/v1"]
	list := []string{"labelSelector", "fieldSelector", "limit", "continue", "watch", "resourceVersion"}
	write := []string{"fieldValidation", "dryRun", "fieldManager"}
	for _, tc := range []struct {
		doc            map[string]any
		path, method   string
		id, action     string
		gvk            string // group/version/kind
		params         []string
		requestBody    []string // content types
		responseSchema string   // of 200
	}{
		{core, "/api/v1/namespaces/{namespace}/pods", "get", "listCoreV1NamespacedPod", "list", "/v1/Pod",
			append([]string{"namespace"}, list...), nil, "io.k8s.api.core.v1.PodList"},
		{core, "/api/v1/pods", "get", "listCoreV1PodForAllNamespaces", "list", "/v1/Pod", list, nil, "io.k8s.api.core.v1.PodList"},
		{core, "/api/v1/namespaces/{namespace}/pods", "post", "createCoreV1NamespacedPod", "post", "/v1/Pod",
			append([]string{"namespace"}, write...), []string{"*/*"}, "io.k8s.api.core.v1.Pod"},
		{core, "/api/v1/namespaces/{namespace}/pods", "delete", "deleteCoreV1CollectionNamespacedPod", "deletecollection", "/v1/Pod",
			[]string{"namespace", "labelSelector", "propagationPolicy", "dryRun"}, []string{"*/*"}, "io.k8s.apimachinery.pkg.apis.meta.v1.Status"},
		{core, "/api/v1/namespaces/{namespace}/pods/{name}", "get", "readCoreV1NamespacedPod", "get", "/v1/Pod",
			[]string{"namespace", "name"}, nil, "io.k8s.api.core.v1.Pod"},
		{core, "/api/v1/namespaces/{namespace}/pods/{name}", "put", "replaceCoreV1NamespacedPod", "put", "/v1/Pod",
			append([]string{"namespace", "name"}, write...), []string{"*/*"}, "io.k8s.api.core.v1.Pod"},
		{core, "/api/v1/namespaces/{namespace}/pods/{name}", "patch", "patchCoreV1NamespacedPod", "patch", "/v1/Pod",
			append([]string{"namespace", "name", "force"}, write...), patchConsumes, "io.k8s.api.core.v1.Pod"},
		{core, "/api/v1/namespaces/{namespace}/pods/{name}", "delete", "deleteCoreV1NamespacedPod", "delete", "/v1/Pod",
			[]string{"namespace", "name", "gracePeriodSeconds", "propagationPolicy"}, []string{"*/*"}, "io.k8s.api.core.v1.Pod"},
		{core, "/api/v1/namespaces/{namespace}/pods/{name}/status", "patch", "patchCoreV1NamespacedPodStatus", "patch", "/v1/Pod",
			write, patchConsumes, "io.k8s.api.core.v1.Pod"},
		{core, "/api/v1/namespaces/{namespace}/pods/{name}/binding", "post", "createCoreV1NamespacedPodBinding", "post", "/v1/Binding",
			write, []string{"*/*"}, "io.k8s.api.core.v1.Binding"},
		{core, "/api/v1/namespaces/{namespace}/pods/{name}/log", "get", "readCoreV1NamespacedPodLog", "get", "/v1/Pod",
			[]string{"container", "follow", "tailLines", "sinceTime"}, nil, ""},
		{core, "/api/v1/namespaces/{namespace}/pods/{name}/exec", "post", "connectCoreV1PostNamespacedPodExec", "connect", "/v1/PodExecOptions",
			[]string{"command", "container", "stdin", "tty"}, nil, ""},
		{core, "/api/v1/namespaces/{namespace}/pods/{name}/eviction", "post", "createCoreV1NamespacedPodEviction", "post", "policy/v1/Eviction",
			write, []string{"*/*"}, "io.k8s.api.policy.v1.Eviction"},
		{core, "/api/v1/namespaces/{name}", "patch", "patchCoreV1Namespace", "patch", "/v1/Namespace",
			append([]string{"name"}, write...), patchConsumes, "io.k8s.api.core.v1.Namespace"},
		{apps, "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "patch", "patchAppsV1NamespacedDeploymentScale", "patch", "autoscaling/v1/Scale",
			append([]string{"namespace", "name"}, write...), patchConsumes, "io.k8s.api.autoscaling.v1.Scale"},
	} {
		op := operation(t, tc.doc, tc.path, tc.method)
		what := strings.ToUpper(tc.method) + " " + tc.path
		if op["operationId"] != tc.id || op["x-kubernetes-action"] != tc.action {
			t.Errorf("%s: operationId %v, action %v; want %s, %s", what, op["operationId"], op["x-kubernetes-action"], tc.id, tc.action)
		}
		g := op[extensionGVK].(map[string]any)
		if got := g["group"].(string) + "/" + g["version"].(string) + "/" + g["kind"].(string); got != tc.gvk {
			t.Errorf("%s: x-kubernetes-group-version-kind %s, want %s", what, got, tc.gvk)
		}
		names := parameterNames(tc.doc, tc.path, op)
		for _, p := range tc.params {
			if !slices.Contains(names, p) {
				t.Errorf("%s: no parameter %q (has %v)", what, p, names)
			}
		}
		var content []string
		if body, ok := op["requestBody"].(map[string]any); ok {
			for ct := range body["content"].(map[string]any) {
				content = append(content, ct)
			}
		}
		sort.Strings(content)
		if !slices.Equal(content, tc.requestBody) {
			t.Errorf("%s: requestBody content types %v, want %v", what, content, tc.requestBody)
		}
		resp := op["responses"].(map[string]any)["200"].(map[string]any)
		for ct, media := range resp["content"].(map[string]any) {
			s := media.(map[string]any)["schema"].(map[string]any)
			ref, _ := s["$ref"].(string)
			if tc.responseSchema == "" && s["type"] != "string" || tc.responseSchema != "" && ref != "#/components/schemas/"+tc.responseSchema {
				t.Errorf("%s: 200 %s schema %v, want %q (\"\": a string)", what, ct, s, tc.responseSchema)
			}
		}
	}
}

// Documents are built deterministically, so a restarted apiserver serves
// the same hashes and kubectl's cache stays valid.
func TestDocumentsAreDeterministic(t *testing.T) {
	a, b := get(t, newTestHandler(t), Path), get(t, newTestHandler(t), Path)
	if !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) {
		t.Errorf("two handlers, two indexes:\n%s\n%s", a.Body, b.Body)
	}
}

// Reference: k8s.io/kube-openapi/pkg/handler3 (HandleGroupVersion).
func TestCaching(t *testing.T) {
	h := newTestHandler(t)
	index, _ := documents(t, h)
	current := index.Paths["api/v1"].ServerRelativeURL

	rec := get(t, h, current)
	if cc := rec.Header().Get("Cache-Control"); cc != "public, immutable" {
		t.Errorf("GET %s: Cache-Control %q, want public, immutable", current, cc)
	}
	if rec := get(t, h, current, "If-None-Match", rec.Header().Get("ETag")); rec.Code != http.StatusNotModified {
		t.Errorf("GET %s with If-None-Match: %d, want 304", current, rec.Code)
	}
	if rec := get(t, h, "/openapi/v3/api/v1"); rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "" {
		t.Errorf("GET without hash: %d, Cache-Control %q; want 200 and no caching", rec.Code, rec.Header().Get("Cache-Control"))
	}
	rec = get(t, h, "/openapi/v3/api/v1?hash=0BSOLETE")
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != current {
		t.Errorf("GET with an old hash: %d to %q, want 301 to %s", rec.Code, rec.Header().Get("Location"), current)
	}
	for target, code := range map[string]int{"/openapi/v3/apis/rbac.authorization.k8s.io/v1": 404, "/openapi/v2": 404} {
		rec := get(t, h, target)
		if rec.Code != code || !strings.Contains(rec.Body.String(), `"kind":"Status"`) {
			t.Errorf("GET %s: %d %s, want %d and a Status", target, rec.Code, rec.Body, code)
		}
	}
	req := httptest.NewRequest(http.MethodPost, Path, nil)
	post := httptest.NewRecorder()
	h.ServeHTTP(post, req)
	if post.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST %s: %d, want 405", Path, post.Code)
	}
}

func TestNewHandlerRejects(t *testing.T) {
	pod := testResources[0]
	for name, tc := range map[string]struct {
		resources []Resource
		want      string
	}{
		"unknown verb":        {[]Resource{{Version: "v1", Kind: "Pod", Plural: "pods", Verbs: []string{"frobnicate"}}}, `unknown verb "frobnicate"`},
		"unknown subresource": {[]Resource{{Version: "v1", Kind: "Pod", Plural: "pods", Subresources: []string{"proxy"}}}, `unknown subresource "proxy"`},
		"kind without schema": {[]Resource{{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role", Plural: "roles"}}, "no Go type"},
		"no plural":           {[]Resource{{Version: "v1", Kind: "Pod"}}, "plural are required"},
		"listed twice":        {[]Resource{pod, pod}, "listed twice"},
	} {
		_, err := NewHandler(tc.resources)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one saying %q", name, err, tc.want)
		}
	}
}

// client-go's OpenAPI v3 client and kubectl's own code, in process: the
// field-validation check create and apply run, and explain.
func TestKubectlCodeReadsTheDocuments(t *testing.T) {
	srv := newFakeAPIServer(t, testResources)
	config := &rest.Config{Host: srv.URL}
	disco, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	verifier := resource.NewQueryParamVerifierV3(dyn, disco.OpenAPIV3(), resource.QueryParamFieldValidation)
	for _, r := range testResources {
		if err := verifier.HasSupport(r.GroupVersionKind()); err != nil {
			t.Errorf("fieldValidation for %s: %v", r.GroupVersionKind(), err)
		}
	}

	var out bytes.Buffer
	pods := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	if err := explainv2.PrintModelDescription([]string{"spec", "containers", "image"}, &out, disco.OpenAPIV3(), pods, false, 0, "plaintext"); err != nil {
		t.Fatalf("explain pods.spec.containers.image: %v", err)
	}
	if !strings.Contains(out.String(), "Container image name.") {
		t.Errorf("explain pods.spec.containers.image:\n%s", out.String())
	}
}

// Every definition a generated definition depends on is generated too: a
// package missing from the go:generate line shows up here, not as a
// "cannot find model definition" from NewHandler.
func TestGeneratedDependenciesResolve(t *testing.T) {
	defs := GetOpenAPIDefinitions(func(string) spec.Ref { return spec.Ref{} })
	for name, def := range defs {
		for _, dep := range def.Dependencies {
			if _, ok := defs[dep]; !ok {
				t.Errorf("%s depends on %s, which is not generated: add its package to the go:generate line in generate.go", name, dep)
			}
		}
	}
}

// Every kind of the scheme that has a list (every resource kind of the
// generated packages) builds into a document, with all verbs.
func TestEveryKindOfTheSchemeBuilds(t *testing.T) {
	s, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	var resources []Resource
	for gvk := range s.AllKnownTypes() {
		list := gvk.GroupVersion().WithKind(gvk.Kind + "List")
		if !s.Recognizes(list) || strings.HasSuffix(gvk.Kind, "List") {
			continue
		}
		resources = append(resources, Resource{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind,
			Plural: strings.ToLower(gvk.Kind) + "s", Namespaced: true, Verbs: allVerbs, Subresources: []string{"status"}})
	}
	if len(resources) < 20 {
		t.Fatalf("only %d resource kinds in the scheme", len(resources))
	}
	if _, err := NewHandler(resources); err != nil {
		t.Fatalf("NewHandler over %d kinds: %v", len(resources), err)
	}
}
