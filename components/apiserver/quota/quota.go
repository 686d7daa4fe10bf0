// Package quota is the pure core of ResourceQuota, shared by the two
// halves that enforce it:
//
//   - the apiserver's admission (Admit): before a new pod, service,
//     configmap... is stored, its usage is added to status.used of every
//     ResourceQuota of its namespace that counts it, and the write is
//     refused (403 Forbidden) if that would go over status.hard;
//   - the controller-manager's resourcequota controller (Used): it
//     recounts status.used from the objects themselves, which is how usage
//     goes down again when objects are deleted or pods finish.
//
// Nothing here does I/O: objects and quotas in, usage and decisions out.
// The callers read and write etcd (apiserver) or the API (controller).
//
// What an object "uses" is decided per resource by an evaluator, as in
// Kubernetes: a pod uses pods=1 and its containers' requests and limits;
// a Service uses services=1 and, for NodePort and LoadBalancer, node
// ports and load balancers; every object uses count/<resource>[.<group>]
// (and, for configmaps, secrets, replicationcontrollers and resourcequotas,
// the older name without "count/").
//
// Reference: kubernetes/pkg/quota/v1/evaluator/core (pods.go, services.go),
// k8s.io/apiserver/pkg/quota/v1 (resources.go, generic/evaluator.go) and
// k8s.io/apiserver/pkg/admission/plugin/resourcequota/controller.go
// (CheckRequest: the decision and its messages).
package quota

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ObjectCountName is the quota resource that counts the objects of gr:
// "count/pods", "count/deployments.apps".
func ObjectCountName(gr schema.GroupResource) corev1.ResourceName {
	if gr.Group == "" {
		return corev1.ResourceName("count/" + gr.Resource)
	}
	return corev1.ResourceName("count/" + gr.Resource + "." + gr.Group)
}

// objectCountResource is ObjectCountName backwards: the resource that
// "count/deployments.apps" counts, and false for any other name.
func objectCountResource(name corev1.ResourceName) (schema.GroupResource, bool) {
	rest, ok := strings.CutPrefix(string(name), "count/")
	if !ok || rest == "" {
		return schema.GroupResource{}, false
	}
	res, group, _ := strings.Cut(rest, ".")
	return schema.GroupResource{Group: group, Resource: res}, true
}

// Well-known resources.
var (
	podsResource     = schema.GroupResource{Resource: "pods"}
	servicesResource = schema.GroupResource{Resource: "services"}
	pvcResource      = schema.GroupResource{Resource: "persistentvolumeclaims"}
)

// ignored resources are never charged: Kubernetes leaves events (and the
// review kinds, which are never stored) out of quota.
var ignored = map[schema.GroupResource]bool{
	{Resource: "events"}:                         true,
	{Group: "events.k8s.io", Resource: "events"}: true,
}

// legacyCountNames: the names these resources were counted under before
// "count/<resource>" existed. Both names count the same objects.
var legacyCountNames = map[schema.GroupResource]corev1.ResourceName{
	{Resource: "configmaps"}:             corev1.ResourceConfigMaps,
	{Resource: "secrets"}:                corev1.ResourceSecrets,
	{Resource: "replicationcontrollers"}: corev1.ResourceReplicationControllers,
	{Resource: "resourcequotas"}:         corev1.ResourceQuotas,
}

// evaluator knows what the objects of one resource use.
type evaluator struct {
	resource schema.GroupResource
	// tracks: whether a quota resource name is one this evaluator counts.
	tracks func(corev1.ResourceName) bool
	// onUpdate: whether an update can change usage (a Service that
	// becomes a NodePort). A pod's resources cannot change, nor can the
	// count of objects.
	onUpdate bool
	// usage is what one object uses; now decides whether a pod being
	// deleted still counts.
	usage func(obj runtime.Object, now time.Time) corev1.ResourceList
	// matchesScope: whether obj falls in a scope of a quota. Only pods
	// have scopes; for everything else a scoped quota does not apply.
	matchesScope func(corev1.ScopedResourceSelectorRequirement, runtime.Object) (bool, error)
	// constraints, if set, refuses an object that a quota cannot count
	// (a pod without the requests or limits a quota tracks).
	constraints func(required []corev1.ResourceName, obj runtime.Object) error
}

// evaluatorFor returns the evaluator of gr; nil for a resource quota never
// charges.
func evaluatorFor(gr schema.GroupResource) *evaluator {
	switch {
	case ignored[gr]:
		return nil
	case gr == podsResource:
		return podEvaluator
	case gr == servicesResource:
		return serviceEvaluator
	case gr == pvcResource:
		return pvcEvaluator
	}
	return objectCountEvaluator(gr)
}

// Handles reports whether a create (update false) or an update of an
// object of gr can change quota usage: a create of anything quota counts,
// an update only of a Service. The apiserver skips the quota work for
// every other write.
func Handles(gr schema.GroupResource, update bool) bool {
	e := evaluatorFor(gr)
	return e != nil && (!update || e.onUpdate)
}

