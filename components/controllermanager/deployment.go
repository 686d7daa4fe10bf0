package controllermanager

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// The Deployment controller: a Deployment is a ReplicaSet that can change
// its template. It never makes pods itself. For each version of
// spec.template it owns one ReplicaSet, "<deployment>-<pod-template-hash>",
// and a rollout is the controller scaling the new ReplicaSet up and the
// old ones down, step by step, while the ReplicaSet controller makes and
// deletes the pods:
//
//	web (Deployment, 3 replicas, image demo:2.0)
//	├── web-6c7f9d8b5d (ReplicaSet, revision 1, demo:1.0)  3 → 2 → 1 → 0
//	└── web-58b4f5c7d9 (ReplicaSet, revision 2, demo:2.0)  1 → 2 → 3
//
// A sync of a Deployment:
//
//  1. claims ReplicaSets: adopts orphans its selector matches, releases
//     owned ones it no longer matches;
//  2. finds the new ReplicaSet (the one whose template is spec.template)
//     and brings its revision annotation up to date, or, when a rollout
//     starts, creates it;
//  3. then one of: the Deployment is paused or was scaled → resize the
//     ReplicaSets in proportion (scaleStep); RollingUpdate → the next
//     rolling step (rollingStep); Recreate → old ReplicaSets to 0, and
//     once their pods are all gone the new one up (recreateStep);
//  4. deletes old ReplicaSets beyond revisionHistoryLimit, once the
//     rollout is complete (they are what `kubectl rollout undo` goes back
//     to);
//  5. writes status: the replica counts and the Available and Progressing
//     conditions that `kubectl rollout status` follows.
//
// The decisions are pure functions (deployment_rollout.go); this file
// does the reading and writing. Rollback is not here: `kubectl rollout
// undo` copies an old ReplicaSet's template into the Deployment, and the
// controller sees a template change like any other (its ReplicaSet
// exists already, so it is scaled up rather than made).
//
// Reference: kubernetes/pkg/controller/deployment; the Kubernetes
// documentation, "Deployments".

var deploymentKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// deploymentController is the Deployment controller.
type deploymentController struct {
	name        string
	client      kubernetes.Interface
	deployments appslisters.DeploymentLister
	replicaSets appslisters.ReplicaSetLister
	pods        corelisters.PodLister
	queue       workqueue.TypedRateLimitingInterface[string]
	recorder    record.EventRecorder
	now         func() time.Time
	synced      []cache.InformerSynced
}

// newDeploymentController is the Deployment controller.
func newDeploymentController(c *Context) (Controller, error) {
	dInf := c.Informers.Apps().V1().Deployments()
	rsInf := c.Informers.Apps().V1().ReplicaSets()
	podInf := c.Informers.Core().V1().Pods()
	dc := &deploymentController{
		name:        "deployment-controller",
		client:      c.Client,
		deployments: dInf.Lister(),
		replicaSets: rsInf.Lister(),
		pods:        podInf.Lister(),
		queue:       newQueue[string]("deployment-controller"),
		recorder:    c.Recorder("deployment-controller"),
		now:         time.Now,
		synced:      []cache.InformerSynced{dInf.Informer().HasSynced, rsInf.Informer().HasSynced, podInf.Informer().HasSynced},
	}
	// Event handlers only enqueue the key of the Deployment concerned.
	dInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    dc.enqueue,
		UpdateFunc: func(_, cur any) { dc.enqueue(cur) },
		DeleteFunc: dc.enqueue,
	})
	rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    dc.addReplicaSet,
		UpdateFunc: dc.updateReplicaSet,
		DeleteFunc: dc.deleteReplicaSet,
	})
	// Pods matter only to Recreate, which starts the new pods when the
	// last old one is gone.
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: dc.deletePod})
	return dc, nil
}

// Run runs the controller's workers until ctx is done.
func (dc *deploymentController) Run(ctx context.Context, workers int) {
	runWorkers(ctx, dc.name, dc.queue, workers, dc.synced, dc.syncHandler)
}

func (dc *deploymentController) enqueue(obj any) { addKey(dc.queue, obj) }

// deploymentOf is the Deployment a controller reference names, if it is
// one and still the same object (same UID).
func (dc *deploymentController) deploymentOf(namespace string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref == nil || ref.Kind != deploymentKind.Kind || ref.APIVersion != deploymentKind.GroupVersion().String() {
		return nil
	}
	d, err := dc.deployments.Deployments(namespace).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
}

