package controllermanager

import (
	"context"
	"maps"
	"net"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// The EndpointSlice controller: the same information as the Endpoints
// controller's, in the newer shape kube-proxy and DNS read today. A
// Service's endpoints are cut into EndpointSlices of at most
// MaxEndpointsPerSlice endpoints (one huge Endpoints object rewritten on
// every pod change was the scaling problem slices solve), each named
// "<service>-<random>", labelled kubernetes.io/service-name=<service> and
// owned by the Service, so that the garbage collector deletes them with it.
//
// Each endpoint has three conditions: ready (send new traffic), serving
// (ready, even while terminating) and terminating. Unlike Endpoints,
// slices keep terminating pods, so that a proxy can drain them.
//
// Reference: kubernetes/pkg/controller/endpointslice (its reconciler packs
// slices to touch as few as possible; this one keeps them sorted and
// rewrites the ones that differ).

// MaxEndpointsPerSlice is the most endpoints in one slice (Kubernetes'
// default of --max-endpoints-per-slice).
const MaxEndpointsPerSlice = 100

// ManagedBy is the value of the endpointslice.kubernetes.io/managed-by
// label on the slices this controller owns.
const ManagedBy = "endpointslice-controller.k8s.io"

type endpointSliceController struct {
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	slices    discoverylisters.EndpointSliceLister
	queue     workqueue.TypedRateLimitingInterface[string]
	apiserver APIServerAddress
	synced    []cache.InformerSynced
}

func newEndpointSliceController(c *Context) (Controller, error) {
	svcs := c.Informers.Core().V1().Services()
	pods := c.Informers.Core().V1().Pods()
	slices := c.Informers.Discovery().V1().EndpointSlices()
	e := &endpointSliceController{
		client: c.Client, services: svcs.Lister(), pods: pods.Lister(), slices: slices.Lister(),
		queue:     newQueue[string]("endpointslice-controller"),
		apiserver: c.Config.APIServer,
		synced:    []cache.InformerSynced{svcs.Informer().HasSynced, pods.Informer().HasSynced, slices.Informer().HasSynced},
	}
	enqueue := func(obj any) { addKey(e.queue, obj) }
	svcs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, cur any) { enqueue(cur) }, DeleteFunc: enqueue,
	})
	pods.Informer().AddEventHandler(podServiceHandler(e.services, e.queue))
	// A slice of ours changed or went behind our back: look at its
	// Service again.
	sliceChanged := func(obj any) {
		if key, ok := sliceServiceKey(untomb(obj)); ok {
			e.queue.Add(key)
		}
	}
	slices.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: sliceChanged, UpdateFunc: func(_, cur any) { sliceChanged(cur) }, DeleteFunc: sliceChanged,
	})
	return e, nil
}

// sliceServiceKey is the key of the Service a slice belongs to, if it is
// one this controller writes.
func sliceServiceKey(obj any) (string, bool) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return "", false
	}
	if s.Namespace == apiServerServiceNamespace && s.Name == apiServerServiceName {
		return apiServerServiceKey, true
	}
	svc := s.Labels[discoveryv1.LabelServiceName]
	if svc == "" || s.Labels[discoveryv1.LabelManagedBy] != ManagedBy {
		return "", false
	}
	return s.Namespace + "/" + svc, true
}

// Run runs the controller's workers until ctx is done.
func (e *endpointSliceController) Run(ctx context.Context, workers int) {
	runWorkers(ctx, "endpointslice-controller", e.queue, workers, e.synced, e.syncHandler)
}

