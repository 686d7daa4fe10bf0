package controllermanager

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	core "k8s.io/client-go/testing"
)

// Reference: "Configure Service Accounts for Pods" in the Kubernetes docs:
// every namespace has a ConfigMap kube-root-ca.crt with the cluster's CA.

const testCA = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"

func newRootCAFixture(t *testing.T, objects ...runtime.Object) (*fixture, *rootCAPublisher) {
	f := newFixture(t, objects...)
	f.ctx.Config.RootCA = []byte(testCA)
	c, err := newRootCAPublisher(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.load(objects...)
	return f, c.(*rootCAPublisher)
}

func TestRootCAPublished(t *testing.T) {
	f, p := newRootCAFixture(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "lab"}})
	if err := p.syncHandler(context.Background(), "lab"); err != nil {
		t.Fatal(err)
	}
	w := f.writes()
	if got := describe(w); len(got) != 1 || got[0] != "create configmaps" {
		t.Fatalf("writes = %v, want create configmaps", got)
	}
	if cm := w[0].(core.CreateAction).GetObject().(*corev1.ConfigMap); cm.Name != "kube-root-ca.crt" || cm.Data["ca.crt"] != testCA {
		t.Errorf("created %+v", cm)
	}
}

func TestRootCARestored(t *testing.T) {
	changed := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: "lab"}, Data: map[string]string{"ca.crt": "tampered"}}
	f, p := newRootCAFixture(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "lab"}}, changed, terminating("going"))
	for _, ns := range []string{"lab", "going"} {
		if err := p.syncHandler(context.Background(), ns); err != nil {
			t.Fatal(err)
		}
	}
	w := f.writes()
	if got := describe(w); len(got) != 1 || got[0] != "update configmaps" {
		t.Fatalf("writes = %v, want one update (none in the namespace being deleted)", got)
	}
	if cm := w[0].(core.UpdateAction).GetObject().(*corev1.ConfigMap); cm.Data["ca.crt"] != testCA {
		t.Errorf("ca.crt = %q, want the CA back", cm.Data["ca.crt"])
	}
}
