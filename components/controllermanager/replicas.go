package controllermanager

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
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
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// This file is the replica logic that ReplicaSets (replicaset.go) and
// ReplicationControllers (replicationcontroller.go, which reads an RC as a
// ReplicaSet, as Kubernetes' own RC controller does) share.
//
// Desired: spec.replicas pods made from spec.template, matching
// spec.selector. Actual: the active pods (not finished, not being deleted)
// whose controller ownerReference is the ReplicaSet. A sync:
//
//  1. claims pods: adopts orphans the selector matches, releases owned
//     pods whose labels no longer match (claim);
//  2. creates or deletes pods to make up the difference, unless an
//     earlier batch has not shown up in the informer yet (expectations);
//  3. writes status (calculateStatus).
//
// Reference: kubernetes/pkg/controller/replicaset/replica_set.go.

// BurstReplicas is the most pods one sync creates or deletes; the rest
// wait for the next sync. Kubernetes uses 500.
const BurstReplicas = 500

// replicaOwners is how the replica logic reads and writes the objects it
// keeps replicas for, seen as ReplicaSets whatever their kind.
type replicaOwners interface {
	// Get returns the owner from the informer cache, as a ReplicaSet (a
	// copy the caller may change), and the object itself (for events).
	Get(namespace, name string) (*appsv1.ReplicaSet, runtime.Object, error)
	// List returns the owners of a namespace, from the cache.
	List(namespace string) ([]*appsv1.ReplicaSet, error)
	// GetLive reads the owner from the apiserver, not the cache.
	GetLive(ctx context.Context, namespace, name string) (*appsv1.ReplicaSet, error)
	// UpdateStatus writes rs.Status through the status subresource and
	// returns the stored owner.
	UpdateStatus(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error)
}

// replicaManager is the controller shared by both kinds.
type replicaManager struct {
	name         string                  // "replicaset-controller": logs
	kind         schema.GroupVersionKind // of the owners: their pods' ownerReferences
	owners       replicaOwners
	client       kubernetes.Interface
	pods         corelisters.PodLister
	queue        workqueue.TypedRateLimitingInterface[string]
	expectations *expectations
	recorder     record.EventRecorder
	now          func() time.Time
	synced       []cache.InformerSynced
}

func newReplicaManager(name string, kind schema.GroupVersionKind, owners replicaOwners, ownerInformer cache.SharedIndexInformer,
	podInformer coreinformers.PodInformer, client kubernetes.Interface, recorder record.EventRecorder) *replicaManager {
	m := &replicaManager{
		name: name, kind: kind, owners: owners, client: client,
		pods:         podInformer.Lister(),
		queue:        newQueue[string](name),
		expectations: newExpectations(time.Now),
		recorder:     recorder,
		now:          time.Now,
		synced:       []cache.InformerSynced{ownerInformer.HasSynced, podInformer.Informer().HasSynced},
	}
	// Event handlers only enqueue keys (and count what the informer shows
	// against the expectations); the workers do the rest.
	ownerInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    m.enqueue,
		UpdateFunc: func(_, cur any) { m.enqueue(cur) },
		DeleteFunc: func(obj any) {
			if key, ok := keyOf(obj); ok {
				m.expectations.Delete(key)
				m.queue.Add(key)
			}
		},
	})
	podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    m.addPod,
		UpdateFunc: m.updatePod,
		DeleteFunc: m.deletePod,
	})
	return m
}

// Run runs the controller's workers until ctx is done.
func (m *replicaManager) Run(ctx context.Context, workers int) {
	runWorkers(ctx, m.name, m.queue, workers, m.synced, m.syncHandler)
}

func (m *replicaManager) enqueue(obj any) { addKey(m.queue, obj) }

// resolveControllerRef returns the owner a pod's controller reference
// names, if it is one of ours and still the same object (same UID).
func (m *replicaManager) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil || ref.Kind != m.kind.Kind || gv.Group != m.kind.Group {
		return nil
	}
	rs, _, err := m.owners.Get(namespace, ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil
	}
	return rs
}

