package controllermanager

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// The namespace controller: `kubectl delete namespace x` deletes
// everything in x, then x.
//
// The apiserver does not delete a namespace at once: it marks it
// (deletionTimestamp, status.phase Terminating) and refuses anything new
// in it. The namespace carries the finalizer "kubernetes" in
// spec.finalizers, put there when it was created. This controller, for a
// namespace being deleted:
//
//  1. deletes every object of every namespaced resource in it (found by
//     discovery, so new resources are covered), in the background: the
//     garbage collector and the kubelets finish what takes time;
//  2. while anything is left (a pod stopping gracefully, an object with a
//     finalizer) looks again RecheckInterval later;
//  3. when nothing is left, removes "kubernetes" from spec.finalizers
//     through the namespace's finalize subresource; with no finalizer left
//     the apiserver deletes the namespace.
//
// Reference: kubernetes/pkg/controller/namespace.

// RecheckInterval is how soon a namespace whose content is still going is
// looked at again.
const RecheckInterval = time.Second

type namespaceController struct {
	client     kubernetes.Interface
	dynamic    dynamic.Interface
	discovery  discovery.DiscoveryInterface
	namespaces corelisters.NamespaceLister
	queue      workqueue.TypedRateLimitingInterface[string]
	synced     []cache.InformerSynced
	warnOnce   sync.Once
}

func newNamespaceController(c *Context) (Controller, error) {
	informer := c.Informers.Core().V1().Namespaces()
	n := &namespaceController{
		client: c.Client, dynamic: c.Dynamic, discovery: c.Discovery,
		namespaces: informer.Lister(),
		queue:      newQueue[string]("namespace-controller"),
		synced:     []cache.InformerSynced{informer.Informer().HasSynced},
	}
	enqueue := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			n.queue.Add(ns.Name)
		}
	}
	informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, cur any) { enqueue(cur) },
	})
	return n, nil
}

// Run runs the controller's workers until ctx is done.
func (n *namespaceController) Run(ctx context.Context, workers int) {
	runWorkers(ctx, "namespace-controller", n.queue, workers, n.synced, n.syncHandler)
}

// syncHandler compares the actual state with the desired, and attempts to
// converge the two: a namespace being deleted should be empty, then gone.
func (n *namespaceController) syncHandler(ctx context.Context, name string) error {
	ns, err := n.namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil || !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return nil // not being deleted, or not ours to finish
	}
	left, err := n.deleteContent(ctx, name)
	if err != nil {
		return err // requeued, backed off
	}
	if left > 0 {
		// Going, not gone: pods stop gracefully, finalizers wait for the
		// garbage collector. Look again soon; this is not an error.
		n.queue.AddAfter(name, RecheckInterval)
		return nil
	}
	return n.finalize(ctx, ns)
}

// deleteContent deletes every object in namespace and returns how many
// were there (still going, most of them).
func (n *namespaceController) deleteContent(ctx context.Context, namespace string) (int, error) {
	resources, err := namespacedResources(n.discovery)
	if len(resources) == 0 {
		return 0, err
	}
	left := 0
	var errs []error
	if err != nil {
		// Some API groups did not answer: delete what can be found, but do
		// not finish the namespace (the error requeues it).
		errs = append(errs, err)
	}
	background := metav1.DeletePropagationBackground
	for _, gvr := range resources {
		client := n.dynamic.Resource(gvr).Namespace(namespace)
		list, err := client.List(ctx, metav1.ListOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("listing %s: %w", gvr.Resource, err))
			continue
		}
		for _, item := range list.Items {
			left++
			if item.GetDeletionTimestamp() != nil {
				continue // on its way
			}
			uid := item.GetUID()
			err := client.Delete(ctx, item.GetName(), metav1.DeleteOptions{
				Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &background,
			})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				errs = append(errs, fmt.Errorf("deleting %s %s: %w", gvr.Resource, item.GetName(), err))
			}
		}
	}
	return left, utilerrors.NewAggregate(errs)
}

// namespacedResources lists the namespaced resources that can be listed
// and deleted. If some API groups could not be discovered it returns the
// others and an error.
func namespacedResources(d discovery.DiscoveryInterface) ([]schema.GroupVersionResource, error) {
	lists, err := discovery.ServerPreferredNamespacedResources(d)
	if err != nil {
		err = fmt.Errorf("discovering resources: %w", err)
	}
	var out []schema.GroupVersionResource
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if !strings.Contains(r.Name, "/") && slices.Contains(r.Verbs, "list") && slices.Contains(r.Verbs, "delete") {
				out = append(out, gv.WithResource(r.Name))
			}
		}
	}
	return out, err
}

// finalize removes the "kubernetes" finalizer from an empty namespace.
func (n *namespaceController) finalize(ctx context.Context, ns *corev1.Namespace) error {
	next := ns.DeepCopy() // never modify the informer's copy
	next.Spec.Finalizers = slices.DeleteFunc(next.Spec.Finalizers, func(f corev1.FinalizerName) bool { return f == corev1.FinalizerKubernetes })
	_, err := n.client.CoreV1().Namespaces().Finalize(ctx, next, metav1.UpdateOptions{})
	if err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	// NotFound: the namespace is gone, or the apiserver does not serve
	// namespaces/<name>/finalize. In the second case, write spec.finalizers
	// with a plain update: an apiserver that ignores spec.finalizers (as
	// tinykube's does) deletes a Terminating namespace on any update once
	// metadata.finalizers is empty.
	live, err := n.client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	n.warnOnce.Do(func() {
		logf("namespace-controller", "the apiserver does not serve namespaces/%s/finalize; finishing namespaces with an update instead", ns.Name)
	})
	live.Spec.Finalizers = slices.DeleteFunc(live.Spec.Finalizers, func(f corev1.FinalizerName) bool { return f == corev1.FinalizerKubernetes })
	_, err = n.client.CoreV1().Namespaces().Update(ctx, live, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
