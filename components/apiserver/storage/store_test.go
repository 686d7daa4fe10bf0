package storage

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func TestCreateGet(t *testing.T) {
	s := newPodStore(t)
	ctx := context.Background()
	in := pod("default", "web", map[string]string{"app": "web"})
	out, err := s.Create(ctx, "default", "web", in)
	if err != nil {
		t.Fatal(err)
	}
	if in.ResourceVersion != "" {
		t.Errorf("Create changed its argument: resourceVersion %q", in.ResourceVersion)
	}
	created := out.(*corev1.Pod)
	if rvOf(t, created) <= 0 || created.UID != in.UID || created.Spec.Containers[0].Image != "nginx" {
		t.Fatalf("Create returned %+v", created.ObjectMeta)
	}

	got, err := s.Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if got.(*corev1.Pod).ResourceVersion != created.ResourceVersion {
		t.Errorf("Get: resourceVersion %s, Create said %s", got.(*corev1.Pod).ResourceVersion, created.ResourceVersion)
	}
	if gvk := got.GetObjectKind().GroupVersionKind(); gvk.Kind != "Pod" || gvk.Version != "v1" {
		t.Errorf("Get: kind %v; want v1 Pod, as stored", gvk)
	}

	_, err = s.Create(ctx, "default", "web", in)
	if !apierrors.IsAlreadyExists(err) || err.Error() != `pods "web" already exists` {
		t.Errorf("second Create: %v; want AlreadyExists", err)
	}
	_, err = s.Get(ctx, "default", "nope")
	if !apierrors.IsNotFound(err) || err.Error() != `pods "nope" not found` {
		t.Errorf("Get of a missing pod: %v; want NotFound", err)
	}
	// The same name in another namespace is another object.
	mustCreate(t, s, pod("other", "web", nil))
}

// TestStoredJSON checks what a student sees with etcdctl get: JSON with
// apiVersion and kind, and no resourceVersion (etcd's mod_revision is it).
// Reference: DESIGN.md, "Storage".
func TestStoredJSON(t *testing.T) {
	ctx := context.Background()
	pods, nodes, cms := newPodStore(t), newNodeStore(t), newConfigMapStore(t)
	mustCreate(t, pods, pod("default", "web", nil))
	mustCreate(t, nodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}})
	mustCreate(t, cms, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "cfg"}, Data: map[string]string{"a": "b"}})

	deployments := New(testClient, DefaultCodec(), schema.GroupResource{Group: "apps", Resource: "deployments"}, testPrefix(t, "deployments"),
		func() runtime.Object { return &appsv1.Deployment{} }, func() runtime.Object { return &appsv1.DeploymentList{} })
	mustCreate(t, deployments, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}})

	for _, c := range []struct{ key, start string }{
		{pods.Key("default", "web"), `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web","namespace":"default"`},
		{nodes.Key("", "node1"), `{"kind":"Node","apiVersion":"v1","metadata":{"name":"node1"`},
		{cms.Key("kube-system", "cfg"), `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"cfg","namespace":"kube-system"`},
		{deployments.Key("default", "web"), `{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","namespace":"default"`},
	} {
		resp, err := testClient.Get(ctx, c.key)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) != 1 {
			t.Errorf("etcd has no %s", c.key)
			continue
		}
		data := string(resp.Kvs[0].Value)
		if !strings.HasPrefix(data, c.start) {
			t.Errorf("%s holds\n%s\nwant it to start with\n%s", c.key, data, c.start)
		}
		if strings.Contains(data, "resourceVersion") {
			t.Errorf("%s stores a resourceVersion: %s", c.key, data)
		}
		if !json.Valid(resp.Kvs[0].Value) {
			t.Errorf("%s is not JSON: %s", c.key, data)
		}
	}
	if got, want := nodes.Key("", "node1"), nodes.prefix+"/node1"; got != want || !strings.HasSuffix(got, "/registry/nodes/node1") {
		t.Errorf("cluster-scoped key %s; want %s", got, want)
	}
	if got, want := pods.Key("default", "web"), pods.prefix+"/default/web"; got != want || !strings.HasSuffix(got, "/registry/pods/default/web") {
		t.Errorf("namespaced key %s; want %s", got, want)
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	s := newPodStore(t)
	ctx := context.Background()
	withRV := pod("default", "web", nil)
	withRV.ResourceVersion = "12"
	for _, c := range []struct {
		namespace, name string
		obj             runtime.Object
		want            string
	}{
		{"default", "web", withRV, `pods "web": resourceVersion should not be set on objects to be created; remove metadata.resourceVersion`},
		{"default", "db", pod("default", "web", nil), `pods "db": metadata.name is "web"; it must be "db"`},
		{"other", "web", pod("default", "web", nil), `pods "web": metadata.namespace is "default"; it must be "other"`},
		{"default", "a/b", pod("default", "a/b", nil), `pods "a/b": name "a/b" may not contain '/' or be '.' or '..'`},
		{"default", "", pod("default", "", nil), `pods: a name is required`},
	} {
		_, err := s.Create(ctx, c.namespace, c.name, c.obj)
		if !apierrors.IsBadRequest(err) || err.Error() != c.want {
			t.Errorf("Create %s/%s: %v; want BadRequest %q", c.namespace, c.name, err, c.want)
		}
	}
	if n, err := s.Count(ctx); err != nil || n != 0 {
		t.Errorf("after refused creates, Count = %d, %v; want 0", n, err)
	}
}

