// Package machinetest holds helpers for tests that need what the local
// machine backend needs: root and Linux network namespaces.
//
// Such tests skip themselves where they cannot run (a developer's laptop,
// a container without privileges), with a reason saying what is missing.
// In CI they must not silently pass by skipping, so when the environment
// variable CI is "true" the same checks fail the test instead.
package machinetest

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// RequireRoot stops the test unless it runs as root (effective UID 0): it
// skips the test, or fails it when CI=true.
func RequireRoot(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs root and real machines: skipped under -short (unit tests only)")
	}
	if os.Geteuid() != 0 {
		stop(t, fmt.Sprintf("needs root (effective UID is %d); run the tests with sudo", os.Geteuid()))
	}
}

// RequireNetns stops the test unless it runs as root and can create network
// namespaces: it skips the test, or fails it when CI=true.
func RequireNetns(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	probeOnce.Do(func() { probeErr = probeNetns() })
	if probeErr != nil {
		stop(t, fmt.Sprintf("needs network namespaces: %v (inside a container, run it with --privileged)", probeErr))
	}
}

var (
	probeOnce sync.Once
	probeErr  error
)

// probeNetns tries to create a network namespace, on a thread of its own
// that then goes back where it was.
func probeNetns() error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
			return
		}
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Stay locked: the runtime ends this thread, stuck in the new namespace.
			errc <- fmt.Errorf("setns back: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	return <-errc
}

// stop skips t with reason, or fails it if CI=true.
func stop(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true, so this is a failure, not a skip)", reason)
	}
	t.Skip(reason)
}
