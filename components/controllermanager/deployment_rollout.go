package controllermanager

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/dump"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
)

// The pure part of the Deployment controller (deployment.go does the
// I/O): given a Deployment and its ReplicaSets, what the next step of the
// rollout is, and what the Deployment's status says. Nothing here reads
// the clock: `now` is an argument.
//
// Reference: kubernetes/pkg/controller/deployment/{rolling,recreate,sync,
// progress}.go and kubernetes/pkg/controller/deployment/util/deployment_util.go.

// The labels and annotations by which Deployments and their ReplicaSets
// talk, as Kubernetes names them (kubectl rollout reads them too).
const (
	// podTemplateHashLabel is added to a ReplicaSet's selector, template
	// and so its pods: two ReplicaSets of one Deployment never select each
	// other's pods.
	podTemplateHashLabel = appsv1.DefaultDeploymentUniqueLabelKey // "pod-template-hash"
	// revisionAnnotation numbers the versions of the template: 1, 2, ...
	// on each ReplicaSet, and the current one on the Deployment.
	revisionAnnotation = "deployment.kubernetes.io/revision"
	// revisionHistoryAnnotation lists the revisions a ReplicaSet had
	// before a rollback made it current again ("1,3").
	revisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	// desiredReplicasAnnotation is the Deployment's spec.replicas when the
	// ReplicaSet was last scaled: a change means someone scaled the
	// Deployment (a "scaling event") rather than changed its template.
	desiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	// maxReplicasAnnotation is spec.replicas + maxSurge then: the base of
	// proportional scaling.
	maxReplicasAnnotation = "deployment.kubernetes.io/max-replicas"
	// changeCauseAnnotation is what `kubectl rollout history` prints.
	changeCauseAnnotation = "kubernetes.io/change-cause"

	// deploymentRevisionHistoryChars caps revision-history
	// (kube-controller-manager's --deployment-controller-... default 2000).
	deploymentRevisionHistoryChars = 2000
)

// Condition reasons, as kube-controller-manager writes them and kubectl
// rollout status reads them.
const (
	reasonMinimumReplicasAvailable   = "MinimumReplicasAvailable"
	reasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"
	reasonNewReplicaSetCreated       = "NewReplicaSetCreated"
	reasonFoundNewReplicaSet         = "FoundNewReplicaSet"
	reasonReplicaSetUpdated          = "ReplicaSetUpdated"
	reasonNewReplicaSetAvailable     = "NewReplicaSetAvailable"
	reasonProgressDeadlineExceeded   = "ProgressDeadlineExceeded"
	reasonReplicaSetCreateError      = "ReplicaSetCreateError"
	reasonDeploymentPaused           = "DeploymentPaused"
	reasonDeploymentResumed          = "DeploymentResumed"
)

// ---- Which ReplicaSet is which ----

// deploymentTemplateHash is the pod-template-hash of a template: FNV-32a
// of the template printed in full (apimachinery's dump.ForHash, the
// printer Kubernetes hashes with), plus the Deployment's collisionCount
// when a hash ever collided, written in the "safe" alphabet (no vowels:
// no words in names). The same template gives the same hash in every
// process, so a restarted controller finds the ReplicaSets it made.
// Reference: kubernetes/pkg/controller/controller_utils.go, ComputeHash.
func deploymentTemplateHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%v", dump.ForHash(*t))
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// equalIgnoreHash reports whether two templates are the same but for the
// pod-template-hash label: whether a ReplicaSet runs the Deployment's
// current template.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, podTemplateHashLabel)
	delete(b.Labels, podTemplateHashLabel)
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(b.Labels) == 0 {
		b.Labels = nil
	}
	return apiequality.Semantic.DeepEqual(a, b)
}

// byCreation sorts ReplicaSets oldest first (then by name: a stable order
// for those made in the same second).
func byCreation(list []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	out := slices.Clone(list)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.Name < b.Name
		}
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	})
	return out
}

