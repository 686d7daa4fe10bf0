package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/workqueue"

	"github.com/tinykube/tinykube/plugins"
)

// Version is the reference DNS component's version.
const Version = "v0.1.0"

// Ports, as in Kubernetes: DNS on 53, CoreDNS's health on 8080 and
// metrics on 9153.
const (
	DefaultPort        = 53
	DefaultHealthPort  = 8080
	DefaultMetricsPort = 9153
)

// DefaultCacheSize is how many upstream answers the cache keeps.
const DefaultCacheSize = 1000

// Config is the DNS component's configuration, from its settings.
type Config struct {
	Kubeconfig  string
	Domain      string       // cluster-domain: cluster.local
	ClusterDNS  netip.Addr   // cluster-dns: the kube-dns Service's address
	ServiceCIDR netip.Prefix // service-cidr
	ClusterCIDR netip.Prefix // cluster-cidr: the pods' addresses
	// Address is where the server listens (bind-address; default the
	// machine's address); Port its DNS port, UDP and TCP (port).
	Address     string
	Port        int
	HealthPort  int // health-port: /healthz, /readyz, /metrics; 0: none
	MetricsPort int // metrics-port: /metrics; 0: none
	// Upstreams are the servers asked about names outside the cluster
	// (upstream: comma-separated, "none" for none; default the name
	// servers of /etc/resolv.conf).
	Upstreams       []string
	UpstreamTimeout time.Duration // upstream-timeout
	CacheSize       int           // cache-size
	TTL             uint32        // ttl, seconds
	// Register makes the kube-dns Service and its EndpointSlice point at
	// this server (register-service: true by default).
	Register bool
}

// ConfigFrom reads the DNS component's settings.
func ConfigFrom(s plugins.Settings) (Config, error) {
	v := s.Values
	c := Config{
		Kubeconfig: v["kubeconfig"], Domain: v["cluster-domain"], Address: s.Address,
		Port: DefaultPort, HealthPort: DefaultHealthPort, MetricsPort: DefaultMetricsPort,
		UpstreamTimeout: DefaultUpstreamTimeout, CacheSize: DefaultCacheSize, TTL: DefaultTTL, Register: true,
	}
	if c.Kubeconfig == "" {
		return c, errors.New("dns: setting kubeconfig is required")
	}
	if c.Domain == "" {
		c.Domain = "cluster.local"
	}
	if a := v["bind-address"]; a != "" {
		c.Address = a
	}
	if _, err := netip.ParseAddr(c.Address); err != nil {
		return c, fmt.Errorf("dns: bind-address %q (default: the machine's address): want an IP address", c.Address)
	}
	var err error
	if c.ClusterDNS, err = netip.ParseAddr(v["cluster-dns"]); err != nil {
		return c, fmt.Errorf("dns: setting cluster-dns=%q: want the kube-dns Service's address, such as 10.96.0.10", v["cluster-dns"])
	}
	for key, p := range map[string]*netip.Prefix{"service-cidr": &c.ServiceCIDR, "cluster-cidr": &c.ClusterCIDR} {
		if *p, err = netip.ParsePrefix(v[key]); err != nil {
			return c, fmt.Errorf("dns: setting %s=%q: want a network such as 10.96.0.0/12", key, v[key])
		}
	}
	for key, p := range map[string]*int{"port": &c.Port, "health-port": &c.HealthPort, "metrics-port": &c.MetricsPort, "cache-size": &c.CacheSize} {
		if val := v[key]; val != "" {
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || (key != "cache-size" && n > 65535) {
				return c, fmt.Errorf("dns: setting %s=%q: want a number (a port: 0 to 65535)", key, val)
			}
			*p = n
		}
	}
	if val := v["ttl"]; val != "" {
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil || n == 0 {
			return c, fmt.Errorf("dns: setting ttl=%q: want a number of seconds, at least 1", val)
		}
		c.TTL = uint32(n)
	}
	if val := v["upstream-timeout"]; val != "" {
		if c.UpstreamTimeout, err = time.ParseDuration(val); err != nil || c.UpstreamTimeout <= 0 {
			return c, fmt.Errorf("dns: setting upstream-timeout=%q: want a duration such as 1s", val)
		}
	}
	if val := v["register-service"]; val != "" {
		if c.Register, err = strconv.ParseBool(val); err != nil {
			return c, fmt.Errorf("dns: setting register-service=%q: want true or false", val)
		}
	}
	switch up := strings.TrimSpace(v["upstream"]); up {
	case "none":
	case "":
		// The master's own resolver, without ourselves: a loop would
		// send each question round until it timed out.
		if c.Upstreams, err = Upstreams("/etc/resolv.conf", c.Address, c.ClusterDNS.String()); err != nil {
			fmt.Fprintf(os.Stderr, "dns: no upstream servers: %v\n", err)
		}
	default:
		for _, u := range strings.Split(up, ",") {
			u = strings.TrimSpace(u)
			if a, err := netip.ParseAddr(u); err == nil {
				u = netip.AddrPortFrom(a, 53).String()
			}
			if _, err := netip.ParseAddrPort(u); err != nil {
				return c, fmt.Errorf("dns: setting upstream=%q: want addresses such as 192.0.2.53 or 192.0.2.53:5353, separated by commas, or none", up)
			}
			c.Upstreams = append(c.Upstreams, u)
		}
	}
	return c, nil
}

