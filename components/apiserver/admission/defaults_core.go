package admission

import (
	"net"
	"reflect"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/klog/v2"
)

// Defaults of the core ("v1") group.
// Reference: pkg/apis/core/v1/defaults.go and zz_generated.defaults.go.

func defaultPod(pod *corev1.Pod) {
	spec := &pod.Spec
	// A container that states only limits gets requests equal to them.
	// This happens on Pods only, not on the templates of workloads.
	for _, list := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
		for i := range list {
			res := &list[i].Resources
			if res.Limits == nil {
				continue
			}
			if res.Requests == nil {
				res.Requests = corev1.ResourceList{}
			}
			for name, q := range res.Limits {
				if _, ok := res.Requests[name]; !ok {
					res.Requests[name] = q.DeepCopy()
				}
			}
		}
	}
	if spec.EnableServiceLinks == nil {
		spec.EnableServiceLinks = ptrTo(corev1.DefaultEnableServiceLinks)
	}
	if spec.HostNetwork {
		// On the host's network a container port is a host port.
		for _, list := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
			for i := range list {
				for j := range list[i].Ports {
					if list[i].Ports[j].HostPort == 0 {
						list[i].Ports[j].HostPort = list[i].Ports[j].ContainerPort
					}
				}
			}
		}
	}
	defaultPodSpec(spec)

	// status.podIP is podIPs[0] and status.hostIP is hostIPs[0]; the v1
	// API keeps both forms in step.
	st := &pod.Status
	if len(st.PodIPs) > 0 {
		st.PodIP = st.PodIPs[0].IP
	} else if st.PodIP != "" {
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	if len(st.HostIPs) > 0 {
		st.HostIP = st.HostIPs[0].IP
	} else if st.HostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	}

	admitPodPriority(spec)
	admitDefaultTolerationSeconds(spec)
}

// Priority values of the two built-in PriorityClasses.
var builtinPriorityClasses = map[string]int32{
	"system-cluster-critical": 2000000000,
	"system-node-critical":    2000001000,
}

// admitPodPriority does what the Priority admission plugin does to a Pod
// in a cluster without a default PriorityClass: no class means priority 0,
// and the pod may preempt lower-priority pods. A class other than the
// built-in ones is left to whoever serves PriorityClasses.
func admitPodPriority(spec *corev1.PodSpec) {
	if spec.Priority == nil {
		if spec.PriorityClassName == "" {
			spec.Priority = ptrTo(int32(0))
		} else if v, ok := builtinPriorityClasses[spec.PriorityClassName]; ok {
			spec.Priority = ptrTo(v)
		}
	}
	if spec.PreemptionPolicy == nil && spec.Priority != nil {
		spec.PreemptionPolicy = ptrTo(corev1.PreemptLowerPriority)
	}
}

// DefaultTolerationSeconds is how long a pod tolerates the not-ready and
// unreachable taints by default: kube-apiserver's flags
// --default-not-ready-toleration-seconds and
// --default-unreachable-toleration-seconds, 300 each.
const DefaultTolerationSeconds = 300

// defaultTolerations holds the two values in force. Like upstream's
// admission plugin, whose flags are package variables, they are
// process-wide: the apiserver sets them once, at start, with
// SetDefaultTolerationSeconds.
var defaultTolerations = struct {
	sync.RWMutex
	seconds map[string]int64 // taint key → tolerationSeconds
}{seconds: map[string]int64{corev1.TaintNodeNotReady: DefaultTolerationSeconds, corev1.TaintNodeUnreachable: DefaultTolerationSeconds}}

// SetDefaultTolerationSeconds sets the tolerationSeconds that new pods get
// for the not-ready and unreachable NoExecute taints (settings
// default-not-ready-toleration-seconds and
// default-unreachable-toleration-seconds). Scenarios shorten them so that
// a lost node's pods are evicted in seconds instead of five minutes.
func SetDefaultTolerationSeconds(notReady, unreachable int64) {
	defaultTolerations.Lock()
	defer defaultTolerations.Unlock()
	defaultTolerations.seconds[corev1.TaintNodeNotReady] = notReady
	defaultTolerations.seconds[corev1.TaintNodeUnreachable] = unreachable
}

