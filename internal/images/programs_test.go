package images

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// buildPrograms builds the images' Go programs into a temporary directory,
// as Make does.
func buildPrograms(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the images' Go programs: skipped under -short")
	}
	dir := t.TempDir()
	if err := goBuild(context.Background(), "go", dir, []string{Module + "/testdata/images/pause", Module + "/testdata/images/demo"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDemoServer runs the demo server on the host and asks it who it is.
func TestDemoServer(t *testing.T) {
	dir := buildPrograms(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	l.Close()

	cmd := exec.Command(filepath.Join(dir, "demo"))
	cmd.Env = append(os.Environ(), "PORT="+port, "POD_NAME=web-1", "POD_IP=10.244.1.7", "NODE_NAME=node1")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	get := func(path string) (string, error) {
		resp, err := http.Get("http://127.0.0.1:" + port + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return string(body), fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return string(body), err
	}
	waitFor(t, "GET /healthz to answer ok", func() (bool, string) {
		body, err := get("/healthz")
		return err == nil && body == "ok\n", fmt.Sprintf("%q, %v", body, err)
	})
	body, err := get("/some/path")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(body, "\n")
	want := []string{"pod: web-1", "ip: 10.244.1.7", "node: node1", "path: /some/path"}
	if len(lines) != 6 || strings.Join(lines[:4], "\n") != strings.Join(want, "\n") ||
		!strings.HasPrefix(lines[4], "client: 127.0.0.1:") || lines[5] != "" {
		t.Errorf("GET /some/path:\n%s\nwant:\n%s\nclient: 127.0.0.1:<port>", body, strings.Join(want, "\n"))
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("demo on SIGTERM: %v, want exit status 0; logs:\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "GET /some/path from 127.0.0.1:") {
		t.Errorf("demo did not log the request; logs:\n%s", logs.String())
	}
}

// TestPauseExitsOnSignals runs pause on the host (not as PID 1, so it
// warns) and stops it with SIGTERM, then SIGINT: it exits 0 each time.
func TestPauseExitsOnSignals(t *testing.T) {
	dir := buildPrograms(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(filepath.Join(dir, "pause"))
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// It warns once its signal handlers are in place.
		warning, err := bufio.NewReader(stderr).ReadString('\n')
		if warning != "Warning: pause should be the first process\n" {
			t.Fatalf("pause said %q, %v; want its warning that it is not PID 1", warning, err)
		}
		cmd.Process.Signal(sig)
		rest, _ := io.ReadAll(stderr)
		if err := cmd.Wait(); err != nil {
			t.Errorf("pause on %v: %v, want exit status 0; stderr %q", sig, err, rest)
		}
	}
}
