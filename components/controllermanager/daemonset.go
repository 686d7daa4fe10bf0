package controllermanager

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	schedulingcorev1 "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// The DaemonSet controller: one pod of a DaemonSet on every node that
// should run it (a log shipper, a node agent, kube-proxy itself in a real
// cluster). Desired: for each node, whether the DaemonSet's pod belongs
// there — the template's nodeSelector and required node affinity match
// the node, and its tolerations tolerate the node's taints. Actual: the
// DaemonSet's pods, grouped by the node each is meant for. A sync:
//
//  1. records the template as a ControllerRevision (the history that
//     `kubectl rollout history/undo ds` read and write back), and finds the
//     current one's hash: pods made from it carry it as the label
//     controller-revision-hash;
//  2. per node, creates the missing pod or deletes the extra ones, the
//     failed ones and those on nodes that no longer want them
//     (podsShouldBeOnNode);
//  3. for a RollingUpdate, deletes (or, with maxSurge, first doubles up)
//     old pods a few nodes at a time (rollingUpdatePlan); OnDelete waits
//     for the user to delete them;
//  4. writes status (calculateDaemonSetStatus).
//
// The controller does not pick nodes by setting spec.nodeName: it pins
// each pod to its node with a required node affinity, matchFields
// metadata.name In [node], and lets the scheduler bind it. The scheduler
// then still checks what it checks for every pod (resources, ports), and
// the pod waits Pending, with a reason, if it does not fit.
//
// Reference: kubernetes/pkg/controller/daemon/daemon_controller.go,
// update.go and util/daemonset_util.go;
// https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/.

// daemonSetTemplateGenerationLabel is the older way a DaemonSet's pod said
// which version of the template it was made from (the DaemonSet's
// generation). Kubernetes still sets it, and still reads it.
const daemonSetTemplateGenerationLabel = "pod-template-generation"

type daemonSetController struct {
	client       kubernetes.Interface
	daemonSets   appslisters.DaemonSetLister
	pods         corelisters.PodLister
	nodes        corelisters.NodeLister
	revisions    appslisters.ControllerRevisionLister
	queue        workqueue.TypedRateLimitingInterface[string]
	expectations *expectations
	recorder     record.EventRecorder
	now          func() time.Time
	synced       []cache.InformerSynced
}

var daemonSetKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// newDaemonSetController is the DaemonSet controller.
func newDaemonSetController(c *Context) (Controller, error) {
	dsInf := c.Informers.Apps().V1().DaemonSets()
	podInf := c.Informers.Core().V1().Pods()
	nodeInf := c.Informers.Core().V1().Nodes()
	revInf := c.Informers.Apps().V1().ControllerRevisions()
	d := &daemonSetController{
		client: c.Client, daemonSets: dsInf.Lister(), pods: podInf.Lister(), nodes: nodeInf.Lister(), revisions: revInf.Lister(),
		queue:        newQueue[string]("daemonset-controller"),
		expectations: newExpectations(time.Now),
		recorder:     c.Recorder("daemonset-controller"),
		now:          time.Now,
		synced: []cache.InformerSynced{dsInf.Informer().HasSynced, podInf.Informer().HasSynced,
			nodeInf.Informer().HasSynced, revInf.Informer().HasSynced},
	}
	// Event handlers only enqueue keys (and count pods against the
	// expectations); the workers do the rest.
	dsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    d.enqueue,
		UpdateFunc: func(_, cur any) { d.enqueue(cur) },
		DeleteFunc: func(obj any) {
			if key, ok := keyOf(obj); ok {
				d.expectations.Delete(key)
				d.queue.Add(key)
			}
		},
	})
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: d.addPod, UpdateFunc: d.updatePod, DeleteFunc: d.deletePod,
	})
	// A node that comes, goes, or changes its labels or taints may change
	// which DaemonSets belong on it: look at all of them. (Kubernetes
	// checks each DaemonSet against the node first; a teaching cluster has
	// few.) Status-only updates — the kubelet's heartbeat every few
	// seconds — change nothing here and are ignored.
	nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { d.enqueueAll() },
		UpdateFunc: func(oldObj, curObj any) {
			old, cur := oldObj.(*corev1.Node), curObj.(*corev1.Node)
			if !reflect.DeepEqual(old.Labels, cur.Labels) || !reflect.DeepEqual(old.Spec.Taints, cur.Spec.Taints) {
				d.enqueueAll()
			}
		},
		DeleteFunc: func(any) { d.enqueueAll() },
	})
	// Someone deleted or changed a revision: the owner rebuilds its history.
	revInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, cur any) { d.enqueueRevisionOwner(cur) },
		DeleteFunc: d.enqueueRevisionOwner,
	})
	return d, nil
}

