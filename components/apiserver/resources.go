package apiserver

import (
	"fmt"
	"reflect"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Resource is one kind of object the apiserver serves. Adding a resource is
// adding one entry to Resources.
type Resource struct {
	GVR        schema.GroupVersionResource
	Kind       string
	Namespaced bool
	ShortNames []string
	Categories []string // "all" puts it in `kubectl get all`
	// Status: spec and status are written separately (the status
	// subresource); a write to the main resource keeps the old status.
	Status bool
	// Scale: the scale subresource, reading and writing spec.replicas.
	Scale bool
	// Fields lists the field selectors the resource supports beyond
	// metadata.name and metadata.namespace, each with how to read it.
	Fields map[string]func(runtime.Object) string
	// Expires: objects vanish a while after their last write (Events:
	// the setting event-ttl, storage.Store.WithTTL).
	Expires bool

	typ, listTyp reflect.Type
}

// GVK is the resource's group, version and kind.
func (r *Resource) GVK() schema.GroupVersionKind { return r.GVR.GroupVersion().WithKind(r.Kind) }

// Singular is the resource's singular name: the kind, lower-cased.
func (r *Resource) Singular() string { return strings.ToLower(r.Kind) }

// New returns an empty object of the resource.
func (r *Resource) New() runtime.Object { return reflect.New(r.typ).Interface().(runtime.Object) }

// NewList returns an empty list of the resource.
func (r *Resource) NewList() runtime.Object {
	return reflect.New(r.listTyp).Interface().(runtime.Object)
}

// FieldSet returns the field selector values of obj.
func (r *Resource) FieldSet(obj runtime.Object) fields.Set {
	set := fields.Set{}
	if m, err := meta.Accessor(obj); err == nil {
		set["metadata.name"] = m.GetName()
		if r.Namespaced {
			set["metadata.namespace"] = m.GetNamespace()
		}
	}
	for name, get := range r.Fields {
		set[name] = get(obj)
	}
	return set
}

// option changes a Resource being declared.
type option func(*Resource)

func short(names ...string) option { return func(r *Resource) { r.ShortNames = names } }
func inAll(r *Resource)            { r.Categories = []string{"all"} }
func withStatus(r *Resource)       { r.Status = true }
func expiring(r *Resource)         { r.Expires = true }
func withScale(r *Resource)        { r.Scale = true }
func clusterScoped(r *Resource)    { r.Namespaced = false }
func selectable(f map[string]func(runtime.Object) string) option {
	return func(r *Resource) { r.Fields = f }
}

// declare makes a Resource from a sample object and its list.
func declare(gv schema.GroupVersion, plural string, obj, list runtime.Object, opts ...option) *Resource {
	r := &Resource{
		GVR:        gv.WithResource(plural),
		Kind:       reflect.TypeOf(obj).Elem().Name(),
		Namespaced: true,
		typ:        reflect.TypeOf(obj).Elem(),
		listTyp:    reflect.TypeOf(list).Elem(),
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Resources is every resource the apiserver serves, in discovery order.
var Resources = []*Resource{
	declare(corev1.SchemeGroupVersion, "namespaces", &corev1.Namespace{}, &corev1.NamespaceList{}, clusterScoped, short("ns"), withStatus,
		selectable(map[string]func(runtime.Object) string{"status.phase": func(o runtime.Object) string { return string(o.(*corev1.Namespace).Status.Phase) }})),
	declare(corev1.SchemeGroupVersion, "pods", &corev1.Pod{}, &corev1.PodList{}, short("po"), inAll, withStatus, selectable(podFields)),
	declare(corev1.SchemeGroupVersion, "nodes", &corev1.Node{}, &corev1.NodeList{}, clusterScoped, short("no"), withStatus,
		selectable(map[string]func(runtime.Object) string{"spec.unschedulable": func(o runtime.Object) string { return fmt.Sprint(o.(*corev1.Node).Spec.Unschedulable) }})),
	declare(corev1.SchemeGroupVersion, "services", &corev1.Service{}, &corev1.ServiceList{}, short("svc"), inAll, withStatus,
		selectable(map[string]func(runtime.Object) string{"spec.clusterIP": func(o runtime.Object) string { return o.(*corev1.Service).Spec.ClusterIP },
			"spec.type": func(o runtime.Object) string { return string(o.(*corev1.Service).Spec.Type) }})),
	declare(corev1.SchemeGroupVersion, "endpoints", &corev1.Endpoints{}, &corev1.EndpointsList{}, short("ep")),
	declare(corev1.SchemeGroupVersion, "configmaps", &corev1.ConfigMap{}, &corev1.ConfigMapList{}, short("cm")),
	declare(corev1.SchemeGroupVersion, "secrets", &corev1.Secret{}, &corev1.SecretList{},
		selectable(map[string]func(runtime.Object) string{"type": func(o runtime.Object) string { return string(o.(*corev1.Secret).Type) }})),
	declare(corev1.SchemeGroupVersion, "serviceaccounts", &corev1.ServiceAccount{}, &corev1.ServiceAccountList{}, short("sa")),
	declare(corev1.SchemeGroupVersion, "events", &corev1.Event{}, &corev1.EventList{}, short("ev"), selectable(eventFields), expiring),
	declare(corev1.SchemeGroupVersion, "replicationcontrollers", &corev1.ReplicationController{}, &corev1.ReplicationControllerList{}, short("rc"), inAll, withStatus, withScale,
		selectable(map[string]func(runtime.Object) string{"status.replicas": func(o runtime.Object) string {
			return fmt.Sprint(o.(*corev1.ReplicationController).Status.Replicas)
		}})),
	declare(corev1.SchemeGroupVersion, "limitranges", &corev1.LimitRange{}, &corev1.LimitRangeList{}, short("limits")),
	declare(corev1.SchemeGroupVersion, "resourcequotas", &corev1.ResourceQuota{}, &corev1.ResourceQuotaList{}, short("quota"), withStatus),

	declare(appsv1.SchemeGroupVersion, "deployments", &appsv1.Deployment{}, &appsv1.DeploymentList{}, short("deploy"), inAll, withStatus, withScale),
	declare(appsv1.SchemeGroupVersion, "replicasets", &appsv1.ReplicaSet{}, &appsv1.ReplicaSetList{}, short("rs"), inAll, withStatus, withScale,
		selectable(map[string]func(runtime.Object) string{"status.replicas": func(o runtime.Object) string { return fmt.Sprint(o.(*appsv1.ReplicaSet).Status.Replicas) }})),
	declare(appsv1.SchemeGroupVersion, "daemonsets", &appsv1.DaemonSet{}, &appsv1.DaemonSetList{}, short("ds"), inAll, withStatus),
	declare(appsv1.SchemeGroupVersion, "statefulsets", &appsv1.StatefulSet{}, &appsv1.StatefulSetList{}, short("sts"), inAll, withStatus, withScale),
	declare(appsv1.SchemeGroupVersion, "controllerrevisions", &appsv1.ControllerRevision{}, &appsv1.ControllerRevisionList{}),

	declare(batchv1.SchemeGroupVersion, "jobs", &batchv1.Job{}, &batchv1.JobList{}, inAll, withStatus,
		selectable(map[string]func(runtime.Object) string{"status.successful": func(o runtime.Object) string { return fmt.Sprint(o.(*batchv1.Job).Status.Succeeded) }})),
	declare(batchv1.SchemeGroupVersion, "cronjobs", &batchv1.CronJob{}, &batchv1.CronJobList{}, short("cj"), inAll, withStatus),

	declare(coordinationv1.SchemeGroupVersion, "leases", &coordinationv1.Lease{}, &coordinationv1.LeaseList{}),
	declare(discoveryv1.SchemeGroupVersion, "endpointslices", &discoveryv1.EndpointSlice{}, &discoveryv1.EndpointSliceList{}),
	declare(eventsv1.SchemeGroupVersion, "events", &eventsv1.Event{}, &eventsv1.EventList{}, short("ev"), expiring),
	declare(networkingv1.SchemeGroupVersion, "ingresses", &networkingv1.Ingress{}, &networkingv1.IngressList{}, short("ing"), withStatus),
	declare(autoscalingv2.SchemeGroupVersion, "horizontalpodautoscalers", &autoscalingv2.HorizontalPodAutoscaler{}, &autoscalingv2.HorizontalPodAutoscalerList{}, short("hpa"), inAll, withStatus),
}

var podFields = map[string]func(runtime.Object) string{
	"spec.nodeName":           func(o runtime.Object) string { return o.(*corev1.Pod).Spec.NodeName },
	"spec.restartPolicy":      func(o runtime.Object) string { return string(o.(*corev1.Pod).Spec.RestartPolicy) },
	"spec.schedulerName":      func(o runtime.Object) string { return o.(*corev1.Pod).Spec.SchedulerName },
	"spec.serviceAccountName": func(o runtime.Object) string { return o.(*corev1.Pod).Spec.ServiceAccountName },
	"spec.hostNetwork":        func(o runtime.Object) string { return fmt.Sprint(o.(*corev1.Pod).Spec.HostNetwork) },
	"status.phase":            func(o runtime.Object) string { return string(o.(*corev1.Pod).Status.Phase) },
	"status.podIP":            func(o runtime.Object) string { return o.(*corev1.Pod).Status.PodIP },
	"status.nominatedNodeName": func(o runtime.Object) string {
		return o.(*corev1.Pod).Status.NominatedNodeName
	},
}

var eventFields = map[string]func(runtime.Object) string{
	"involvedObject.kind":            func(o runtime.Object) string { return o.(*corev1.Event).InvolvedObject.Kind },
	"involvedObject.namespace":       func(o runtime.Object) string { return o.(*corev1.Event).InvolvedObject.Namespace },
	"involvedObject.name":            func(o runtime.Object) string { return o.(*corev1.Event).InvolvedObject.Name },
	"involvedObject.uid":             func(o runtime.Object) string { return string(o.(*corev1.Event).InvolvedObject.UID) },
	"involvedObject.apiVersion":      func(o runtime.Object) string { return o.(*corev1.Event).InvolvedObject.APIVersion },
	"involvedObject.resourceVersion": func(o runtime.Object) string { return o.(*corev1.Event).InvolvedObject.ResourceVersion },
	"involvedObject.fieldPath":       func(o runtime.Object) string { return o.(*corev1.Event).InvolvedObject.FieldPath },
	"reason":                         func(o runtime.Object) string { return o.(*corev1.Event).Reason },
	"reportingComponent":             func(o runtime.Object) string { return o.(*corev1.Event).ReportingController },
	"source":                         func(o runtime.Object) string { return o.(*corev1.Event).Source.Component },
	"type":                           func(o runtime.Object) string { return o.(*corev1.Event).Type },
}

// lookup finds the resource of a group, version and plural name.
func lookup(group, version, plural string) *Resource {
	for _, r := range Resources {
		if r.GVR.Group == group && r.GVR.Version == version && r.GVR.Resource == plural {
			return r
		}
	}
	return nil
}