// options are the answers' options from the configuration.
func (c Config) options() Options {
	return Options{Domain: c.Domain, DNSAddress: c.ClusterDNS, ReverseCIDRs: []netip.Prefix{c.ServiceCIDR, c.ClusterCIDR}, TTL: c.TTL}
}

// Server is the reference DNS component.
type Server struct {
	// The life cycle: Stop, Health (healthy once the server answers from
	// a synced snapshot) and SetHealth come from plugins.Background.
	plugins.Background

	// NewClient makes the apiserver client from the configuration; tests
	// replace it with a fake clientset. Set it before Start.
	NewClient func(Config) (kubernetes.Interface, error)
	// Ready, if set, is called with the DNS address (host:port) once the
	// server answers from a synced snapshot. For tests.
	Ready func(addr string)
}

var _ plugins.Component = (*Server)(nil)

// New returns a DNS server, not yet started.
func New() *Server { return &Server{NewClient: clientFromKubeconfig} }

func clientFromKubeconfig(c Config) (kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("dns: kubeconfig: %w", err)
	}
	rc.QPS, rc.Burst = 20, 40
	return kubernetes.NewForConfig(rc)
}

// Identify says this is the reference DNS server.
func (s *Server) Identify(context.Context) (plugins.Identity, error) {
	return plugins.Identity{Kind: plugins.KindDNS, Implementation: "reference", Version: Version}, nil
}

// Start reads the settings and starts serving in the background.
func (s *Server) Start(_ context.Context, set plugins.Settings) error {
	if s.Started() {
		return plugins.ErrAlreadyStarted
	}
	cfg, err := ConfigFrom(set)
	if err != nil {
		return err
	}
	// Stop stops serving and releases the ports. The kube-dns Service and
	// its slice stay: a DNS server that restarts is back on the same address.
	return s.Go("dns", func(ctx context.Context) error { return s.run(ctx, cfg) })
}

// registerKey is the one key of the registration queue.
const registerKey = KubeDNSNamespace + "/" + KubeDNSName

