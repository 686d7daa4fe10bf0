package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

// What the kubelet writes (components/kubelet/stats.go).
const kubeletScrape = `# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="app",namespace="default",pod="web"} %CPU% %TS%
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="app",namespace="default",pod="web"} 2.097152e+06 %TS%
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total %NODECPU% %TS%
node_memory_working_set_bytes 1048576 %TS%
scrape_error 0
`

func scrapeText(cpu, nodeCPU string, ts int64) string {
	return strings.NewReplacer("%CPU%", cpu, "%NODECPU%", nodeCPU, "%TS%", strconv.FormatInt(ts, 10)).Replace(kubeletScrape)
}

func TestParseResourceMetrics(t *testing.T) {
	s, err := parseResourceMetrics(strings.NewReader(scrapeText("1.5", "10", 1700000000000)))
	if err != nil {
		t.Fatal(err)
	}
	want := metricsSample{CPU: 1.5, Memory: 2097152, Time: time.UnixMilli(1700000000000)}
	if got := s.Containers[podName{"default", "web"}]["app"]; got != want {
		t.Errorf("container web/app = %+v, want %+v", got, want)
	}
	if s.Node.CPU != 10 || s.Node.Memory != 1048576 {
		t.Errorf("node = %+v", s.Node)
	}
	if _, err := parseResourceMetrics(strings.NewReader("container_cpu_usage_seconds_total{pod=\"x\" 1\n")); err == nil {
		t.Error("a line with unclosed labels: want an error")
	}
	if _, err := parseResourceMetrics(strings.NewReader("node_cpu_usage_seconds_total abc\n")); err == nil {
		t.Error("a line with a bad value: want an error")
	}
}

// Reference: metrics-server, "the CPU usage is the rate of the cumulative
// counter between two scrapes".
func TestUsageBetween(t *testing.T) {
	t0 := time.UnixMilli(1700000000000)
	for _, tc := range []struct {
		name       string
		prev, last metricsSample
		ok         bool
		cpu        string
		window     time.Duration
	}{
		{"half a core over 10s", metricsSample{CPU: 1, Time: t0}, metricsSample{CPU: 6, Memory: 1024, Time: t0.Add(10 * time.Second)}, true, "500m", 10 * time.Second},
		{"idle", metricsSample{CPU: 1, Time: t0}, metricsSample{CPU: 1, Time: t0.Add(time.Second)}, true, "0", time.Second},
		{"no earlier reading", metricsSample{}, metricsSample{CPU: 1, Time: t0}, false, "", 0},
		{"counter reset (restart)", metricsSample{CPU: 5, Time: t0}, metricsSample{CPU: 1, Time: t0.Add(time.Second)}, false, "", 0},
		{"same time", metricsSample{CPU: 1, Time: t0}, metricsSample{CPU: 2, Time: t0}, false, "", 0},
	} {
		usage, window, ok := usageBetween(tc.prev, tc.last)
		if ok != tc.ok {
			t.Errorf("%s: ok = %v, want %v", tc.name, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		cpu := usage[corev1.ResourceCPU]
		if got := cpu.MilliValue(); got != mustMilli(tc.cpu) || window != tc.window {
			t.Errorf("%s: cpu %dm window %v, want %s and %v", tc.name, got, window, tc.cpu, tc.window)
		}
	}
}

func mustMilli(s string) int64 {
	switch s {
	case "500m":
		return 500
	}
	return 0
}

func TestPodMetricsFrom(t *testing.T) {
	t0 := time.UnixMilli(1700000000000)
	prev, _ := parseResourceMetrics(strings.NewReader(scrapeText("1", "5", t0.UnixMilli())))
	last, _ := parseResourceMetrics(strings.NewReader(scrapeText("1.25", "7", t0.Add(5*time.Second).UnixMilli())))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "not-started"}}}}
	pm, ok := podMetricsFrom(pod, prev, last, t0)
	if !ok || len(pm.Containers) != 1 {
		t.Fatalf("podMetricsFrom = %+v, %v; want one container", pm, ok)
	}
	cpu, mem := pm.Containers[0].Usage[corev1.ResourceCPU], pm.Containers[0].Usage[corev1.ResourceMemory]
	if cpu.MilliValue() != 50 || mem.Value() != 2097152 || pm.Window.Duration != 5*time.Second || pm.Labels["app"] != "web" {
		t.Errorf("pod metrics: cpu %v memory %v window %v labels %v; want 50m, 2Mi, 5s, app=web", cpu.String(), mem.String(), pm.Window, pm.Labels)
	}
	if _, ok := podMetricsFrom(pod, nil, last, t0); ok {
		t.Error("one scrape only: want no metrics")
	}
	nm, ok := nodeMetricsFrom(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}}, prev, last, t0)
	if ncpu := nm.Usage[corev1.ResourceCPU]; !ok || ncpu.MilliValue() != 400 {
		t.Errorf("node metrics: %+v, %v; want cpu 400m", nm, ok)
	}
}

