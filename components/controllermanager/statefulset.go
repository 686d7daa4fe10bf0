package controllermanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
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

// The StatefulSet controller: pods with an identity. A ReplicaSet's pods
// are interchangeable (web-7fz2k, any of them); a StatefulSet "web" of 3
// has web-0, web-1 and web-2, always those names, each with hostname =
// its name and subdomain = spec.serviceName, so that with a headless
// Service "web" each has a DNS name of its own,
// web-0.web.default.svc.cluster.local (chapter 7). A deleted web-1 comes
// back as web-1.
//
// Desired: one pod per ordinal 0..replicas-1, each made from the template
// of the revision it should be at. Actual: the pods named <set>-<n> that
// the set owns. A sync:
//
//  1. records the template as a ControllerRevision (as for DaemonSets,
//     daemonset.go) and finds the current and the update revision: pods
//     below spec.updateStrategy.rollingUpdate.partition stay at the
//     current one, the others move to the update one;
//  2. decides the next steps (statefulSetPlan): with
//     podManagementPolicy OrderedReady (the default) one at a time — web-1
//     is made only once web-0 is Running and Ready, a scale down removes
//     the highest ordinal first and waits for it to be gone — and with
//     Parallel all at once;
//  3. a RollingUpdate then replaces one pod at a time, from the highest
//     ordinal down, each once the one before is back healthy; OnDelete
//     waits for the user to delete pods;
//  4. writes status: replicas, readyReplicas, currentReplicas,
//     updatedReplicas, availableReplicas, currentRevision and
//     updateRevision (statefulSetStatus).
//
// volumeClaimTemplates: tinykube's apiserver serves no
// PersistentVolumeClaims, so the controller makes none. It says so once
// per StatefulSet (an event) and mounts an emptyDir in place of each
// claim, so that the pods run — without storage that outlives them.
//
// Reference: kubernetes/pkg/controller/statefulset/stateful_set.go,
// stateful_set_control.go and stateful_set_utils.go;
// https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/.

type statefulSetController struct {
	client    kubernetes.Interface
	sets      appslisters.StatefulSetLister
	pods      corelisters.PodLister
	revisions appslisters.ControllerRevisionLister
	queue     workqueue.TypedRateLimitingInterface[string]
	recorder  record.EventRecorder
	now       func() time.Time
	synced    []cache.InformerSynced
	// warned holds the UIDs of the sets already told that their
	// volumeClaimTemplates are not supported: once is enough.
	warned sync.Map
}

var statefulSetKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// newStatefulSetController is the StatefulSet controller.
func newStatefulSetController(c *Context) (Controller, error) {
	ssInf := c.Informers.Apps().V1().StatefulSets()
	podInf := c.Informers.Core().V1().Pods()
	revInf := c.Informers.Apps().V1().ControllerRevisions()
	s := &statefulSetController{
		client: c.Client, sets: ssInf.Lister(), pods: podInf.Lister(), revisions: revInf.Lister(),
		queue:    newQueue[string]("statefulset-controller"),
		recorder: c.Recorder("statefulset-controller"),
		now:      time.Now,
		synced:   []cache.InformerSynced{ssInf.Informer().HasSynced, podInf.Informer().HasSynced, revInf.Informer().HasSynced},
	}
	// Event handlers only enqueue keys; the workers do the rest.
	ssInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: s.enqueue, UpdateFunc: func(_, cur any) { s.enqueue(cur) }, DeleteFunc: s.enqueue,
	})
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: s.podChanged(nil), UpdateFunc: func(old, cur any) { s.podChanged(old)(cur) }, DeleteFunc: s.podChanged(nil),
	})
	revInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, cur any) { s.enqueueRevisionOwner(cur) }, DeleteFunc: s.enqueueRevisionOwner,
	})
	return s, nil
}

var _ Controller = (*statefulSetController)(nil)

// Run runs the controller's workers until ctx is done.
func (s *statefulSetController) Run(ctx context.Context, workers int) {
	runWorkers(ctx, "statefulset-controller", s.queue, workers, s.synced, s.syncHandler)
}

func (s *statefulSetController) enqueue(obj any) { addKey(s.queue, obj) }

func (s *statefulSetController) enqueueRevisionOwner(obj any) {
	cr, ok := untomb(obj).(*appsv1.ControllerRevision)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(cr); ref != nil && ref.Kind == statefulSetKind.Kind {
		s.queue.Add(cr.Namespace + "/" + ref.Name)
	}
}

