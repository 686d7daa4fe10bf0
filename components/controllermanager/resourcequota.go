package controllermanager

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/tinykube/tinykube/components/apiserver/quota"
)

// The ResourceQuota controller keeps status of every ResourceQuota true:
// status.hard is spec.hard, and status.used is what the objects of the
// namespace really use, recounted from them.
//
// The apiserver does the other half: it adds each new object's usage to
// status.used before storing it and refuses what would go over status.hard
// (components/apiserver/quota.go). It never takes usage back: when a pod
// is deleted or finishes, a Service stops being a NodePort, it is this
// controller that notices and recounts ("replenishment"). It also
// recounts every quota once per resync period, which mends any charge
// the apiserver made for an object whose write then failed.
//
// The counting itself is the pure quota.Used; this file is only which
// objects to hand it and when.
//
// Reference: kubernetes/pkg/controller/resourcequota/resource_quota_controller.go
// and resource_quota_monitor.go.

// DefaultResourceQuotaSyncPeriod is how often every quota is recounted,
// as kube-controller-manager's --resource-quota-sync-period.
const DefaultResourceQuotaSyncPeriod = 5 * time.Minute

// resourceQuotaSyncPeriodFrom reads the setting resource-quota-sync-period
// ("" is the default).
func resourceQuotaSyncPeriodFrom(v map[string]string) (time.Duration, error) {
	s := v["resource-quota-sync-period"]
	if s == "" {
		return DefaultResourceQuotaSyncPeriod, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("setting resource-quota-sync-period=%q: want a duration such as 5m", s)
	}
	return d, nil
}

// resourceQuotaListers are the resources whose objects the controller
// reads from the shared informers' caches; any other count/<resource> is
// listed from the API when a quota is recounted.
type resourceQuotaLister func(namespace string) ([]runtime.Object, error)

type resourceQuotaController struct {
	client  kubernetes.Interface
	ctx     *Context
	quotas  corelisters.ResourceQuotaLister
	listers map[schema.GroupResource]resourceQuotaLister
	queue   workqueue.TypedRateLimitingInterface[string]
	synced  []cache.InformerSynced
	resync  time.Duration
	now     func() time.Time
}

func newResourceQuotaController(c *Context) (Controller, error) {
	core := c.Informers.Core().V1()
	rq := &resourceQuotaController{
		client: c.Client, ctx: c,
		quotas: core.ResourceQuotas().Lister(),
		queue:  newQueue[string]("resourcequota-controller"),
		resync: c.Config.ResourceQuotaSyncPeriod,
		now:    time.Now,
	}
	if rq.resync <= 0 {
		rq.resync = DefaultResourceQuotaSyncPeriod // a Context not from ConfigFrom
	}
	// The objects the quota evaluators know, from the shared caches.
	pods, services := core.Pods(), core.Services()
	cms, secrets, rcs := core.ConfigMaps(), core.Secrets(), core.ReplicationControllers()
	rq.listers = map[schema.GroupResource]resourceQuotaLister{
		{Resource: "pods"}:                   listerOf(pods.Lister().Pods),
		{Resource: "services"}:               listerOf(services.Lister().Services),
		{Resource: "configmaps"}:             listerOf(cms.Lister().ConfigMaps),
		{Resource: "secrets"}:                listerOf(secrets.Lister().Secrets),
		{Resource: "replicationcontrollers"}: listerOf(rcs.Lister().ReplicationControllers),
		{Resource: "resourcequotas"}:         listerOf(rq.quotas.ResourceQuotas),
		// Not served by tinykube: there are never any.
		{Resource: "persistentvolumeclaims"}: func(string) ([]runtime.Object, error) { return nil, nil },
	}
	rq.synced = []cache.InformerSynced{core.ResourceQuotas().Informer().HasSynced,
		pods.Informer().HasSynced, services.Informer().HasSynced, cms.Informer().HasSynced,
		secrets.Informer().HasSynced, rcs.Informer().HasSynced}

	// A quota is counted when it appears and whenever its spec changes.
	// Its status changes are this controller's own (and the apiserver's
	// charges): they are no reason to recount.
	core.ResourceQuotas().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: rq.enqueue,
		UpdateFunc: func(old, cur any) {
			o, c := old.(*corev1.ResourceQuota), cur.(*corev1.ResourceQuota)
			if !quota.Equal(o.Spec.Hard, c.Spec.Hard) || !quota.Equal(c.Spec.Hard, c.Status.Hard) {
				rq.enqueue(cur)
			}
		},
		DeleteFunc: func(obj any) { rq.replenish(obj, schema.GroupResource{Resource: "resourcequotas"}) },
	})
	// Replenishment: usage goes down when an object goes, or when an
	// update makes it use less (a pod finishes, a Service stops being a
	// NodePort). Creations need nothing: the apiserver charged them.
	for gr, inf := range map[schema.GroupResource]cache.SharedIndexInformer{
		{Resource: "pods"}: pods.Informer(), {Resource: "services"}: services.Informer(),
		{Resource: "configmaps"}: cms.Informer(), {Resource: "secrets"}: secrets.Informer(),
		{Resource: "replicationcontrollers"}: rcs.Informer(),
	} {
		inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(old, cur any) {
				now := rq.now()
				if !quota.Equal(quota.Usage(gr, old.(runtime.Object), now), quota.Usage(gr, cur.(runtime.Object), now)) {
					rq.replenish(cur, gr)
				}
			},
			DeleteFunc: func(obj any) { rq.replenish(obj, gr) },
		})
	}
	return rq, nil
}

