package printers_test

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// selector matches app=name.
func selector(name string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
}

// Reference: upstream printDeployment, printReplicaSet, printDaemonSet,
// printStatefulSet, printControllerRevision.
func TestAppsCells(t *testing.T) {
	tmpl := podTemplate(map[string]string{"app": "web"}, "web", "log")
	runCellTests(t, []cellTest{
		{"deployment rolling out", &appsv1.Deployment{
			ObjectMeta: meta("web", 26*time.Hour),
			Spec:       appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: selector("web"), Template: tmpl},
			Status:     appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 1, AvailableReplicas: 2},
		}, []interface{}{"web", "2/3", int64(1), int64(2), "26h", "web,log", "web:1,log:1", "app=web"}},
		{"deployment with set-based selector, replicas defaulted", &appsv1.Deployment{
			ObjectMeta: meta("api", 9*24*time.Hour),
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"api", "web"}},
			}}},
		}, []interface{}{"api", "0/1", int64(0), int64(0), "9d", "", "", "tier in (api,web)"}},
		{"deployment without selector", &appsv1.Deployment{ObjectMeta: meta("bare", time.Minute), Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(0))}},
			[]interface{}{"bare", "0/0", int64(0), int64(0), "60s", "", "", ""}},
		{"replica set", &appsv1.ReplicaSet{
			ObjectMeta: meta("web-7d9c", 26*time.Hour),
			Spec:       appsv1.ReplicaSetSpec{Replicas: ptr(int32(3)), Selector: selector("web"), Template: tmpl},
			Status:     appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 2},
		}, []interface{}{"web-7d9c", int64(3), int64(3), int64(2), "26h", "web,log", "web:1,log:1", "app=web"}},
		{"replica set without selector", &appsv1.ReplicaSet{ObjectMeta: meta("bare", time.Minute)},
			[]interface{}{"bare", int64(1), int64(0), int64(0), "60s", "", "", "<none>"}},
		{"daemon set", &appsv1.DaemonSet{
			ObjectMeta: meta("proxy", 3*time.Hour+20*time.Minute),
			Spec: appsv1.DaemonSetSpec{Selector: selector("proxy"), Template: func() corev1.PodTemplateSpec {
				t := podTemplate(nil, "proxy")
				t.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
				return t
			}()},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 3, NumberAvailable: 2},
		}, []interface{}{"proxy", int64(3), int64(3), int64(2), int64(3), int64(2), "kubernetes.io/os=linux", "3h20m", "proxy", "proxy:1", "app=proxy"}},
		{"stateful set", &appsv1.StatefulSet{
			ObjectMeta: meta("db", 45*time.Second),
			Spec:       appsv1.StatefulSetSpec{Replicas: ptr(int32(3)), Selector: selector("db"), Template: podTemplate(nil, "postgres")},
			Status:     appsv1.StatefulSetStatus{ReadyReplicas: 1},
		}, []interface{}{"db", "1/3", "45s", "postgres", "postgres:1"}},
		{"controller revision of a stateful set", &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: "db-5f7b", Namespace: "default", CreationTimestamp: ago(45 * time.Second),
				OwnerReferences: []metav1.OwnerReference{
					{APIVersion: "v1", Kind: "Pod", Name: "not-the-controller"},
					{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", Controller: ptr(true)},
				}},
			Revision: 2,
		}, []interface{}{"db-5f7b", "statefulset.apps/db", int64(2), "45s"}},
		{"controller revision owned by a core kind", &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: "r", CreationTimestamp: ago(time.Minute),
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "p", Controller: ptr(true)}}},
			Revision: 1,
		}, []interface{}{"r", "pod/p", int64(1), "60s"}},
		{"orphaned controller revision", &appsv1.ControllerRevision{ObjectMeta: meta("orphan", time.Minute), Revision: 7},
			[]interface{}{"orphan", "<none>", int64(7), "60s"}},
	})
}