// matchingOwners returns the keys of the owners whose selector matches
// pod: the candidates to adopt an orphan.
func (m *replicaManager) matchingOwners(pod *corev1.Pod) []string {
	list, err := m.owners.List(pod.Namespace)
	if err != nil {
		return nil
	}
	var keys []string
	for _, rs := range list {
		selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || selector.Empty() || !selector.Matches(labels.Set(pod.Labels)) {
			continue
		}
		keys = append(keys, rs.Namespace+"/"+rs.Name)
	}
	return keys
}

func (m *replicaManager) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already going (say, after a restart):
		// for the expectations it is a deletion.
		m.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if rs := m.resolveControllerRef(pod.Namespace, ref); rs != nil {
			key := rs.Namespace + "/" + rs.Name
			m.expectations.CreationObserved(key)
			m.queue.Add(key)
		}
		return
	}
	for _, key := range m.matchingOwners(pod) {
		m.queue.Add(key)
	}
}

func (m *replicaManager) updatePod(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if cur.ResourceVersion == old.ResourceVersion {
		return // an informer resync: nothing changed
	}
	labelsChanged := !reflect.DeepEqual(cur.Labels, old.Labels)
	if cur.DeletionTimestamp != nil {
		// A pod marked for deletion is as good as gone: count it now,
		// rather than in 30 s when its kubelet has stopped it, so that
		// its replacement is made at once.
		m.deletePod(cur)
		if labelsChanged {
			m.deletePod(old)
		}
		return
	}
	curRef, oldRef := metav1.GetControllerOf(cur), metav1.GetControllerOf(old)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if rs := m.resolveControllerRef(old.Namespace, oldRef); rs != nil {
			m.queue.Add(rs.Namespace + "/" + rs.Name)
		}
	}
	if curRef != nil {
		rs := m.resolveControllerRef(cur.Namespace, curRef)
		if rs == nil {
			return
		}
		key := rs.Namespace + "/" + rs.Name
		m.queue.Add(key)
		// A pod that just became ready is available minReadySeconds
		// later: look again then, to count it in availableReplicas.
		if !podReady(old) && podReady(cur) && rs.Spec.MinReadySeconds > 0 {
			m.queue.AddAfter(key, time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		for _, key := range m.matchingOwners(cur) {
			m.queue.Add(key)
		}
	}
}

func (m *replicaManager) deletePod(obj any) {
	pod, ok := untomb(obj).(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return // an orphan going concerns no one
	}
	rs := m.resolveControllerRef(pod.Namespace, ref)
	if rs == nil {
		return
	}
	key := rs.Namespace + "/" + rs.Name
	m.expectations.DeletionObserved(key, pod.Namespace+"/"+pod.Name)
	m.queue.Add(key)
}

// syncHandler compares the actual state with the desired, and attempts to
// converge the two: the pods of the owner key, and its status.
func (m *replicaManager) syncHandler(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // a bad key will never work: drop it
	}
	rs, orig, err := m.owners.Get(namespace, name)
	if apierrors.IsNotFound(err) {
		// Deleted: its pods are the garbage collector's business.
		m.expectations.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	// Read the expectations before listing pods: a pod that shows up in
	// between is then counted in the list, never missed by both.
	needsSync := m.expectations.Satisfied(key)
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		// The apiserver validates selectors: nothing a retry would fix.
		m.recorder.Eventf(orig, corev1.EventTypeWarning, "InvalidSelector", "spec.selector: %v", err)
		return nil
	}
	all, err := m.pods.Pods(namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	pods, err := m.claimPods(ctx, rs, selector, activePods(all))
	if err != nil {
		return err // requeued: adoption or release failed
	}

	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = m.manageReplicas(ctx, key, rs, orig, pods)
	}
	status := calculateStatus(rs, pods, manageErr, m.now())
	updated, err := m.updateStatus(ctx, rs, status)
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile: nothing left to converge
	}
	if err != nil {
		return err // requeued: the status write failed
	}
	if manageErr == nil && updated.Spec.MinReadySeconds > 0 &&
		updated.Status.ReadyReplicas == replicasOf(updated) && updated.Status.AvailableReplicas != replicasOf(updated) {
		// Every pod is ready but some not for minReadySeconds yet.
		m.queue.AddAfter(key, time.Duration(updated.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

// claimPods adopts and releases pods as claim says and returns the pods rs
// owns after it.
func (m *replicaManager) claimPods(ctx context.Context, rs *appsv1.ReplicaSet, selector labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	return claimPods(ctx, m.client, rs, m.kind, selector, pods, func(ctx context.Context) (metav1.Object, error) {
		return m.owners.GetLive(ctx, rs.Namespace, rs.Name)
	})
}

// claimPods sorts pods into the ones owner (of kind) owns: those it
// controls whose labels its selector matches, and the orphans its
// selector matches, which it adopts (a patch adds owner as their
// controller). Pods it controls that its selector no longer matches it
// releases (a patch removes the reference). Every workload controller
// claims its pods here (upstream: PodControllerRefManager).
//
// The cache may be behind: before taking pods, live reads the owner from
// the apiserver, to check that it still exists (same UID) and is not being
// deleted, or the pods would go with it.
func claimPods(ctx context.Context, client kubernetes.Interface, owner metav1.Object, kind schema.GroupVersionKind, selector labels.Selector, pods []*corev1.Pod, live func(context.Context) (metav1.Object, error)) ([]*corev1.Pod, error) {
	owned, adopt, release := claim(owner, selector, pods)
	var errs []error
	if len(adopt) > 0 {
		fresh, err := live(ctx)
		switch {
		case err != nil:
			return nil, err
		case fresh.GetUID() != owner.GetUID():
			return nil, fmt.Errorf("%s %s/%s was deleted and made again (UID %s, not %s): not adopting", kind.Kind, owner.GetNamespace(), owner.GetName(), fresh.GetUID(), owner.GetUID())
		case fresh.GetDeletionTimestamp() != nil:
			return nil, fmt.Errorf("%s %s/%s is being deleted: not adopting", kind.Kind, owner.GetNamespace(), owner.GetName())
		}
		for _, pod := range adopt {
			err := patchPod(ctx, client, pod, adoptPatch(owner, kind, pod))
			switch {
			case apierrors.IsNotFound(err):
				// Gone meanwhile: nothing to adopt.
			case err != nil:
				errs = append(errs, fmt.Errorf("adopting pod %s: %w", pod.Name, err))
			default:
				owned = append(owned, pod)
			}
		}
	}
	for _, pod := range release {
		if err := patchPod(ctx, client, pod, releasePatch(owner, pod)); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("releasing pod %s: %w", pod.Name, err))
		}
	}
	return owned, utilerrors.NewAggregate(errs)
}

// patchPod applies a strategic merge patch to a pod (adoption, release).
func patchPod(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, patch []byte) error {
	_, err := client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}

// manageReplicas creates or deletes pods to make len(pods) equal
// spec.replicas.
func (m *replicaManager) manageReplicas(ctx context.Context, key string, rs *appsv1.ReplicaSet, orig runtime.Object, pods []*corev1.Pod) error {
	diff := len(pods) - int(replicasOf(rs))
	switch {
	case diff < 0:
		n := min(-diff, BurstReplicas)
		// Expect the pods before creating them: the informer may show
		// them before Create returns.
		m.expectations.ExpectCreations(key, n)
		created, err := slowStartBatch(n, 1, func() error { return m.createPod(ctx, rs, orig) })
		// The pods not created will never show up: stop expecting them.
		for i := created; i < n; i++ {
			m.expectations.CreationObserved(key)
		}
		return err
	case diff > 0:
		n := min(diff, BurstReplicas)
		victims := podsToDelete(pods, n)
		errs := deletePods(ctx, m.client, m.expectations, key, victims, m.recorder, orig)
		return utilerrors.NewAggregate(errs)
	}
	return nil
}

func (m *replicaManager) createPod(ctx context.Context, rs *appsv1.ReplicaSet, orig runtime.Object) error {
	pod, err := m.client.CoreV1().Pods(rs.Namespace).Create(ctx, podFromTemplate(&rs.Spec.Template, rs, m.kind, rs.Name+"-"), metav1.CreateOptions{})
	switch {
	case err == nil:
		m.recorder.Eventf(orig, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", pod.Name)
		return nil
	case apierrors.IsTimeout(err):
		// It may have been made after all: the informer will tell, or
		// the expectations expire.
		return nil
	case namespaceTerminating(err):
		// The namespace is going, and this owner with it.
		return nil
	}
	m.recorder.Eventf(orig, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
	return err
}

// namespaceTerminating reports whether err is the apiserver refusing a
// create in a namespace being deleted.
func namespaceTerminating(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "because it is being terminated")
}

// updateStatus writes status if it changed and returns the stored owner.
func (m *replicaManager) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, status appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	if apiequality.Semantic.DeepEqual(rs.Status, status) {
		return rs, nil
	}
	next := rs.DeepCopy()
	next.Status = status
	updated, err := m.owners.UpdateStatus(ctx, next)
	if !apierrors.IsConflict(err) {
		return updated, err
	}
	// The cache was behind the apiserver: write onto the latest once more.
	fresh, err := m.owners.GetLive(ctx, rs.Namespace, rs.Name)
	if err != nil {
		return nil, err
	}
	fresh.Status = status
	return m.owners.UpdateStatus(ctx, fresh)
}

// ---- The pure part: no I/O below. ----

// replicasOf is spec.replicas (1 if unset, the apiserver's default).
func replicasOf(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// activePods drops the pods that no longer count as replicas: finished
// (Succeeded, Failed) or being deleted.
func activePods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// claim sorts pods by what rs should do with them:
//   - owned: its controller reference is rs and the selector matches;
//   - adopt: an orphan (no controller) the selector matches, if neither
//     rs nor the pod is being deleted;
//   - release: its controller reference is rs but the selector no longer
//     matches (someone changed its labels): rs lets it go, and will make
//     a replacement.
//
// Pods another controller owns are left alone, whatever their labels.
// Reference: kubernetes/pkg/controller/controller_ref_manager.go.
func claim(owner metav1.Object, selector labels.Selector, pods []*corev1.Pod) (owned, adopt, release []*corev1.Pod) {
	for _, pod := range pods {
		match := selector.Matches(labels.Set(pod.Labels))
		ref := metav1.GetControllerOf(pod)
		switch {
		case ref != nil && ref.UID != owner.GetUID():
			// another controller's
		case ref != nil && match:
			owned = append(owned, pod)
		case ref != nil:
			if owner.GetDeletionTimestamp() == nil {
				release = append(release, pod)
			}
		case match && owner.GetDeletionTimestamp() == nil && pod.DeletionTimestamp == nil && pod.Namespace == owner.GetNamespace():
			adopt = append(adopt, pod)
		}
	}
	return owned, adopt, release
}

// adoptPatch makes owner pod's controller: a strategic merge patch adding an
// ownerReference (merged into the list by uid). The pod's own uid in the
// patch is a precondition: the apiserver refuses it if the pod was
// replaced by another of the same name.
func adoptPatch(owner metav1.Object, kind schema.GroupVersionKind, pod *corev1.Pod) []byte {
	patch := map[string]any{"metadata": map[string]any{
		"ownerReferences": []metav1.OwnerReference{*metav1.NewControllerRef(owner, kind)},
		"uid":             pod.UID,
	}}
	data, _ := json.Marshal(patch)
	return data
}

// releasePatch removes owner's ownerReference from pod.
func releasePatch(owner metav1.Object, pod *corev1.Pod) []byte {
	patch := map[string]any{"metadata": map[string]any{
		"ownerReferences": []map[string]any{{"$patch": "delete", "uid": owner.GetUID()}},
		"uid":             pod.UID,
	}}
	data, _ := json.Marshal(patch)
	return data
}

// podFromTemplate is a new pod made from a workload's pod template, named
// "<generateName>" plus a random suffix the apiserver adds, with owner as
// its controller (kind is the owner's kind). blockOwnerDeletion: a
// foreground deletion of the owner waits for it. Every workload controller
// (ReplicaSet, DaemonSet, StatefulSet, Job) makes its pods here.
func podFromTemplate(t *corev1.PodTemplateSpec, owner metav1.Object, kind schema.GroupVersionKind, generateName string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    generateName,
			Namespace:       owner.GetNamespace(),
			Labels:          maps.Clone(t.Labels),
			Annotations:     maps.Clone(t.Annotations),
			Finalizers:      slices.Clone(t.Finalizers),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, kind)},
		},
		Spec: *t.Spec.DeepCopy(),
	}
}