// resourceQuotaNamespaceLister is what every typed lister of one
// namespace has: List.
type resourceQuotaNamespaceLister[T any] interface {
	List(labels.Selector) ([]T, error)
}

// listerOf adapts a typed namespace lister to a list of runtime.Objects.
func listerOf[T runtime.Object, L resourceQuotaNamespaceLister[T]](namespaced func(string) L) resourceQuotaLister {
	return func(ns string) ([]runtime.Object, error) {
		items, err := namespaced(ns).List(labels.Everything())
		if err != nil {
			return nil, err
		}
		out := make([]runtime.Object, len(items))
		for i, item := range items {
			out[i] = item
		}
		return out, nil
	}
}

func (rq *resourceQuotaController) enqueue(obj any) { addKey(rq.queue, obj) }

// replenish queues every quota of obj's namespace that counts objects of
// gr, for it to be recounted.
func (rq *resourceQuotaController) replenish(obj any, gr schema.GroupResource) {
	m, ok := untomb(obj).(metav1.Object)
	if !ok {
		return
	}
	quotas, err := rq.quotas.ResourceQuotas(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range quotas {
		if slices.Contains(quota.Resources(q.Spec.Hard), gr) {
			rq.enqueue(q)
		}
	}
}

// Run runs the workers, and queues every quota once per resync period.
func (rq *resourceQuotaController) Run(ctx context.Context, workers int) {
	go func() {
		tick := time.NewTicker(rq.resync)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			quotas, _ := rq.quotas.List(labels.Everything())
			for _, q := range quotas {
				rq.enqueue(q)
			}
		}
	}()
	runWorkers(ctx, "resourcequota-controller", rq.queue, workers, rq.synced, rq.syncHandler)
}

// syncHandler compares the actual state with the desired, and attempts to
// converge the two: the quota's status should be spec.hard and the usage
// counted from the namespace's objects now.
func (rq *resourceQuotaController) syncHandler(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key this controller made: drop it
	}
	q, err := rq.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // deleted: nothing to count
	}
	if err != nil {
		return err
	}
	objects := map[schema.GroupResource][]runtime.Object{}
	var listErr error
	for _, gr := range quota.Resources(q.Spec.Hard) {
		items, err := rq.list(ctx, gr, ns)
		if err != nil {
			listErr = err // count the rest; keep this one's previous count
			continue
		}
		objects[gr] = items
	}
	counted, err := quota.Used(q.Spec, objects, rq.now())
	if err != nil && listErr == nil {
		listErr = err
	}
	status := resourceQuotaStatus(q, counted)
	if quota.Equal(status.Hard, q.Status.Hard) && quota.Equal(status.Used, q.Status.Used) && q.Status.Hard != nil && q.Status.Used != nil {
		return listErr // already true
	}
	next := q.DeepCopy()
	next.Status = status
	// A Conflict (the apiserver charged a create since the cache saw the
	// quota) is returned: the key is requeued and counted again on the
	// newer quota.
	if _, err := rq.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
		return err
	}
	return listErr
}

// resourceQuotaStatus is the status a quota should have: hard from its
// spec; used as counted, keeping the previous count of what could not be
// counted now, and only for resources it limits.
func resourceQuotaStatus(q *corev1.ResourceQuota, counted corev1.ResourceList) corev1.ResourceQuotaStatus {
	hard := q.Spec.Hard.DeepCopy()
	if hard == nil {
		hard = corev1.ResourceList{}
	}
	used := corev1.ResourceList{}
	for n := range hard {
		if c, ok := counted[n]; ok {
			used[n] = c.DeepCopy()
		} else if prev, ok := q.Status.Used[n]; ok {
			used[n] = prev.DeepCopy()
		}
	}
	return corev1.ResourceQuotaStatus{Hard: hard, Used: used}
}

// list returns the objects of gr in namespace ns: from a shared cache
// for the resources the controller watches, else (count/deployments.apps
// and the like) a list from the API through the dynamic client.
func (rq *resourceQuotaController) list(ctx context.Context, gr schema.GroupResource, ns string) ([]runtime.Object, error) {
	if l, ok := rq.listers[gr]; ok {
		return l(ns)
	}
	if rq.ctx.Dynamic == nil || rq.ctx.Mapper == nil {
		return nil, fmt.Errorf("no way to list %s", gr)
	}
	gvr, err := rq.ctx.Mapper.ResourceFor(gr.WithVersion(""))
	if err != nil {
		return nil, fmt.Errorf("counting %s: %w", gr, err)
	}
	list, err := rq.ctx.Dynamic.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Object, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}
