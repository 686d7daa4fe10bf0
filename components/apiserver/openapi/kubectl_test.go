package openapi

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kubectlBinary returns bin/kubectl (the real kubectl, v1.37.2, that `make
// build` builds), or skips the test if it is not built; with CI=true a
// missing kubectl is a failure.
func kubectlBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("TINYKUBE_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", "..", "bin")
	}
	path, err := filepath.Abs(filepath.Join(bin, "kubectl"))
	if err == nil {
		_, err = os.Stat(path)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("bin/kubectl missing: `make build` must run before the tests (%v)", err)
		}
		t.Skipf("bin/kubectl missing: run `make build` first (%v)", err)
	}
	return path
}

// kubectl runs the real kubectl against server with an empty home, its own
// cache and no kubeconfig, and returns its combined output.
func kubectl(t *testing.T, server string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, kubectlBinary(t),
		append([]string{"--server=" + server, "--cache-dir=" + filepath.Join(home, "cache")}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+filepath.Join(home, "no-kubeconfig"))
	cmd.Dir = home
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// writeFile writes a manifest in a temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const podManifest = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: nginx:1.27
    ports:
    - containerPort: 80
`

// Reference: KUBECTL-CONTRACT.md, "OpenAPI (create and apply validate with
// it)"; https://kubernetes.io/docs/reference/kubectl/generated/kubectl_explain/.
func TestKubectlExplain(t *testing.T) {
	kubectlBinary(t)
	srv := newFakeAPIServer(t, testResources)
	for _, tc := range []struct {
		args []string
		want []string // substrings of the output
	}{
		{[]string{"explain", "pods.spec.containers"}, []string{
			"KIND:       Pod", "VERSION:    v1", "FIELD: containers <[]Container>",
			"A single application container that you want to run within a pod.",
			"image\t<string>", "Container image name."}},
		{[]string{"explain", "pod.spec.containers.image"}, []string{
			"FIELD: image <string>", "Container image name. More info:"}},
		{[]string{"explain", "deployment.spec.replicas"}, []string{
			"GROUP:      apps", "KIND:       Deployment", "FIELD: replicas <integer>", "Number of desired pods."}},
	} {
		out, err := kubectl(t, srv.URL, tc.args...)
		if err != nil {
			t.Errorf("kubectl %s: %v\n%s", strings.Join(tc.args, " "), err, out)
			continue
		}
		for _, want := range tc.want {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl %s: output lacks %q:\n%s", strings.Join(tc.args, " "), want, out)
			}
		}
	}

	// A field the schema does not have is an error of kubectl's own.
	out, err := kubectl(t, srv.URL, "explain", "pod.spec.bogus")
	if err == nil || !strings.Contains(out, `field "bogus" does not exist`) {
		t.Errorf("kubectl explain pod.spec.bogus: err %v, want `field \"bogus\" does not exist`:\n%s", err, out)
	}
	if len(srv.requests("/openapi/v3/api/v1")) == 0 || len(srv.requests("/openapi/v3/apis/apps/v1")) == 0 {
		t.Errorf("kubectl explain did not fetch the group-version documents; it asked for %v", srv.requests("/"))
	}
}

// kubectl create validates with the document before it sends anything: it
// looks for the kind's PATCH operation and its fieldValidation parameter,
// and finding it, leaves strict field checking to the server.
// Reference: KUBECTL-CONTRACT.md, "OpenAPI (create and apply validate with it)".
func TestKubectlCreateValidates(t *testing.T) {
	kubectlBinary(t)
	srv := newFakeAPIServer(t, testResources)
	pod := writeFile(t, "pod.yaml", podManifest)

	out, err := kubectl(t, srv.URL, "create", "--dry-run=client", "--validate=strict", "-o", "yaml", "-f", pod)
	if err != nil {
		t.Fatalf("kubectl create --dry-run=client: %v\n%s", err, out)
	}
	if !strings.Contains(out, "image: nginx:1.27") {
		t.Errorf("kubectl create --dry-run=client -o yaml: no pod in the output:\n%s", out)
	}
	fetched := srv.requests("/openapi/v3/api/v1")
	if len(fetched) == 0 || fetched[0].Query().Get("hash") == "" {
		t.Errorf("kubectl did not fetch /openapi/v3/api/v1 by hash; it asked for %v", srv.requests("/"))
	}

	out, err = kubectl(t, srv.URL, "create", "--dry-run=server", "-f", pod)
	if err != nil {
		t.Fatalf("kubectl create --dry-run=server: %v\n%s", err, out)
	}
	posts := srv.requests("/api/v1/namespaces/default/pods")
	if len(posts) != 1 {
		t.Fatalf("kubectl create --dry-run=server sent %d POSTs, want 1 (requests: %v)", len(posts), srv.requests("/"))
	}
	if q := posts[0].Query(); q.Get("fieldValidation") != "Strict" || q.Get("dryRun") != "All" {
		t.Errorf("POST %s: want fieldValidation=Strict and dryRun=All (kubectl read the PATCH operation's parameters)", posts[0])
	}

	// An unknown field passes kubectl (the document says the server
	// checks fields) and reaches the server with fieldValidation=Strict,
	// whose job it is to refuse it.
	bad := writeFile(t, "bad.yaml", strings.Replace(podManifest, "    image: nginx:1.27\n", "    image: nginx:1.27\n    imagePullPolicyy: Always\n", 1))
	out, err = kubectl(t, srv.URL, "create", "--dry-run=client", "--validate=strict", "-o", "yaml", "-f", bad)
	if err != nil {
		t.Errorf("kubectl create --dry-run=client with an unknown field: %v (want it left to the server)\n%s", err, out)
	}
}

// Without a PATCH operation for the kind, kubectl cannot tell whether the
// server validates fields, falls back to the OpenAPI v2 document (which
// tinykube does not serve), and refuses to create anything.
func TestKubectlCreateNeedsPatchOperation(t *testing.T) {
	kubectlBinary(t)
	noPatch := []Resource{{Version: "v1", Kind: "Pod", Plural: "pods", Namespaced: true, Verbs: []string{"create", "get", "list"}}}
	srv := newFakeAPIServer(t, noPatch)
	out, err := kubectl(t, srv.URL, "create", "--dry-run=client", "-o", "yaml", "-f", writeFile(t, "pod.yaml", podManifest))
	if err == nil || !strings.Contains(out, "failed to download openapi") {
		t.Errorf("kubectl create with no PATCH operation: err %v, want `failed to download openapi`:\n%s", err, out)
	}
	if len(srv.requests("/openapi/v2")) == 0 {
		t.Errorf("kubectl did not fall back to /openapi/v2; it asked for %v", srv.requests("/"))
	}
}
