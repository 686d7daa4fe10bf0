package controllermanager

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// The Job controller: a Job runs pods until enough of them have
// succeeded (spec.completions, at most spec.parallelism at a time), or
// gives up: too many failures (spec.backoffLimit), or too long
// (spec.activeDeadlineSeconds). Where a ReplicaSet replaces every pod that
// stops, a Job replaces only the failed ones, and counts.
//
// Counting is the hard part. A finished pod may be deleted at any moment
// (by the pod garbage collector, by a user, by a node going away), and
// a count made by listing pods would then go down. So every pod of a Job
// is created with the finalizer batch.kubernetes.io/job-tracking: the
// apiserver keeps a pod that has it, even "deleted", until the controller
// removes it, and the controller removes it only once it has written the
// pod down. Writing down takes two status writes, so that a crash in
// between never counts a pod twice nor loses it:
//
//  1. add the finished pod's UID to status.uncountedTerminatedPods
//     (succeeded or failed) and write the status;
//  2. remove the pod's finalizer;
//  3. move the UIDs whose finalizer is gone from uncountedTerminatedPods
//     to the counters status.succeeded and status.failed, and write again.
//
// A Job finishes in two steps too: an interim condition when the outcome
// is known (SuccessCriteriaMet, or FailureTarget), then the terminal one
// (Complete, or Failed) once no pod is left terminating and every pod is
// counted. kubectl wait --for=condition=complete waits for the second.
//
// Reference: kubernetes/pkg/controller/job/job_controller.go;
// https://kubernetes.io/docs/concepts/workloads/controllers/job/.

// Job pod labels, annotations and the finalizer, as Kubernetes names them.
const (
	// JobTrackingFinalizer keeps a finished pod until the Job counted it.
	JobTrackingFinalizer = batchv1.JobTrackingFinalizer
	// JobCompletionIndexAnnotation is an Indexed Job pod's index (also a
	// label, so that pods can be selected by index).
	JobCompletionIndexAnnotation = batchv1.JobCompletionIndexAnnotation
	// JobCompletionIndexEnv is the environment variable a pod of an
	// Indexed Job reads its index from.
	JobCompletionIndexEnv = "JOB_COMPLETION_INDEX"
)

// Back-off between failed pods: a Job whose pods keep failing makes the
// next one after 10 s, then 20 s, 40 s... at most 6 minutes (reset by a
// success). Kubernetes' DefaultJobPodFailureBackOff and
// MaxJobPodFailureBackOff.
const (
	DefaultJobPodFailureBackOff = 10 * time.Second
	MaxJobPodFailureBackOff     = 360 * time.Second
)

// MaxUncountedPods caps how many UIDs one sync puts in
// status.uncountedTerminatedPods, so that the status stays small and a big
// Job does not starve the others (Kubernetes: 500).
const MaxUncountedPods = 500

// Condition messages and reasons, as Kubernetes writes them.
const (
	jobMsgBackoffLimit       = "Job has reached the specified backoff limit"
	jobMsgDeadline           = "Job was active longer than specified deadline"
	jobMsgCompletionsReached = "Reached expected number of succeeded pods"
)

var jobKind = batchv1.SchemeGroupVersion.WithKind("Job")

// jobController is the Job controller.
type jobController struct {
	client kubernetes.Interface
	jobs   batchlisters.JobLister
	pods   corelisters.PodLister
	queue  workqueue.TypedRateLimitingInterface[string]
	// orphans are pods ("namespace/name") that still have the tracking
	// finalizer but whose Job is gone or finished: nobody else will ever
	// remove it, so this controller does.
	orphans      workqueue.TypedRateLimitingInterface[string]
	expectations *expectations
	finalizers   *jobFinalizerExpectations
	backoff      *jobBackoffStore
	recorder     record.EventRecorder
	clock        clock.Clock
	// backoffBase and backoffMax are the failed-pod back-off (tests
	// shorten them).
	backoffBase, backoffMax time.Duration
	synced                  []cache.InformerSynced
}

// newJobController is the Job controller.
func newJobController(c *Context) (Controller, error) {
	jobInformer := c.Informers.Batch().V1().Jobs()
	podInformer := c.Informers.Core().V1().Pods()
	clk := clock.RealClock{}
	jc := &jobController{
		client:       c.Client,
		jobs:         jobInformer.Lister(),
		pods:         podInformer.Lister(),
		queue:        newQueue[string]("job-controller"),
		orphans:      newQueue[string]("job-orphan-pod"),
		expectations: newExpectations(clk.Now),
		finalizers:   &jobFinalizerExpectations{byKey: map[string]map[types.UID]bool{}},
		backoff:      &jobBackoffStore{byKey: map[string]jobBackoffRecord{}},
		recorder:     c.Recorder("job-controller"),
		clock:        clk,
		backoffBase:  DefaultJobPodFailureBackOff,
		backoffMax:   MaxJobPodFailureBackOff,
		synced:       []cache.InformerSynced{jobInformer.Informer().HasSynced, podInformer.Informer().HasSynced},
	}
	jobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    jc.enqueue,
		UpdateFunc: func(_, cur any) { jc.enqueue(cur) },
		DeleteFunc: jc.deleteJob,
	})
	podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    jc.addPod,
		UpdateFunc: jc.updatePod,
		DeleteFunc: jc.deletePod,
	})
	return jc, nil
}

