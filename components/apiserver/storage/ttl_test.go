package storage

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// An object of a Store WithTTL is gone once its lease runs out; writes
// share leases; an object of a Store without one stays.
func TestTTL(t *testing.T) {
	ctx := context.Background()
	s := newPodStore(t).WithTTL(2 * time.Second)
	keep := newConfigMapStore(t)
	mustCreate(t, s, pod("default", "a", nil))
	mustCreate(t, s, pod("default", "b", nil))
	mustCreate(t, keep, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "cm"}})

	// Both writes within the reuse window (0.1 s for a 2 s ttl) share a
	// lease: one lease, two keys.
	leases, err := testClient.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var attached int
	for _, l := range leases.Leases {
		ttl, err := testClient.TimeToLive(ctx, l.ID, clientv3.WithAttachedKeys())
		if err == nil {
			for _, k := range ttl.Keys {
				if string(k) == s.Key("default", "a") || string(k) == s.Key("default", "b") {
					attached++
				}
			}
		}
	}
	if attached != 2 {
		t.Errorf("%d of the 2 objects are attached to a lease", attached)
	}

	deadline := time.Now().Add(20 * time.Second)
	for {
		_, errA := s.Get(ctx, "default", "a")
		_, errB := s.Get(ctx, "default", "b")
		if apierrors.IsNotFound(errA) && apierrors.IsNotFound(errB) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20 s after a 2 s ttl: get a: %v, get b: %v; want both not found", errA, errB)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := keep.Get(ctx, "default", "cm"); err != nil {
		t.Errorf("the object of a Store without ttl: %v", err)
	}
}
