package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"

	"github.com/tinykube/tinykube/plugins"
)

// Version is the reference containerd component's version.
const Version = "v0.1.0"

// Namespace is containerd's namespace for Kubernetes' images and
// containers, as with the CRI plugin: `ctr -n k8s.io containers ls`.
const Namespace = "k8s.io"

// Snapshotter unpacks image layers into container root filesystems.
const Snapshotter = "overlayfs"

// Containerd is the reference containerd component: containerd's daemon as
// a child process, configured for one node.
type Containerd struct {
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the daemon has exited
	exitErr  error
	address  string
	client   *containerd.Client
	imported chan struct{} // closed when the images are in
	importOK string        // what was imported, for Health
	importEr error
	started  bool
}

var _ plugins.Component = (*Containerd)(nil)

// New returns a containerd component, not yet started.
func New() *Containerd { return &Containerd{} }

// Identify says this is the reference containerd.
func (c *Containerd) Identify(context.Context) (plugins.Identity, error) {
	return plugins.Identity{Kind: plugins.KindContainerd, Implementation: "reference", Version: Version}, nil
}

// Paths are where one node's daemon keeps its files.
type Paths struct {
	Root    string // images and snapshots (persistent)
	State   string // sockets, mounts of running containers (volatile)
	Address string // the gRPC socket; ttrpc listens on Address + ".ttrpc"
	Config  string // the generated config.toml
}

// PathsFor derives a node's paths from its settings: address and state-dir
// may be given; the defaults are under /run/tinykube/<cluster>/<machine>.
func PathsFor(s plugins.Settings) Paths {
	run := filepath.Join("/run/tinykube", s.Cluster, s.Machine)
	p := Paths{
		Root:    filepath.Join(s.DataDir, "root"),
		State:   filepath.Join(run, "containerd"),
		Address: filepath.Join(run, "containerd.sock"),
		Config:  filepath.Join(s.DataDir, "config.toml"),
	}
	if v := s.Values["address"]; v != "" {
		p.Address = v
	}
	if v := s.Values["state-dir"]; v != "" {
		p.State = v
	}
	return p
}