var _ Controller = (*daemonSetController)(nil)

// Run runs the controller's workers until ctx is done.
func (d *daemonSetController) Run(ctx context.Context, workers int) {
	runWorkers(ctx, "daemonset-controller", d.queue, workers, d.synced, d.syncHandler)
}

func (d *daemonSetController) enqueue(obj any) { addKey(d.queue, obj) }

func (d *daemonSetController) enqueueAll() {
	list, err := d.daemonSets.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range list {
		d.queue.Add(ds.Namespace + "/" + ds.Name)
	}
}

func (d *daemonSetController) enqueueRevisionOwner(obj any) {
	cr, ok := untomb(obj).(*appsv1.ControllerRevision)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(cr); ref != nil && ref.Kind == daemonSetKind.Kind {
		d.queue.Add(cr.Namespace + "/" + ref.Name)
	}
}

// resolveControllerRef returns the DaemonSet a controller reference names,
// if it still exists with the same UID.
func (d *daemonSetController) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	if ref.Kind != daemonSetKind.Kind {
		return nil
	}
	ds, err := d.daemonSets.DaemonSets(namespace).Get(ref.Name)
	if err != nil || ds.UID != ref.UID {
		return nil
	}
	return ds
}

// selectingDaemonSets are the keys of the DaemonSets whose selector
// matches pod: the candidates to adopt an orphan.
func (d *daemonSetController) selectingDaemonSets(pod *corev1.Pod) []string {
	list, err := d.daemonSets.DaemonSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var keys []string
	for _, ds := range list {
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) {
			keys = append(keys, ds.Namespace+"/"+ds.Name)
		}
	}
	return keys
}

func (d *daemonSetController) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		d.deletePod(pod) // seen for the first time already going
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if ds := d.resolveControllerRef(pod.Namespace, ref); ds != nil {
			key := ds.Namespace + "/" + ds.Name
			d.expectations.CreationObserved(key)
			d.queue.Add(key)
		}
		return
	}
	for _, key := range d.selectingDaemonSets(pod) {
		d.queue.Add(key)
	}
}