// enqueueMatching enqueues the Deployments whose selector matches an
// orphan ReplicaSet: one of them may adopt it.
func (dc *deploymentController) enqueueMatching(rs *appsv1.ReplicaSet) {
	list, err := dc.deployments.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, d := range list {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(rs.Labels)) {
			continue
		}
		dc.enqueue(d)
	}
}

func (dc *deploymentController) addReplicaSet(obj any) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.DeletionTimestamp != nil {
		dc.deleteReplicaSet(rs)
		return
	}
	if ref := metav1.GetControllerOf(rs); ref != nil {
		if d := dc.deploymentOf(rs.Namespace, ref); d != nil {
			dc.enqueue(d)
		}
		return
	}
	dc.enqueueMatching(rs)
}

func (dc *deploymentController) updateReplicaSet(oldObj, curObj any) {
	old, cur := oldObj.(*appsv1.ReplicaSet), curObj.(*appsv1.ReplicaSet)
	if old.ResourceVersion == cur.ResourceVersion {
		return // an informer resync
	}
	curRef, oldRef := metav1.GetControllerOf(cur), metav1.GetControllerOf(old)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if d := dc.deploymentOf(old.Namespace, oldRef); d != nil {
			dc.enqueue(d)
		}
	}
	if curRef != nil {
		// Its status changed (pods made, ready, available): the
		// rollout may take its next step.
		if d := dc.deploymentOf(cur.Namespace, curRef); d != nil {
			dc.enqueue(d)
		}
		return
	}
	if refChanged || !reflect.DeepEqual(cur.Labels, old.Labels) {
		dc.enqueueMatching(cur)
	}
}

func (dc *deploymentController) deleteReplicaSet(obj any) {
	rs, ok := untomb(obj).(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if d := dc.deploymentOf(rs.Namespace, metav1.GetControllerOf(rs)); d != nil {
		dc.enqueue(d)
	}
}

func (dc *deploymentController) deletePod(obj any) {
	pod, ok := untomb(obj).(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := dc.replicaSets.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	if d := dc.deploymentOf(rs.Namespace, metav1.GetControllerOf(rs)); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		dc.enqueue(d)
	}
}

// syncHandler compares the actual state with the desired, and attempts to
// converge the two: the ReplicaSets of Deployment key and its status.
func (dc *deploymentController) syncHandler(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // a bad key will never work: drop it
	}
	cached, err := dc.deployments.Deployments(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // deleted: its ReplicaSets are the garbage collector's
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy() // never change the cache's copy
	now := dc.now()

	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		// The apiserver validates selectors: nothing a retry would fix.
		dc.recorder.Eventf(d, corev1.EventTypeWarning, "InvalidSelector", "spec.selector: %v", err)
		return nil
	}
	if selector.Empty() {
		dc.recorder.Eventf(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			return dc.writeStatus(ctx, d)
		}
		return nil
	}
	rsList, err := dc.claimReplicaSets(ctx, d, selector)
	if err != nil {
		return err // requeued: adoption or release failed
	}

	// The new ReplicaSet, if the template's already has one (it is made
	// later, when the strategy says so), and its revision.
	newRS, oldRSs, err := dc.newAndOld(ctx, d, rsList, false, now)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		// Being deleted: only report; the garbage collector takes the
		// ReplicaSets.
		return dc.writeStatusIfChanged(ctx, d, deploymentStatusFor(d, withNew(oldRSs, newRS), newRS, now))
	}
	if st, changed := pausedCondition(d, now); changed {
		d.Status = st
		if err := dc.writeStatus(ctx, d); err != nil {
			return err
		}
	}

	// Paused, or scaled (spec.replicas changed, not the template):
	// resize, do not roll.
	if d.Spec.Paused || isScalingEvent(d, withNew(oldRSs, newRS)) {
		written, err := dc.apply(ctx, d, scaleStep(d, newRS, oldRSs))
		if err != nil {
			return err
		}
		newRS, oldRSs = refresh(written, newRS, oldRSs)
		if d.Spec.Paused {
			if err := dc.cleanup(ctx, d, oldRSs); err != nil {
				return err
			}
		}
		return dc.writeStatusIfChanged(ctx, d, deploymentStatusFor(d, withNew(oldRSs, newRS), newRS, now))
	}

	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		return dc.rolloutRecreate(ctx, d, rsList, newRS, oldRSs, now)
	case appsv1.RollingUpdateDeploymentStrategyType:
		return dc.rolloutRolling(ctx, d, rsList, newRS, oldRSs, now)
	}
	// The apiserver validates the type: nothing a retry would fix.
	dc.recorder.Eventf(d, corev1.EventTypeWarning, "InvalidStrategy", "spec.strategy.type: unsupported value %q", d.Spec.Strategy.Type)
	return nil
}

