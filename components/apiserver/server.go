package apiserver

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/version"

	"github.com/tinykube/tinykube/components/apiserver/admission"
	"github.com/tinykube/tinykube/components/apiserver/openapi"
	"github.com/tinykube/tinykube/components/apiserver/printers"
	"github.com/tinykube/tinykube/components/apiserver/storage"
)

// MaxBodyBytes is the largest request body accepted, as in Kubernetes.
const MaxBodyBytes = 3 * 1024 * 1024

// KubernetesVersion is the Kubernetes version tinykube's API follows.
const KubernetesVersion = "v1.37.2"

// Server is the apiserver's HTTP side: authentication, discovery, OpenAPI
// and the REST verbs over each resource's store.
type Server struct {
	etcd      *clientv3.Client
	stores    map[*Resource]*storage.Store
	openapi   http.Handler
	advertise string // host:port clients reach the server at
	services  *serviceAllocator
	now       func() time.Time
	clientCAs *x509.CertPool // nil: no client certificates accepted
	// kubeletClient reaches kubelets (logs) with the apiserver's own
	// client certificate; nil: none configured.
	kubeletClient *http.Client
	// saKeys sign and verify service-account tokens; nil: none.
	saKeys *ServiceAccountKeys
	// metrics keeps the last kubelet scrapes for metrics.k8s.io (metrics.go).
	metrics metricsCache
}

// Config is what NewServer needs.
type Config struct {
	Etcd        *clientv3.Client
	Advertise   string           // host:port
	ServiceCIDR string           // e.g. 10.96.0.0/12
	ClientCAs   *x509.CertPool   // verifies client certificates
	Now         func() time.Time // nil: time.Now
	// KubeletClient reaches kubelets for pods/log; nil: logs unavailable.
	KubeletClient *http.Client
	// ServiceAccountKeys sign service-account tokens; nil: no tokens.
	ServiceAccountKeys *ServiceAccountKeys
	// EventTTL is how long an Event lives after its last write (setting
	// event-ttl, kube-apiserver's --event-ttl); 0: DefaultEventTTL.
	EventTTL time.Duration
}

// DefaultEventTTL is kube-apiserver's default --event-ttl: Events are
// history, not state, and a busy cluster writes many.
const DefaultEventTTL = time.Hour

// NewServer builds the server over etcd.
func NewServer(cfg Config) (*Server, error) {
	s := &Server{
		etcd:      cfg.Etcd,
		stores:    map[*Resource]*storage.Store{},
		advertise: cfg.Advertise,
		now:       cfg.Now,
		clientCAs: cfg.ClientCAs,

		kubeletClient: cfg.KubeletClient,
		saKeys:        cfg.ServiceAccountKeys,
	}
	if s.now == nil {
		s.now = time.Now
	}
	eventTTL := cfg.EventTTL
	if eventTTL <= 0 {
		eventTTL = DefaultEventTTL
	}
	var described []openapi.Resource
	for _, r := range Resources {
		codec := storage.DefaultCodec(r.GVR.GroupVersion())
		prefix := "/registry/" + r.GVR.Resource
		if r.GVR.Group != "" && r.GVR.Group != "apps" && r.GVR.Group != "batch" && r.GVR.Group != "autoscaling" {
			// Kubernetes keeps most group resources under their plain name
			// (/registry/deployments), a few under the group.
			prefix = "/registry/" + r.GVR.Group + "/" + r.GVR.Resource
		}
		s.stores[r] = storage.New(cfg.Etcd, codec, r.GVR.GroupResource(), prefix, r.New, r.NewList)
		if r.Expires {
			s.stores[r].WithTTL(eventTTL) // etcd deletes an Event eventTTL after its last write
		}
		described = append(described, openapi.Resource{
			Group: r.GVR.Group, Version: r.GVR.Version, Kind: r.Kind, Plural: r.GVR.Resource,
			Namespaced: r.Namespaced, Verbs: verbs(r), Subresources: openapiSubresources(r),
		})
	}
	h, err := openapi.NewHandler(described)
	if err != nil {
		return nil, fmt.Errorf("apiserver: openapi: %w", err)
	}
	s.openapi = h
	alloc, err := newServiceAllocator(cfg.Etcd, cfg.ServiceCIDR)
	if err != nil {
		return nil, err
	}
	s.services = alloc
	return s, nil
}

// store returns the store of the resource of kind gvk's plural.
func (s *Server) store(r *Resource) *storage.Store { return s.stores[r] }