// TestUpdateStaleResourceVersion: an update carrying the resourceVersion
// the client read fails with Kubernetes' Conflict once someone else wrote.
// Reference: Kubernetes API concepts, "Resource versions"; API
// conventions, "Concurrency Control and Consistency".
func TestUpdateStaleResourceVersion(t *testing.T) {
	s := newPodStore(t)
	ctx := context.Background()
	created := mustCreate(t, s, pod("default", "web", nil)).(*corev1.Pod)

	setImage := func(image string) func(runtime.Object) (runtime.Object, error) {
		return func(cur runtime.Object) (runtime.Object, error) {
			p := cur.(*corev1.Pod)
			p.Spec.Containers[0].Image = image
			return p, nil
		}
	}
	updated, err := s.GuaranteedUpdate(ctx, "default", "web", Preconditions{ResourceVersion: created.ResourceVersion}, setImage("nginx:2"))
	if err != nil {
		t.Fatalf("update at the current resourceVersion: %v", err)
	}
	if rvOf(t, updated) <= rvOf(t, created) {
		t.Errorf("resourceVersion went from %s to %s", created.ResourceVersion, updated.(*corev1.Pod).ResourceVersion)
	}

	_, err = s.GuaranteedUpdate(ctx, "default", "web", Preconditions{ResourceVersion: created.ResourceVersion}, setImage("nginx:3"))
	want := `Operation cannot be fulfilled on pods "web": the object has been modified; please apply your changes to the latest version and try again`
	if !apierrors.IsConflict(err) || err.Error() != want {
		t.Fatalf("update at a stale resourceVersion: %v\nwant Conflict %q", err, want)
	}
	got, _ := s.Get(ctx, "default", "web")
	if img := got.(*corev1.Pod).Spec.Containers[0].Image; img != "nginx:2" {
		t.Errorf("after the refused update the image is %s; want nginx:2", img)
	}

	_, err = s.GuaranteedUpdate(ctx, "default", "nope", Preconditions{}, setImage("x"))
	if !apierrors.IsNotFound(err) {
		t.Errorf("update of a missing pod: %v; want NotFound", err)
	}
	_, err = s.GuaranteedUpdate(ctx, "default", "web", Preconditions{UID: "someone-else"}, setImage("x"))
	if !apierrors.IsConflict(err) {
		t.Errorf("update with another uid: %v; want Conflict", err)
	}
	_, err = s.GuaranteedUpdate(ctx, "default", "web", Preconditions{}, func(cur runtime.Object) (runtime.Object, error) {
		cur.(*corev1.Pod).Name = "renamed"
		return cur, nil
	})
	if !apierrors.IsBadRequest(err) {
		t.Errorf("update that renames: %v; want BadRequest", err)
	}
	invalid := apierrors.NewBadRequest("spec.containers[0].image: Required value")
	_, err = s.GuaranteedUpdate(ctx, "default", "web", Preconditions{}, func(runtime.Object) (runtime.Object, error) { return nil, invalid })
	if err != invalid {
		t.Errorf("tryUpdate's error came back as %v", err)
	}
}

