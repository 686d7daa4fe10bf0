package kubelet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadCgroupV1(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"cpuacct/tk/node1/podU/cpuacct.usage":        "1500000000\n",
		"memory/tk/node1/podU/memory.usage_in_bytes": "10000\n",
		"memory/tk/node1/podU/memory.stat":           "cache 10\ntotal_inactive_file 4000\nrss 5\n",
	})
	got, err := readCgroup(root, "/tk/node1/podU")
	if err != nil {
		t.Fatal(err)
	}
	if want := (cgroupUsage{CPUNanos: 1500000000, WorkingSet: 6000}); got != want {
		t.Errorf("readCgroup = %+v, want %+v", got, want)
	}
}

func TestReadCgroupV2(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"tk/node1/cpu.stat":       "usage_usec 2500\nuser_usec 2000\n",
		"tk/node1/memory.current": "8192\n",
		"tk/node1/memory.stat":    "anon 100\ninactive_file 9000\n", // more than usage: clamp to 0
	})
	got, err := readCgroup(root, "/tk/node1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (cgroupUsage{CPUNanos: 2500000, WorkingSet: 0}); got != want {
		t.Errorf("readCgroup = %+v, want %+v", got, want)
	}
}

func TestReadCgroupMissing(t *testing.T) {
	if _, err := readCgroup(t.TempDir(), "/nope"); err == nil {
		t.Fatal("readCgroup of a missing cgroup: want an error")
	}
}

// Reference: https://kubernetes.io/docs/reference/instrumentation/node-metrics/
// (the kubelet's /metrics/resource sample output).
func TestWriteResourceMetrics(t *testing.T) {
	var b strings.Builder
	WriteResourceMetrics(&b, ResourceStats{
		Time: time.UnixMilli(1700000000123),
		Node: cgroupUsage{CPUNanos: 3_000_000_000, WorkingSet: 2048},
		Pods: []PodUsage{
			{Namespace: "default", Pod: "web", Usage: cgroupUsage{CPUNanos: 1_250_000_000, WorkingSet: 1024}},
		},
		Containers: []ContainerUsage{
			{Namespace: "default", Pod: "web", Container: "b", Usage: cgroupUsage{CPUNanos: 1, WorkingSet: 1}},
			{Namespace: "default", Pod: "web", Container: "a", Usage: cgroupUsage{CPUNanos: 1_000_000_000, WorkingSet: 512}},
		},
	})
	want := `# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="a",namespace="default",pod="web"} 1 1700000000123
container_cpu_usage_seconds_total{container="b",namespace="default",pod="web"} 0.000000001 1700000000123
# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="a",namespace="default",pod="web"} 512 1700000000123
container_memory_working_set_bytes{container="b",namespace="default",pod="web"} 1 1700000000123
# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 3 1700000000123
# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 2048 1700000000123
# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in core-seconds
# TYPE pod_cpu_usage_seconds_total counter
pod_cpu_usage_seconds_total{namespace="default",pod="web"} 1.25 1700000000123
# HELP pod_memory_working_set_bytes [STABLE] Current working set of the pod in bytes
# TYPE pod_memory_working_set_bytes gauge
pod_memory_working_set_bytes{namespace="default",pod="web"} 1024 1700000000123
# HELP scrape_error [ALPHA] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE scrape_error gauge
scrape_error 0
`
	if got := b.String(); got != want {
		t.Errorf("WriteResourceMetrics:\n%s\nwant:\n%s", got, want)
	}
}
