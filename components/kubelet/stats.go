package kubelet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Resource metrics: what the kubelet says about the CPU and memory its
// pods use. Kubernetes' kubelet serves them at /metrics/resource in the
// Prometheus text format; metrics-server scrapes that endpoint on every
// node and turns it into the metrics.k8s.io API that `kubectl top` and
// the HorizontalPodAutoscaler read (in tinykube the apiserver does the
// scraping: components/apiserver/metrics.go).
//
// The numbers come from the cgroups runc puts every container in
// (runtime.go): the kernel counts, per cgroup,
//
//	cpu     cpuacct.usage: nanoseconds of CPU time used since the cgroup was
//	        made, by every process in it and its children (a counter: a
//	        rate needs two readings; the scraper makes it)
//	memory  memory.usage_in_bytes minus total_inactive_file from memory.stat:
//	        the "working set", memory the kernel cannot simply drop (the
//	        kubelet evicts, and the OOM killer kills, by this number)
//
// The cgroups nest as /<cgroup-parent>/pod<uid>/<container id>, so one
// file gives a container, its pod (the pod's directory sums its
// containers) or the node (the parent sums every pod). A tinykube node
// is a network namespace on a shared host, so the node's usage is the
// sum of its pods, not the host's.
// Reference: https://kubernetes.io/docs/reference/instrumentation/node-metrics/

// cgroupRoot is where the cgroup file systems are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// cgroupUsage is one cgroup's reading.
type cgroupUsage struct {
	CPUNanos   uint64 // cumulative CPU time, in nanoseconds
	WorkingSet uint64 // bytes
}

// errNoCgroup says the cgroup does not exist (a container that has
// exited and been removed, or a node with no pod yet).
var errNoCgroup = errors.New("kubelet: no such cgroup")

// readCgroup reads a cgroup's CPU and memory usage under root (the mount
// point of the cgroup file systems: /sys/fs/cgroup; a test passes a
// directory of its own). It reads the cgroup v1 layout (one directory
// per controller: root/cpuacct/<path>, root/memory/<path>) and, if that
// is absent, the unified cgroup v2 one (root/<path>/cpu.stat, memory.current).
func readCgroup(root, path string) (cgroupUsage, error) {
	var u cgroupUsage
	v1 := filepath.Join(root, "cpuacct", path, "cpuacct.usage")
	if b, err := os.ReadFile(v1); err == nil {
		if u.CPUNanos, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err != nil {
			return u, fmt.Errorf("%s: %w", v1, err)
		}
		mem := filepath.Join(root, "memory", path)
		usage, err := readUint(filepath.Join(mem, "memory.usage_in_bytes"))
		if err != nil {
			return u, err
		}
		stat, err := readKeyed(filepath.Join(mem, "memory.stat"))
		if err != nil {
			return u, err
		}
		u.WorkingSet = workingSet(usage, stat["total_inactive_file"])
		return u, nil
	}
	v2 := filepath.Join(root, path)
	cpu, err := readKeyed(filepath.Join(v2, "cpu.stat"))
	if errors.Is(err, os.ErrNotExist) {
		return u, fmt.Errorf("%w: %s", errNoCgroup, path)
	}
	if err != nil {
		return u, err
	}
	u.CPUNanos = cpu["usage_usec"] * 1000
	usage, err := readUint(filepath.Join(v2, "memory.current"))
	if err != nil {
		return u, err
	}
	stat, err := readKeyed(filepath.Join(v2, "memory.stat"))
	if err != nil {
		return u, err
	}
	u.WorkingSet = workingSet(usage, stat["inactive_file"])
	return u, nil
}

// workingSet is usage less the inactive page cache, never below zero
// (cAdvisor's definition).
func workingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile > usage {
		return 0
	}
	return usage - inactiveFile
}

func readUint(file string) (uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	return n, nil
}