// syncHandler compares the actual state with the desired, and attempts to
// converge the two: the EndpointSlices of the Service key.
func (e *endpointSliceController) syncHandler(ctx context.Context, key string) error {
	if key == apiServerServiceKey {
		return e.syncAPIServer(ctx)
	}
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, pods, selects, err := serviceAndPods(e.services, e.pods, namespace, name)
	if err != nil || !selects {
		// Gone: its slices are owned by it, the garbage collector deletes
		// them. No selector: slices for it, if any, are someone else's.
		return err
	}
	existing, err := e.slices.EndpointSlices(namespace).List(labels.SelectorFromSet(labels.Set{
		discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: ManagedBy,
	}))
	if err != nil {
		return err
	}
	create, update, remove := planSlices(svc, desiredSlices(svc, pods), existing)
	// Create and update first, delete last: a client never sees fewer
	// endpoints than there are on the way.
	var errs []error
	for _, s := range create {
		if _, err := e.client.DiscoveryV1().EndpointSlices(namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil && !namespaceTerminating(err) {
			errs = append(errs, err)
		}
	}
	for _, s := range update {
		if _, err := e.client.DiscoveryV1().EndpointSlices(namespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range remove {
		if err := e.client.DiscoveryV1().EndpointSlices(namespace).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return utilerrors.NewAggregate(errs)
}

// syncAPIServer makes sure the `kubernetes` Service has its slice: the
// master's address and the apiserver's port. The apiserver owns it; this
// only creates it if it is missing.
func (e *endpointSliceController) syncAPIServer(ctx context.Context) error {
	if _, err := e.slices.EndpointSlices(apiServerServiceNamespace).Get(apiServerServiceName); !apierrors.IsNotFound(err) {
		return err // there (the apiserver's), or the cache failed
	}
	yes, no := true, false
	name, proto, port := "https", corev1.ProtocolTCP, e.apiserver.Port
	want := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: apiServerServiceName, Namespace: apiServerServiceNamespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: apiServerServiceName}},
		AddressType: addressType(e.apiserver.IP),
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{e.apiserver.IP},
			Conditions: discoveryv1.EndpointConditions{Ready: &yes, Serving: &yes, Terminating: &no},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}},
	}
	_, err := e.client.DiscoveryV1().EndpointSlices(apiServerServiceNamespace).Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// sliceContent is one slice's worth of endpoints sharing the same ports.
type sliceContent struct {
	ports     []discoveryv1.EndpointPort
	endpoints []discoveryv1.Endpoint
}

// desiredSlices is what a Service's slices should hold given the pods its
// selector matches: endpoints grouped by the ports they resolve to,
// sorted, cut into slices of MaxEndpointsPerSlice. With no endpoint at all
// it is one empty slice (Kubernetes' placeholder: the Service has been
// seen). Pure.
func desiredSlices(svc *corev1.Service, pods []*corev1.Pod) []sliceContent {
	type group struct {
		ports     []discoveryv1.EndpointPort
		endpoints []discoveryv1.Endpoint
	}
	groups := map[string]*group{}
	for _, pod := range pods {
		if !shouldPodBeInEndpoints(pod, true) || addressType(pod.Status.PodIP) != discoveryv1.AddressTypeIPv4 {
			continue
		}
		var ports []corev1.EndpointPort
		for _, sp := range svc.Spec.Ports {
			if port, err := findPort(pod, sp); err == nil {
				ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: port, Protocol: protocolOf(sp), AppProtocol: sp.AppProtocol})
			}
		}
		if len(ports) == 0 && len(svc.Spec.Ports) > 0 {
			continue
		}
		sortEndpointPorts(ports)
		key := endpointPortsKey(ports)
		g, ok := groups[key]
		if !ok {
			g = &group{}
			for _, p := range ports {
				g.ports = append(g.ports, discoveryv1.EndpointPort{Name: &p.Name, Port: &p.Port, Protocol: &p.Protocol, AppProtocol: p.AppProtocol})
			}
			groups[key] = g
		}
		g.endpoints = append(g.endpoints, endpointFor(svc, pod))
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []sliceContent
	for _, k := range keys {
		g := groups[k]
		sort.Slice(g.endpoints, func(i, j int) bool { return g.endpoints[i].Addresses[0] < g.endpoints[j].Addresses[0] })
		for start := 0; start < len(g.endpoints); start += MaxEndpointsPerSlice {
			end := min(start+MaxEndpointsPerSlice, len(g.endpoints))
			out = append(out, sliceContent{ports: g.ports, endpoints: g.endpoints[start:end]})
		}
	}
	if len(out) == 0 {
		out = append(out, sliceContent{}) // the placeholder
	}
	return out
}

