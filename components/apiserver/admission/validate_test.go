package admission

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Fixtures: valid objects as a client sends them, defaulted and prepared
// as the apiserver does before validating.

func prepared[T runtime.Object](obj T) T {
	Default(obj)
	PrepareForCreate(obj)
	return obj
}

func objMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", UID: "1a2b3c"}
}

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: app, Image: "nginx:1.27"}}},
	}
}

func validPod() *corev1.Pod {
	return prepared(&corev1.Pod{ObjectMeta: objMeta("web"), Spec: podTemplate("web").Spec})
}

func validService() *corev1.Service {
	return prepared(&corev1.Service{ObjectMeta: objMeta("web"), Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}})
}

func validRC() *corev1.ReplicationController {
	t := podTemplate("web")
	return prepared(&corev1.ReplicationController{ObjectMeta: objMeta("web"), Spec: corev1.ReplicationControllerSpec{Template: &t}})
}

func validDeployment() *appsv1.Deployment {
	return prepared(&appsv1.Deployment{ObjectMeta: objMeta("web"), Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: podTemplate("web")}})
}

func validReplicaSet() *appsv1.ReplicaSet {
	return prepared(&appsv1.ReplicaSet{ObjectMeta: objMeta("web"), Spec: appsv1.ReplicaSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: podTemplate("web")}})
}

func validDaemonSet() *appsv1.DaemonSet {
	return prepared(&appsv1.DaemonSet{ObjectMeta: objMeta("agent"), Spec: appsv1.DaemonSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}}, Template: podTemplate("agent")}})
}

func validStatefulSet() *appsv1.StatefulSet {
	return prepared(&appsv1.StatefulSet{ObjectMeta: objMeta("db"), Spec: appsv1.StatefulSetSpec{ServiceName: "db",
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, Template: podTemplate("db")}})
}

func validJob() *batchv1.Job {
	t := podTemplate("pi")
	t.Labels = nil
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	return prepared(&batchv1.Job{ObjectMeta: objMeta("pi"), Spec: batchv1.JobSpec{Template: t}})
}