// podChanged returns the handler of a pod's event (old is the pod before
// an update, nil for an add or a delete): it enqueues the set that owns
// the pod (before and after, if the owner changed), or, for an orphan,
// the sets that might adopt it.
func (s *statefulSetController) podChanged(oldObj any) func(any) {
	return func(obj any) {
		pod, ok := untomb(obj).(*corev1.Pod)
		if !ok {
			return
		}
		var old *corev1.Pod
		if oldObj != nil {
			old = oldObj.(*corev1.Pod)
			if old.ResourceVersion == pod.ResourceVersion {
				return // a resync: nothing changed
			}
			if oldRef := metav1.GetControllerOf(old); oldRef != nil && !reflect.DeepEqual(oldRef, metav1.GetControllerOf(pod)) {
				if set := s.resolveControllerRef(old.Namespace, oldRef); set != nil {
					s.queue.Add(set.Namespace + "/" + set.Name)
				}
			}
		}
		if ref := metav1.GetControllerOf(pod); ref != nil {
			set := s.resolveControllerRef(pod.Namespace, ref)
			if set == nil {
				return
			}
			key := set.Namespace + "/" + set.Name
			s.queue.Add(key)
			// Ready now, available minReadySeconds later: look again then.
			if old != nil && !podReady(old) && podReady(pod) && set.Spec.MinReadySeconds > 0 {
				s.queue.AddAfter(key, time.Duration(set.Spec.MinReadySeconds)*time.Second+time.Second)
			}
			return
		}
		sets, err := s.sets.StatefulSets(pod.Namespace).List(labels.Everything())
		if err != nil {
			return
		}
		for _, set := range sets {
			sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
			if err == nil && !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) {
				s.queue.Add(set.Namespace + "/" + set.Name)
			}
		}
	}
}

func (s *statefulSetController) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.StatefulSet {
	if ref.Kind != statefulSetKind.Kind {
		return nil
	}
	set, err := s.sets.StatefulSets(namespace).Get(ref.Name)
	if err != nil || set.UID != ref.UID {
		return nil
	}
	return set
}

// syncHandler compares the actual state with the desired, and attempts to
// converge the two: the pods of the StatefulSet key, its history and its
// status.
//
// There are no expectations here, unlike the ReplicaSet controller:
// every pod has a fixed name, so a sync working from a cache that is a
// little behind can only try to make a pod that exists (the apiserver
// says AlreadyExists) or delete one already going (each delete carries
// the pod's UID, so a new pod of the same name is never hit).
func (s *statefulSetController) syncHandler(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // a bad key will never work: drop it
	}
	cached, err := s.sets.StatefulSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // deleted: its pods are the garbage collector's
	}
	if err != nil {
		return err
	}
	set := cached.DeepCopy()
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		s.recorder.Eventf(set, corev1.EventTypeWarning, "SelectorParseError", "spec.selector: %v", err)
		return nil
	}
	if selector.Empty() {
		s.recorder.Eventf(set, corev1.EventTypeWarning, "SelectingAll", "This statefulset is selecting all pods. A non-empty selector is required.")
		return nil
	}
	if set.DeletionTimestamp != nil {
		return nil // going: make nothing more
	}
	if len(set.Spec.VolumeClaimTemplates) > 0 {
		if _, told := s.warned.LoadOrStore(set.UID, true); !told {
			s.recorder.Eventf(set, corev1.EventTypeWarning, "VolumeClaimsNotSupported",
				"spec.volumeClaimTemplates: tinykube serves no PersistentVolumeClaims; each pod gets an emptyDir volume in place of its claim, lost with the pod")
			logf("statefulset-controller", "%s: volumeClaimTemplates are not supported: pods get emptyDir volumes instead", key)
		}
	}
	pods, err := s.claimPods(ctx, set, selector)
	if err != nil {
		return err // requeued: adoption or release failed
	}
	current, update, collisionCount, all, err := s.statefulSetRevisions(ctx, set)
	if err != nil {
		return fmt.Errorf("statefulset %s: history: %w", key, err)
	}
	currentTemplate, err := controllerRevisionTemplate(current)
	if err != nil {
		return err
	}
	updateTemplate, err := controllerRevisionTemplate(update)
	if err != nil {
		return err
	}
	now := s.now()
	plan := statefulSetPlan(set, revisionAt{current.Name, currentTemplate}, revisionAt{update.Name, updateTemplate}, pods, now)
	applyErr := s.apply(ctx, set, plan)

	status := statefulSetStatus(set, pods, current.Name, update.Name, collisionCount, now)
	if err := s.updateStatus(ctx, set, status); err != nil && !apierrors.IsNotFound(err) {
		return errors.Join(applyErr, err)
	}
	if applyErr == nil {
		applyErr = s.truncateHistory(ctx, set, pods, all, current, update)
	}
	if set.Spec.MinReadySeconds > 0 && status.ReadyReplicas != status.AvailableReplicas {
		s.queue.AddAfter(key, time.Duration(set.Spec.MinReadySeconds)*time.Second)
	}
	return applyErr
}