// ServeHTTP routes a request: health and version first (open to anyone),
// then authentication, then discovery, OpenAPI and the resources.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requests.Add(1)
	switch r.URL.Path {
	case "/healthz", "/livez", "/readyz":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok"))
		return
	case "/version":
		writeJSON(w, http.StatusOK, &version.Info{
			Major: "1", Minor: "37", GitVersion: KubernetesVersion + "-tinykube",
			GoVersion: goVersion(), Compiler: "gc", Platform: platform(),
		})
		return
	case "/metrics":
		s.serveMetrics(w)
		return
	}
	user, err := s.authenticate(r)
	if err != nil {
		writeError(w, err)
		return
	}
	_ = user // every authenticated user may do everything (see doc.go, "Security")
	if strings.HasPrefix(r.URL.Path, "/openapi/") {
		s.openapi.ServeHTTP(w, r)
		return
	}
	if r.Method == http.MethodGet && s.serveDiscovery(w, r) {
		return
	}
	if s.serveMetricsAPI(w, r) { // metrics.k8s.io: not stored, read from kubelets
		return
	}
	q := r.URL.Query()
	req, code, msg := parsePath(r.Method, r.URL.Path, q.Get("watch") == "true" || q.Get("watch") == "1")
	if code != 0 {
		reason := metav1.StatusReasonNotFound
		if code == http.StatusMethodNotAllowed {
			reason = metav1.StatusReasonMethodNotAllowed
		}
		writeError(w, statusError(code, reason, msg))
		return
	}
	if err := s.serveResource(w, r, req); err != nil {
		writeError(w, err)
	}
}

// user is who made a request.
type user struct {
	Name   string
	Groups []string
}

// authenticate finds the user of a request: from its client certificate
// (user = CN, groups = O), or from a service-account bearer token.
func (s *Server) authenticate(r *http.Request) (user, error) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		cert := r.TLS.VerifiedChains[0][0]
		return user{Name: cert.Subject.CommonName, Groups: cert.Subject.Organization}, nil
	}
	if token, ok := bearerToken(r); ok {
		u, err := s.authenticateToken(r.Context(), token)
		if err != nil {
			return user{}, statusError(http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "Unauthorized")
		}
		return u, nil
	}
	if s.clientCAs == nil && r.TLS == nil {
		return user{Name: "system:admin", Groups: []string{"system:masters"}}, nil // plain HTTP in unit tests
	}
	return user{}, statusError(http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "Unauthorized")
}

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, req request) error {
	ctx := r.Context()
	switch req.subresource {
	case "":
	case "status":
		if !req.resource.Status {
			return notFoundPath()
		}
	case "scale":
		if !req.resource.Scale {
			return notFoundPath()
		}
		return s.serveScale(w, r, req)
	case "finalize":
		if req.resource.GVR.Resource != "namespaces" || req.verb != "update" {
			return notFoundPath()
		}
		return s.finalizeNamespace(w, r, req)
	case "token":
		if req.resource.GVR.Resource != "serviceaccounts" || req.verb != "create" {
			return notFoundPath()
		}
		return s.serveTokenRequest(w, r, req)
	case "exec":
		if req.resource.GVR.Resource != "pods" {
			return notFoundPath()
		}
		return s.servePodExec(w, r, req)
	case "log":
		if req.resource.GVR.Resource != "pods" || req.verb != "get" {
			return notFoundPath()
		}
		return s.servePodLog(w, r, req)
	case "binding":
		if req.resource.GVR.Resource != "pods" || req.verb != "create" {
			return notFoundPath()
		}
		return s.bind(w, r, req)
	default:
		return notFoundPath()
	}
	switch req.verb {
	case "get":
		obj, err := s.store(req.resource).Get(ctx, req.namespace, req.name)
		if err != nil {
			return err
		}
		return s.respond(w, r, req.resource, http.StatusOK, obj)
	case "list":
		return s.list(w, r, req)
	case "watch":
		return s.watch(w, r, req)
	case "create":
		return s.create(w, r, req)
	case "update":
		return s.update(w, r, req)
	case "patch":
		return s.patch(w, r, req)
	case "delete":
		return s.delete(w, r, req)
	case "deletecollection":
		return s.deleteCollection(w, r, req)
	}
	return notFoundPath()
}

func notFoundPath() error {
	return statusError(http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource")
}

// wantsTable reports whether the client asked for a Table (kubectl get).
func wantsTable(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "as=Table")
}

