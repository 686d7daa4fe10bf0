package controllermanager

import (
	"context"
	"slices"
	"strings"
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

// Reference: kubernetes/pkg/controller/job/job_controller_test.go, and
// https://kubernetes.io/docs/concepts/workloads/controllers/job/.

// newJob is the classic pi Job as the apiserver stores it (defaults and
// the generated selector and labels in place).
func newJob(name string, completions, parallelism, backoffLimit int32) *batchv1.Job {
	uid := types.UID("uid-" + name)
	lbls := map[string]string{batchv1.ControllerUidLabel: string(uid), batchv1.JobNameLabel: name, "controller-uid": string(uid), "job-name": name}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: uid, Generation: 1, ResourceVersion: "1"},
		Spec: batchv1.JobSpec{
			Completions: ptr(completions), Parallelism: ptr(parallelism), BackoffLimit: ptr(backoffLimit),
			CompletionMode: ptr(batchv1.NonIndexedCompletion), Suspend: ptr(false),
			PodReplacementPolicy: ptr(batchv1.TerminatingOrFailed),
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: string(uid)}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
					Name: "pi", Image: "busybox", Command: []string{"sh", "-c", "echo 3.14159"}}}},
			},
		},
	}
}

// jobPodOf is a pod of job in the given phase, holding the tracking
// finalizer.
func jobPodOf(job *batchv1.Job, name string, phase corev1.PodPhase, opts ...func(*corev1.Pod)) *corev1.Pod {
	p := newPod(name, job.Spec.Template.Labels, ownedBy(job, "Job", "batch/v1"), func(p *corev1.Pod) {
		p.Status.Phase = phase
		p.Finalizers = []string{JobTrackingFinalizer}
	})
	for _, o := range opts {
		o(p)
	}
	return p
}

func finishedAt(t time.Time) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "pi", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(t)}}}}
	}
}

func newJobFixture(t *testing.T, objects ...runtime.Object) (*fixture, *jobController, *clocktesting.FakeClock) {
	t.Helper()
	f := newFixture(t, objects...)
	c, err := newJobController(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	jc := c.(*jobController)
	clk := clocktesting.NewFakeClock(t0)
	jc.clock = clk
	jc.expectations.now = clk.Now
	f.load(objects...)
	return f, jc, clk
}

func syncJob(t *testing.T, jc *jobController, key string) {
	t.Helper()
	if err := jc.syncHandler(context.Background(), key); err != nil {
		t.Fatalf("syncHandler(%s): %v", key, err)
	}
}

// jobStatuses returns the Job statuses written, in order.
func jobStatuses(f *fixture) []batchv1.JobStatus {
	var out []batchv1.JobStatus
	for _, a := range f.writes() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" && a.GetResource().Resource == "jobs" {
			out = append(out, a.(core.UpdateAction).GetObject().(*batchv1.Job).Status)
		}
	}
	return out
}

func lastJobStatus(t *testing.T, f *fixture) batchv1.JobStatus {
	t.Helper()
	st := jobStatuses(f)
	if len(st) == 0 {
		t.Fatalf("no job status written; actions %v", describe(f.writes()))
	}
	return st[len(st)-1]
}

func patchedPods(f *fixture) []string {
	var out []string
	for _, a := range f.writes() {
		if a.GetVerb() == "patch" && a.GetResource().Resource == "pods" {
			out = append(out, a.(core.PatchAction).GetName())
		}
	}
	slices.Sort(out)
	return out
}

