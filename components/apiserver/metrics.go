package apiserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/tinykube/tinykube/components/apiserver/storage"
)

// The resource metrics API, metrics.k8s.io/v1beta1: how much CPU and
// memory each node and each pod's containers use right now. `kubectl top`
// prints it; the HorizontalPodAutoscaler scales on it.
//
// In Kubernetes, metrics-server serves this group: an aggregated API
// server the kube-apiserver proxies to. Every 15 s it scrapes each
// kubelet's /metrics/resource, keeps the last two readings, and turns the
// CPU counter (core-seconds used since the container started) into a
// rate: (cpu₂ - cpu₁) / (t₂ - t₁), reported with window = t₂ - t₁.
// Memory is a gauge and is reported as read last.
//
// tinykube has no aggregation layer, so the apiserver serves the group
// itself (doc.go, "Resource metrics") and scrapes on demand instead of on
// a timer: a request scrapes the nodes whose last reading is older than
// metricsMaxAge. The very first request of a node has no earlier reading,
// so it reads twice, metricsFirstWindow apart.
// Reference: https://github.com/kubernetes-sigs/metrics-server,
// "Design"; kubernetes.io, "Resource metrics pipeline".

const (
	// metricsMaxAge is how long a scrape is served from the cache.
	metricsMaxAge = 5 * time.Second
	// metricsFirstWindow is the gap between the two readings of a node
	// that has none yet.
	metricsFirstWindow = time.Second
	// metricsStaleAfter: an earlier reading older than this gives a rate
	// over too long a window to say "now"; read twice again.
	metricsStaleAfter = 2 * time.Minute
	// metricsForgetAfter: the readings of a node nobody asked about for
	// this long are dropped (the node may be gone).
	metricsForgetAfter = 10 * time.Minute
	// metricsScrapeTimeout bounds one kubelet scrape.
	metricsScrapeTimeout = 5 * time.Second
	// metricsRetryAfter: a kubelet that did not answer is not asked again
	// for this long, so that a node that is down (its machine stopped)
	// does not make every `kubectl top` and every HPA sync wait for the
	// scrape timeout.
	metricsRetryAfter = 30 * time.Second
)

// metricsGV is the group version served.
var metricsGV = schema.GroupVersion{Group: "metrics.k8s.io", Version: "v1beta1"}

// metricsSample is one cgroup's reading: cumulative CPU (core-seconds),
// working-set memory (bytes), and when the kubelet read them.
type metricsSample struct {
	CPU    float64
	Memory float64
	Time   time.Time
}

// podName is a pod's namespace and name.
type podName struct{ Namespace, Name string }

// nodeScrape is one scrape of a kubelet's /metrics/resource.
type nodeScrape struct {
	Node       metricsSample
	Containers map[podName]map[string]metricsSample // pod → container → reading
}

// parseResourceMetrics reads the kubelet's Prometheus text (see
// components/kubelet/stats.go for what it writes). Lines it does not
// know are skipped; a malformed sample line is an error.
func parseResourceMetrics(r io.Reader) (*nodeScrape, error) {
	out := &nodeScrape{Containers: map[podName]map[string]metricsSample{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, lbls, value, ts, err := parseSampleLine(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		switch name {
		case "node_cpu_usage_seconds_total":
			out.Node.CPU, out.Node.Time = value, ts
		case "node_memory_working_set_bytes":
			out.Node.Memory, out.Node.Time = value, ts
		case "container_cpu_usage_seconds_total", "container_memory_working_set_bytes":
			key := podName{lbls["namespace"], lbls["pod"]}
			if out.Containers[key] == nil {
				out.Containers[key] = map[string]metricsSample{}
			}
			s := out.Containers[key][lbls["container"]]
			if name == "container_cpu_usage_seconds_total" {
				s.CPU = value
			} else {
				s.Memory = value
			}
			s.Time = ts
			out.Containers[key][lbls["container"]] = s
		}
	}
	return out, sc.Err()
}

// parseSampleLine reads `name{k="v",...} value [timestamp-ms]`.
func parseSampleLine(text string) (name string, lbls map[string]string, value float64, ts time.Time, err error) {
	lbls = map[string]string{}
	i := strings.IndexAny(text, "{ ")
	if i < 0 {
		return "", nil, 0, ts, fmt.Errorf("%q: no value", text)
	}
	name, rest := text[:i], text[i:]
	if strings.HasPrefix(rest, "{") {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, " ,")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			k, after, ok := strings.Cut(rest, "=")
			if !ok {
				return "", nil, 0, ts, fmt.Errorf("%q: bad labels", text)
			}
			quoted, err := strconv.QuotedPrefix(after)
			if err != nil {
				return "", nil, 0, ts, fmt.Errorf("%q: bad label value: %v", text, err)
			}
			lbls[strings.TrimSpace(k)], _ = strconv.Unquote(quoted)
			rest = after[len(quoted):]
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 || len(fields) > 2 {
		return "", nil, 0, ts, fmt.Errorf("%q: want a value and an optional timestamp", text)
	}
	if value, err = strconv.ParseFloat(fields[0], 64); err != nil {
		return "", nil, 0, ts, fmt.Errorf("%q: value: %v", text, err)
	}
	if len(fields) == 2 {
		ms, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return "", nil, 0, ts, fmt.Errorf("%q: timestamp: %v", text, err)
		}
		ts = time.UnixMilli(ms)
	}
	return name, lbls, value, ts, nil
}

// usageBetween turns two readings of one cgroup into usage: the CPU rate
// over the window between them (in nanocores, as metrics-server reports
// it) and the memory of the later one. ok is false when there is no rate
// to give: no earlier reading, time not moving forward, or a counter that
// went down (the container restarted between the readings).
func usageBetween(prev, last metricsSample) (usage corev1.ResourceList, window time.Duration, ok bool) {
	window = last.Time.Sub(prev.Time)
	if prev.Time.IsZero() || window <= 0 || last.CPU < prev.CPU {
		return nil, 0, false
	}
	nanocores := int64((last.CPU - prev.CPU) / window.Seconds() * 1e9)
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewScaledQuantity(nanocores, resource.Nano),
		corev1.ResourceMemory: *resource.NewQuantity(int64(last.Memory), resource.BinarySI),
	}, window, true
}