func (d *daemonSetController) updatePod(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return // a resync: nothing changed
	}
	if cur.DeletionTimestamp != nil {
		// Marked for deletion: for the expectations it is gone now.
		d.deletePod(cur)
		return
	}
	curRef, oldRef := metav1.GetControllerOf(cur), metav1.GetControllerOf(old)
	if oldRef != nil && !reflect.DeepEqual(curRef, oldRef) {
		if ds := d.resolveControllerRef(old.Namespace, oldRef); ds != nil {
			d.queue.Add(ds.Namespace + "/" + ds.Name)
		}
	}
	if curRef != nil {
		ds := d.resolveControllerRef(cur.Namespace, curRef)
		if ds == nil {
			return
		}
		key := ds.Namespace + "/" + ds.Name
		d.queue.Add(key)
		// Ready now, available minReadySeconds later: look again then.
		if !podReady(old) && podReady(cur) && ds.Spec.MinReadySeconds > 0 {
			d.queue.AddAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if !reflect.DeepEqual(old.Labels, cur.Labels) || oldRef != nil {
		for _, key := range d.selectingDaemonSets(cur) {
			d.queue.Add(key)
		}
	}
}

func (d *daemonSetController) deletePod(obj any) {
	pod, ok := untomb(obj).(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return
	}
	if ds := d.resolveControllerRef(pod.Namespace, ref); ds != nil {
		key := ds.Namespace + "/" + ds.Name
		d.expectations.DeletionObserved(key, pod.Namespace+"/"+pod.Name)
		d.queue.Add(key)
	}
}

// syncHandler compares the actual state with the desired, and attempts to
// converge the two: the DaemonSet key's pods on every node, its history
// and its status.
func (d *daemonSetController) syncHandler(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // a bad key will never work: drop it
	}
	cached, err := d.daemonSets.DaemonSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// Deleted: its pods and revisions are the garbage collector's.
		d.expectations.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	ds := cached.DeepCopy() // never change the cache's copy
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		d.recorder.Eventf(ds, corev1.EventTypeWarning, "SelectorParseError", "spec.selector: %v", err)
		return nil // the apiserver validates selectors: a retry would not help
	}
	if selector.Empty() {
		// It would take every pod of the namespace.
		d.recorder.Eventf(ds, corev1.EventTypeWarning, "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	if ds.DeletionTimestamp != nil {
		return nil // going: make nothing more
	}
	nodes, err := d.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	// Read the expectations before listing pods: a pod that shows up in
	// between is then counted in the list, never missed by both.
	satisfied := d.expectations.Satisfied(key)

	cur, old, err := d.constructHistory(ctx, ds)
	if err != nil {
		return fmt.Errorf("daemon set %s: history: %w", key, err)
	}
	hash := cur.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]

	nodeToPods, err := d.nodeToDaemonPods(ctx, ds, selector)
	if err != nil {
		return err // requeued: adoption or release failed
	}
	now := d.now()
	var manageErr error
	if satisfied {
		manageErr = d.manage(ctx, key, ds, nodes, nodeToPods, hash, now)
		if manageErr == nil && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
			toDelete, toCreate := rollingUpdatePlan(ds, nodes, nodeToPods, hash, now)
			manageErr = d.syncNodes(ctx, key, ds, toDelete, toCreate, hash)
		}
		if manageErr == nil {
			manageErr = d.cleanupHistory(ctx, ds, old, nodeToPods)
		}
	}
	// The status is written in every case: it reports what the cache
	// shows now, whatever this sync could or could not do.
	status := calculateDaemonSetStatus(ds, nodes, nodeToPods, hash, now)
	if err := d.updateStatus(ctx, ds, status); err != nil && !apierrors.IsNotFound(err) {
		return errors.Join(manageErr, err)
	}
	if ds.Spec.MinReadySeconds > 0 && status.NumberReady != status.NumberAvailable {
		// Some pods are ready but not for long enough yet.
		d.queue.AddAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

// nodeToDaemonPods claims the DaemonSet's pods (adopting orphans its
// selector matches, releasing those it no longer matches) and groups them
// by the node each is meant for. Finished pods that are already being
// deleted are left out: they will be gone soon and count for nothing.
func (d *daemonSetController) nodeToDaemonPods(ctx context.Context, ds *appsv1.DaemonSet, selector labels.Selector) (map[string][]*corev1.Pod, error) {
	all, err := d.pods.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	owned, err := claimPods(ctx, d.client, ds, daemonSetKind, selector, all, func(ctx context.Context) (metav1.Object, error) {
		return d.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	})
	if err != nil {
		return nil, err
	}
	out := map[string][]*corev1.Pod{}
	for _, pod := range owned {
		if pod.DeletionTimestamp != nil && (pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded) {
			continue
		}
		node := daemonPodTargetNode(pod)
		if node == "" {
			continue // not ours to place: made by hand without a node
		}
		out[node] = append(out[node], pod)
	}
	return out, nil
}

// manage makes every node's pods what they should be: it creates a pod
// where one is missing and deletes the ones that should go.
func (d *daemonSetController) manage(ctx context.Context, key string, ds *appsv1.DaemonSet, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string, now time.Time) error {
	var toCreate []string
	var toDelete []*corev1.Pod
	known := map[string]bool{}
	for _, node := range nodes {
		known[node.Name] = true
		create, del, failed := podsShouldBeOnNode(node, nodeToPods[node.Name], ds, hash, now)
		if create {
			toCreate = append(toCreate, node.Name)
		}
		for _, pod := range failed {
			d.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod", "Found failed daemon pod %s/%s on node %s, will try to kill it", pod.Namespace, pod.Name, node.Name)
		}
		toDelete = append(toDelete, del...)
	}
	// Pods not yet bound, meant for a node that no longer exists: the
	// scheduler can never place them. (A bound pod of a deleted node is the
	// pod garbage collector's to delete, as in Kubernetes.)
	for _, name := range slices.Sorted(maps.Keys(nodeToPods)) {
		if known[name] {
			continue
		}
		for _, pod := range nodeToPods[name] {
			if pod.DeletionTimestamp == nil && pod.Spec.NodeName == "" {
				toDelete = append(toDelete, pod)
			}
		}
	}
	return d.syncNodes(ctx, key, ds, toDelete, toCreate, hash)
}

// syncNodes deletes the pods toDelete and creates one pod for each node of
// toCreate, at most BurstReplicas of each per sync, having told the
// expectations first.
func (d *daemonSetController) syncNodes(ctx context.Context, key string, ds *appsv1.DaemonSet, toDelete []*corev1.Pod, toCreate []string, hash string) error {
	toDelete = toDelete[:min(len(toDelete), BurstReplicas)]
	toCreate = toCreate[:min(len(toCreate), BurstReplicas)]
	if len(toDelete) == 0 && len(toCreate) == 0 {
		return nil
	}
	var podKeys []string
	for _, pod := range toDelete {
		podKeys = append(podKeys, pod.Namespace+"/"+pod.Name)
	}
	daemonSetExpect(d.expectations, key, len(toCreate), podKeys)

	template := daemonPodTemplate(ds, hash)
	var errs []error
	var mu sync.Mutex
	next := 0
	created, err := slowStartBatch(len(toCreate), 1, func() error {
		mu.Lock()
		node := toCreate[next]
		next++
		mu.Unlock()
		pod := podFromTemplate(template, ds, daemonSetKind, ds.Name+"-")
		pod.Spec.Affinity = daemonPodNodeAffinity(pod.Spec.Affinity, node)
		made, err := d.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		switch {
		case err == nil:
			d.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", made.Name)
			return nil
		case namespaceTerminating(err):
			d.expectations.CreationObserved(key) // it will never show up
			return nil
		case apierrors.IsTimeout(err):
			return nil // it may have been made: the informer will tell
		}
		d.expectations.CreationObserved(key)
		d.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		return err
	})
	// The creations not tried (a batch failed) will never show up: stop
	// expecting them. Those tried and refused were counted as they failed.
	for range len(toCreate) - next {
		d.expectations.CreationObserved(key)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("%d of %d pods created: %w", created, len(toCreate), err))
	}

	var wg sync.WaitGroup
	delErrs := make([]error, len(toDelete))
	for i, pod := range toDelete {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uid := pod.UID
			err := d.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			if err != nil {
				d.expectations.DeletionObserved(key, pod.Namespace+"/"+pod.Name)
				if !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
					d.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
					delErrs[i] = err
				}
				return
			}
			d.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", pod.Name)
		}()
	}
	wg.Wait()
	return utilerrors.NewAggregate(append(errs, delErrs...))
}