// admitDefaultTolerationSeconds does what the DefaultTolerationSeconds
// admission plugin does: unless the pod already tolerates them, it
// tolerates the not-ready and unreachable NoExecute taints for 300s (or
// what SetDefaultTolerationSeconds says), so a pod is evicted five
// minutes after its node goes away.
func admitDefaultTolerationSeconds(spec *corev1.PodSpec) {
	defaultTolerations.RLock()
	defer defaultTolerations.RUnlock()
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		taint := corev1.Taint{Key: key, Effect: corev1.TaintEffectNoExecute}
		tolerated := false
		for i := range spec.Tolerations {
			if spec.Tolerations[i].ToleratesTaint(klog.Background(), &taint, false) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			spec.Tolerations = append(spec.Tolerations, corev1.Toleration{
				Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute,
				TolerationSeconds: ptrTo(defaultTolerations.seconds[key]),
			})
		}
	}
}

// defaultPodTemplate defaults the pod template of a workload: the PodSpec
// defaults, but not the Pod-only ones (requests from limits,
// enableServiceLinks, admission).
func defaultPodTemplate(t *corev1.PodTemplateSpec) {
	defaultPodSpec(&t.Spec)
}

func defaultPodSpec(spec *corev1.PodSpec) {
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptrTo(int64(corev1.DefaultTerminationGracePeriodSeconds))
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = corev1.DefaultSchedulerName
	}
	// serviceAccount is the deprecated name of serviceAccountName; the v1
	// API fills each from the other.
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName

	for i := range spec.Volumes {
		defaultVolume(&spec.Volumes[i])
	}
	for i := range spec.InitContainers {
		defaultContainer(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		defaultContainer(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		defaultContainer((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	if spec.Overhead != nil {
		roundResourceList(spec.Overhead)
	}
}

func defaultContainer(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		// Reference: Kubernetes docs, "Images", "Default image pull policy".
		if imageTag(c.Image) == "latest" {
			c.ImagePullPolicy = corev1.PullAlways
		} else {
			c.ImagePullPolicy = corev1.PullIfNotPresent
		}
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil && vf.FieldRef != nil {
			defaultFieldRef(vf.FieldRef)
		}
	}
	roundResourceList(c.Resources.Limits)
	roundResourceList(c.Resources.Requests)
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p != nil {
			defaultProbe(p)
		}
	}
	if c.Lifecycle != nil {
		for _, h := range []*corev1.LifecycleHandler{c.Lifecycle.PostStart, c.Lifecycle.PreStop} {
			if h != nil && h.HTTPGet != nil {
				defaultHTTPGet(h.HTTPGet)
			}
		}
	}
}

func defaultProbe(p *corev1.Probe) {
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	if p.HTTPGet != nil {
		defaultHTTPGet(p.HTTPGet)
	}
}

func defaultHTTPGet(h *corev1.HTTPGetAction) {
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

func defaultFieldRef(f *corev1.ObjectFieldSelector) {
	if f.APIVersion == "" {
		f.APIVersion = "v1"
	}
}

// defaultVolume: a volume that names no source is an emptyDir; file modes
// default to 0644 (420 in decimal, as the API shows it).
func defaultVolume(v *corev1.Volume) {
	if allPointersNil(v.VolumeSource) {
		v.VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	}
	src := &v.VolumeSource
	if src.HostPath != nil && src.HostPath.Type == nil {
		src.HostPath.Type = ptrTo(corev1.HostPathUnset)
	}
	if src.Secret != nil && src.Secret.DefaultMode == nil {
		src.Secret.DefaultMode = ptrTo(corev1.SecretVolumeSourceDefaultMode)
	}
	if src.ConfigMap != nil && src.ConfigMap.DefaultMode == nil {
		src.ConfigMap.DefaultMode = ptrTo(corev1.ConfigMapVolumeSourceDefaultMode)
	}
	if src.DownwardAPI != nil {
		if src.DownwardAPI.DefaultMode == nil {
			src.DownwardAPI.DefaultMode = ptrTo(corev1.DownwardAPIVolumeSourceDefaultMode)
		}
		for i := range src.DownwardAPI.Items {
			if f := src.DownwardAPI.Items[i].FieldRef; f != nil {
				defaultFieldRef(f)
			}
		}
	}
	if src.Projected != nil {
		if src.Projected.DefaultMode == nil {
			src.Projected.DefaultMode = ptrTo(corev1.ProjectedVolumeSourceDefaultMode)
		}
		for i := range src.Projected.Sources {
			s := &src.Projected.Sources[i]
			if s.DownwardAPI != nil {
				for j := range s.DownwardAPI.Items {
					if f := s.DownwardAPI.Items[j].FieldRef; f != nil {
						defaultFieldRef(f)
					}
				}
			}
			if s.ServiceAccountToken != nil && s.ServiceAccountToken.ExpirationSeconds == nil {
				s.ServiceAccountToken.ExpirationSeconds = ptrTo(int64(3600))
			}
		}
	}
	if src.Ephemeral != nil && src.Ephemeral.VolumeClaimTemplate != nil {
		defaultPVCSpec(&src.Ephemeral.VolumeClaimTemplate.Spec)
	}
}

func defaultPVCSpec(spec *corev1.PersistentVolumeClaimSpec) {
	if spec.VolumeMode == nil {
		spec.VolumeMode = ptrTo(corev1.PersistentVolumeFilesystem)
	}
	roundResourceList(spec.Resources.Limits)
	roundResourceList(spec.Resources.Requests)
}

// allPointersNil reports whether every pointer field of a struct is nil.
func allPointersNil(s any) bool {
	v := reflect.ValueOf(s)
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			return false
		}
	}
	return true
}

// roundResourceList rounds quantities up to a thousandth (1m): the API
// cannot store finer values.
func roundResourceList(list corev1.ResourceList) {
	for name, q := range list {
		q.RoundUp(-3)
		list[name] = q
	}
}

func defaultService(svc *corev1.Service) {
	spec := &svc.Spec
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	if spec.SessionAffinity == corev1.ServiceAffinityNone {
		spec.SessionAffinityConfig = nil
	}
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		if c := spec.SessionAffinityConfig; c == nil || c.ClientIP == nil || c.ClientIP.TimeoutSeconds == nil {
			spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{
				TimeoutSeconds: ptrTo(corev1.DefaultClientIPServiceAffinitySeconds),
			}}
		}
	}
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		// No targetPort means "the same number as port".
		if p.TargetPort == intstr.FromInt32(0) || p.TargetPort == intstr.FromString("") {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if externallyAccessible(svc) && spec.ExternalTrafficPolicy == "" {
		spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if spec.InternalTrafficPolicy == nil {
		switch spec.Type {
		case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
			spec.InternalTrafficPolicy = ptrTo(corev1.ServiceInternalTrafficPolicyCluster)
		}
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		spec.AllocateLoadBalancerNodePorts = ptrTo(true)
	}

	// clusterIP is clusterIPs[0]; the v1 API fills each from the other.
	if spec.ClusterIP != "" && len(spec.ClusterIPs) == 0 {
		spec.ClusterIPs = []string{spec.ClusterIP}
	} else if spec.ClusterIP == "" && len(spec.ClusterIPs) > 0 {
		spec.ClusterIP = spec.ClusterIPs[0]
	}
	defaultIPFamilies(svc)
}

// externallyAccessible: reachable from outside the cluster, which is when
// externalTrafficPolicy matters.
func externallyAccessible(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer || svc.Spec.Type == corev1.ServiceTypeNodePort ||
		(svc.Spec.Type == corev1.ServiceTypeClusterIP && len(svc.Spec.ExternalIPs) > 0)
}

// defaultIPFamilies fills ipFamilyPolicy and ipFamilies as Kubernetes'
// Service storage does on a single-stack IPv4 cluster (tinykube's): one
// family, IPv4 unless the clusterIP says IPv6. A headless Service without a
// selector is the exception: its endpoints are managed by hand and may be
// of either family, so it requires dual stack.
// Reference: pkg/registry/core/service/storage/alloc.go, initIPFamilyFields.
func defaultIPFamilies(svc *corev1.Service) {
	spec := &svc.Spec
	if spec.Type == corev1.ServiceTypeExternalName {
		return
	}
	headlessNoSelector := spec.ClusterIP == corev1.ClusterIPNone && len(spec.Selector) == 0
	if spec.IPFamilyPolicy == nil {
		if headlessNoSelector {
			spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyRequireDualStack)
		} else {
			spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicySingleStack)
		}
	}
	// Families the clusterIPs imply.
	for i, ip := range spec.ClusterIPs {
		if ip == corev1.ClusterIPNone || i < len(spec.IPFamilies) {
			continue
		}
		parsed := net.ParseIP(ip)
		if parsed == nil {
			break // validation reports it
		}
		if parsed.To4() != nil {
			spec.IPFamilies = append(spec.IPFamilies, corev1.IPv4Protocol)
		} else {
			spec.IPFamilies = append(spec.IPFamilies, corev1.IPv6Protocol)
		}
	}
	if len(spec.IPFamilies) == 0 {
		spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	if headlessNoSelector && len(spec.IPFamilies) == 1 && *spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack {
		if spec.IPFamilies[0] == corev1.IPv4Protocol {
			spec.IPFamilies = append(spec.IPFamilies, corev1.IPv6Protocol)
		} else {
			spec.IPFamilies = append(spec.IPFamilies, corev1.IPv4Protocol)
		}
	}
}

