package apiserver

import (
	"context"
	"fmt"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/tinykube/tinykube/components/apiserver/quota"
	"github.com/tinykube/tinykube/components/apiserver/storage"
)

// The ResourceQuota admission: a create (or a Service update) is charged
// against the ResourceQuotas of its namespace before the object is
// written. The decision is quota.Admit's; here is only the I/O:
//
//  1. read the namespace's quotas from etcd;
//  2. quota.Admit: refuse (403 Forbidden) or say which quotas' status.used
//     go up;
//  3. write each of those with a compare-and-swap on the resourceVersion
//     Admit read it at. A quota written in between (by the controller, or
//     another apiserver) is read again and checked again, at most
//     quotaRetries times; then the write fails with the Conflict.
//
// Only then is the object itself written. If that write fails, the charge
// stays until the controller-manager's resourcequota controller recounts
// (at the latest its resync period): usage may be over-counted for a
// while, never under-counted, which is the safe side of a limit.
//
// Writes to one namespace's quotas are serialized in this process (as
// kube-apiserver's quota evaluator does with one worker per namespace), so
// that concurrent creates do not race each other into conflicts.
//
// Reference: k8s.io/apiserver/pkg/admission/plugin/resourcequota,
// controller.go (checkQuotas).

// quotaRetries is how often a charge is retried on a Conflict, as in
// Kubernetes.
const quotaRetries = 3

// quotaLocks holds a mutex per Server and namespace.
var quotaLocks sync.Map // quotaLockKey → *sync.Mutex

type quotaLockKey struct {
	s  *Server
	ns string
}

// admitQuota charges obj (replacing old on an update; old nil on a
// create) against the quotas of its namespace, or refuses it. dryRun
// checks without charging. Subresources (status, scale) are never
// charged.
func (s *Server) admitQuota(ctx context.Context, req request, obj, old runtime.Object, dryRun bool) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	ns := m.GetNamespace()
	gr := req.resource.GVR.GroupResource()
	if ns == "" || req.subresource != "" || !quota.Handles(gr, old != nil) {
		return nil
	}
	quotas := lookup("", "v1", "resourcequotas")
	// Most namespaces have no quota: find out first, cheaply (count the
	// keys, from the local etcd member without a quorum round), so that
	// their creates neither wait for each other on the lock nor pay for a
	// full read.
	count, err := s.etcd.Get(ctx, s.store(quotas).Key(ns, ""), clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable())
	if err != nil {
		return fmt.Errorf("apiserver: reading the quotas of %s: %w", ns, err)
	}
	if count.Count == 0 {
		return nil
	}
	mu, _ := quotaLocks.LoadOrStore(quotaLockKey{s, ns}, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	var pending map[string]bool // nil: check every quota; else only these
	for attempt := 0; ; attempt++ {
		// Read (again) under the lock: what the previous holder charged.
		list, err := s.store(quotas).List(ctx, ns, storage.ListOptions{})
		if err != nil {
			return err
		}
		var items []corev1.ResourceQuota
		for _, q := range list.(*corev1.ResourceQuotaList).Items {
			if pending == nil || pending[q.Name] {
				items = append(items, q)
			}
		}
		if len(items) == 0 {
			return nil
		}
		charged, err := quota.Admit(items, quota.Request{Resource: gr, Object: obj, Old: old, Now: s.now()})
		if err != nil {
			return apierrors.NewForbidden(gr, m.GetName(), err)
		}
		if dryRun {
			return nil
		}
		// Charge each quota; those written in between are checked again.
		failed, lastErr := map[string]bool{}, error(nil)
		for _, q := range charged {
			used := q.Status.Used
			_, err := s.store(quotas).GuaranteedUpdate(ctx, ns, q.Name, storage.Preconditions{ResourceVersion: q.ResourceVersion},
				func(current runtime.Object) (runtime.Object, error) {
					current.(*corev1.ResourceQuota).Status.Used = used
					return current, nil
				})
			switch {
			case err == nil, apierrors.IsNotFound(err):
				// Charged; or the quota was deleted meanwhile: nothing to charge.
			case apierrors.IsConflict(err):
				failed[q.Name], lastErr = true, err
			default:
				return err
			}
		}
		if len(failed) == 0 {
			return nil
		}
		if attempt == quotaRetries {
			return lastErr
		}
		pending = failed
	}
}
