package admission

import (
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
)

// PrepareForCreate makes the changes Kubernetes' registry makes to a new
// object just before validating it (the PrepareForCreate step of the
// kind's "strategy"), in place:
//
//   - a Pod starts with status.phase Pending and its status.qosClass;
//   - a Namespace gets the "kubernetes" finalizer and status.phase Active;
//   - a Job gets its generated selector and the matching template labels
//     (batch.kubernetes.io/controller-uid=<uid>, batch.kubernetes.io/job-name=<name>,
//     and the legacy controller-uid and job-name), unless
//     spec.manualSelector is true;
//   - workload kinds (Deployment, ReplicaSet, DaemonSet, StatefulSet,
//     ReplicationController, Job, CronJob, Ingress) start at
//     metadata.generation 1.
//
// The caller must have set metadata.uid and, for a generateName request,
// metadata.name first: the Job selector is built from them. Other kinds are
// untouched.
func PrepareForCreate(obj runtime.Object) {
	if k := kindOf(obj); k != nil && k.prepareCreate != nil {
		k.prepareCreate(obj)
	}
}

// PrepareForUpdate makes the changes Kubernetes' registry makes to a
// replacement object before validating an update, in place on newObj:
//
//   - values the server assigned and a full replacement (PUT) may omit are
//     carried over from oldObj: a Service's clusterIP(s), nodePorts and
//     healthCheckNodePort; a Namespace's spec.finalizers;
//   - metadata.generation is copied from oldObj and, for the workload kinds,
//     incremented when the spec changed (a Deployment also when its
//     annotations changed).
//
// Status is not touched: keeping the stored status on a write to the main
// resource is the caller's job. oldObj is not modified.
func PrepareForUpdate(newObj, oldObj runtime.Object) {
	k := kindOf(newObj)
	if k == nil || reflect.TypeOf(newObj) != reflect.TypeOf(oldObj) {
		return
	}
	if k.prepareUpdate != nil {
		k.prepareUpdate(newObj, oldObj)
	}
}

// prepareGeneration starts a workload at generation 1.
func prepareGeneration[T runtime.Object](obj T) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetGeneration(1)
	}
}

// prepareGenerationUpdate keeps the stored generation and bumps it when the
// spec changed: controllers compare it with status.observedGeneration to
// know whether they have acted on the latest spec.
func prepareGenerationUpdate[T runtime.Object](newObj, oldObj T) {
	newMeta, err1 := meta.Accessor(newObj)
	oldMeta, err2 := meta.Accessor(oldObj)
	if err1 != nil || err2 != nil {
		return
	}
	newMeta.SetGeneration(oldMeta.GetGeneration())
	newSpec := reflect.ValueOf(newObj).Elem().FieldByName("Spec")
	oldSpec := reflect.ValueOf(oldObj).Elem().FieldByName("Spec")
	changed := newSpec.IsValid() && !apiequality.Semantic.DeepEqual(newSpec.Interface(), oldSpec.Interface())
	if _, isDeployment := any(newObj).(*appsv1.Deployment); isDeployment {
		// Annotations are copied to the Deployment's ReplicaSets, so a
		// change to them is a change the controller must act on.
		changed = changed || !apiequality.Semantic.DeepEqual(newMeta.GetAnnotations(), oldMeta.GetAnnotations())
	}
	if changed {
		newMeta.SetGeneration(oldMeta.GetGeneration() + 1)
	}
}

// preparePod: a new Pod is Pending until the scheduler and the kubelet
// move it on.
func preparePod(pod *corev1.Pod) {
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: podQOS(&pod.Spec)}
}

// podQOS computes a Pod's quality-of-service class from the cpu and memory
// requests and limits of its containers. Reference: Kubernetes docs,
// "Pod Quality of Service Classes".
func podQOS(spec *corev1.PodSpec) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	add := func(list corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
		sum := list[name]
		sum.Add(q)
		list[name] = sum
	}
	containers := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for _, c := range containers {
		for name, q := range c.Resources.Requests {
			if (name == corev1.ResourceCPU || name == corev1.ResourceMemory) && q.Sign() > 0 {
				add(requests, name, q)
			}
		}
		found := sets.New[corev1.ResourceName]()
		for name, q := range c.Resources.Limits {
			if (name == corev1.ResourceCPU || name == corev1.ResourceMemory) && q.Sign() > 0 {
				found.Insert(name)
				add(limits, name, q)
			}
		}
		if !found.HasAll(corev1.ResourceCPU, corev1.ResourceMemory) {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// prepareNamespace: the namespace controller deletes a namespace's content
// before removing the "kubernetes" finalizer, which is why a namespace
// lingers in Terminating.
func prepareNamespace(ns *corev1.Namespace) {
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			return
		}
	}
	ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
}

