package kubeproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tinykube/tinykube/plugins"
)

// Version is the reference kube-proxy component's version.
const Version = "v0.1.0"

// Ports, as in Kubernetes.
const (
	HealthzPort = 10256 // /healthz
	MetricsPort = 10249 // /metrics
)

// Defaults of the sync periods. Kubernetes' kube-proxy waits at least 1 s
// between syncs; tinykube's 100 ms keeps a new Service usable within a
// blink on a small cluster, where a sync costs a few milliseconds.
const (
	DefaultMinSyncPeriod = 100 * time.Millisecond
	DefaultSyncPeriod    = 30 * time.Second
)

// Config is kube-proxy's configuration, from its settings.
type Config struct {
	NodeName    string
	NodeIP      netip.Addr
	Kubeconfig  string
	ClusterCIDR netip.Prefix
	ServiceCIDR netip.Prefix
	DataDir     string

	MinSyncPeriod time.Duration
	SyncPeriod    time.Duration
	HealthzPort   int // 0: no /healthz server
	MetricsPort   int // 0: no /metrics server
	// CleanupOnStop removes kube-proxy's rules when it is stopped (not
	// when it crashes: the rules stay and traffic keeps flowing).
	CleanupOnStop bool
	// LoadBalancer makes kube-proxy the stand-in load balancer: it fills
	// the status of LoadBalancer Services (see loadbalancer.go).
	LoadBalancer bool
}

// ConfigFrom reads kube-proxy's settings. Required: kubeconfig,
// cluster-cidr, and the machine's name and address. Optional:
// min-sync-period, sync-period (durations), healthz-port, metrics-port
// (0 turns a server off), cleanup-on-stop, load-balancer (true or false).
func ConfigFrom(s plugins.Settings) (Config, error) {
	v := s.Values
	c := Config{
		NodeName: s.Machine, Kubeconfig: v["kubeconfig"], DataDir: s.DataDir,
		MinSyncPeriod: DefaultMinSyncPeriod, SyncPeriod: DefaultSyncPeriod,
		HealthzPort: HealthzPort, MetricsPort: MetricsPort,
		CleanupOnStop: true, LoadBalancer: true,
	}
	if c.Kubeconfig == "" {
		return c, errors.New("kubeproxy: setting kubeconfig is required (the kube-proxy's credentials, system:kube-proxy)")
	}
	if s.Machine == "" || s.DataDir == "" {
		return c, errors.New("kubeproxy: settings need the machine's name and a data directory")
	}
	var err error
	if c.NodeIP, err = netip.ParseAddr(s.Address); err != nil || !c.NodeIP.Is4() {
		return c, fmt.Errorf("kubeproxy: machine address %q: want the node's IPv4 address", s.Address)
	}
	if c.ClusterCIDR, err = netip.ParsePrefix(v["cluster-cidr"]); err != nil {
		return c, fmt.Errorf("kubeproxy: setting cluster-cidr=%q: want the pods' range, such as 10.244.0.0/16", v["cluster-cidr"])
	}
	if sc := v["service-cidr"]; sc != "" {
		if c.ServiceCIDR, err = netip.ParsePrefix(sc); err != nil {
			return c, fmt.Errorf("kubeproxy: setting service-cidr=%q: want a network such as 10.96.0.0/12", sc)
		}
	}
	for key, d := range map[string]*time.Duration{"min-sync-period": &c.MinSyncPeriod, "sync-period": &c.SyncPeriod} {
		if val := v[key]; val != "" {
			if *d, err = time.ParseDuration(val); err != nil || *d <= 0 {
				return c, fmt.Errorf("kubeproxy: setting %s=%q: want a duration such as 1s", key, val)
			}
		}
	}
	for key, p := range map[string]*int{"healthz-port": &c.HealthzPort, "metrics-port": &c.MetricsPort} {
		if val := v[key]; val != "" {
			if *p, err = strconv.Atoi(val); err != nil || *p < 0 || *p > 65535 {
				return c, fmt.Errorf("kubeproxy: setting %s=%q: want a port number, or 0 for none", key, val)
			}
		}
	}
	for key, b := range map[string]*bool{"cleanup-on-stop": &c.CleanupOnStop, "load-balancer": &c.LoadBalancer} {
		if val := v[key]; val != "" {
			if *b, err = strconv.ParseBool(val); err != nil {
				return c, fmt.Errorf("kubeproxy: setting %s=%q: want true or false", key, val)
			}
		}
	}
	return c, nil
}

// KubeProxy is the reference kube-proxy component.
type KubeProxy struct {
	// The life cycle (Stop; SetHealth before the proxier exists) comes
	// from plugins.Background.
	plugins.Background
	proxier atomic.Pointer[Proxier]
}

