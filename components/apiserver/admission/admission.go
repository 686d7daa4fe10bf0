package admission

import (
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Default sets Kubernetes' defaults on obj, in place, the way the
// apiserver does when it decodes a request body: every field the user left
// empty that Kubernetes fills (imagePullPolicy, restartPolicy, a Service's
// type and targetPort, a Deployment's strategy, ...) gets its value.
//
// Default also applies the mutations that Kubernetes' default-on admission
// plugins make to every new Pod (Priority: priority 0 and preemptionPolicy
// PreemptLowerPriority; DefaultTolerationSeconds: 300s tolerations for the
// not-ready and unreachable taints), so that `kubectl get pod -o yaml`
// shows what a student sees on a real cluster.
//
// Default only fills what is empty, so calling it twice is harmless. Kinds
// the apiserver does not serve are left untouched.
// Reference: pkg/apis/*/v1/defaults.go in kubernetes/kubernetes.
func Default(obj runtime.Object) {
	if k := kindOf(obj); k != nil && k.setDefaults != nil {
		k.setDefaults(obj)
	}
}

// ValidateCreate checks a new object and returns every problem found, each
// with the field path, type and detail Kubernetes reports, for example
// `spec.containers[0].image: Required value`. An empty list means the
// object may be stored.
//
// Call it after Default and PrepareForCreate: like Kubernetes, validation
// expects defaults to be set and a name to have been generated from
// metadata.generateName. The returned list is owned by the caller.
// Unknown kinds get an empty list.
func ValidateCreate(obj runtime.Object) field.ErrorList {
	k := kindOf(obj)
	if k == nil {
		return nil
	}
	errs := k.validate(obj)
	if len(errs) == 0 {
		// Like the generic registry's BeforeCreate: metadata rules that hold
		// for every kind run after the kind's own checks, so that the kind's
		// more specific messages win when both would complain.
		errs = commonMeta(obj, k)
	}
	return dedupe(errs)
}

// ValidateUpdate checks newObj as a replacement for oldObj: it runs the
// checks of ValidateCreate that still apply and those that only make sense
// on update (immutable fields such as a Service's clusterIP or a
// Deployment's selector, the few mutable fields of a Pod, ...).
//
// Call it after Default(newObj) and PrepareForUpdate. Kubernetes requires
// metadata.resourceVersion on an update: for an unconditional update the
// caller copies the stored object's resourceVersion first, as the real
// apiserver does. newObj and oldObj must be of the same Go type.
func ValidateUpdate(newObj, oldObj runtime.Object) field.ErrorList {
	k := kindOf(newObj)
	if k == nil {
		return nil
	}
	if reflect.TypeOf(newObj) != reflect.TypeOf(oldObj) {
		return field.ErrorList{field.InternalError(field.NewPath("kind"),
			fmt.Errorf("cannot update a %T with a %T", oldObj, newObj))}
	}
	newMeta, err1 := meta.Accessor(newObj)
	oldMeta, err2 := meta.Accessor(oldObj)
	if err1 != nil || err2 != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), fmt.Errorf("object has no metadata"))}
	}
	// Like the generic registry's BeforeUpdate: the checks common to every
	// kind, then the kind's own update rules.
	errs := commonMeta(newObj, k)
	errs = append(errs, apivalidation.ValidateObjectMetaAccessorUpdate(newMeta, oldMeta, field.NewPath("metadata"))...)
	errs = append(errs, k.validateUpdate(newObj, oldObj)...)
	return dedupe(errs)
}

// Invalid turns a non-empty ErrorList into the error the apiserver returns
// for it: a StatusError with code 422 (Unprocessable Entity), reason
// Invalid, one cause per field error and Kubernetes' message, for example
//
//	Pod "web" is invalid: spec.containers[0].image: Required value
//
// The kind in the message is the object's Go type, so obj needs no
// apiVersion or kind set. Invalid returns nil for an empty list.
func Invalid(obj runtime.Object, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	name := ""
	if m, err := meta.Accessor(obj); err == nil {
		name = m.GetName()
	}
	return apierrors.NewInvalid(GroupKind(obj), name, errs)
}

// GroupKind returns the API group and kind of obj from its Go type (for
// example apps/Deployment for *appsv1.Deployment), or, for a type this
// package does not know, from obj's own apiVersion and kind.
func GroupKind(obj runtime.Object) schema.GroupKind {
	if k := kindOf(obj); k != nil {
		return k.gk
	}
	return obj.GetObjectKind().GroupVersionKind().GroupKind()
}