// TestUpdateNoChange: an update that changes nothing writes nothing.
func TestUpdateNoChange(t *testing.T) {
	s := newPodStore(t)
	ctx := context.Background()
	created := mustCreate(t, s, pod("default", "web", nil))
	out, err := s.GuaranteedUpdate(ctx, "default", "web", Preconditions{}, func(cur runtime.Object) (runtime.Object, error) { return cur, nil })
	if err != nil {
		t.Fatal(err)
	}
	if rvOf(t, out) != rvOf(t, created) {
		t.Errorf("a no-op update moved resourceVersion from %d to %d", rvOf(t, created), rvOf(t, out))
	}
}

// TestGuaranteedUpdateRace: two writers incrementing a counter lose no
// increment: the compare-and-swap makes the loser read again and retry.
func TestGuaranteedUpdateRace(t *testing.T) {
	s := newConfigMapStore(t)
	ctx := context.Background()
	mustCreate(t, s, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "counter", Labels: map[string]string{"n": "0"}}})

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		tries int
	)
	increment := func(cur runtime.Object) (runtime.Object, error) {
		mu.Lock()
		tries++
		mu.Unlock()
		cm := cur.(*corev1.ConfigMap)
		n, err := strconv.Atoi(cm.Labels["n"])
		if err != nil {
			return nil, err
		}
		cm.Labels["n"] = strconv.Itoa(n + 1)
		return cm, nil
	}
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if _, err := s.GuaranteedUpdate(ctx, "default", "counter", Preconditions{}, increment); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "default", "counter")
	if err != nil {
		t.Fatal(err)
	}
	if n := got.(*corev1.ConfigMap).Labels["n"]; n != "100" {
		t.Fatalf("counter = %s after 2×50 increments; want 100", n)
	}
	t.Logf("100 increments took %d tries (%d retries after a lost race)", tries, tries-100)
}

func TestDeletePreconditions(t *testing.T) {
	s := newPodStore(t)
	ctx := context.Background()
	created := mustCreate(t, s, pod("default", "web", nil)).(*corev1.Pod)

	_, err := s.Delete(ctx, "default", "web", Preconditions{UID: "uid-of-an-older-web"})
	want := `Operation cannot be fulfilled on pods "web": Precondition failed: UID in precondition: uid-of-an-older-web, UID in object meta: uid-default-web`
	if !apierrors.IsConflict(err) || err.Error() != want {
		t.Fatalf("delete with another uid: %v\nwant Conflict %q", err, want)
	}
	_, err = s.Delete(ctx, "default", "web", Preconditions{ResourceVersion: "1"})
	if !apierrors.IsConflict(err) {
		t.Fatalf("delete at a stale resourceVersion: %v; want Conflict", err)
	}
	if _, err := s.Get(ctx, "default", "web"); err != nil {
		t.Fatalf("refused deletes removed the pod: %v", err)
	}

	deleted, err := s.Delete(ctx, "default", "web", Preconditions{UID: created.UID, ResourceVersion: created.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	if p := deleted.(*corev1.Pod); p.Name != "web" || p.Spec.Containers[0].Image != "nginx" || rvOf(t, p) <= rvOf(t, created) {
		t.Errorf("Delete returned %s rv=%s; want the last state at the delete's revision (> %s)", p.Name, p.ResourceVersion, created.ResourceVersion)
	}
	if _, err := s.Get(ctx, "default", "web"); !apierrors.IsNotFound(err) {
		t.Errorf("Get after Delete: %v; want NotFound", err)
	}
	if _, err := s.Delete(ctx, "default", "web", Preconditions{}); !apierrors.IsNotFound(err) {
		t.Errorf("second Delete: %v; want NotFound", err)
	}
	// A new object of the same name is another object.
	again := pod("default", "web", nil)
	again.UID = types.UID("uid-2")
	mustCreate(t, s, again)
	if _, err := s.Delete(ctx, "default", "web", Preconditions{UID: created.UID}); !apierrors.IsConflict(err) {
		t.Errorf("delete of the re-created pod with the old uid: %v; want Conflict", err)
	}
}