var _ plugins.Component = (*KubeProxy)(nil)

// New returns a kube-proxy, not yet started.
func New() *KubeProxy { return &KubeProxy{} }

// Identify says this is the reference kube-proxy.
func (k *KubeProxy) Identify(context.Context) (plugins.Identity, error) {
	return plugins.Identity{Kind: plugins.KindKubeProxy, Implementation: "reference", Version: Version}, nil
}

// Start checks the settings and that iptables is there, then watches the
// apiserver and syncs the rules in the background.
func (k *KubeProxy) Start(_ context.Context, s plugins.Settings) error {
	if k.Started() {
		return plugins.ErrAlreadyStarted
	}
	cfg, err := ConfigFrom(s)
	if err != nil {
		return err
	}
	if _, err := lookPath("iptables-restore"); err != nil {
		return err
	}
	// Stop stops syncing and, unless cleanup-on-stop is false, removes
	// kube-proxy's rules from the node (run does, as it returns).
	return k.Go("kube-proxy", func(ctx context.Context) error { return k.run(ctx, cfg) })
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kube-proxy: "+format+"\n", args...)
}

// Health is healthy once the rules have been synced, and stays so while
// syncs succeed; the message is the last sync's summary.
func (k *KubeProxy) Health(ctx context.Context) (plugins.Health, error) {
	p := k.proxier.Load()
	if p == nil || k.Err() != nil {
		return k.Background.Health(ctx) // not started, starting, or failed
	}
	last, err, summary, _ := p.Status()
	switch {
	case last.IsZero() && err == nil:
		return plugins.Health{Message: "waiting for the first sync"}, nil
	case err != nil:
		return plugins.Health{Message: "last sync failed: " + err.Error()}, nil
	}
	return plugins.Health{Healthy: true, Message: summary}, nil
}

// run is a started kube-proxy's life.
func (k *KubeProxy) run(ctx context.Context, cfg Config) error {
	restCfg, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	restCfg.UserAgent = "kube-proxy/" + Version + " (tinykube)"
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	checkSysctls()
	if cfg.ServiceCIDR.IsValid() {
		checkServiceRoute(cfg.ServiceCIDR)
	}

	tables := &Exec{}
	p := &Proxier{
		Node:          Node{Name: cfg.NodeName, IP: cfg.NodeIP, ClusterCIDR: cfg.ClusterCIDR},
		Tables:        tables,
		MinSyncPeriod: cfg.MinSyncPeriod,
		SyncPeriod:    cfg.SyncPeriod,
		RulesFile:     filepath.Join(cfg.DataDir, "rules.txt"),
		HealthChecks:  &HealthCheckServers{Log: logf},
		Metrics:       newMetrics(),
		Log:           logf,
	}
	defer p.HealthChecks.Close()
	if cfg.CleanupOnStop {
		defer func() {
			// ctx is done: clean up on a context of our own; the agent
			// gives Stop plugins.StopGrace.
			cctx, cancel := context.WithTimeout(context.Background(), plugins.StopGrace-time.Second)
			defer cancel()
			if err := Cleanup(cctx, tables); err != nil {
				logf("removing the rules: %v", err)
			} else {
				logf("stopped; rules removed")
			}
		}()
	}

	// Only the Services and slices kube-proxy proxies (ProxiedSelector).
	proxied := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = ProxiedSelector
	}))
	svcInformer := proxied.Core().V1().Services()
	sliceInformer := proxied.Discovery().V1().EndpointSlices()
	p.Services, p.EndpointSlices = svcInformer.Lister(), sliceInformer.Lister()
	onChange := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.OnChange() },
		UpdateFunc: func(any, any) { p.OnChange() },
		DeleteFunc: func(any) { p.OnChange() },
	}
	svcInformer.Informer().AddEventHandler(onChange)
	sliceInformer.Informer().AddEventHandler(onChange)

	var lb *loadBalancer
	all := informers.NewSharedInformerFactory(cs, 0)
	if cfg.LoadBalancer {
		lb = &loadBalancer{cs: cs, services: all.Core().V1().Services().Lister(), nodes: all.Core().V1().Nodes().Lister(), kick: make(chan struct{}, 1)}
		h := cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { lb.onChange() },
			UpdateFunc: func(any, any) { lb.onChange() },
			DeleteFunc: func(any) { lb.onChange() },
		}
		all.Core().V1().Services().Informer().AddEventHandler(h)
		all.Core().V1().Nodes().Informer().AddEventHandler(h)
	}

	if cfg.HealthzPort != 0 {
		mux := http.NewServeMux()
		health := &ProxierHealth{Proxier: p, Timeout: 2 * cfg.SyncPeriod}
		mux.Handle("GET /healthz", health)
		mux.Handle("GET /livez", health)
		if err := serveHTTP(ctx, net.JoinHostPort("", strconv.Itoa(cfg.HealthzPort)), mux); err != nil {
			return fmt.Errorf("healthz server: %w", err)
		}
	}
	if cfg.MetricsPort != 0 {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			p.Metrics.WriteTo(w)
		})
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
		if err := serveHTTP(ctx, net.JoinHostPort("", strconv.Itoa(cfg.MetricsPort)), mux); err != nil {
			return fmt.Errorf("metrics server: %w", err)
		}
	}

	k.SetHealth(false, "waiting for Services and EndpointSlices from the apiserver")
	proxied.Start(ctx.Done())
	all.Start(ctx.Done())
	for _, ok := range proxied.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil
		}
	}
	all.WaitForCacheSync(ctx.Done())
	k.proxier.Store(p)
	logf("node %s (%s), pods %s: syncing after changes (at most every %v) and every %v", cfg.NodeName, cfg.NodeIP, cfg.ClusterCIDR, cfg.MinSyncPeriod, cfg.SyncPeriod)
	if lb != nil {
		go lb.run(ctx)
	}
	p.Run(ctx)
	return nil
}

