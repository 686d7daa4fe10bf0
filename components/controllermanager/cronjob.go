package controllermanager

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// The CronJob controller: a CronJob makes a Job from spec.jobTemplate at
// each time its spec.schedule names ("*/5 * * * *": every five minutes,
// in cron's five fields minute hour day-of-month month day-of-week, or
// @hourly, @daily...; in spec.timeZone, else the controller-manager's).
//
// It does not run a timer per CronJob. A sync looks at the clock: what
// was the most recent scheduled time, and has a Job been made for it?
// Then it asks its queue to sync the CronJob again at the next scheduled
// time. A controller-manager that was down for a while therefore catches
// up with the one most recent missed time (not all of them), unless
// spec.startingDeadlineSeconds says it is too late.
//
// The Job for a scheduled time is named "<cronjob>-<minutes since
// 1970>": two syncs (or two controller-managers) can never make two Jobs
// for one time, since the second create fails with AlreadyExists.
//
// Reference: kubernetes/pkg/controller/cronjob/cronjob_controllerv2.go,
// utils.go; https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/.

// CronJobScheduledTimestampAnnotation is the scheduled time a CronJob's
// Job was made for (RFC 3339, in the CronJob's time zone).
const CronJobScheduledTimestampAnnotation = batchv1.CronJobScheduledTimestampAnnotation

// cronJobMaxMissed is how many missed times make a TooManyMissedTimes
// warning.
const cronJobMaxMissed = 100

var cronJobKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

type cronJobController struct {
	client   kubernetes.Interface
	cronJobs batchlisters.CronJobLister
	jobs     batchlisters.JobLister
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
	clock    clock.Clock
	synced   []cache.InformerSynced
}

func newCronJobController(c *Context) (Controller, error) {
	cjInformer := c.Informers.Batch().V1().CronJobs()
	jobInformer := c.Informers.Batch().V1().Jobs()
	cc := &cronJobController{
		client: c.Client, cronJobs: cjInformer.Lister(), jobs: jobInformer.Lister(),
		queue:    newQueue[string]("cronjob-controller"),
		recorder: c.Recorder("cronjob-controller"),
		clock:    clock.RealClock{},
		synced:   []cache.InformerSynced{cjInformer.Informer().HasSynced, jobInformer.Informer().HasSynced},
	}
	enqueue := func(obj any) { addKey(cc.queue, obj) }
	cjInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, cur any) { enqueue(cur) },
		DeleteFunc: enqueue,
	})
	// A Job of a CronJob changed (finished, deleted): its CronJob's
	// status and history may need updating.
	jobOwner := func(obj any) {
		job, ok := untomb(obj).(*batchv1.Job)
		if !ok {
			return
		}
		if ref := metav1.GetControllerOf(job); ref != nil && ref.Kind == "CronJob" && strings.HasPrefix(ref.APIVersion, "batch/") {
			cc.queue.Add(job.Namespace + "/" + ref.Name)
		}
	}
	jobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    jobOwner,
		UpdateFunc: func(_, cur any) { jobOwner(cur) },
		DeleteFunc: jobOwner,
	})
	return cc, nil
}

// Run runs the workers until ctx is done.
func (cc *cronJobController) Run(ctx context.Context, workers int) {
	runWorkers(ctx, "cronjob-controller", cc.queue, workers, cc.synced, cc.syncHandler)
}

// syncHandler compares the actual state with the desired, and attempts to
// converge the two: CronJob key's Jobs (the one due now, the history),
// and its status. It requeues the key for the next scheduled time.
func (cc *cronJobController) syncHandler(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := cc.cronJobs.CronJobs(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // its Jobs are the garbage collector's business
	}
	if err != nil {
		return err
	}
	cj := cached.DeepCopy()
	all, err := cc.jobs.Jobs(namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	var jobs []*batchv1.Job
	for _, j := range all {
		if ref := metav1.GetControllerOf(j); ref != nil && ref.UID == cj.UID {
			jobs = append(jobs, j)
		}
	}
	now := cc.clock.Now()

	// 1. Status from the Jobs: which still run, when one last succeeded.
	finished, missing := cronJobReconcileActive(cj, jobs)
	for _, j := range finished {
		cc.recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, condition: %v", j.Name, jobFinishedType(j))
	}
	// A Job in status.active that the cache does not show may be one just
	// made, not in the cache yet: ask the apiserver before dropping it.
	for _, ref := range missing {
		j, err := cc.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) || (err == nil && j.UID != ref.UID):
			cc.recorder.Eventf(cj, corev1.EventTypeNormal, "MissingJob", "Active job went missing: %v", ref.Name)
		case err != nil:
			return err
		default:
			cj.Status.Active = append(cj.Status.Active, ref)
		}
	}

	// 2. Make the Job that is due, if any.
	next, syncErr := cc.runSchedule(ctx, cj, jobs, now)

	// 3. Write the status, then trim the history.
	if !apiequality.Semantic.DeepEqual(cj.Status, cached.Status) {
		if _, err := cc.client.BatchV1().CronJobs(namespace).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("updating status: %w", err)
		}
	}
	if cj.DeletionTimestamp == nil {
		for _, j := range cronJobHistoryToDelete(cj, jobs) {
			policy := metav1.DeletePropagationBackground
			err := cc.client.BatchV1().Jobs(j.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &policy})
			if err != nil && !apierrors.IsNotFound(err) {
				cc.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
				return err
			}
			if err == nil {
				cc.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", j.Name)
			}
		}
	}
	if syncErr != nil {
		return syncErr
	}
	if !next.IsZero() {
		// Look again at the next scheduled time (a little after, so that
		// the clock has passed it).
		cc.queue.AddAfter(key, next.Sub(now)+100*time.Millisecond)
	}
	return nil
}