func defaultReplicationController(rc *corev1.ReplicationController) {
	if rc.Spec.Template != nil {
		// The selector and the RC's own labels default to the template's.
		if labels := rc.Spec.Template.Labels; labels != nil {
			if len(rc.Spec.Selector) == 0 {
				rc.Spec.Selector = labels
			}
			if len(rc.Labels) == 0 {
				rc.Labels = labels
			}
		}
		defaultPodTemplate(rc.Spec.Template)
	}
	if rc.Spec.Replicas == nil {
		rc.Spec.Replicas = ptrTo(int32(1))
	}
}

// defaultNamespace labels a namespace with its own name, so that label
// selectors (network policies, for one) can select namespaces by name.
func defaultNamespace(ns *corev1.Namespace) {
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
}

func defaultSecret(s *corev1.Secret) {
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
}

func defaultNode(n *corev1.Node) {
	// What a node can give to pods defaults to all it has.
	if n.Status.Allocatable == nil && n.Status.Capacity != nil {
		n.Status.Allocatable = n.Status.Capacity.DeepCopy()
	}
	roundResourceList(n.Status.Capacity)
	roundResourceList(n.Status.Allocatable)
	// podCIDR is podCIDRs[0]; the v1 API fills each from the other.
	if len(n.Spec.PodCIDRs) > 0 {
		n.Spec.PodCIDR = n.Spec.PodCIDRs[0]
	} else if n.Spec.PodCIDR != "" {
		n.Spec.PodCIDRs = []string{n.Spec.PodCIDR}
	}
}