// findNewReplicaSet is the ReplicaSet running d's current template, if
// any: the oldest such, should there be two.
func findNewReplicaSet(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	for _, rs := range byCreation(rsList) {
		if equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// oldReplicaSets is every ReplicaSet but newRS.
func oldReplicaSets(rsList []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rsList {
		if newRS == nil || rs.UID != newRS.UID {
			out = append(out, rs)
		}
	}
	return out
}

// activeReplicaSets drops nil and scaled-to-zero ReplicaSets.
func activeReplicaSets(list []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range list {
		if rs != nil && replicasOf(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

// withNew is olds plus newRS if there is one.
func withNew(olds []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	all := slices.Clone(olds)
	if newRS != nil {
		all = append(all, newRS)
	}
	return all
}

// ---- Counting ----

func deploymentReplicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// specReplicas is the sum of spec.replicas: the pods asked for.
func specReplicas(list []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range list {
		if rs != nil {
			n += replicasOf(rs)
		}
	}
	return n
}

// sumStatus adds up one status field of the ReplicaSets.
func sumStatus(list []*appsv1.ReplicaSet, field func(*appsv1.ReplicaSetStatus) int32) int32 {
	var n int32
	for _, rs := range list {
		if rs != nil {
			n += field(&rs.Status)
		}
	}
	return n
}

func statusReplicas(s *appsv1.ReplicaSetStatus) int32  { return s.Replicas }
func statusReady(s *appsv1.ReplicaSetStatus) int32     { return s.ReadyReplicas }
func statusAvailable(s *appsv1.ReplicaSetStatus) int32 { return s.AvailableReplicas }

// ---- maxSurge and maxUnavailable ----

// resolveFenceposts turns maxSurge and maxUnavailable (a number, or a
// percentage of desired) into numbers. A percentage of surge rounds up
// and one of unavailability rounds down: 25% of 3 is a surge of 1 and
// an unavailability of 0, so a rollout of 3 never goes below 3 available.
// Both zero would deadlock a rollout (no room to add, none to remove), so
// unavailability is then 1.
func resolveFenceposts(maxSurge, maxUnavailable *intstr.IntOrString, desired int32) (int32, int32, error) {
	zero := intstr.FromInt32(0)
	if maxSurge == nil {
		maxSurge = &zero
	}
	if maxUnavailable == nil {
		maxUnavailable = &zero
	}
	surge, err := intstr.GetScaledValueFromIntOrPercent(maxSurge, int(desired), true)
	if err != nil {
		return 0, 0, fmt.Errorf("spec.strategy.rollingUpdate.maxSurge: %w", err)
	}
	unavailable, err := intstr.GetScaledValueFromIntOrPercent(maxUnavailable, int(desired), false)
	if err != nil {
		return 0, 0, fmt.Errorf("spec.strategy.rollingUpdate.maxUnavailable: %w", err)
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return int32(surge), int32(unavailable), nil
}

func isRollingUpdate(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType && d.Spec.Strategy.RollingUpdate != nil
}

// maxSurge is how many pods above spec.replicas a rolling update may run
// (0 for Recreate). Errors read as 0: the apiserver validates the fields.
func maxSurge(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) {
		return 0
	}
	surge, _, _ := resolveFenceposts(d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable, deploymentReplicas(d))
	return surge
}

// maxUnavailable is how many of spec.replicas may be unavailable during a
// rolling update, never more than spec.replicas.
func maxUnavailable(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) || deploymentReplicas(d) == 0 {
		return 0
	}
	_, unavailable, _ := resolveFenceposts(d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable, deploymentReplicas(d))
	return min(unavailable, deploymentReplicas(d))
}

// ---- The rollout: one step at a time ----

// replicaChange is one write of a step: scale rs (from its
// spec.replicas) to To.
type replicaChange struct {
	RS *appsv1.ReplicaSet
	To int32
}

func (c replicaChange) String() string {
	return fmt.Sprintf("%s %d→%d", c.RS.Name, replicasOf(c.RS), c.To)
}

// newRSNewReplicas is the size newRS may grow to now. A rolling update
// adds pods while the total (every ReplicaSet's spec.replicas) stays at
// most spec.replicas + maxSurge; Recreate goes straight to spec.replicas
// (the caller first waits for the old pods to be gone).
func newRSNewReplicas(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (int32, error) {
	switch d.Spec.Strategy.Type {
	case appsv1.RollingUpdateDeploymentStrategyType:
		ru := d.Spec.Strategy.RollingUpdate
		if ru == nil {
			ru = &appsv1.RollingUpdateDeployment{}
		}
		surge, err := intstr.GetScaledValueFromIntOrPercent(orZero(ru.MaxSurge), int(deploymentReplicas(d)), true)
		if err != nil {
			return 0, fmt.Errorf("spec.strategy.rollingUpdate.maxSurge: %w", err)
		}
		current := specReplicas(allRSs)
		maxTotal := deploymentReplicas(d) + int32(surge)
		if current >= maxTotal {
			return replicasOf(newRS), nil // no room: wait for old pods to go
		}
		up := min(maxTotal-current, deploymentReplicas(d)-replicasOf(newRS))
		return replicasOf(newRS) + up, nil
	case appsv1.RecreateDeploymentStrategyType:
		return deploymentReplicas(d), nil
	}
	return 0, fmt.Errorf("spec.strategy.type: unsupported value %q: want RollingUpdate or Recreate", d.Spec.Strategy.Type)
}

func orZero(v *intstr.IntOrString) *intstr.IntOrString {
	if v == nil {
		zero := intstr.FromInt32(0)
		return &zero
	}
	return v
}

// rollingStep is the next step of a rolling update: the writes to make
// now, in order. It is one of
//
//  1. scale the new ReplicaSet up, as far as maxSurge allows (or down, if
//     it is above spec.replicas);
//  2. else scale old ReplicaSets down: first their pods that are not
//     available anyway (they do not count toward availability, and may
//     never start: a bad image), then available ones, oldest ReplicaSet
//     first, as long as spec.replicas - maxUnavailable pods stay
//     available, counting the new pods that are not available yet as
//     missing;
//  3. else nothing: wait for pods to become available (the ReplicaSets'
//     status changes, and the Deployment is synced again).
//
// The caller applies the step, then the ReplicaSet controller makes or
// deletes the pods, their readiness changes the ReplicaSets' status, and
// that brings the Deployment back here for the next step. newRS must
// not be nil: the caller makes it first.
// Reference: kubernetes/pkg/controller/deployment/rolling.go.
func rollingStep(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) ([]replicaChange, error) {
	allRSs := withNew(oldRSs, newRS)
	want := deploymentReplicas(d)

	// 1. The new ReplicaSet.
	switch n := replicasOf(newRS); {
	case n > want:
		return []replicaChange{{newRS, want}}, nil
	case n < want:
		to, err := newRSNewReplicas(d, allRSs, newRS)
		if err != nil {
			return nil, err
		}
		if to != n {
			return []replicaChange{{newRS, to}}, nil
		}
	}

	// 2. The old ones.
	olds := activeReplicaSets(oldRSs)
	if specReplicas(olds) == 0 {
		return nil, nil
	}
	minAvailable := want - maxUnavailable(d)
	newUnavailable := replicasOf(newRS) - newRS.Status.AvailableReplicas
	// How far the total can shrink: the pods there are, minus those that
	// must stay available, minus the new pods that are not available yet
	// (they will be, and are counted as if missing until then).
	maxScaledDown := specReplicas(allRSs) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return nil, nil
	}
	sizes := map[types.UID]int32{}
	for _, rs := range olds {
		sizes[rs.UID] = replicasOf(rs)
	}
	var changes []replicaChange
	record := func(rs *appsv1.ReplicaSet, to int32) {
		sizes[rs.UID] = to
		for i := range changes {
			if changes[i].RS.UID == rs.UID {
				changes[i].To = to
				return
			}
		}
		changes = append(changes, replicaChange{rs, to})
	}

	// 2a. Unhealthy old pods first, up to maxScaledDown.
	var cleaned int32
	for _, rs := range byCreation(olds) {
		if cleaned >= maxScaledDown {
			break
		}
		unhealthy := sizes[rs.UID] - rs.Status.AvailableReplicas
		if unhealthy <= 0 {
			continue
		}
		n := min(maxScaledDown-cleaned, unhealthy)
		record(rs, sizes[rs.UID]-n)
		cleaned += n
	}

	// 2b. Then available old pods, down to minAvailable in all.
	available := sumStatus(allRSs, statusAvailable)
	if excess := available - minAvailable; excess > 0 {
		var scaled int32
		for _, rs := range byCreation(olds) {
			if scaled >= excess {
				break
			}
			if sizes[rs.UID] == 0 {
				continue
			}
			n := min(sizes[rs.UID], excess-scaled)
			record(rs, sizes[rs.UID]-n)
			scaled += n
		}
	}
	return changes, nil
}

// recreateStep is the next step of a Recreate rollout: every old
// ReplicaSet to 0; once none of their pods is left (running or
// terminating: oldPodsRunning says), the new one to spec.replicas.
// newRS may be nil: the caller makes it when this says so (makeNew).
// Reference: kubernetes/pkg/controller/deployment/recreate.go.
func recreateStep(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet, oldPodsRunning bool) (changes []replicaChange, makeNew bool) {
	for _, rs := range activeReplicaSets(oldRSs) {
		changes = append(changes, replicaChange{rs, 0})
	}
	if len(changes) > 0 || oldPodsRunning {
		return changes, false
	}
	if newRS == nil {
		return nil, true
	}
	if replicasOf(newRS) != deploymentReplicas(d) {
		return []replicaChange{{newRS, deploymentReplicas(d)}}, false
	}
	return nil, false
}

// oldPodsRunning reports whether any ReplicaSet but newRS still has pods
// that have not finished: counted in their status, or seen in podsByRS
// (pods by their ReplicaSet's UID). A terminating pod counts: Recreate
// promises no old and new pod ever run at once.
func oldPodsRunning(newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet, podsByRS map[types.UID][]*corev1.Pod) bool {
	if sumStatus(oldRSs, statusReplicas) > 0 {
		return true
	}
	for uid, pods := range podsByRS {
		if newRS != nil && newRS.UID == uid {
			continue
		}
		for _, pod := range pods {
			if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
				return true
			}
		}
	}
	return false
}

// ---- Scaling: someone changed spec.replicas ----

// isScalingEvent reports whether spec.replicas differs from what the
// active ReplicaSets were last scaled for (their desired-replicas
// annotation): then the Deployment is resized, proportionally, rather than
// rolled.
func isScalingEvent(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet) bool {
	for _, rs := range activeReplicaSets(allRSs) {
		desired, ok := intAnnotation(rs, desiredReplicasAnnotation)
		if ok && desired != deploymentReplicas(d) {
			return true
		}
	}
	return false
}

// scaleStep resizes the ReplicaSets to a new spec.replicas (and is what a
// paused Deployment does: no rollout, but scaling still works).
//
//   - One active ReplicaSet (or none: then the newest): it gets spec.replicas.
//   - The new ReplicaSet is complete and available: the old ones go to 0.
//   - A rolling update is half done: the pods to add (or remove) are shared
//     among the active ReplicaSets in proportion to their size, so that
//     scaling 10 → 20 mid-rollout doubles both the old and the new pods
//     rather than starting 10 more of whichever. Rounding leftovers go to
//     the largest ReplicaSet (newest among equals) when adding, and to the
//     largest (oldest among equals) when removing.
//
// Reference: kubernetes/pkg/controller/deployment/sync.go, scale.
func scaleStep(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) []replicaChange {
	want := deploymentReplicas(d)
	if rs := activeOrLatest(newRS, oldRSs); rs != nil {
		if replicasOf(rs) == want {
			return nil
		}
		return []replicaChange{{rs, want}}
	}
	if isSaturated(d, newRS) {
		var changes []replicaChange
		for _, rs := range activeReplicaSets(oldRSs) {
			changes = append(changes, replicaChange{rs, 0})
		}
		return changes
	}
	if !isRollingUpdate(d) {
		return nil
	}
	active := activeReplicaSets(withNew(oldRSs, newRS))
	allowed := int32(0)
	if want > 0 {
		allowed = want + maxSurge(d)
	}
	toAdd := allowed - specReplicas(active)
	switch {
	case toAdd > 0:
		// Largest first, newer first among equals.
		sort.SliceStable(active, func(i, j int) bool {
			a, b := active[i], active[j]
			if replicasOf(a) != replicasOf(b) {
				return replicasOf(a) > replicasOf(b)
			}
			return b.CreationTimestamp.Before(&a.CreationTimestamp)
		})
	case toAdd < 0:
		// Largest first, older first among equals.
		sort.SliceStable(active, func(i, j int) bool {
			a, b := active[i], active[j]
			if replicasOf(a) != replicasOf(b) {
				return replicasOf(a) > replicasOf(b)
			}
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		})
	default:
		return nil
	}
	sizes := make([]int32, len(active))
	var added int32
	for i, rs := range active {
		p := proportion(rs, d, toAdd, added)
		sizes[i] = replicasOf(rs) + p
		added += p
	}
	if added != toAdd && len(active) > 0 {
		sizes[0] = max(0, sizes[0]+toAdd-added)
	}
	var changes []replicaChange
	for i, rs := range active {
		if sizes[i] != replicasOf(rs) {
			changes = append(changes, replicaChange{rs, sizes[i]})
		}
	}
	return changes
}

// activeOrLatest is the one ReplicaSet with pods if there is exactly one,
// the newest one (the new one first) if none has pods, else nil.
func activeOrLatest(newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(oldRSs) == 0 {
		return nil
	}
	active := activeReplicaSets(withNew(oldRSs, newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		olds := byCreation(oldRSs)
		return olds[len(olds)-1]
	case 1:
		return active[0]
	}
	return nil
}

// isSaturated: the new ReplicaSet has all the pods the Deployment wants,
// all available.
func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := intAnnotation(rs, desiredReplicasAnnotation)
	want := deploymentReplicas(d)
	return ok && replicasOf(rs) == want && desired == want && rs.Status.AvailableReplicas == want
}

// proportion is rs's share of toAdd pods (negative: to remove), of which
// added are already given out.
func proportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if replicasOf(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	fraction := replicaSetFraction(rs, d)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(fraction, allowed)
	}
	return max(fraction, allowed)
}

// replicaSetFraction is how many pods rs gains (or loses) if it keeps its
// share of the Deployment: its size × (new max total / old max total),
// the old max total read from its max-replicas annotation.
func replicaSetFraction(rs *appsv1.ReplicaSet, d *appsv1.Deployment) int32 {
	if deploymentReplicas(d) == 0 {
		return -replicasOf(rs)
	}
	total := deploymentReplicas(d) + maxSurge(d)
	annotated, ok := intAnnotation(rs, maxReplicasAnnotation)
	if !ok || annotated == 0 {
		annotated = d.Status.Replicas
	}
	if annotated == 0 {
		return 0
	}
	size := float64(replicasOf(rs)*total) / float64(annotated)
	return int32(math.Round(size)) - replicasOf(rs)
}

// ---- Revisions and annotations ----

func intAnnotation(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, ok := rs.Annotations[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

// revisionOf is a ReplicaSet's (or Deployment's) revision, 0 if none.
func revisionOf(obj metav1.Object) int64 {
	n, err := strconv.ParseInt(obj.GetAnnotations()[revisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func maxRevision(list []*appsv1.ReplicaSet) int64 {
	var n int64
	for _, rs := range list {
		n = max(n, revisionOf(rs))
	}
	return n
}

// skipCopyAnnotation: the Deployment's annotations a ReplicaSet does not
// inherit (its own bookkeeping, and kubectl apply's).
var skipCopyAnnotation = map[string]bool{
	corev1.LastAppliedConfigAnnotation:  true,
	revisionAnnotation:                  true,
	revisionHistoryAnnotation:           true,
	desiredReplicasAnnotation:           true,
	maxReplicasAnnotation:               true,
	"deprecated.deployment.rollback.to": true,
}

// setNewReplicaSetAnnotations brings the new ReplicaSet's annotations up
// to date and reports whether any changed: the Deployment's own
// (kubernetes.io/change-cause among them), the revision newRevision if it
// is higher (an old ReplicaSet that becomes new again, by `kubectl rollout
// undo`, gets the next revision, its old one going to revision-history),
// and, when it is about to be created, the replicas annotations.
func setNewReplicaSetAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision int64, exists bool) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if skipCopyAnnotation[k] || rs.Annotations[k] == v {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	oldRevision, had := rs.Annotations[revisionAnnotation]
	oldN, err := strconv.ParseInt(oldRevision, 10, 64)
	if err != nil {
		if oldRevision != "" {
			return changed // not ours to fix: leave it
		}
		oldN = 0
	}
	if oldN < newRevision {
		rs.Annotations[revisionAnnotation] = strconv.FormatInt(newRevision, 10)
		changed = true
		if had {
			rs.Annotations[revisionHistoryAnnotation] = appendRevisionHistory(rs.Annotations[revisionHistoryAnnotation], oldRevision)
		}
	}
	if !exists && setReplicasAnnotations(rs, deploymentReplicas(d), deploymentReplicas(d)+maxSurge(d)) {
		changed = true
	}
	return changed
}

// appendRevisionHistory adds rev to a comma-separated history, dropping
// the oldest entries to stay within deploymentRevisionHistoryChars.
func appendRevisionHistory(history, rev string) string {
	if history == "" {
		return rev
	}
	revs := append(strings.Split(history, ","), rev)
	for len(revs) > 1 && len(strings.Join(revs, ",")) > deploymentRevisionHistoryChars {
		revs = revs[1:]
	}
	return strings.Join(revs, ",")
}

// setReplicasAnnotations writes desired-replicas and max-replicas and
// reports whether they changed.
func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	if !replicasAnnotationsNeedUpdate(rs, desired, maxReplicas) {
		return false
	}
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	rs.Annotations[desiredReplicasAnnotation] = strconv.Itoa(int(desired))
	rs.Annotations[maxReplicasAnnotation] = strconv.Itoa(int(maxReplicas))
	return true
}

func replicasAnnotationsNeedUpdate(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	return rs.Annotations[desiredReplicasAnnotation] != strconv.Itoa(int(desired)) ||
		rs.Annotations[maxReplicasAnnotation] != strconv.Itoa(int(maxReplicas))
}

// newReplicaSetFor is the ReplicaSet of d's current template, before it
// is created: named "<deployment>-<hash>", the hash added as
// pod-template-hash to its labels, selector and template, owned by d,
// with `replicas` pods and revision newRevision.
func newReplicaSetFor(d *appsv1.Deployment, hash string, newRevision int64, replicas int32) *appsv1.ReplicaSet {
	template := *d.Spec.Template.DeepCopy()
	template.Labels = withLabel(d.Spec.Template.Labels, podTemplateHashLabel, hash)
	selector := d.Spec.Selector.DeepCopy()
	if selector == nil {
		selector = &metav1.LabelSelector{}
	}
	selector.MatchLabels = withLabel(selector.MatchLabels, podTemplateHashLabel, hash)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			Labels:          maps.Clone(template.Labels),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, deploymentKind)},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        &replicas,
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        selector,
			Template:        template,
		},
	}
	setNewReplicaSetAnnotations(d, rs, newRevision, false)
	return rs
}

func withLabel(m map[string]string, k, v string) map[string]string {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	out[k] = v
	return out
}

// replicaSetsToCleanUp is the old ReplicaSets beyond
// spec.revisionHistoryLimit to delete, lowest revisions first; only ones
// with no pods and whose status is up to date (scaled to 0 and seen so by
// the ReplicaSet controller).
func replicaSetsToCleanUp(d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	if d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range oldRSs {
		if rs != nil && rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := len(alive) - int(*d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return nil
	}
	sort.SliceStable(alive, func(i, j int) bool {
		ri, rj := revisionOf(alive[i]), revisionOf(alive[j])
		if ri != rj {
			return ri < rj
		}
		return alive[i].CreationTimestamp.Before(&alive[j].CreationTimestamp)
	})
	var out []*appsv1.ReplicaSet
	for _, rs := range alive[:diff] {
		if rs.Status.Replicas != 0 || replicasOf(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		out = append(out, rs)
	}
	return out
}

// ---- Status and conditions ----

// hasProgressDeadline: progressDeadlineSeconds set (MaxInt32 means none).
func hasProgressDeadline(d *appsv1.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != math.MaxInt32
}

// deploymentStatusFor is d's status counted from its ReplicaSets: the
// replica counts and the Available condition; the other conditions are
// carried over.
func deploymentStatusFor(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time) appsv1.DeploymentStatus {
	available := sumStatus(allRSs, statusAvailable)
	st := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            sumStatus(allRSs, statusReplicas),
		ReadyReplicas:       sumStatus(allRSs, statusReady),
		AvailableReplicas:   available,
		UnavailableReplicas: max(0, specReplicas(allRSs)-available),
		CollisionCount:      d.Status.CollisionCount,
		Conditions:          slices.Clone(d.Status.Conditions),
	}
	if newRS != nil {
		st.UpdatedReplicas = newRS.Status.Replicas
	}
	if available >= deploymentReplicas(d)-maxUnavailable(d) {
		setDeploymentCondition(&st, newDeploymentCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue,
			reasonMinimumReplicasAvailable, "Deployment has minimum availability.", now))
	} else {
		setDeploymentCondition(&st, newDeploymentCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse,
			reasonMinimumReplicasUnavailable, "Deployment does not have minimum availability.", now))
	}
	return st
}

