package machine

// Helpers for Linux network namespaces, used by the local backend and by
// the kubelet's pod network (components/kubelet/podnet), which makes a
// named namespace per pod the same way.
//
// The one rule they all keep: a Go program moves a *thread*, not a process,
// into a network namespace (setns(2) acts on the calling thread). So every
// switch happens in a goroutine locked to its thread, and the thread goes
// back to the namespace it came from before it is unlocked. If it cannot go
// back, the goroutine exits still locked and the Go runtime terminates the
// thread instead of handing it to other goroutines, which would otherwise
// start making sockets in a foreign namespace.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where named network namespaces live, as with `ip netns`: a
// namespace is kept alive by bind-mounting its /proc/.../ns/net file on an
// empty file here. The directory is shared by the whole host, which is why
// every name carries the cluster's prefix.
const netnsDir = "/run/netns"

// NetnsPath returns the file that names the namespace name.
func NetnsPath(name string) string { return filepath.Join(netnsDir, name) }

// InNetns runs fn on an OS thread that has joined the network namespace ns,
// then moves the thread back. fn must not start goroutines that need to be in
// ns: only the calling thread is there.
func InNetns(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("machine: reading this thread's network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("machine: entering network namespace: %w", err)
			return
		}
		err = fn()
		if backErr := netns.Set(orig); backErr != nil {
			// Stay locked: the runtime kills this thread when we return.
			err = errors.Join(err, fmt.Errorf("machine: leaving network namespace: %w", backErr))
		} else {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// inNamedNetns is inNetns for the namespace called name in netnsDir.
func inNamedNetns(name string, fn func() error) error {
	ns, err := openNetns(name)
	if err != nil {
		return err
	}
	defer ns.Close()
	return InNetns(ns, fn)
}

// openNetns opens the namespace called name. The caller closes the handle.
// It wraps ErrNotFound when there is no such namespace.
func openNetns(name string) (netns.NsHandle, error) {
	if !IsNetns(NetnsPath(name)) {
		return netns.None(), fmt.Errorf("machine: network namespace %s (%s): %w", name, NetnsPath(name), ErrNotFound)
	}
	ns, err := netns.GetFromPath(NetnsPath(name))
	if err != nil {
		return netns.None(), fmt.Errorf("machine: opening network namespace %s: %w", name, err)
	}
	return ns, nil
}

// IsNetns reports whether path is a live namespace: a network namespace file
// is bind-mounted on it (a stale empty file left by a crash is not).
func IsNetns(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// hostNetns opens the network namespace of this process (of its main
// thread), which the local backend calls the host's.
func hostNetns() (netns.NsHandle, error) {
	ns, err := netns.GetFromPath("/proc/self/ns/net")
	if err != nil {
		return netns.None(), fmt.Errorf("machine: opening the host's network namespace: %w", err)
	}
	return ns, nil
}

// routeHandle returns a netlink handle (route family only) whose socket lives
// in ns: every request on it acts on ns, from any thread. The caller closes it.
func routeHandle(ns netns.NsHandle) (*netlink.Handle, error) {
	var h *netlink.Handle
	err := InNetns(ns, func() error {
		var err error
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("machine: opening netlink: %w", err)
	}
	return h, nil
}

// withNamedHandle runs fn with a netlink handle in the namespace called name.
func withNamedHandle(name string, fn func(h *netlink.Handle) error) error {
	ns, err := openNetns(name)
	if err != nil {
		return err
	}
	defer ns.Close()
	h, err := routeHandle(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return fn(h)
}

// NewNamedNetns creates the network namespace name (the file
// netnsDir/name) and runs setup on a thread inside it, e.g. to write its
// sysctls. It returns a handle on the namespace, which the caller closes.
// It fails, wrapping ErrExists, if the name is taken, and leaves nothing
// behind when it fails.
func NewNamedNetns(name string, setup func() error) (netns.NsHandle, error) {
	if err := EnsureNetnsDir(); err != nil {
		return netns.None(), fmt.Errorf("machine: %w", err)
	}
	path := NetnsPath(name)
	// The name first: if it is taken we stop before making a namespace.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if errors.Is(err, os.ErrExist) {
		return netns.None(), fmt.Errorf("machine: network namespace %s: %w", name, ErrExists)
	}
	if err != nil {
		return netns.None(), fmt.Errorf("machine: creating network namespace %s: %w", name, err)
	}
	f.Close()

	type result struct {
		ns  netns.NsHandle
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{netns.None(), err}
			return
		}
		defer orig.Close()

		ns, err := func() (netns.NsHandle, error) {
			// unshare(2) moves this thread into a new, empty namespace.
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return netns.None(), fmt.Errorf("unshare: %w", err)
			}
			// The bind mount keeps it alive once no process is in it.
			if err := unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, ""); err != nil {
				return netns.None(), fmt.Errorf("bind-mounting it on %s: %w", path, err)
			}
			if setup != nil {
				if err := setup(); err != nil {
					return netns.None(), err
				}
			}
			return netns.Get()
		}()
		if backErr := netns.Set(orig); backErr != nil {
			err = errors.Join(err, fmt.Errorf("leaving it: %w", backErr)) // the thread dies locked
		} else {
			runtime.UnlockOSThread()
		}
		done <- result{ns, err}
	}()
	r := <-done
	if r.err != nil {
		if r.ns.IsOpen() {
			r.ns.Close()
		}
		return netns.None(), errors.Join(
			fmt.Errorf("machine: creating network namespace %s: %w", name, r.err),
			DeleteNamedNetns(name))
	}
	return r.ns, nil
}

// DeleteNamedNetns removes the name of a namespace: it unmounts and removes
// netnsDir/name. The kernel frees the namespace, with every link in it, when
// nothing else uses it (no process, no open handle, no socket). Deleting a
// name that does not exist is not an error.
func DeleteNamedNetns(name string) error {
	path := NetnsPath(name)
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("machine: unmounting %s: %w", path, err) // EINVAL: not mounted
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("machine: removing %s: %w", path, err)
	}
	return nil
}