// Run runs the Job workers, and one worker for orphan pods, until ctx is
// done.
func (jc *jobController) Run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runWorkers(ctx, "job-orphan-pod", jc.orphans, 1, jc.synced, jc.syncOrphanPod)
	}()
	runWorkers(ctx, "job-controller", jc.queue, workers, jc.synced, jc.syncHandler)
	wg.Wait()
}

func (jc *jobController) enqueue(obj any) { addKey(jc.queue, obj) }

func (jc *jobController) deleteJob(obj any) {
	job, ok := untomb(obj).(*batchv1.Job)
	if !ok {
		return
	}
	key := job.Namespace + "/" + job.Name
	jc.expectations.Delete(key)
	jc.finalizers.forget(key)
	jc.backoff.forget(key)
	// Its pods are going with it (the garbage collector deletes them),
	// but the finalizer would keep them forever: let them go.
	pods, _ := jc.pods.Pods(job.Namespace).List(labels.Everything())
	for _, p := range pods {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == job.UID && hasJobTrackingFinalizer(p) {
			jc.orphans.Add(p.Namespace + "/" + p.Name)
		}
	}
}

// jobOf returns the Job a pod's controller reference names, if it is a
// Job in the cache with the same UID.
func (jc *jobController) jobOf(pod *corev1.Pod) *batchv1.Job {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "Job" || !strings.HasPrefix(ref.APIVersion, "batch/") {
		return nil
	}
	job, err := jc.jobs.Jobs(pod.Namespace).Get(ref.Name)
	if err != nil || job.UID != ref.UID {
		return nil
	}
	return job
}

// ownedByAJob reports whether pod's controller is a Job (which may be
// gone).
func ownedByAJob(pod *corev1.Pod) bool {
	ref := metav1.GetControllerOf(pod)
	return ref != nil && ref.Kind == "Job" && strings.HasPrefix(ref.APIVersion, "batch/")
}

// checkOrphan queues pod for finalizer removal if its Job cannot do it.
func (jc *jobController) checkOrphan(pod *corev1.Pod) {
	if !hasJobTrackingFinalizer(pod) || !ownedByAJob(pod) {
		return
	}
	if job := jc.jobOf(pod); job == nil || jobFinished(job) {
		jc.orphans.Add(pod.Namespace + "/" + pod.Name)
	}
}

func (jc *jobController) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	jc.checkOrphan(pod)
	job := jc.jobOf(pod)
	if job == nil {
		return
	}
	key := job.Namespace + "/" + job.Name
	if pod.DeletionTimestamp != nil {
		jc.expectations.DeletionObserved(key, pod.Namespace+"/"+pod.Name)
	} else {
		jc.expectations.CreationObserved(key)
	}
	jc.queue.Add(key)
}

func (jc *jobController) updatePod(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return // a resync: nothing changed
	}
	jc.checkOrphan(cur)
	if oldJob := jc.jobOf(old); oldJob != nil {
		key := oldJob.Namespace + "/" + oldJob.Name
		if hasJobTrackingFinalizer(old) && !hasJobTrackingFinalizer(cur) {
			jc.finalizers.observed(key, cur.UID)
		}
		jc.queue.Add(key)
	}
	job := jc.jobOf(cur)
	if job == nil {
		return
	}
	key := job.Namespace + "/" + job.Name
	if cur.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		jc.expectations.DeletionObserved(key, cur.Namespace+"/"+cur.Name)
	}
	jc.queue.Add(key)
}

func (jc *jobController) deletePod(obj any) {
	pod, ok := untomb(obj).(*corev1.Pod)
	if !ok {
		return
	}
	job := jc.jobOf(pod)
	if job == nil {
		return
	}
	key := job.Namespace + "/" + job.Name
	jc.expectations.DeletionObserved(key, pod.Namespace+"/"+pod.Name)
	jc.finalizers.observed(key, pod.UID)
	jc.queue.Add(key)
}

// syncOrphanPod removes the tracking finalizer from a pod whose Job is
// gone or finished.
func (jc *jobController) syncOrphanPod(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := jc.pods.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) || (err == nil && !hasJobTrackingFinalizer(pod)) {
		return nil
	}
	if err != nil {
		return err
	}
	if job := jc.jobOf(pod); job != nil && !jobFinished(job) {
		return nil // its Job is alive: it counts the pod and lets it go
	}
	return jc.removeFinalizer(ctx, pod)
}