// endpointFor is pod as an endpoint of svc.
func endpointFor(svc *corev1.Service, pod *corev1.Pod) discoveryv1.Endpoint {
	publish := svc.Spec.PublishNotReadyAddresses
	serving := publish || podReady(pod)
	terminating := pod.DeletionTimestamp != nil
	// A terminating pod takes no new traffic, unless the Service says to
	// publish every address.
	ready := serving && (!terminating || publish)
	ep := discoveryv1.Endpoint{
		Addresses:  []string{pod.Status.PodIP},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		node := pod.Spec.NodeName
		ep.NodeName = &node
	}
	if h := hostnameFor(pod, svc); h != "" {
		ep.Hostname = &h
	}
	return ep
}

// planSlices compares the desired slices with the existing ones and says
// what to write: an existing slice with the same ports is reused (updated
// if its endpoints differ), the rest are created or deleted. Pure.
func planSlices(svc *corev1.Service, desired []sliceContent, existing []*discoveryv1.EndpointSlice) (create, update, remove []*discoveryv1.EndpointSlice) {
	existing = append([]*discoveryv1.EndpointSlice(nil), existing...)
	sort.Slice(existing, func(i, j int) bool { return existing[i].Name < existing[j].Name })
	used := make([]bool, len(existing))
	for _, d := range desired {
		want := newSlice(svc, d)
		pick := -1
		for i, s := range existing {
			if used[i] || !apiequality.Semantic.DeepEqual(s.Ports, want.Ports) {
				continue
			}
			if sliceUpToDate(s, want) {
				pick = i
				break
			}
			if pick < 0 {
				pick = i
			}
		}
		if pick < 0 {
			create = append(create, want)
			continue
		}
		used[pick] = true
		if !sliceUpToDate(existing[pick], want) {
			next := existing[pick].DeepCopy() // never modify the informer's copy
			next.Labels, next.OwnerReferences, next.Endpoints, next.Ports = want.Labels, want.OwnerReferences, want.Endpoints, want.Ports
			update = append(update, next)
		}
	}
	for i, s := range existing {
		if !used[i] {
			remove = append(remove, s)
		}
	}
	return create, update, remove
}

// newSlice is a new slice of svc holding d, to be named by the apiserver.
func newSlice(svc *corev1.Service, d sliceContent) *discoveryv1.EndpointSlice {
	l := map[string]string{}
	for k, v := range svc.Labels {
		if k != discoveryv1.LabelServiceName && k != discoveryv1.LabelManagedBy && !strings.HasPrefix(k, "endpointslice.kubernetes.io/") {
			l[k] = v
		}
	}
	l[discoveryv1.LabelServiceName] = svc.Name
	l[discoveryv1.LabelManagedBy] = ManagedBy
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		l[LabelHeadless] = ""
	}
	yes := true
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: svc.Name + "-",
			Namespace:    svc.Namespace,
			Labels:       l,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID,
				Controller: &yes, BlockOwnerDeletion: &yes,
			}},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   d.endpoints,
		Ports:       d.ports,
	}
}

// sliceUpToDate reports whether have already says what want says.
func sliceUpToDate(have, want *discoveryv1.EndpointSlice) bool {
	return maps.Equal(have.Labels, want.Labels) &&
		apiequality.Semantic.DeepEqual(have.Endpoints, want.Endpoints) &&
		apiequality.Semantic.DeepEqual(have.Ports, want.Ports) &&
		(len(want.OwnerReferences) == 0 || apiequality.Semantic.DeepEqual(have.OwnerReferences, want.OwnerReferences))
}

func addressType(ip string) discoveryv1.AddressType {
	if parsed := net.ParseIP(ip); parsed != nil && parsed.To4() == nil {
		return discoveryv1.AddressTypeIPv6
	}
	return discoveryv1.AddressTypeIPv4
}