// Usage returns what obj, an object of resource gr, uses of every quota
// resource its evaluator counts. It is empty for a resource quota never
// charges. now matters for pods: one whose deletion grace period has run
// out no longer counts.
func Usage(gr schema.GroupResource, obj runtime.Object, now time.Time) corev1.ResourceList {
	e := evaluatorFor(gr)
	if e == nil {
		return corev1.ResourceList{}
	}
	return e.usage(obj, now)
}

// matchingResources returns the names of names the evaluator counts.
func (e *evaluator) matchingResources(names []corev1.ResourceName) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, n := range names {
		if e.tracks(n) {
			out = append(out, n)
		}
	}
	return out
}

// matchesScopes: obj is in every scope of the quota (spec.scopes, and
// the expressions of spec.scopeSelector). No scopes: every object.
func (e *evaluator) matchesScopes(spec corev1.ResourceQuotaSpec, obj runtime.Object) (bool, error) {
	for _, sel := range scopeSelectors(spec) {
		ok, err := e.matchesScope(sel, obj)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// scopeSelectors is every scope of a quota as a selector: spec.scopes
// as "Exists", then spec.scopeSelector's expressions.
func scopeSelectors(spec corev1.ResourceQuotaSpec) []corev1.ScopedResourceSelectorRequirement {
	var out []corev1.ScopedResourceSelectorRequirement
	for _, s := range spec.Scopes {
		out = append(out, corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists})
	}
	if spec.ScopeSelector != nil {
		out = append(out, spec.ScopeSelector.MatchExpressions...)
	}
	return out
}

// matches reports whether quota q applies to obj: it limits at least one
// resource the evaluator counts (in status.hard, what the controller has
// taken on) and obj is in all its scopes.
func (e *evaluator) matches(q *corev1.ResourceQuota, obj runtime.Object) (bool, error) {
	if len(e.matchingResources(resourceNames(q.Status.Hard))) == 0 {
		return false, nil
	}
	return e.matchesScopes(q.Spec, obj)
}

// noScope is the scope function of resources without scopes: a quota
// with any scope does not count them.
func noScope(corev1.ScopedResourceSelectorRequirement, runtime.Object) (bool, error) {
	return false, nil
}

// ---- object counts (configmaps, secrets, count/<anything>) ----

func objectCountEvaluator(gr schema.GroupResource) *evaluator {
	count := ObjectCountName(gr)
	legacy, hasLegacy := legacyCountNames[gr]
	return &evaluator{
		resource: gr,
		tracks:   func(n corev1.ResourceName) bool { return n == count || (hasLegacy && n == legacy) },
		usage: func(runtime.Object, time.Time) corev1.ResourceList {
			u := corev1.ResourceList{count: *resource.NewQuantity(1, resource.DecimalSI)}
			if hasLegacy {
				u[legacy] = *resource.NewQuantity(1, resource.DecimalSI)
			}
			return u
		},
		matchesScope: noScope,
	}
}

// ---- persistentvolumeclaims ----

// pvcEvaluator: tinykube serves no PersistentVolumeClaims, so none is ever
// created; a quota that limits them shows 0 used.
var pvcEvaluator = &evaluator{
	resource: pvcResource,
	tracks: func(n corev1.ResourceName) bool {
		return n == corev1.ResourcePersistentVolumeClaims || n == ObjectCountName(pvcResource) ||
			n == corev1.ResourceRequestsStorage || strings.Contains(string(n), ".storageclass.storage.k8s.io/")
	},
	usage:        func(runtime.Object, time.Time) corev1.ResourceList { return corev1.ResourceList{} },
	matchesScope: noScope,
}

// ---- services ----

var serviceEvaluator = &evaluator{
	resource: servicesResource,
	tracks: func(n corev1.ResourceName) bool {
		switch n {
		case corev1.ResourceServices, corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers, ObjectCountName(servicesResource):
			return true
		}
		return false
	},
	onUpdate:     true,
	usage:        serviceUsage,
	matchesScope: noScope,
}

// serviceUsage: one service; a NodePort or LoadBalancer Service also uses
// one node port per port (a LoadBalancer that allocates none, only those
// given explicitly) and a LoadBalancer one load balancer.
func serviceUsage(obj runtime.Object, _ time.Time) corev1.ResourceList {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return corev1.ResourceList{}
	}
	one := *resource.NewQuantity(1, resource.DecimalSI)
	nodePorts, loadBalancers := int64(0), int64(0)
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		nodePorts = int64(len(svc.Spec.Ports))
	case corev1.ServiceTypeLoadBalancer:
		loadBalancers = 1
		if a := svc.Spec.AllocateLoadBalancerNodePorts; a != nil && !*a {
			for _, p := range svc.Spec.Ports {
				if p.NodePort != 0 {
					nodePorts++
				}
			}
		} else {
			nodePorts = int64(len(svc.Spec.Ports))
		}
	}
	return corev1.ResourceList{
		ObjectCountName(servicesResource):    one,
		corev1.ResourceServices:              one,
		corev1.ResourceServicesNodePorts:     *resource.NewQuantity(nodePorts, resource.DecimalSI),
		corev1.ResourceServicesLoadBalancers: *resource.NewQuantity(loadBalancers, resource.DecimalSI),
	}
}