// tableIncludes reads includeObject (default: metadata, as kubectl wants).
func tableIncludes(r *http.Request) metav1.IncludeObjectPolicy {
	switch p := metav1.IncludeObjectPolicy(r.URL.Query().Get("includeObject")); p {
	case metav1.IncludeNone, metav1.IncludeObject:
		return p
	}
	return metav1.IncludeMetadata
}

// respond writes obj, as a Table if the client asked for one.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, res *Resource, code int, obj runtime.Object) error {
	if wantsTable(r) {
		table, err := printers.Table(obj, tableIncludes(r), s.now())
		if err != nil {
			return err
		}
		writeJSON(w, code, table)
		return nil
	}
	if meta.IsListType(obj) {
		obj.GetObjectKind().SetGroupVersionKind(res.GVR.GroupVersion().WithKind(res.Kind + "List"))
	} else {
		setKind(obj, res)
	}
	writeJSON(w, code, obj)
	return nil
}

// predicate turns labelSelector and fieldSelector into a filter, with
// Kubernetes' messages for the ones it cannot use.
func predicate(r *http.Request, res *Resource) (func(runtime.Object) bool, error) {
	q := r.URL.Query()
	lsel, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return nil, badRequest("%v", err)
	}
	fsel, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return nil, badRequest("%v", err)
	}
	probe := res.FieldSet(res.New())
	for _, req := range fsel.Requirements() {
		if _, ok := probe[req.Field]; !ok {
			return nil, badRequest("field label not supported: %s", req.Field)
		}
	}
	if lsel.Empty() && fsel.Empty() {
		return nil, nil
	}
	return func(obj runtime.Object) bool {
		m, err := meta.Accessor(obj)
		if err != nil {
			return false
		}
		return lsel.Matches(labels.Set(m.GetLabels())) && fsel.Matches(res.FieldSet(obj))
	}, nil
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, req request) error {
	q := r.URL.Query()
	pred, err := predicate(r, req.resource)
	if err != nil {
		return err
	}
	opts := storage.ListOptions{
		Continue:             q.Get("continue"),
		ResourceVersion:      q.Get("resourceVersion"),
		ResourceVersionMatch: metav1.ResourceVersionMatch(q.Get("resourceVersionMatch")),
		Predicate:            pred,
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 0 {
			return badRequest("limit: %q is not a non-negative number", l)
		}
		opts.Limit = n
	}
	list, err := s.store(req.resource).List(r.Context(), req.namespace, opts)
	if err != nil {
		return err
	}
	return s.respond(w, r, req.resource, http.StatusOK, list)
}

// readBody reads a request body up to MaxBodyBytes.
func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, badRequest("reading the request body: %v", err)
	}
	if len(data) > MaxBodyBytes {
		return nil, statusError(http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge,
			fmt.Sprintf("Request entity too large: limit is %d", MaxBodyBytes))
	}
	if len(data) == 0 {
		return nil, badRequest("the request body is empty; send the object as JSON")
	}
	return data, nil
}

