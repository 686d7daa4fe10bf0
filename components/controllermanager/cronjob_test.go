package controllermanager

import (
	"context"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	core "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

// Reference: kubernetes/pkg/controller/cronjob/cronjob_controllerv2_test.go,
// utils_test.go.

func newCronJob(name, schedule string, policy batchv1.ConcurrencyPolicy) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), ResourceVersion: "1",
			CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec: batchv1.CronJobSpec{
			Schedule: schedule, ConcurrencyPolicy: policy, Suspend: ptr(false),
			SuccessfulJobsHistoryLimit: ptr(int32(3)), FailedJobsHistoryLimit: ptr(int32(1)),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "hello"}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyOnFailure,
					Containers:    []corev1.Container{{Name: "hello", Image: "busybox", Command: []string{"date"}}}}}},
			},
		},
	}
}

// cronJobJobOf is a Job of cj made for a scheduled time.
func cronJobJobOf(cj *batchv1.CronJob, scheduled time.Time, finished batchv1.JobConditionType) *batchv1.Job {
	yes := true
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{
		Name: cronJobJobName(cj.Name, scheduled), Namespace: "default", UID: types.UID("uid-" + cronJobJobName(cj.Name, scheduled)),
		CreationTimestamp: metav1.NewTime(scheduled),
		OwnerReferences:   []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: &yes}},
	}, Status: batchv1.JobStatus{StartTime: ptr(metav1.NewTime(scheduled))}}
	if finished != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: finished, Status: corev1.ConditionTrue}}
		if finished == batchv1.JobComplete {
			j.Status.CompletionTime = ptr(metav1.NewTime(scheduled.Add(time.Second)))
		}
	}
	return j
}

func newCronJobFixture(t *testing.T, now time.Time, objects ...runtime.Object) (*fixture, *cronJobController) {
	t.Helper()
	f := newFixture(t, objects...)
	c, err := newCronJobController(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	cc := c.(*cronJobController)
	cc.clock = clocktesting.NewFakeClock(now)
	f.load(objects...)
	return f, cc
}

func createdJobs(f *fixture) []*batchv1.Job {
	var out []*batchv1.Job
	for _, a := range f.writes() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "jobs" {
			out = append(out, a.(core.CreateAction).GetObject().(*batchv1.Job))
		}
	}
	return out
}

func lastCronJobStatus(t *testing.T, f *fixture) batchv1.CronJobStatus {
	t.Helper()
	var st *batchv1.CronJobStatus
	for _, a := range f.writes() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			st = &a.(core.UpdateAction).GetObject().(*batchv1.CronJob).Status
		}
	}
	if st == nil {
		t.Fatalf("no status written; actions %v", describe(f.writes()))
	}
	return *st
}