// rolloutStatus is deploymentStatusFor plus the Progressing condition of
// a rollout under way and the ReplicaFailure condition of its
// ReplicaSets:
//
//   - complete (every pod updated and available): True,
//     NewReplicaSetAvailable, `ReplicaSet "web-5d4f8c7b9" has successfully
//     progressed.` (kubectl rollout status stops there);
//   - progressing (more pods updated, ready or available, fewer old ones,
//     than last time): True, ReplicaSetUpdated, its lastUpdateTime now;
//   - no progress for progressDeadlineSeconds since that lastUpdateTime:
//     False, ProgressDeadlineExceeded (kubectl rollout status fails).
//
// Once a rollout is complete its condition stays until the next one.
// Reference: kubernetes/pkg/controller/deployment/progress.go.
func rolloutStatus(d *appsv1.Deployment, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time) appsv1.DeploymentStatus {
	st := deploymentStatusFor(d, allRSs, newRS, now)
	if !hasProgressDeadline(d) {
		removeDeploymentCondition(&st, appsv1.DeploymentProgressing)
	}
	current := getDeploymentCondition(d.Status, appsv1.DeploymentProgressing)
	complete := st.Replicas == st.UpdatedReplicas && current != nil && current.Reason == reasonNewReplicaSetAvailable
	if hasProgressDeadline(d) && !complete {
		what := fmt.Sprintf("Deployment %q", d.Name)
		if newRS != nil {
			what = fmt.Sprintf("ReplicaSet %q", newRS.Name)
		}
		switch {
		case deploymentComplete(d, &st):
			setDeploymentCondition(&st, newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue,
				reasonNewReplicaSetAvailable, what+" has successfully progressed.", now))
		case deploymentProgressing(d, &st):
			// Progress moves lastUpdateTime (the deadline counts from
			// it) even when status and reason stay the same: replace
			// the condition rather than set it.
			c := newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonReplicaSetUpdated, what+" is progressing.", now)
			if current != nil && current.Status == corev1.ConditionTrue {
				c.LastTransitionTime = current.LastTransitionTime
			}
			removeDeploymentCondition(&st, appsv1.DeploymentProgressing)
			setDeploymentCondition(&st, c)
		case deploymentTimedOut(d, &st, now):
			setDeploymentCondition(&st, newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse,
				reasonProgressDeadlineExceeded, what+" has timed out progressing.", now))
		}
	}
	if failures := replicaFailures(allRSs, newRS); len(failures) > 0 {
		setDeploymentCondition(&st, failures[0])
	} else {
		removeDeploymentCondition(&st, appsv1.DeploymentReplicaFailure)
	}
	return st
}