func jobCondition(st batchv1.JobStatus, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func TestJobCreatesParallelismPods(t *testing.T) {
	job := newJob("pi", 3, 2, 6)
	f, jc, _ := newJobFixture(t, job)
	syncJob(t, jc, "default/pi")
	pods := createdPods(f.writes())
	if len(pods) != 2 {
		t.Fatalf("created %d pods, want parallelism 2; actions %v", len(pods), describe(f.writes()))
	}
	for _, p := range pods {
		ref := metav1.GetControllerOf(p)
		if p.GenerateName != "pi-" || ref == nil || ref.Kind != "Job" || ref.APIVersion != "batch/v1" || ref.UID != job.UID {
			t.Errorf("pod %s: generateName %q, controller %+v; want pi-, the Job", p.Name, p.GenerateName, ref)
		}
		if !slices.Contains(p.Finalizers, JobTrackingFinalizer) {
			t.Errorf("pod %s finalizers = %v, want %s", p.Name, p.Finalizers, JobTrackingFinalizer)
		}
		if p.Labels[batchv1.JobNameLabel] != "pi" || p.Labels["controller-uid"] != string(job.UID) {
			t.Errorf("pod %s labels = %v, want the Job's", p.Name, p.Labels)
		}
	}
	if ev := f.events(); len(ev) != 2 || !strings.HasPrefix(ev[0], "Normal SuccessfulCreate Created pod: pi-") {
		t.Errorf("events = %q, want 2 SuccessfulCreate", ev)
	}
	st := lastJobStatus(t, f)
	if st.Active != 2 || st.StartTime == nil || !st.StartTime.Time.Equal(t0) || *st.Ready != 0 {
		t.Errorf("status = %+v, want active 2, ready 0, startTime now", st)
	}
}

// The counting protocol: a succeeded pod goes to uncountedTerminatedPods,
// loses its finalizer, then is counted; and the Job completes once all 3
// are counted, with upstream's conditions and event.
func TestJobCountsAndCompletes(t *testing.T) {
	job := newJob("pi", 3, 2, 6)
	job.Status = batchv1.JobStatus{Succeeded: 1, StartTime: ptr(metav1.NewTime(t0.Add(-time.Minute))),
		UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{}}
	a := jobPodOf(job, "pi-a", corev1.PodSucceeded)
	b := jobPodOf(job, "pi-b", corev1.PodSucceeded)
	f, jc, _ := newJobFixture(t, job, a, b)
	syncJob(t, jc, "default/pi")

	if n := len(createdPods(f.writes())); n != 0 {
		t.Errorf("created %d pods with 3 of 3 succeeded, want 0", n)
	}
	statuses := jobStatuses(f)
	if len(statuses) != 2 {
		t.Fatalf("wrote status %d times, want 2 (uncounted, then counted); actions %v", len(statuses), describe(f.writes()))
	}
	first := statuses[0]
	if got := first.UncountedTerminatedPods.Succeeded; len(got) != 2 || first.Succeeded != 1 {
		t.Errorf("first write: succeeded %d, uncounted %v; want 1 and both pods", first.Succeeded, got)
	}
	if c := jobCondition(first, batchv1.JobSuccessCriteriaMet); c == nil || c.Reason != "CompletionsReached" {
		t.Errorf("first write conditions = %+v, want SuccessCriteriaMet/CompletionsReached", first.Conditions)
	}
	if got := patchedPods(f); !slices.Equal(got, []string{"pi-a", "pi-b"}) {
		t.Errorf("finalizers removed from %v, want pi-a, pi-b", got)
	}
	last := statuses[1]
	if last.Succeeded != 3 || len(last.UncountedTerminatedPods.Succeeded) != 0 {
		t.Errorf("second write: succeeded %d, uncounted %v; want 3, none", last.Succeeded, last.UncountedTerminatedPods)
	}
	c := jobCondition(last, batchv1.JobComplete)
	if c == nil || c.Status != corev1.ConditionTrue || c.Message != "Reached expected number of succeeded pods" || last.CompletionTime == nil {
		t.Errorf("second write: Complete %+v, completionTime %v; want Complete True and a completion time", c, last.CompletionTime)
	}
	if ev := f.events(); !slices.Contains(ev, "Normal Completed Job completed") {
		t.Errorf("events = %q, want Completed", ev)
	}
	// The patch really takes the finalizer off.
	p, err := f.client.CoreV1().Pods("default").Get(context.Background(), "pi-a", metav1.GetOptions{})
	if err != nil || len(p.Finalizers) != 0 {
		t.Errorf("pod pi-a after the patch: finalizers %v, err %v; want none", p.Finalizers, err)
	}
}

// A pod whose finalizer removal is in flight (the informer still shows
// the finalizer) is not counted a second time.
func TestJobDoesNotCountTwice(t *testing.T) {
	job := newJob("pi", 3, 1, 6)
	job.Status = batchv1.JobStatus{Succeeded: 1, Active: 0, Ready: ptr(int32(0)), Terminating: ptr(int32(0)),
		StartTime: ptr(metav1.NewTime(t0)), UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{}}
	a := jobPodOf(job, "pi-a", corev1.PodSucceeded)
	f, jc, _ := newJobFixture(t, job, a)
	jc.finalizers.expect("default/pi", []types.UID{a.UID})
	jc.expectations.ExpectCreations("default/pi", 1) // a pod made, not yet seen
	syncJob(t, jc, "default/pi")
	if w := describe(f.writes()); len(w) != 0 {
		t.Errorf("writes = %v, want none: pi-a is counted already", w)
	}
}

func TestJobBackoffLimitExceeded(t *testing.T) {
	job := newJob("fail", 1, 1, 1)
	job.Status = batchv1.JobStatus{Failed: 1, StartTime: ptr(metav1.NewTime(t0.Add(-time.Minute))), UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{}}
	p := jobPodOf(job, "fail-b", corev1.PodFailed, finishedAt(t0.Add(-time.Second)))
	f, jc, _ := newJobFixture(t, job, p)
	syncJob(t, jc, "default/fail")
	st := lastJobStatus(t, f)
	if st.Failed != 2 {
		t.Errorf("failed = %d, want 2", st.Failed)
	}
	for _, ct := range []batchv1.JobConditionType{batchv1.JobFailureTarget, batchv1.JobFailed} {
		c := jobCondition(st, ct)
		if c == nil || c.Reason != "BackoffLimitExceeded" || c.Message != "Job has reached the specified backoff limit" {
			t.Errorf("condition %s = %+v, want BackoffLimitExceeded", ct, c)
		}
	}
	if n := len(createdPods(f.writes())); n != 0 {
		t.Errorf("created %d pods after the limit, want 0", n)
	}
	if ev := f.events(); !slices.Contains(ev, "Warning BackoffLimitExceeded Job has reached the specified backoff limit") {
		t.Errorf("events = %q, want BackoffLimitExceeded", ev)
	}
}

// After a failure the next pod waits 10 s (then 20 s, 40 s...).
func TestJobBacksOffAfterFailure(t *testing.T) {
	job := newJob("flaky", 1, 1, 6)
	job.Status = batchv1.JobStatus{StartTime: ptr(metav1.NewTime(t0.Add(-time.Minute))), UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{}}
	p := jobPodOf(job, "flaky-a", corev1.PodFailed, finishedAt(t0.Add(-2*time.Second)))
	f, jc, clk := newJobFixture(t, job, p)
	syncJob(t, jc, "default/flaky")
	if n := len(createdPods(f.writes())); n != 0 {
		t.Fatalf("created %d pods 2 s after a failure, want 0 (back-off 10 s)", n)
	}
	if st := lastJobStatus(t, f); st.Failed != 1 {
		t.Errorf("failed = %d, want 1", st.Failed)
	}
	if r := jc.backoff.get("default/flaky"); r.failuresAfterLastSuccess != 1 || r.remaining(jc.backoffBase, jc.backoffMax, clk.Now()) != 8*time.Second {
		t.Errorf("backoff = %+v, want 1 failure, 8 s left", r)
	}
	// 10 s after the failure, the informer shows the pod counted.
	clk.SetTime(t0.Add(8 * time.Second))
	counted := p.DeepCopy()
	counted.Finalizers = nil
	f.load(counted)
	jc.finalizers.observed("default/flaky", p.UID)
	stored, _ := f.client.BatchV1().Jobs("default").Get(context.Background(), "flaky", metav1.GetOptions{})
	f.load(stored)
	f.client.ClearActions()
	syncJob(t, jc, "default/flaky")
	if n := len(createdPods(f.writes())); n != 1 {
		t.Errorf("created %d pods after the back-off, want 1; actions %v", n, describe(f.writes()))
	}
}

func TestJobBackoffDelays(t *testing.T) {
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{{0, 0}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {7, 360 * time.Second}, {30, 360 * time.Second}} {
		r := jobBackoffRecord{failuresAfterLastSuccess: tc.failures, lastFailure: t0}
		if got := r.remaining(DefaultJobPodFailureBackOff, MaxJobPodFailureBackOff, t0); got != tc.want {
			t.Errorf("%d failures: back-off %v, want %v", tc.failures, got, tc.want)
		}
	}
}

func TestJobActiveDeadlineExceeded(t *testing.T) {
	job := newJob("slow", 1, 1, 6)
	job.Spec.ActiveDeadlineSeconds = ptr(int64(10))
	job.Status = batchv1.JobStatus{Active: 1, StartTime: ptr(metav1.NewTime(t0.Add(-20 * time.Second))), UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{}}
	p := jobPodOf(job, "slow-a", corev1.PodRunning)
	f, jc, _ := newJobFixture(t, job, p)
	syncJob(t, jc, "default/slow")
	if got := deletedNames(f.writes()); !slices.Equal(got, []string{"slow-a"}) {
		t.Errorf("deleted %v, want slow-a", got)
	}
	st := lastJobStatus(t, f)
	if c := jobCondition(st, batchv1.JobFailureTarget); c == nil || c.Reason != "DeadlineExceeded" || c.Message != "Job was active longer than specified deadline" {
		t.Errorf("FailureTarget = %+v, want DeadlineExceeded", c)
	}
	// The pod is still terminating: Failed waits for it.
	if c := jobCondition(st, batchv1.JobFailed); c != nil {
		t.Errorf("Failed = %+v while a pod terminates, want none yet", c)
	}
	if st.Failed != 1 || *st.Terminating != 1 || st.Active != 0 {
		t.Errorf("failed %d terminating %d active %d, want 1, 1, 0", st.Failed, *st.Terminating, st.Active)
	}
}

// A pod deleted before it finished (pod GC, a dead node) counts as failed,
// thanks to the finalizer that kept it.
func TestJobCountsDeletedPodAsFailed(t *testing.T) {
	job := newJob("pi", 2, 1, 6)
	job.Status = batchv1.JobStatus{Active: 1, StartTime: ptr(metav1.NewTime(t0)), UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{}}
	p := jobPodOf(job, "pi-a", corev1.PodRunning, func(p *corev1.Pod) { p.DeletionTimestamp = ptr(metav1.NewTime(t0)) })
	f, jc, _ := newJobFixture(t, job, p)
	syncJob(t, jc, "default/pi")
	st := lastJobStatus(t, f)
	if st.Failed != 1 {
		t.Errorf("failed = %d, want 1", st.Failed)
	}
	if got := patchedPods(f); !slices.Equal(got, []string{"pi-a"}) {
		t.Errorf("finalizer removed from %v, want pi-a", got)
	}
}

func TestJobSuspend(t *testing.T) {
	job := newJob("pi", 3, 2, 6)
	job.Spec.Suspend = ptr(true)
	job.Status = batchv1.JobStatus{Active: 1, StartTime: ptr(metav1.NewTime(t0)), UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{}}
	p := jobPodOf(job, "pi-a", corev1.PodRunning)
	f, jc, _ := newJobFixture(t, job, p)
	syncJob(t, jc, "default/pi")
	if got := deletedNames(f.writes()); !slices.Equal(got, []string{"pi-a"}) {
		t.Errorf("deleted %v, want pi-a", got)
	}
	st := lastJobStatus(t, f)
	if c := jobCondition(st, batchv1.JobSuspended); c == nil || c.Status != corev1.ConditionTrue || c.Reason != "JobSuspended" || c.Message != "Job suspended" {
		t.Errorf("Suspended = %+v, want True JobSuspended", c)
	}
	if ev := f.events(); !slices.Contains(ev, "Normal Suspended Job suspended") {
		t.Errorf("events = %q, want Suspended", ev)
	}
}

func TestJobIndexed(t *testing.T) {
	job := newJob("ix", 3, 2, 6)
	job.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
	job.Status = batchv1.JobStatus{StartTime: ptr(metav1.NewTime(t0)), UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{}}
	done := jobPodOf(job, "ix-0-aaaaa", corev1.PodSucceeded, func(p *corev1.Pod) {
		p.Annotations = map[string]string{JobCompletionIndexAnnotation: "0"}
	})
	f, jc, _ := newJobFixture(t, job, done)
	syncJob(t, jc, "default/ix")
	pods := createdPods(f.writes())
	var got []string
	for _, p := range pods {
		ix := p.Annotations[JobCompletionIndexAnnotation]
		got = append(got, ix)
		if p.Labels[JobCompletionIndexAnnotation] != ix || p.GenerateName != "ix-"+ix+"-" || p.Spec.Hostname != "ix-"+ix {
			t.Errorf("pod of index %s: label %q, generateName %q, hostname %q", ix, p.Labels[JobCompletionIndexAnnotation], p.GenerateName, p.Spec.Hostname)
		}
		env := p.Spec.Containers[0].Env
		if len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
			t.Errorf("pod of index %s env = %+v, want JOB_COMPLETION_INDEX from the annotation", ix, env)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("created indexes %v, want 1 and 2", got)
	}
	if st := lastJobStatus(t, f); st.CompletedIndexes != "0" || st.Succeeded != 1 {
		t.Errorf("completedIndexes %q succeeded %d, want \"0\", 1", st.CompletedIndexes, st.Succeeded)
	}
}

func TestJobIndexesFormat(t *testing.T) {
	for _, tc := range []struct {
		ixs  []int
		want string
	}{{nil, ""}, {[]int{0}, "0"}, {[]int{0, 1}, "0-1"}, {[]int{1, 3, 4, 5, 7}, "1,3-5,7"}} {
		s := formatIndexes(tc.ixs)
		if s != tc.want {
			t.Errorf("formatIndexes(%v) = %q, want %q", tc.ixs, s, tc.want)
		}
		if back := parseIndexes(s, 10); !slices.Equal(back, tc.ixs) && len(tc.ixs) > 0 {
			t.Errorf("parseIndexes(%q) = %v, want %v", s, back, tc.ixs)
		}
	}
	if got := parseIndexes("1,3-5,9", 5); !slices.Equal(got, []int{1, 3, 4}) {
		t.Errorf("parseIndexes beyond completions = %v, want [1 3 4]", got)
	}
}

// A pod whose Job is gone keeps its finalizer forever unless the
// controller lets it go.
func TestJobOrphanPodLosesFinalizer(t *testing.T) {
	job := newJob("gone", 1, 1, 6)
	p := jobPodOf(job, "gone-a", corev1.PodSucceeded, func(p *corev1.Pod) { p.DeletionTimestamp = ptr(metav1.NewTime(t0)) })
	f, jc, _ := newJobFixture(t, p)
	if err := jc.syncOrphanPod(context.Background(), "default/gone-a"); err != nil {
		t.Fatal(err)
	}
	if got := patchedPods(f); !slices.Equal(got, []string{"gone-a"}) {
		t.Errorf("patched %v, want gone-a", got)
	}
}
