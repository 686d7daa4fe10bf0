package controllermanager

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
)

// The garbage collector deletes objects whose owners are gone.
//
// An object names its owners in metadata.ownerReferences (a pod its
// ReplicaSet, a ReplicaSet its Deployment, an EndpointSlice its Service).
// Deleting an owner says what becomes of its dependents, by the
// propagationPolicy of the delete (kubectl delete --cascade):
//
//   - Background (kubectl's default): the apiserver deletes the owner at
//     once; the collector then finds dependents whose every owner is gone
//     and deletes them, and so on down the tree.
//   - Foreground: the apiserver only marks the owner (deletionTimestamp)
//     and adds the finalizer foregroundDeletion. The collector deletes its
//     dependents, waits until those with blockOwnerDeletion are gone, then
//     removes the finalizer; with no finalizer left the apiserver deletes
//     the owner. The owner is visible, being deleted, until its pods are.
//   - Orphan (--cascade=orphan): the owner gets the finalizer orphan. The
//     collector removes the owner from its dependents' ownerReferences
//     (they live on, ownerless), then removes the finalizer.
//
// Kubernetes builds a graph of every object's owners; this collector asks
// its informers instead: each keeps an index from an owner's UID to its
// dependents, and an owner's existence is checked in the cache and, when
// the cache does not have it, with the apiserver (the cache may be behind:
// never delete on the word of a stale cache).
//
// Reference: kubernetes/pkg/controller/garbagecollector, and "Garbage
// Collection" in the Kubernetes docs.

// ownerUIDIndex indexes objects by the UIDs of their owners.
const ownerUIDIndex = "tinykube-gc-owner-uid"

// objectRef names one object: the queue's key.
type objectRef struct {
	Resource  schema.GroupVersionResource
	Namespace string
	Name      string
	UID       types.UID
}

func (r objectRef) String() string {
	if r.Namespace == "" {
		return fmt.Sprintf("%s %s (uid %s)", r.Resource.Resource, r.Name, r.UID)
	}
	return fmt.Sprintf("%s %s/%s (uid %s)", r.Resource.Resource, r.Namespace, r.Name, r.UID)
}

// gcSource is one resource's informer cache, as the collector reads it.
type gcSource struct {
	indexer cache.Indexer
	synced  cache.InformerSynced
}

type garbageCollector struct {
	client  dynamic.Interface
	mapper  meta.RESTMapper
	sources map[schema.GroupVersionResource]gcSource
	queue   workqueue.TypedRateLimitingInterface[objectRef]
	absent  *uidSet // owners the apiserver said are gone
}

// ignoredResources are never collected: too many, never owners.
var ignoredResources = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:              true,
	{Group: "events.k8s.io", Resource: "events"}: true,
}

func newGarbageCollector(c *Context) (Controller, error) {
	resources, err := deletableResources(c.Discovery)
	if err != nil {
		return nil, err
	}
	gc := newGC(c.Dynamic, c.Mapper)
	for _, gvr := range resources {
		var informer cache.SharedIndexInformer
		if generic, err := c.Informers.ForResource(gvr); err == nil {
			informer = generic.Informer() // shared with the other controllers
		} else {
			informer = c.DynamicInformers.ForResource(gvr).Informer()
		}
		if err := informer.AddIndexers(cache.Indexers{ownerUIDIndex: indexByOwnerUID}); err != nil {
			return nil, fmt.Errorf("garbage collector: indexing %s: %w", gvr, err)
		}
		if _, err := informer.AddEventHandler(gc.handler(gvr)); err != nil {
			return nil, err
		}
		gc.sources[gvr] = gcSource{indexer: informer.GetIndexer(), synced: informer.HasSynced}
	}
	return gc, nil
}

func newGC(client dynamic.Interface, mapper meta.RESTMapper) *garbageCollector {
	return &garbageCollector{
		client: client, mapper: mapper,
		sources: map[schema.GroupVersionResource]gcSource{},
		queue:   newQueue[objectRef]("garbage-collector-controller"),
		absent:  &uidSet{m: map[types.UID]bool{}},
	}
}

// deletableResources lists the resources the apiserver serves that can be
// listed, watched and deleted: anything can be an owner or a dependent.
func deletableResources(d discovery.DiscoveryInterface) ([]schema.GroupVersionResource, error) {
	lists, err := discovery.ServerPreferredResources(d)
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("garbage collector: discovering resources: %w", err)
	}
	if err != nil {
		// Some API groups did not answer: collect the others.
		logf("garbage-collector-controller", "discovering resources: %v (going on without them)", err)
	}
	var out []schema.GroupVersionResource
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			gvr := gv.WithResource(r.Name)
			if strings.Contains(r.Name, "/") || ignoredResources[gvr.GroupResource()] {
				continue // a subresource, or ignored
			}
			if verbs := r.Verbs; slices.Contains(verbs, "delete") && slices.Contains(verbs, "list") && slices.Contains(verbs, "watch") {
				out = append(out, gvr)
			}
		}
	}
	return out, nil
}