func (jc *jobController) removeFinalizer(ctx context.Context, pod *corev1.Pod) error {
	patch := removeJobTrackingFinalizerPatch(pod)
	if patch == nil {
		return nil
	}
	_, err := jc.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// syncHandler compares the actual state with the desired, and attempts to
// converge the two: the pods of Job key, and its status.
func (jc *jobController) syncHandler(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // a bad key will never work: drop it
	}
	cached, err := jc.jobs.Jobs(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		jc.expectations.Delete(key)
		jc.finalizers.forget(key)
		jc.backoff.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	job := cached.DeepCopy()
	all, err := jc.pods.Pods(namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	var pods []*corev1.Pod
	for _, p := range all {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == job.UID {
			pods = append(pods, p)
		}
	}
	if jobFinished(job) {
		// Done: nothing to run. Pods still holding the finalizer (made
		// before the end was seen) are let go by the orphan worker.
		for _, p := range pods {
			if hasJobTrackingFinalizer(p) {
				jc.orphans.Add(p.Namespace + "/" + p.Name)
			}
		}
		return nil
	}
	if job.Spec.CompletionMode != nil && *job.Spec.CompletionMode != batchv1.NonIndexedCompletion && *job.Spec.CompletionMode != batchv1.IndexedCompletion {
		return nil // a mode this controller does not know: leave the Job alone, as Kubernetes does
	}

	// Read the expectations before using the pod list (as the ReplicaSet
	// controller does): a pod that shows up in between is in the list.
	satisfied := jc.expectations.Satisfied(key)
	now := jc.clock.Now()
	st := newJobSyncState(job, pods, jc.finalizers.get(key), now)
	st.backoff = nextJobBackoff(jc.backoff.get(key), st.newSucceeded, st.newFailed, now)

	if job.Status.StartTime == nil && !jobSuspended(job) {
		start := metav1.NewTime(now)
		job.Status.StartTime = &start
	}
	if st.finishedCondition == nil {
		st.finishedCondition = jobFailureCondition(job, st, now)
		if st.finishedCondition == nil && job.Spec.ActiveDeadlineSeconds != nil && !jobSuspended(job) {
			// Look again when the deadline passes.
			left := time.Duration(*job.Spec.ActiveDeadlineSeconds)*time.Second - now.Sub(job.Status.StartTime.Time)
			jc.queue.AddAfter(key, left)
		}
	}

	var manageErr error
	suspendChanged := false
	if st.finishedCondition != nil {
		// Decided: stop the pods still running (their finalizers come
		// off below; they are counted as failed if it failed).
		deleted, err := jc.deletePods(ctx, key, job, st.active)
		if deleted != len(st.active) || !satisfied {
			// Not every pod is on its way out, or pods may exist that the
			// cache does not show yet: do not declare the end yet.
			st.finishedCondition = nil
		}
		st.terminating += int32(deleted)
		st.active = st.active[deleted:]
		manageErr = err
	} else {
		managed := false
		if satisfied && job.DeletionTimestamp == nil {
			manageErr = jc.manageJob(ctx, key, job, st)
			managed = true
		}
		if jobSucceeded(job, st) {
			st.finishedCondition = newJobCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, jobMsgCompletionsReached, now)
		} else if managed {
			suspendChanged = jc.updateSuspendCondition(job, now)
		}
	}
	job.Status.Active = int32(len(st.active)) + st.created
	job.Status.Ready = &st.ready
	job.Status.Terminating = &st.terminating
	if err := jc.trackStatus(ctx, key, job, cached, st, suspendChanged, now); err != nil {
		return fmt.Errorf("tracking status: %w", err)
	}
	return manageErr
}

// manageJob creates or deletes pods so that the right number run. It
// updates st.active (pods deleted come off) and st.created.
func (jc *jobController) manageJob(ctx context.Context, key string, job *batchv1.Job, st *jobSyncState) error {
	if jobSuspended(job) {
		n, err := jc.deletePods(ctx, key, job, st.active)
		st.terminating += int32(n)
		st.active = st.active[n:]
		return err
	}
	want := jobWantActive(job, st)
	if extra := len(st.active) - int(want); extra > 0 {
		victims := podsToDelete(st.active, min(extra, BurstReplicas))
		n, err := jc.deletePods(ctx, key, job, victims)
		st.terminating += int32(n)
		st.active = slices.DeleteFunc(slices.Clone(st.active), func(p *corev1.Pod) bool { return slices.Contains(victims[:n], p) })
		return err
	}
	diff := int(want) - len(st.active)
	if job.Spec.PodReplacementPolicy != nil && *job.Spec.PodReplacementPolicy == batchv1.Failed {
		diff -= int(st.terminating) // replaced only once they have failed for good
	}
	if diff <= 0 {
		return nil
	}
	if wait := st.backoff.remaining(jc.backoffBase, jc.backoffMax, jc.clock.Now()); wait > 0 {
		// Pods failed lately: wait before making the next.
		jc.queue.AddAfter(key, wait)
		return nil
	}
	diff = min(diff, BurstReplicas)
	var indexes []int
	if isIndexedJob(job) {
		indexes = firstPendingIndexes(job, st, diff)
		diff = len(indexes)
	}
	if diff == 0 {
		return nil
	}
	jc.expectations.ExpectCreations(key, diff)
	var mu sync.Mutex
	next := 0
	created, err := slowStartBatch(diff, 1, func() error {
		index := -1
		if indexes != nil {
			mu.Lock()
			index = indexes[next]
			next++
			mu.Unlock()
		}
		return jc.createPod(ctx, job, index)
	})
	for i := created; i < diff; i++ {
		jc.expectations.CreationObserved(key) // never made: never seen
	}
	st.created = int32(created)
	return err
}

func (jc *jobController) createPod(ctx context.Context, job *batchv1.Job, index int) error {
	pod, err := jc.client.CoreV1().Pods(job.Namespace).Create(ctx, jobPod(job, index), metav1.CreateOptions{})
	switch {
	case err == nil:
		jc.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", pod.Name)
		return nil
	case apierrors.IsTimeout(err), namespaceTerminating(err):
		return nil
	}
	jc.recorder.Eventf(job, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
	return err
}

// deletePods deletes pods (keeping their finalizers: trackStatus counts
// them, then lets them go) and returns how many it deleted, in order: the
// first n of pods.
func (jc *jobController) deletePods(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod) (int, error) {
	if len(pods) == 0 {
		return 0, nil
	}
	errs := deletePods(ctx, jc.client, jc.expectations, key, pods, jc.recorder, job)
	// Count the deleted ones from the front; stop at the first failure so
	// that "the first n" holds.
	n := 0
	for n < len(pods) && errs[n] == nil {
		n++
	}
	return n, utilerrors.NewAggregate(errs)
}

// updateSuspendCondition sets Suspended to match spec.suspend and says
// whether it changed. A resumed Job starts its clock again: the
// activeDeadlineSeconds count the time the Job actually ran.
func (jc *jobController) updateSuspendCondition(job *batchv1.Job, now time.Time) bool {
	if jobSuspended(job) {
		if setJobCondition(&job.Status, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", now) {
			jc.recorder.Event(job, corev1.EventTypeNormal, "Suspended", "Job suspended")
			return true
		}
		return false
	}
	if setJobCondition(&job.Status, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", now) {
		jc.recorder.Event(job, corev1.EventTypeNormal, "Resumed", "Job resumed")
		start := metav1.NewTime(now)
		job.Status.StartTime = &start
		return true
	}
	return false
}

// trackStatus counts finished pods in three steps (the file comment
// explains why): uncounted → finalizers removed → counters. Then, if the
// Job is decided and everything is counted, it writes the terminal
// condition.
func (jc *jobController) trackStatus(ctx context.Context, key string, job, cached *batchv1.Job, st *jobSyncState, needsFlush bool, now time.Time) error {
	toRemove := planJobTracking(job, st, now)
	needsFlush = needsFlush || !apiequality.Semantic.DeepEqual(job.Status, cached.Status)

	// 1. Write the newly finished pods down as uncounted (and the interim
	// condition), before touching their finalizers.
	var err error
	if needsFlush {
		if job, err = jc.updateStatus(ctx, job); err != nil {
			return fmt.Errorf("adding uncounted pods to status: %w", err)
		}
		jc.backoff.set(key, st.backoff)
		needsFlush = false
	}
	// 2. Remove their finalizers.
	var uids []types.UID
	for _, p := range toRemove {
		uids = append(uids, p.UID)
	}
	jc.finalizers.expect(key, uids)
	errs := make([]error, len(toRemove))
	var wg sync.WaitGroup
	for i, p := range toRemove {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := jc.removeFinalizer(ctx, p); err != nil {
				jc.finalizers.observed(key, p.UID) // the informer will not show it
				errs[i] = fmt.Errorf("removing tracking finalizer of pod %s: %w", p.Name, err)
				return
			}
			delete(st.withFinalizer, p.UID)
		}()
	}
	wg.Wait()
	rmErr := utilerrors.NewAggregate(errs)
	// 3. Count the pods whose finalizer is gone.
	if countUncounted(&job.Status, st.withFinalizer) {
		needsFlush = true
	}
	if rmErr != nil {
		if needsFlush {
			if _, err := jc.updateStatus(ctx, job); err != nil {
				return fmt.Errorf("counting pods: %w", err)
			}
		}
		return rmErr
	}
	// 4. The end, if everything is counted and nothing still runs.
	finished := jobEnact(job, st, now)
	if finished || needsFlush {
		if job, err = jc.updateStatus(ctx, job); err != nil {
			return fmt.Errorf("counting pods: %w", err)
		}
	}
	if finished {
		c := st.finishedCondition
		if c.Type == batchv1.JobComplete {
			if job.Spec.Completions != nil && job.Status.Succeeded > *job.Spec.Completions {
				jc.recorder.Event(job, corev1.EventTypeWarning, "TooManySucceededPods", "Too many succeeded pods running after completion count reached")
			}
			jc.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
		} else {
			jc.recorder.Event(job, corev1.EventTypeWarning, c.Reason, c.Message)
		}
	}
	return nil
}

func (jc *jobController) updateStatus(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	// A conflict (the cache was behind) is returned: the key is requeued
	// and the next sync starts again from what is stored, which is safe
	// because every step above is idempotent.
	return jc.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
}

// ---- Expectations of the finalizers this controller removed ----

// jobFinalizerExpectations remembers, per Job, the pods whose finalizer
// removal was sent and not yet seen by the informer. Such a pod still
// shows the finalizer in the cache; without this, the next sync would
// write it down as uncounted again and count it twice.
type jobFinalizerExpectations struct {
	mu    sync.Mutex
	byKey map[string]map[types.UID]bool
}

func (e *jobFinalizerExpectations) expect(key string, uids []types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(uids) == 0 {
		return
	}
	if e.byKey[key] == nil {
		e.byKey[key] = map[types.UID]bool{}
	}
	for _, u := range uids {
		e.byKey[key][u] = true
	}
}

func (e *jobFinalizerExpectations) observed(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey[key], uid)
}

