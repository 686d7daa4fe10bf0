package admission

import (
	"errors"
	"net/http"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Invalid gives the 422 kubectl prints as `The Pod "web" is invalid: ...`.
// Reference: k8s.io/apimachinery/pkg/api/errors, NewInvalid.
func TestInvalid(t *testing.T) {
	pod := with(validPod(), func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" })
	err := Invalid(pod, ValidateCreate(pod))
	if got, want := err.Error(), `Pod "web" is invalid: spec.containers[0].image: Required value`; got != want {
		t.Errorf("Invalid(pod) = %q, want %q", got, want)
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !apierrors.IsInvalid(err) {
		t.Fatalf("Invalid(pod) = %#v, want an Invalid StatusError", err)
	}
	st := status.Status()
	if st.Code != http.StatusUnprocessableEntity || st.Reason != metav1.StatusReasonInvalid {
		t.Errorf("code %d reason %q, want 422 Invalid", st.Code, st.Reason)
	}
	want := metav1.StatusCause{Type: metav1.CauseTypeFieldValueRequired, Message: "Required value", Field: "spec.containers[0].image"}
	if st.Details == nil || st.Details.Kind != "Pod" || st.Details.Group != "" || st.Details.Name != "web" ||
		len(st.Details.Causes) != 1 || st.Details.Causes[0] != want {
		t.Errorf("details = %+v, want kind Pod, name web, cause %+v", st.Details, want)
	}

	// A kind of a named group is qualified by it; several errors are
	// listed in brackets.
	d := with(validDeployment(), func(d *appsv1.Deployment) {
		*d.Spec.Replicas = -1
		d.Spec.Template.Spec.Containers[0].Image = ""
	})
	err = Invalid(d, ValidateCreate(d))
	if got, want := err.Error(), `Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, spec.template.spec.containers[0].image: Required value]`; got != want {
		t.Errorf("Invalid(deployment) =\n%s\nwant\n%s", got, want)
	}

	if err := Invalid(validPod(), nil); err != nil {
		t.Errorf("Invalid with no errors = %v, want nil", err)
	}
}

func TestGroupKindAndScope(t *testing.T) {
	cases := []struct {
		obj        runtime.Object
		gk         schema.GroupKind
		namespaced bool
	}{
		{&corev1.Namespace{}, schema.GroupKind{Kind: "Namespace"}, false},
		{&corev1.Node{}, schema.GroupKind{Kind: "Node"}, false},
		{&corev1.Pod{}, schema.GroupKind{Kind: "Pod"}, true},
		{&corev1.Service{}, schema.GroupKind{Kind: "Service"}, true},
		{&corev1.Endpoints{}, schema.GroupKind{Kind: "Endpoints"}, true},
		{&corev1.ConfigMap{}, schema.GroupKind{Kind: "ConfigMap"}, true},
		{&corev1.Secret{}, schema.GroupKind{Kind: "Secret"}, true},
		{&corev1.ServiceAccount{}, schema.GroupKind{Kind: "ServiceAccount"}, true},
		{&corev1.Event{}, schema.GroupKind{Kind: "Event"}, true},
		{&corev1.ReplicationController{}, schema.GroupKind{Kind: "ReplicationController"}, true},
		{&corev1.LimitRange{}, schema.GroupKind{Kind: "LimitRange"}, true},
		{&corev1.ResourceQuota{}, schema.GroupKind{Kind: "ResourceQuota"}, true},
		{&appsv1.Deployment{}, schema.GroupKind{Group: "apps", Kind: "Deployment"}, true},
		{&appsv1.ReplicaSet{}, schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}, true},
		{&appsv1.DaemonSet{}, schema.GroupKind{Group: "apps", Kind: "DaemonSet"}, true},
		{&appsv1.StatefulSet{}, schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, true},
		{&appsv1.ControllerRevision{}, schema.GroupKind{Group: "apps", Kind: "ControllerRevision"}, true},
		{&batchv1.Job{}, schema.GroupKind{Group: "batch", Kind: "Job"}, true},
		{&batchv1.CronJob{}, schema.GroupKind{Group: "batch", Kind: "CronJob"}, true},
		{&coordinationv1.Lease{}, schema.GroupKind{Group: "coordination.k8s.io", Kind: "Lease"}, true},
		{&discoveryv1.EndpointSlice{}, schema.GroupKind{Group: "discovery.k8s.io", Kind: "EndpointSlice"}, true},
		{&eventsv1.Event{}, schema.GroupKind{Group: "events.k8s.io", Kind: "Event"}, true},
		{&networkingv1.Ingress{}, schema.GroupKind{Group: "networking.k8s.io", Kind: "Ingress"}, true},
		{&autoscalingv2.HorizontalPodAutoscaler{}, schema.GroupKind{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}, true},
	}
	for _, c := range cases {
		if got := GroupKind(c.obj); got != c.gk {
			t.Errorf("GroupKind(%T) = %v, want %v", c.obj, got, c.gk)
		}
		if ns, ok := Namespaced(c.obj); !ok || ns != c.namespaced {
			t.Errorf("Namespaced(%T) = %v, %v; want %v, true", c.obj, ns, ok, c.namespaced)
		}
	}
	// An unknown kind: no rules, and the kind from its own TypeMeta.
	pt := &corev1.PodTemplate{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodTemplate"}}
	if errs := ValidateCreate(pt); len(errs) != 0 {
		t.Errorf("ValidateCreate(unknown kind) = %v, want none", errs)
	}
	if errs := ValidateUpdate(pt, pt); len(errs) != 0 {
		t.Errorf("ValidateUpdate(unknown kind) = %v, want none", errs)
	}
	if _, ok := Namespaced(pt); ok {
		t.Errorf("Namespaced(unknown kind) reported ok")
	}
	if got := GroupKind(pt); got != (schema.GroupKind{Kind: "PodTemplate"}) {
		t.Errorf("GroupKind(unknown kind) = %v", got)
	}
}

func TestValidateUpdateOfDifferentTypes(t *testing.T) {
	errs := ValidateUpdate(validPod(), validService())
	if len(errs) != 1 || errs[0].Type != field.ErrorTypeInternal {
		t.Errorf("ValidateUpdate(pod, service) = %v, want one internal error", errs)
	}
}

// Reference: the PrepareForCreate of pkg/registry/{core/pod,core/namespace,batch/job}/strategy.go.
func TestPrepareForCreate(t *testing.T) {
	job := &batchv1.Job{ObjectMeta: objMeta("pi"), Spec: batchv1.JobSpec{Template: podTemplate("pi")}}
	Default(job)
	PrepareForCreate(job)
	wantLabels := map[string]string{"app": "pi", "batch.kubernetes.io/controller-uid": "1a2b3c", "batch.kubernetes.io/job-name": "pi",
		"controller-uid": "1a2b3c", "job-name": "pi"}
	if got := job.Spec.Template.Labels; !equalMaps(got, wantLabels) {
		t.Errorf("job template labels = %v, want %v", got, wantLabels)
	}
	if got := job.Spec.Selector.MatchLabels; !equalMaps(got, map[string]string{"batch.kubernetes.io/controller-uid": "1a2b3c"}) {
		t.Errorf("job selector = %v", got)
	}
	if job.Generation != 1 {
		t.Errorf("job generation = %d, want 1", job.Generation)
	}
	manual := &batchv1.Job{ObjectMeta: objMeta("pi"), Spec: batchv1.JobSpec{ManualSelector: ptrTo(true), Template: podTemplate("pi")}}
	PrepareForCreate(manual)
	if manual.Spec.Selector != nil {
		t.Errorf("a manual selector was generated: %v", manual.Spec.Selector)
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dev"}}
	PrepareForCreate(ns)
	if len(ns.Spec.Finalizers) != 1 || ns.Spec.Finalizers[0] != corev1.FinalizerKubernetes || ns.Status.Phase != corev1.NamespaceActive {
		t.Errorf("namespace = %+v %+v, want finalizer kubernetes and phase Active", ns.Spec, ns.Status)
	}

	// Reference: Kubernetes docs, "Pod Quality of Service Classes".
	res := func(req, lim string) corev1.ResourceRequirements {
		r := corev1.ResourceRequirements{}
		if req != "" {
			r.Requests = corev1.ResourceList{"cpu": resource.MustParse(req), "memory": resource.MustParse("64Mi")}
		}
		if lim != "" {
			r.Limits = corev1.ResourceList{"cpu": resource.MustParse(lim), "memory": resource.MustParse("64Mi")}
		}
		return r
	}
	for _, c := range []struct {
		res  corev1.ResourceRequirements
		want corev1.PodQOSClass
	}{
		{corev1.ResourceRequirements{}, corev1.PodQOSBestEffort},
		{res("100m", ""), corev1.PodQOSBurstable},
		{res("100m", "200m"), corev1.PodQOSBurstable},
		{res("", "200m"), corev1.PodQOSGuaranteed}, // requests default to limits
		{res("200m", "200m"), corev1.PodQOSGuaranteed},
	} {
		pod := with(validPod(), func(p *corev1.Pod) { p.Spec.Containers[0].Resources = c.res })
		Default(pod)
		PrepareForCreate(pod)
		if pod.Status.Phase != corev1.PodPending || pod.Status.QOSClass != c.want {
			t.Errorf("resources %v: status %+v, want Pending %s", c.res, pod.Status, c.want)
		}
	}
}

// Reference: pkg/registry/core/service/storage (patchAllocatedValues) and
// the PrepareForUpdate of the workload strategies.
func TestPrepareForUpdate(t *testing.T) {
	old := with(validService(), func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10"}
		s.Spec.Ports[0].NodePort = 30080
	})
	// `kubectl replace -f svc.yaml` sends what the user wrote: no IP, no
	// node port.
	replacement := prepared(&corev1.Service{ObjectMeta: objMeta("web"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
		Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}})
	replacement.ResourceVersion, old.ResourceVersion = "2", "1"
	PrepareForUpdate(replacement, old)
	if replacement.Spec.ClusterIP != "10.96.0.10" || replacement.Spec.Ports[0].NodePort != 30080 {
		t.Errorf("allocated values not carried over: %+v", replacement.Spec)
	}
	if errs := ValidateUpdate(replacement, old); len(errs) != 0 {
		t.Errorf("ValidateUpdate after PrepareForUpdate = %v", errs)
	}

	d := validDeployment()
	d.Generation = 1
	same := d.DeepCopy()
	same.Generation = 0 // clients cannot set it
	PrepareForUpdate(same, d)
	if same.Generation != 1 {
		t.Errorf("generation = %d after an update without spec change, want 1", same.Generation)
	}
	scaled := d.DeepCopy()
	*scaled.Spec.Replicas = 3
	PrepareForUpdate(scaled, d)
	if scaled.Generation != 2 {
		t.Errorf("generation = %d after a spec change, want 2", scaled.Generation)
	}
	rolled := d.DeepCopy()
	rolled.Spec.Strategy.RollingUpdate.MaxSurge = ptrTo(intstr.FromInt32(1))
	PrepareForUpdate(rolled, d)
	if rolled.Generation != 2 {
		t.Errorf("generation = %d after a strategy change, want 2", rolled.Generation)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