// slowStartBatch calls fn count times, in batches of initial, 2×initial,
// 4×initial... calls at once, and stops at the first batch with an error.
// A create that is refused (a quota, a bad template) then fails once, not
// 500 times. It returns how many calls succeeded.
func slowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining, successes := count, 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errs := make(chan error, batch)
		var wg sync.WaitGroup
		for i := 0; i < batch; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		successes += batch - len(errs)
		if len(errs) > 0 {
			return successes, <-errs
		}
		remaining -= batch
	}
	return successes, nil
}

// deletePods deletes pods at once, each in a goroutine of its own, for
// the controller whose queue key is key: the deletions are expected
// first (expectations.go), and a pod not deleted is no longer expected.
// Events go to owner: SuccessfulDelete, or FailedDelete. It returns each
// pod's error (nil: deleted, or gone already).
func deletePods(ctx context.Context, client kubernetes.Interface, exp *expectations, key string, pods []*corev1.Pod, recorder record.EventRecorder, owner runtime.Object) []error {
	var keys []string
	for _, pod := range pods {
		keys = append(keys, pod.Namespace+"/"+pod.Name)
	}
	exp.ExpectDeletions(key, keys)
	var wg sync.WaitGroup
	errs := make([]error, len(pods))
	for i, pod := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
			if err != nil {
				// Not deleted: the informer will not show it going.
				exp.DeletionObserved(key, pod.Namespace+"/"+pod.Name)
				if !apierrors.IsNotFound(err) {
					recorder.Eventf(owner, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
					errs[i] = err
				}
				return
			}
			recorder.Eventf(owner, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", pod.Name)
		}()
	}
	wg.Wait()
	return errs
}

