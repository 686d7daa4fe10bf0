package openapi

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/common"
)

// Resource describes one served resource, as the apiserver's resource table
// knows it.
type Resource struct {
	// Group and Version are the resource's API group ("" for the core group)
	// and version; Kind is the kind of its objects ("Pod") and Plural the
	// resource name in URLs ("pods").
	Group, Version, Kind, Plural string
	// Namespaced resources live under /namespaces/{namespace}/; the others
	// are cluster-scoped.
	Namespaced bool
	// Verbs are the Kubernetes verbs the resource supports: get, list,
	// watch, create, update, patch, delete, deletecollection. Each makes
	// one operation (watch only adds the list's watch parameters).
	// Without patch, kubectl create and apply refuse the kind: they look
	// for its PATCH operation to learn whether the server validates fields.
	Verbs []string
	// Subresources are the resource's subresources: "status" and "scale"
	// (get, update, patch), "binding" and "eviction" (create), "log" (get,
	// text/plain), "exec", "attach" and "portforward" (connect: GET and
	// POST streams).
	Subresources []string
}

// GroupVersionKind is the kind of the resource's objects.
func (r Resource) GroupVersionKind() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
}

// knownVerbs are the verbs Resource.Verbs may hold.
var knownVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

// subresource is what the document says about one subresource.
type subresource struct {
	// gvk is the kind the requests and responses carry; zero: the
	// resource's own kind.
	gvk schema.GroupVersionKind
	// verbs are the operations on an object subresource: get, update,
	// patch, create.
	verbs []string
	// connect subresources (exec, attach, portforward) are GET and POST
	// streams whose query parameters are the fields of the gvk's options
	// type; upstream's action for them is "connect".
	connect bool
}

// subresources are the subresources Resource.Subresources may hold.
// "log" is none of these: a GET answered with text (see routeBuilder.log).
var subresources = map[string]subresource{
	"status":      {verbs: []string{"get", "update", "patch"}},
	"scale":       {gvk: autoscalingv1.SchemeGroupVersion.WithKind("Scale"), verbs: []string{"get", "update", "patch"}},
	"binding":     {gvk: corev1.SchemeGroupVersion.WithKind("Binding"), verbs: []string{"create"}},
	"eviction":    {gvk: policyv1.SchemeGroupVersion.WithKind("Eviction"), verbs: []string{"create"}},
	"exec":        {gvk: corev1.SchemeGroupVersion.WithKind("PodExecOptions"), connect: true},
	"attach":      {gvk: corev1.SchemeGroupVersion.WithKind("PodAttachOptions"), connect: true},
	"portforward": {gvk: corev1.SchemeGroupVersion.WithKind("PodPortForwardOptions"), connect: true},
}

// Content types. tinykube answers in JSON only (the real apiserver also
// lists YAML, protobuf and CBOR); a PATCH consumes the four patch types
// kubectl sends, as upstream's route installer lists them
// (k8s.io/apiserver/pkg/endpoints/installer.go).
var (
	jsonOnly      = []string{"application/json"}
	listProduces  = []string{"application/json", "application/json;stream=watch"}
	anyBody       = []string{"*/*"}
	patchConsumes = []string{
		"application/apply-patch+yaml",
		"application/json-patch+json",
		"application/merge-patch+json",
		"application/strategic-merge-patch+json",
	}
)

