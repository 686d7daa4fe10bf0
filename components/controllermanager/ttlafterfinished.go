package controllermanager

import (
	"context"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// The TTL-after-finished controller: a finished Job (Complete or Failed)
// with spec.ttlSecondsAfterFinished is deleted that many seconds after it
// finished, with its pods (foreground: the pods go first). Without it,
// finished Jobs and their pods pile up until someone deletes them (or, for
// a CronJob's Jobs, its history limits do).
//
// Reference: kubernetes/pkg/controller/ttlafterfinished;
// https://kubernetes.io/docs/concepts/workloads/controllers/ttlafterfinished/.

type ttlAfterFinishedController struct {
	client kubernetes.Interface
	jobs   batchlisters.JobLister
	queue  workqueue.TypedRateLimitingInterface[string]
	clock  clock.Clock
	synced []cache.InformerSynced
}

func newTTLAfterFinishedController(c *Context) (Controller, error) {
	informer := c.Informers.Batch().V1().Jobs()
	tc := &ttlAfterFinishedController{
		client: c.Client, jobs: informer.Lister(),
		queue:  newQueue[string]("ttl-after-finished-controller"),
		clock:  clock.RealClock{},
		synced: []cache.InformerSynced{informer.Informer().HasSynced},
	}
	enqueue := func(obj any) {
		// Only finished Jobs with a TTL concern this controller.
		if job, ok := obj.(*batchv1.Job); ok && job.Spec.TTLSecondsAfterFinished != nil && jobFinished(job) && job.DeletionTimestamp == nil {
			if key, ok := keyOf(job); ok {
				tc.queue.Add(key)
			}
		}
	}
	informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, cur any) { enqueue(cur) },
	})
	return tc, nil
}

// Run runs the workers until ctx is done.
func (tc *ttlAfterFinishedController) Run(ctx context.Context, workers int) {
	runWorkers(ctx, "ttl-after-finished-controller", tc.queue, workers, tc.synced, tc.syncHandler)
}

// syncHandler deletes Job key if its time is up, or looks again when it
// will be.
func (tc *ttlAfterFinishedController) syncHandler(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	job, err := tc.jobs.Jobs(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	left, expired := jobTTLLeft(job, tc.clock.Now())
	if !expired {
		if left > 0 {
			tc.queue.AddAfter(key, left)
		}
		return nil
	}
	// The cache may be old: someone may have changed the TTL since.
	// Check the stored Job before deleting it.
	fresh, err := tc.client.BatchV1().Jobs(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if left, expired = jobTTLLeft(fresh, tc.clock.Now()); !expired {
		if left > 0 {
			tc.queue.AddAfter(key, left)
		}
		return nil
	}
	policy := metav1.DeletePropagationForeground
	err = tc.client.BatchV1().Jobs(namespace).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		// Only this Job: not another one made since with the same name.
		Preconditions: &metav1.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion},
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		logf("ttl-after-finished-controller", "deleted Job %s: finished more than %ds ago", key, *fresh.Spec.TTLSecondsAfterFinished)
	}
	return err
}

// jobTTLLeft says how long until job's TTL after finishing runs out, or
// that it has (expired). A Job without a TTL, not finished, or already
// being deleted never expires (left 0, expired false).
func jobTTLLeft(job *batchv1.Job, now time.Time) (left time.Duration, expired bool) {
	if job.Spec.TTLSecondsAfterFinished == nil || job.DeletionTimestamp != nil {
		return 0, false
	}
	var finishedAt time.Time
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			finishedAt = c.LastTransitionTime.Time
		}
	}
	if finishedAt.IsZero() {
		return 0, false
	}
	if job.Status.CompletionTime != nil {
		finishedAt = job.Status.CompletionTime.Time
	}
	expireAt := finishedAt.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second)
	if !now.Before(expireAt) {
		return 0, true
	}
	return expireAt.Sub(now), false
}
