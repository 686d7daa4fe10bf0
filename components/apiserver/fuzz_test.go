package apiserver

// Fuzz tests: bad input to the apiserver (malformed JSON or YAML, wrong
// kinds, unknown fields, oversize bodies, bad selectors, bad patches) gets a
// metav1.Status with a 4xx code and a message, never a panic, never a 5xx
// and never a partial write. Reference: STYLE.md, "Errors and messages" 8;
// Kubernetes API concepts, "Responses" (every failure is a Status).
//
// `go test` runs every target on its seeds: the f.Add calls below and the
// files in testdata/fuzz/<FuzzName>/, among them each input a fuzzer once
// caught failing. To look for new failures, run one target at a time:
//
//	go test -run '^$' -fuzz FuzzDecode -fuzztime 60s -parallel 1 ./components/apiserver/

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/tinykube/tinykube/components/etcd"
	"github.com/tinykube/tinykube/plugins"
	"github.com/tinykube/tinykube/plugins/conformance"
)

// fuzzServer is an apiserver over its own etcd, shared by every input of one
// fuzz target: starting them takes longer than a thousand requests. Inputs
// run one after the other and each leaves etcd as it found it, so an input
// that fails fails the same way when it runs alone.
type fuzzServer struct {
	srv  *Server
	etcd *clientv3.Client
	seq  atomic.Int64 // makes object names unique
}

// newFuzzServer starts etcd and the apiserver (plain HTTP, admin user) for tb.
func newFuzzServer(tb testing.TB) *fuzzServer {
	tb.Helper()
	ctx := context.Background()
	e := etcd.New()
	settings := conformance.SettingsFor(tb, plugins.KindEtcd)
	if err := e.Start(ctx, settings); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Stop(context.Background()) })
	conformance.WaitHealthy(tb, e, 20*time.Second)
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:" + settings.Values["client-port"]}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close() })
	srv, err := NewServer(Config{Etcd: client, ServiceCIDR: "10.96.0.0/12"})
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Bootstrap(ctx); err != nil {
		tb.Fatal(err)
	}
	return &fuzzServer{srv: srv, etcd: client}
}

// name returns a name no other input has used.
func (fs *fuzzServer) name(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, fs.seq.Add(1))
}

// do sends one request through the server's real HTTP handler. A request
// that takes more than 10 s fails the input: the server hangs on it.
func (fs *fuzzServer) do(t testing.TB, method, target, contentType string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	fs.srv.ServeHTTP(w, r)
	if ctx.Err() != nil {
		t.Fatalf("%s %s: no answer within 10s", method, target)
	}
	return w
}

// state is everything the apiserver keeps in etcd (objects and service
// allocations): each key under /registry/ with the revision it was last
// written at and its value.
func (fs *fuzzServer) state(t *testing.T) map[string]string {
	t.Helper()
	resp, err := fs.etcd.Get(context.Background(), "/registry/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	st := make(map[string]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		st[string(kv.Key)] = fmt.Sprintf("rev %d: %s", kv.ModRevision, kv.Value)
	}
	return st
}

// requireState fails t if etcd does not hold exactly want, naming the keys
// that differ.
func (fs *fuzzServer) requireState(t *testing.T, want map[string]string, why string) {
	t.Helper()
	got := fs.state(t)
	if maps.Equal(got, want) {
		return
	}
	var diff []string
	for k, v := range got {
		if w, ok := want[k]; !ok {
			diff = append(diff, "added "+k)
		} else if w != v {
			diff = append(diff, "changed "+k)
		}
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			diff = append(diff, "removed "+k)
		}
	}
	slices.Sort(diff)
	t.Fatalf("%s, but etcd changed:\n  %s", why, strings.Join(diff, "\n  "))
}

