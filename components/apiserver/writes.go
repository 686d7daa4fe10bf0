package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"

	"github.com/tinykube/tinykube/components/apiserver/admission"
	"github.com/tinykube/tinykube/components/apiserver/storage"
)

func (s *Server) update(w http.ResponseWriter, r *http.Request, req request) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}
	obj, warnings, err := decode(r, req.resource, data)
	if err != nil {
		return err
	}
	m, _ := meta.Accessor(obj)
	if err := namespaceFor(req, m); err != nil {
		return err
	}
	if m.GetName() != req.name {
		return badRequest("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), req.name)
	}
	updated, err := s.updateObject(r.Context(), req, m.GetResourceVersion(), func(runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	})
	if err != nil {
		return err
	}
	warn(w, warnings)
	return s.respond(w, r, req.resource, http.StatusOK, updated)
}

// updateObject runs the update path on the stored object: mutate makes
// the new object from (a copy of) the current one; then what the server
// owns is kept, defaults and validation run, and the write is a
// compare-and-swap (409 Conflict if preRV is set and stale).
func (s *Server) updateObject(ctx context.Context, req request, preRV string, mutate func(current runtime.Object) (runtime.Object, error)) (runtime.Object, error) {
	var old runtime.Object
	var claimed, unused []string
	releaseClaims := func() {
		for _, key := range claimed {
			s.services.free(key)
		}
		claimed = nil
	}
	updated, err := s.store(req.resource).GuaranteedUpdate(ctx, req.namespace, req.name, storage.Preconditions{ResourceVersion: preRV},
		func(current runtime.Object) (runtime.Object, error) {
			old = current.DeepCopyObject()
			next, err := mutate(current.DeepCopyObject())
			if err != nil {
				return nil, err
			}
			if err := keepServerFields(req, next, old); err != nil {
				return nil, err
			}
			admission.Default(next)
			if req.subresource == "" {
				admission.PrepareForUpdate(next, old)
			}
			if errs := admission.ValidateUpdate(next, old); len(errs) > 0 {
				return nil, admission.Invalid(next, errs)
			}
			if err := s.admitQuota(ctx, req, next, old, false); err != nil {
				return nil, err
			}
			// What this attempt claims is given back if it fails or is
			// retried; ports the Service no longer uses are freed only
			// once the write has committed.
			releaseClaims()
			c, u, err := s.reallocate(ctx, next, old)
			claimed, unused = c, u
			if err != nil {
				releaseClaims()
				return nil, err
			}
			return next, nil
		})
	if err != nil {
		releaseClaims()
		return nil, err
	}
	for _, key := range unused {
		s.services.free(key)
	}
	// An object being deleted whose last finalizer just went is deleted now.
	m, _ := meta.Accessor(updated)
	if m.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) == 0 && !isPodAwaitingKubelet(updated) && !namespaceHasContent(updated) {
		deleted, err := s.store(req.resource).Delete(ctx, req.namespace, req.name, storage.Preconditions{UID: m.GetUID()})
		if err == nil {
			s.release(deleted)
			return deleted, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	return updated, nil
}

// namespaceHasContent: a Terminating namespace stays until the namespace
// controller has emptied it and removed its spec.finalizers ("kubernetes")
// through the finalize subresource.
func namespaceHasContent(obj runtime.Object) bool {
	ns, ok := obj.(*corev1.Namespace)
	return ok && len(ns.Spec.Finalizers) > 0
}

// finalizeNamespace answers PUT /api/v1/namespaces/<name>/finalize: the
// namespace controller's way to set spec.finalizers (and only that) once
// it has deleted everything in the namespace.
func (s *Server) finalizeNamespace(w http.ResponseWriter, r *http.Request, req request) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}
	obj, _, err := decode(r, req.resource, data)
	if err != nil {
		return err
	}
	want := obj.(*corev1.Namespace).Spec.Finalizers
	updated, err := s.updateObject(r.Context(), req, obj.(*corev1.Namespace).ResourceVersion, func(current runtime.Object) (runtime.Object, error) {
		ns := current.(*corev1.Namespace)
		ns.Spec.Finalizers = want
		return ns, nil
	})
	if err != nil {
		return err
	}
	return s.respond(w, r, req.resource, http.StatusOK, updated)
}

