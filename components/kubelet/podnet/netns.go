package podnet

// Network namespaces from Go.
//
// The rule all of this keeps: setns(2) and unshare(2) move the calling
// *thread*, not the process, into a namespace, and the Go runtime runs a
// goroutine on whatever thread it likes. So a switch happens only in a
// goroutine locked to its thread (runtime.LockOSThread), and the thread
// goes back to where it came from before it is unlocked. If it cannot go
// back, the goroutine ends still locked and the runtime kills the thread
// rather than let other goroutines open sockets in a foreign namespace.
//
// Most of the work needs no switch at all: a netlink socket acts on the
// namespace it was created in, from any thread, so this package opens one
// netlink handle per namespace (netlink.NewHandleAt) and talks to that.
// Only creating a namespace and writing sysctls need a thread inside it.

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/tinykube/tinykube/internal/machine"
)

// inNetns runs fn on a thread that has joined the namespace ns, then moves
// the thread back. Only that thread is in ns: fn must not hand work that
// needs ns to other goroutines.
func inNetns(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("podnet: reading this thread's network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("podnet: entering network namespace: %w", err)
			return
		}
		err = fn()
		if backErr := netns.Set(orig); backErr != nil {
			// Stay locked: the runtime ends this thread when we return.
			err = errors.Join(err, fmt.Errorf("podnet: leaving network namespace: %w", backErr))
		} else {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// newNamedNetns creates a network namespace named by the file path (in
// /run/netns) and returns a handle on it, which the caller closes. It is
// what `ip netns add` does, and what netns.NewNamed does too, except that
// the calling thread is not left inside the new namespace:
//
//  1. create the empty file path (failing if it exists);
//  2. on a locked thread, unshare(CLONE_NEWNET): the thread is now alone
//     in a new, empty namespace;
//  3. bind-mount the thread's /proc/thread-self/ns/net on path: the mount
//     keeps the namespace alive after the thread leaves, and gives it a
//     name other programs (containerd, nsenter) can open;
//  4. open a handle on it, and move the thread back.
//
// If it fails it leaves nothing behind.
func newNamedNetns(path string) (netns.NsHandle, error) {
	// /run/netns is a mount point of its own, as `ip netns` makes it (see
	// machine.EnsureNetnsDir for why it must be so before the first file).
	if err := machine.EnsureNetnsDir(); err != nil {
		return netns.None(), fmt.Errorf("podnet: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return netns.None(), fmt.Errorf("podnet: creating network namespace %s: %w", path, err)
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
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return netns.None(), fmt.Errorf("unshare: %w", err)
			}
			if err := unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, ""); err != nil {
				return netns.None(), fmt.Errorf("bind-mounting it on %s: %w", path, err)
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
			fmt.Errorf("podnet: creating network namespace %s: %w", path, r.err),
			deleteNamedNetns(path))
	}
	return r.ns, nil
}

// deleteNamedNetns unmounts and removes path. The kernel frees the
// namespace, and every link still in it, once nothing uses it any more (no
// process, no open handle, no socket). Deleting a name that does not
// exist is not an error.
func deleteNamedNetns(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("podnet: unmounting %s: %w", path, err) // EINVAL: not mounted
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("podnet: removing %s: %w", path, err)
	}
	return nil
}

// isNetns reports whether path is a live namespace: a namespace is mounted
// on it (a stale empty file left by a crash is not).
func isNetns(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// listNetns returns the names in /run/netns that start with prefix.
func listNetns(prefix string) ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("podnet: listing network namespaces: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// writeSysctl sets a sysctl such as "net/ipv4/ip_forward". The files under
// /proc/sys/net belong to the network namespace of the thread that opens
// them, so call it inside inNetns.
func writeSysctl(name, value string) error {
	if err := os.WriteFile("/proc/sys/"+name, []byte(value), 0); err != nil {
		return fmt.Errorf("podnet: setting sysctl %s=%s: %w", strings.ReplaceAll(name, "/", "."), value, err)
	}
	return nil
}

// readSysctl returns the value of a sysctl, like writeSysctl.
func readSysctl(name string) (string, error) {
	b, err := os.ReadFile("/proc/sys/" + name)
	return strings.TrimSpace(string(b)), err
}