// leaveAsFound forgets the object an input made and checks that etcd is
// back to initial, its state before: a leak (a NodePort nobody holds) fails
// the input that made it, not a later one.
func (fs *fuzzServer) leaveAsFound(t *testing.T, res *Resource, name string, initial map[string]string) {
	t.Helper()
	if t.Failed() {
		return
	}
	if _, err := fs.srv.store(res).Get(context.Background(), "default", name); err == nil {
		fs.forget(t, res, "default", name)
	} else if !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	fs.requireState(t, initial, fmt.Sprintf("%s %s and what it held were removed", res.Kind, name))
}

// forget removes an object a test input made, and what it was allocated,
// straight from etcd: a DELETE through the API could leave it behind
// (finalizers, a pod's grace period).
func (fs *fuzzServer) forget(t *testing.T, res *Resource, namespace, name string) {
	t.Helper()
	ctx := context.Background()
	obj, err := fs.srv.store(res).Get(ctx, namespace, name)
	if err != nil {
		t.Fatalf("%s %s/%s: %v", res.GVR.Resource, namespace, name, err)
	}
	if _, err := fs.etcd.Delete(ctx, fs.srv.store(res).Key(namespace, name)); err != nil {
		t.Fatal(err)
	}
	fs.srv.release(obj)
}

// checkAnswer requires the answer to have one of the codes in ok, or to be
// a client error: a metav1.Status whose code is the HTTP code, 4xx, with a
// message to read. It reports whether the answer was in ok.
func checkAnswer(t testing.TB, w *httptest.ResponseRecorder, ok ...int) bool {
	t.Helper()
	if slices.Contains(ok, w.Code) {
		return true
	}
	var st metav1.Status
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || st.Kind != "Status" {
		t.Fatalf("answer %d is not a Status (%v):\n%s", w.Code, err, w.Body)
	}
	if w.Code < 400 || w.Code > 499 {
		t.Fatalf("answer %d, want one of %v or a client error (4xx): %s", w.Code, ok, st.Message)
	}
	if int(st.Code) != w.Code || st.Status != metav1.StatusFailure || st.Message == "" {
		t.Fatalf("answer %d: Status code %d, status %q, message %q: want the same code, Failure and a message",
			w.Code, st.Code, st.Status, st.Message)
	}
	t.Logf("%d %s: %s", w.Code, st.Reason, st.Message) // what the user reads; see it with go test -v
	return false
}

// requireTable gets one object as `kubectl get` does, as a Table: whatever
// an input stored, the server can print it.
func (fs *fuzzServer) requireTable(t *testing.T, res *Resource, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, collectionPath(res)+"/"+name, nil)
	r.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	w := httptest.NewRecorder()
	fs.srv.ServeHTTP(w, r)
	var table metav1.Table
	if err := json.Unmarshal(w.Body.Bytes(), &table); w.Code != http.StatusOK || err != nil || len(table.Rows) != 1 {
		t.Fatalf("getting %s %s as a Table: %d %v\n%s", res.GVR.Resource, name, w.Code, err, w.Body)
	}
}

// fuzzKinds are the resources FuzzDecode and FuzzSelectors send requests to:
// the kinds of the course notes' manifests and the ones students write first.
var fuzzKinds = []struct{ group, version, plural string }{
	{"", "v1", "pods"},
	{"", "v1", "services"},
	{"", "v1", "replicationcontrollers"},
	{"apps", "v1", "deployments"},
}

// collectionPath is the URL of the collection of res in namespace default.
func collectionPath(res *Resource) string {
	base := "/api/" + res.GVR.Version
	if res.GVR.Group != "" {
		base = "/apis/" + res.GVR.Group + "/" + res.GVR.Version
	}
	if !res.Namespaced {
		return base + "/" + res.GVR.Resource
	}
	return base + "/namespaces/default/" + res.GVR.Resource
}

// bodyTypes are the Content-Types FuzzDecode sends a body with: kubectl's,
// client-go's, and two a hand-made request might carry.
var bodyTypes = []string{
	"application/json",
	runtime.ContentTypeProtobuf,
	"application/yaml",
	"",
}