// Config is the daemon's configuration (containerd 1.6, version 2 format):
// everything a daemon could share with another node's is made private.
func Config(p Paths) string {
	return fmt.Sprintf(`# Written by tinykube's containerd component; regenerated at every start.
version = 2
root = %q
state = %q
# The kubelet uses containerd's Go client, not the CRI.
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, p.Root, p.State, p.Address, p.Address+".ttrpc", filepath.Join(p.Root, "opt"))
}

// Start writes the config, starts the daemon and, once it answers, imports
// the images in images-dir. Settings: address, state-dir, images-dir,
// containerd-binary (default: containerd on PATH).
func (c *Containerd) Start(_ context.Context, s plugins.Settings) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return plugins.ErrAlreadyStarted
	}
	if s.DataDir == "" || s.Cluster == "" || s.Machine == "" {
		return errors.New("containerd: settings need the cluster, the machine and a data directory")
	}
	binary := s.Values["containerd-binary"]
	if binary == "" {
		binary = "containerd"
	}
	path, err := exec.LookPath(binary)
	if err != nil {
		return fmt.Errorf("containerd: %w (install Debian's containerd package: `make deps`)", err)
	}
	p := PathsFor(s)
	for _, dir := range []string{p.Root, p.State, filepath.Dir(p.Address)} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return fmt.Errorf("containerd: %w", err)
		}
	}
	if err := os.WriteFile(p.Config, []byte(Config(p)), 0o644); err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	// A socket left by a daemon that was killed would make the new one fail.
	os.Remove(p.Address)
	os.Remove(p.Address + ".ttrpc")

	cmd := exec.Command(path, "--config", p.Config)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr // the component's log
	// The daemon dies with this process; containers do not (their shims
	// are not the daemon's children once started).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("containerd: start %s: %w", path, err)
	}
	c.cmd, c.address, c.started = cmd, p.Address, true
	c.exited = make(chan struct{})
	c.imported = make(chan struct{})
	go func() {
		err := cmd.Wait()
		c.mu.Lock()
		c.exitErr = err
		c.mu.Unlock()
		close(c.exited)
	}()
	go c.importImages(s.Values["images-dir"])
	return nil
}

// connect waits for the daemon to answer and returns a client.
func (c *Containerd) connect(ctx context.Context) (*containerd.Client, error) {
	for {
		client, err := containerd.New(c.address, containerd.WithDefaultNamespace(Namespace), containerd.WithTimeout(time.Second))
		if err == nil {
			if _, err = client.Version(ctx); err == nil {
				return client, nil
			}
			client.Close()
		}
		select {
		case <-c.exited:
			return nil, fmt.Errorf("containerd exited: %v", c.exitErr)
		case <-ctx.Done():
			return nil, fmt.Errorf("containerd not answering on %s: %w", c.address, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// importImages loads every *.tar in dir into the k8s.io namespace and
// unpacks it, so that the kubelet finds the images present.
func (c *Containerd) importImages(dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, err := c.connect(ctx)
	var names []string
	if err == nil {
		c.mu.Lock()
		c.client = client
		c.mu.Unlock()
		names, err = ImportDir(namespaces.WithNamespace(ctx, Namespace), client, dir)
	}
	c.mu.Lock()
	c.importEr = err
	if err == nil {
		c.importOK = fmt.Sprintf("%d images", len(names))
		if dir == "" {
			c.importOK = "no images-dir given"
		}
	}
	c.mu.Unlock()
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "containerd component: image %s imported\n", n)
	}
	close(c.imported)
}

// ImportDir imports and unpacks every image archive (*.tar) in dir and
// returns the images' names.
func ImportDir(ctx context.Context, client *containerd.Client, dir string) ([]string, error) {
	if dir == "" {
		return nil, nil
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.tar"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no image archives (*.tar) in %s; build them with `make images`", dir)
	}
	sort.Strings(files)
	var names []string
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			return names, err
		}
		imgs, err := client.Import(ctx, f)
		f.Close()
		if err != nil {
			return names, fmt.Errorf("import %s: %w", file, err)
		}
		for _, img := range imgs {
			image := containerd.NewImage(client, img)
			if err := image.Unpack(ctx, Snapshotter); err != nil {
				return names, fmt.Errorf("unpack %s: %w", img.Name, err)
			}
			names = append(names, img.Name)
		}
	}
	return names, nil
}

// Health is healthy once the daemon answers and the images are imported.
func (c *Containerd) Health(ctx context.Context) (plugins.Health, error) {
	c.mu.Lock()
	started, exited, imported := c.started, c.exited, c.imported
	c.mu.Unlock()
	if !started {
		return plugins.Health{}, plugins.ErrNotStarted
	}
	select {
	case <-exited:
		return plugins.Health{Message: fmt.Sprintf("the containerd daemon exited: %v", c.exitErr)}, nil
	default:
	}
	select {
	case <-imported:
	default:
		return plugins.Health{Message: "starting: waiting for the daemon, then importing images"}, nil
	}
	c.mu.Lock()
	client, importErr, importOK := c.client, c.importEr, c.importOK
	c.mu.Unlock()
	if importErr != nil {
		return plugins.Health{Message: fmt.Sprintf("images: %v", importErr)}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	v, err := client.Version(ctx)
	if err != nil {
		return plugins.Health{Message: fmt.Sprintf("the daemon does not answer: %v", err)}, nil
	}
	return plugins.Health{Healthy: true, Message: fmt.Sprintf("containerd %s on %s, %s", v.Version, c.address, importOK)}, nil
}

// Stop powers the node's runtime off: every task is killed and its
// container deleted, then the daemon is asked to stop (SIGTERM), and
// killed if it has not within ctx's deadline.
func (c *Containerd) Stop(ctx context.Context) error {
	c.mu.Lock()
	cmd, exited, client := c.cmd, c.exited, c.client
	c.cmd, c.client = nil, nil
	c.mu.Unlock()
	if cmd == nil {
		return nil
	}
	var errs []error
	if client != nil {
		if err := RemoveAll(namespaces.WithNamespace(ctx, Namespace), client); err != nil {
			errs = append(errs, err)
		}
		client.Close()
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-ctx.Done():
		cmd.Process.Kill()
		<-exited
	}
	return errors.Join(errs...)
}

// RemoveAll kills every task of the namespace in ctx and deletes its
// containers with their snapshots.
func RemoveAll(ctx context.Context, client *containerd.Client) error {
	containers, err := client.Containers(ctx)
	if err != nil {
		return fmt.Errorf("containerd: list containers: %w", err)
	}
	var errs []string
	for _, ctr := range containers {
		if task, err := ctr.Task(ctx, nil); err == nil {
			if status, err := task.Wait(ctx); err == nil {
				task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll)
				select {
				case <-status:
				case <-time.After(2 * time.Second):
				}
			}
			if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
				errs = append(errs, fmt.Sprintf("task %s: %v", ctr.ID(), err))
			}
		}
		if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
			errs = append(errs, fmt.Sprintf("container %s: %v", ctr.ID(), err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("containerd: removing containers: %s", strings.Join(errs, "; "))
	}
	return nil
}