// claimPods returns the set's pods: those named <set>-<ordinal> that it
// owns, after adopting the orphans of that name its selector matches and
// releasing those it no longer matches.
func (s *statefulSetController) claimPods(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := s.pods.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	members := slices.DeleteFunc(all, func(p *corev1.Pod) bool { return !isStatefulSetMember(set, p) })
	return claimPods(ctx, s.client, set, statefulSetKind, selector, members, func(ctx context.Context) (metav1.Object, error) {
		return s.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	})
}

// statefulSetRevisions finds the set's update revision (the one of its
// template now), making it or renumbering an older equal one as the
// newest (a rollback), and its current revision (status.currentRevision,
// or the update revision for a new set). all is every revision it owns.
func (s *statefulSetController) statefulSetRevisions(ctx context.Context, set *appsv1.StatefulSet) (current, update *appsv1.ControllerRevision, collisionCount int32, all []*appsv1.ControllerRevision, err error) {
	all, err = ownedRevisions(s.revisions, set.Namespace, set.UID)
	if err != nil {
		return nil, nil, 0, nil, err
	}
	if set.Status.CollisionCount != nil {
		collisionCount = *set.Status.CollisionCount
	}
	patch, err := controllerRevisionPatch(set)
	if err != nil {
		return nil, nil, 0, nil, err
	}
	next := controllerRevisionMax(all) + 1
	var equal *appsv1.ControllerRevision
	for _, cr := range all {
		if string(cr.Data.Raw) == string(patch) {
			equal = cr // all is oldest first: the last equal one wins
		}
	}
	switch {
	case equal != nil && equal == all[len(all)-1]:
		update = equal // the template has not changed
	case equal != nil:
		renumbered := equal.DeepCopy()
		renumbered.Revision = next
		if update, err = s.client.AppsV1().ControllerRevisions(set.Namespace).Update(ctx, renumbered, metav1.UpdateOptions{}); err != nil {
			return nil, nil, 0, nil, err
		}
		all = slices.DeleteFunc(slices.Clone(all), func(cr *appsv1.ControllerRevision) bool { return cr.Name == update.Name })
		all = append(all, update)
	default:
		if update, err = s.createRevision(ctx, set, patch, next, &collisionCount); err != nil {
			return nil, nil, 0, nil, err
		}
		all = append(all, update)
	}
	for _, cr := range all {
		if cr.Name == set.Status.CurrentRevision {
			current = cr
		}
	}
	if current == nil {
		current = update // a new set: its first revision is both
	}
	return current, update, collisionCount, all, nil
}

// createRevision makes the revision "<set>-<hash>". If that name is taken
// by a revision with other data (a hash collision), collisionCount goes
// up, which changes the hash, and it tries again.
func (s *statefulSetController) createRevision(ctx context.Context, set *appsv1.StatefulSet, patch []byte, revision int64, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	for range 5 {
		cr, collided, err := createControllerRevision(ctx, s.client, set, statefulSetKind, set.Spec.Template.Labels, patch, revision, collisionCount)
		if err != nil || !collided {
			return cr, err
		}
		*collisionCount++
	}
	return nil, fmt.Errorf("statefulset %s/%s: no free controller revision name after 5 hash collisions", set.Namespace, set.Name)
}