// get returns a copy of key's expected removals.
func (e *jobFinalizerExpectations) get(key string) map[types.UID]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[types.UID]bool, len(e.byKey[key]))
	for u := range e.byKey[key] {
		out[u] = true
	}
	return out
}

func (e *jobFinalizerExpectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey, key)
}

// jobBackoffStore keeps each Job's failure record between syncs.
type jobBackoffStore struct {
	mu    sync.Mutex
	byKey map[string]jobBackoffRecord
}

func (s *jobBackoffStore) get(key string) jobBackoffRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byKey[key]
}

func (s *jobBackoffStore) set(key string, r jobBackoffRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byKey[key] = r
}

func (s *jobBackoffStore) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byKey, key)
}

// ---- The pure part: no I/O below. ----

// jobSyncState is what one sync knows about a Job and its pods.
type jobSyncState struct {
	// active: pods running or pending, not being deleted.
	active []*corev1.Pod
	// terminating: pods being deleted that have not finished.
	terminating, ready int32
	// all the Job's pods
	pods []*corev1.Pod
	// withFinalizer: UIDs of pods that still hold the tracking finalizer
	// (and whose removal is not already in flight).
	withFinalizer map[types.UID]bool
	// expectedRm: UIDs whose finalizer removal is in flight.
	expectedRm map[types.UID]bool
	// newSucceeded, newFailed: finished pods not counted yet in any way.
	newSucceeded, newFailed []*corev1.Pod
	// succeeded, failed: the counts including the uncounted and new ones.
	succeeded, failed int32
	// created: pods created by this sync (not in active: the cache has
	// not shown them yet).
	created int32
	// succeededIndexes: an Indexed Job's completed indexes.
	succeededIndexes []int
	// finishedCondition: the terminal condition to write once everything
	// is counted (Complete or Failed), or the interim one
	// (SuccessCriteriaMet, FailureTarget) that leads to it.
	finishedCondition *batchv1.JobCondition
	backoff           jobBackoffRecord
}