// daemonSetExpect adds n creations and the deletions of podKeys to what
// key expects. A DaemonSet sync may create and delete at once, in two
// steps (manage, then the rolling update), and expectations' own methods
// each replace what was recorded before; expectations already met or
// expired are replaced.
func daemonSetExpect(e *expectations, key string, n int, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.byKey[key]
	if !ok || (x.creations <= 0 && len(x.deletions) == 0) || e.now().Sub(x.at) > ExpectationsTimeout {
		x = &expected{deletions: map[string]bool{}}
		e.byKey[key] = x
	}
	x.creations += n
	for _, k := range podKeys {
		x.deletions[k] = true
	}
	x.at = e.now()
}

// constructHistory returns the DaemonSet's current ControllerRevision (the
// one holding its template now), making it if needed, and the older ones.
// A template that was current before (`kubectl rollout undo`) gets its old
// revision back, renumbered as the newest.
func (d *daemonSetController) constructHistory(ctx context.Context, ds *appsv1.DaemonSet) (*appsv1.ControllerRevision, []*appsv1.ControllerRevision, error) {
	patch, err := controllerRevisionPatch(ds)
	if err != nil {
		return nil, nil, err
	}
	all, err := ownedRevisions(d.revisions, ds.Namespace, ds.UID)
	if err != nil {
		return nil, nil, err
	}
	var cur *appsv1.ControllerRevision
	var old []*appsv1.ControllerRevision
	for _, cr := range all {
		// Several revisions with the current template can only come from a
		// race; the newest one wins and the others age out as history.
		if string(cr.Data.Raw) == string(patch) && (cur == nil || cr.Revision > cur.Revision) {
			if cur != nil {
				old = append(old, cur)
			}
			cur = cr
			continue
		}
		old = append(old, cr)
	}
	next := controllerRevisionMax(old) + 1
	if cur == nil {
		cur, err = d.snapshot(ctx, ds, patch, next)
		return cur, old, err
	}
	if cur.Revision < next {
		renumbered := cur.DeepCopy()
		renumbered.Revision = next
		cur, err = d.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, renumbered, metav1.UpdateOptions{})
	}
	return cur, old, err
}

