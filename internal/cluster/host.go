package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// What nodes leave on the host besides namespaces and processes: the
// mounts of containers' root filesystems (under the cluster's run and
// state directories) and the containers' cgroups (under
// /sys/fs/cgroup/<controller>/tinykube/<cluster>). Down removes both;
// Leftovers lists them.

// mountsUnder lists the mount points below any of dirs, deepest first.
func mountsUnder(dirs ...string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1024*1024), 1024*1024)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		point := unescapeMount(fields[4])
		for _, d := range dirs {
			if strings.HasPrefix(point, d+"/") {
				out = append(out, point)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountAll detaches every mount below dirs.
func unmountAll(dirs ...string) error {
	for _, p := range mountsUnder(dirs...) {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
			return fmt.Errorf("unmount %s: %w", p, err)
		}
	}
	return nil
}

// cgroupDirs lists the cluster's cgroup directories in every hierarchy,
// deepest first.
func cgroupDirs(cluster string) []string {
	roots, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", "tinykube", cluster))
	if unified := filepath.Join("/sys/fs/cgroup", "tinykube", cluster); isDir(unified) {
		roots = append(roots, unified)
	}
	var out []string
	for _, root := range roots {
		filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				out = append(out, path)
			}
			return nil
		})
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// removeCgroups kills what still runs in the cluster's cgroups (by PID:
// they are the cluster's containers) and removes the cgroups.
func removeCgroups(cluster string) error {
	dirs := cgroupDirs(cluster)
	for _, d := range dirs {
		procs, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		for _, f := range strings.Fields(string(procs)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	var last error
	for _, d := range dirs {
		for i := 0; i < 50; i++ { // a killed process leaves its cgroup in a moment
			if err := os.Remove(d); err == nil || os.IsNotExist(err) {
				last = nil
				break
			} else {
				last = err
			}
			pause(10e6)
		}
		if last != nil {
			return fmt.Errorf("remove cgroup %s: %w", d, last)
		}
	}
	// The parents: /sys/fs/cgroup/<controller>/tinykube (if now empty).
	parents, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", "tinykube"))
	for _, p := range parents {
		os.Remove(p)
	}
	return nil
}

// ShimSocketDir is where containerd 1.6 puts its shims' sockets, whatever
// the daemon's own config says (their names hash the daemon's address and
// the container's ID). A shim killed with its node leaves its socket.
const ShimSocketDir = "/run/containerd/s"

// removeStaleShimSockets removes the shim sockets no process listens on.
// Sockets of live shims (this cluster's or anyone else's) answer and stay.
func removeStaleShimSockets() {
	entries, err := os.ReadDir(ShimSocketDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		path := filepath.Join(ShimSocketDir, e.Name())
		conn, err := net.DialTimeout("unix", path, 100*time.Millisecond)
		if err == nil {
			conn.Close()
			continue
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			os.Remove(path)
		}
	}
}
