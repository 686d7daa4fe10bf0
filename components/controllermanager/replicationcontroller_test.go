package controllermanager

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	core "k8s.io/client-go/testing"
)

// Reference: the course notes' mysql-rc.yaml: "Kubernetes根据定义文件创建RC后会自动创建目标Pod"
// (once the RC exists, Kubernetes creates its pods), and keeps their number.

var mysql = map[string]string{"app": "mysql"}

func newRCManager(t *testing.T, objects ...runtime.Object) (*fixture, *replicaManager) {
	f := newFixture(t, objects...)
	c, err := newReplicationControllerController(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := c.(*replicaManager)
	m.now = func() time.Time { return t0 }
	m.expectations.now = m.now
	f.load(objects...)
	return f, m
}

func TestReplicationControllerMakesTheCourseNotesPod(t *testing.T) {
	rc := mysqlRC(1)
	f, m := newRCManager(t, rc)
	if err := m.syncHandler(context.Background(), "default/mysql"); err != nil {
		t.Fatal(err)
	}
	pods := createdPods(f.writes())
	if len(pods) != 1 {
		t.Fatalf("created %d pods, want 1; actions %v", len(pods), describe(f.writes()))
	}
	p := pods[0]
	want := []metav1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: "mysql", UID: "uid-mysql", Controller: ptr(true), BlockOwnerDeletion: ptr(true)}}
	if diff := cmp.Diff(want, p.OwnerReferences); diff != "" {
		t.Errorf("ownerReferences (-want +got):\n%s", diff)
	}
	if p.GenerateName != "mysql-" || p.Spec.Containers[0].Env[0].Value != "123456" || p.Spec.Containers[0].Ports[0].ContainerPort != 3306 {
		t.Errorf("pod = %+v, want the RC's template", p)
	}
	// The status is written to the RC, not to a ReplicaSet.
	var statusWrite core.UpdateAction
	for _, a := range f.writes() {
		if a.GetSubresource() == "status" {
			statusWrite = a.(core.UpdateAction)
		}
	}
	if statusWrite == nil || statusWrite.GetResource().Resource != "replicationcontrollers" {
		t.Fatalf("no status write to replicationcontrollers/status; actions %v", describe(f.writes()))
	}
	if got := statusWrite.GetObject().(*corev1.ReplicationController).Status.ObservedGeneration; got != 1 {
		t.Errorf("status.observedGeneration = %d, want 1", got)
	}
	if ev := f.events(); len(ev) != 1 || ev[0] != "Normal SuccessfulCreate Created pod: mysql-00001" {
		t.Errorf("events = %q", ev)
	}
}

// kubectl scale rc mysql --replicas=3 adds two; a deleted pod is replaced.
func TestReplicationControllerScaleAndReplace(t *testing.T) {
	rc := mysqlRC(3)
	own := ownedBy(rc, "ReplicationController", "v1")
	now := metav1.NewTime(t0)
	deleted := newPod("mysql-going", mysql, own, onNode("node1", "10.244.1.3"), func(p *corev1.Pod) { p.DeletionTimestamp = &now })
	f, m := newRCManager(t, rc, newPod("mysql-1", mysql, own, onNode("node1", "10.244.1.2")), deleted)
	if err := m.syncHandler(context.Background(), "default/mysql"); err != nil {
		t.Fatal(err)
	}
	// One live pod of three (the one being deleted does not count): two more.
	if n := len(createdPods(f.writes())); n != 2 {
		t.Errorf("created %d pods, want 2; actions %v", n, describe(f.writes()))
	}
	if st := lastStatus(t, f); st.Replicas != 1 {
		t.Errorf("status.replicas = %d, want 1 (the pods seen)", st.Replicas)
	}
}

func TestRCReadAsReplicaSet(t *testing.T) {
	rc := mysqlRC(2)
	rc.Status = corev1.ReplicationControllerStatus{Replicas: 2, ReadyReplicas: 1, ObservedGeneration: 1,
		Conditions: []corev1.ReplicationControllerCondition{{Type: corev1.ReplicationControllerReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate"}}}
	rs := replicaSetFromRC(rc)
	if rs.Name != "mysql" || rs.UID != rc.UID || *rs.Spec.Replicas != 2 || rs.Spec.Selector.MatchLabels["app"] != "mysql" {
		t.Errorf("replicaSetFromRC = %+v", rs)
	}
	if diff := cmp.Diff(rc.Status, rcStatusFrom(rs.Status)); diff != "" {
		t.Errorf("status round trip (-rc +back):\n%s", diff)
	}
	// The conversion is a copy: changing it leaves the cached RC alone.
	rs.Spec.Template.Labels["app"] = "changed"
	if rc.Spec.Template.Labels["app"] != "mysql" {
		t.Error("replicaSetFromRC shares the template's labels with the RC")
	}
}

func ptr[T any](v T) *T { return &v }