// ListNetns returns the names in netnsDir that start with prefix, sorted.
func ListNetns(prefix string) ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("machine: listing network namespaces: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// nsID identifies a namespace: the device and inode of its nsfs file, the
// same whether reached through /proc/<pid>/ns/net or a bind mount.
type nsID struct{ dev, ino uint64 }

// netnsIDs maps the live namespaces among names to their names.
func netnsIDs(names []string) map[nsID]string {
	ids := map[nsID]string{}
	for _, name := range names {
		var st unix.Stat_t
		if IsNetns(NetnsPath(name)) && unix.Stat(NetnsPath(name), &st) == nil {
			ids[nsID{st.Dev, st.Ino}] = name
		}
	}
	return ids
}

// proc is a process found in one of the namespaces looked for.
type proc struct {
	pid   int
	netns string // name of its namespace
}

// procsIn returns the processes whose network namespace is in ids, sorted
// by PID. It looks at each process's main thread, and never returns this
// process or PID 1 (the host's init, never a machine's). A zombie has left
// its namespaces, so it is not returned.
func procsIn(ids map[nsID]string) ([]proc, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	d, err := os.Open("/proc")
	if err != nil {
		return nil, fmt.Errorf("machine: listing processes: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("machine: listing processes: %w", err)
	}
	self := os.Getpid()
	var procs []proc
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid == self || pid == 1 {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+name+"/ns/net", &st) != nil {
			continue // gone, a zombie, or a kernel thread we may not inspect
		}
		if ns, ok := ids[nsID{st.Dev, st.Ino}]; ok {
			procs = append(procs, proc{pid, ns})
		}
	}
	slices.SortFunc(procs, func(a, b proc) int { return a.pid - b.pid })
	return procs, nil
}

// killTimeout bounds how long killAll waits for killed processes to go when
// the context has no earlier deadline.
const killTimeout = 10 * time.Second

// killAll sends SIGKILL to every process in the namespaces ids, again to any
// that appear meanwhile, until none is left. It polls with a deadline and
// names the processes still there if they outlive it (a process blocked in
// the kernel, state D, can).
func killAll(ctx context.Context, ids map[nsID]string) error {
	deadline := time.Now().Add(killTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	wait := time.Millisecond
	for {
		procs, err := procsIn(ids)
		if err != nil {
			return err
		}
		if len(procs) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("machine: processes still alive after SIGKILL: %s; look for processes in state D (ps -o pid,stat,comm) and retry", describeProcs(procs))
		}
		for _, p := range procs {
			_ = unix.Kill(p.pid, unix.SIGKILL) // ESRCH: already gone
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("machine: waiting for killed processes %s: %w", describeProcs(procs), ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 20*time.Millisecond)
	}
}

// describeProcs writes procs as "1234 (sleep) in tk-node1, ...".
func describeProcs(procs []proc) string {
	var parts []string
	for _, p := range procs {
		parts = append(parts, fmt.Sprintf("%d (%s) in %s", p.pid, comm(p.pid), p.netns))
	}
	return strings.Join(parts, ", ")
}

// comm returns the command name of process pid, or "?" if it is gone.
func comm(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// WriteSysctl sets a sysctl of the calling thread's namespaces, e.g.
// "net/ipv4/ip_forward". The sysctls under /proc/sys/net belong to the
// network namespace of the thread that opens the file, so call it from a
// thread inside the namespace (see inNetns).
func WriteSysctl(name, value string) error {
	if err := os.WriteFile("/proc/sys/"+name, []byte(value), 0); err != nil {
		return fmt.Errorf("machine: setting sysctl %s=%s: %w", strings.ReplaceAll(name, "/", "."), value, err)
	}
	return nil
}

// ReadSysctl returns the value of a sysctl of the calling thread's
// namespaces, like WriteSysctl.
func ReadSysctl(name string) (string, error) {
	b, err := os.ReadFile("/proc/sys/" + name)
	return strings.TrimSpace(string(b)), err
}

// EnsureNetnsDir makes /run/netns a mount point of its own with shared
// propagation, as `ip netns add` does before its first namespace. It must
// come first: if `ip netns add` makes that mount later, it mounts
// /run/netns over itself and hides every namespace file mounted in it
// before (they can then be neither entered nor removed).
func EnsureNetnsDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return err
	}
	if isMountPoint(netnsDir) {
		return nil
	}
	if err := unix.Mount(netnsDir, netnsDir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mounting %s on itself: %w", netnsDir, err)
	}
	if err := unix.Mount("", netnsDir, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making %s shared: %w", netnsDir, err)
	}
	return nil
}

// isMountPoint reports whether dir is a mount point in this process's
// mount namespace.
func isMountPoint(dir string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}