// The first request reads a node twice (a rate needs two readings); a
// second request within metricsMaxAge is served from the cache; a node
// whose kubelet fails is left out.
func TestMetricsCacheRefresh(t *testing.T) {
	var calls []string
	cpu := 0.0
	scrape := func(ctx context.Context, node string) (*nodeScrape, error) {
		calls = append(calls, node)
		if node == "down" {
			return nil, errors.New("connection refused")
		}
		cpu++
		return &nodeScrape{Node: metricsSample{CPU: cpu, Time: time.Now()}}, nil
	}
	clock := time.Unix(1000, 0)
	now := func() time.Time { return clock }
	var c metricsCache
	hist, errs := c.refresh(context.Background(), []string{"node1", "down"}, now, scrape)
	if len(errs) != 1 || hist["node1"].prev == nil || hist["node1"].last == nil {
		t.Fatalf("first refresh: hist %+v errs %v; want two readings of node1 and the error of node down", hist, errs)
	}
	if _, ok := hist["down"]; ok {
		t.Error("a node that never answered is in the result")
	}
	n := len(calls)
	clock = clock.Add(metricsMaxAge / 2)
	c.refresh(context.Background(), []string{"node1"}, now, scrape)
	if len(calls) != n {
		t.Errorf("a refresh within metricsMaxAge scraped again: %v", calls[n:])
	}
	clock = clock.Add(metricsMaxAge)
	hist, _ = c.refresh(context.Background(), []string{"node1"}, now, scrape)
	if len(calls) != n+1 || hist["node1"].last.Node.CPU != 3 || hist["node1"].prev.Node.CPU != 2 {
		t.Errorf("a stale refresh: calls %v, history %+v %+v; want one more scrape, prev=2 last=3", calls, hist["node1"].prev, hist["node1"].last)
	}

	// A kubelet that did not answer is not asked again before
	// metricsRetryAfter (each ask could cost the scrape timeout), but is
	// still reported; after it, it is asked again.
	n = len(calls)
	_, errs = c.refresh(context.Background(), []string{"down"}, now, scrape)
	if len(calls) != n || len(errs) != 1 {
		t.Errorf("a refresh soon after a failed scrape: calls %v, errors %v; want no scrape and one error", calls[n:], errs)
	}
	clock = clock.Add(metricsRetryAfter)
	c.refresh(context.Background(), []string{"down"}, now, scrape)
	if len(calls) != n+1 || calls[n] != "down" {
		t.Errorf("a refresh after metricsRetryAfter: calls %v; want the node asked again", calls[n:])
	}
}

// End to end through the real clients: discovery lists metrics.k8s.io
// (what `kubectl top` checks first), and the metrics clientset kubectl
// top uses reads NodeMetrics and PodMetrics scraped from a fake kubelet
// whose CPU counters grow by 0.25 core-seconds per scrape.
func TestMetricsAPI(t *testing.T) {
	cs, srv := newTestServer(t)
	ctx := context.Background()
	groups, err := cs.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range groups.Groups {
		found = found || (g.Name == "metrics.k8s.io" && g.PreferredVersion.Version == "v1beta1")
	}
	if !found {
		t.Fatalf("discovery: no metrics.k8s.io/v1beta1 in %v", groups.Groups)
	}
	rl, err := cs.Discovery().ServerResourcesForGroupVersion("metrics.k8s.io/v1beta1")
	if err != nil || len(rl.APIResources) != 2 {
		t.Fatalf("metrics.k8s.io/v1beta1 resources: %+v, %v", rl, err)
	}

	var scrapes atomic.Int64
	kubelet := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics/resource" {
			http.NotFound(w, r)
			return
		}
		n := scrapes.Add(1)
		// Timestamps a second apart per scrape, whatever the real clock.
		fmt.Fprint(w, scrapeText(strconv.FormatFloat(0.25*float64(n), 'f', -1, 64), strconv.FormatFloat(0.5*float64(n), 'f', -1, 64), 1700000000000+n*1000))
	}))
	defer kubelet.Close()
	metricsc, err := metricsclient.NewForConfig(&rest.Config{Host: "http://" + srv.advertise})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := metricsc.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{}); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("without a kubelet client: %v, want 503 ServiceUnavailable", err)
	}
	srv.kubeletClient = kubelet.Client()

	u, _ := url.Parse(kubelet.URL)
	port, _ := strconv.Atoi(u.Port())
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1", Labels: map[string]string{"zone": "a"}},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: u.Hostname()}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}}}}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	nm, err := metricsc.MetricsV1beta1().NodeMetricses().Get(ctx, "node1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cpu := nm.Usage[corev1.ResourceCPU]; cpu.MilliValue() != 500 || nm.Window.Duration != time.Second || nm.Labels["zone"] != "a" {
		t.Errorf("node metrics: cpu %s window %v labels %v; want 500m over 1s, zone=a", cpu.String(), nm.Window, nm.Labels)
	}
	pms, err := metricsc.MetricsV1beta1().PodMetricses("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pms.Items) != 1 || len(pms.Items[0].Containers) != 1 {
		t.Fatalf("pod metrics: %+v", pms.Items)
	}
	if cpu := pms.Items[0].Containers[0].Usage[corev1.ResourceCPU]; cpu.MilliValue() != 250 {
		t.Errorf("pod metrics cpu %s, want 250m", cpu.String())
	}
	if n := scrapes.Load(); n != 2 {
		t.Errorf("%d scrapes, want 2 (two for the first request, the second served from the cache)", n)
	}
	if pms, err := metricsc.MetricsV1beta1().PodMetricses("default").List(ctx, metav1.ListOptions{LabelSelector: "app=other"}); err != nil || len(pms.Items) != 0 {
		t.Errorf("pod metrics of app=other: %+v, %v; want none", pms, err)
	}
	if _, err := metricsc.MetricsV1beta1().PodMetricses("default").Get(ctx, "nope", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("metrics of a missing pod: %v, want NotFound", err)
	}
}