// apply carries out a plan in order and stops at the first error.
func (s *statefulSetController) apply(ctx context.Context, set *appsv1.StatefulSet, plan []statefulSetAction) error {
	for _, a := range plan {
		pods := s.client.CoreV1().Pods(set.Namespace)
		switch a.Op {
		case statefulSetCreate:
			_, err := pods.Create(ctx, a.Pod, metav1.CreateOptions{})
			switch {
			case err == nil:
				s.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", a.Pod.Name, set.Name)
			case apierrors.IsAlreadyExists(err):
				// The cache is behind (or the old pod of that name is not
				// quite gone): its events will bring us back.
			case namespaceTerminating(err):
				return nil
			default:
				s.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", a.Pod.Name, set.Name, err)
				return err
			}
		case statefulSetDelete:
			if a.Pod.Status.Phase == corev1.PodFailed {
				s.recorder.Eventf(set, corev1.EventTypeWarning, "RecreatingFailedPod", "StatefulSet %s/%s is recreating failed Pod %s", set.Namespace, set.Name, a.Pod.Name)
			}
			uid := a.Pod.UID
			err := pods.Delete(ctx, a.Pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			switch {
			case err == nil:
				s.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", a.Pod.Name, set.Name)
			case apierrors.IsNotFound(err), apierrors.IsConflict(err):
				// Already gone, or already replaced by a new pod of that name.
			default:
				s.recorder.Eventf(set, corev1.EventTypeWarning, "FailedDelete", "delete Pod %s in StatefulSet %s failed error: %v", a.Pod.Name, set.Name, err)
				return err
			}
		case statefulSetRelabel:
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": a.Pod.Labels, "uid": a.Pod.UID}})
			_, err := pods.Patch(ctx, a.Pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			switch {
			case err == nil:
				s.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulUpdate", "update Pod %s in StatefulSet %s successful", a.Pod.Name, set.Name)
			case apierrors.IsNotFound(err), apierrors.IsConflict(err):
			default:
				s.recorder.Eventf(set, corev1.EventTypeWarning, "FailedUpdate", "update Pod %s in StatefulSet %s failed error: %v", a.Pod.Name, set.Name, err)
				return err
			}
		}
	}
	return nil
}

// updateStatus writes status if it changed, once more onto the latest set
// if the cache was behind.
func (s *statefulSetController) updateStatus(ctx context.Context, set *appsv1.StatefulSet, status appsv1.StatefulSetStatus) error {
	if apiequality.Semantic.DeepEqual(set.Status, status) {
		return nil
	}
	next := set.DeepCopy()
	next.Status = status
	_, err := s.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if !apierrors.IsConflict(err) {
		return err
	}
	fresh, err := s.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	fresh.Status = status
	_, err = s.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
	return err
}

// truncateHistory deletes the oldest revisions beyond
// spec.revisionHistoryLimit, never the current or the update revision nor
// one a pod is at.
func (s *statefulSetController) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, all []*appsv1.ControllerRevision, current, update *appsv1.ControllerRevision) error {
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	live := map[string]bool{current.Name: true, update.Name: true}
	for _, pod := range pods {
		live[pod.Labels[appsv1.ControllerRevisionHashLabelKey]] = true
	}
	var errs []error
	for _, cr := range revisionsToPrune(all, limit, func(cr *appsv1.ControllerRevision) bool { return live[cr.Name] }) {
		if err := s.client.AppsV1().ControllerRevisions(cr.Namespace).Delete(ctx, cr.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return utilerrors.NewAggregate(errs)
}

// ---- The pure part: no I/O below. ----

// statefulSetOp is what a step does to a pod.
type statefulSetOp string

const (
	statefulSetCreate  statefulSetOp = "create"
	statefulSetDelete  statefulSetOp = "delete"
	statefulSetRelabel statefulSetOp = "relabel" // give a pod its identity labels back
)

// statefulSetAction is one step of a plan: create Pod (a new pod), delete
// Pod, or patch Pod's labels to Pod.Labels.
type statefulSetAction struct {
	Op  statefulSetOp
	Pod *corev1.Pod
}

func (a statefulSetAction) String() string { return string(a.Op) + " " + a.Pod.Name }

// revisionAt is a revision's name and its pod template.
type revisionAt struct {
	Name     string
	Template *corev1.PodTemplateSpec
}

// statefulSetPlan decides the next steps for a set, given the pods it
// owns. The caller applies them in order. With OrderedReady (monotonic)
// the plan holds at most one step, and none while a pod it depends on is
// not yet Running and Ready: that is what makes web-1 wait for web-0.
//
//  1. Each ordinal below replicas, lowest first: a missing pod is made
//     (from the current revision below the partition, else the update
//     revision); a failed or finished one is deleted, to be made again
//     with the same name by a later sync; a pod whose identity labels
//     were changed gets them back.
//  2. Pods at or above replicas (a scale down), highest first: deleted.
//     OrderedReady waits for each to be gone before the next, and does not
//     delete a healthy one while a lower pod is unhealthy.
//  3. RollingUpdate: from the highest ordinal down to the partition, the
//     first pod not at the update revision is deleted (step 1 then makes
//     it again, updated) — one at a time, and only while every pod above
//     it is healthy. OnDelete: nothing.
//
// Reference: kubernetes/pkg/controller/statefulset/stateful_set_control.go,
// updateStatefulSet.
func statefulSetPlan(set *appsv1.StatefulSet, current, update revisionAt, pods []*corev1.Pod, now time.Time) []statefulSetAction {
	start, count := statefulSetStart(set), int(statefulSetReplicas(set))
	replicas := make([]*corev1.Pod, count)
	var condemned []*corev1.Pod
	for _, pod := range pods {
		_, ord := statefulSetParentAndOrdinal(pod)
		switch {
		case ord >= start && ord < start+count:
			replicas[ord-start] = pod
		case ord >= 0:
			condemned = append(condemned, pod)
		}
	}
	sort.Slice(condemned, func(i, j int) bool {
		_, a := statefulSetParentAndOrdinal(condemned[i])
		_, b := statefulSetParentAndOrdinal(condemned[j])
		return a < b
	})
	monotonic := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	healthy := func(p *corev1.Pod) bool {
		return p != nil && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podAvailable(p, set.Spec.MinReadySeconds, now)
	}
	// The lowest ordinal that is unhealthy: in OrderedReady, the one pod a
	// scale down may delete while it is unhealthy.
	var firstUnhealthy *corev1.Pod
	for _, p := range append(slices.Clone(replicas), condemned...) {
		if p != nil && !healthy(p) {
			firstUnhealthy = p
			break
		}
	}

	var plan []statefulSetAction
	// 1. The ordinals that should exist.
	for i, pod := range replicas {
		switch {
		case pod == nil:
			ordinal := start + i
			rev := update
			if statefulSetBelowPartition(set, i) {
				rev = current
			}
			plan = append(plan, statefulSetAction{statefulSetCreate, newStatefulSetPod(set, rev, ordinal)})
			if monotonic {
				return plan
			}
			continue
		case pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded:
			if pod.DeletionTimestamp == nil {
				plan = append(plan, statefulSetAction{statefulSetDelete, pod})
			}
			if monotonic {
				return plan
			}
			continue
		case pod.DeletionTimestamp != nil:
			// Going: its successor of the same name waits for it to be gone.
			if monotonic {
				return plan
			}
			continue
		case monotonic && !healthy(pod):
			return plan // wait for it to be Running and Ready (and available)
		}
		if fixed, ok := statefulSetIdentityFix(set, pod); ok {
			plan = append(plan, statefulSetAction{statefulSetRelabel, fixed})
		}
	}
	// 2. Scale down, highest ordinal first.
	for _, pod := range slices.Backward(condemned) {
		if pod.DeletionTimestamp != nil {
			if monotonic {
				return plan
			}
			continue
		}
		if monotonic && !healthy(pod) && pod != firstUnhealthy {
			return plan
		}
		plan = append(plan, statefulSetAction{statefulSetDelete, pod})
		if monotonic {
			return plan
		}
	}
	// 3. Rolling update, highest ordinal first, down to the partition.
	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return plan
	}
	for i := len(replicas) - 1; i >= 0 && !statefulSetBelowPartition(set, i); i-- {
		pod := replicas[i]
		if pod != nil && pod.DeletionTimestamp == nil && pod.Labels[appsv1.ControllerRevisionHashLabelKey] != update.Name {
			return append(plan, statefulSetAction{statefulSetDelete, pod})
		}
		if !healthy(pod) {
			return plan // wait for the pod just replaced to be back
		}
	}
	return plan
}

// statefulSetBelowPartition reports whether the pod at index i (ordinal
// minus spec.ordinals.start) stays at the current revision in a rolling
// update.
func statefulSetBelowPartition(set *appsv1.StatefulSet, i int) bool {
	ru := set.Spec.UpdateStrategy.RollingUpdate
	return set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType &&
		ru != nil && ru.Partition != nil && i < int(*ru.Partition)
}

func statefulSetReplicas(set *appsv1.StatefulSet) int32 {
	if set.Spec.Replicas == nil {
		return 1
	}
	return *set.Spec.Replicas
}

func statefulSetStart(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

// statefulSetParentAndOrdinal splits a pod's name "<set>-<ordinal>"; the
// ordinal is -1 if the name is not of that form.
func statefulSetParentAndOrdinal(pod *corev1.Pod) (string, int) {
	i := strings.LastIndexByte(pod.Name, '-')
	if i < 0 {
		return "", -1
	}
	n, err := strconv.Atoi(pod.Name[i+1:])
	if err != nil || n < 0 || strconv.Itoa(n) != pod.Name[i+1:] {
		return "", -1
	}
	return pod.Name[:i], n
}

// isStatefulSetMember reports whether pod's name makes it one of set's
// pods (whoever owns it).
func isStatefulSetMember(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, ord := statefulSetParentAndOrdinal(pod)
	return ord >= 0 && parent == set.Name
}

// newStatefulSetPod is the pod of ordinal made from rev's template: named
// <set>-<ordinal>, with hostname = that name and subdomain =
// spec.serviceName (its DNS name under the governing Service), labels
// statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index and
// controller-revision-hash (the revision's name), and an emptyDir for
// each volumeClaimTemplate (see the top of the file).
func newStatefulSetPod(set *appsv1.StatefulSet, rev revisionAt, ordinal int) *corev1.Pod {
	pod := podFromTemplate(rev.Template, set, statefulSetKind, "")
	pod.Name = fmt.Sprintf("%s-%d", set.Name, ordinal)
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetPodNameLabel] = pod.Name
	pod.Labels[appsv1.PodIndexLabel] = strconv.Itoa(ordinal)
	pod.Labels[appsv1.ControllerRevisionHashLabelKey] = rev.Name
	pod.Spec.Hostname = pod.Name
	pod.Spec.Subdomain = set.Spec.ServiceName
	for _, claim := range set.Spec.VolumeClaimTemplates {
		if !slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == claim.Name }) {
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: claim.Name,
				VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}
	}
	return pod
}

