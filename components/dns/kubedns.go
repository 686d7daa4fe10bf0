package dns

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
)

// The kube-dns Service: how pods reach this server. Kubernetes runs its DNS
// server (CoreDNS) as pods behind a Service named kube-dns in kube-system
// whose ClusterIP is the address kubelets write into every pod's
// resolv.conf (10.96.0.10). tinykube runs the DNS server as a process on
// the master instead, so it publishes itself the way any server outside
// the pod network is published: a Service without a selector, and an
// EndpointSlice written by hand that names the master's address. kube-proxy
// then routes 10.96.0.10:53 to <master>:53 like any other Service; the
// endpoints controllers leave the slice alone, since the Service has no
// selector and the slice is not theirs (managed-by).
const (
	KubeDNSNamespace = "kube-system"
	KubeDNSName      = "kube-dns"
	// ManagedBy is the endpointslice.kubernetes.io/managed-by label of the
	// slice this component writes.
	ManagedBy = "tinykube-dns"
)

// kubeDNSService is the kube-dns Service as this component wants it: the
// ClusterIP clusterDNS, the DNS ports over UDP and TCP, and the metrics
// port, as CoreDNS's own Service has them. Pure.
func kubeDNSService(clusterDNS string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: KubeDNSName, Namespace: KubeDNSNamespace,
			Labels: map[string]string{"k8s-app": "kube-dns"},
		},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: clusterDNS,
			Ports: []corev1.ServicePort{
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt32(53)},
				{Name: "metrics", Protocol: corev1.ProtocolTCP, Port: 9153, TargetPort: intstr.FromInt32(9153)},
			},
		},
	}
}

// kubeDNSSlice is the EndpointSlice of the kube-dns Service svc: one ready
// endpoint, address, with this server's ports (53 unless the port setting
// says otherwise). It is owned by the Service, so it goes with it. Pure.
func kubeDNSSlice(svc *corev1.Service, address string, dnsPort, metricsPort int32) *discoveryv1.EndpointSlice {
	yes, no := true, false
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	dns, dnsTCP, metrics := "dns", "dns-tcp", "metrics"
	ports := []discoveryv1.EndpointPort{
		{Name: &dns, Protocol: &udp, Port: &dnsPort},
		{Name: &dnsTCP, Protocol: &tcp, Port: &dnsPort},
	}
	if metricsPort > 0 {
		ports = append(ports, discoveryv1.EndpointPort{Name: &metrics, Protocol: &tcp, Port: &metricsPort})
	}
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: KubeDNSName, Namespace: KubeDNSNamespace,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: KubeDNSName,
				discoveryv1.LabelManagedBy:   ManagedBy,
				"k8s-app":                    "kube-dns",
			},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{address},
			Conditions: discoveryv1.EndpointConditions{Ready: &yes, Serving: &yes, Terminating: &no},
		}},
		Ports: ports,
	}
	if svc != nil && svc.UID != "" {
		controller := true
		s.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID, Controller: &controller,
		}}
	}
	return s
}

// registrar keeps the kube-dns Service and its EndpointSlice as they
// should be.
type registrar struct {
	client      kubernetes.Interface
	services    corelisters.ServiceLister
	slices      discoverylisters.EndpointSliceLister
	clusterDNS  string
	address     string
	dnsPort     int32
	metricsPort int32
}

// sync compares the kube-dns Service and slice with what they should be,
// and converges the two. It returns a note for Health on success.
func (r *registrar) sync(ctx context.Context) (string, error) {
	want := kubeDNSService(r.clusterDNS)
	svc, err := r.services.Services(KubeDNSNamespace).Get(KubeDNSName)
	switch {
	case apierrors.IsNotFound(err):
		svc, err = r.client.CoreV1().Services(KubeDNSNamespace).Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			// The informer has not seen it yet: read it.
			svc, err = r.client.CoreV1().Services(KubeDNSNamespace).Get(ctx, KubeDNSName, metav1.GetOptions{})
		}
		if err != nil {
			return "", fmt.Errorf("creating Service %s/%s with clusterIP %s: %w", KubeDNSNamespace, KubeDNSName, r.clusterDNS, err)
		}
	case err != nil:
		return "", err
	}
	if svc.Spec.ClusterIP != r.clusterDNS {
		// A ClusterIP cannot change; the fix is the user's to make.
		return "", fmt.Errorf("Service %s/%s has clusterIP %s, not the cluster DNS address %s that pods use: delete it (kubectl -n %s delete service %s) and it is made again",
			KubeDNSNamespace, KubeDNSName, svc.Spec.ClusterIP, r.clusterDNS, KubeDNSNamespace, KubeDNSName)
	}
	if svc.Spec.Selector != nil || !apiequality.Semantic.DeepEqual(portsOf(svc), portsOf(want)) {
		next := svc.DeepCopy() // never modify the informer's copy
		next.Spec.Selector, next.Spec.Ports = nil, want.Spec.Ports
		if svc, err = r.client.CoreV1().Services(KubeDNSNamespace).Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			return "", fmt.Errorf("updating Service %s/%s: %w", KubeDNSNamespace, KubeDNSName, err)
		}
	}

	wantSlice := kubeDNSSlice(svc, r.address, r.dnsPort, r.metricsPort)
	slices := r.client.DiscoveryV1().EndpointSlices(KubeDNSNamespace)
	cur, err := r.slices.EndpointSlices(KubeDNSNamespace).Get(KubeDNSName)
	if apierrors.IsNotFound(err) {
		cur, err = slices.Create(ctx, wantSlice, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			// Made by our last sync, not yet in the informer: read it.
			cur, err = slices.Get(ctx, KubeDNSName, metav1.GetOptions{})
		}
	}
	if err == nil && !sliceUpToDate(cur, wantSlice) {
		next := cur.DeepCopy() // never modify the informer's copy
		next.Labels, next.OwnerReferences = wantSlice.Labels, wantSlice.OwnerReferences
		next.AddressType, next.Endpoints, next.Ports = wantSlice.AddressType, wantSlice.Endpoints, wantSlice.Ports
		_, err = slices.Update(ctx, next, metav1.UpdateOptions{})
	}
	if err != nil {
		return "", fmt.Errorf("EndpointSlice %s/%s: %w", KubeDNSNamespace, KubeDNSName, err)
	}
	return fmt.Sprintf("Service %s/%s %s → %s:%d", KubeDNSNamespace, KubeDNSName, r.clusterDNS, r.address, r.dnsPort), nil
}

// portsOf is what matters of a Service's ports here: the apiserver fills
// in defaults (targetPort, nodePort) that the wanted object leaves out.
func portsOf(svc *corev1.Service) []corev1.ServicePort {
	var out []corev1.ServicePort
	for _, p := range svc.Spec.Ports {
		out = append(out, corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, Port: p.Port})
	}
	return out
}

func sliceUpToDate(cur, want *discoveryv1.EndpointSlice) bool {
	for k, v := range want.Labels {
		if cur.Labels[k] != v {
			return false
		}
	}
	return cur.AddressType == want.AddressType &&
		apiequality.Semantic.DeepEqual(cur.OwnerReferences, want.OwnerReferences) &&
		apiequality.Semantic.DeepEqual(cur.Endpoints, want.Endpoints) &&
		apiequality.Semantic.DeepEqual(cur.Ports, want.Ports)
}
