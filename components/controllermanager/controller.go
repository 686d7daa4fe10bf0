package controllermanager

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// Controller is one control loop of the controller-manager.
type Controller interface {
	// Run waits for the informer caches the controller reads, then runs
	// workers goroutines that take keys off its queue and sync them, until
	// ctx is done. It returns when every worker has stopped.
	Run(ctx context.Context, workers int)
}

// Context is what a controller is built from: the clients, the informers
// of one leadership term (shared by every controller: one watch per
// resource for the whole process) and the controller-manager's settings.
// A constructor only wires things up (listers, event handlers); nothing
// runs before the manager starts the informers and calls Run.
type Context struct {
	// Client is the typed clientset (pods, services, replicasets, ...).
	Client kubernetes.Interface
	// Dynamic reaches any resource by its GroupVersionResource, for the
	// controllers that work on every kind (garbage collector, namespace).
	Dynamic dynamic.Interface
	// Discovery lists the resources the apiserver serves (cached).
	Discovery discovery.DiscoveryInterface
	// Mapper turns a kind (an ownerReference's apiVersion and kind) into
	// its resource and says whether it is namespaced.
	Mapper meta.RESTMapper
	// Informers are the shared informers of the typed resources.
	Informers informers.SharedInformerFactory
	// DynamicInformers are for resources the typed factory does not know.
	DynamicInformers dynamicinformer.DynamicSharedInformerFactory
	// Recorder returns an event recorder that signs events as component
	// (kubectl describe shows it in the FROM column).
	Recorder func(component string) record.EventRecorder
	// Config is the controller-manager's configuration.
	Config Config
}

// runWorkers is the machinery every controller shares, as in
// kubernetes/sample-controller: Run → runWorker → processNextWorkItem →
// syncHandler. It waits for the caches, starts the workers, and when ctx
// is done shuts the queue down and waits for them. A key is never handed
// to two workers at once: the workqueue guarantees it.
func runWorkers[K comparable](ctx context.Context, name string, queue workqueue.TypedRateLimitingInterface[K], workers int, synced []cache.InformerSynced, syncHandler func(context.Context, K) error) {
	defer runtime.HandleCrash()
	defer queue.ShutDown()
	if !cache.WaitForNamedCacheSync(name, ctx.Done(), synced...) {
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for processNextWorkItem(ctx, name, queue, syncHandler) {
			}
		}()
	}
	<-ctx.Done()
	queue.ShutDown()
	wg.Wait()
}

// processNextWorkItem takes one key off the queue and syncs it. It
// returns false when the queue has been shut down.
func processNextWorkItem[K comparable](ctx context.Context, name string, queue workqueue.TypedRateLimitingInterface[K], syncHandler func(context.Context, K) error) bool {
	key, shutdown := queue.Get()
	if shutdown {
		return false
	}
	defer queue.Done(key)
	err := syncHandler(ctx, key)
	if err == nil {
		// Converged (or nothing to do): forget the key's failures so that
		// its next error starts the backoff from the beginning.
		queue.Forget(key)
		return true
	}
	if ctx.Err() != nil {
		return true // stopping: the error is the cancellation
	}
	// Not converged: the API refused a write, a conflict, the apiserver
	// is away. Requeue, backed off per key (5 ms doubling up to 1000 s),
	// so that a failing object retries without starving the others.
	logf(name, "syncing %v: %v (requeued)", key, err)
	queue.AddRateLimited(key)
	return true
}

// newQueue returns a rate-limited workqueue named after its controller.
func newQueue[K comparable](name string) workqueue.TypedRateLimitingInterface[K] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[K](),
		workqueue.TypedRateLimitingQueueConfig[K]{Name: name})
}

// keyOf is an object's queue key: "namespace/name", or "name" for a
// cluster-scoped object. It understands the tombstones informers hand to
// delete handlers when they missed the deletion itself.
func keyOf(obj any) (string, bool) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		runtime.HandleError(err)
		return "", false
	}
	return key, true
}

// addKey puts obj's key on queue: what most event handlers do (the
// sample-controller's enqueueFoo).
func addKey(queue workqueue.TypedInterface[string], obj any) {
	if key, ok := keyOf(obj); ok {
		queue.Add(key)
	}
}

// untomb returns the object a delete handler was given: the object itself,
// or the last state the informer knew if it missed the deletion.
func untomb(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

var logMu sync.Mutex

// logf writes a line to the component's log (stderr, which the agent
// writes to the controller-manager's log file).
func logf(controller, format string, args ...any) {
	logMu.Lock()
	defer logMu.Unlock()
	fmt.Fprintf(os.Stderr, "%s controller-manager: %s: %s\n", time.Now().Format("15:04:05.000"), controller, fmt.Sprintf(format, args...))
}