// rolloutRolling takes the next rolling-update step: make the new
// ReplicaSet if there is none, then scale up or down (rollingStep), and
// write the status. A step that scaled ends the sync: the next comes when
// the ReplicaSets' status shows its effect.
func (dc *deploymentController) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet, now time.Time) error {
	if newRS == nil {
		var err error
		if newRS, oldRSs, err = dc.newAndOld(ctx, d, rsList, true, now); err != nil {
			return err
		}
	}
	changes, err := rollingStep(d, newRS, oldRSs)
	if err != nil {
		dc.recorder.Eventf(d, corev1.EventTypeWarning, "InvalidStrategy", "%v", err)
		return nil // invalid spec: a retry would not fix it
	}
	written, err := dc.apply(ctx, d, changes)
	if err != nil {
		return err
	}
	newRS, oldRSs = refresh(written, newRS, oldRSs)
	if len(changes) == 0 && deploymentComplete(d, &d.Status) {
		if err := dc.cleanup(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return dc.syncRolloutStatus(ctx, d, withNew(oldRSs, newRS), newRS, now)
}

// rolloutRecreate: old ReplicaSets to 0; when their pods are all gone,
// the new ReplicaSet (made now if need be) to spec.replicas.
func (dc *deploymentController) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet, now time.Time) error {
	podsByRS, err := dc.podsByReplicaSet(d, rsList)
	if err != nil {
		return err
	}
	changes, makeNew := recreateStep(d, newRS, oldRSs, oldPodsRunning(newRS, oldRSs, podsByRS))
	if makeNew {
		if newRS, oldRSs, err = dc.newAndOld(ctx, d, rsList, true, now); err != nil {
			return err
		}
		changes, _ = recreateStep(d, newRS, oldRSs, false)
	}
	written, err := dc.apply(ctx, d, changes)
	if err != nil {
		return err
	}
	newRS, oldRSs = refresh(written, newRS, oldRSs)
	if len(changes) == 0 && deploymentComplete(d, &d.Status) {
		if err := dc.cleanup(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return dc.syncRolloutStatus(ctx, d, withNew(oldRSs, newRS), newRS, now)
}

// syncRolloutStatus writes the status with the Progressing condition, and,
// if the rollout is under way, looks again when its deadline passes.
func (dc *deploymentController) syncRolloutStatus(ctx context.Context, d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time) error {
	st := rolloutStatus(d, allRSs, newRS, now)
	if apiequality.Semantic.DeepEqual(d.Status, st) {
		// Nothing changed: no event will come if nothing happens, so
		// come back at the deadline to say it passed.
		switch after := progressCheckAfter(d, st, now); {
		case after == 0:
			dc.queue.AddRateLimited(d.Namespace + "/" + d.Name)
		case after > 0:
			dc.queue.AddAfter(d.Namespace+"/"+d.Name, after)
		}
		return nil
	}
	return dc.writeStatusIfChanged(ctx, d, st)
}

// newAndOld finds the new ReplicaSet and the old ones, and brings the
// revisions up to date: the new ReplicaSet's revision is one above the
// old ones' highest (an old ReplicaSet that becomes new again by a
// rollback gets a new revision), and the Deployment's is the new
// ReplicaSet's. With create, a missing new ReplicaSet is made.
// Reference: kubernetes/pkg/controller/deployment/sync.go, getNewReplicaSet.
func (dc *deploymentController) newAndOld(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, create bool, now time.Time) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	existing := findNewReplicaSet(d, rsList)
	oldRSs := oldReplicaSets(rsList, existing)
	revision := maxRevision(oldRSs) + 1

	if existing != nil {
		rs := existing.DeepCopy()
		changed := setNewReplicaSetAnnotations(d, rs, revision, true)
		if changed || rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			updated, err := dc.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, rs, metav1.UpdateOptions{})
			if err != nil {
				return nil, nil, err
			}
			rs = updated
		}
		needsWrite := setDeploymentRevision(d, rs.Annotations[revisionAnnotation])
		if hasProgressDeadline(d) && getDeploymentCondition(d.Status, appsv1.DeploymentProgressing) == nil {
			setDeploymentCondition(&d.Status, newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue,
				reasonFoundNewReplicaSet, fmt.Sprintf("Found new replica set %q", rs.Name), now))
			needsWrite = true
		}
		if needsWrite {
			if err := dc.writeStatus(ctx, d); err != nil {
				return nil, nil, err
			}
		}
		return rs, oldRSs, nil
	}
	if !create {
		return nil, oldRSs, nil
	}

	hash := deploymentTemplateHash(&d.Spec.Template, d.Status.CollisionCount)
	rs := newReplicaSetFor(d, hash, revision, 0)
	replicas, err := newRSNewReplicas(d, withNew(oldRSs, rs), rs)
	if err != nil {
		return nil, nil, err
	}
	rs.Spec.Replicas = &replicas
	created, err := dc.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
	alreadyExists := false
	switch {
	case apierrors.IsAlreadyExists(err):
		// Made by an earlier sync the cache does not show yet, or the
		// hash of another template with this name: a collision.
		live, gerr := dc.client.AppsV1().ReplicaSets(d.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, nil, gerr
		}
		if metav1.IsControlledBy(live, d) && equalIgnoreHash(&live.Spec.Template, &d.Spec.Template) {
			created, alreadyExists = live, true
			break
		}
		// A collision: count it in status, so that the next sync hashes
		// the template with the count and gets another name.
		if d.Status.CollisionCount == nil {
			d.Status.CollisionCount = new(int32)
		}
		*d.Status.CollisionCount++
		if werr := dc.writeStatus(ctx, d); werr != nil {
			return nil, nil, werr
		}
		return nil, nil, fmt.Errorf("replica set %q exists with another template (hash collision %d): %w", rs.Name, *d.Status.CollisionCount, err)
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		dc.recorder.Event(d, corev1.EventTypeWarning, reasonReplicaSetCreateError, msg)
		if hasProgressDeadline(d) {
			setDeploymentCondition(&d.Status, newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, reasonReplicaSetCreateError, msg, now))
			if werr := dc.writeStatus(ctx, d); werr != nil {
				return nil, nil, utilerrors.NewAggregate([]error{err, werr})
			}
		}
		return nil, nil, err
	}
	if !alreadyExists && replicas > 0 {
		dc.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", created.Name, replicas)
	}
	needsWrite := setDeploymentRevision(d, strconv.FormatInt(revision, 10))
	if !alreadyExists && hasProgressDeadline(d) {
		setDeploymentCondition(&d.Status, newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue,
			reasonNewReplicaSetCreated, fmt.Sprintf("Created new replica set %q", created.Name), now))
		needsWrite = true
	}
	if needsWrite {
		if err := dc.writeStatus(ctx, d); err != nil {
			return nil, nil, err
		}
	}
	return created, oldRSs, nil
}