// manifest reads one of the course notes' manifests (testdata/manifests).
func manifest(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "manifests", name))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func mustJSON(tb testing.TB, yamlOrJSON []byte) []byte {
	tb.Helper()
	data, err := yaml.YAMLToJSON(yamlOrJSON)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// validPod is a pod every check accepts.
func validPod(name string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
	}
}

// validDeployment is a deployment every check accepts.
func validDeployment(name string) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	replicas := int32(2)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
			},
		},
	}
}

// FuzzDecode sends arbitrary bytes as the body of a create. The answer is
// 201 Created or a 4xx Status; after a refusal etcd is as it was (no object,
// no ClusterIP or NodePort kept), and so it is after a dry run.
func FuzzDecode(f *testing.F) {
	rc, svc := manifest(f, "mysql-rc.yaml"), manifest(f, "mysql-svc.yaml")
	f.Add(uint8(2), uint8(0), true, false, mustJSON(f, rc)) // what kubectl sends
	f.Add(uint8(1), uint8(0), true, false, mustJSON(f, svc))
	f.Add(uint8(2), uint8(2), false, false, rc) // YAML as it is on disk
	f.Add(uint8(1), uint8(2), false, true, svc)
	f.Add(uint8(0), uint8(0), true, false, mustJSON(f, svc)) // a Service sent to pods
	pod, _ := json.Marshal(validPod("web"))
	f.Add(uint8(0), uint8(0), true, false, pod)
	var buf bytes.Buffer
	if err := protobuf.Encode(validPod("web"), &buf); err != nil {
		f.Fatal(err)
	}
	podPB := buf.Bytes()
	f.Add(uint8(0), uint8(1), false, false, podPB) // client-go's typed clients
	f.Add(uint8(0), uint8(1), false, false, podPB[:len(podPB)/2])
	deploy, _ := json.Marshal(validDeployment("web"))
	f.Add(uint8(3), uint8(0), true, true, deploy)
	f.Add(uint8(1), uint8(0), false, false, []byte{}) // empty

	fs := newFuzzServer(f)
	// A body over the limit is refused before it is read to the end; it
	// is no seed because 3 MiB in every mutation slows the fuzzer down.
	big := fs.do(f, http.MethodPost, collectionPath(lookup("", "v1", "pods")), "application/json", bytes.Repeat([]byte(" "), MaxBodyBytes+1))
	if checkAnswer(f, big) || big.Code != http.StatusRequestEntityTooLarge {
		f.Fatalf("a body of %d bytes: answer %d, want 413", MaxBodyBytes+1, big.Code)
	}
	f.Fuzz(func(t *testing.T, kind, bodyType uint8, strict, dryRun bool, body []byte) {
		k := fuzzKinds[int(kind)%len(fuzzKinds)]
		res := lookup(k.group, k.version, k.plural)
		q := url.Values{}
		if strict {
			q.Set("fieldValidation", "Strict")
		}
		if dryRun {
			q.Set("dryRun", "All")
		}
		before := fs.state(t)
		w := fs.do(t, http.MethodPost, collectionPath(res)+"?"+q.Encode(), bodyTypes[int(bodyType)%len(bodyTypes)], body)
		// A JSON object of another kind is refused as such, with a 400,
		// not decoded into an empty object of the resource's kind.
		var tm metav1.TypeMeta
		otherKind := bodyTypes[int(bodyType)%len(bodyTypes)] == "application/json" && len(body) <= MaxBodyBytes &&
			json.Unmarshal(body, &tm) == nil && tm.Kind != "" && tm.Kind != res.Kind
		if !checkAnswer(t, w, http.StatusCreated) {
			fs.requireState(t, before, fmt.Sprintf("create refused with %d", w.Code))
			if otherKind && w.Code != http.StatusBadRequest {
				t.Fatalf("a %s sent to %s: answer %d, want 400", tm.Kind, res.GVR.Resource, w.Code)
			}
			return
		}
		if otherKind {
			t.Fatalf("a %s sent to %s was created", tm.Kind, res.GVR.Resource)
		}
		created := res.New()
		if err := json.Unmarshal(w.Body.Bytes(), created); err != nil {
			t.Fatalf("201 Created with a body that is not a %s: %v", res.Kind, err)
		}
		if dryRun {
			fs.requireState(t, before, "a dry run answered 201")
			return
		}
		m, err := meta.Accessor(created)
		if err != nil {
			t.Fatal(err)
		}
		if m.GetUID() == "" || m.GetResourceVersion() == "" || m.GetNamespace() != "default" {
			t.Fatalf("created %s lacks uid, resourceVersion or namespace default: %+v", res.Kind, m)
		}
		fs.requireTable(t, res, m.GetName())
		fs.forget(t, res, m.GetNamespace(), m.GetName())
		fs.requireState(t, before, "the created object and its allocations were removed")
	})
}

