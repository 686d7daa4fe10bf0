package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
)

// OptimisticLockErrorMsg is the message of the Conflict an update gets when
// the object changed since the client read it, word for word Kubernetes'.
const OptimisticLockErrorMsg = "the object has been modified; please apply your changes to the latest version and try again"

// Store keeps the objects of one resource (pods, nodes, ...) in etcd, one
// key per object, as JSON. A Store holds no state of its own besides its
// configuration: everything is in etcd, and a Store is safe for concurrent
// use by any number of goroutines.
//
// Every object a Store returns is the caller's (a fresh copy, never shared)
// and carries metadata.resourceVersion: the etcd revision at which that
// state of the object was written (its mod_revision). Errors the caller
// should show a client are *apierrors.StatusError (NotFound, AlreadyExists,
// Conflict, Expired, BadRequest, Timeout); anything else is a failure of
// etcd or of the stored data, a 500 for the client.
type Store struct {
	client  *clientv3.Client
	codec   runtime.Codec
	gr      schema.GroupResource
	prefix  string // "/registry/pods", no trailing slash
	newObj  func() runtime.Object
	newList func() runtime.Object
	gvk     schema.GroupVersionKind // of newObj(), for bookmarks; may be empty
	leases  *leases                 // nil: objects live until deleted (see WithTTL)
}

// New returns the Store of one resource.
//
//   - client talks to etcd; the Store never closes it.
//   - codec turns objects into the bytes stored and back (DefaultCodec()).
//   - gr names the resource in errors: pods "web" not found.
//   - prefix is where the objects live, "/registry/pods": an object is at
//     prefix/<namespace>/<name>, or prefix/<name> if cluster-scoped.
//   - newObj returns an empty object of the resource (&corev1.Pod{}),
//     newList an empty list (&corev1.PodList{}).
func New(client *clientv3.Client, codec runtime.Codec, gr schema.GroupResource, prefix string, newObj, newList func() runtime.Object) *Store {
	s := &Store{
		client:  client,
		codec:   codec,
		gr:      gr,
		prefix:  strings.TrimSuffix(prefix, "/"),
		newObj:  newObj,
		newList: newList,
	}
	if gvks, _, err := scheme.Scheme.ObjectKinds(newObj()); err == nil && len(gvks) > 0 {
		s.gvk = gvks[0]
	}
	return s
}

// WithTTL makes every object this Store writes expire ttl after its last
// write: etcd deletes the key when its lease runs out, and watchers see
// the deletion. kube-apiserver does this for Events (--event-ttl, 1 h), so
// that a busy cluster's events do not pile up forever. It returns s.
func (s *Store) WithTTL(ttl time.Duration) *Store {
	s.leases = &leases{client: s.client, ttl: ttl}
	return s
}

// GroupResource is the resource this Store keeps, as named in its errors.
func (s *Store) GroupResource() schema.GroupResource { return s.gr }

// Key is the etcd key of an object: prefix/<namespace>/<name> for a
// namespaced object, prefix/<name> when namespace is "" (cluster-scoped).
//
//	/registry/pods/default/web-1
//	/registry/nodes/node1
func (s *Store) Key(namespace, name string) string {
	if namespace == "" {
		return s.prefix + "/" + name
	}
	return s.prefix + "/" + namespace + "/" + name
}

// collectionKey is the prefix under which List and Watch look: every
// object of the resource (namespace "") or those of one namespace. It ends
// in "/", so that namespace "a" does not also match "ab".
func (s *Store) collectionKey(namespace string) string {
	if namespace == "" {
		return s.prefix + "/"
	}
	return s.prefix + "/" + namespace + "/"
}

// Preconditions must hold for an update or a delete to go ahead. An empty
// field is not checked.
type Preconditions struct {
	// UID: the object must be this one, not another of the same name
	// created since (kubectl delete --uid, garbage collection).
	UID types.UID
	// ResourceVersion: the object must not have changed since the client
	// read it at this resourceVersion (an update whose body carries
	// metadata.resourceVersion).
	ResourceVersion string
}