// setDeploymentRevision sets d's revision annotation and reports whether
// it changed.
func setDeploymentRevision(d *appsv1.Deployment, revision string) bool {
	if d.Annotations[revisionAnnotation] == revision {
		return false
	}
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[revisionAnnotation] = revision
	return true
}

// apply scales each ReplicaSet of changes, in order, with an event for
// each, and keeps the replicas annotations up to date. It returns the
// ReplicaSets as written, by UID. It stops at the first error: the sync is requeued, and the step computed again from
// what there is then.
func (dc *deploymentController) apply(ctx context.Context, d *appsv1.Deployment, changes []replicaChange) (map[types.UID]*appsv1.ReplicaSet, error) {
	written := map[types.UID]*appsv1.ReplicaSet{}
	for _, c := range changes {
		updated, err := dc.scaleReplicaSet(ctx, d, c.RS, c.To)
		if err != nil {
			return nil, err
		}
		written[updated.UID] = updated
	}
	return written, nil
}

// scaleReplicaSet writes rs's spec.replicas and its replicas annotations.
// It is an Update with the cached resourceVersion: if the cache was
// behind, the apiserver answers Conflict, and the sync is retried on
// fresher data rather than acting on stale counts.
func (dc *deploymentController) scaleReplicaSet(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, to int32) (*appsv1.ReplicaSet, error) {
	from := replicasOf(rs)
	surge := deploymentReplicas(d) + maxSurge(d)
	if from == to && !replicasAnnotationsNeedUpdate(rs, deploymentReplicas(d), surge) {
		return rs, nil
	}
	next := rs.DeepCopy()
	next.Spec.Replicas = &to
	setReplicasAnnotations(next, deploymentReplicas(d), surge)
	updated, err := dc.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	if from != to {
		op := "up"
		if to < from {
			op = "down"
		}
		dc.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", op, rs.Name, from, to)
	}
	return updated, nil
}

// refresh replaces, in a sync that scaled ReplicaSets, the cache's copies
// by the objects the apiserver returned: the status is then counted from
// what was just written.
func refresh(written map[types.UID]*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet) {
	pick := func(rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
		if rs == nil {
			return nil
		}
		if w, ok := written[rs.UID]; ok {
			return w
		}
		return rs
	}
	out := make([]*appsv1.ReplicaSet, len(oldRSs))
	for i, rs := range oldRSs {
		out[i] = pick(rs)
	}
	return pick(newRS), out
}

