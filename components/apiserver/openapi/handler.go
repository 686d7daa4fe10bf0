package openapi

import (
	"bytes"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// KubernetesVersion is the version the documents' info section names: the
// Kubernetes release whose API tinykube speaks (and whose kubectl it ships).
const KubernetesVersion = "v1.37.2"

// Path is where the handler is mounted: the index at Path, each
// group-version's document under Path + "/".
const Path = "/openapi/v3"

// Index is the body of GET /openapi/v3: for each group-version path
// ("api/v1", "apis/apps/v1"), the URL of its document. The URL carries the
// document's hash, so a client may cache a document for as long as the
// index names the same URL.
type Index struct {
	Paths map[string]IndexEntry `json:"paths"`
}

// IndexEntry is one group-version in the Index.
type IndexEntry struct {
	// ServerRelativeURL is the document's path and hash:
	// /openapi/v3/apis/apps/v1?hash=<hex SHA-512 of the document>.
	ServerRelativeURL string `json:"serverRelativeURL"`
}

// document is one served JSON document and its hash.
type document struct {
	body []byte
	hash string // upper-case hex SHA-512 of body, as kube-apiserver computes it
}

// newDocument encodes v and hashes the encoding.
func newDocument(v any) (document, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return document{}, fmt.Errorf("openapi: encoding a document: %w", err)
	}
	return document{body: body, hash: fmt.Sprintf("%X", sha512.Sum512(body))}, nil
}

// handler serves the index and the group-version documents, all built and
// encoded by NewHandler; serving is a map lookup.
type handler struct {
	index   document
	docs    map[string]document // by group-version path: "api/v1", "apis/apps/v1"
	builtAt time.Time           // Last-Modified of every response
}

var _ http.Handler = (*handler)(nil)

// NewHandler builds the OpenAPI v3 documents for resources and returns a
// handler that serves them at Path:
//
//   - GET /openapi/v3: the Index, one entry per group-version;
//   - GET /openapi/v3/api/v1, /openapi/v3/apis/<group>/<version>: the
//     group-version's document. Its paths hold one operation per verb and
//     subresource, tagged with x-kubernetes-action and
//     x-kubernetes-group-version-kind; its components.schemas hold every
//     schema those operations reach, the kinds' tagged with
//     x-kubernetes-group-version-kind.
//
// Responses are application/json, with an ETag; a document asked for with
// the index's ?hash= is marked immutable, and one asked for with an old hash
// is redirected (301) to the current URL, as kube-apiserver does.
//
// NewHandler fails if a resource is malformed, listed twice, or of a kind
// without a generated schema (see generate.go). The documents never change
// after it returns; the handler is safe for concurrent use.
func NewHandler(resources []Resource) (http.Handler, error) {
	d, err := newDefinitions()
	if err != nil {
		return nil, err
	}
	byGV := map[schema.GroupVersion][]Resource{}
	seen := map[schema.GroupVersionResource]bool{}
	for _, r := range resources {
		gvr := schema.GroupVersionResource{Group: r.Group, Version: r.Version, Resource: r.Plural}
		if seen[gvr] {
			return nil, fmt.Errorf("openapi: resource %s listed twice", gvr)
		}
		seen[gvr] = true
		gv := gvr.GroupVersion()
		byGV[gv] = append(byGV[gv], r)
	}

	h := &handler{docs: map[string]document{}, builtAt: time.Now()}
	index := Index{Paths: map[string]IndexEntry{}}
	for gv, rs := range byGV {
		gvDoc, err := d.document(gv, rs)
		if err != nil {
			return nil, err
		}
		doc, err := newDocument(gvDoc)
		if err != nil {
			return nil, err
		}
		p := groupVersionPath(gv)
		h.docs[p] = doc
		index.Paths[p] = IndexEntry{ServerRelativeURL: Path + "/" + p + "?" + url.Values{"hash": {doc.hash}}.Encode()}
	}
	if h.index, err = newDocument(index); err != nil {
		return nil, err
	}
	return h, nil
}

// groupVersionPath is a group-version's path under /openapi/v3, which is
// also its API path: api/v1, apis/apps/v1.
func groupVersionPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

// document builds one group-version's OpenAPI document with kube-openapi's
// builder3, the builder kube-apiserver uses: it turns the routes into paths
// and operations and pulls into components.schemas every definition the
// operations reach, following each definition's dependencies.
func (d *definitions) document(gv schema.GroupVersion, resources []Resource) (*spec3.OpenAPI, error) {
	sort.Slice(resources, func(i, j int) bool { return resources[i].Plural < resources[j].Plural })
	c := &container{root: "/" + groupVersionPath(gv)}
	for _, r := range resources {
		routes, err := d.routes(r)
		if err != nil {
			return nil, err
		}
		c.routes = append(c.routes, routes...)
	}
	tags := []string{tag(gv)}
	config := &common.OpenAPIV3Config{
		Info: &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: KubernetesVersion}},
		// The builder copies the definitions it uses; it never changes
		// their schemas, only (harmlessly, the same way every time) their
		// extension maps.
		Definitions:       d.defs,
		GetDefinitionName: d.definitionName,
		GetOperationIDAndTagsFromRoute: func(r common.Route) (string, []string, error) {
			return r.OperationName(), tags, nil
		},
	}
	doc, err := builder3.BuildOpenAPISpecFromRoutes([]common.RouteContainer{c}, config)
	if err != nil {
		return nil, fmt.Errorf("openapi: building %s: %w", groupVersionPath(gv), err)
	}
	return doc, nil
}

// ServeHTTP serves the index or one document.
// Reference: k8s.io/kube-openapi/pkg/handler3, the real server's handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeStatus(w, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed,
			fmt.Sprintf("%s is not supported on %s: the OpenAPI documents are read-only", r.Method, r.URL.Path))
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, Path)
	if !ok {
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("%s is not under %s", r.URL.Path, Path))
		return
	}
	rest = strings.Trim(rest, "/")
	doc, ok := h.index, true
	if rest != "" {
		doc, ok = h.docs[rest]
	}
	if !ok {
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound,
			fmt.Sprintf("no OpenAPI document for %q: GET %s lists the served group-versions", rest, Path))
		return
	}

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", strconv.Quote(doc.hash))
	if hash := r.URL.Query().Get("hash"); hash != "" && rest != "" {
		if hash != doc.hash {
			// An old URL: send the client to the current one.
			http.Redirect(w, r, Path+"/"+rest+"?"+url.Values{"hash": {doc.hash}}.Encode(), http.StatusMovedPermanently)
			return
		}
		// The URL names this exact document: it can be cached forever.
		w.Header().Set("Cache-Control", "public, immutable")
		w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat))
	}
	// ServeContent answers If-None-Match with 304 Not Modified, and HEAD.
	http.ServeContent(w, r, "", h.builtAt, bytes.NewReader(doc.body))
}

// writeStatus writes a metav1.Status error, the shape every apiserver error
// has.
func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, message string) {
	body, _ := json.Marshal(&metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: message, Reason: reason, Code: int32(code),
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
