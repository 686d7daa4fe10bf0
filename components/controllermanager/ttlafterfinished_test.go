package controllermanager

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	core "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

// Reference: https://kubernetes.io/docs/concepts/workloads/controllers/ttlafterfinished/.

func finishedJob(ttl int32, finished time.Time) *batchv1.Job {
	j := newJob("pi", 1, 1, 6)
	j.Spec.TTLSecondsAfterFinished = ptr(ttl)
	j.Status.CompletionTime = ptr(metav1.NewTime(finished))
	j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(finished)}}
	return j
}

func TestTTLAfterFinished(t *testing.T) {
	for _, tc := range []struct {
		name       string
		job        *batchv1.Job
		wantDelete bool
	}{
		{"expired", finishedJob(60, t0.Add(-61*time.Second)), true},
		{"not yet", finishedJob(60, t0.Add(-30*time.Second)), false},
		{"not finished", newJob("pi", 1, 1, 6), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.job)
			c, _ := newTTLAfterFinishedController(f.ctx)
			tc2 := c.(*ttlAfterFinishedController)
			tc2.clock = clocktesting.NewFakeClock(t0)
			f.load(tc.job)
			if err := tc2.syncHandler(context.Background(), "default/pi"); err != nil {
				t.Fatal(err)
			}
			var deletes []core.DeleteAction
			for _, a := range f.writes() {
				if d, ok := a.(core.DeleteAction); ok {
					deletes = append(deletes, d)
				}
			}
			if got := len(deletes) == 1; got != tc.wantDelete {
				t.Fatalf("deleted: %v, want %v; actions %v", got, tc.wantDelete, describe(f.writes()))
			}
			if tc.wantDelete {
				if p := deletes[0].GetDeleteOptions().PropagationPolicy; p == nil || *p != metav1.DeletePropagationForeground {
					t.Errorf("propagation %v, want Foreground", p)
				}
			}
		})
	}
	left, expired := jobTTLLeft(finishedJob(60, t0.Add(-30*time.Second)), t0)
	if expired || left != 30*time.Second {
		t.Errorf("left %v expired %v, want 30s false", left, expired)
	}
}