// runSchedule makes the Job due now, if one is, following the
// concurrency policy. It changes cj.Status and returns the next scheduled
// time (zero: never, or not while the CronJob is as it is).
func (cc *cronJobController) runSchedule(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, now time.Time) (time.Time, error) {
	if cj.DeletionTimestamp != nil || (cj.Spec.Suspend != nil && *cj.Spec.Suspend) {
		return time.Time{}, nil // an update (unsuspend) will sync it again
	}
	sched, bad := cronJobSchedule(cj)
	if bad != nil {
		// A bad schedule or time zone will not fix itself: say so, and
		// wait for the CronJob to change.
		cc.recorder.Eventf(cj, corev1.EventTypeWarning, bad.reason, "%s", bad.message)
		return time.Time{}, nil
	}
	next := sched.Next(now)
	scheduled, missed := cronJobMostRecentTime(cj, sched, now)
	if missed > cronJobMaxMissed {
		cc.recorder.Eventf(cj, corev1.EventTypeWarning, "TooManyMissedTimes",
			"too many missed start times: %d. Set or decrease .spec.startingDeadlineSeconds or check clock skew", missed)
	}
	if scheduled.IsZero() {
		return next, nil // nothing due since the last one
	}
	if sds := cj.Spec.StartingDeadlineSeconds; sds != nil && scheduled.Add(time.Duration(*sds)*time.Second).Before(now) {
		cc.recorder.Eventf(cj, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))
		return next, nil
	}
	name := cronJobJobName(cj.Name, scheduled)
	if slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.Name == name }) ||
		slices.ContainsFunc(jobs, func(j *batchv1.Job) bool { return j.Name == name }) {
		return next, nil // made already
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(cj.Status.Active) > 0 {
			cc.recorder.Eventf(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
			return next, nil
		}
	case batchv1.ReplaceConcurrent:
		for _, ref := range slices.Clone(cj.Status.Active) {
			policy := metav1.DeletePropagationBackground
			err := cc.client.BatchV1().Jobs(ref.Namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{PropagationPolicy: &policy})
			if err != nil && !apierrors.IsNotFound(err) {
				cc.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
				return next, err
			}
			cc.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", ref.Name)
			cj.Status.Active = slices.DeleteFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == ref.UID })
		}
	}
	job := cronJobJob(cj, scheduled, sched)
	created, err := cc.client.BatchV1().Jobs(cj.Namespace).Create(ctx, job, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		// Made by an earlier sync the cache has not shown yet (or
		// someone else's Job of that name): nothing to do.
		return next, nil
	case err != nil:
		cc.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return next, err
	}
	cc.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %v", created.Name)
	cj.Status.Active = append(cj.Status.Active, jobReference(created))
	t := metav1.NewTime(scheduled)
	cj.Status.LastScheduleTime = &t
	return next, nil
}

// ---- The pure part: no I/O below. ----

// cronJobError is a CronJob the controller cannot schedule, as an event.
type cronJobError struct{ reason, message string }

// cronJobSchedule parses spec.schedule in spec.timeZone (or a CRON_TZ=
// prefix in the schedule; the controller's own zone otherwise).
func cronJobSchedule(cj *batchv1.CronJob) (cron.Schedule, *cronJobError) {
	spec := cj.Spec.Schedule
	if tz := cj.Spec.TimeZone; tz != nil {
		if strings.Contains(spec, "TZ=") {
			return nil, &cronJobError{"UnsupportedSchedule", fmt.Sprintf("CRON_TZ or TZ used in schedule %q is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details", spec)}
		}
		if _, err := time.LoadLocation(*tz); err != nil {
			return nil, &cronJobError{"UnknownTimeZone", fmt.Sprintf("invalid timeZone: %q: %s", *tz, err)}
		}
		spec = "TZ=" + *tz + " " + spec
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, &cronJobError{"UnparseableSchedule", fmt.Sprintf("unparseable schedule: %q : %s", cj.Spec.Schedule, err)}
	}
	return sched, nil
}