func prepareNamespaceUpdate(newNS, oldNS *corev1.Namespace) {
	newNS.Spec.Finalizers = oldNS.Spec.Finalizers
}

// Job labels. The batch.kubernetes.io/ ones are current; the bare ones are
// kept for clients written before Kubernetes 1.27.
const (
	jobControllerUIDLabel       = batchv1.ControllerUidLabel
	jobNameLabel                = batchv1.JobNameLabel
	legacyJobControllerUIDLabel = "controller-uid"
	legacyJobNameLabel          = "job-name"
)

// prepareJob generates the selector of a Job: the pods of a Job are
// selected by the Job's uid, so two Jobs never fight over pods.
func prepareJob(job *batchv1.Job) {
	job.Generation = 1
	if job.Spec.ManualSelector != nil && *job.Spec.ManualSelector {
		return
	}
	if job.Spec.Template.Labels == nil {
		job.Spec.Template.Labels = map[string]string{}
	}
	// Labels the user set are kept; a conflict is reported by validation.
	for _, l := range []string{legacyJobNameLabel, jobNameLabel} {
		if _, ok := job.Spec.Template.Labels[l]; !ok {
			job.Spec.Template.Labels[l] = job.Name
		}
	}
	for _, l := range []string{legacyJobControllerUIDLabel, jobControllerUIDLabel} {
		if _, ok := job.Spec.Template.Labels[l]; !ok {
			job.Spec.Template.Labels[l] = string(job.UID)
		}
	}
	if job.Spec.Selector == nil {
		job.Spec.Selector = &metav1.LabelSelector{}
	}
	if job.Spec.Selector.MatchLabels == nil {
		job.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := job.Spec.Selector.MatchLabels[jobControllerUIDLabel]; !ok {
		job.Spec.Selector.MatchLabels[jobControllerUIDLabel] = string(job.UID)
	}
}

// prepareServiceUpdate carries over what the allocators assigned when the
// replacement leaves it empty, as Kubernetes' Service storage does
// (patchAllocatedValues), so that `kubectl replace -f svc.yaml` works.
func prepareServiceUpdate(newSvc, oldSvc *corev1.Service) {
	if oldSvc.Spec.Type != corev1.ServiceTypeExternalName && newSvc.Spec.Type != corev1.ServiceTypeExternalName {
		if newSvc.Spec.ClusterIP == "" {
			newSvc.Spec.ClusterIP = oldSvc.Spec.ClusterIP
		}
		if len(newSvc.Spec.ClusterIPs) == 0 && len(oldSvc.Spec.ClusterIPs) > 0 {
			newSvc.Spec.ClusterIPs = append([]string(nil), oldSvc.Spec.ClusterIPs...)
		}
	}
	if needsNodePort(oldSvc) && needsNodePort(newSvc) {
		used := func(svc *corev1.Service) sets.Set[int32] {
			s := sets.New[int32]()
			for _, p := range svc.Spec.Ports {
				if p.NodePort != 0 {
					s.Insert(p.NodePort)
				}
			}
			return s
		}
		taken := used(oldSvc).Intersection(used(newSvc))
		byName := map[string]int32{}
		for _, p := range oldSvc.Spec.Ports {
			byName[p.Name] = p.NodePort
		}
		for i := range newSvc.Spec.Ports {
			p := &newSvc.Spec.Ports[i]
			if p.NodePort == 0 && !taken.Has(byName[p.Name]) {
				p.NodePort = byName[p.Name]
			}
		}
	}
	if needsHealthCheck(oldSvc) && needsHealthCheck(newSvc) && newSvc.Spec.HealthCheckNodePort == 0 {
		newSvc.Spec.HealthCheckNodePort = oldSvc.Spec.HealthCheckNodePort
	}
	// Switched to a type or policy that needs no health check port, with
	// the field left as it was (a patch of externalTrafficPolicy alone):
	// drop it, as Kubernetes does (dropTypeDependentFields), rather than
	// refuse the update.
	if needsHealthCheck(oldSvc) && !needsHealthCheck(newSvc) && newSvc.Spec.HealthCheckNodePort == oldSvc.Spec.HealthCheckNodePort {
		newSvc.Spec.HealthCheckNodePort = 0
	}
}

func needsNodePort(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

// needsHealthCheck: a LoadBalancer Service with externalTrafficPolicy Local
// gets a node port on which kube-proxy answers health checks.
func needsHealthCheck(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}