// newJobSyncState sorts a Job's pods and counts them.
func newJobSyncState(job *batchv1.Job, pods []*corev1.Pod, expectedRm map[types.UID]bool, now time.Time) *jobSyncState {
	st := &jobSyncState{pods: pods, withFinalizer: map[types.UID]bool{}, expectedRm: expectedRm}
	uncounted := job.Status.UncountedTerminatedPods
	if uncounted == nil {
		uncounted = &batchv1.UncountedTerminatedPods{}
	}
	for _, p := range pods {
		finished := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
		switch {
		case !finished && p.DeletionTimestamp == nil:
			st.active = append(st.active, p)
			if podReady(p) {
				st.ready++
			}
		case !finished:
			st.terminating++
		}
		if !hasJobTrackingFinalizer(p) || expectedRm[p.UID] {
			continue // counted already, or being counted
		}
		st.withFinalizer[p.UID] = true
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !slices.Contains(uncounted.Succeeded, p.UID) && !slices.Contains(uncounted.Failed, p.UID):
			st.newSucceeded = append(st.newSucceeded, p)
		case isJobPodFailed(job, p) && !slices.Contains(uncounted.Failed, p.UID) && !slices.Contains(uncounted.Succeeded, p.UID):
			st.newFailed = append(st.newFailed, p)
		}
	}
	st.succeeded = job.Status.Succeeded + int32(len(uncounted.Succeeded)+len(st.newSucceeded))
	st.failed = job.Status.Failed + int32(len(uncounted.Failed)+len(st.newFailed))
	if isIndexedJob(job) {
		st.succeededIndexes = jobSucceededIndexes(job, pods)
		st.succeeded = int32(len(st.succeededIndexes))
	}
	// A decision taken by an earlier sync stands.
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobFailureTarget:
			st.finishedCondition = newJobCondition(batchv1.JobFailed, c.Reason, c.Message, now)
		case batchv1.JobSuccessCriteriaMet:
			st.finishedCondition = newJobCondition(batchv1.JobComplete, c.Reason, c.Message, now)
		}
	}
	return st
}