// At 15:04:05 a "*/5" CronJob last run at 14:55 is due for 15:00: one
// Job, named after the time in minutes, owned by the CronJob.
func TestCronJobCreatesTheDueJob(t *testing.T) {
	cj := newCronJob("hello", "*/5 * * * *", batchv1.AllowConcurrent)
	cj.Spec.TimeZone = ptr("UTC")
	cj.Status.LastScheduleTime = ptr(metav1.NewTime(time.Date(2026, 1, 2, 14, 55, 0, 0, time.UTC)))
	f, cc := newCronJobFixture(t, t0, cj)
	if err := cc.syncHandler(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	jobs := createdJobs(f)
	due := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	if len(jobs) != 1 {
		t.Fatalf("created %d jobs, want 1; actions %v", len(jobs), describe(f.writes()))
	}
	j := jobs[0]
	if want := "hello-29456100"; j.Name != want || due.Unix()/60 != 29456100 {
		t.Errorf("job name %q, want %s", j.Name, want)
	}
	if ref := metav1.GetControllerOf(j); ref == nil || ref.Kind != "CronJob" || ref.UID != cj.UID {
		t.Errorf("job owner %+v, want the CronJob", ref)
	}
	if got := j.Annotations[CronJobScheduledTimestampAnnotation]; got != "2026-01-02T15:00:00Z" {
		t.Errorf("scheduled-timestamp annotation %q, want 2026-01-02T15:00:00Z", got)
	}
	if j.Labels["app"] != "hello" || j.Spec.Template.Spec.Containers[0].Image != "busybox" {
		t.Errorf("job %+v: want the job template's labels and spec", j.ObjectMeta)
	}
	st := lastCronJobStatus(t, f)
	if len(st.Active) != 1 || st.Active[0].Name != j.Name || !st.LastScheduleTime.Time.Equal(due) {
		t.Errorf("status %+v, want the job active and lastScheduleTime 15:00", st)
	}
	if ev := f.events(); !slices.Contains(ev, "Normal SuccessfulCreate Created job "+j.Name) {
		t.Errorf("events = %q", ev)
	}
	// Synced again with the job in place: nothing more.
	f.load(j)
	stored, _ := f.client.BatchV1().CronJobs("default").Get(context.Background(), "hello", metav1.GetOptions{})
	f.load(stored)
	f.client.ClearActions()
	if err := cc.syncHandler(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	if n := len(createdJobs(f)); n != 0 {
		t.Errorf("second sync created %d jobs, want 0", n)
	}
}

func TestCronJobNothingDue(t *testing.T) {
	cj := newCronJob("hello", "0 * * * *", batchv1.AllowConcurrent)
	cj.Spec.TimeZone = ptr("UTC")
	cj.Status.LastScheduleTime = ptr(metav1.NewTime(time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)))
	f, cc := newCronJobFixture(t, t0, cj)
	if err := cc.syncHandler(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	if w := describe(f.writes()); len(w) != 0 {
		t.Errorf("writes %v, want none before 16:00", w)
	}
}

func TestCronJobForbidSkipsWhileRunning(t *testing.T) {
	cj := newCronJob("hello", "*/5 * * * *", batchv1.ForbidConcurrent)
	cj.Spec.TimeZone = ptr("UTC")
	prev := time.Date(2026, 1, 2, 14, 55, 0, 0, time.UTC)
	cj.Status.LastScheduleTime = ptr(metav1.NewTime(prev))
	running := cronJobJobOf(cj, prev, "")
	cj.Status.Active = []corev1.ObjectReference{jobReference(running)}
	f, cc := newCronJobFixture(t, t0, cj, running)
	if err := cc.syncHandler(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	if n := len(createdJobs(f)); n != 0 {
		t.Errorf("created %d jobs while one runs under Forbid, want 0", n)
	}
	if ev := f.events(); !slices.Contains(ev, "Normal JobAlreadyActive Not starting job because prior execution is running and concurrency policy is Forbid") {
		t.Errorf("events = %q, want JobAlreadyActive", ev)
	}
}

func TestCronJobReplaceDeletesRunning(t *testing.T) {
	cj := newCronJob("hello", "*/5 * * * *", batchv1.ReplaceConcurrent)
	cj.Spec.TimeZone = ptr("UTC")
	prev := time.Date(2026, 1, 2, 14, 55, 0, 0, time.UTC)
	cj.Status.LastScheduleTime = ptr(metav1.NewTime(prev))
	running := cronJobJobOf(cj, prev, "")
	cj.Status.Active = []corev1.ObjectReference{jobReference(running)}
	f, cc := newCronJobFixture(t, t0, cj, running)
	if err := cc.syncHandler(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, a := range f.writes() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "jobs" {
			deleted = append(deleted, a.(core.DeleteAction).GetName())
		}
	}
	if !slices.Equal(deleted, []string{running.Name}) || len(createdJobs(f)) != 1 {
		t.Errorf("deleted %v, created %d; want the running job replaced", deleted, len(createdJobs(f)))
	}
	if st := lastCronJobStatus(t, f); len(st.Active) != 1 || st.Active[0].Name == running.Name {
		t.Errorf("active %v, want only the new job", st.Active)
	}
}

func TestCronJobStartingDeadline(t *testing.T) {
	cj := newCronJob("hello", "0 * * * *", batchv1.AllowConcurrent)
	cj.Spec.TimeZone = ptr("UTC")
	cj.Spec.StartingDeadlineSeconds = ptr(int64(60)) // 15:00 was 4 min ago: too late
	cj.Status.LastScheduleTime = ptr(metav1.NewTime(time.Date(2026, 1, 2, 14, 0, 0, 0, time.UTC)))
	f, cc := newCronJobFixture(t, t0, cj)
	if err := cc.syncHandler(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	if n := len(createdJobs(f)); n != 0 {
		t.Errorf("created %d jobs past the starting deadline, want 0", n)
	}
}

func TestCronJobTimeZone(t *testing.T) {
	cj := newCronJob("tz", "0 9 * * *", batchv1.AllowConcurrent)
	cj.Spec.TimeZone = ptr("Asia/Shanghai")
	sched, bad := cronJobSchedule(cj)
	if bad != nil {
		t.Fatal(bad.message)
	}
	// 09:00 in Shanghai is 01:00 UTC.
	if got := sched.Next(t0); !got.Equal(time.Date(2026, 1, 3, 1, 0, 0, 0, time.UTC)) {
		t.Errorf("next = %v, want 2026-01-03 01:00 UTC", got.UTC())
	}
	cj.Spec.TimeZone = ptr("Mars/Olympus")
	if _, bad := cronJobSchedule(cj); bad == nil || bad.reason != "UnknownTimeZone" {
		t.Errorf("bad zone: %+v, want UnknownTimeZone", bad)
	}
	cj.Spec.TimeZone = nil
	cj.Spec.Schedule = "61 * * * *"
	if _, bad := cronJobSchedule(cj); bad == nil || bad.reason != "UnparseableSchedule" {
		t.Errorf("bad schedule: %+v, want UnparseableSchedule", bad)
	}
	cj.Spec.Schedule = "@hourly"
	if _, bad := cronJobSchedule(cj); bad != nil {
		t.Errorf("@hourly: %s", bad.message)
	}
}

// Finished Jobs leave status.active, a completed one sets
// lastSuccessfulTime, and the history beyond the limits is deleted, oldest
// first.
func TestCronJobHistoryAndStatus(t *testing.T) {
	cj := newCronJob("hello", "0 * * * *", batchv1.AllowConcurrent)
	cj.Spec.TimeZone = ptr("UTC")
	cj.Spec.SuccessfulJobsHistoryLimit = ptr(int32(1))
	cj.Status.LastScheduleTime = ptr(metav1.NewTime(time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)))
	var objs []runtime.Object
	var jobs []*batchv1.Job
	for h, c := range []batchv1.JobConditionType{batchv1.JobComplete, batchv1.JobFailed, batchv1.JobComplete, batchv1.JobFailed, batchv1.JobComplete} {
		j := cronJobJobOf(cj, time.Date(2026, 1, 2, 11+h, 0, 0, 0, time.UTC), c)
		jobs = append(jobs, j)
		objs = append(objs, j)
	}
	cj.Status.Active = []corev1.ObjectReference{jobReference(jobs[4])}
	f, cc := newCronJobFixture(t, t0, append(objs, cj)...)
	if err := cc.syncHandler(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	st := lastCronJobStatus(t, f)
	if len(st.Active) != 0 || st.LastSuccessfulTime == nil || !st.LastSuccessfulTime.Time.Equal(jobs[4].Status.CompletionTime.Time) {
		t.Errorf("status %+v, want no active job and lastSuccessfulTime of the 15:00 job", st)
	}
	var deleted []string
	for _, a := range f.writes() {
		if a.GetVerb() == "delete" {
			deleted = append(deleted, a.(core.DeleteAction).GetName())
		}
	}
	slices.Sort(deleted)
	want := []string{jobs[0].Name, jobs[1].Name, jobs[2].Name}
	slices.Sort(want)
	if !slices.Equal(deleted, want) {
		t.Errorf("deleted %v, want %v (keep 1 succeeded, 1 failed)", deleted, want)
	}
}

func TestCronJobMostRecentTime(t *testing.T) {
	cj := newCronJob("hello", "* * * * *", batchv1.AllowConcurrent)
	cj.Spec.TimeZone = ptr("UTC")
	sched, _ := cronJobSchedule(cj)
	// Created an hour ago, never run: 60 missed, the latest is 15:04.
	got, missed := cronJobMostRecentTime(cj, sched, t0)
	if !got.Equal(time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC)) || missed != 60 {
		t.Errorf("most recent %v, missed %d; want 15:04, 60", got, missed)
	}
	cj.Spec.StartingDeadlineSeconds = ptr(int64(200))
	// 200 s before 15:04:05 is 15:00:45: 15:01 to 15:04.
	if _, missed := cronJobMostRecentTime(cj, sched, t0); missed != 4 {
		t.Errorf("missed %d with a 200 s deadline, want 4", missed)
	}
}