func validCronJob() *batchv1.CronJob {
	t := podTemplate("tick")
	t.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	return prepared(&batchv1.CronJob{ObjectMeta: objMeta("tick"), Spec: batchv1.CronJobSpec{
		Schedule: "*/5 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: t}}}})
}

func validIngress() *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	return prepared(&networkingv1.Ingress{ObjectMeta: objMeta("web"), Spec: networkingv1.IngressSpec{
		Rules: []networkingv1.IngressRule{{Host: "web.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}}})
}

func validEventsEvent() *eventsv1.Event {
	return prepared(&eventsv1.Event{ObjectMeta: objMeta("web.1"), EventTime: metav1.NewMicroTime(metav1.Now().Time),
		ReportingController: "tinykube.io/scheduler", ReportingInstance: "scheduler-1", Action: "Binding",
		Reason: "Scheduled", Type: corev1.EventTypeNormal, Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"}})
}

// The DNS messages of k8s.io/apimachinery, as Kubernetes prints them.
const (
	dnsLabelMsg     = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
	dnsSubdomainMsg = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
	dns1035Msg      = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
	notMatchMsg     = "`selector` does not match template `labels`"
)

// validationCase: the messages ValidateCreate (or ValidateUpdate, when old
// is set) gives, in order. A message with "…" matches any text in its
// place.
type validationCase struct {
	name string
	obj  runtime.Object
	old  runtime.Object
	want []string
}

func checkErrors(t *testing.T, errs field.ErrorList, want []string) {
	t.Helper()
	got := make([]string, len(errs))
	for i, e := range errs {
		got[i] = e.Error()
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		prefix, suffix, glob := strings.Cut(want[i], "…")
		if glob {
			ok = strings.HasPrefix(got[i], prefix) && strings.HasSuffix(got[i], suffix)
		} else {
			ok = got[i] == want[i]
		}
	}
	if !ok {
		t.Errorf("got errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func runValidation(t *testing.T, cases []validationCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.old == nil {
				checkErrors(t, ValidateCreate(c.obj), c.want)
			} else {
				checkErrors(t, ValidateUpdate(c.obj, c.old), c.want)
			}
		})
	}
}

// with applies a change to a copy of a fixture.
func with[T runtime.Object](obj T, change func(T)) T {
	c := obj.DeepCopyObject().(T)
	change(c)
	return c
}

// Reference: pkg/apis/core/validation/validation.go, ValidatePodCreate.
func TestValidatePod(t *testing.T) {
	runValidation(t, []validationCase{
		{name: "valid", obj: validPod()},
		{name: "course notes test-projected-volume pod", obj: func() runtime.Object {
			p := decode[*corev1.Pod](t, readTestdata(t, "test-projected-volume.yaml"))
			p.Namespace, p.UID = "default", "u1"
			return prepared(p)
		}()},
		{name: "image required", obj: with(validPod(), func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }),
			want: []string{"spec.containers[0].image: Required value"}},
		{name: "containers required", obj: with(validPod(), func(p *corev1.Pod) { p.Spec.Containers = nil }),
			want: []string{"spec.containers: Required value"}},
		{name: "container name is a DNS label", obj: with(validPod(), func(p *corev1.Pod) { p.Spec.Containers[0].Name = "Web" }),
			want: []string{`spec.containers[0].name: Invalid value: "Web": ` + dnsLabelMsg}},
		{name: "container name required", obj: with(validPod(), func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" }),
			want: []string{"spec.containers[0].name: Required value"}},
		{name: "container names unique", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, p.Spec.Containers[0])
		}), want: []string{`spec.containers[1].name: Duplicate value: "web"`}},
		{name: "init container names unique across containers", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.InitContainers = append(p.Spec.InitContainers, p.Spec.Containers[0])
		}), want: []string{`spec.initContainers[0].name: Duplicate value: "web"`}},
		{name: "container port in range", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 70000, Protocol: corev1.ProtocolTCP}}
		}), want: []string{"spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"}},
		{name: "container port required", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Protocol: corev1.ProtocolTCP}}
		}), want: []string{"spec.containers[0].ports[0].containerPort: Required value"}},
		{name: "port protocol supported", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: "HTTP"}}
		}), want: []string{`spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"`}},
		{name: "host ports unique", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: "TCP"}}
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "side", Ports: p.Spec.Containers[0].Ports,
				ImagePullPolicy: "Always", TerminationMessagePolicy: "File"})
		}), want: []string{`spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"`}},
		{name: "env name required", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Value: "x"}}
		}), want: []string{"spec.containers[0].env[0].name: Required value"}},
		{name: "env name without '='", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A=B"}}
		}), want: []string{`spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='`}},
		{name: "env valueFrom needs one source", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{}}}
		}), want: []string{"spec.containers[0].env[0].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"}},
		{name: "env fieldRef path supported", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.phase"}}}}
		}), want: []string{`spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "status.phase": supported values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"`}},
		{name: "imagePullPolicy supported", obj: with(validPod(), func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "Sometimes" }),
			want: []string{`spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"`}},
		{name: "image without surrounding spaces", obj: with(validPod(), func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" }),
			want: []string{`spec.containers[0].image: Invalid value: " nginx": must not have leading or trailing whitespace`}},
		{name: "restartPolicy supported", obj: with(validPod(), func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }),
			want: []string{`spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`}},
		{name: "dnsPolicy supported", obj: with(validPod(), func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" }),
			want: []string{`spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"`}},
		{name: "volume names unique", obj: with(validPod(), func(p *corev1.Pod) {
			v := corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
			p.Spec.Volumes = []corev1.Volume{v, v}
		}), want: []string{`spec.volumes[1].name: Duplicate value: "data"`}},
		{name: "volume has one source", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{},
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}}}}
		}), want: []string{"spec.volumes[0].configMap: Forbidden: may not specify more than 1 volume type"}},
		{name: "secret volume names its secret", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}}}
		}), want: []string{"spec.volumes[0].secret.secretName: Required value"}},
		{name: "volume mount names a volume", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		}), want: []string{`spec.containers[0].volumeMounts[0].name: Not found: "data"`}},
		{name: "requests at most limits", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits: corev1.ResourceList{"cpu": resource.MustParse("1")}, Requests: corev1.ResourceList{"cpu": resource.MustParse("2")}}
		}), want: []string{`spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1`}},
		{name: "resource names standard", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{"gpu": resource.MustParse("1")}}
		}), want: []string{
			`spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource type or fully qualified`,
			`spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource for containers`}},
		{name: "liveness probe succeeds once", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 2, FailureThreshold: 3}
		}), want: []string{"spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"}},
		{name: "probe has a handler", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
		}), want: []string{"spec.containers[0].readinessProbe: Required value: must specify a handler type"}},
		{name: "toleration with empty key must be Exists", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual}}
		}), want: []string{"spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\""}},
		{name: "toleration operator supported", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "a", Operator: "Maybe"}}
		}), want: []string{`spec.tolerations[0].operator: Unsupported value: "Maybe": supported values: "Equal", "Exists"`}},
		{name: "activeDeadlineSeconds positive", obj: with(validPod(), func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = new(int64) }),
			want: []string{"spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"}},
		{name: "nodeName is a DNS subdomain", obj: with(validPod(), func(p *corev1.Pod) { p.Spec.NodeName = "Node_1" }),
			want: []string{`spec.nodeName: Invalid value: "Node_1": ` + dnsSubdomainMsg}},
		{name: "terminationGracePeriodSeconds required", obj: with(validPod(), func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = nil }),
			want: []string{"spec.terminationGracePeriodSeconds: Required value"}},
		{name: "hostPort matches containerPort on the host network", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: "TCP"}}
		}), want: []string{"spec.containers[0].ports[0].hostPort: Invalid value: 8080: must match `containerPort` when `hostNetwork` is true"}},
		{name: "ephemeral containers not on create", obj: with(validPod(), func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
		}), want: []string{"spec.ephemeralContainers: Forbidden: cannot be set on create"}},
	})
}