// isJobPodFailed: a pod counts as failed when it is Failed, or when it is
// being deleted before it succeeded (a pod deleted on a dead node never
// gets to say Failed) unless the Job replaces only failed pods.
func isJobPodFailed(job *batchv1.Job, p *corev1.Pod) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	if job.Spec.PodReplacementPolicy != nil && *job.Spec.PodReplacementPolicy == batchv1.Failed {
		return false
	}
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded
}

// jobFailureCondition is the FailureTarget condition if the Job has
// failed: more failures than spec.backoffLimit (for restartPolicy
// OnFailure, container restarts count as failures), or running longer
// than spec.activeDeadlineSeconds. Otherwise nil.
func jobFailureCondition(job *batchv1.Job, st *jobSyncState, now time.Time) *batchv1.JobCondition {
	limit := int32(6)
	if job.Spec.BackoffLimit != nil {
		limit = *job.Spec.BackoffLimit
	}
	if st.failed > limit || pastBackoffLimitOnFailure(job, st.active, limit) {
		return newJobCondition(batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded, jobMsgBackoffLimit, now)
	}
	if ads := job.Spec.ActiveDeadlineSeconds; ads != nil && job.Status.StartTime != nil && !jobSuspended(job) &&
		now.Sub(job.Status.StartTime.Time) >= time.Duration(*ads)*time.Second {
		return newJobCondition(batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, jobMsgDeadline, now)
	}
	return nil
}

// pastBackoffLimitOnFailure: with restartPolicy OnFailure a failing
// container is restarted in place and the pod never fails; its restarts
// count against the limit instead.
func pastBackoffLimitOnFailure(job *batchv1.Job, active []*corev1.Pod, limit int32) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var n int32
	for _, p := range active {
		for _, c := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
			n += c.RestartCount
		}
	}
	if limit == 0 {
		return n > 0
	}
	return n >= limit
}

// jobSucceeded: enough pods succeeded and none still runs. Without
// spec.completions (a work queue) the first success is enough, once the
// others have stopped.
func jobSucceeded(job *batchv1.Job, st *jobSyncState) bool {
	if len(st.active) > 0 {
		return false
	}
	if job.Spec.Completions == nil {
		return st.succeeded > 0
	}
	return st.succeeded >= *job.Spec.Completions
}

// jobWantActive is how many pods should run now: parallelism, but never
// more than the completions still missing.
func jobWantActive(job *batchv1.Job, st *jobSyncState) int32 {
	parallelism := int32(1)
	if job.Spec.Parallelism != nil {
		parallelism = *job.Spec.Parallelism
	}
	if job.Spec.Completions == nil {
		if st.succeeded > 0 {
			return int32(len(st.active)) // one succeeded: let the rest finish, start no more
		}
		return parallelism
	}
	return max(0, min(parallelism, *job.Spec.Completions-st.succeeded))
}

// planJobTracking does step 1 of the counting on job.Status: it adds the
// newly finished pods to uncountedTerminatedPods (or, for an Indexed Job,
// their index to completedIndexes), adds the interim condition if the Job
// is decided, and returns the pods whose finalizer may come off.
func planJobTracking(job *batchv1.Job, st *jobSyncState, now time.Time) []*corev1.Pod {
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	uncounted := job.Status.UncountedTerminatedPods
	// Pods counted by an earlier sync whose finalizer is already gone.
	countUncounted(&job.Status, st.withFinalizer)
	failing := st.finishedCondition != nil && (st.finishedCondition.Type == batchv1.JobFailureTarget || st.finishedCondition.Type == batchv1.JobFailed)
	var toRemove []*corev1.Pod
	for _, p := range st.pods {
		if !st.withFinalizer[p.UID] {
			continue
		}
		failed := isJobPodFailed(job, p)
		// A pod's finalizer comes off once it is finished, or when the
		// Job is decided or deleted (then every pod is let go).
		if !(job.DeletionTimestamp != nil || st.finishedCondition != nil || p.Status.Phase == corev1.PodSucceeded || failed) {
			continue
		}
		toRemove = append(toRemove, p)
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !slices.Contains(uncounted.Failed, p.UID):
			if !isIndexedJob(job) && !slices.Contains(uncounted.Succeeded, p.UID) {
				uncounted.Succeeded = append(uncounted.Succeeded, p.UID)
			}
		case failed || failing:
			// When the Job has failed, a pod still running is a failure.
			if !slices.Contains(uncounted.Failed, p.UID) {
				uncounted.Failed = append(uncounted.Failed, p.UID)
			}
		}
		if len(uncounted.Succeeded)+len(uncounted.Failed) >= MaxUncountedPods {
			break // the rest next sync
		}
	}
	if isIndexedJob(job) {
		job.Status.CompletedIndexes = formatIndexes(st.succeededIndexes)
		job.Status.Succeeded = int32(len(st.succeededIndexes))
	}
	// The interim condition goes in with step 1; the terminal one comes
	// after, once everything is counted (jobEnact).
	if c := st.finishedCondition; c != nil {
		switch c.Type {
		case batchv1.JobFailureTarget:
			setJobCondition(&job.Status, c.Type, corev1.ConditionTrue, c.Reason, c.Message, now)
			st.finishedCondition = newJobCondition(batchv1.JobFailed, c.Reason, c.Message, now)
		case batchv1.JobSuccessCriteriaMet:
			setJobCondition(&job.Status, c.Type, corev1.ConditionTrue, c.Reason, c.Message, now)
			st.finishedCondition = newJobCondition(batchv1.JobComplete, c.Reason, c.Message, now)
		}
	}
	return toRemove
}