// snapshot creates the ControllerRevision of ds's template, named
// "<ds>-<hash>". A revision of that name that holds something else (a hash
// collision) bumps status.collisionCount, which changes the hash, and the
// sync is retried.
func (d *daemonSetController) snapshot(ctx context.Context, ds *appsv1.DaemonSet, patch []byte, revision int64) (*appsv1.ControllerRevision, error) {
	cr, collided, err := createControllerRevision(ctx, d.client, ds, daemonSetKind, ds.Spec.Template.Labels, patch, revision, ds.Status.CollisionCount)
	if err != nil || !collided {
		return cr, err
	}
	next := ds.DeepCopy()
	count := int32(0)
	if ds.Status.CollisionCount != nil {
		count = *ds.Status.CollisionCount
	}
	count++
	next.Status.CollisionCount = &count
	if _, err := d.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("controller revision %s: hash collision, collisionCount now %d", cr.Name, count)
}

// cleanupHistory deletes the oldest revisions beyond
// spec.revisionHistoryLimit, except those a live pod was made from.
func (d *daemonSetController) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, old []*appsv1.ControllerRevision, nodeToPods map[string][]*corev1.Pod) error {
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	live := map[string]bool{}
	for _, pods := range nodeToPods {
		for _, pod := range pods {
			live[pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] = true
		}
	}
	var errs []error
	for _, cr := range revisionsToPrune(old, limit, func(cr *appsv1.ControllerRevision) bool {
		return live[cr.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]]
	}) {
		if err := d.client.AppsV1().ControllerRevisions(cr.Namespace).Delete(ctx, cr.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return utilerrors.NewAggregate(errs)
}

// updateStatus writes status if it changed, once more onto the latest
// DaemonSet if the cache was behind.
func (d *daemonSetController) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, status appsv1.DaemonSetStatus) error {
	if apiequality.Semantic.DeepEqual(ds.Status, status) {
		return nil
	}
	next := ds.DeepCopy()
	next.Status = status
	_, err := d.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if !apierrors.IsConflict(err) {
		return err
	}
	fresh, err := d.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	fresh.Status = status
	_, err = d.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
	return err
}

// ---- The pure part: no I/O below. ----