// routes returns the operations of one resource and its subresources.
func (d *definitions) routes(r Resource) ([]*route, error) {
	if r.Version == "" || r.Kind == "" || r.Plural == "" {
		return nil, fmt.Errorf("openapi: resource %+v: version, kind and plural are required", r)
	}
	for _, v := range r.Verbs {
		if !slices.Contains(knownVerbs, v) {
			return nil, fmt.Errorf("openapi: resource %q: unknown verb %q (want one of %s)", r.Plural, v, strings.Join(knownVerbs, ", "))
		}
	}
	gvk := r.GroupVersionKind()
	obj, err := d.sample(gvk)
	if err != nil {
		return nil, err
	}
	list, err := d.sample(gvk.GroupVersion().WithKind(r.Kind + "List"))
	if err != nil {
		return nil, err
	}

	b := routeBuilder{d: d, r: r}
	has := func(verb string) bool { return slices.Contains(r.Verbs, verb) }
	collection := b.prefix()
	if r.Namespaced {
		collection += "/namespaces/{namespace}"
	}
	collection += "/" + r.Plural
	item := collection + "/{name}"

	var routes []*route
	if has("list") {
		routes = append(routes, b.list(collection, list, has("watch"), ""))
		if r.Namespaced {
			routes = append(routes, b.list(b.prefix()+"/"+r.Plural, list, has("watch"), "ForAllNamespaces"))
		}
	}
	if has("create") {
		routes = append(routes, b.create(collection, gvk, obj, ""))
	}
	if has("deletecollection") {
		routes = append(routes, b.deleteCollection(collection))
	}
	if has("get") {
		routes = append(routes, b.read(item, gvk, obj, ""))
	}
	if has("update") {
		routes = append(routes, b.replace(item, gvk, obj, ""))
	}
	if has("patch") {
		routes = append(routes, b.patch(item, gvk, obj, ""))
	}
	if has("delete") {
		routes = append(routes, b.delete(item, obj))
	}

	for _, name := range r.Subresources {
		path := item + "/" + name
		if name == "log" {
			routes = append(routes, b.log(path, gvk))
			continue
		}
		sub, ok := subresources[name]
		if !ok {
			return nil, fmt.Errorf("openapi: resource %q: unknown subresource %q", r.Plural, name)
		}
		subGVK, subObj := gvk, obj
		if !sub.gvk.Empty() {
			subGVK = sub.gvk
			if subObj, err = d.sample(sub.gvk); err != nil {
				return nil, err
			}
		}
		suffix := camel(name)
		if sub.connect {
			routes = append(routes, b.connect("GET", path, subGVK, subObj, suffix), b.connect("POST", path, subGVK, subObj, suffix))
			continue
		}
		for _, verb := range sub.verbs {
			switch verb {
			case "get":
				routes = append(routes, b.read(path, subGVK, subObj, suffix))
			case "update":
				routes = append(routes, b.replace(path, subGVK, subObj, suffix))
			case "patch":
				routes = append(routes, b.patch(path, subGVK, subObj, suffix))
			case "create":
				routes = append(routes, b.create(path, subGVK, subObj, suffix))
			}
		}
	}
	return routes, nil
}

// routeBuilder makes the operations of one resource, named and described
// as the real apiserver names and describes them ("readCoreV1NamespacedPod",
// "read the specified Pod").
type routeBuilder struct {
	d *definitions
	r Resource
}

// prefix is the group-version's root path: /api/v1 or /apis/apps/v1.
func (b routeBuilder) prefix() string {
	if b.r.Group == "" {
		return "/api/" + b.r.Version
	}
	return "/apis/" + b.r.Group + "/" + b.r.Version
}

// operationID is verb + group + version + the rest, upstream's scheme:
// listCoreV1NamespacedPod, deleteAppsV1CollectionNamespacedDeployment,
// listCoreV1PodForAllNamespaces, replaceAppsV1NamespacedDeploymentScale,
// connectCoreV1PostNamespacedPodExec. qualifier is "Collection", "Get",
// "Post" or "".
func (b routeBuilder) operationID(verb, qualifier, suffix string, namespaced bool) string {
	group := strings.TrimSuffix(b.r.Group, ".k8s.io")
	if group == "" {
		group = "core"
	}
	id := verb + camel(group) + camel(b.r.Version) + qualifier
	if namespaced {
		id += "Namespaced"
	}
	return id + b.r.Kind + suffix
}

// pathParameters are the {namespace} and {name} of a path; name is
// described by the kind the path's operations carry ("name of the Scale").
func (b routeBuilder) pathParameters(path, kind string) []parameter {
	var params []parameter
	if strings.Contains(path, "{namespace}") {
		params = append(params, parameter{name: "namespace", description: "object name and auth scope, such as for teams and projects",
			kind: common.PathParameterKind, dataType: "string", required: true})
	}
	if strings.Contains(path, "{name}") {
		params = append(params, parameter{name: "name", description: "name of the " + kind,
			kind: common.PathParameterKind, dataType: "string", required: true})
	}
	return params
}

// params joins the path parameters and the query parameters of the option
// types.
func (b routeBuilder) params(path string, gvk schema.GroupVersionKind, options ...any) []parameter {
	params := b.pathParameters(path, gvk.Kind)
	for _, o := range options {
		params = append(params, b.d.queryParameters(o)...)
	}
	return params
}

// describe says what an operation does, as upstream does: "read the
// specified Pod", or for a subresource "read status of the specified Pod".
func describe(what, suffix, kind string) string {
	if suffix == "" {
		return what + " " + kind
	}
	return strings.Replace(what, " the specified", " "+strings.ToLower(suffix)+" of the specified", 1) + " " + kind
}

func (b routeBuilder) list(path string, list any, watch bool, allNamespaces string) *route {
	params := b.params(path, b.r.GroupVersionKind(), &metav1.ListOptions{})
	if !watch {
		params = slices.DeleteFunc(params, func(p parameter) bool {
			return p.name == "watch" || p.name == "allowWatchBookmarks" || p.name == "sendInitialEvents"
		})
	}
	return &route{
		method: "GET", path: path, action: "list", gvk: b.r.GroupVersionKind(),
		operationID: b.operationID("list", "", allNamespaces, b.r.Namespaced && allNamespaces == ""),
		description: "list or watch objects of kind " + b.r.Kind,
		params:      params, produces: listProduces,
		responses: []response{{200, "OK", list}},
	}
}

