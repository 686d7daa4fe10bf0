package controllermanager

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	core "k8s.io/client-go/testing"
)

// Reference: the course notes: 服务账号控制器（ServiceAccount controller）：为新的命名空间创建默认的服务账号.

func newSAFixture(t *testing.T, objects ...runtime.Object) (*fixture, *serviceAccountController) {
	f := newFixture(t, objects...)
	c, err := newServiceAccountController(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.load(objects...)
	return f, c.(*serviceAccountController)
}

func TestServiceAccountCreatesDefault(t *testing.T) {
	f, s := newSAFixture(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "lab"}})
	if err := s.syncHandler(context.Background(), "lab"); err != nil {
		t.Fatal(err)
	}
	w := f.writes()
	if got := describe(w); len(got) != 1 || got[0] != "create serviceaccounts" {
		t.Fatalf("writes = %v, want create serviceaccounts", got)
	}
	if sa := w[0].(core.CreateAction).GetObject().(*corev1.ServiceAccount); sa.Name != "default" || sa.Namespace != "lab" {
		t.Errorf("created %s/%s, want lab/default", sa.Namespace, sa.Name)
	}
}

func TestServiceAccountLeavesWhatIsThere(t *testing.T) {
	f, s := newSAFixture(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "lab"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "lab"}},
		terminating("going"))
	for _, ns := range []string{"lab", "going", "gone"} {
		if err := s.syncHandler(context.Background(), ns); err != nil {
			t.Fatal(err)
		}
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("writes = %v, want none (one exists, one namespace is going, one is gone)", describe(w))
	}
}