// patchTargets are the objects FuzzPatch patches: the course notes'
// ReplicationController and Service, a Deployment, a Pod and a ConfigMap.
// Each is created afresh, under a new name, for every input.
func patchTargets(tb testing.TB) []runtime.Object {
	var rc corev1.ReplicationController
	var svc corev1.Service
	if err := yaml.Unmarshal(manifest(tb, "mysql-rc.yaml"), &rc); err != nil {
		tb.Fatal(err)
	}
	if err := yaml.Unmarshal(manifest(tb, "mysql-svc.yaml"), &svc); err != nil {
		tb.Fatal(err)
	}
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		Data:     map[string]string{"a": "1", "b": "2"},
	}
	return []runtime.Object{&rc, &svc, validDeployment(""), validPod(""), cm}
}

// patchTypes are the Content-Types FuzzPatch sends: the four patch kinds
// kubectl knows and one the server must refuse (415).
var patchTypes = []string{jsonPatchType, mergePatchType, strategicPatchType, applyPatchType, "application/json"}

// patchSubresources are where FuzzPatch sends its patches; scale exists only
// for the ReplicationController and the Deployment (elsewhere: 404).
var patchSubresources = []string{"", "status", "scale"}

// FuzzPatch sends arbitrary patch bodies, of each patch type, to an existing
// object. The answer is 200 or a 4xx Status. After a refusal etcd is as it
// was (same resourceVersion, same allocations); after a success the object
// is still there, with its identity, at the resourceVersion answered.
func FuzzPatch(f *testing.F) {
	f.Add(uint8(0), uint8(1), uint8(0), []byte(`{"spec":{"replicas":3}}`))
	f.Add(uint8(0), uint8(0), uint8(2), []byte(`[{"op":"replace","path":"/spec/replicas","value":5}]`))
	f.Add(uint8(1), uint8(2), uint8(0), []byte(`{"spec":{"type":"NodePort","ports":[{"port":3306,"nodePort":30306}]}}`))
	f.Add(uint8(1), uint8(1), uint8(0), []byte(`{"spec":{"type":"NodePort","ports":null}}`))
	f.Add(uint8(2), uint8(3), uint8(0), []byte("apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 1\n"))
	f.Add(uint8(3), uint8(2), uint8(0), []byte(`{"spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}}`))
	f.Add(uint8(3), uint8(1), uint8(1), []byte(`{"status":{"phase":"Running"}}`))
	f.Add(uint8(4), uint8(0), uint8(0), []byte(`[{"op":"remove","path":"/data/a"},{"op":"test","path":"/data/b","value":"2"}]`))
	f.Add(uint8(4), uint8(4), uint8(0), []byte(`{"data":{"a":"2"}}`))
	f.Add(uint8(0), uint8(1), uint8(0), []byte(`{"metadata":{"resourceVersion":"1"},"spec":{"replicas":3}}`))

	targets := patchTargets(f)
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, target, patchType, subresource uint8, patch []byte) {
		obj := targets[int(target)%len(targets)].DeepCopyObject()
		res := resourceOf(t, obj)
		name := fs.name(strings.ToLower(res.Kind))
		obj.(metav1.Object).SetName(name)
		body, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		initial := fs.state(t)
		if w := fs.do(t, http.MethodPost, collectionPath(res), "application/json", body); w.Code != http.StatusCreated {
			t.Fatalf("creating the %s to patch: %d %s", res.Kind, w.Code, w.Body)
		}
		defer fs.leaveAsFound(t, res, name, initial)
		stored, err := fs.srv.store(res).Get(context.Background(), "default", name)
		if err != nil {
			t.Fatal(err)
		}
		old := stored.(metav1.Object)

		before := fs.state(t)
		path := collectionPath(res) + "/" + name
		if sub := patchSubresources[int(subresource)%len(patchSubresources)]; sub != "" {
			path += "/" + sub
		}
		w := fs.do(t, http.MethodPatch, path, patchTypes[int(patchType)%len(patchTypes)], patch)
		if !checkAnswer(t, w, http.StatusOK) {
			fs.requireState(t, before, fmt.Sprintf("patch refused with %d", w.Code))
			return
		}
		var answer metav1.PartialObjectMetadata
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
			t.Fatalf("200 OK with a body that is not an object: %v", err)
		}
		now, err := fs.srv.store(res).Get(context.Background(), "default", name)
		if err != nil {
			t.Fatalf("the patched %s is gone: %v", res.Kind, err)
		}
		m := now.(metav1.Object)
		if m.GetResourceVersion() != answer.ResourceVersion {
			t.Errorf("answered resourceVersion %s, stored %s", answer.ResourceVersion, m.GetResourceVersion())
		}
		if m.GetUID() != old.GetUID() || m.GetName() != name || m.GetNamespace() != "default" ||
			!m.GetCreationTimestamp().Time.Equal(old.GetCreationTimestamp().Time) || m.GetDeletionTimestamp() != nil {
			t.Errorf("the patch changed what the server owns: uid %s→%s, name %s, namespace %s, created %v→%v, deleted %v",
				old.GetUID(), m.GetUID(), m.GetName(), m.GetNamespace(), old.GetCreationTimestamp(), m.GetCreationTimestamp(), m.GetDeletionTimestamp())
		}
		fs.requireTable(t, res, name)
	})
}