// Metadata rules are shared by every kind; the name rule is the kind's.
// Reference: ValidateObjectMeta (k8s.io/apimachinery/pkg/api/validation).
func TestValidateObjectMeta(t *testing.T) {
	runValidation(t, []validationCase{
		{name: "name required", obj: with(validPod(), func(p *corev1.Pod) { p.Name = "" }),
			want: []string{"metadata.name: Required value: name or generateName is required"}},
		{name: "generateName is turned into a name before validation", obj: with(validPod(), func(p *corev1.Pod) { p.Name, p.GenerateName = "", "web-" }),
			want: []string{"metadata.name: Required value: name or generateName is required"}},
		{name: "pod name is a DNS subdomain", obj: with(validPod(), func(p *corev1.Pod) { p.Name = "Web_1" }),
			want: []string{`metadata.name: Invalid value: "Web_1": ` + dnsSubdomainMsg}},
		{name: "namespace required for a namespaced kind", obj: with(validPod(), func(p *corev1.Pod) { p.Namespace = "" }),
			want: []string{"metadata.namespace: Required value"}},
		{name: "namespace forbidden for a cluster-scoped kind", obj: prepared(&corev1.Node{ObjectMeta: objMeta("node-1")}),
			want: []string{"metadata.namespace: Forbidden: not allowed on this type"}},
		{name: "label keys are qualified names", obj: with(validPod(), func(p *corev1.Pod) { p.Labels = map[string]string{"-bad": "x"} }),
			want: []string{`metadata.labels: Invalid value: "-bad": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`}},
		{name: "label values are short", obj: with(validPod(), func(p *corev1.Pod) { p.Labels = map[string]string{"app": strings.Repeat("x", 64)} }),
			want: []string{`metadata.labels: Invalid value: "` + strings.Repeat("x", 64) + `": must be no more than 63 bytes`}},
		{name: "annotation keys are qualified names", obj: with(validPod(), func(p *corev1.Pod) { p.Annotations = map[string]string{"a b": "x"} }),
			want: []string{`metadata.annotations: Invalid value: "a b": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`}},
		{name: "finalizers are standard or qualified", obj: with(validPod(), func(p *corev1.Pod) { p.Finalizers = []string{"mine"} }),
			want: []string{`metadata.finalizers[0]: Invalid value: "mine": name is neither a standard finalizer name nor is it fully qualified`}},
		{name: "every name fits in a URL path (core/v1 Event has no other rule)",
			obj:  &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "a/b", Namespace: "default"}, InvolvedObject: corev1.ObjectReference{Namespace: "default"}},
			want: []string{`metadata.name: Invalid value: "a/b": may not contain '/'`}},
	})
}