// deploymentComplete: every pod the Deployment wants is updated and
// available, none old is left, and the controller has seen the latest spec.
func deploymentComplete(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	want := deploymentReplicas(d)
	return st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want && st.ObservedGeneration >= d.Generation
}

// deploymentProgressing compares st with d's last status: more updated,
// ready or available pods, or fewer old ones, is progress.
func deploymentProgressing(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	old := d.Status
	return st.UpdatedReplicas > old.UpdatedReplicas ||
		st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		st.ReadyReplicas > old.ReadyReplicas ||
		st.AvailableReplicas > old.AvailableReplicas
}

// deploymentTimedOut: no progress for progressDeadlineSeconds since the
// Progressing condition's lastUpdateTime.
func deploymentTimedOut(d *appsv1.Deployment, st *appsv1.DeploymentStatus, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	c := getDeploymentCondition(*st, appsv1.DeploymentProgressing)
	switch {
	case c == nil, c.Reason == reasonNewReplicaSetAvailable:
		return false
	case c.Reason == reasonProgressDeadlineExceeded:
		return true
	}
	return c.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Before(now)
}

// progressCheckAfter is when to look at d again to notice that its
// rollout timed out, if no event brings it back earlier: -1 if there is
// no deadline to watch.
func progressCheckAfter(d *appsv1.Deployment, st appsv1.DeploymentStatus, now time.Time) time.Duration {
	c := getDeploymentCondition(st, appsv1.DeploymentProgressing)
	if !hasProgressDeadline(d) || c == nil || deploymentComplete(d, &st) || c.Reason == reasonProgressDeadlineExceeded {
		return -1
	}
	after := c.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(now)
	if after < time.Second {
		return 0
	}
	return after + time.Second
}