// decode reads an object of res from JSON (or YAML), checking its kind
// and, under fieldValidation=Strict (kubectl's default), that it has no
// unknown or duplicate fields.
func decode(r *http.Request, res *Resource, data []byte) (runtime.Object, []string, error) {
	validation := r.URL.Query().Get("fieldValidation")
	obj := res.New()
	strictErrs, err := decodeInto(r.Header.Get("Content-Type"), data, obj)
	if err != nil {
		return nil, nil, badRequest("the request body is not a valid %s: %v", res.Kind, err)
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind != "" && gvk.Kind != res.Kind {
		return nil, nil, badRequest("the kind in the data (%s) does not match the expected kind (%s) of %s", gvk.Kind, res.Kind, res.GVR.Resource)
	}
	if gvk.Version != "" && gvk.GroupVersion() != res.GVR.GroupVersion() {
		return nil, nil, badRequest("the API version in the data (%s) does not match the expected API version (%s)", gvk.GroupVersion(), res.GVR.GroupVersion())
	}
	var warnings []string
	switch validation {
	case "Ignore":
	case "Warn":
		warnings = strictErrs
	default: // Strict, and Kubernetes' default for kubectl
		if len(strictErrs) > 0 && validation == "Strict" {
			return nil, nil, badRequest("strict decoding error: %s", strings.Join(strictErrs, ", "))
		}
		warnings = strictErrs
	}
	return obj, warnings, nil
}

func warn(w http.ResponseWriter, warnings []string) {
	for _, msg := range warnings {
		w.Header().Add("Warning", fmt.Sprintf(`299 - %q`, msg))
	}
}

// namespaceFor settles an object's namespace against the URL's.
func namespaceFor(req request, m metav1.Object) error {
	if !req.resource.Namespaced {
		if m.GetNamespace() != "" {
			m.SetNamespace("")
		}
		return nil
	}
	if m.GetNamespace() == "" {
		m.SetNamespace(req.namespace)
	}
	if req.namespace != "" && m.GetNamespace() != req.namespace {
		return badRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	if m.GetNamespace() == "" {
		return badRequest("a namespace is required for %s", req.resource.GVR.Resource)
	}
	return nil
}

// checkNamespace refuses writes into a namespace that does not exist or is
// being deleted.
func (s *Server) checkNamespace(ctx context.Context, res *Resource, ns, name string) error {
	if !res.Namespaced {
		return nil
	}
	nsRes := lookup("", "v1", "namespaces")
	obj, err := s.store(nsRes).Get(ctx, "", ns)
	if err != nil {
		return err
	}
	if obj.(*corev1.Namespace).DeletionTimestamp != nil {
		return apierrors.NewForbidden(res.GVR.GroupResource(), name,
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
	}
	return nil
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, req request) error {
	ctx := r.Context()
	data, err := readBody(r)
	if err != nil {
		return err
	}
	obj, warnings, err := decode(r, req.resource, data)
	if err != nil {
		return err
	}
	created, err := s.createObject(ctx, req, obj, r.URL.Query().Get("dryRun") == "All")
	if err != nil {
		return err
	}
	warn(w, warnings)
	return s.respond(w, r, req.resource, http.StatusCreated, created)
}

// createObject runs the create path: namespace, name, defaults,
// preparation, allocation, validation, storage. Nothing is written unless
// every step passed; an allocation is released if the write fails.
func (s *Server) createObject(ctx context.Context, req request, obj runtime.Object, dryRun bool) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	if err := namespaceFor(req, m); err != nil {
		return nil, err
	}
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(m.GetGenerateName() + randomSuffix())
	}
	if err := s.checkNamespace(ctx, req.resource, m.GetNamespace(), m.GetName()); err != nil {
		return nil, err
	}
	admission.Default(obj)
	if pod, ok := obj.(*corev1.Pod); ok {
		s.serviceAccountAdmission(ctx, pod)
	}
	prepareForCreate(obj, m, s.now())
	admission.PrepareForCreate(obj)
	if errs := admission.ValidateCreate(obj); len(errs) > 0 {
		return nil, admission.Invalid(obj, errs)
	}
	if err := s.admitQuota(ctx, req, obj, nil, dryRun); err != nil {
		return nil, err
	}
	release, err := s.allocate(ctx, obj, dryRun)
	if err != nil {
		return nil, err
	}
	if dryRun {
		// A dry run answers what a real create would, conflicts included.
		if _, err := s.store(req.resource).Get(ctx, m.GetNamespace(), m.GetName()); err == nil {
			return nil, apierrors.NewAlreadyExists(req.resource.GVR.GroupResource(), m.GetName())
		}
		return obj, nil
	}
	created, err := s.store(req.resource).Create(ctx, m.GetNamespace(), m.GetName(), obj)
	if err != nil {
		release()
		return nil, err
	}
	return created, nil
}

// prepareForCreate sets what the server owns on every new object:
// identity, creation time and generation. The kind's own changes (a Pod
// starts Pending, a Namespace Active) are admission.PrepareForCreate's.
func prepareForCreate(obj runtime.Object, m metav1.Object, now time.Time) {
	m.SetUID(types.UID(uuid.NewUUID()))
	m.SetCreationTimestamp(metav1.NewTime(now))
	m.SetResourceVersion("")
	m.SetGeneration(1)
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	if svc, ok := obj.(*corev1.Service); ok {
		svc.Status = corev1.ServiceStatus{}
	}
}

// openapiSubresources are the subresources the OpenAPI document describes:
// all but serviceaccounts/token, whose TokenRequest schema (authentication/v1)
// is not generated (kubectl create token does not need it).
func openapiSubresources(r *Resource) []string {
	var out []string
	for _, sub := range subresources(r) {
		if sub != "token" {
			out = append(out, sub)
		}
	}
	return out
}