// Reference: ValidateService, ValidateServiceUpdate.
func TestValidateService(t *testing.T) {
	runValidation(t, []validationCase{
		{name: "course notes mysql-svc.yaml", obj: func() runtime.Object {
			s := decode[*corev1.Service](t, readTestdata(t, "mysql-svc.yaml"))
			s.Namespace = "default"
			return prepared(s)
		}()},
		{name: "valid", obj: validService()},
		{name: "ports required", obj: with(validService(), func(s *corev1.Service) { s.Spec.Ports = nil }),
			want: []string{"spec.ports: Required value"}},
		{name: "headless needs no ports", obj: prepared(&corev1.Service{ObjectMeta: objMeta("db"), Spec: corev1.ServiceSpec{ClusterIP: "None"}})},
		{name: "ExternalName needs no ports, but a name", obj: prepared(&corev1.Service{ObjectMeta: objMeta("db"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName}}),
			want: []string{"spec.externalName: Required value"}},
		{name: "port in range", obj: with(validService(), func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }),
			want: []string{"spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"}},
		{name: "several ports are named", obj: with(validService(), func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 443, Protocol: "TCP", TargetPort: intstr.FromInt32(443)})
		}), want: []string{"spec.ports[0].name: Required value", "spec.ports[1].name: Required value"}},
		{name: "type supported", obj: with(validService(), func(s *corev1.Service) { s.Spec.Type = "Public" }),
			want: []string{`spec.type: Unsupported value: "Public": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`}},
		{name: "name is a DNS-1035 label", obj: with(validService(), func(s *corev1.Service) { s.Name = "1web" }),
			want: []string{`metadata.name: Invalid value: "1web": ` + dns1035Msg}},
		{name: "no nodePort on a ClusterIP service", obj: with(validService(), func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }),
			want: []string{"spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"}},
		{name: "clusterIP is an IP", obj: with(validService(), func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.0.0.300", []string{"10.0.0.300"}
		}), want: []string{`spec.clusterIPs[0]: Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`}},
		{name: "clusterIP may not change", obj: with(validService(), func(s *corev1.Service) {
			s.ResourceVersion, s.Spec.ClusterIP, s.Spec.ClusterIPs = "2", "10.96.0.11", []string{"10.96.0.11"}
		}), old: with(validService(), func(s *corev1.Service) {
			s.ResourceVersion, s.Spec.ClusterIP, s.Spec.ClusterIPs = "1", "10.96.0.10", []string{"10.96.0.10"}
		}), want: []string{`spec.clusterIPs[0]: Invalid value: ["10.96.0.11"]: may not change once set`}},
		{name: "ports may change", obj: with(validService(), func(s *corev1.Service) { s.ResourceVersion, s.Spec.Ports[0].Port = "2", 8080 }),
			old: with(validService(), func(s *corev1.Service) { s.ResourceVersion = "1" })},
	})
}

// Reference: ValidateReplicationController.
func TestValidateReplicationController(t *testing.T) {
	runValidation(t, []validationCase{
		{name: "course notes mysql-rc.yaml", obj: func() runtime.Object {
			rc := decode[*corev1.ReplicationController](t, readTestdata(t, "mysql-rc.yaml"))
			rc.Namespace = "default"
			return prepared(rc)
		}()},
		{name: "selector matches the template", obj: with(validRC(), func(rc *corev1.ReplicationController) { rc.Spec.Selector = map[string]string{"app": "db"} }),
			want: []string{`spec.template.metadata.labels: Invalid value: {"app":"web"}: ` + notMatchMsg}},
		{name: "selector required", obj: with(validRC(), func(rc *corev1.ReplicationController) {
			rc.Spec.Selector, rc.Spec.Template.Labels = nil, nil
		}), want: []string{"spec.selector: Required value"}},
		{name: "template required", obj: with(validRC(), func(rc *corev1.ReplicationController) { rc.Spec.Template = nil }),
			want: []string{"spec.template: Required value"}},
		{name: "pods restart Always", obj: with(validRC(), func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
		}),
			want: []string{`spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"`}},
		{name: "replicas not negative", obj: with(validRC(), func(rc *corev1.ReplicationController) { *rc.Spec.Replicas = -1 }),
			want: []string{"spec.replicas: Invalid value: -1: must be greater than or equal to 0"}},
		{name: "template's containers checked", obj: with(validRC(), func(rc *corev1.ReplicationController) { rc.Spec.Template.Spec.Containers[0].Image = "" }),
			want: []string{"spec.template.spec.containers[0].image: Required value"}},
	})
}

