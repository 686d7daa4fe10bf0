package controllermanager

import (
	"sync"
	"time"
)

// ExpectationsTimeout is how long a controller trusts its expectations:
// if the informer has not shown the creations and deletions it asked for
// after this long (a watch event lost, a create that timed out and never
// happened), the controller syncs anyway. Kubernetes uses 5 minutes.
const ExpectationsTimeout = 5 * time.Minute

// expectations remembers, per controller key ("namespace/name" of a
// ReplicaSet), the pod creations and deletions the controller has asked the
// apiserver for and its informer has not shown yet.
//
// Why: the controller counts pods in its informer cache, and the cache is
// a little behind the apiserver. Right after creating 3 pods the cache may
// still show none; a sync then would create 3 more. So the controller
// records "3 creations expected" before creating, each pod the informer
// then shows lowers the count, and the controller does not manage replicas
// again until the count is back to zero (or ExpectationsTimeout has
// passed). Deletions are recorded by pod key, so a pod seen twice while
// going (marked for deletion, then gone) only counts once.
//
// Reference: kubernetes/pkg/controller/controller_utils.go,
// ControllerExpectations and UIDTrackingControllerExpectations.
type expectations struct {
	mu    sync.Mutex
	byKey map[string]*expected
	now   func() time.Time
}

type expected struct {
	creations int
	deletions map[string]bool // keys of pods whose deletion is awaited
	at        time.Time       // when the expectations were set
}

func newExpectations(now func() time.Time) *expectations {
	return &expectations{byKey: map[string]*expected{}, now: now}
}

// Satisfied reports whether the controller may manage key's replicas: it
// expects nothing more, or it has waited long enough.
func (e *expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.byKey[key]
	if !ok {
		return true // never set (a new controller, or a restarted one)
	}
	if x.creations <= 0 && len(x.deletions) == 0 {
		return true
	}
	return e.now().Sub(x.at) > ExpectationsTimeout
}

// ExpectCreations records that n pods are about to be created for key.
func (e *expectations) ExpectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byKey[key] = &expected{creations: n, deletions: map[string]bool{}, at: e.now()}
}

// CreationObserved lowers key's expected creations by one: the informer
// showed a new pod of key's, or a create was not sent after all.
func (e *expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.byKey[key]; ok && x.creations > 0 {
		x.creations--
	}
}

// ExpectDeletions records that the pods podKeys are about to be deleted
// for key.
func (e *expectations) ExpectDeletions(key string, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expected{deletions: map[string]bool{}, at: e.now()}
	for _, k := range podKeys {
		x.deletions[k] = true
	}
	e.byKey[key] = x
}

// DeletionObserved records that the pod podKey of key's is going (or that
// its deletion failed). It is idempotent.
func (e *expectations) DeletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.byKey[key]; ok {
		delete(x.deletions, podKey)
	}
}

// Delete forgets key (its owner is gone).
func (e *expectations) Delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey, key)
}