// Namespaced reports whether obj's kind lives in a namespace (a Pod) or in
// the whole cluster (a Node, a Namespace). ok is false for kinds this
// package does not know.
func Namespaced(obj runtime.Object) (namespaced, ok bool) {
	k := kindOf(obj)
	if k == nil {
		return false, false
	}
	return k.namespaced, true
}

// kind is what this package knows about one served kind.
type kind struct {
	gk         schema.GroupKind
	namespaced bool

	setDefaults    func(runtime.Object)
	prepareCreate  func(runtime.Object)
	prepareUpdate  func(newObj, oldObj runtime.Object)
	validate       func(runtime.Object) field.ErrorList
	validateUpdate func(newObj, oldObj runtime.Object) field.ErrorList
}

// rules is the typed form of a kind's functions; register erases the types.
type rules[T runtime.Object] struct {
	namespaced     bool
	setDefaults    func(T)
	prepareCreate  func(T)
	prepareUpdate  func(newObj, oldObj T)
	validate       func(T) field.ErrorList
	validateUpdate func(newObj, oldObj T) field.ErrorList
}

var kinds = map[reflect.Type]*kind{}

func register[T runtime.Object](gv schema.GroupVersion, r rules[T]) {
	var zero T
	typ := reflect.TypeOf(zero)
	k := &kind{
		gk:         schema.GroupKind{Group: gv.Group, Kind: typ.Elem().Name()},
		namespaced: r.namespaced,
		validate:   func(o runtime.Object) field.ErrorList { return r.validate(o.(T)) },
		validateUpdate: func(n, o runtime.Object) field.ErrorList {
			return r.validateUpdate(n.(T), o.(T))
		},
	}
	if r.setDefaults != nil {
		k.setDefaults = func(o runtime.Object) { r.setDefaults(o.(T)) }
	}
	if r.prepareCreate != nil {
		k.prepareCreate = func(o runtime.Object) { r.prepareCreate(o.(T)) }
	}
	if r.prepareUpdate != nil {
		k.prepareUpdate = func(n, o runtime.Object) { r.prepareUpdate(n.(T), o.(T)) }
	}
	kinds[typ] = k
}

func kindOf(obj runtime.Object) *kind {
	if obj == nil {
		return nil
	}
	return kinds[reflect.TypeOf(obj)]
}