// checkSysctls warns about what makes Services fail in ways that are hard
// to trace back: the kubelet's pod network sets them (components/kubelet/podnet).
func checkSysctls() {
	for name, want := range map[string]string{
		"net/bridge/bridge-nf-call-iptables": "1", // pod → ClusterIP → pod on the same bridge
		"net/ipv4/ip_forward":                "1", // pods' packets to other nodes
	} {
		got, err := os.ReadFile("/proc/sys/" + name)
		if v := strings.TrimSpace(string(got)); err != nil || v != want {
			logf("warning: sysctl %s is %q, want %s: Services may not work from pods (the kubelet's pod network sets it)", strings.ReplaceAll(name, "/", "."), v, want)
		}
	}
}

// checkServiceRoute warns when the node has no route for the Service
// range. No packet is ever delivered to a ClusterIP, but the kernel picks
// a route before the nat table rewrites a packet the node itself sends:
// without one, the node cannot reach any Service ("network is
// unreachable"). The kubelet's pod network adds it.
func checkServiceRoute(services netip.Prefix) {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return
	}
	probe := services.Addr().As4()
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		mask, err2 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		// /proc/net/route prints addresses in the host's byte order
		// (little-endian on the machines tinykube runs on).
		ip := uint64(probe[0]) | uint64(probe[1])<<8 | uint64(probe[2])<<16 | uint64(probe[3])<<24
		if ip&mask == dst {
			return
		}
	}
	logf("warning: no route for the Service range %s on this node: the node itself cannot reach ClusterIPs (the kubelet's pod network adds one)", services)
}

// loadBalancer fills LoadBalancer Services' status (see loadbalancer.go).
type loadBalancer struct {
	cs       kubernetes.Interface
	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	kick     chan struct{}

	lastPending map[string]string
}

func (lb *loadBalancer) onChange() {
	select {
	case lb.kick <- struct{}{}:
	default:
	}
}

func (lb *loadBalancer) run(ctx context.Context) {
	lb.onChange()
	for {
		select {
		case <-ctx.Done():
			return
		case <-lb.kick:
		}
		if err := lb.sync(ctx); err != nil && ctx.Err() == nil {
			logf("load balancer status: %v", err)
			time.AfterFunc(time.Second, lb.onChange)
		}
		// Batch what comes in the next moment.
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sync writes the status of every LoadBalancer Service whose ingress is
// not what it should be. Requeue-or-drop: a conflict means another node's
// kube-proxy (or the Service's owner) wrote first; the update event it
// causes brings us back here, so it is dropped. Other errors retry.
func (lb *loadBalancer) sync(ctx context.Context) error {
	services, err := lb.services.List(labels.Everything())
	if err != nil {
		return err
	}
	nodes, err := lb.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	ingress, pending := LoadBalancerIngress(services, nodes)
	for key, why := range pending {
		if lb.lastPending[key] != why {
			logf("LoadBalancer Service %s stays pending: %s", key, why)
		}
	}
	lb.lastPending = pending
	var errs []error
	for key, want := range ingress {
		ns, name, _ := strings.Cut(key, "/")
		svc, err := lb.services.Services(ns).Get(name)
		if err != nil || ingressEqual(svc.Status.LoadBalancer.Ingress, want) {
			continue
		}
		svc = svc.DeepCopy() // never modify the informer's copy
		svc.Status.LoadBalancer = corev1.LoadBalancerStatus{Ingress: want}
		if _, err := lb.cs.CoreV1().Services(ns).UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("service %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}