// indexByOwnerUID is the index function: an object's owners' UIDs.
func indexByOwnerUID(obj any) ([]string, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil
	}
	var uids []string
	for _, o := range m.GetOwnerReferences() {
		uids = append(uids, string(o.UID))
	}
	return uids, nil
}

func refOf(gvr schema.GroupVersionResource, m metav1.Object) objectRef {
	return objectRef{Resource: gvr, Namespace: m.GetNamespace(), Name: m.GetName(), UID: m.GetUID()}
}

// handler enqueues the objects of one resource that may need the
// collector.
func (gc *garbageCollector) handler(gvr schema.GroupVersionResource) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			// Also at start: every object is added once, so dependents
			// whose owners went while the collector was away are found.
			if m, err := meta.Accessor(obj); err == nil && (len(m.GetOwnerReferences()) > 0 || deletingWithGCFinalizer(m)) {
				gc.queue.Add(refOf(gvr, m))
			}
		},
		UpdateFunc: func(oldObj, curObj any) {
			old, err1 := meta.Accessor(oldObj)
			cur, err2 := meta.Accessor(curObj)
			if err1 != nil || err2 != nil {
				return
			}
			ownersChanged := !slices.EqualFunc(old.GetOwnerReferences(), cur.GetOwnerReferences(), func(a, b metav1.OwnerReference) bool { return a.UID == b.UID })
			if ownersChanged || deletingWithGCFinalizer(cur) != deletingWithGCFinalizer(old) {
				gc.queue.Add(refOf(gvr, cur))
			}
			// An owner it no longer refers to may be waiting for it.
			for _, o := range old.GetOwnerReferences() {
				if !slices.ContainsFunc(cur.GetOwnerReferences(), func(c metav1.OwnerReference) bool { return c.UID == o.UID }) {
					gc.enqueueOwner(old.GetNamespace(), o)
				}
			}
		},
		DeleteFunc: func(obj any) {
			m, err := meta.Accessor(untomb(obj))
			if err != nil {
				return
			}
			gc.queue.Add(refOf(gvr, m)) // its dependents may be orphans now
			for _, o := range m.GetOwnerReferences() {
				if o.BlockOwnerDeletion != nil && *o.BlockOwnerDeletion {
					gc.enqueueOwner(m.GetNamespace(), o) // a foreground deletion may wait for it
				}
			}
		},
	}
}

// enqueueOwner enqueues the owner an ownerReference of an object in
// namespace names.
func (gc *garbageCollector) enqueueOwner(namespace string, o metav1.OwnerReference) {
	mapping, err := gc.mapping(o)
	if err != nil {
		return
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		namespace = ""
	}
	gc.queue.Add(objectRef{Resource: mapping.Resource, Namespace: namespace, Name: o.Name, UID: o.UID})
}

func (gc *garbageCollector) mapping(o metav1.OwnerReference) (*meta.RESTMapping, error) {
	gv, err := schema.ParseGroupVersion(o.APIVersion)
	if err != nil {
		return nil, err
	}
	return gc.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: o.Kind}, gv.Version)
}

// deletingWithGCFinalizer: the object is being deleted and waits for the
// collector (foreground or orphan).
func deletingWithGCFinalizer(m metav1.Object) bool {
	return m.GetDeletionTimestamp() != nil &&
		(slices.Contains(m.GetFinalizers(), metav1.FinalizerOrphanDependents) || slices.Contains(m.GetFinalizers(), metav1.FinalizerDeleteDependents))
}

// Run runs the collector's workers until ctx is done.
func (gc *garbageCollector) Run(ctx context.Context, workers int) {
	var synced []cache.InformerSynced
	for _, s := range gc.sources {
		synced = append(synced, s.synced)
	}
	runWorkers(ctx, "garbage-collector-controller", gc.queue, workers, synced, gc.syncHandler)
}