// replicaFailures are the ReplicaFailure conditions of the new
// ReplicaSet, or else of any, as Deployment conditions.
func replicaFailures(allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []appsv1.DeploymentCondition {
	from := func(list []*appsv1.ReplicaSet) []appsv1.DeploymentCondition {
		var out []appsv1.DeploymentCondition
		for _, rs := range list {
			if rs == nil {
				continue
			}
			for _, c := range rs.Status.Conditions {
				if c.Type == appsv1.ReplicaSetReplicaFailure {
					out = append(out, appsv1.DeploymentCondition{
						Type: appsv1.DeploymentReplicaFailure, Status: c.Status, Reason: c.Reason, Message: c.Message,
						LastUpdateTime: c.LastTransitionTime, LastTransitionTime: c.LastTransitionTime,
					})
				}
			}
		}
		return out
	}
	if out := from([]*appsv1.ReplicaSet{newRS}); len(out) > 0 {
		return out
	}
	return from(allRSs)
}

// pausedCondition is the Progressing condition to write when a Deployment
// is paused or resumed, and whether it changed: Unknown, DeploymentPaused
// ("Deployment is paused") or DeploymentResumed. A timed-out rollout
// keeps saying so.
func pausedCondition(d *appsv1.Deployment, now time.Time) (appsv1.DeploymentStatus, bool) {
	st := *d.Status.DeepCopy()
	if !hasProgressDeadline(d) {
		return st, false
	}
	c := getDeploymentCondition(st, appsv1.DeploymentProgressing)
	if c != nil && c.Reason == reasonProgressDeadlineExceeded {
		return st, false
	}
	paused := c != nil && c.Reason == reasonDeploymentPaused
	switch {
	case d.Spec.Paused && !paused:
		setDeploymentCondition(&st, newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonDeploymentPaused, "Deployment is paused", now))
		return st, true
	case !d.Spec.Paused && paused:
		setDeploymentCondition(&st, newDeploymentCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonDeploymentResumed, "Deployment is resumed", now))
		return st, true
	}
	return st, false
}

func newDeploymentCondition(t appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) appsv1.DeploymentCondition {
	return appsv1.DeploymentCondition{Type: t, Status: status, Reason: reason, Message: message,
		LastUpdateTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)}
}

func getDeploymentCondition(st appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// setDeploymentCondition sets c, unless a condition of its type already
// has its status and reason (then nothing changes, times included); a
// condition whose status stays keeps its lastTransitionTime.
func setDeploymentCondition(st *appsv1.DeploymentStatus, c appsv1.DeploymentCondition) {
	current := getDeploymentCondition(*st, c.Type)
	if current != nil && current.Status == c.Status && current.Reason == c.Reason {
		return
	}
	if current != nil && current.Status == c.Status {
		c.LastTransitionTime = current.LastTransitionTime
	}
	removeDeploymentCondition(st, c.Type)
	st.Conditions = append(st.Conditions, c)
}

func removeDeploymentCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	st.Conditions = slices.DeleteFunc(st.Conditions, func(c appsv1.DeploymentCondition) bool { return c.Type == t })
	if len(st.Conditions) == 0 {
		st.Conditions = nil
	}
}
