package controllermanager

import (
	"context"
	"maps"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// The Endpoints controller: for every Service with a selector, an
// Endpoints object of the same name listing the addresses of the pods the
// selector matches, ready ones under addresses and the others under
// notReadyAddresses, with the pod port each Service port targets.
// kube-proxy (chapter 6) sends a Service's traffic to the ready ones.
//
// Desired: the pods' addresses and ports. Actual: the Endpoints object.
// Reference: kubernetes/pkg/controller/endpoint/endpoints_controller.go.

// LabelHeadless marks the endpoints of a Service without a ClusterIP.
const LabelHeadless = "service.kubernetes.io/headless"

// LabelSkipMirror keeps the EndpointSlice mirroring controller off an
// Endpoints object (the `kubernetes` Service's).
const LabelSkipMirror = "endpointslice.kubernetes.io/skip-mirror"

type endpointsController struct {
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	queue     workqueue.TypedRateLimitingInterface[string]
	apiserver APIServerAddress
	synced    []cache.InformerSynced
}

func newEndpointsController(c *Context) (Controller, error) {
	svcs := c.Informers.Core().V1().Services()
	pods := c.Informers.Core().V1().Pods()
	eps := c.Informers.Core().V1().Endpoints()
	e := &endpointsController{
		client: c.Client, services: svcs.Lister(), pods: pods.Lister(), endpoints: eps.Lister(),
		queue:     newQueue[string]("endpoints-controller"),
		apiserver: c.Config.APIServer,
		synced:    []cache.InformerSynced{svcs.Informer().HasSynced, pods.Informer().HasSynced, eps.Informer().HasSynced},
	}
	enqueue := func(obj any) { addKey(e.queue, obj) }
	svcs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, cur any) { enqueue(cur) }, DeleteFunc: enqueue,
	})
	pods.Informer().AddEventHandler(podServiceHandler(e.services, e.queue))
	// Someone else changed or deleted an Endpoints: put it back.
	eps.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, cur any) { enqueue(cur) }, DeleteFunc: enqueue,
	})
	return e, nil
}

// podServiceHandler enqueues the Services that select a pod, before and
// after a change: both endpoint controllers use it.
func podServiceHandler(services corelisters.ServiceLister, queue workqueue.TypedInterface[string]) cache.ResourceEventHandler {
	add := func(obj any) {
		if pod, ok := untomb(obj).(*corev1.Pod); ok {
			for _, key := range servicesForPod(services, pod) {
				queue.Add(key)
			}
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: add,
		UpdateFunc: func(oldObj, curObj any) {
			old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
			if cur.ResourceVersion == old.ResourceVersion || !podEndpointsChanged(old, cur) {
				return
			}
			add(cur)
			if !maps.Equal(old.Labels, cur.Labels) {
				add(old) // a Service that selected it and no longer does
			}
		},
		DeleteFunc: add,
	}
}

// Run runs the controller's workers until ctx is done.
func (e *endpointsController) Run(ctx context.Context, workers int) {
	runWorkers(ctx, "endpoints-controller", e.queue, workers, e.synced, e.syncHandler)
}

// syncHandler compares the actual state with the desired, and attempts to
// converge the two: the Endpoints of the Service key.
func (e *endpointsController) syncHandler(ctx context.Context, key string) error {
	if key == apiServerServiceKey {
		return e.syncAPIServer(ctx)
	}
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, pods, selects, err := serviceAndPods(e.services, e.pods, namespace, name)
	switch {
	case err != nil:
		return err
	case svc == nil:
		// The Service is gone: so are its endpoints.
		err := e.client.CoreV1().Endpoints(namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	case !selects:
		return nil
	}
	want := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: endpointsLabels(svc)},
		Subsets:    endpointSubsets(svc, pods),
	}
	return e.write(ctx, want)
}

// syncAPIServer makes sure the `kubernetes` Service has its Endpoints:
// the master's address and the apiserver's port. The apiserver owns them;
// this only creates them if they are missing.
func (e *endpointsController) syncAPIServer(ctx context.Context) error {
	if _, err := e.endpoints.Endpoints(apiServerServiceNamespace).Get(apiServerServiceName); !apierrors.IsNotFound(err) {
		return err // there (the apiserver's), or the cache failed
	}
	want := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: apiServerServiceName, Namespace: apiServerServiceNamespace, Labels: map[string]string{LabelSkipMirror: "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: e.apiserver.IP}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: e.apiserver.Port, Protocol: corev1.ProtocolTCP}},
		}},
	}
	_, err := e.client.CoreV1().Endpoints(apiServerServiceNamespace).Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// write creates want, or updates the existing Endpoints if it differs.