// nodeMetricsFrom builds a node's NodeMetrics from its last two scrapes.
func nodeMetricsFrom(node *corev1.Node, prev, last *nodeScrape, now time.Time) (metricsv1beta1.NodeMetrics, bool) {
	if prev == nil || last == nil {
		return metricsv1beta1.NodeMetrics{}, false
	}
	usage, window, ok := usageBetween(prev.Node, last.Node)
	if !ok {
		return metricsv1beta1.NodeMetrics{}, false
	}
	return metricsv1beta1.NodeMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: node.Name, Labels: node.Labels, CreationTimestamp: metav1.NewTime(now)},
		Timestamp:  metav1.NewTime(last.Node.Time),
		Window:     metav1.Duration{Duration: window},
		Usage:      usage,
	}, true
}

// podMetricsFrom builds a pod's PodMetrics from its node's last two
// scrapes: one entry per container with a rate. ok is false when none
// has one (a pod not running yet, or only seen once).
func podMetricsFrom(pod *corev1.Pod, prev, last *nodeScrape, now time.Time) (metricsv1beta1.PodMetrics, bool) {
	if prev == nil || last == nil {
		return metricsv1beta1.PodMetrics{}, false
	}
	key := podName{pod.Namespace, pod.Name}
	pm := metricsv1beta1.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, Labels: pod.Labels, CreationTimestamp: metav1.NewTime(now)},
	}
	// In the pod's spec order, so that the answer is stable.
	for _, c := range pod.Spec.Containers {
		l, ok := last.Containers[key][c.Name]
		if !ok {
			continue
		}
		usage, window, ok := usageBetween(prev.Containers[key][c.Name], l)
		if !ok {
			continue
		}
		pm.Containers = append(pm.Containers, metricsv1beta1.ContainerMetrics{Name: c.Name, Usage: usage})
		if l.Time.After(pm.Timestamp.Time) {
			pm.Timestamp, pm.Window = metav1.NewTime(l.Time), metav1.Duration{Duration: window}
		}
	}
	return pm, len(pm.Containers) > 0
}

// metricsCache keeps the last two scrapes of every node. Its zero value
// is ready to use.
type metricsCache struct {
	mu     sync.Mutex
	nodes  map[string]*nodeHistory
	failed map[string]time.Time // nodes whose last scrape failed, and when
}

type nodeHistory struct {
	prev, last *nodeScrape
	at         time.Time // when last was read (the apiserver's clock)
}

// scrapeFunc reads one node's kubelet.
type scrapeFunc func(ctx context.Context, node string) (*nodeScrape, error)