// PodDeletionCost is the annotation by which a user says which pods to
// delete first when scaling down (lower first).
const PodDeletionCost = "controller.kubernetes.io/pod-deletion-cost"

// podsToDelete picks the n pods to delete when scaling down, the ones
// whose loss hurts least first.
func podsToDelete(pods []*corev1.Pod, n int) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	ranked := rankedPods{pods: slices.Clone(pods), rank: make([]int, len(pods))}
	onNode := map[string]int{}
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			onNode[p.Spec.NodeName]++
		}
	}
	for i, p := range ranked.pods {
		ranked.rank[i] = onNode[p.Spec.NodeName]
	}
	sort.Sort(ranked)
	return ranked.pods[:n]
}

// rankedPods sorts pods in the order Kubernetes deletes them, each rule
// breaking the ties of the one before:
//
//  1. not scheduled to a node before scheduled;
//  2. Pending before Unknown before Running;
//  3. not ready before ready;
//  4. lower controller.kubernetes.io/pod-deletion-cost before higher;
//  5. on a node with more of these pods before fewer (spreads what stays);
//  6. ready for less time before more;
//  7. more container restarts before fewer;
//  8. newer before older.
//
// Reference: kubernetes/pkg/controller/controller_utils.go,
// ActivePodsWithRanks (without the logarithmic time buckets).
type rankedPods struct {
	pods []*corev1.Pod
	rank []int // pods of the same owner on the same node
}