// countUncounted is step 3: the UIDs in uncountedTerminatedPods whose pod
// no longer holds the finalizer move to the counters. It reports whether
// anything moved.
func countUncounted(status *batchv1.JobStatus, withFinalizer map[types.UID]bool) bool {
	u := status.UncountedTerminatedPods
	if u == nil {
		return false
	}
	keep := func(uids []types.UID) []types.UID {
		var out []types.UID
		for _, uid := range uids {
			if withFinalizer[uid] {
				out = append(out, uid)
			}
		}
		return out
	}
	s, f := keep(u.Succeeded), keep(u.Failed)
	moved := len(s) != len(u.Succeeded) || len(f) != len(u.Failed)
	status.Succeeded += int32(len(u.Succeeded) - len(s))
	status.Failed += int32(len(u.Failed) - len(f))
	u.Succeeded, u.Failed = s, f
	return moved
}

// jobEnact writes the terminal condition (Complete with completionTime,
// or Failed) if the Job is decided, every pod is counted and none is
// still terminating. It reports whether it did.
func jobEnact(job *batchv1.Job, st *jobSyncState, now time.Time) bool {
	c := st.finishedCondition
	if c == nil || (c.Type != batchv1.JobComplete && c.Type != batchv1.JobFailed) {
		return false
	}
	if u := job.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		return false
	}
	if st.terminating > 0 {
		return false
	}
	setJobCondition(&job.Status, c.Type, corev1.ConditionTrue, c.Reason, c.Message, now)
	if c.Type == batchv1.JobComplete {
		t := metav1.NewTime(now)
		job.Status.CompletionTime = &t
	}
	return true
}

func newJobCondition(t batchv1.JobConditionType, reason, message string, now time.Time) *batchv1.JobCondition {
	return &batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message,
		LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)}
}

// setJobCondition sets a condition of the given type and says whether
// anything changed. The transition time moves only when the status does.
func setJobCondition(st *batchv1.JobStatus, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) bool {
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status == status && c.Reason == reason && c.Message == message {
			return false
		}
		if c.Status != status {
			c.LastTransitionTime = metav1.NewTime(now)
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = status, reason, message, metav1.NewTime(now)
		return true
	}
	if status == corev1.ConditionFalse && t == batchv1.JobSuspended {
		return false // never suspended: no condition to say it resumed
	}
	st.Conditions = append(st.Conditions, *newJobCondition(t, reason, message, now))
	st.Conditions[len(st.Conditions)-1].Status = status
	return true
}

// jobFinished: the Job has its terminal condition.
func jobFinished(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func jobSuspended(job *batchv1.Job) bool { return job.Spec.Suspend != nil && *job.Spec.Suspend }

func isIndexedJob(job *batchv1.Job) bool {
	return job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
}

func hasJobTrackingFinalizer(p *corev1.Pod) bool {
	return slices.Contains(p.Finalizers, JobTrackingFinalizer)
}

// removeJobTrackingFinalizerPatch is a strategic merge patch taking the
// finalizer off pod (nil if it has none). The pod's uid is a
// precondition, as in adoptPatch.
func removeJobTrackingFinalizerPatch(pod *corev1.Pod) []byte {
	if !hasJobTrackingFinalizer(pod) {
		return nil
	}
	patch := map[string]any{"metadata": map[string]any{
		"$deleteFromPrimitiveList/finalizers": []string{JobTrackingFinalizer},
		"uid":                                 pod.UID,
	}}
	data, _ := json.Marshal(patch)
	return data
}

// jobPod is a new pod of job: its template, the Job as controller, the
// tracking finalizer; for an Indexed Job (index ≥ 0) also the index as an
// annotation, a label, the hostname "<job>-<index>" and the environment
// variable JOB_COMPLETION_INDEX.
func jobPod(job *batchv1.Job, index int) *corev1.Pod {
	generateName := job.Name + "-"
	if index >= 0 {
		generateName = fmt.Sprintf("%s-%d-", job.Name, index)
	}
	pod := podFromTemplate(&job.Spec.Template, job, jobKind, generateName)
	if !hasJobTrackingFinalizer(pod) {
		pod.Finalizers = append(pod.Finalizers, JobTrackingFinalizer)
	}
	if index < 0 {
		return pod
	}
	ix := strconv.Itoa(index)
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[JobCompletionIndexAnnotation] = ix
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[JobCompletionIndexAnnotation] = ix
	if pod.Spec.Hostname == "" {
		pod.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, index)
	}
	env := corev1.EnvVar{Name: JobCompletionIndexEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
		FieldPath: fmt.Sprintf("metadata.annotations['%s']", JobCompletionIndexAnnotation)}}}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if !slices.ContainsFunc(cs[i].Env, func(e corev1.EnvVar) bool { return e.Name == JobCompletionIndexEnv }) {
				cs[i].Env = append(cs[i].Env, env)
			}
		}
	}
	return pod
}