// cronJobMostRecentTime is the latest scheduled time after the last one
// a Job was made for (or the CronJob's creation) and not after now: the
// Job due now. Zero if none is due. Only the most recent missed time
// counts; missed says how many there were. With startingDeadlineSeconds,
// times older than the deadline are not even looked at.
func cronJobMostRecentTime(cj *batchv1.CronJob, sched cron.Schedule, now time.Time) (time.Time, int) {
	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if sds := cj.Spec.StartingDeadlineSeconds; sds != nil {
		if limit := now.Add(-time.Duration(*sds) * time.Second); limit.After(earliest) {
			earliest = limit
		}
	}
	var last time.Time
	missed := 0
	// Each step is one scheduled time; the bound keeps a CronJob left
	// suspended for years from costing a long loop.
	for t := sched.Next(earliest); !t.IsZero() && !t.After(now) && missed < 1_000_000; t = sched.Next(t) {
		last = t
		missed++
	}
	return last, missed
}

// cronJobJobName is the name of the Job for a scheduled time: the
// CronJob's name and the time in minutes since 1970.
func cronJobJobName(cronJob string, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cronJob, scheduled.Unix()/60)
}

// cronJobJob is the Job a CronJob makes for a scheduled time: its job
// template, named after the time, owned by the CronJob.
func cronJobJob(cj *batchv1.CronJob, scheduled time.Time, sched cron.Schedule) *batchv1.Job {
	t := cj.Spec.JobTemplate
	annotations := maps.Clone(t.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	loc := time.Local
	if s, ok := sched.(*cron.SpecSchedule); ok && s.Location != nil {
		loc = s.Location
	}
	annotations[CronJobScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: cronJobJobName(cj.Name, scheduled), Namespace: cj.Namespace,
			Labels: maps.Clone(t.Labels), Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, cronJobKind)},
		},
		Spec: *t.Spec.DeepCopy(),
	}
}

func jobReference(j *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: j.Namespace, Name: j.Name,
		UID: j.UID, ResourceVersion: j.ResourceVersion}
}

// jobFinishedType is Complete or Failed for a finished Job, "" otherwise.
func jobFinishedType(j *batchv1.Job) batchv1.JobConditionType {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type
		}
	}
	return ""
}

// cronJobReconcileActive brings status.active in line with the Jobs:
// running Jobs the CronJob owns are listed (also one made by hand with
// kubectl create job --from=cronjob/...), finished or vanished ones are
// not. A Job that completed moves lastSuccessfulTime. It returns the Jobs
// that just left the list because they finished, and the references to
// Jobs not in jobs (left out of the list: the caller checks them).
func cronJobReconcileActive(cj *batchv1.CronJob, jobs []*batchv1.Job) (sawFinished []*batchv1.Job, missing []corev1.ObjectReference) {
	byUID := map[types.UID]*batchv1.Job{}
	for _, j := range jobs {
		byUID[j.UID] = j
	}
	var active []corev1.ObjectReference
	for _, ref := range cj.Status.Active {
		j, ok := byUID[ref.UID]
		switch {
		case !ok:
			missing = append(missing, ref)
		case jobFinishedType(j) != "":
			sawFinished = append(sawFinished, j)
		default:
			active = append(active, ref)
		}
	}
	for _, j := range jobs {
		if jobFinishedType(j) == "" && !slices.ContainsFunc(active, func(r corev1.ObjectReference) bool { return r.UID == j.UID }) {
			active = append(active, jobReference(j))
		}
		if jobFinishedType(j) == batchv1.JobComplete && j.Status.CompletionTime != nil &&
			(cj.Status.LastSuccessfulTime == nil || j.Status.CompletionTime.After(cj.Status.LastSuccessfulTime.Time)) {
			t := *j.Status.CompletionTime
			cj.Status.LastSuccessfulTime = &t
		}
	}
	sort.Slice(active, func(a, b int) bool { return active[a].Name < active[b].Name })
	cj.Status.Active = active
	return sawFinished, missing
}

// cronJobHistoryToDelete is the finished Jobs beyond the history limits
// (successfulJobsHistoryLimit, default 3; failedJobsHistoryLimit, default
// 1), oldest first.
func cronJobHistoryToDelete(cj *batchv1.CronJob, jobs []*batchv1.Job) []*batchv1.Job {
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		if j.DeletionTimestamp != nil {
			continue
		}
		switch jobFinishedType(j) {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	over := func(list []*batchv1.Job, limit *int32, def int32) []*batchv1.Job {
		n := def
		if limit != nil {
			n = *limit
		}
		if int32(len(list)) <= n {
			return nil
		}
		sort.Slice(list, func(a, b int) bool {
			ta, tb := jobStart(list[a]), jobStart(list[b])
			if !ta.Equal(tb) {
				return ta.Before(tb)
			}
			return list[a].Name < list[b].Name
		})
		return list[:int32(len(list))-n]
	}
	return append(over(succeeded, cj.Spec.SuccessfulJobsHistoryLimit, 3), over(failed, cj.Spec.FailedJobsHistoryLimit, 1)...)
}

// jobStart is when a Job started (created, if it never did).
func jobStart(j *batchv1.Job) time.Time {
	if j.Status.StartTime != nil {
		return j.Status.StartTime.Time
	}
	return j.CreationTimestamp.Time
}