// syncHandler compares the actual state with the desired, and attempts to
// converge the two: for one object, that each of its owners exists, and
// that a foreground or orphan deletion of it goes on.
func (gc *garbageCollector) syncHandler(ctx context.Context, ref objectRef) error {
	obj, ok := gc.lookup(ref)
	if !ok {
		// Gone (or the cache has not seen it yet): its dependents check
		// their owners, with the apiserver if need be.
		for _, d := range gc.dependents(ref.UID) {
			gc.queue.Add(d.ref)
		}
		return nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	if m.GetDeletionTimestamp() != nil {
		switch {
		case slices.Contains(m.GetFinalizers(), metav1.FinalizerOrphanDependents):
			return gc.orphanDependents(ctx, ref)
		case slices.Contains(m.GetFinalizers(), metav1.FinalizerDeleteDependents):
			return gc.deleteDependentsFirst(ctx, ref)
		}
		return nil // being deleted already
	}
	return gc.checkOwners(ctx, ref, m)
}

// checkOwners deletes an object whose owners are all gone, and drops the
// references to gone owners from one that still has a live owner.
func (gc *garbageCollector) checkOwners(ctx context.Context, ref objectRef, m metav1.Object) error {
	owners := m.GetOwnerReferences()
	if len(owners) == 0 {
		return nil
	}
	var dangling []types.UID
	for _, o := range owners {
		gone, err := gc.ownerGone(ctx, ref, o)
		if err != nil {
			return err // requeued: the apiserver did not answer
		}
		if gone {
			dangling = append(dangling, o.UID)
		}
	}
	switch {
	case len(dangling) == 0:
		return nil
	case len(dangling) < len(owners):
		logf("garbage-collector-controller", "%s: removing references to gone owners %v", ref, dangling)
		return gc.removeOwnerRefs(ctx, ref, dangling)
	}
	logf("garbage-collector-controller", "deleting %s: its owners are gone", ref)
	return gc.delete(ctx, ref, metav1.DeletePropagationBackground)
}

// ownerGone reports whether the owner o of ref no longer exists: the cache
// has no object of that name and UID and the apiserver confirms it.
func (gc *garbageCollector) ownerGone(ctx context.Context, ref objectRef, o metav1.OwnerReference) (bool, error) {
	if gc.absent.Has(o.UID) {
		return true, nil
	}
	mapping, err := gc.mapping(o)
	if err != nil {
		// A kind the apiserver does not serve: never delete on a guess.
		logf("garbage-collector-controller", "%s: owner %s %s: %v (kept)", ref, o.APIVersion, o.Kind, err)
		return false, nil
	}
	namespace := ""
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if ref.Namespace == "" {
			// A cluster-scoped object cannot be owned by a namespaced one:
			// the reference is invalid, as good as gone.
			return true, nil
		}
		namespace = ref.Namespace
	}
	if src, ok := gc.sources[mapping.Resource]; ok {
		if obj, exists, _ := src.indexer.GetByKey(cacheKey(namespace, o.Name)); exists {
			if m, err := meta.Accessor(obj); err == nil && m.GetUID() == o.UID {
				return false, nil
			}
		}
	}
	// Not in the cache: ask the apiserver.
	live, err := gc.client.Resource(mapping.Resource).Namespace(namespace).Get(ctx, o.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return false, err
	case live.GetUID() == o.UID:
		return false, nil
	}
	gc.absent.Add(o.UID) // a UID never comes back
	return true, nil
}

// orphanDependents removes ref from its dependents' ownerReferences, then
// the orphan finalizer from ref.
func (gc *garbageCollector) orphanDependents(ctx context.Context, ref objectRef) error {
	for _, d := range gc.dependents(ref.UID) {
		if err := gc.removeOwnerRefs(ctx, d.ref, []types.UID{ref.UID}); err != nil {
			return err
		}
	}
	logf("garbage-collector-controller", "%s: dependents orphaned; removing its finalizer %s", ref, metav1.FinalizerOrphanDependents)
	return gc.removeFinalizer(ctx, ref, metav1.FinalizerOrphanDependents)
}

// deleteDependentsFirst deletes ref's dependents and, once those that
// block its deletion are gone, removes the foregroundDeletion finalizer.
func (gc *garbageCollector) deleteDependentsFirst(ctx context.Context, ref objectRef) error {
	blocking := 0
	for _, d := range gc.dependents(ref.UID) {
		if blocks(d.meta, ref.UID) {
			blocking++
		}
		if d.meta.GetDeletionTimestamp() != nil {
			continue // on its way
		}
		// A dependent with another live owner stays; it only lets go of
		// this one.
		otherLives := false
		for _, o := range d.meta.GetOwnerReferences() {
			if o.UID == ref.UID {
				continue
			}
			gone, err := gc.ownerGone(ctx, d.ref, o)
			if err != nil {
				return err
			}
			otherLives = otherLives || !gone
		}
		if otherLives {
			if err := gc.removeOwnerRefs(ctx, d.ref, []types.UID{ref.UID}); err != nil {
				return err
			}
			continue
		}
		// Its own dependents go first too, if it has any.
		policy := metav1.DeletePropagationBackground
		if len(gc.dependents(d.ref.UID)) > 0 {
			policy = metav1.DeletePropagationForeground
		}
		logf("garbage-collector-controller", "deleting %s: its owner %s is being deleted in the foreground", d.ref, ref)
		if err := gc.delete(ctx, d.ref, policy); err != nil {
			return err
		}
	}
	if blocking > 0 {
		return nil // each blocking dependent that goes enqueues ref again
	}
	logf("garbage-collector-controller", "%s: no dependent left; removing its finalizer %s", ref, metav1.FinalizerDeleteDependents)
	return gc.removeFinalizer(ctx, ref, metav1.FinalizerDeleteDependents)
}

