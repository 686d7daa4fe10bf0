package storage

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Objects that expire (Store.WithTTL) are written with an etcd lease: a
// key attached to a lease is deleted by etcd when the lease runs out.
//
// One lease per write would be one more etcd object per Event; as
// kube-apiserver does, writes share a lease for a while (reuseFor: a
// minute, or a twentieth of a short ttl): the lease is granted for ttl
// plus that while, so each object lives at least ttl, and at most ttl + 1
// minute, after its last write.
// Reference: kubernetes/staging/src/k8s.io/apiserver/pkg/storage/etcd3/lease_manager.go.

// leaseReuse is how long one lease serves new writes, at most.
const leaseReuse = time.Minute

// reuseFor is how long one lease serves new writes for objects that
// live ttl: leaseReuse, or a twentieth of ttl if that is shorter.
func reuseFor(ttl time.Duration) time.Duration { return min(leaseReuse, ttl/20) }

// leases hands out the lease for a write.
type leases struct {
	client *clientv3.Client
	ttl    time.Duration

	mu      sync.Mutex
	id      clientv3.LeaseID
	granted time.Time
}

// get returns a lease that outlives now by at least ttl.
func (l *leases) get(ctx context.Context) (clientv3.LeaseID, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	reuse := reuseFor(l.ttl)
	if l.id != 0 && time.Since(l.granted) < reuse {
		return l.id, nil
	}
	seconds := int64(math.Ceil((l.ttl + reuse).Seconds()))
	resp, err := l.client.Grant(ctx, seconds)
	if err != nil {
		return 0, fmt.Errorf("storage: granting a lease of %ds: %w", seconds, err)
	}
	l.id, l.granted = resp.ID, time.Now()
	return l.id, nil
}

// putOptions are the options of an object's Put: its lease, if the Store
// expires its objects.
func (s *Store) putOptions(ctx context.Context) ([]clientv3.OpOption, error) {
	if s.leases == nil {
		return nil, nil
	}
	id, err := s.leases.get(ctx)
	if err != nil {
		return nil, err
	}
	return []clientv3.OpOption{clientv3.WithLease(id)}, nil
}
