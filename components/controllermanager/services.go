package controllermanager

import (
	"fmt"
	"reflect"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// What the Endpoints and EndpointSlice controllers share: which Services
// select a pod, which pods belong in a Service's endpoints, and which port
// of a pod a Service port means.

// The `kubernetes` Service (default/kubernetes) fronts the apiserver. It
// has no selector; its endpoints are the apiserver itself, which writes
// them (kube-apiserver keeps them up to date; tinykube's writes them when
// it starts). The two endpoint controllers only put them back if they are
// missing, pointing at the kubeconfig's server address.
const (
	apiServerServiceNamespace = "default"
	apiServerServiceName      = "kubernetes"
	apiServerServiceKey       = apiServerServiceNamespace + "/" + apiServerServiceName
)

// servicesForPod returns the keys of the Services of pod's namespace whose
// selector matches pod's labels.
func servicesForPod(services corelisters.ServiceLister, pod *corev1.Pod) []string {
	list, err := services.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var keys []string
	for _, svc := range list {
		if svc.Spec.Selector == nil {
			continue // no selector: its endpoints are the user's to write
		}
		if labels.SelectorFromValidatedSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			keys = append(keys, svc.Namespace+"/"+svc.Name)
		}
	}
	return keys
}

// serviceAndPods reads the Service namespace/name and the pods its
// selector matches, for both endpoint controllers. svc is nil when the
// Service is gone. pods is nil, and selects false, for a Service whose
// endpoints the controllers do not write: one without a selector (the user
// writes them: a database outside the cluster, say) or an ExternalName
// Service (a DNS alias, no endpoints).
func serviceAndPods(services corelisters.ServiceLister, podLister corelisters.PodLister, namespace, name string) (svc *corev1.Service, pods []*corev1.Pod, selects bool, err error) {
	svc, err = services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	if svc.Spec.Selector == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return svc, nil, false, nil
	}
	pods, err = podLister.Pods(namespace).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	return svc, pods, err == nil, err
}

// podEndpointsChanged reports whether a pod update may change endpoints:
// its address, readiness, node, hostname, labels or deletion.
func podEndpointsChanged(old, cur *corev1.Pod) bool {
	return old.Status.PodIP != cur.Status.PodIP ||
		podReady(old) != podReady(cur) ||
		old.Spec.NodeName != cur.Spec.NodeName ||
		old.Spec.Hostname != cur.Spec.Hostname || old.Spec.Subdomain != cur.Spec.Subdomain ||
		(old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) ||
		old.Status.Phase != cur.Status.Phase ||
		!reflect.DeepEqual(old.Labels, cur.Labels)
}

// shouldPodBeInEndpoints: a pod with an address that has not finished.
// Terminating pods are left out of Endpoints; EndpointSlices keep them,
// marked terminating.
func shouldPodBeInEndpoints(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.PodIP == "" {
		return false
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// findPort resolves a Service port's targetPort on pod: a number is
// itself; a name ("http") is the container port of that name and
// protocol.
// Reference: kubernetes/pkg/api/v1/pod/util.go, FindPort.
func findPort(pod *corev1.Pod, sp corev1.ServicePort) (int32, error) {
	target := sp.TargetPort
	switch {
	case target.Type == intstr.String:
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				proto := p.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				if p.Name == target.StrVal && proto == protocolOf(sp) {
					return p.ContainerPort, nil
				}
			}
		}
		return 0, fmt.Errorf("pod %s has no container port named %q (%s)", pod.Name, target.StrVal, protocolOf(sp))
	case target.IntVal == 0:
		return sp.Port, nil // targetPort defaults to port
	}
	return target.IntVal, nil
}

func protocolOf(sp corev1.ServicePort) corev1.Protocol {
	if sp.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return sp.Protocol
}

// hostnameFor is the DNS hostname a pod gets in a Service's endpoints:
// spec.hostname, when its spec.subdomain is the Service (as a
// StatefulSet's pods under their headless Service).
func hostnameFor(pod *corev1.Pod, svc *corev1.Service) string {
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
		return pod.Spec.Hostname
	}
	return ""
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