func (s rankedPods) Len() int { return len(s.pods) }
func (s rankedPods) Swap(i, j int) {
	s.pods[i], s.pods[j] = s.pods[j], s.pods[i]
	s.rank[i], s.rank[j] = s.rank[j], s.rank[i]
}

func (s rankedPods) Less(i, j int) bool {
	a, b := s.pods[i], s.pods[j]
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if phaseOrder[a.Status.Phase] != phaseOrder[b.Status.Phase] {
		return phaseOrder[a.Status.Phase] < phaseOrder[b.Status.Phase]
	}
	if podReady(a) != podReady(b) {
		return !podReady(a)
	}
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return ca < cb
	}
	if s.rank[i] != s.rank[j] {
		return s.rank[i] > s.rank[j]
	}
	if podReady(a) && podReady(b) {
		ta, tb := readySince(a), readySince(b)
		if !ta.Equal(&tb) {
			return afterOrZero(&ta, &tb)
		}
	}
	if ra, rb := restarts(a), restarts(b); ra != rb {
		return ra > rb
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return afterOrZero(&a.CreationTimestamp, &b.CreationTimestamp)
	}
	return a.Name < b.Name // a stable order for equals
}

var phaseOrder = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// afterOrZero: a zero time counts as the newest.
func afterOrZero(a, b *metav1.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b.Time)
}