func defaultEndpoints(ep *corev1.Endpoints) {
	for i := range ep.Subsets {
		for j := range ep.Subsets[i].Ports {
			if p := &ep.Subsets[i].Ports[j]; p.Protocol == "" {
				p.Protocol = corev1.ProtocolTCP
			}
		}
	}
}

// defaultLimitRange: for containers, a max implies the default limit, and
// a default limit (or else a min) implies the default request.
func defaultLimitRange(lr *corev1.LimitRange) {
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		if item.Type == corev1.LimitTypeContainer {
			if item.Default == nil {
				item.Default = corev1.ResourceList{}
			}
			if item.DefaultRequest == nil {
				item.DefaultRequest = corev1.ResourceList{}
			}
			for name, q := range item.Max {
				if _, ok := item.Default[name]; !ok {
					item.Default[name] = q.DeepCopy()
				}
			}
			for name, q := range item.Default {
				if _, ok := item.DefaultRequest[name]; !ok {
					item.DefaultRequest[name] = q.DeepCopy()
				}
			}
			for name, q := range item.Min {
				if _, ok := item.DefaultRequest[name]; !ok {
					item.DefaultRequest[name] = q.DeepCopy()
				}
			}
		}
		for _, l := range []corev1.ResourceList{item.Max, item.Min, item.Default, item.DefaultRequest, item.MaxLimitRequestRatio} {
			roundResourceList(l)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