// The served kinds. Namespaces and Nodes are cluster-scoped; the rest live
// in a namespace.
func init() {
	core := corev1.SchemeGroupVersion
	register(core, rules[*corev1.Namespace]{setDefaults: defaultNamespace, prepareCreate: prepareNamespace, prepareUpdate: prepareNamespaceUpdate,
		validate: validateNamespace, validateUpdate: validateNamespaceUpdate})
	register(core, rules[*corev1.Node]{setDefaults: defaultNode, validate: validateNode, validateUpdate: validateNodeUpdate})
	register(core, rules[*corev1.Pod]{namespaced: true, setDefaults: defaultPod, prepareCreate: preparePod,
		validate: validatePodCreate, validateUpdate: validatePodUpdate})
	register(core, rules[*corev1.Service]{namespaced: true, setDefaults: defaultService, prepareUpdate: prepareServiceUpdate,
		validate: validateService, validateUpdate: validateServiceUpdate})
	register(core, rules[*corev1.Endpoints]{namespaced: true, setDefaults: defaultEndpoints, validate: validateEndpoints, validateUpdate: validateEndpointsUpdate})
	register(core, rules[*corev1.ConfigMap]{namespaced: true, validate: validateConfigMap, validateUpdate: validateConfigMapUpdate})
	register(core, rules[*corev1.Secret]{namespaced: true, setDefaults: defaultSecret, validate: validateSecret, validateUpdate: validateSecretUpdate})
	register(core, rules[*corev1.ServiceAccount]{namespaced: true, validate: validateServiceAccount, validateUpdate: validateServiceAccountUpdate})
	register(core, rules[*corev1.Event]{namespaced: true, validate: validateCoreEvent, validateUpdate: validateCoreEventUpdate})
	register(core, rules[*corev1.ReplicationController]{namespaced: true, setDefaults: defaultReplicationController, prepareCreate: prepareGeneration[*corev1.ReplicationController],
		prepareUpdate: prepareGenerationUpdate[*corev1.ReplicationController], validate: validateReplicationController, validateUpdate: validateReplicationControllerUpdate})
	register(core, rules[*corev1.LimitRange]{namespaced: true, setDefaults: defaultLimitRange, validate: validateLimitRange, validateUpdate: validateLimitRangeUpdate})
	register(core, rules[*corev1.ResourceQuota]{namespaced: true, validate: validateResourceQuota, validateUpdate: validateResourceQuotaUpdate})

	apps := appsv1.SchemeGroupVersion
	register(apps, rules[*appsv1.Deployment]{namespaced: true, setDefaults: defaultDeployment, prepareCreate: prepareGeneration[*appsv1.Deployment],
		prepareUpdate: prepareGenerationUpdate[*appsv1.Deployment], validate: validateDeployment, validateUpdate: validateDeploymentUpdate})
	register(apps, rules[*appsv1.ReplicaSet]{namespaced: true, setDefaults: defaultReplicaSet, prepareCreate: prepareGeneration[*appsv1.ReplicaSet],
		prepareUpdate: prepareGenerationUpdate[*appsv1.ReplicaSet], validate: validateReplicaSet, validateUpdate: validateReplicaSetUpdate})
	register(apps, rules[*appsv1.DaemonSet]{namespaced: true, setDefaults: defaultDaemonSet, prepareCreate: prepareGeneration[*appsv1.DaemonSet],
		prepareUpdate: prepareGenerationUpdate[*appsv1.DaemonSet], validate: validateDaemonSet, validateUpdate: validateDaemonSetUpdate})
	register(apps, rules[*appsv1.StatefulSet]{namespaced: true, setDefaults: defaultStatefulSet, prepareCreate: prepareGeneration[*appsv1.StatefulSet],
		prepareUpdate: prepareGenerationUpdate[*appsv1.StatefulSet], validate: validateStatefulSet, validateUpdate: validateStatefulSetUpdate})
	register(apps, rules[*appsv1.ControllerRevision]{namespaced: true, validate: validateControllerRevision, validateUpdate: validateControllerRevisionUpdate})

	batch := batchv1.SchemeGroupVersion
	register(batch, rules[*batchv1.Job]{namespaced: true, setDefaults: defaultJob, prepareCreate: prepareJob,
		prepareUpdate: prepareGenerationUpdate[*batchv1.Job], validate: validateJob, validateUpdate: validateJobUpdate})
	register(batch, rules[*batchv1.CronJob]{namespaced: true, setDefaults: defaultCronJob, prepareCreate: prepareGeneration[*batchv1.CronJob],
		prepareUpdate: prepareGenerationUpdate[*batchv1.CronJob], validate: validateCronJob, validateUpdate: validateCronJobUpdate})

	register(coordinationv1.SchemeGroupVersion, rules[*coordinationv1.Lease]{namespaced: true, validate: validateLease, validateUpdate: validateLeaseUpdate})
	register(discoveryv1.SchemeGroupVersion, rules[*discoveryv1.EndpointSlice]{namespaced: true, setDefaults: defaultEndpointSlice,
		validate: validateEndpointSlice, validateUpdate: validateEndpointSliceUpdate})
	register(eventsv1.SchemeGroupVersion, rules[*eventsv1.Event]{namespaced: true, validate: validateEventsEvent, validateUpdate: validateEventsEventUpdate})
	register(networkingv1.SchemeGroupVersion, rules[*networkingv1.Ingress]{namespaced: true, setDefaults: defaultIngress, prepareCreate: prepareGeneration[*networkingv1.Ingress],
		prepareUpdate: prepareGenerationUpdate[*networkingv1.Ingress], validate: validateIngress, validateUpdate: validateIngressUpdate})
	register(autoscalingv2.SchemeGroupVersion, rules[*autoscalingv2.HorizontalPodAutoscaler]{namespaced: true, setDefaults: defaultHPA,
		validate: validateHPA, validateUpdate: validateHPAUpdate})
}

// dedupe drops errors whose message repeats an earlier one: the common
// metadata checks and a kind's own checks can report the same problem.
// Kubernetes hides the repeats in the message the same way
// (field.ErrorList.ToAggregate).
func dedupe(errs field.ErrorList) field.ErrorList {
	if len(errs) == 0 {
		return errs
	}
	seen := map[string]bool{}
	out := field.ErrorList{}
	for _, e := range errs {
		if msg := e.Error(); !seen[msg] {
			seen[msg] = true
			out = append(out, e)
		}
	}
	return out
}