// daemonPodTolerations are the tolerations every DaemonSet pod gets, so
// that a node's trouble does not evict the daemons that may be needed to
// fix it (a not-ready or unreachable node keeps its daemons, with no time
// limit), and so that a cordoned or pressured node still runs them.
// Reference: kubernetes/pkg/controller/daemon/util, AddOrUpdateDaemonPodTolerations.
func daemonPodTolerations(spec *corev1.PodSpec) []corev1.Toleration {
	out := []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	if spec.HostNetwork {
		// A host-network pod does not need the pod network to be up.
		out = append(out, corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	return out
}

// daemonPodTemplate is ds's pod template as its pods are made: the
// template's labels plus controller-revision-hash and
// pod-template-generation, and the standard tolerations added to the
// template's own (a toleration the user wrote for the same key and effect
// is replaced).
func daemonPodTemplate(ds *appsv1.DaemonSet, hash string) *corev1.PodTemplateSpec {
	t := ds.Spec.Template.DeepCopy()
	t.Labels = cloneWithLabel(t.Labels, daemonSetTemplateGenerationLabel, strconv.FormatInt(ds.Generation, 10))
	if hash != "" {
		t.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	}
	for _, tol := range daemonPodTolerations(&t.Spec) {
		t.Spec.Tolerations = slices.DeleteFunc(t.Spec.Tolerations, func(o corev1.Toleration) bool {
			return o.Key == tol.Key && o.Effect == tol.Effect
		})
		t.Spec.Tolerations = append(t.Spec.Tolerations, tol)
	}
	return t
}

// daemonPodNodeAffinity pins a pod to node: the required node affinity
// becomes the single term "metadata.name In [node]", for the scheduler to
// honour. The template's own required terms are dropped from the pod: the
// controller checked them before choosing the node. Preferred terms and
// pod (anti-)affinity stay.
func daemonPodNodeAffinity(affinity *corev1.Affinity, node string) *corev1.Affinity {
	pin := &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchFields: []corev1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
	}}}
	if affinity == nil {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: pin}}
	}
	out := affinity.DeepCopy()
	if out.NodeAffinity == nil {
		out.NodeAffinity = &corev1.NodeAffinity{}
	}
	out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = pin
	return out
}

// daemonPodTargetNode is the node a DaemonSet pod is for: its
// spec.nodeName once bound, before that the node its affinity pins it to.
func daemonPodTargetNode(pod *corev1.Pod) string {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == metav1.ObjectNameField && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// nodeShouldRunDaemonPod decides whether ds's pod belongs on node:
//   - shouldRun: a pod should be made there if there is none;
//   - shouldContinueRunning: a pod already there may stay.
//
// Both are false when the template names another node (spec.nodeName) or
// its nodeSelector or required node affinity do not match the node. A
// taint the pod does not tolerate stops new pods (NoSchedule and
// NoExecute), but only a NoExecute one evicts those already there.
// Reference: kubernetes/pkg/controller/daemon/daemon_controller.go,
// NodeShouldRunDaemonPod.
func nodeShouldRunDaemonPod(node *corev1.Node, ds *appsv1.DaemonSet) (shouldRun, shouldContinueRunning bool) {
	t := daemonPodTemplate(ds, "")
	if t.Spec.NodeName != "" && t.Spec.NodeName != node.Name {
		return false, false
	}
	pod := &corev1.Pod{ObjectMeta: t.ObjectMeta, Spec: t.Spec}
	if ok, err := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); err != nil || !ok {
		return false, false
	}
	logger := klog.Background()
	if _, untolerated := schedulingcorev1.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, t.Spec.Tolerations, func(taint *corev1.Taint) bool {
		return taint.Effect == corev1.TaintEffectNoSchedule || taint.Effect == corev1.TaintEffectNoExecute
	}, false); !untolerated {
		return true, true
	}
	_, evicted := schedulingcorev1.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, t.Spec.Tolerations, func(taint *corev1.Taint) bool {
		return taint.Effect == corev1.TaintEffectNoExecute
	}, false)
	return false, !evicted
}

// daemonSetMaxSurgeUnavailable are a RollingUpdate's maxSurge and
// maxUnavailable resolved against the number of nodes that should run the
// pod (a percentage rounds up for surge, down for unavailable, as for
// Deployments). If both come out 0, one pod at a time may be unavailable:
// a rollout must be able to move.
func daemonSetMaxSurgeUnavailable(ds *appsv1.DaemonSet, desired int) (surge, unavailable int) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil {
		return 0, 1
	}
	zero := intstr.FromInt32(0)
	s, u := ru.MaxSurge, ru.MaxUnavailable
	if s == nil {
		s = &zero
	}
	if u == nil {
		one := intstr.FromInt32(1)
		u = &one
	}
	surge, err1 := intstr.GetScaledValueFromIntOrPercent(s, desired, true)
	unavailable, err2 := intstr.GetScaledValueFromIntOrPercent(u, desired, false)
	if err1 != nil || err2 != nil {
		return 0, 1
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

// daemonPodUpdated reports whether pod was made from the current template:
// its controller-revision-hash is hash, or (pods of before that label) its
// pod-template-generation is the DaemonSet's generation.
func daemonPodUpdated(pod *corev1.Pod, hash string, generation int64) bool {
	if h, ok := pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; ok {
		return h == hash
	}
	return pod.Labels[daemonSetTemplateGenerationLabel] == strconv.FormatInt(generation, 10)
}

// sortByCreation orders pods oldest first; of two made at once, a Running one
// before a Pending one: the one to keep comes first.
func sortByCreation(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		if (a.Status.Phase == corev1.PodRunning) != (b.Status.Phase == corev1.PodRunning) {
			return a.Status.Phase == corev1.PodRunning
		}
		return a.Name < b.Name
	})
}