// Reference: ValidateNamespace, ValidateNode, ValidateConfigMap,
// ValidateSecret, ValidateEndpoints.
func TestValidateCoreKinds(t *testing.T) {
	ns := prepared(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dev"}})
	node := prepared(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}})
	cm := prepared(&corev1.ConfigMap{ObjectMeta: objMeta("conf"), Data: map[string]string{"app.conf": "x"}})
	secret := prepared(&corev1.Secret{ObjectMeta: objMeta("s"), Data: map[string][]byte{"password": []byte("x")}})
	runValidation(t, []validationCase{
		{name: "namespace valid", obj: ns},
		{name: "namespace name is a DNS label", obj: with(ns, func(n *corev1.Namespace) { n.Name = "dev.team" }),
			want: []string{`metadata.name: Invalid value: "dev.team": must not contain dots`}},
		{name: "node valid", obj: node},
		{name: "node taint effect supported (reported at metadata.taints)", obj: with(node, func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "gpu", Effect: "Sometimes"}}
		}), want: []string{`metadata.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`}},
		{name: "node podCIDRs fixed once set", obj: with(node, func(n *corev1.Node) { n.ResourceVersion, n.Spec.PodCIDRs = "2", []string{"10.244.2.0/24"} }),
			old:  with(node, func(n *corev1.Node) { n.ResourceVersion, n.Spec.PodCIDRs = "1", []string{"10.244.1.0/24"} }),
			want: []string{`spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid`}},
		{name: "configmap valid", obj: cm},
		{name: "configmap keys valid", obj: with(cm, func(c *corev1.ConfigMap) { c.Data = map[string]string{"a b": "x"} }),
			want: []string{`data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`}},
		{name: "immutable configmap keeps its data", obj: with(cm, func(c *corev1.ConfigMap) { c.ResourceVersion, c.Immutable, c.Data = "2", ptrTo(true), nil }),
			old:  with(cm, func(c *corev1.ConfigMap) { c.ResourceVersion, c.Immutable = "1", ptrTo(true) }),
			want: []string{"data: Forbidden: field is immutable when `immutable` is set"}},
		{name: "secret valid", obj: secret},
		{name: "secret keys valid", obj: with(secret, func(s *corev1.Secret) { s.Data = map[string][]byte{"../x": nil} }),
			want: []string{`data[../x]: Invalid value: "../x": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
				`data[../x]: Invalid value: "../x": must not start with '..'`}},
		{name: "tls secret has cert and key", obj: with(secret, func(s *corev1.Secret) { s.Type = corev1.SecretTypeTLS }),
			want: []string{"data[tls.crt]: Required value", "data[tls.key]: Required value"}},
		{name: "secret type fixed", obj: with(secret, func(s *corev1.Secret) {
			s.ResourceVersion, s.Type, s.Data = "2", corev1.SecretTypeTLS, map[string][]byte{"tls.crt": nil, "tls.key": nil}
		}), old: with(secret, func(s *corev1.Secret) { s.ResourceVersion = "1" }),
			want: []string{`type: Invalid value: "kubernetes.io/tls": field is immutable`}},
		{name: "endpoints addresses are IPs", obj: prepared(&corev1.Endpoints{ObjectMeta: objMeta("web"), Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "127.0.0.1"}}, Ports: []corev1.EndpointPort{{Port: 80}}}}}),
			want: []string{"subsets[0].addresses[0].ip: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)"}},
	})
}

// Reference: pkg/apis/apps/validation/validation.go; the immutable
// selectors come from pkg/registry/apps/*/strategy.go.
func TestValidateApps(t *testing.T) {
	runValidation(t, []validationCase{
		{name: "deployment valid", obj: validDeployment()},
		{name: "deployment selector required", obj: with(validDeployment(), func(d *appsv1.Deployment) { d.Spec.Selector = nil }),
			want: []string{"spec.selector: Required value", `spec.template.metadata.labels: Invalid value: {"app":"web"}: ` + notMatchMsg}},
		{name: "deployment selector matches template", obj: with(validDeployment(), func(d *appsv1.Deployment) { d.Spec.Template.Labels["app"] = "api" }),
			want: []string{`spec.template.metadata.labels: Invalid value: {"app":"api"}: ` + notMatchMsg}},
		{name: "deployment selector not empty", obj: with(validDeployment(), func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }),
			want: []string{"spec.selector: Invalid value: {}: empty selector is invalid for deployment"}},
		{name: "deployment rollout can progress", obj: with(validDeployment(), func(d *appsv1.Deployment) {
			zero := intstr.FromInt32(0)
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &zero}
		}), want: []string{"spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"}},
		{name: "deployment strategy supported", obj: with(validDeployment(), func(d *appsv1.Deployment) { d.Spec.Strategy = appsv1.DeploymentStrategy{Type: "BlueGreen"} }),
			want: []string{`spec.strategy: Unsupported value: {"type":"BlueGreen"}: supported values: "Recreate", "RollingUpdate"`}},
		{name: "deployment pods restart Always", obj: with(validDeployment(), func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }),
			want: []string{`spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"`}},
		{name: "deployment replicas not negative", obj: with(validDeployment(), func(d *appsv1.Deployment) { *d.Spec.Replicas = -1 }),
			want: []string{"spec.replicas: Invalid value: -1: must be greater than or equal to 0"}},
		{name: "deployment selector immutable", obj: with(validDeployment(), func(d *appsv1.Deployment) {
			d.ResourceVersion = "2"
			d.Spec.Selector.MatchLabels["app"] = "api"
			d.Spec.Template.Labels["app"] = "api"
		}), old: with(validDeployment(), func(d *appsv1.Deployment) { d.ResourceVersion = "1" }),
			want: []string{`spec.selector: Invalid value: {"matchLabels":{"app":"api"}}: field is immutable`}},
		{name: "deployment scale and image change", obj: with(validDeployment(), func(d *appsv1.Deployment) {
			d.ResourceVersion, *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image = "2", 3, "nginx:1.28"
		}), old: with(validDeployment(), func(d *appsv1.Deployment) { d.ResourceVersion = "1" })},
		{name: "replicaset valid", obj: validReplicaSet()},
		{name: "replicaset selector required", obj: with(validReplicaSet(), func(r *appsv1.ReplicaSet) { r.Spec.Selector = nil }),
			want: []string{"spec.selector: Required value", `spec.template.metadata.labels: Invalid value: {"app":"web"}: ` + notMatchMsg}},
		{name: "daemonset valid", obj: validDaemonSet()},
		{name: "daemonset surge or unavailable, not both", obj: with(validDaemonSet(), func(d *appsv1.DaemonSet) {
			d.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptrTo(intstr.FromInt32(1))
		}), want: []string{"spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero"}},
		{name: "statefulset valid", obj: validStatefulSet()},
		{name: "statefulset name is a DNS label", obj: with(validStatefulSet(), func(s *appsv1.StatefulSet) { s.Name = "db.v1" }),
			want: []string{`metadata.name: Invalid value: "db.v1": must not contain dots`}},
		{name: "statefulset podManagementPolicy supported", obj: with(validStatefulSet(), func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Random" }),
			want: []string{`spec.podManagementPolicy: Invalid value: "Random": must be 'OrderedReady' or 'Parallel'`}},
		{name: "statefulset serviceName fixed", obj: with(validStatefulSet(), func(s *appsv1.StatefulSet) { s.ResourceVersion, s.Spec.ServiceName = "2", "db2" }),
			old:  with(validStatefulSet(), func(s *appsv1.StatefulSet) { s.ResourceVersion = "1" }),
			want: []string{"spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"}},
	})
}