// isPodAwaitingKubelet: a bound pod being deleted gracefully stays until
// its kubelet has stopped its containers and deletes it with grace 0.
func isPodAwaitingKubelet(obj runtime.Object) bool {
	pod, ok := obj.(*corev1.Pod)
	return ok && pod.Spec.NodeName != "" && pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds > 0
}

// keepServerFields makes an update respect what it may not change: the
// identity and creation time always; the status through the main resource,
// everything but the status through /status. (The generation is
// admission.PrepareForUpdate's.)
func keepServerFields(req request, next, old runtime.Object) error {
	nm, err := meta.Accessor(next)
	if err != nil {
		return err
	}
	om, _ := meta.Accessor(old)
	if nm.GetUID() != "" && nm.GetUID() != om.GetUID() {
		return apierrors.NewConflict(req.resource.GVR.GroupResource(), req.name,
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", nm.GetUID(), om.GetUID()))
	}
	nm.SetUID(om.GetUID())
	nm.SetResourceVersion(om.GetResourceVersion()) // checked by the store's compare-and-swap
	nm.SetCreationTimestamp(om.GetCreationTimestamp())
	nm.SetNamespace(om.GetNamespace())
	nm.SetName(om.GetName())
	nm.SetGeneration(om.GetGeneration())
	if om.GetDeletionTimestamp() != nil {
		nm.SetDeletionTimestamp(om.GetDeletionTimestamp())
		nm.SetDeletionGracePeriodSeconds(om.GetDeletionGracePeriodSeconds())
	}
	nv, ov := reflect.ValueOf(next).Elem(), reflect.ValueOf(old).Elem()
	if req.resource.Status {
		ns, os := nv.FieldByName("Status"), ov.FieldByName("Status")
		if req.subresource == "status" {
			// Only the status changes: start from the old object.
			status := reflect.New(ns.Type()).Elem()
			status.Set(ns)
			labels, annotations := nm.GetLabels(), nm.GetAnnotations()
			nv.Set(ov)
			nv.FieldByName("Status").Set(status)
			nm, _ = meta.Accessor(next)
			nm.SetLabels(labels)
			nm.SetAnnotations(annotations)
			return nil
		}
		if ns.IsValid() && os.IsValid() {
			ns.Set(os)
		}
	}
	return nil
}

// Patch content types, as kubectl sends them.
const (
	jsonPatchType      = "application/json-patch+json"
	mergePatchType     = "application/merge-patch+json"
	strategicPatchType = "application/strategic-merge-patch+json"
	applyPatchType     = "application/apply-patch+yaml"
)

func (s *Server) patch(w http.ResponseWriter, r *http.Request, req request) error {
	ctx := r.Context()
	patch, err := readBody(r)
	if err != nil {
		return err
	}
	contentType := r.Header.Get("Content-Type")
	if i := indexByte(contentType, ';'); i >= 0 {
		contentType = contentType[:i]
	}
	var warnings []string
	apply := func(current runtime.Object) (runtime.Object, error) {
		currentJSON, err := json.Marshal(current)
		if err != nil {
			return nil, err
		}
		var patched []byte
		switch contentType {
		case jsonPatchType:
			p, err := jsonpatch.DecodePatch(patch)
			if err != nil {
				return nil, badRequest("the JSON patch is not valid: %v", err)
			}
			if patched, err = p.Apply(currentJSON); err != nil {
				return nil, statusError(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, fmt.Sprintf("the JSON patch cannot be applied: %v", err))
			}
		case mergePatchType:
			// A merge patch is the fields to change. Any other JSON (null,
			// an array) would replace the whole object (RFC 7386).
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(patch, &fields); err != nil || fields == nil {
				return nil, badRequest(`the merge patch is not a JSON object; send the fields to change, as {"spec":{"replicas":3}}`)
			}
			if patched, err = jsonpatch.MergePatch(currentJSON, patch); err != nil {
				return nil, badRequest("the merge patch cannot be applied: %v", err)
			}
		case strategicPatchType, applyPatchType:
			p := patch
			if contentType == applyPatchType {
				if p, err = yaml.YAMLToJSON(patch); err != nil {
					return nil, badRequest("the apply patch is not valid YAML: %v", err)
				}
			}
			if patched, err = strategicpatch.StrategicMergePatch(currentJSON, p, req.resource.New()); err != nil {
				return nil, badRequest("the strategic merge patch cannot be applied: %v", err)
			}
		default:
			return nil, statusError(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType,
				fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s, %s, %s, %s", jsonPatchType, mergePatchType, applyPatchType, strategicPatchType))
		}
		obj, ws, err := decode(r, req.resource, patched)
		if err != nil {
			return nil, err
		}
		warnings = ws
		om, _ := meta.Accessor(obj)
		cm, _ := meta.Accessor(current)
		if rv := om.GetResourceVersion(); rv != "" && rv != cm.GetResourceVersion() {
			return nil, apierrors.NewConflict(req.resource.GVR.GroupResource(), req.name,
				fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
		}
		return obj, nil
	}
	updated, err := s.updateObject(ctx, req, "", apply)
	if apierrors.IsNotFound(err) && contentType == applyPatchType && req.subresource == "" {
		// Server-side apply creates what does not exist yet.
		data, yerr := yaml.YAMLToJSON(patch)
		if yerr != nil {
			return badRequest("the apply patch is not valid YAML: %v", yerr)
		}
		obj, ws, derr := decode(r, req.resource, data)
		if derr != nil {
			return derr
		}
		created, cerr := s.createObject(ctx, req, obj, r.URL.Query().Get("dryRun") == "All")
		if cerr != nil {
			return cerr
		}
		warn(w, ws)
		return s.respond(w, r, req.resource, http.StatusCreated, created)
	}
	if err != nil {
		return err
	}
	warn(w, warnings)
	return s.respond(w, r, req.resource, http.StatusOK, updated)
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// deleteOptions reads DeleteOptions from the body (kubectl sends them
// there) and the query, and checks them as Kubernetes does (422 for an
// unknown propagationPolicy or dryRun).
func deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	if r.ContentLength != 0 {
		data, err := readBody(r)
		switch {
		case err == nil:
			if _, err := decodeInto(r.Header.Get("Content-Type"), data, opts); err != nil {
				return nil, badRequest("the DeleteOptions in the body are not valid: %v", err)
			}
		case r.ContentLength > 0 || apierrors.IsRequestEntityTooLargeError(err):
			return nil, err // too big, or shorter than announced
		}
		// A chunked request with an empty body: no options in it.
	}
	q := r.URL.Query()
	if g := q.Get("gracePeriodSeconds"); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return nil, badRequest("gracePeriodSeconds: %q is not a number", g)
		}
		opts.GracePeriodSeconds = &n
	}
	if p := q.Get("propagationPolicy"); p != "" {
		pp := metav1.DeletionPropagation(p)
		opts.PropagationPolicy = &pp
	}
	if d := q["dryRun"]; len(d) > 0 {
		opts.DryRun = d
	}
	// Reference: Kubernetes' rest.BeforeDelete.
	if errs := metav1validation.ValidateDeleteOptions(opts); len(errs) > 0 {
		return nil, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "DeleteOptions"}, "", errs)
	}
	return opts, nil
}