// podsShouldBeOnNode decides what to do on one node, given the DaemonSet's
// pods meant for it:
//   - create: the node should run the pod and has none (a pod still
//     terminating counts as one: its replacement waits, so that the two
//     never fight over a host port);
//   - toDelete: failed pods (failed lists them, for an event), finished
//     ones, the extras when there is more than one, and all of them if the
//     node no longer wants the DaemonSet.
//
// With maxSurge a node may briefly run two: the oldest old pod stays
// while the oldest new one is not yet available.
// Reference: kubernetes/pkg/controller/daemon/daemon_controller.go, podsShouldBeOnNode.
func podsShouldBeOnNode(node *corev1.Node, pods []*corev1.Pod, ds *appsv1.DaemonSet, hash string, now time.Time) (create bool, toDelete, failed []*corev1.Pod) {
	shouldRun, shouldContinueRunning := nodeShouldRunDaemonPod(node, ds)
	switch {
	case shouldRun && len(pods) == 0:
		return true, nil, nil
	case shouldContinueRunning:
		var running []*corev1.Pod
		for _, pod := range pods {
			switch {
			case pod.DeletionTimestamp != nil:
			case pod.Status.Phase == corev1.PodFailed:
				failed = append(failed, pod)
				toDelete = append(toDelete, pod)
			case pod.Status.Phase == corev1.PodSucceeded:
				toDelete = append(toDelete, pod) // a daemon should not finish
			default:
				running = append(running, pod)
			}
		}
		sortByCreation(running)
		surge, _ := daemonSetMaxSurgeUnavailable(ds, 1)
		if surge == 0 {
			// Keep the oldest.
			if len(running) > 1 {
				toDelete = append(toDelete, running[1:]...)
			}
			return false, toDelete, failed
		}
		if len(running) == 0 {
			// Surging: the node needs one pod that is not going.
			return shouldRun, toDelete, failed
		}
		var oldestNew, oldestOld *corev1.Pod
		for _, pod := range running {
			switch {
			case pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash && oldestNew == nil:
				oldestNew = pod
			case pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != hash && oldestOld == nil:
				oldestOld = pod
			default:
				toDelete = append(toDelete, pod)
			}
		}
		// Two only while the old one serves and the new one does not yet.
		if oldestNew != nil && oldestOld != nil &&
			(!podReady(oldestOld) || podAvailable(oldestNew, ds.Spec.MinReadySeconds, now)) {
			toDelete = append(toDelete, oldestOld)
		}
		return false, toDelete, failed
	case !shouldContinueRunning:
		for _, pod := range pods {
			if pod.DeletionTimestamp == nil {
				toDelete = append(toDelete, pod)
			}
		}
	}
	return false, toDelete, failed
}