// Reference: pkg/apis/batch/validation/validation.go.
func TestValidateBatch(t *testing.T) {
	runValidation(t, []validationCase{
		{name: "job valid (selector generated by PrepareForCreate)", obj: validJob()},
		{name: "job selector required (PrepareForCreate not called)", obj: func() runtime.Object {
			j := validJob()
			j.Spec.Selector = nil
			return j
		}(), want: []string{"spec.selector: Required value", `spec.template.metadata.labels: Invalid value: …: ` + notMatchMsg}},
		{name: "job pods do not restart Always", obj: with(validJob(), func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways }),
			want: []string{`spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`}},
		{name: "job backoffLimit not negative", obj: with(validJob(), func(j *batchv1.Job) { j.Spec.BackoffLimit = ptrTo(int32(-1)) }),
			want: []string{"spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0"}},
		{name: "job selector generated, not chosen", obj: with(validJob(), func(j *batchv1.Job) {
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
			j.Spec.Template.Labels["app"] = "pi"
		}), want: []string{`spec.selector: Invalid value: {"matchLabels":{"app":"pi"}}: ` + "`selector` not auto-generated"}},
		{name: "job template immutable", obj: with(validJob(), func(j *batchv1.Job) {
			j.ResourceVersion, j.Spec.Template.Spec.Containers[0].Image = "2", "perl:5.40"
		}), old: with(validJob(), func(j *batchv1.Job) { j.ResourceVersion = "1" }),
			want: []string{`spec.template: Invalid value: {"metadata":…: field is immutable`}},
		{name: "cronjob valid", obj: validCronJob()},
		{name: "cronjob schedule has 5 fields", obj: with(validCronJob(), func(c *batchv1.CronJob) { c.Spec.Schedule = "*/5 * * *" }),
			want: []string{`spec.schedule: Invalid value: "*/5 * * *": expected exactly 5 fields, found 4: [*/5 * * *]`}},
		{name: "cronjob schedule in range", obj: with(validCronJob(), func(c *batchv1.CronJob) { c.Spec.Schedule = "61 * * * *" }),
			want: []string{`spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61`}},
		{name: "cronjob schedule numbers", obj: with(validCronJob(), func(c *batchv1.CronJob) { c.Spec.Schedule = "x * * * *" }),
			want: []string{`spec.schedule: Invalid value: "x * * * *": failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax`}},
		{name: "cronjob descriptors and names", obj: with(validCronJob(), func(c *batchv1.CronJob) { c.Spec.Schedule = "0 9 * JAN-MAR mon-fri" })},
		{name: "cronjob unknown descriptor", obj: with(validCronJob(), func(c *batchv1.CronJob) { c.Spec.Schedule = "@sometimes" }),
			want: []string{`spec.schedule: Invalid value: "@sometimes": unrecognized descriptor: @sometimes`}},
		{name: "cronjob timeZone known", obj: with(validCronJob(), func(c *batchv1.CronJob) { c.Spec.TimeZone = ptrTo("Mars/Olympus") }),
			want: []string{`spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus`}},
		{name: "cronjob name leaves room for the job suffix", obj: with(validCronJob(), func(c *batchv1.CronJob) { c.Name = strings.Repeat("a", 53) }),
			want: []string{`metadata.name: Invalid value: "` + strings.Repeat("a", 53) + `": must be no more than 52 characters`}},
		{name: "cronjob jobs restart OnFailure or Never", obj: with(validCronJob(), func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}), want: []string{`spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`}},
	})
}

