package apiserver

import (
	"net/http"
	"strings"
)

// request is what a REST path and method say: which resource, which
// object, which verb. Reference: Kubernetes API concepts, "Resource URIs".
//
//	/api/v1/pods                               list or watch pods in all namespaces
//	/api/v1/namespaces/default/pods            the pods of one namespace
//	/api/v1/namespaces/default/pods/web        one pod
//	/api/v1/namespaces/default/pods/web/status a subresource of it
//	/api/v1/nodes/node1                        a cluster-scoped object
//	/apis/apps/v1/namespaces/default/deployments/web/scale
type request struct {
	group, version string
	resource       *Resource
	namespace      string
	name           string
	subresource    string
	verb           string // get list watch create update patch delete deletecollection
}

// parsePath reads a resource path; ok is false for anything else
// (discovery, health, unknown paths).
func parsePath(method, path string, watch bool) (req request, status int, msg string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		req.version, parts = parts[1], parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		req.group, req.version, parts = parts[1], parts[2], parts[3:]
	default:
		return req, http.StatusNotFound, "the server could not find the requested resource"
	}
	if len(parts) == 0 {
		return req, http.StatusNotFound, "the server could not find the requested resource"
	}
	// namespaces/<ns>/<resource>... is a namespaced request, unless it is
	// the namespace object itself (namespaces/<ns> or namespaces/<ns>/status).
	if parts[0] == "namespaces" && len(parts) >= 3 && parts[2] != "status" && parts[2] != "finalize" {
		req.namespace, parts = parts[1], parts[2:]
	}
	req.resource = lookup(req.group, req.version, parts[0])
	if req.resource == nil {
		return req, http.StatusNotFound, "the server could not find the requested resource"
	}
	if req.namespace != "" && !req.resource.Namespaced {
		return req, http.StatusNotFound, "the server could not find the requested resource"
	}
	if len(parts) > 1 {
		req.name = parts[1]
	}
	if len(parts) > 2 {
		req.subresource = parts[2]
	}
	if len(parts) > 3 {
		return req, http.StatusNotFound, "the server could not find the requested resource"
	}
	collection := req.name == ""
	switch {
	case method == http.MethodGet && collection && watch:
		req.verb = "watch"
	case method == http.MethodGet && collection:
		req.verb = "list"
	case method == http.MethodGet:
		req.verb = "get"
		if watch {
			req.verb = "watch"
		}
	case method == http.MethodPost && collection:
		req.verb = "create"
	case method == http.MethodPost && req.subresource != "":
		req.verb = "create" // pods/binding, pods/eviction
	case method == http.MethodPut && !collection:
		req.verb = "update"
	case method == http.MethodPatch && !collection:
		req.verb = "patch"
	case method == http.MethodDelete && collection:
		req.verb = "deletecollection"
	case method == http.MethodDelete:
		req.verb = "delete"
	default:
		return req, http.StatusMethodNotAllowed, "the server does not allow this method on the requested resource"
	}
	return req, 0, ""
}