// job is a job created 10m ago that started 9m ago.
func job(name string, change func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: meta(name, 10*time.Minute),
		Spec: batchv1.JobSpec{
			Completions: ptr(int32(1)), Parallelism: ptr(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": "abc"}},
			Template: podTemplate(nil, "pi"),
		},
		Status: batchv1.JobStatus{StartTime: agoPtr(9 * time.Minute)},
	}
	change(j)
	return j
}

// jobCondition is a True job condition.
func jobCondition(t batchv1.JobConditionType) batchv1.JobCondition {
	return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue}
}

// Reference: upstream printJob and printCronJob; `kubectl get jobs,cronjobs`.
func TestBatchCells(t *testing.T) {
	wide := []interface{}{"pi", "pi:1", "batch.kubernetes.io/controller-uid=abc"}
	row := func(cells ...interface{}) []interface{} { return append(cells, wide...) }
	runCellTests(t, []cellTest{
		{"running", job("pi", func(j *batchv1.Job) {}),
			row("pi", "Running", "0/1", "9m", "10m")},
		{"complete", job("pi", func(j *batchv1.Job) {
			j.Status.Succeeded = 1
			j.Status.CompletionTime = agoPtr(8*time.Minute + 30*time.Second)
			j.Status.Conditions = []batchv1.JobCondition{jobCondition(batchv1.JobSuccessCriteriaMet), jobCondition(batchv1.JobComplete)}
		}), row("pi", "Complete", "1/1", "30s", "10m")},
		{"failed", job("pi", func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{jobCondition(batchv1.JobFailureTarget), jobCondition(batchv1.JobFailed)}
		}), row("pi", "Failed", "0/1", "9m", "10m")},
		{"failure target only", job("pi", func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{jobCondition(batchv1.JobFailureTarget)}
		}), row("pi", "FailureTarget", "0/1", "9m", "10m")},
		{"suspended, not started", job("pi", func(j *batchv1.Job) {
			j.Status.StartTime = nil
			j.Status.Conditions = []batchv1.JobCondition{jobCondition(batchv1.JobSuspended)}
		}), row("pi", "Suspended", "0/1", "", "10m")},
		{"terminating", job("pi", func(j *batchv1.Job) {
			j.DeletionTimestamp = agoPtr(time.Second)
			j.Status.Conditions = []batchv1.JobCondition{jobCondition(batchv1.JobSuspended)}
		}), row("pi", "Terminating", "0/1", "9m", "10m")},
		{"work queue", job("pi", func(j *batchv1.Job) {
			j.Spec.Completions = nil
			j.Spec.Parallelism = ptr(int32(4))
			j.Status.Succeeded = 2
		}), row("pi", "Running", "2/1 of 4", "9m", "10m")},
		{"single pod without completions", job("pi", func(j *batchv1.Job) { j.Spec.Completions = nil }),
			row("pi", "Running", "0/1", "9m", "10m")},
		{"cron job", &batchv1.CronJob{
			ObjectMeta: meta("report", 5*24*time.Hour),
			Spec: batchv1.CronJobSpec{
				Schedule: "*/5 * * * *", TimeZone: ptr("Europe/Paris"), Suspend: ptr(false),
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: podTemplate(nil, "report")}},
			},
			Status: batchv1.CronJobStatus{Active: []corev1.ObjectReference{{Name: "report-1"}}, LastScheduleTime: agoPtr(3 * time.Minute)},
		}, []interface{}{"report", "*/5 * * * *", "Europe/Paris", "False", int64(1), "3m", "5d", "report", "report:1", "<none>"}},
		{"cron job never run", &batchv1.CronJob{ObjectMeta: meta("new", time.Second), Spec: batchv1.CronJobSpec{Schedule: "@daily"}},
			[]interface{}{"new", "@daily", "<none>", "<unset>", int64(0), "<none>", "1s", "", "", "<none>"}},
	})
}