// Reference: pkg/apis/{coordination,discovery,networking,autoscaling}/validation,
// pkg/apis/core/validation/events.go.
func TestValidateOtherGroups(t *testing.T) {
	lease := prepared(&coordinationv1.Lease{ObjectMeta: objMeta("kube-scheduler"), Spec: coordinationv1.LeaseSpec{
		HolderIdentity: ptrTo("node-1"), LeaseDurationSeconds: ptrTo(int32(15))}})
	slice := prepared(&discoveryv1.EndpointSlice{ObjectMeta: objMeta("web-abc"), AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}}}, Ports: []discoveryv1.EndpointPort{{Port: ptrTo(int32(80))}}})
	hpa := prepared(&autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: objMeta("web"), Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"}, MaxReplicas: 5}})
	coreEvent := prepared(&corev1.Event{ObjectMeta: objMeta("web.17a"), InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"},
		Reason: "Scheduled", Type: corev1.EventTypeNormal})
	runValidation(t, []validationCase{
		{name: "lease valid", obj: lease},
		{name: "lease duration positive", obj: with(lease, func(l *coordinationv1.Lease) { *l.Spec.LeaseDurationSeconds = 0 }),
			want: []string{"spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"}},
		{name: "endpointslice valid", obj: slice},
		{name: "endpointslice addressType required", obj: with(slice, func(s *discoveryv1.EndpointSlice) { s.AddressType = "" }),
			want: []string{"addressType: Required value"}},
		{name: "endpointslice endpoints have addresses", obj: with(slice, func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = nil }),
			want: []string{"endpoints[0].addresses: Required value: must contain at least 1 address"}},
		{name: "endpointslice addressType fixed", obj: with(slice, func(s *discoveryv1.EndpointSlice) {
			s.ResourceVersion, s.AddressType, s.Endpoints[0].Addresses = "2", discoveryv1.AddressTypeFQDN, []string{"web.example.com"}
		}), old: with(slice, func(s *discoveryv1.EndpointSlice) { s.ResourceVersion = "1" }),
			want: []string{`addressType: Invalid value: "FQDN": field is immutable`}},
		{name: "core event valid", obj: coreEvent},
		{name: "core event in its object's namespace", obj: with(coreEvent, func(e *corev1.Event) { e.InvolvedObject.Namespace = "kube-system" }),
			want: []string{`involvedObject.namespace: Invalid value: "kube-system": does not match event.namespace`}},
		{name: "events/v1 event valid", obj: validEventsEvent()},
		{name: "events/v1 event needs a type and no deprecated fields", obj: with(validEventsEvent(), func(e *eventsv1.Event) {
			e.Type, e.DeprecatedCount = "Info", 3
		}), want: []string{`type: Invalid value: "": has invalid value: Info`, `count: Invalid value: "": needs to be unset`}},
		{name: "events/v1 event needs reportingController", obj: with(validEventsEvent(), func(e *eventsv1.Event) { e.ReportingController = "" }),
			want: []string{"reportingController: Required value", `reportingController: Invalid value: "": name part must be non-empty`,
				`reportingController: Invalid value: "": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`}},
		{name: "ingress valid", obj: validIngress()},
		{name: "ingress pathType required", obj: with(validIngress(), func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].PathType = nil }),
			want: []string{"spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"}},
		{name: "ingress rules or default backend", obj: with(validIngress(), func(i *networkingv1.Ingress) { i.Spec.Rules = nil }),
			want: []string{"spec: Invalid value: null: either `defaultBackend` or `rules` must be specified"}},
		{name: "ingress host is a DNS name", obj: with(validIngress(), func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "10.0.0.1" }),
			want: []string{`spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address`}},
		{name: "ingress backend port", obj: with(validIngress(), func(i *networkingv1.Ingress) {
			i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port = networkingv1.ServiceBackendPort{}
		}), want: []string{"spec.rules[0].http.paths[0].backend: Required value: port name or number is required"}},
		{name: "hpa valid", obj: hpa},
		{name: "hpa maxReplicas positive", obj: with(hpa, func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MaxReplicas = 0 }),
			want: []string{"spec.maxReplicas: Invalid value: 0: must be greater than 0", "spec.maxReplicas: Invalid value: 0: must be greater than or equal to `minReplicas`"}},
		{name: "hpa target named", obj: with(hpa, func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Name = "" }),
			want: []string{"spec.scaleTargetRef.name: Required value"}},
	})
}