func (e *endpointsController) write(ctx context.Context, want *corev1.Endpoints) error {
	current, err := e.endpoints.Endpoints(want.Namespace).Get(want.Name)
	if apierrors.IsNotFound(err) {
		_, err := e.client.CoreV1().Endpoints(want.Namespace).Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) || namespaceTerminating(err) {
			return nil // the cache is behind (an event will follow), or the namespace is going
		}
		return err
	}
	if err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(current.Subsets, want.Subsets) && maps.Equal(current.Labels, want.Labels) {
		return nil // converged
	}
	next := current.DeepCopy() // never modify the informer's copy
	next.Labels, next.Subsets = want.Labels, want.Subsets
	_, err = e.client.CoreV1().Endpoints(want.Namespace).Update(ctx, next, metav1.UpdateOptions{})
	return err
}

// endpointsLabels are the Service's labels, and the headless mark.
func endpointsLabels(svc *corev1.Service) map[string]string {
	out := maps.Clone(svc.Labels)
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		if out == nil {
			out = map[string]string{}
		}
		out[LabelHeadless] = ""
	}
	return out
}

// endpointSubsets is what a Service's Endpoints should say given the pods
// its selector matches. Pure.
//
// Each pod contributes its address (ready or not) with the ports it
// resolves the Service's ports to. Pods that resolve to the same ports
// share a subset: with a named targetPort ("http"), pods whose containers
// number that port differently end up in different subsets.
func endpointSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	publishNotReady := svc.Spec.PublishNotReadyAddresses
	bySet := map[string]*corev1.EndpointSubset{}
	for _, pod := range pods {
		if !shouldPodBeInEndpoints(pod, publishNotReady) {
			continue
		}
		var ports []corev1.EndpointPort
		for _, sp := range svc.Spec.Ports {
			port, err := findPort(pod, sp)
			if err != nil {
				continue // this pod does not serve this port
			}
			ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: port, Protocol: protocolOf(sp), AppProtocol: sp.AppProtocol})
		}
		if len(ports) == 0 && (len(svc.Spec.Ports) > 0 || svc.Spec.ClusterIP != corev1.ClusterIPNone) {
			continue // only a headless Service without ports lists bare addresses
		}
		sortEndpointPorts(ports)
		key := endpointPortsKey(ports)
		subset, ok := bySet[key]
		if !ok {
			subset = &corev1.EndpointSubset{Ports: ports}
			bySet[key] = subset
		}
		addr := corev1.EndpointAddress{
			IP: pod.Status.PodIP, Hostname: hostnameFor(pod, svc),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if pod.Spec.NodeName != "" {
			node := pod.Spec.NodeName
			addr.NodeName = &node
		}
		if publishNotReady || podReady(pod) {
			subset.Addresses = append(subset.Addresses, addr)
		} else {
			subset.NotReadyAddresses = append(subset.NotReadyAddresses, addr)
		}
	}
	keys := make([]string, 0, len(bySet))
	for k := range bySet {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []corev1.EndpointSubset
	for _, k := range keys {
		s := bySet[k]
		sortAddresses(s.Addresses)
		sortAddresses(s.NotReadyAddresses)
		out = append(out, *s)
	}
	return out
}

func sortEndpointPorts(ports []corev1.EndpointPort) {
	sort.Slice(ports, func(i, j int) bool {
		if ports[i].Name != ports[j].Name {
			return ports[i].Name < ports[j].Name
		}
		if ports[i].Port != ports[j].Port {
			return ports[i].Port < ports[j].Port
		}
		return ports[i].Protocol < ports[j].Protocol
	})
}

func endpointPortsKey(ports []corev1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		b.WriteString(p.Name + "/" + string(p.Protocol) + "/" + itoa(p.Port) + ";")
	}
	return b.String()
}

func sortAddresses(addrs []corev1.EndpointAddress) {
	sort.Slice(addrs, func(i, j int) bool {
		if addrs[i].IP != addrs[j].IP {
			return addrs[i].IP < addrs[j].IP
		}
		return addrs[i].TargetRef != nil && addrs[j].TargetRef != nil && addrs[i].TargetRef.UID < addrs[j].TargetRef.UID
	})
}