// readKeyed reads a "key value" per line file (memory.stat, cpu.stat).
func readKeyed(file string) (map[string]uint64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

// ContainerUsage is one running container's reading.
type ContainerUsage struct {
	Namespace, Pod, Container string
	Usage                     cgroupUsage
}

// PodUsage is one pod's reading (its cgroup: every container and the sandbox).
type PodUsage struct {
	Namespace, Pod string
	Usage          cgroupUsage
}

// ResourceStats is one scrape of a node: the node, its pods and their
// running containers, read at Time.
type ResourceStats struct {
	Time       time.Time
	Node       cgroupUsage
	Pods       []PodUsage
	Containers []ContainerUsage
	// ScrapeError is set when some cgroup could not be read.
	ScrapeError bool
}

// collectStats reads the cgroups of the node's running containers. A
// container that disappears between the listing and the reading is left
// out (it is gone; the next scrape will not list it).
func (n *node) collectStats(ctx context.Context) (ResourceStats, error) {
	ctrs, err := n.runtime.List(ctx)
	if err != nil {
		return ResourceStats{}, err
	}
	st := ResourceStats{Time: time.Now()}
	parent := n.runtime.cgroupParent
	if st.Node, err = readCgroup(cgroupRoot, parent); err != nil && !errors.Is(err, errNoCgroup) {
		st.ScrapeError = true
	}
	seenPod := map[string]bool{}
	for _, c := range ctrs {
		if c.State != StateRunning {
			continue
		}
		if !seenPod[string(c.PodUID)] {
			seenPod[string(c.PodUID)] = true
			if u, err := readCgroup(cgroupRoot, parent+"/pod"+string(c.PodUID)); err == nil {
				st.Pods = append(st.Pods, PodUsage{Namespace: c.Namespace, Pod: c.PodName, Usage: u})
			}
		}
		if c.Sandbox {
			continue
		}
		u, err := readCgroup(cgroupRoot, n.runtime.cgroup(c.PodUID, c.ID))
		if err != nil {
			continue
		}
		st.Containers = append(st.Containers, ContainerUsage{Namespace: c.Namespace, Pod: c.PodName, Container: c.Name, Usage: u})
	}
	return st, nil
}

// resourceMetrics answers GET /metrics/resource.
func (n *node) resourceMetrics(w http.ResponseWriter, r *http.Request) {
	st, err := n.collectStats(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	WriteResourceMetrics(w, st)
}

// WriteResourceMetrics writes a scrape in the Prometheus text format, the
// metric families in the kubelet's (alphabetical) order, every sample
// stamped with the time it was read in milliseconds:
//
//	container_cpu_usage_seconds_total{container="app",namespace="default",pod="web"} 1.5 1700000000000
//
// CPU is in core-seconds (a counter), memory in bytes (a gauge).
func WriteResourceMetrics(w io.Writer, st ResourceStats) {
	ts := st.Time.UnixMilli()
	cs := append([]ContainerUsage(nil), st.Containers...)
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Pod != b.Pod {
			return a.Pod < b.Pod
		}
		return a.Container < b.Container
	})
	ps := append([]PodUsage(nil), st.Pods...)
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Namespace != ps[j].Namespace {
			return ps[i].Namespace < ps[j].Namespace
		}
		return ps[i].Pod < ps[j].Pod
	})
	family := func(name, help, typ string) {
		fmt.Fprintf(w, "# HELP %s [STABLE] %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	containerLabels := func(c ContainerUsage) string {
		return fmt.Sprintf(`{container=%q,namespace=%q,pod=%q}`, c.Container, c.Namespace, c.Pod)
	}
	podLabels := func(p PodUsage) string { return fmt.Sprintf(`{namespace=%q,pod=%q}`, p.Namespace, p.Pod) }

	family("container_cpu_usage_seconds_total", "Cumulative cpu time consumed by the container in core-seconds", "counter")
	for _, c := range cs {
		fmt.Fprintf(w, "container_cpu_usage_seconds_total%s %s %d\n", containerLabels(c), seconds(c.Usage.CPUNanos), ts)
	}
	family("container_memory_working_set_bytes", "Current working set of the container in bytes", "gauge")
	for _, c := range cs {
		fmt.Fprintf(w, "container_memory_working_set_bytes%s %d %d\n", containerLabels(c), c.Usage.WorkingSet, ts)
	}
	family("node_cpu_usage_seconds_total", "Cumulative cpu time consumed by the node in core-seconds", "counter")
	fmt.Fprintf(w, "node_cpu_usage_seconds_total %s %d\n", seconds(st.Node.CPUNanos), ts)
	family("node_memory_working_set_bytes", "Current working set of the node in bytes", "gauge")
	fmt.Fprintf(w, "node_memory_working_set_bytes %d %d\n", st.Node.WorkingSet, ts)
	family("pod_cpu_usage_seconds_total", "Cumulative cpu time consumed by the pod in core-seconds", "counter")
	for _, p := range ps {
		fmt.Fprintf(w, "pod_cpu_usage_seconds_total%s %s %d\n", podLabels(p), seconds(p.Usage.CPUNanos), ts)
	}
	family("pod_memory_working_set_bytes", "Current working set of the pod in bytes", "gauge")
	for _, p := range ps {
		fmt.Fprintf(w, "pod_memory_working_set_bytes%s %d %d\n", podLabels(p), p.Usage.WorkingSet, ts)
	}
	fmt.Fprintf(w, "# HELP scrape_error [ALPHA] 1 if there was an error while getting container metrics, 0 otherwise\n# TYPE scrape_error gauge\n")
	if st.ScrapeError {
		fmt.Fprintf(w, "scrape_error 1\n")
	} else {
		fmt.Fprintf(w, "scrape_error 0\n")
	}
}

// seconds formats nanoseconds as seconds with full precision.
func seconds(ns uint64) string {
	return strconv.FormatFloat(float64(ns)/1e9, 'f', -1, 64)
}