// Reference: ValidatePodUpdate. A running pod may change only its images,
// its deadline and its tolerations (by adding).
func TestValidatePodUpdate(t *testing.T) {
	old := with(validPod(), func(p *corev1.Pod) { p.ResourceVersion = "1" })
	update := func(change func(*corev1.Pod)) *corev1.Pod {
		return with(old, func(p *corev1.Pod) {
			p.ResourceVersion = "2"
			change(p)
		})
	}
	runValidation(t, []validationCase{
		{name: "image may change", obj: update(func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }), old: old},
		{name: "labels may change", obj: update(func(p *corev1.Pod) { p.Labels = map[string]string{"tier": "web"} }), old: old},
		{name: "tolerations may be added", obj: update(func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists})
		}), old: old},
		{name: "other fields may not change", obj: update(func(p *corev1.Pod) { p.Spec.Containers[0].Command = []string{"sh"} }), old: old,
			want: []string{"spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n…"}},
		{name: "containers may not be added", obj: update(func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, with(old, func(*corev1.Pod) {}).Spec.Containers[0])
			p.Spec.Containers[1].Name = "side"
		}), old: old, want: []string{"spec.containers: Forbidden: pod updates may not add or remove containers"}},
		{name: "tolerations may not be removed", obj: update(func(p *corev1.Pod) { p.Spec.Tolerations = nil }), old: old,
			want: []string{"spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"}},
		{name: "activeDeadlineSeconds may not grow", obj: update(func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(60)) }),
			old:  with(old, func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(30)) }),
			want: []string{"spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value"}},
		{name: "resourceVersion required", obj: update(func(p *corev1.Pod) { p.ResourceVersion = "" }), old: old,
			want: []string{`metadata.resourceVersion: Invalid value: "": must be specified for an update`}},
		{name: "name immutable", obj: update(func(p *corev1.Pod) { p.Name = "web2" }), old: old,
			want: []string{`metadata.name: Invalid value: "web2": field is immutable`}},
	})
}