func (s *Server) run(ctx context.Context, cfg Config) error {
	cs, err := s.NewClient(cfg)
	if err != nil {
		return err
	}
	metrics := NewMetrics()
	h := &handler{metrics: metrics, forwarder: NewForwarder(cfg.Upstreams, cfg.UpstreamTimeout, cfg.CacheSize, metrics)}

	// Listen first: a port already taken is an error to see at once.
	servers, err := listenDNS(cfg.Address, cfg.Port, h)
	if err != nil {
		return err
	}
	defer servers.shutdown(context.Background())
	ready := func() bool { return h.snapshot.Load() != nil }
	web, err := listenHTTP(cfg.Address, []int{cfg.HealthPort, cfg.MetricsPort}, metrics, ready)
	if err != nil {
		return err
	}
	defer web.shutdown(context.Background())
	s.SetHealth(false, fmt.Sprintf("listening on %s, waiting for the first sync with the apiserver", servers.addr))

	// Informers on Services, EndpointSlices and pods. Their handlers only
	// say "something changed"; the builder makes a whole new snapshot.
	factory := informers.NewSharedInformerFactory(cs, 0)
	svcInformer := factory.Core().V1().Services()
	sliceInformer := factory.Discovery().V1().EndpointSlices()
	podInformer := factory.Core().V1().Pods()
	// Of a pod, DNS needs its namespace and addresses only: the cache
	// keeps just that (a pod object is kilobytes).
	podInformer.Informer().SetTransform(trimPod)

	changed := make(chan struct{}, 1)
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	defer queue.ShutDown()
	onChange := func(obj any) {
		select {
		case changed <- struct{}{}:
		default: // a rebuild is due already; it will see this change too
		}
		if isKubeDNS(obj) {
			queue.Add(registerKey)
		}
	}
	handlers := cache.ResourceEventHandlerFuncs{
		AddFunc: onChange, UpdateFunc: func(_, obj any) { onChange(obj) }, DeleteFunc: onChange,
	}
	for _, inf := range []cache.SharedIndexInformer{svcInformer.Informer(), sliceInformer.Informer(), podInformer.Informer()} {
		if _, err := inf.AddEventHandler(handlers); err != nil {
			return err
		}
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dns: informer for %v did not sync", typ)
		}
	}

	b := &builder{opts: cfg.options(), services: svcInformer.Lister(), slices: sliceInformer.Lister(), pods: podInformer.Lister()}
	snap, err := b.build()
	if err != nil {
		return err
	}
	h.snapshot.Store(snap)
	summary := fmt.Sprintf("serving %s on %s (udp, tcp)", cfg.Domain, servers.addr)
	s.SetHealth(true, summary)
	if s.Ready != nil {
		s.Ready(servers.addr)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
			snap, err := b.build()
			if err != nil {
				fmt.Fprintf(os.Stderr, "dns: %v\n", err)
				continue
			}
			h.snapshot.Store(snap)
		}
	}()

	if !cfg.Register {
		<-ctx.Done()
		return nil
	}
	r := &registrar{
		client: cs, services: svcInformer.Lister(), slices: sliceInformer.Lister(), clusterDNS: cfg.ClusterDNS.String(),
		address: cfg.Address, dnsPort: int32(servers.port()), metricsPort: int32(cfg.MetricsPort),
	}
	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	queue.Add(registerKey)
	// One worker: the sample-controller loop with a single key.
	for {
		key, quit := queue.Get()
		if quit {
			return nil
		}
		note, err := r.sync(ctx)
		if err != nil && ctx.Err() == nil {
			// Requeue with backoff: the apiserver may be busy, or the
			// user may fix what the message says.
			s.SetHealth(true, summary+"; kube-dns: "+err.Error())
			fmt.Fprintf(os.Stderr, "dns: kube-dns: %v\n", err)
			queue.AddRateLimited(key)
		} else {
			s.SetHealth(true, summary+"; "+note)
			queue.Forget(key)
		}
		queue.Done(key)
	}
}

func (s *dnsServers) port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// isKubeDNS says whether obj is the kube-dns Service or its slice.
func isKubeDNS(obj any) bool {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, ok := obj.(metav1.Object)
	return ok && m.GetNamespace() == KubeDNSNamespace && m.GetName() == KubeDNSName
}

// trimPod keeps of a pod what DNS reads (informer transform).
func trimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID, ResourceVersion: pod.ResourceVersion},
		Spec:       corev1.PodSpec{HostNetwork: pod.Spec.HostNetwork},
		Status:     corev1.PodStatus{Phase: pod.Status.Phase, PodIP: pod.Status.PodIP, PodIPs: pod.Status.PodIPs},
	}, nil
}

// builder makes snapshots from the informers' caches.
type builder struct {
	opts     Options
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	pods     corelisters.PodLister
	serial   uint32
}

func (b *builder) build() (*Snapshot, error) {
	svcs, err := b.services.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	slices, err := b.slices.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	pods, err := b.pods.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	// The SOA serial grows with every snapshot: the time, or one more
	// than the last if the clock has not moved on.
	b.serial = max(b.serial+1, uint32(time.Now().Unix()))
	return NewSnapshot(b.opts, svcs, slices, pods, b.serial), nil
}