// rollingUpdatePlan picks, for a RollingUpdate, the old pods to delete now
// and the nodes that get a new pod next to their old one (maxSurge > 0).
//
// Without surge: a node whose only pod is old and unavailable loses it at
// once (it serves nothing); otherwise old pods are deleted while fewer than
// maxUnavailable nodes are without an available pod. manage then makes
// the new pods on the emptied nodes. With surge: a new pod is added next
// to an available old one while fewer than maxSurge nodes have two; the
// old one goes when the new one is available (podsShouldBeOnNode).
// Reference: kubernetes/pkg/controller/daemon/update.go, rollingUpdate.
func rollingUpdatePlan(ds *appsv1.DaemonSet, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string, now time.Time) (toDelete []*corev1.Pod, toCreate []string) {
	var eligible []*corev1.Node
	for _, node := range nodes {
		if shouldRun, _ := nodeShouldRunDaemonPod(node, ds); shouldRun {
			eligible = append(eligible, node)
		}
	}
	surge, maxUnavailable := daemonSetMaxSurgeUnavailable(ds, len(eligible))
	available := func(p *corev1.Pod) bool { return podAvailable(p, ds.Spec.MinReadySeconds, now) }

	if surge == 0 {
		unavailable := 0
		var candidates []*corev1.Pod
		for _, node := range eligible {
			newPod, oldPod, ok := updatedAndOldPod(nodeToPods[node.Name], hash, ds.Generation)
			switch {
			case !ok, newPod == nil && oldPod == nil, newPod != nil && oldPod != nil:
				unavailable++ // manage is making or unmaking a pod here
			case newPod != nil:
				if !available(newPod) {
					unavailable++
				}
			case !available(oldPod):
				toDelete = append(toDelete, oldPod)
			default:
				candidates = append(candidates, oldPod)
			}
		}
		n := min(max(maxUnavailable-unavailable, 0), len(candidates))
		return append(toDelete, candidates[:n]...), nil
	}

	surging := 0
	var candidates []string
	for _, node := range eligible {
		newPod, oldPod, ok := updatedAndOldPod(nodeToPods[node.Name], hash, ds.Generation)
		switch {
		case !ok, oldPod == nil:
			// Nothing old here (or manage is sorting the node out).
		case newPod == nil && !available(oldPod):
			toCreate = append(toCreate, node.Name) // replace it at once: it serves nothing
		case newPod == nil:
			candidates = append(candidates, node.Name)
		default:
			surging++ // both: podsShouldBeOnNode retires the old one when the new one is available
		}
	}
	n := min(max(surge-surging, 0), len(candidates))
	return nil, append(toCreate, candidates[:n]...)
}

// updatedAndOldPod splits a node's live pods into the new one and the old
// one; ok is false when there are more than one of either (manage will
// delete the extras first).
func updatedAndOldPod(pods []*corev1.Pod, hash string, generation int64) (newPod, oldPod *corev1.Pod, ok bool) {
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if daemonPodUpdated(pod, hash, generation) {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = pod
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = pod
		}
	}
	return newPod, oldPod, true
}

// calculateDaemonSetStatus counts, over the nodes that should run the
// DaemonSet (desiredNumberScheduled), those that have its pod
// (currentNumberScheduled), whose oldest pod is ready and available
// (numberReady, numberAvailable) and made from the current template
// (updatedNumberScheduled); and the nodes that have one but should not
// (numberMisscheduled). `kubectl rollout status ds` waits for updated and
// available to reach desired, at the observed generation.
// Reference: kubernetes/pkg/controller/daemon/daemon_controller.go, updateDaemonSetStatus.
func calculateDaemonSetStatus(ds *appsv1.DaemonSet, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string, now time.Time) appsv1.DaemonSetStatus {
	st := *ds.Status.DeepCopy()
	var desired, current, misscheduled, ready, available, updated int32
	for _, node := range nodes {
		shouldRun, _ := nodeShouldRunDaemonPod(node, ds)
		pods := slices.Clone(nodeToPods[node.Name])
		if !shouldRun {
			if len(pods) > 0 {
				misscheduled++
			}
			continue
		}
		desired++
		if len(pods) == 0 {
			continue
		}
		current++
		sortByCreation(pods)
		pod := pods[0]
		if podReady(pod) {
			ready++
			if podAvailable(pod, ds.Spec.MinReadySeconds, now) {
				available++
			}
		}
		if daemonPodUpdated(pod, hash, ds.Generation) {
			updated++
		}
	}
	st.DesiredNumberScheduled = desired
	st.CurrentNumberScheduled = current
	st.NumberMisscheduled = misscheduled
	st.NumberReady = ready
	st.NumberAvailable = available
	st.NumberUnavailable = desired - available
	st.UpdatedNumberScheduled = updated
	st.ObservedGeneration = ds.Generation
	return st
}