// refresh brings the readings of nodes up to date and returns their last
// two scrapes. A node whose kubelet does not answer is left out (its
// errors are returned for the log); the others are still served.
func (c *metricsCache) refresh(ctx context.Context, nodes []string, now func() time.Time, scrape scrapeFunc) (map[string]nodeHistory, []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes == nil {
		c.nodes, c.failed = map[string]*nodeHistory{}, map[string]time.Time{}
	}
	var errs []error
	scrapeAll := func(which []string) {
		type result struct {
			node string
			s    *nodeScrape
			err  error
		}
		results := make(chan result, len(which))
		for _, n := range which {
			go func() {
				sctx, cancel := context.WithTimeout(ctx, metricsScrapeTimeout)
				defer cancel()
				s, err := scrape(sctx, n)
				results <- result{n, s, err}
			}()
		}
		for range which {
			r := <-results
			if r.err != nil {
				errs = append(errs, fmt.Errorf("node %s: %w", r.node, r.err))
				c.failed[r.node] = now()
				continue
			}
			delete(c.failed, r.node)
			h := c.nodes[r.node]
			if h == nil {
				h = &nodeHistory{}
				c.nodes[r.node] = h
			}
			h.prev, h.last, h.at = h.last, r.s, now()
		}
	}
	for n, h := range c.nodes {
		if now().Sub(h.at) > metricsForgetAfter {
			delete(c.nodes, n) // a node gone (or no longer asked about)
		}
	}
	for n, at := range c.failed {
		if now().Sub(at) > metricsForgetAfter {
			delete(c.failed, n)
		}
	}
	var stale []string
	for _, n := range nodes {
		if at, ok := c.failed[n]; ok && now().Sub(at) < metricsRetryAfter {
			errs = append(errs, fmt.Errorf("node %s: its kubelet did not answer %v ago; asking again after %v", n, now().Sub(at).Round(time.Second), metricsRetryAfter))
			continue
		}
		if h := c.nodes[n]; h == nil || now().Sub(h.at) >= metricsMaxAge {
			stale = append(stale, n)
		}
	}
	scrapeAll(stale)
	var once []string // read once only, or the earlier reading is too old
	for _, n := range stale {
		if h := c.nodes[n]; h != nil && (h.prev == nil || h.last.Node.Time.Sub(h.prev.Node.Time) > metricsStaleAfter) {
			once = append(once, n)
		}
	}
	if len(once) > 0 {
		select {
		case <-ctx.Done():
			return nil, append(errs, ctx.Err())
		case <-time.After(metricsFirstWindow):
		}
		scrapeAll(once)
	}
	out := map[string]nodeHistory{}
	for _, n := range nodes {
		if h := c.nodes[n]; h != nil {
			out[n] = *h
		}
	}
	return out, errs
}

// scrapeKubelet reads a node's /metrics/resource with the apiserver's
// kubelet client certificate.
func (s *Server) scrapeKubelet(r *http.Request) scrapeFunc {
	return func(ctx context.Context, node string) (*nodeScrape, error) {
		base, err := s.kubeletURL(r, node)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics/resource", nil)
		if err != nil {
			return nil, err
		}
		resp, err := s.kubeletClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			return nil, fmt.Errorf("GET /metrics/resource: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
		}
		return parseResourceMetrics(resp.Body)
	}
}

// serveMetricsAPI answers /apis/metrics.k8s.io/v1beta1/... (discovery of
// the group is in discovery.go). It reports whether the path was one.
//
//	nodes, nodes/<name>                       NodeMetrics
//	pods, namespaces/<ns>/pods, .../pods/<name> PodMetrics
//
// Lists take a labelSelector, matched against the node's or pod's labels.
func (s *Server) serveMetricsAPI(w http.ResponseWriter, r *http.Request) bool {
	rest, ok := strings.CutPrefix(r.URL.Path, "/apis/"+metricsGV.String()+"/")
	if !ok {
		return false
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	var namespace string
	if len(parts) >= 3 && parts[0] == "namespaces" {
		namespace, parts = parts[1], parts[2:]
		if parts[0] != "pods" {
			writeError(w, notFoundPath())
			return true
		}
	}
	if len(parts) == 0 || len(parts) > 2 || (parts[0] != "nodes" && parts[0] != "pods") {
		writeError(w, notFoundPath())
		return true
	}
	q := r.URL.Query()
	if r.Method != http.MethodGet || q.Get("watch") == "true" || q.Get("watch") == "1" {
		writeError(w, statusError(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, "the server does not allow this method on the requested resource"))
		return true
	}
	if s.kubeletClient == nil {
		writeError(w, statusError(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "this apiserver has no client certificate for kubelets (setting kubelet-client-certificate): no resource metrics"))
		return true
	}
	selector, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		writeError(w, badRequest("unable to parse labelSelector: %v", err))
		return true
	}
	var name string
	if len(parts) == 2 {
		name = parts[1]
	}
	var obj runtime.Object
	if parts[0] == "nodes" {
		obj, err = s.nodeMetrics(r, name, selector)
	} else {
		obj, err = s.podMetrics(r, namespace, name, selector)
	}
	if err != nil {
		writeError(w, err)
		return true
	}
	writeJSON(w, http.StatusOK, obj)
	return true
}