// Create stores obj under namespace/name, which must be obj's own
// metadata.namespace and metadata.name, if it does not exist yet. obj must
// not carry a resourceVersion; its uid, creationTimestamp and the rest are
// stored as given (setting them is the caller's job). Create does not
// change obj.
//
// It returns the object as stored, with resourceVersion set to the
// revision of the write. Errors: AlreadyExists if the key exists;
// BadRequest if obj does not fit namespace/name or carries a
// resourceVersion.
func (s *Store) Create(ctx context.Context, namespace, name string, obj runtime.Object) (runtime.Object, error) {
	if err := s.checkObject(namespace, name, obj); err != nil {
		return nil, err
	}
	if m, _ := meta.Accessor(obj); m.GetResourceVersion() != "" {
		// Reference: Kubernetes' etcd3 store, Create.
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s %q: resourceVersion should not be set on objects to be created; remove metadata.resourceVersion", s.gr, name))
	}
	data, err := s.encode(obj)
	if err != nil {
		return nil, err
	}
	key := s.Key(namespace, name)
	opts, err := s.putOptions(ctx)
	if err != nil {
		return nil, err
	}
	// The key must not exist: its create_revision is 0 only if it does not.
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(data), opts...)).
		Commit()
	if err != nil {
		return nil, fmt.Errorf("storage: create %s: %w", key, err)
	}
	if !resp.Succeeded {
		return nil, apierrors.NewAlreadyExists(s.gr, name)
	}
	return s.decode(key, data, resp.Header.Revision)
}

// Get reads the current state of an object (a linearizable read: what the
// latest successful write left). Errors: NotFound.
func (s *Store) Get(ctx context.Context, namespace, name string) (runtime.Object, error) {
	if err := s.checkName(namespace, name); err != nil {
		return nil, err
	}
	key := s.Key(namespace, name)
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("storage: get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, apierrors.NewNotFound(s.gr, name)
	}
	return s.decode(key, resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
}

// GuaranteedUpdate changes an object with optimistic concurrency: it reads
// the object, calls tryUpdate with it, and writes what tryUpdate returns
// only if nobody wrote the object in between (a compare-and-swap on the
// key's mod_revision). If somebody did, it reads again and calls tryUpdate
// again, as often as needed; tryUpdate must therefore be a function of the
// object it is given, without side effects.
//
// tryUpdate gets a fresh copy of the current object, resourceVersion set,
// and may change and return it. Its error is returned as it is (a handler's
// validation error, say). What it returns must keep the namespace and name,
// and its resourceVersion is ignored. If it returns an object that encodes
// to the same bytes as the current one, nothing is written and the current
// object comes back, resourceVersion unchanged, as in Kubernetes.
//
// preconditions are checked against each state read: the update of an
// object whose body carried resourceVersion N passes ResourceVersion N,
// and gets Conflict ("the object has been modified...") once the object
// is at any other revision, instead of a retry.
//
// Errors: NotFound; Conflict for failed preconditions; BadRequest if
// tryUpdate changed the name; tryUpdate's own errors.
func (s *Store) GuaranteedUpdate(ctx context.Context, namespace, name string, preconditions Preconditions, tryUpdate func(current runtime.Object) (runtime.Object, error)) (runtime.Object, error) {
	if err := s.checkName(namespace, name); err != nil {
		return nil, err
	}
	key := s.Key(namespace, name)
	getResp, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("storage: update %s: %w", key, err)
	}
	kvs := getResp.Kvs
	for {
		if len(kvs) == 0 {
			return nil, apierrors.NewNotFound(s.gr, name)
		}
		current, rev := kvs[0].Value, kvs[0].ModRevision
		obj, err := s.decode(key, current, rev)
		if err != nil {
			return nil, err
		}
		if err := s.checkPreconditions(name, preconditions, obj, OptimisticLockErrorMsg); err != nil {
			return nil, err
		}
		updated, err := tryUpdate(obj)
		if err != nil {
			return nil, err
		}
		if err := s.checkObject(namespace, name, updated); err != nil {
			return nil, err
		}
		data, err := s.encode(updated)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(data, current) {
			// Nothing changed: no write, no new revision, no watch event.
			return s.decode(key, current, rev)
		}
		opts, err := s.putOptions(ctx)
		if err != nil {
			return nil, err
		}
		// Write only if the key is still at the revision we read; if not,
		// etcd hands back the newer state in the same round trip.
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, string(data), opts...)).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return nil, fmt.Errorf("storage: update %s: %w", key, err)
		}
		if resp.Succeeded {
			return s.decode(key, data, resp.Header.Revision)
		}
		// Lost the race: try again on what the winner wrote.
		kvs = resp.Responses[0].GetResponseRange().Kvs
	}
}

// Delete removes an object if preconditions hold, and returns its last
// state with resourceVersion set to the revision of the delete (the
// resourceVersion watchers see on the DELETED event). Errors: NotFound;
// Conflict if a precondition fails.
//
// Delete removes the key at once: graceful deletion (deletionTimestamp,
// finalizers) is the caller's, done with GuaranteedUpdate before the Delete.
func (s *Store) Delete(ctx context.Context, namespace, name string, preconditions Preconditions) (runtime.Object, error) {
	if err := s.checkName(namespace, name); err != nil {
		return nil, err
	}
	key := s.Key(namespace, name)
	getResp, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("storage: delete %s: %w", key, err)
	}
	kvs := getResp.Kvs
	for {
		if len(kvs) == 0 {
			return nil, apierrors.NewNotFound(s.gr, name)
		}
		current, rev := kvs[0].Value, kvs[0].ModRevision
		obj, err := s.decode(key, current, rev)
		if err != nil {
			return nil, err
		}
		msg := fmt.Sprintf("Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %d", preconditions.ResourceVersion, rev)
		if err := s.checkPreconditions(name, preconditions, obj, msg); err != nil {
			return nil, err
		}
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpDelete(key)).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return nil, fmt.Errorf("storage: delete %s: %w", key, err)
		}
		if resp.Succeeded {
			return s.decode(key, current, resp.Header.Revision)
		}
		kvs = resp.Responses[0].GetResponseRange().Kvs
	}
}

