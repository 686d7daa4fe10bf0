package controllermanager

import (
	"context"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// The root CA publisher: a ConfigMap kube-root-ca.crt in every namespace,
// holding the cluster's CA certificate (ca.crt). A pod's kube-api-access
// volume (which the apiserver adds to pods, with the pod's service-account
// token) carries it, so that a program in the pod can check it talks to
// the real apiserver at https://kubernetes.default.svc. Deleted or
// changed, it is put back.
//
// Reference: kubernetes/pkg/controller/certificates/rootcacertpublisher.

// RootCAConfigMap is the ConfigMap the publisher writes in every namespace.
const RootCAConfigMap = "kube-root-ca.crt"

const rootCADescription = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."

type rootCAPublisher struct {
	client     kubernetes.Interface
	rootCA     string
	namespaces corelisters.NamespaceLister
	configMaps corelisters.ConfigMapLister
	queue      workqueue.TypedRateLimitingInterface[string]
	synced     []cache.InformerSynced
}

func newRootCAPublisher(c *Context) (Controller, error) {
	nss := c.Informers.Core().V1().Namespaces()
	cms := c.Informers.Core().V1().ConfigMaps()
	p := &rootCAPublisher{
		client: c.Client, rootCA: string(c.Config.RootCA),
		namespaces: nss.Lister(), configMaps: cms.Lister(),
		queue:  newQueue[string]("root-ca-certificate-publisher-controller"),
		synced: []cache.InformerSynced{nss.Informer().HasSynced, cms.Informer().HasSynced},
	}
	// The key is the namespace's name.
	nss.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { p.queue.Add(obj.(*corev1.Namespace).Name) },
		UpdateFunc: func(_, cur any) { p.queue.Add(cur.(*corev1.Namespace).Name) },
	})
	ours := func(obj any) {
		if cm, ok := untomb(obj).(*corev1.ConfigMap); ok && cm.Name == RootCAConfigMap {
			p.queue.Add(cm.Namespace)
		}
	}
	cms.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, cur any) { ours(cur) }, DeleteFunc: ours,
	})
	return p, nil
}

// Run runs the controller's workers until ctx is done.
func (p *rootCAPublisher) Run(ctx context.Context, workers int) {
	runWorkers(ctx, "root-ca-certificate-publisher-controller", p.queue, workers, p.synced, p.syncHandler)
}

// syncHandler compares the actual state with the desired, and attempts to
// converge the two: namespace should have kube-root-ca.crt with the CA.
func (p *rootCAPublisher) syncHandler(ctx context.Context, namespace string) error {
	if p.rootCA == "" {
		return nil // no CA to publish (a kubeconfig without one)
	}
	ns, err := p.namespaces.Get(namespace)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp != nil {
		return nil // going: nothing new in it
	}
	data := map[string]string{"ca.crt": p.rootCA}
	annotations := map[string]string{"kubernetes.io/description": rootCADescription}
	cm, err := p.configMaps.ConfigMaps(namespace).Get(RootCAConfigMap)
	if apierrors.IsNotFound(err) {
		_, err := p.client.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: RootCAConfigMap, Namespace: namespace, Annotations: annotations},
			Data:       data,
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) || namespaceTerminating(err) {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	if maps.Equal(cm.Data, data) && cm.Annotations["kubernetes.io/description"] == rootCADescription {
		return nil
	}
	next := cm.DeepCopy() // never modify the informer's copy
	next.Data = data
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	maps.Copy(next.Annotations, annotations)
	_, err = p.client.CoreV1().ConfigMaps(namespace).Update(ctx, next, metav1.UpdateOptions{})
	return err
}
