package quota

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Request is one write the apiserver is about to make.
type Request struct {
	// Resource is the object's resource (pods, services, ...).
	Resource schema.GroupResource
	// Object is the object as it will be stored: defaulted and valid.
	Object runtime.Object
	// Old is the stored object an update replaces; nil for a create.
	Old runtime.Object
	// Now decides whether a pod being deleted still counts.
	Now time.Time
}

// Admit decides whether a write fits in the ResourceQuotas of its
// namespace, as Kubernetes' ResourceQuota admission plugin does. For
// every quota that applies (it limits, in status.hard, something the
// object uses, and the object is in its scopes) it checks, in order:
//
//  1. the object states what the quota must count (a pod's containers
//     their cpu and memory requests or limits): else "failed quota: <name>:
//     must specify ...";
//  2. the controller has counted the usage of those resources (status.used
//     has them): else "status unknown for quota: <name>, resources: ...";
//  3. used + what the object adds stays within hard: else "exceeded quota:
//     <name>, requested: pods=1, used: pods=2, limited: pods=2".
//
// An update adds only what it grows (a ClusterIP Service that becomes a
// NodePort adds its node ports).
//
// It returns the quotas whose status.used the write raises, copies with
// the new status.used, for the caller to store (each a compare-and-swap
// on its resourceVersion) before it stores the object. An error is a
// refusal: the caller answers 403 Forbidden, `pods "x" is forbidden: `
// followed by the error. quotas is not modified.
func Admit(quotas []corev1.ResourceQuota, r Request) ([]corev1.ResourceQuota, error) {
	e := evaluatorFor(r.Resource)
	if e == nil || (r.Old != nil && !e.onUpdate) {
		return nil, nil
	}
	var applies []int
	for i := range quotas {
		q := &quotas[i]
		ok, err := e.matches(q, r.Object)
		if err != nil {
			return nil, fmt.Errorf("error matching scopes of quota %s, err: %v", q.Name, err)
		}
		if !ok {
			continue
		}
		limited := e.matchingResources(resourceNames(q.Status.Hard))
		if e.constraints != nil {
			if err := e.constraints(limited, r.Object); err != nil {
				return nil, fmt.Errorf("failed quota: %s: %v", q.Name, err)
			}
		}
		for _, n := range limited {
			if _, ok := q.Status.Used[n]; !ok {
				return nil, fmt.Errorf("status unknown for quota: %s, resources: %s", q.Name, prettyPrintNames(limited))
			}
		}
		applies = append(applies, i)
	}
	if len(applies) == 0 {
		return nil, nil
	}
	delta := e.usage(r.Object, r.Now)
	if neg := negative(delta); len(neg) > 0 {
		return nil, fmt.Errorf("quota usage is negative for resource(s): %s", prettyPrintNames(neg))
	}
	if r.Old != nil {
		delta = subtractNonNegative(delta, e.usage(r.Old, r.Now))
	}
	delta = removeZeros(delta)
	if len(delta) == 0 {
		return nil, nil // nothing that any quota counts grows
	}
	var charged []corev1.ResourceQuota
	for _, i := range applies {
		q := &quotas[i]
		requested := mask(delta, resourceNames(q.Status.Hard))
		if len(requested) == 0 {
			continue
		}
		used := add(q.Status.Used, requested)
		if ok, over := lessThanOrEqual(mask(used, resourceNames(requested)), q.Status.Hard); !ok {
			return nil, fmt.Errorf("exceeded quota: %s, requested: %s, used: %s, limited: %s", q.Name,
				prettyPrint(mask(requested, over)), prettyPrint(mask(q.Status.Used, over)), prettyPrint(mask(q.Status.Hard, over)))
		}
		next := *q.DeepCopy()
		next.Status.Used = used
		charged = append(charged, next)
	}
	return charged, nil
}

// Resources returns the resources whose objects count toward the quota
// resources of hard: pods for requests.cpu, apps/deployments for
// count/deployments.apps. These are what the controller lists to recount
// a quota's usage.
func Resources(hard corev1.ResourceList) []schema.GroupResource {
	seen := map[schema.GroupResource]bool{}
	var out []schema.GroupResource
	for _, n := range sortedNames(hard) {
		gr, ok := resourceOf(n)
		if ok && !seen[gr] {
			seen[gr] = true
			out = append(out, gr)
		}
	}
	return out
}

// resourceOf: the resource whose objects count toward quota resource n.
func resourceOf(n corev1.ResourceName) (schema.GroupResource, bool) {
	if gr, ok := objectCountResource(n); ok {
		return gr, !ignored[gr]
	}
	for _, e := range []*evaluator{podEvaluator, serviceEvaluator, pvcEvaluator} {
		if e.tracks(n) {
			return e.resource, true
		}
	}
	for gr, legacy := range legacyCountNames {
		if legacy == n {
			return gr, true
		}
	}
	return schema.GroupResource{}, false
}

// Used recounts what a quota's spec.hard resources use in its namespace,
// from objects: every object of each resource Resources named, of that
// namespace. Each tracked resource gets an entry, 0 if nothing uses it;
// objects outside the quota's scopes are left out. A resource objects has
// no entry for (the caller could not list it) is left out of the result,
// for the caller to keep its previous count.
//
// Reference: k8s.io/apiserver/pkg/quota/v1, CalculateUsage, and
// generic.CalculateUsageStats.
func Used(spec corev1.ResourceQuotaSpec, objects map[schema.GroupResource][]runtime.Object, now time.Time) (corev1.ResourceList, error) {
	hard := resourceNames(spec.Hard)
	used := corev1.ResourceList{}
	var errs []error
	for _, gr := range Resources(spec.Hard) {
		items, listed := objects[gr]
		if !listed {
			continue
		}
		e := evaluatorFor(gr)
		tracked := e.matchingResources(hard)
		// Counted even when nothing uses it: "pods: 0/2", not a blank.
		sum := corev1.ResourceList{}
		for _, n := range tracked {
			sum[n] = resource.Quantity{Format: resource.DecimalSI}
		}
		for _, obj := range items {
			ok, err := e.matchesScopes(spec, obj)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if ok {
				sum = add(sum, e.usage(obj, now))
			}
		}
		used = add(used, mask(sum, tracked))
	}
	return used, errors.Join(errs...)
}