// resourceOf finds the Resource of a typed object.
func resourceOf(tb testing.TB, obj runtime.Object) *Resource {
	tb.Helper()
	for _, r := range Resources {
		if r.typ == reflect.TypeOf(obj).Elem() {
			return r
		}
	}
	tb.Fatalf("no resource for %T", obj)
	return nil
}

// deleteTargets are the objects FuzzDelete deletes: one that goes at once,
// a Service with a ClusterIP and a NodePort to give back, a pod bound to a
// node (deleted gracefully: 202, its kubelet finishes) and a deployment.
func deleteTargets() []runtime.Object {
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}}
	svc := &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		Spec:     corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}}},
	}
	bound := validPod("")
	bound.Spec.NodeName = "node1"
	return []runtime.Object{cm, svc, bound, validDeployment("")}
}

// FuzzDelete sends arbitrary DeleteOptions, in the body and the query, with
// a DELETE of an existing object. The answer is 200 (deleted), 202 (marked
// for deletion) or a 4xx Status; after a refusal or a dry run etcd is as it
// was.
func FuzzDelete(f *testing.F) {
	f.Add(uint8(0), []byte(`{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"}`), "", "", false)
	f.Add(uint8(1), []byte(`{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"]}`), "", "", false)
	f.Add(uint8(2), []byte{}, "Foreground", "0", false)
	f.Add(uint8(2), []byte(`{"gracePeriodSeconds":5,"preconditions":{"uid":"nope"}}`), "", "", false)
	f.Add(uint8(3), []byte(`{"kind":"DeleteOptions","apiVersion":"v1","orphanDependents":true,"propagationPolicy":"Orphan"}`), "", "", false)
	f.Add(uint8(0), []byte(`{"kind":"Pod","apiVersion":"v1"}`), "", "", false)
	f.Add(uint8(1), []byte(`{"propagationPolicy":"Upwards"}`), "", "", true)
	f.Add(uint8(0), []byte(`{"dryRun":["Some"]}`), "", "", false)
	f.Add(uint8(3), []byte(`null`), "Orphan", "-1", false)
	f.Add(uint8(0), []byte(`{`), "", "soon", false)

	targets := deleteTargets()
	fs := newFuzzServer(f)
	// Options too big to read are refused; the object stays.
	cm := fs.do(f, http.MethodPost, "/api/v1/namespaces/default/configmaps", "application/json", []byte(`{"metadata":{"name":"big-options"}}`))
	if cm.Code != http.StatusCreated {
		f.Fatalf("creating a ConfigMap: %d %s", cm.Code, cm.Body)
	}
	big := fs.do(f, http.MethodDelete, "/api/v1/namespaces/default/configmaps/big-options", "application/json", bytes.Repeat([]byte(" "), MaxBodyBytes+1))
	if checkAnswer(f, big) || big.Code != http.StatusRequestEntityTooLarge {
		f.Fatalf("a DELETE with a body of %d bytes: answer %d, want 413", MaxBodyBytes+1, big.Code)
	}
	f.Fuzz(func(t *testing.T, target uint8, body []byte, propagationPolicy, gracePeriodSeconds string, dryRun bool) {
		obj := targets[int(target)%len(targets)].DeepCopyObject()
		res := resourceOf(t, obj)
		name := fs.name(strings.ToLower(res.Kind))
		obj.(metav1.Object).SetName(name)
		data, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		initial := fs.state(t)
		if w := fs.do(t, http.MethodPost, collectionPath(res), "application/json", data); w.Code != http.StatusCreated {
			t.Fatalf("creating the %s to delete: %d %s", res.Kind, w.Code, w.Body)
		}
		defer fs.leaveAsFound(t, res, name, initial)
		q := url.Values{}
		if propagationPolicy != "" {
			q.Set("propagationPolicy", propagationPolicy)
		}
		if gracePeriodSeconds != "" {
			q.Set("gracePeriodSeconds", gracePeriodSeconds)
		}
		if dryRun {
			q.Set("dryRun", "All")
		}

		before := fs.state(t)
		w := fs.do(t, http.MethodDelete, collectionPath(res)+"/"+name+"?"+q.Encode(), "application/json", body)
		if !checkAnswer(t, w, http.StatusOK, http.StatusAccepted) {
			fs.requireState(t, before, fmt.Sprintf("delete refused with %d", w.Code))
			return
		}
		if dryRun || isDryRunBody(body) {
			fs.requireState(t, before, fmt.Sprintf("a dry run answered %d", w.Code))
			return
		}
		_, err = fs.srv.store(res).Get(context.Background(), "default", name)
		switch {
		case apierrors.IsNotFound(err) && w.Code == http.StatusOK:
			// Deleted; leaveAsFound checks that its ClusterIP and NodePort went too.
		case err != nil:
			t.Fatalf("answer %d: %v", w.Code, err)
		case w.Code == http.StatusOK:
			t.Fatalf("answer 200, but the %s is still there", res.Kind)
		}
		// 202: marked for deletion; its kubelet or garbage collector would finish.
	})
}