func (b routeBuilder) create(path string, gvk schema.GroupVersionKind, obj any, suffix string) *route {
	description := "create a " + b.r.Kind
	if suffix != "" {
		description = "create " + strings.ToLower(suffix) + " of a " + b.r.Kind
	}
	return &route{
		method: "POST", path: path, action: "post", gvk: gvk,
		operationID: b.operationID("create", "", suffix, b.r.Namespaced),
		description: description,
		params:      b.params(path, gvk, &metav1.CreateOptions{}),
		consumes:    anyBody, produces: jsonOnly, body: obj, bodyRequired: true,
		responses: []response{{200, "OK", obj}, {201, "Created", obj}, {202, "Accepted", obj}},
	}
}

func (b routeBuilder) deleteCollection(path string) *route {
	params := b.params(path, b.r.GroupVersionKind(), &metav1.ListOptions{}, &metav1.DeleteOptions{})
	params = slices.DeleteFunc(params, func(p parameter) bool { return p.name == "watch" || p.name == "allowWatchBookmarks" })
	return &route{
		method: "DELETE", path: path, action: "deletecollection", gvk: b.r.GroupVersionKind(),
		operationID: b.operationID("delete", "Collection", "", b.r.Namespaced),
		description: "delete collection of " + b.r.Kind,
		params:      params, consumes: anyBody, produces: jsonOnly, body: &metav1.DeleteOptions{},
		responses: []response{{200, "OK", &metav1.Status{}}},
	}
}

func (b routeBuilder) read(path string, gvk schema.GroupVersionKind, obj any, suffix string) *route {
	return &route{
		method: "GET", path: path, action: "get", gvk: gvk,
		operationID: b.operationID("read", "", suffix, b.r.Namespaced),
		description: describe("read the specified", suffix, b.r.Kind),
		params:      b.params(path, gvk), produces: jsonOnly,
		responses: []response{{200, "OK", obj}},
	}
}

func (b routeBuilder) replace(path string, gvk schema.GroupVersionKind, obj any, suffix string) *route {
	return &route{
		method: "PUT", path: path, action: "put", gvk: gvk,
		operationID: b.operationID("replace", "", suffix, b.r.Namespaced),
		description: describe("replace the specified", suffix, b.r.Kind),
		params:      b.params(path, gvk, &metav1.UpdateOptions{}),
		consumes:    anyBody, produces: jsonOnly, body: obj, bodyRequired: true,
		responses: []response{{200, "OK", obj}, {201, "Created", obj}},
	}
}

// patch is the operation kubectl create and apply look for: a PATCH with
// the kind's x-kubernetes-group-version-kind and a fieldValidation query
// parameter tells kubectl the server checks fields itself.
func (b routeBuilder) patch(path string, gvk schema.GroupVersionKind, obj any, suffix string) *route {
	return &route{
		method: "PATCH", path: path, action: "patch", gvk: gvk,
		operationID: b.operationID("patch", "", suffix, b.r.Namespaced),
		description: describe("partially update the specified", suffix, b.r.Kind),
		params:      b.params(path, gvk, &metav1.PatchOptions{}),
		consumes:    patchConsumes, produces: jsonOnly, body: &metav1.Patch{}, bodyRequired: true,
		responses: []response{{200, "OK", obj}, {201, "Created", obj}},
	}
}

func (b routeBuilder) delete(path string, obj any) *route {
	return &route{
		method: "DELETE", path: path, action: "delete", gvk: b.r.GroupVersionKind(),
		operationID: b.operationID("delete", "", "", b.r.Namespaced),
		description: "delete a " + b.r.Kind,
		params:      b.params(path, b.r.GroupVersionKind(), &metav1.DeleteOptions{}),
		consumes:    anyBody, produces: jsonOnly, body: &metav1.DeleteOptions{},
		responses: []response{{200, "OK", obj}, {202, "Accepted", obj}},
	}
}

// log is pods/log: a GET whose query parameters are PodLogOptions' fields
// and whose answer is the log as text, so its schema is a string.
func (b routeBuilder) log(path string, gvk schema.GroupVersionKind) *route {
	return &route{
		method: "GET", path: path, action: "get", gvk: gvk,
		operationID: b.operationID("read", "", "Log", b.r.Namespaced),
		description: describe("read the specified", "Log", b.r.Kind),
		params:      b.params(path, gvk, &corev1.PodLogOptions{}), produces: []string{"text/plain"},
		responses: []response{{200, "OK", ""}}, // a Go string: schema {"type": "string"}
	}
}