// blocks: m's reference to owner says blockOwnerDeletion.
func blocks(m metav1.Object, owner types.UID) bool {
	for _, o := range m.GetOwnerReferences() {
		if o.UID == owner && o.BlockOwnerDeletion != nil && *o.BlockOwnerDeletion {
			return true
		}
	}
	return false
}

type dependent struct {
	ref  objectRef
	meta metav1.Object
}

// dependents returns the objects in the caches that name owner among
// their owners.
func (gc *garbageCollector) dependents(owner types.UID) []dependent {
	var out []dependent
	for gvr, src := range gc.sources {
		objs, err := src.indexer.ByIndex(ownerUIDIndex, string(owner))
		if err != nil {
			continue
		}
		for _, obj := range objs {
			if m, err := meta.Accessor(obj); err == nil {
				out = append(out, dependent{ref: refOf(gvr, m), meta: m})
			}
		}
	}
	return out
}

// lookup returns ref's object from the cache, if it is there with ref's
// UID.
func (gc *garbageCollector) lookup(ref objectRef) (any, bool) {
	src, ok := gc.sources[ref.Resource]
	if !ok {
		return nil, false
	}
	obj, exists, err := src.indexer.GetByKey(cacheKey(ref.Namespace, ref.Name))
	if err != nil || !exists {
		return nil, false
	}
	if m, err := meta.Accessor(obj); err != nil || m.GetUID() != ref.UID {
		return nil, false
	}
	return obj, true
}

func cacheKey(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// delete deletes ref, if it is still the same object (a UID
// precondition), with the given propagation for its own dependents.
func (gc *garbageCollector) delete(ctx context.Context, ref objectRef, policy metav1.DeletionPropagation) error {
	uid := ref.UID
	err := gc.client.Resource(ref.Resource).Namespace(ref.Namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &policy,
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone already, or a namesake that is not ours to delete
	}
	return err
}

// removeOwnerRefs removes the references to owners from ref's
// ownerReferences: a JSON merge patch of the remaining list, with the
// object's resourceVersion as a precondition, retried on conflict.
func (gc *garbageCollector) removeOwnerRefs(ctx context.Context, ref objectRef, owners []types.UID) error {
	return gc.patchMeta(ctx, ref, func(m metav1.Object) (string, any, bool) {
		var keep []metav1.OwnerReference
		for _, o := range m.GetOwnerReferences() {
			if !slices.Contains(owners, o.UID) {
				keep = append(keep, o)
			}
		}
		return "ownerReferences", keep, len(keep) != len(m.GetOwnerReferences())
	})
}

// removeFinalizer removes finalizer from ref's finalizers; the apiserver
// deletes an object being deleted when its last finalizer goes.
func (gc *garbageCollector) removeFinalizer(ctx context.Context, ref objectRef, finalizer string) error {
	return gc.patchMeta(ctx, ref, func(m metav1.Object) (string, any, bool) {
		keep := slices.DeleteFunc(slices.Clone(m.GetFinalizers()), func(f string) bool { return f == finalizer })
		if len(keep) == 0 {
			keep = nil
		}
		return "finalizers", keep, len(keep) != len(m.GetFinalizers())
	})
}

// patchMeta reads ref from the apiserver, asks change for the new value of
// one metadata field, and writes it with a merge patch conditioned on the
// resourceVersion read, retrying on conflict.
func (gc *garbageCollector) patchMeta(ctx context.Context, ref objectRef, change func(metav1.Object) (field string, value any, changed bool)) error {
	client := gc.client.Resource(ref.Resource).Namespace(ref.Namespace)
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		live, err := client.Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if live.GetUID() != ref.UID {
			return nil // a namesake
		}
		field, value, changed := change(live)
		if !changed {
			return nil
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			field: value, "resourceVersion": live.GetResourceVersion(), "uid": ref.UID,
		}})
		if err != nil {
			return err
		}
		_, err = client.Patch(ctx, ref.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// uidSet is a set of UIDs, forgotten wholesale when it grows large.
type uidSet struct {
	mu sync.Mutex
	m  map[types.UID]bool
}

func (s *uidSet) Add(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= 10000 {
		s.m = map[types.UID]bool{}
	}
	s.m[uid] = true
}

func (s *uidSet) Has(uid types.UID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[uid]
}