// isDryRun reports whether a request asked that nothing be written.
func isDryRun(opts *metav1.DeleteOptions) bool {
	return slices.Contains(opts.DryRun, metav1.DryRunAll)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, req request) error {
	opts, err := deleteOptions(r)
	if err != nil {
		return err
	}
	if isDryRun(opts) {
		// kubectl delete --dry-run=server: the object is answered, not deleted.
		obj, err := s.store(req.resource).Get(r.Context(), req.namespace, req.name)
		if err != nil {
			return err
		}
		return s.respond(w, r, req.resource, http.StatusOK, obj)
	}
	obj, code, err := s.deleteObject(r.Context(), req, req.name, opts)
	if err != nil {
		return err
	}
	return s.respond(w, r, req.resource, code, obj)
}

// deleteObject deletes one object as Kubernetes does: a bound pod
// gracefully (its kubelet finishes the deletion), an object with
// finalizers by marking it (their owners finish it), anything else at once.
// It answers 202 Accepted when the object is still there.
func (s *Server) deleteObject(ctx context.Context, req request, name string, opts *metav1.DeleteOptions) (runtime.Object, int, error) {
	store := s.store(req.resource)
	current, err := store.Get(ctx, req.namespace, name)
	if err != nil {
		return nil, 0, err
	}
	m, _ := meta.Accessor(current)
	if _, ok := current.(*corev1.Namespace); ok && systemNamespaces[name] {
		return nil, 0, apierrors.NewForbidden(req.resource.GVR.GroupResource(), name, errors.New("this namespace may not be deleted"))
	}
	pre := storage.Preconditions{}
	if opts.Preconditions != nil {
		if opts.Preconditions.UID != nil {
			pre.UID = *opts.Preconditions.UID
		}
		if opts.Preconditions.ResourceVersion != nil {
			pre.ResourceVersion = *opts.Preconditions.ResourceVersion
		}
	}
	grace := int64(0)
	if pod, ok := current.(*corev1.Pod); ok && pod.Spec.NodeName != "" {
		grace = 30
		if pod.Spec.TerminationGracePeriodSeconds != nil {
			grace = *pod.Spec.TerminationGracePeriodSeconds
		}
		if opts.GracePeriodSeconds != nil {
			grace = *opts.GracePeriodSeconds
		}
		if pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds < grace {
			grace = *pod.DeletionGracePeriodSeconds // a deletion can only be hurried
		}
	}
	finalizers := m.GetFinalizers()
	if opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationForeground:
			finalizers = addString(finalizers, metav1.FinalizerDeleteDependents)
		case metav1.DeletePropagationOrphan:
			finalizers = addString(finalizers, metav1.FinalizerOrphanDependents)
		}
	} else if opts.OrphanDependents != nil && *opts.OrphanDependents {
		finalizers = addString(finalizers, metav1.FinalizerOrphanDependents)
	}
	_, isNamespace := current.(*corev1.Namespace)
	if grace > 0 || len(finalizers) > 0 || isNamespace {
		marked, err := store.GuaranteedUpdate(ctx, req.namespace, name, pre, func(cur runtime.Object) (runtime.Object, error) {
			cm, _ := meta.Accessor(cur)
			if cm.GetDeletionTimestamp() == nil || grace > 0 {
				now := metav1.NewTime(s.now().Add(time.Duration(grace) * time.Second))
				if cm.GetDeletionTimestamp() == nil || now.Before(cm.GetDeletionTimestamp()) {
					cm.SetDeletionTimestamp(&now)
				}
			}
			if grace > 0 {
				g := grace
				cm.SetDeletionGracePeriodSeconds(&g)
			}
			cm.SetFinalizers(finalizers)
			if ns, ok := cur.(*corev1.Namespace); ok {
				ns.Status.Phase = corev1.NamespaceTerminating
			}
			return cur, nil
		})
		if err != nil {
			return nil, 0, err
		}
		return marked, http.StatusAccepted, nil
	}
	deleted, err := store.Delete(ctx, req.namespace, name, pre)
	if err != nil {
		return nil, 0, err
	}
	s.release(deleted)
	return deleted, http.StatusOK, nil
}

// systemNamespaces may not be deleted (Kubernetes' NamespaceLifecycle
// admission plugin): the cluster itself lives in them.
var systemNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true}

func addString(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func (s *Server) deleteCollection(w http.ResponseWriter, r *http.Request, req request) error {
	opts, err := deleteOptions(r)
	if err != nil {
		return err
	}
	pred, err := predicate(r, req.resource)
	if err != nil {
		return err
	}
	list, err := s.store(req.resource).List(r.Context(), req.namespace, storage.ListOptions{Predicate: pred})
	if err != nil {
		return err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return err
	}
	if isDryRun(opts) {
		return s.respond(w, r, req.resource, http.StatusOK, list)
	}
	var deleted []runtime.Object
	for _, item := range items {
		m, _ := meta.Accessor(item)
		one := req
		one.namespace = m.GetNamespace()
		obj, _, err := s.deleteObject(r.Context(), one, m.GetName(), opts)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if obj != nil {
			deleted = append(deleted, obj)
		}
	}
	if err := meta.SetList(list, deleted); err != nil {
		return err
	}
	return s.respond(w, r, req.resource, http.StatusOK, list)
}