func (s *Server) nodeMetrics(r *http.Request, name string, selector labels.Selector) (runtime.Object, error) {
	ctx := r.Context()
	listObj, err := s.store(lookup("", "v1", "nodes")).List(ctx, "", storage.ListOptions{Predicate: func(o runtime.Object) bool {
		n := o.(*corev1.Node)
		return (name == "" || n.Name == name) && selector.Matches(labels.Set(n.Labels))
	}})
	if err != nil {
		return nil, err
	}
	nodes := listObj.(*corev1.NodeList).Items
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	hist, _ := s.metrics.refresh(ctx, names, s.now, s.scrapeKubelet(r))
	list := &metricsv1beta1.NodeMetricsList{TypeMeta: metav1.TypeMeta{Kind: "NodeMetricsList", APIVersion: metricsGV.String()}, Items: []metricsv1beta1.NodeMetrics{}}
	for i := range nodes {
		h := hist[nodes[i].Name]
		if m, ok := nodeMetricsFrom(&nodes[i], h.prev, h.last, s.now()); ok {
			m.TypeMeta = metav1.TypeMeta{Kind: "NodeMetrics", APIVersion: metricsGV.String()}
			list.Items = append(list.Items, m)
		}
	}
	if name != "" {
		if len(list.Items) == 0 {
			return nil, apierrors.NewNotFound(metricsGV.WithResource("nodemetrics").GroupResource(), name)
		}
		return &list.Items[0], nil
	}
	return list, nil
}

func (s *Server) podMetrics(r *http.Request, namespace, name string, selector labels.Selector) (runtime.Object, error) {
	ctx := r.Context()
	listObj, err := s.store(lookup("", "v1", "pods")).List(ctx, namespace, storage.ListOptions{Predicate: func(o runtime.Object) bool {
		p := o.(*corev1.Pod)
		return (name == "" || p.Name == name) && p.Spec.NodeName != "" && selector.Matches(labels.Set(p.Labels))
	}})
	if err != nil {
		return nil, err
	}
	pods := listObj.(*corev1.PodList).Items
	var names []string
	seen := map[string]bool{}
	for _, p := range pods {
		if !seen[p.Spec.NodeName] {
			seen[p.Spec.NodeName] = true
			names = append(names, p.Spec.NodeName)
		}
	}
	hist, _ := s.metrics.refresh(ctx, names, s.now, s.scrapeKubelet(r))
	list := &metricsv1beta1.PodMetricsList{TypeMeta: metav1.TypeMeta{Kind: "PodMetricsList", APIVersion: metricsGV.String()}, Items: []metricsv1beta1.PodMetrics{}}
	for i := range pods {
		h := hist[pods[i].Spec.NodeName]
		if m, ok := podMetricsFrom(&pods[i], h.prev, h.last, s.now()); ok {
			m.TypeMeta = metav1.TypeMeta{Kind: "PodMetrics", APIVersion: metricsGV.String()}
			list.Items = append(list.Items, m)
		}
	}
	if name != "" {
		if len(list.Items) == 0 {
			return nil, apierrors.NewNotFound(metricsGV.WithResource("podmetrics").GroupResource(), name)
		}
		return &list.Items[0], nil
	}
	return list, nil
}

// Discovery of metrics.k8s.io (discovery.go calls these): two read-only
// resources, nodes (cluster-scoped) and pods (namespaced).

var metricsVerbs = []string{"get", "list"}

func metricsAPIResources() []metav1.APIResource {
	return []metav1.APIResource{
		{Name: "nodes", Namespaced: false, Kind: "NodeMetrics", Verbs: metricsVerbs},
		{Name: "pods", Namespaced: true, Kind: "PodMetrics", Verbs: metricsVerbs},
	}
}

func metricsGroupForDiscovery() metav1.GroupVersionForDiscovery {
	return metav1.GroupVersionForDiscovery{GroupVersion: metricsGV.String(), Version: metricsGV.Version}
}

// metricsAggregated is the group's entry in aggregated discovery.
func metricsAggregated() apidiscoveryv2.APIGroupDiscovery {
	v := apidiscoveryv2.APIVersionDiscovery{Version: metricsGV.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
	for _, r := range metricsAPIResources() {
		scope := apidiscoveryv2.ScopeCluster
		if r.Namespaced {
			scope = apidiscoveryv2.ScopeNamespace
		}
		v.Resources = append(v.Resources, apidiscoveryv2.APIResourceDiscovery{
			Resource:     r.Name,
			ResponseKind: &metav1.GroupVersionKind{Group: metricsGV.Group, Version: metricsGV.Version, Kind: r.Kind},
			Scope:        scope,
			Verbs:        r.Verbs,
		})
	}
	return apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: metricsGV.Group}, Versions: []apidiscoveryv2.APIVersionDiscovery{v}}
}