func deletionCost(p *corev1.Pod) int64 {
	n, err := strconv.ParseInt(p.Annotations[PodDeletionCost], 10, 32)
	if err != nil {
		return 0
	}
	return n
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n = max(n, c.RestartCount)
	}
	return n
}

// podReady reports whether pod's Ready condition is True.
func podReady(pod *corev1.Pod) bool {
	c := podCondition(pod, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

func readySince(pod *corev1.Pod) metav1.Time {
	if c := podCondition(pod, corev1.PodReady); c != nil && c.Status == corev1.ConditionTrue {
		return c.LastTransitionTime
	}
	return metav1.Time{}
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// podAvailable reports whether pod has been ready for minReadySeconds.
func podAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	if !podReady(pod) {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	since := readySince(pod)
	return !since.IsZero() && since.Add(time.Duration(minReadySeconds)*time.Second).Before(now)
}

// calculateStatus is rs's status given the pods it owns (active ones) and
// the error of this sync's creates or deletes, if any.
func calculateStatus(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	st := *rs.Status.DeepCopy()
	templateLabels := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	var fully, ready, available int32
	for _, pod := range pods {
		if templateLabels.Matches(labels.Set(pod.Labels)) {
			fully++
		}
		if podReady(pod) {
			ready++
			if podAvailable(pod, rs.Spec.MinReadySeconds, now) {
				available++
			}
		}
	}
	st.Replicas = int32(len(pods))
	st.FullyLabeledReplicas = fully
	st.ReadyReplicas = ready
	st.AvailableReplicas = available
	st.ObservedGeneration = rs.Generation

	i := slices.IndexFunc(st.Conditions, func(c appsv1.ReplicaSetCondition) bool { return c.Type == appsv1.ReplicaSetReplicaFailure })
	switch {
	case manageErr != nil && i < 0:
		reason := "FailedCreate"
		if len(pods) > int(replicasOf(rs)) {
			reason = "FailedDelete"
		}
		st.Conditions = append(st.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now), Reason: reason, Message: manageErr.Error(),
		})
	case manageErr == nil && i >= 0:
		st.Conditions = slices.Delete(st.Conditions, i, i+1)
	}
	if len(st.Conditions) == 0 {
		st.Conditions = nil
	}
	return st
}