// completionIndex is a pod's index, or -1 if it has none or a bad one.
func completionIndex(p *corev1.Pod, completions int32) int {
	v, ok := p.Annotations[JobCompletionIndexAnnotation]
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n >= int(completions) {
		return -1
	}
	return n
}

// jobSucceededIndexes is an Indexed Job's completed indexes, sorted:
// those in status.completedIndexes and those of its succeeded pods.
func jobSucceededIndexes(job *batchv1.Job, pods []*corev1.Pod) []int {
	completions := int32(0)
	if job.Spec.Completions != nil {
		completions = *job.Spec.Completions
	}
	set := map[int]bool{}
	for _, ix := range parseIndexes(job.Status.CompletedIndexes, int(completions)) {
		set[ix] = true
	}
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded {
			if ix := completionIndex(p, completions); ix >= 0 {
				set[ix] = true
			}
		}
	}
	out := make([]int, 0, len(set))
	for ix := range set {
		out = append(out, ix)
	}
	sort.Ints(out)
	return out
}

// firstPendingIndexes returns up to n indexes, lowest first, that neither
// succeeded nor have an active pod.
func firstPendingIndexes(job *batchv1.Job, st *jobSyncState, n int) []int {
	taken := map[int]bool{}
	for _, ix := range st.succeededIndexes {
		taken[ix] = true
	}
	for _, p := range st.active {
		if ix := completionIndex(p, *job.Spec.Completions); ix >= 0 {
			taken[ix] = true
		}
	}
	out := []int{}
	for ix := 0; ix < int(*job.Spec.Completions) && len(out) < n; ix++ {
		if !taken[ix] {
			out = append(out, ix)
		}
	}
	return out
}

// formatIndexes writes sorted indexes as Kubernetes does in
// status.completedIndexes: runs as "first-last", separated by commas
// ("1,3-5").
func formatIndexes(ixs []int) string {
	var b strings.Builder
	for i := 0; i < len(ixs); {
		j := i
		for j+1 < len(ixs) && ixs[j+1] == ixs[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(ixs[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(ixs[j]))
		}
		i = j + 1
	}
	return b.String()
}

// parseIndexes reads formatIndexes' form, ignoring what is out of
// [0, completions) or malformed.
func parseIndexes(s string, completions int) []int {
	var out []int
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		first, last, found := strings.Cut(part, "-")
		a, err := strconv.Atoi(first)
		if err != nil {
			continue
		}
		b := a
		if found {
			if b, err = strconv.Atoi(last); err != nil {
				continue
			}
		}
		for ix := max(a, 0); ix <= b && ix < completions; ix++ {
			out = append(out, ix)
		}
	}
	return out
}

// jobBackoffRecord is a Job's failures since its last success: how many,
// and when the last one was.
type jobBackoffRecord struct {
	failuresAfterLastSuccess int
	lastFailure              time.Time
}

// nextJobBackoff updates a record with the pods that finished since: a
// success starts the count again from the failures after it.
func nextJobBackoff(r jobBackoffRecord, succeeded, failed []*corev1.Pod, now time.Time) jobBackoffRecord {
	if len(succeeded) == 0 && len(failed) == 0 {
		return r
	}
	var lastSuccess time.Time
	for _, p := range succeeded {
		if t := podFinishTime(p, now); t.After(lastSuccess) {
			lastSuccess = t
		}
	}
	if !lastSuccess.IsZero() {
		r = jobBackoffRecord{}
	}
	for _, p := range failed {
		t := podFinishTime(p, now)
		if !lastSuccess.IsZero() && !t.After(lastSuccess) {
			continue
		}
		r.failuresAfterLastSuccess++
		if t.After(r.lastFailure) {
			r.lastFailure = t
		}
	}
	return r
}

// remaining is how long to wait before making the next pod: base, doubled
// for each failure after the first, at most max, counted from the last
// failure.
func (r jobBackoffRecord) remaining(base, maxDelay time.Duration, now time.Time) time.Duration {
	if r.failuresAfterLastSuccess == 0 {
		return 0
	}
	d := float64(base) * math.Pow(2, float64(r.failuresAfterLastSuccess-1))
	delay := time.Duration(min(d, float64(maxDelay)))
	return max(0, r.lastFailure.Add(delay).Sub(now))
}

// podFinishTime is when a pod's last container stopped (or it was
// deleted); now if the pod does not say.
func podFinishTime(p *corev1.Pod, now time.Time) time.Time {
	var t time.Time
	for _, c := range p.Status.ContainerStatuses {
		if term := c.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if t.IsZero() && p.DeletionTimestamp != nil {
		t = p.DeletionTimestamp.Time
	}
	if t.IsZero() {
		t = now
	}
	return t
}