// connect is one method of a streaming subresource (exec, attach,
// portforward): its query parameters are the options kind's fields
// (command, container, stdin, ...) and the stream is no schema, a string.
func (b routeBuilder) connect(method, path string, gvk schema.GroupVersionKind, options any, suffix string) *route {
	return &route{
		method: method, path: path, action: "connect", gvk: gvk,
		operationID: b.operationID("connect", camel(strings.ToLower(method)), suffix, b.r.Namespaced),
		description: "connect " + method + " requests to " + strings.ToLower(suffix) + " of " + b.r.Kind,
		params:      b.params(path, gvk, options), produces: []string{"*/*"},
		responses: []response{{200, "OK", ""}},
	}
}

// camel capitalizes each word of s, dropping what is not a letter or a
// digit: "networking" → "Networking", "flowcontrol.apiserver" →
// "FlowcontrolApiserver", "v1" → "V1".
func camel(s string) string {
	var out strings.Builder
	up := true
	for _, c := range s {
		if !unicode.IsLetter(c) && !unicode.IsDigit(c) {
			up = true
			continue
		}
		if up {
			c = unicode.ToUpper(c)
			up = false
		}
		out.WriteRune(c)
	}
	return out.String()
}

// tag is the operations' tag for a group-version: core_v1, apps_v1,
// networking_v1.
func tag(gv schema.GroupVersion) string {
	group := strings.TrimSuffix(gv.Group, ".k8s.io")
	if group == "" {
		group = "core"
	}
	c := []rune(camel(group))
	c[0] = unicode.ToLower(c[0])
	return string(c) + "_" + gv.Version
}

// route, parameter, response and container implement kube-openapi's
// common.Route, common.Parameter, common.StatusCodeResponse and
// common.RouteContainer: the builder makes OpenAPI operations from them, as
// it does from go-restful's routes in the real apiserver.
type route struct {
	method, path, operationID, description string
	action                                 string // x-kubernetes-action
	gvk                                    schema.GroupVersionKind
	params                                 []parameter
	consumes, produces                     []string
	body                                   any // a sample of the request body, or nil
	bodyRequired                           bool
	responses                              []response
}

var _ common.Route = (*route)(nil)

func (r *route) Method() string        { return r.method }
func (r *route) Path() string          { return r.path }
func (r *route) OperationName() string { return r.operationID }
func (r *route) Description() string   { return r.description }
func (r *route) Consumes() []string    { return r.consumes }
func (r *route) Produces() []string    { return r.produces }
func (r *route) Parameters() []common.Parameter {
	params := make([]common.Parameter, 0, len(r.params)+1)
	for i := range r.params {
		params = append(params, &r.params[i])
	}
	if r.body != nil {
		// The builder makes the requestBody from this parameter and
		// RequestPayloadSample.
		params = append(params, &parameter{name: "body", kind: common.BodyParameterKind, required: r.bodyRequired})
	}
	return params
}
func (r *route) Metadata() map[string]any {
	return map[string]any{"x-kubernetes-action": r.action, extensionGVK: gvkExtension(r.gvk)}
}
func (r *route) RequestPayloadSample() any  { return r.body }
func (r *route) ResponsePayloadSample() any { return nil }
func (r *route) StatusCodeResponses() []common.StatusCodeResponse {
	responses := make([]common.StatusCodeResponse, len(r.responses))
	for i := range r.responses {
		responses[i] = &r.responses[i]
	}
	return responses
}

type parameter struct {
	name, description string
	kind              common.ParameterKind
	dataType          string // "string", "boolean" or "integer"
	required          bool
}

var _ common.Parameter = (*parameter)(nil)

func (p *parameter) Name() string               { return p.name }
func (p *parameter) Description() string        { return p.description }
func (p *parameter) Required() bool             { return p.required }
func (p *parameter) Kind() common.ParameterKind { return p.kind }
func (p *parameter) DataType() string           { return p.dataType }
func (p *parameter) AllowMultiple() bool        { return false }

type response struct {
	code    int
	message string
	model   any // a sample of the response body
}

var _ common.StatusCodeResponse = (*response)(nil)

func (r *response) Code() int       { return r.code }
func (r *response) Message() string { return r.message }
func (r *response) Model() any      { return r.model }

type container struct {
	root   string
	routes []*route
}

var _ common.RouteContainer = (*container)(nil)

func (c *container) RootPath() string                   { return c.root }
func (c *container) PathParameters() []common.Parameter { return nil }
func (c *container) Routes() []common.Route {
	routes := make([]common.Route, len(c.routes))
	for i, r := range c.routes {
		routes[i] = r
	}
	return routes
}