// statefulSetIdentityFix returns pod with its identity labels put back,
// and true, if someone changed or removed them.
func statefulSetIdentityFix(set *appsv1.StatefulSet, pod *corev1.Pod) (*corev1.Pod, bool) {
	_, ord := statefulSetParentAndOrdinal(pod)
	want := map[string]string{appsv1.StatefulSetPodNameLabel: pod.Name, appsv1.PodIndexLabel: strconv.Itoa(ord)}
	ok := true
	for k, v := range want {
		ok = ok && pod.Labels[k] == v
	}
	if ok {
		return nil, false
	}
	fixed := pod.DeepCopy()
	fixed.Labels = cloneWithLabel(fixed.Labels, appsv1.StatefulSetPodNameLabel, pod.Name)
	fixed.Labels[appsv1.PodIndexLabel] = strconv.Itoa(ord)
	return fixed, true
}

// statefulSetStatus is the set's status given its pods: how many exist,
// are Running and Ready, available (ready for minReadySeconds), and at
// the current and the update revision. When a rolling update has
// reached every pod and all are ready, the update revision becomes the
// current one: `kubectl rollout status sts` is then done.
// Reference: kubernetes/pkg/controller/statefulset/stateful_set_control.go,
// computeReplicaStatus and completeRollingUpdate.
func statefulSetStatus(set *appsv1.StatefulSet, pods []*corev1.Pod, currentRevision, updateRevision string, collisionCount int32, now time.Time) appsv1.StatefulSetStatus {
	st := *set.Status.DeepCopy()
	st.ObservedGeneration = set.Generation
	st.Replicas, st.ReadyReplicas, st.AvailableReplicas, st.CurrentReplicas, st.UpdatedReplicas = 0, 0, 0, 0, 0
	for _, pod := range pods {
		st.Replicas++
		if pod.Status.Phase == corev1.PodRunning && podReady(pod) {
			st.ReadyReplicas++
			if podAvailable(pod, set.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
		if pod.DeletionTimestamp == nil {
			switch rev := pod.Labels[appsv1.ControllerRevisionHashLabelKey]; {
			case rev == currentRevision && rev == updateRevision:
				st.CurrentReplicas++
				st.UpdatedReplicas++
			case rev == currentRevision:
				st.CurrentReplicas++
			case rev == updateRevision:
				st.UpdatedReplicas++
			}
		}
	}
	st.CurrentRevision = currentRevision
	st.UpdateRevision = updateRevision
	st.CollisionCount = &collisionCount
	if set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		st.UpdatedReplicas == st.Replicas && st.ReadyReplicas == st.Replicas {
		st.CurrentReplicas = st.UpdatedReplicas
		st.CurrentRevision = st.UpdateRevision
	}
	return st
}
