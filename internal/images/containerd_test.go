package images

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tinykube/tinykube/internal/machine/machinetest"
)

// TestContainerd imports the images into a real containerd, as a node does,
// and runs them: busybox says hello, pause reaps an orphan of its pod and
// exits 0 on SIGTERM, the demo server starts and stops cleanly.
//
// Reference: MACHINES-AND-NETWORK.md, "One containerd per node" and
// "Images without a registry".
func TestContainerd(t *testing.T) {
	requireContainerd(t)
	ctx := namespaces.WithNamespace(context.Background(), "k8s.io")
	dir := t.TempDir()

	results, err := Make(ctx, Options{Out: filepath.Join(dir, "images"), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	d := startContainerd(t, dir)

	// Import every tarball, twice (a node imports them at every start).
	start := time.Now()
	for _, r := range results {
		for range 2 {
			f, err := os.Open(r.Path)
			if err != nil {
				t.Fatal(err)
			}
			imgs, err := d.client.Import(ctx, f)
			f.Close()
			if err != nil {
				t.Fatalf("import %s: %v", r.Path, err)
			}
			var names []string
			for _, img := range imgs {
				names = append(names, img.Name)
				if img.Target.Digest != r.Digest {
					t.Errorf("image %s: digest %s, the tarball's is %s", img.Name, img.Target.Digest, r.Digest)
				}
			}
			if !slices.Equal(names, r.Entry.Names) {
				t.Fatalf("import %s: images %q, want %q", r.Entry.File, names, r.Entry.Names)
			}
		}
		for _, name := range r.Entry.Names {
			img, err := d.client.GetImage(ctx, name)
			if err != nil {
				t.Fatalf("image %s after import: %v", name, err)
			}
			if err := img.Unpack(ctx, "overlayfs"); err != nil {
				t.Fatalf("unpack %s: %v", name, err)
			}
			if ok, err := img.IsUnpacked(ctx, "overlayfs"); !ok || err != nil {
				t.Errorf("image %s: unpacked %v, %v", name, ok, err)
			}
		}
	}

	t.Logf("imported twice and unpacked %d images in %v", len(results), time.Since(start).Round(time.Millisecond))

	t.Run("busybox says hello", func(t *testing.T) {
		task, log := d.run(t, "hello", Busybox, oci.WithProcessArgs("echo", "hello"))
		if code := waitExit(t, ctx, task); code != 0 {
			t.Errorf("echo hello: exit status %d; output %q", code, readFile(log))
		}
		waitFor(t, "the output of echo hello", func() (bool, string) {
			out := readFile(log)
			return out == "hello\n", fmt.Sprintf("%q", out)
		})
	})

	t.Run("pause reaps orphans and exits 0 on SIGTERM", func(t *testing.T) {
		pause, _ := d.run(t, "pause", Pause)
		// A second container of the "pod" shares pause's PID namespace, where
		// pause is PID 1, as with shareProcessNamespace: true.
		pidns := specs.LinuxNamespace{Type: specs.PIDNamespace, Path: fmt.Sprintf("/proc/%d/ns/pid", pause.Pid())}
		app, _ := d.run(t, "app", Busybox, oci.WithLinuxNamespace(pidns), oci.WithProcessArgs("sleep", "60"))

		// `sleep 1 &` run by a shell that exits at once: the orphan goes
		// to PID 1 of the namespace, pause. Once it exits it must be reaped,
		// or it stays a zombie under pause.
		spec, err := app.Spec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		proc := *spec.Process
		proc.Args = []string{"sh", "-c", "sleep 1 &"}
		maker, err := app.Exec(ctx, "orphan-maker", &proc, cio.NullIO)
		if err != nil {
			t.Fatal(err)
		}
		if err := maker.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if code := waitExit(t, ctx, maker); code != 0 {
			t.Fatalf("sh -c 'sleep 1 &': exit status %d", code)
		}
		if _, err := maker.Delete(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "an orphan under pause", func() (bool, string) {
			kids := children(pause.Pid())
			return len(kids) > 0, fmt.Sprint(kids)
		})
		waitFor(t, "pause to reap the orphan", func() (bool, string) {
			kids := children(pause.Pid())
			return len(kids) == 0, fmt.Sprintf("children of pause (pid: state): %v", kids)
		})

		if err := app.Kill(ctx, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitExit(t, ctx, app)
		if err := pause.Kill(ctx, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := waitExit(t, ctx, pause); code != 0 {
			t.Errorf("pause: exit status %d on SIGTERM, want 0", code)
		}
	})

	t.Run("demo starts and stops on SIGTERM", func(t *testing.T) {
		demo, log := d.run(t, "demo", Demo, oci.WithEnv([]string{"NODE_NAME=node1", "POD_NAME=demo-1"}))
		waitFor(t, "the demo server to listen", func() (bool, string) {
			out := readFile(log)
			return strings.Contains(out, "demo: pod demo-1, ip unknown, node node1: listening on :8080"), out
		})
		if err := demo.Kill(ctx, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := waitExit(t, ctx, demo); code != 0 {
			t.Errorf("demo: exit status %d on SIGTERM, want 0; output %q", code, readFile(log))
		}
	})
}

// requireContainerd stops the test unless it can run a containerd: it
// skips it, or fails it when CI=true, as machinetest.RequireRoot does.
func requireContainerd(t *testing.T) {
	t.Helper()
	machinetest.RequireRoot(t)
	for _, bin := range []string{"/usr/bin/containerd", "containerd-shim-runc-v2", "runc", "unshare", "/usr/bin/busybox"} {
		if _, err := exec.LookPath(bin); err != nil {
			reason := fmt.Sprintf("needs %s: %v (Debian packages containerd, runc, util-linux, busybox-static: `make deps`)", bin, err)
			if os.Getenv("CI") == "true" {
				t.Fatal(reason)
			}
			t.Skip(reason)
		}
	}
}

// daemon is a private containerd: its files under dir, its containers'
// cgroups under cgroupParent, and a client.
type daemon struct {
	dir          string
	address      string
	cmd          *exec.Cmd
	client       *containerd.Client
	cgroupParent string // "/tinykube-imagetest-<random>"
}

// startContainerd starts a containerd that shares nothing with any other:
// root, state, sockets, opt and runc's state under dir, no CRI, no debug or
// metrics listener. Its cleanup, registered on t, stops it and removes
// everything it made.
//
// containerd 1.6 puts its shims' sockets in /run/containerd/s whatever
// its config says, so it runs in a mount namespace of its own where /run
// is an empty tmpfs: the host's /run/containerd is never touched, and the
// mounts of its containers' root file systems vanish with it.
func startContainerd(t *testing.T, dir string) *daemon {
	t.Helper()
	random := make([]byte, 4)
	rand.Read(random)
	d := &daemon{
		dir:          dir,
		address:      filepath.Join(dir, "containerd.sock"),
		cgroupParent: "/tinykube-imagetest-" + hex.EncodeToString(random),
	}
	config := filepath.Join(dir, "config.toml")
	err := os.WriteFile(config, fmt.Appendf(nil, `version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), d.address, d.address+".ttrpc", filepath.Join(dir, "opt")), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()

	// unshare and sh exec in turn: d.cmd's PID is containerd's.
	d.cmd = exec.Command("unshare", "--mount", "--propagation", "private", "--",
		"sh", "-c", `mount -t tmpfs -o mode=0755 tinykube-imagetest /run && exec "$0" "$@"`,
		"/usr/bin/containerd", "--config", config)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	// If the test binary dies, so does containerd (its shims do not).
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { d.cmd.Wait(); close(exited) }()
	t.Cleanup(func() { d.stop(t, exited) })

	deadline := time.Now().Add(10 * time.Second)
	for {
		client, err := containerd.New(d.address, containerd.WithTimeout(time.Second))
		if err == nil {
			if _, err = client.Version(context.Background()); err == nil {
				d.client = client
				return d
			}
			client.Close()
		}
		select {
		case <-exited:
			t.Fatalf("containerd exited: %v\n%s", d.cmd.ProcessState, readFile(filepath.Join(dir, "containerd.log")))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd does not answer on %s: %v\n%s", d.address, err, readFile(filepath.Join(dir, "containerd.log")))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run creates and starts a container of image with a cgroup of its own
// under the daemon's parent and runc's state under the daemon's dir. Its
// output goes to the returned log file: a file, not FIFOs, which nobody
// would read and which a crash would leave behind. The container and its
// snapshot are removed when the test ends.
func (d *daemon) run(t *testing.T, id, image string, opts ...oci.SpecOpts) (containerd.Task, string) {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), "k8s.io")
	img, err := d.client.GetImage(ctx, image)
	if err != nil {
		t.Fatal(err)
	}
	specOpts := append([]oci.SpecOpts{oci.WithImageConfig(img), oci.WithCgroup(d.cgroupParent + "/" + id)}, opts...)
	ctr, err := d.client.NewContainer(ctx, id,
		containerd.WithImage(img),
		containerd.WithNewSnapshot(id+"-rootfs", img),
		containerd.WithRuntime("io.containerd.runc.v2", &options.Options{Root: filepath.Join(d.dir, "runc")}),
		containerd.WithNewSpec(specOpts...),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
			t.Errorf("delete container %s: %v", id, err)
		}
	})
	log := filepath.Join(d.dir, id+".log")
	task, err := ctr.NewTask(ctx, cio.LogFile(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
			t.Errorf("delete task %s: %v", id, err)
		}
	})
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return task, log
}

// stop stops containerd by its PID and checks that nothing is left: no
// container, no process that still names the daemon's socket (a shim), no
// mount under dir; it removes the containers' cgroups.
func (d *daemon) stop(t *testing.T, exited chan struct{}) {
	if d.client != nil {
		ctx := namespaces.WithNamespace(context.Background(), "k8s.io")
		if ctrs, err := d.client.Containers(ctx); err != nil || len(ctrs) > 0 {
			t.Errorf("containers left: %d, %v", len(ctrs), err)
		}
		d.client.Close()
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Errorf("containerd (pid %d) still running 5 s after SIGTERM: killed", d.cmd.Process.Pid)
		d.cmd.Process.Kill()
		<-exited
	}
	waitFor(t, "the shims to exit", func() (bool, string) {
		pids := processesNaming(d.address)
		return len(pids) == 0, fmt.Sprintf("processes naming %s: %v", d.address, pids)
	})
	if mounts := mountsUnder(d.dir); len(mounts) > 0 {
		t.Errorf("mounts left under %s: %v", d.dir, mounts)
		for _, m := range slices.Backward(mounts) {
			syscall.Unmount(m, syscall.MNT_DETACH)
		}
	}
	// The cgroups: runc made <controller>/<parent>/<id> in every hierarchy.
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + d.cgroupParent)
	for _, parent := range dirs {
		kids, _ := os.ReadDir(parent)
		for _, kid := range kids {
			if kid.IsDir() {
				if err := os.Remove(filepath.Join(parent, kid.Name())); err != nil {
					t.Errorf("cgroup: %v", err)
				}
			}
		}
		if err := os.Remove(parent); err != nil {
			t.Errorf("cgroup: %v", err)
		}
	}
}

// waitExit waits for p to exit and returns its exit status.
func waitExit(t *testing.T, ctx context.Context, p containerd.Process) uint32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	statusC, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-statusC:
		code, _, err := s.Result()
		if err != nil {
			t.Fatal(err)
		}
		return code
	case <-ctx.Done():
		t.Fatalf("process %s (pid %d) has not exited after 10 s", p.ID(), p.Pid())
		return 0
	}
}

// waitFor polls cond for up to 10 s; on timeout it fails the test with
// what cond saw last.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s; last saw: %s", what, seen)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readFile(name string) string {
	b, _ := os.ReadFile(name)
	return string(b)
}

// children returns the processes whose parent is pid, as "pid: state".
func children(pid uint32) []string {
	var kids []string
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces, not ')'.
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(int(pid)) {
			kids = append(kids, strings.TrimSuffix(strings.TrimPrefix(f, "/proc/"), "/stat")+": "+fields[0])
		}
	}
	return kids
}

// processesNaming returns the PIDs of the processes whose command line
// holds s.
func processesNaming(s string) []string {
	var pids []string
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte(s)) {
			pids = append(pids, strings.TrimSuffix(strings.TrimPrefix(f, "/proc/"), "/cmdline"))
		}
	}
	return pids
}

// mountsUnder returns the mount points under dir in this mount namespace.
func mountsUnder(dir string) []string {
	var mounts []string
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for line := range strings.SplitSeq(string(b), "\n") {
		if fields := strings.Fields(line); len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			mounts = append(mounts, fields[4])
		}
	}
	return mounts
}
