package controllermanager

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// The ServiceAccount controller: every namespace has a ServiceAccount
// named "default", the identity of the pods that do not name one. The
// course notes: 服务账号控制器 (ServiceAccount controller) 为新的命名空间创建默认的服务账号
// (creates the default service account of new namespaces). Deleted, it
// comes back.
//
// Reference: kubernetes/pkg/controller/serviceaccount/serviceaccounts_controller.go.

// DefaultServiceAccount is the ServiceAccount every namespace gets.
const DefaultServiceAccount = "default"

type serviceAccountController struct {
	client          kubernetes.Interface
	namespaces      corelisters.NamespaceLister
	serviceAccounts corelisters.ServiceAccountLister
	queue           workqueue.TypedRateLimitingInterface[string]
	synced          []cache.InformerSynced
}

func newServiceAccountController(c *Context) (Controller, error) {
	nss := c.Informers.Core().V1().Namespaces()
	sas := c.Informers.Core().V1().ServiceAccounts()
	s := &serviceAccountController{
		client: c.Client, namespaces: nss.Lister(), serviceAccounts: sas.Lister(),
		queue:  newQueue[string]("serviceaccount-controller"),
		synced: []cache.InformerSynced{nss.Informer().HasSynced, sas.Informer().HasSynced},
	}
	// The key is the namespace's name.
	nss.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.queue.Add(obj.(*corev1.Namespace).Name) },
		UpdateFunc: func(_, cur any) { s.queue.Add(cur.(*corev1.Namespace).Name) },
	})
	sas.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if sa, ok := untomb(obj).(*corev1.ServiceAccount); ok && sa.Name == DefaultServiceAccount {
				s.queue.Add(sa.Namespace)
			}
		},
	})
	return s, nil
}

// Run runs the controller's workers until ctx is done.
func (s *serviceAccountController) Run(ctx context.Context, workers int) {
	runWorkers(ctx, "serviceaccount-controller", s.queue, workers, s.synced, s.syncHandler)
}

// syncHandler compares the actual state with the desired, and attempts to
// converge the two: namespace should have a default ServiceAccount.
func (s *serviceAccountController) syncHandler(ctx context.Context, namespace string) error {
	ns, err := s.namespaces.Get(namespace)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return nil // going: nothing new in it
	}
	if _, err := s.serviceAccounts.ServiceAccounts(namespace).Get(DefaultServiceAccount); err == nil {
		return nil // there already
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultServiceAccount, Namespace: namespace}}
	_, err = s.client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) || namespaceTerminating(err) {
		return nil // the cache was behind; or the namespace just started going
	}
	return err
}