// isDryRunBody reports whether a DELETE body asks for a dry run. It reads
// JSON as the server does: field names are case-sensitive.
func isDryRunBody(body []byte) bool {
	var opts metav1.DeleteOptions
	return kjson.UnmarshalCaseSensitivePreserveInts(body, &opts) == nil && slices.Contains(opts.DryRun, metav1.DryRunAll)
}

// FuzzSelectors lists with arbitrary labelSelector and fieldSelector
// values, as a Table (kubectl get) or as a list: the answer is 200 or 400,
// never a panic or a 500.
func FuzzSelectors(f *testing.F) {
	f.Add(uint8(0), false, "app=mysql", "")
	f.Add(uint8(0), true, "app in (mysql, web),!canary", "status.phase=Pending")
	f.Add(uint8(0), false, "", "spec.nodeName=,metadata.name!=web")
	f.Add(uint8(1), false, "app", "spec.type==ClusterIP")
	f.Add(uint8(2), true, "app notin (a),tier", "status.replicas=0")
	f.Add(uint8(3), false, "environment=production,tier!=frontend", "metadata.namespace=default")
	f.Add(uint8(0), false, "app=", "spec.unknown=1")
	f.Add(uint8(1), false, "a b", "metadata.name")
	f.Add(uint8(2), false, "app in (", "=x")
	f.Add(uint8(3), false, "!", `metadata.name=\`)

	fs := newFuzzServer(f)
	// Something for the selectors to match: the course notes' RC and
	// Service, a pod, a deployment.
	for _, obj := range patchTargets(f)[:4] {
		res := resourceOf(f, obj)
		obj.(metav1.Object).SetName("mysql")
		body, _ := json.Marshal(obj)
		r := httptest.NewRequest(http.MethodPost, collectionPath(res), bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		fs.srv.ServeHTTP(w, r)
		if w.Code != http.StatusCreated {
			f.Fatalf("creating %s mysql: %d %s", res.Kind, w.Code, w.Body)
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, table bool, labelSelector, fieldSelector string) {
		k := fuzzKinds[int(kind)%len(fuzzKinds)]
		res := lookup(k.group, k.version, k.plural)
		q := url.Values{"labelSelector": {labelSelector}, "fieldSelector": {fieldSelector}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r := httptest.NewRequestWithContext(ctx, http.MethodGet, collectionPath(res)+"?"+q.Encode(), nil)
		if table {
			r.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
		}
		w := httptest.NewRecorder()
		fs.srv.ServeHTTP(w, r)
		if checkAnswer(t, w, http.StatusOK) {
			return
		}
		if w.Code != http.StatusBadRequest {
			t.Fatalf("answer %d, want 200 or 400: %s", w.Code, w.Body)
		}
	})
}

// FuzzParsePath reads arbitrary methods and paths: parsePath never panics,
// and answers either a resource and a verb or a 404 or 405 with a message.
func FuzzParsePath(f *testing.F) {
	f.Add("GET", "/api/v1/namespaces/default/pods", false)
	f.Add("GET", "/api/v1/namespaces/default/pods/web", true)
	f.Add("POST", "/api/v1/namespaces/default/pods/web/binding", false)
	f.Add("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale", false)
	f.Add("PUT", "/api/v1/namespaces/kube-system/status", false)
	f.Add("DELETE", "/api/v1/namespaces/default/configmaps", false)
	f.Add("GET", "/api/v1/nodes/node1", false)
	f.Add("POST", "/api/v1/namespaces/default/nodes", false)
	f.Add("GET", "/apis/apps", false)
	f.Add("OPTIONS", "/api/v1/pods", false)
	f.Add("GET", "//api//v1///pods/", false)
	f.Add("PUT", "/api/v1/namespaces", false)

	f.Fuzz(func(t *testing.T, method, path string, watch bool) {
		req, code, msg := parsePath(method, path, watch)
		switch code {
		case 0:
			if req.resource == nil || req.verb == "" || msg != "" {
				t.Fatalf("parsePath(%q, %q) = resource %v, verb %q, message %q", method, path, req.resource, req.verb, msg)
			}
			if req.namespace != "" && !req.resource.Namespaced {
				t.Fatalf("parsePath(%q, %q): namespace %q for cluster-scoped %s", method, path, req.namespace, req.resource.GVR.Resource)
			}
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			if msg == "" {
				t.Fatalf("parsePath(%q, %q) = %d without a message", method, path, code)
			}
		default:
			t.Fatalf("parsePath(%q, %q) = %d %q, want 0, 404 or 405", method, path, code, msg)
		}
	})
}