// cleanup deletes the old ReplicaSets beyond revisionHistoryLimit.
func (dc *deploymentController) cleanup(ctx context.Context, d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet) error {
	for _, rs := range replicaSetsToCleanUp(d, oldRSs) {
		err := dc.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &rs.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// writeStatusIfChanged writes st as d's status unless it is what d has.
func (dc *deploymentController) writeStatusIfChanged(ctx context.Context, d *appsv1.Deployment, st appsv1.DeploymentStatus) error {
	if apiequality.Semantic.DeepEqual(d.Status, st) {
		return nil
	}
	d.Status = st
	return dc.writeStatus(ctx, d)
}

// writeStatus writes d through the status subresource (which also keeps
// d's annotations: the revision) and makes d the stored object, so that
// a second write in the same sync does not conflict with the first.
func (dc *deploymentController) writeStatus(ctx context.Context, d *appsv1.Deployment) error {
	updated, err := dc.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return err // requeued: a conflict means the cache was behind
	}
	*d = *updated
	return nil
}

// claimReplicaSets adopts the orphan ReplicaSets d's selector matches and
// releases the ones d owns that it no longer matches, and returns those d
// owns after that. As with pods (replicas.go, claim), a ReplicaSet
// another controller owns is left alone.
func (dc *deploymentController) claimReplicaSets(ctx context.Context, d *appsv1.Deployment, selector labels.Selector) ([]*appsv1.ReplicaSet, error) {
	all, err := dc.replicaSets.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var owned, adopt, release []*appsv1.ReplicaSet
	for _, rs := range all {
		match := selector.Matches(labels.Set(rs.Labels))
		ref := metav1.GetControllerOf(rs)
		switch {
		case ref != nil && ref.UID != d.UID:
		case ref != nil && match:
			owned = append(owned, rs)
		case ref != nil:
			if d.DeletionTimestamp == nil {
				release = append(release, rs)
			}
		case match && d.DeletionTimestamp == nil && rs.DeletionTimestamp == nil:
			adopt = append(adopt, rs)
		}
	}
	var errs []error
	if len(adopt) > 0 {
		// The cache may be behind: take ReplicaSets only for a Deployment
		// that still exists (same UID) and is not being deleted.
		fresh, err := dc.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		switch {
		case err != nil:
			return nil, err
		case fresh.UID != d.UID:
			return nil, fmt.Errorf("deployment %s/%s was deleted and made again (UID %s, not %s): not adopting", d.Namespace, d.Name, fresh.UID, d.UID)
		case fresh.DeletionTimestamp != nil:
			return nil, fmt.Errorf("deployment %s/%s is being deleted: not adopting", d.Namespace, d.Name)
		}
		for _, rs := range adopt {
			patch := map[string]any{"metadata": map[string]any{
				"ownerReferences": []metav1.OwnerReference{*metav1.NewControllerRef(d, deploymentKind)},
				"uid":             rs.UID,
			}}
			updated, err := dc.patchReplicaSet(ctx, rs, patch)
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				errs = append(errs, fmt.Errorf("adopting replica set %s: %w", rs.Name, err))
			default:
				owned = append(owned, updated)
			}
		}
	}
	for _, rs := range release {
		patch := map[string]any{"metadata": map[string]any{
			"ownerReferences": []map[string]any{{"$patch": "delete", "uid": d.UID}},
			"uid":             rs.UID,
		}}
		if _, err := dc.patchReplicaSet(ctx, rs, patch); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("releasing replica set %s: %w", rs.Name, err))
		}
	}
	return owned, utilerrors.NewAggregate(errs)
}

func (dc *deploymentController) patchReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, patch map[string]any) (*appsv1.ReplicaSet, error) {
	data, err := json.Marshal(patch)
	if err != nil {
		return nil, err
	}
	return dc.client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
}

// podsByReplicaSet is d's pods (by their ReplicaSet's UID), for Recreate
// to see whether old pods are still there.
func (dc *deploymentController) podsByReplicaSet(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (map[types.UID][]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	pods, err := dc.pods.Pods(d.Namespace).List(selector)
	if err != nil {
		return nil, err
	}
	out := map[types.UID][]*corev1.Pod{}
	for _, rs := range rsList {
		out[rs.UID] = nil
	}
	for _, pod := range pods {
		ref := metav1.GetControllerOf(pod)
		if ref == nil {
			continue
		}
		if _, ok := out[ref.UID]; ok {
			out[ref.UID] = append(out[ref.UID], pod)
		}
	}
	return out, nil
}