// Count returns how many objects of the resource exist, in all namespaces.
func (s *Store) Count(ctx context.Context) (int64, error) {
	key := s.collectionKey("")
	resp, err := s.client.Get(ctx, key, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("storage: count %s: %w", key, err)
	}
	return resp.Count, nil
}

// checkPreconditions returns Conflict if obj is not the object, or not at
// the revision, that p asks for. rvMessage explains a revision mismatch.
func (s *Store) checkPreconditions(name string, p Preconditions, obj runtime.Object, rvMessage string) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	if p.UID != "" && p.UID != m.GetUID() {
		// Reference: Kubernetes' storage.Preconditions.Check.
		return apierrors.NewConflict(s.gr, name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", p.UID, m.GetUID()))
	}
	if p.ResourceVersion != "" && p.ResourceVersion != m.GetResourceVersion() {
		return apierrors.NewConflict(s.gr, name, errors.New(rvMessage))
	}
	return nil
}

// checkName refuses names that cannot be a segment of an etcd key.
func (s *Store) checkName(namespace, name string) error {
	if name == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("%s: a name is required", s.gr))
	}
	for _, seg := range []struct{ what, v string }{{"name", name}, {"namespace", namespace}} {
		if strings.Contains(seg.v, "/") || seg.v == "." || seg.v == ".." {
			return apierrors.NewBadRequest(fmt.Sprintf("%s %q: %s %q may not contain '/' or be '.' or '..'", s.gr, name, seg.what, seg.v))
		}
	}
	return nil
}

// checkObject refuses an object whose metadata does not match the key it
// is about to be stored under.
func (s *Store) checkObject(namespace, name string, obj runtime.Object) error {
	if err := s.checkName(namespace, name); err != nil {
		return err
	}
	if obj == nil {
		return apierrors.NewBadRequest(fmt.Sprintf("%s %q: no object", s.gr, name))
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("%s %q: %v", s.gr, name, err))
	}
	if m.GetName() != name {
		return apierrors.NewBadRequest(fmt.Sprintf("%s %q: metadata.name is %q; it must be %q", s.gr, name, m.GetName(), name))
	}
	if m.GetNamespace() != namespace {
		return apierrors.NewBadRequest(fmt.Sprintf("%s %q: metadata.namespace is %q; it must be %q", s.gr, name, m.GetNamespace(), namespace))
	}
	return nil
}

// encode returns the bytes to store for obj: JSON with apiVersion and kind
// and without resourceVersion, which etcd keeps for us as the key's
// mod_revision. obj itself is not changed.
func (s *Store) encode(obj runtime.Object) ([]byte, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	if m.GetResourceVersion() != "" {
		obj = obj.DeepCopyObject()
		m, _ = meta.Accessor(obj)
		m.SetResourceVersion("")
	}
	data, err := runtime.Encode(s.codec, obj)
	if err != nil {
		return nil, fmt.Errorf("storage: encode %s %q: %w", s.gr, m.GetName(), err)
	}
	return data, nil
}

// decode turns the bytes stored at key into a new object with
// resourceVersion rev.
func (s *Store) decode(key string, data []byte, rev int64) (runtime.Object, error) {
	into := s.newObj()
	obj, _, err := s.codec.Decode(data, nil, into)
	if err != nil {
		return nil, fmt.Errorf("storage: decode %s: %w", key, err)
	}
	if reflect.TypeOf(obj) != reflect.TypeOf(into) {
		return nil, fmt.Errorf("storage: decode %s: holds a %T, want a %T", key, obj, into)
	}
	if err := setResourceVersion(obj, rev); err != nil {
		return nil, fmt.Errorf("storage: decode %s: %w", key, err)
	}
	return obj, nil
}

// setResourceVersion sets an object's or a list's resourceVersion.
func setResourceVersion(obj runtime.Object, rev int64) error {
	if meta.IsListType(obj) {
		l, err := meta.ListAccessor(obj)
		if err != nil {
			return err
		}
		l.SetResourceVersion(strconv.FormatInt(rev, 10))
		return nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	return nil
}
