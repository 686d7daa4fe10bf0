package controllermanager

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"

	"github.com/tinykube/tinykube/plugins"
)

// Version is the reference controller-manager's version.
const Version = "v0.1.0"

// Port is the controller-manager's port in Kubernetes (its /healthz and
// metrics). tinykube reports health through the plugin contract instead.
const Port = 10257

// The leader election Lease, as kube-controller-manager names it.
const (
	LeaseNamespace = "kube-system"
	LeaseName      = "kube-controller-manager"
)

// Leader election timings, kube-controller-manager's defaults: a leader
// renews its Lease every RetryPeriod; it gives up leading if it could not
// renew for RenewDeadline; another candidate takes over a Lease not renewed
// for LeaseDuration.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// Client rate limits toward the apiserver. kube-controller-manager's
// defaults are 20 and 30; tinykube's are higher so that scaling to 100
// replicas is not throttled by the client.
const (
	DefaultQPS   = 50
	DefaultBurst = 100
)

// Config is the controller-manager's configuration, from its settings.
type Config struct {
	Kubeconfig  string // the credentials (user system:kube-controller-manager)
	Controllers string // which controllers run: "*", "-name" to leave one out
	LeaderElect bool   // run only while holding the Lease kube-system/kube-controller-manager
	// Leader election timings (settings leader-elect-lease-duration,
	// leader-elect-renew-deadline, leader-elect-retry-period).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	QPS                                       float32 // setting kube-api-qps
	Burst                                     int     // setting kube-api-burst
	Identity                                  string  // this candidate's name in the Lease
	// The cluster's address ranges and DNS (settings cluster-cidr,
	// service-cidr, cluster-dns, cluster-domain), for the controllers that
	// need them.
	ClusterCIDR, ServiceCIDR, ClusterDNS, ClusterDomain string
	// APIServer is where the apiserver is (the kubeconfig's server): the
	// endpoints of the `kubernetes` Service point there. Filled in by Start.
	APIServer APIServerAddress
	// RootCA is the cluster's CA certificate (PEM), published in every
	// namespace: the setting root-ca-file, or the kubeconfig's CA.
	// Filled in by Start.
	RootCA []byte
	// TerminatedPodGCThreshold is how many finished pods the pod garbage
	// collector keeps (setting terminated-pod-gc-threshold; podgc.go).
	TerminatedPodGCThreshold int
	// NodeLifecycle is the node lifecycle controller's timings (settings
	// node-monitor-period, node-monitor-grace-period,
	// node-startup-grace-period; nodelifecycle.go).
	NodeLifecycle NodeLifecycleConfig
	// ResourceQuotaSyncPeriod is how often every quota is recounted
	// (setting resource-quota-sync-period; resourcequota.go).
	ResourceQuotaSyncPeriod time.Duration
	// HPASyncPeriod is how often each HorizontalPodAutoscaler is
	// reconciled (setting horizontal-pod-autoscaler-sync-period;
	// horizontalpodautoscaler.go).
	HPASyncPeriod time.Duration
}

// APIServerAddress is the master's address and the apiserver's port.
type APIServerAddress struct {
	IP   string
	Port int32
}

// ConfigFrom reads the controller-manager's settings.
func ConfigFrom(s plugins.Settings) (Config, error) {
	v := s.Values
	c := Config{
		Kubeconfig: v["kubeconfig"], Controllers: v["controllers"], LeaderElect: true,
		LeaseDuration: DefaultLeaseDuration, RenewDeadline: DefaultRenewDeadline, RetryPeriod: DefaultRetryPeriod,
		QPS: DefaultQPS, Burst: DefaultBurst,
		ClusterCIDR: v["cluster-cidr"], ServiceCIDR: v["service-cidr"], ClusterDNS: v["cluster-dns"], ClusterDomain: v["cluster-domain"],
	}
	if c.Kubeconfig == "" {
		return c, errors.New("controller-manager: setting kubeconfig is required (tinykube up sets it to the cluster's controller-manager.conf)")
	}
	if c.Controllers == "" {
		c.Controllers = "*"
	}
	if _, err := Enabled(c.Controllers, Controllers); err != nil {
		return c, fmt.Errorf("controller-manager: %w", err)
	}
	if le := v["leader-elect"]; le != "" {
		b, err := strconv.ParseBool(le)
		if err != nil {
			return c, fmt.Errorf("controller-manager: setting leader-elect=%q: want true or false", le)
		}
		c.LeaderElect = b
	}
	for key, d := range map[string]*time.Duration{
		"leader-elect-lease-duration": &c.LeaseDuration, "leader-elect-renew-deadline": &c.RenewDeadline, "leader-elect-retry-period": &c.RetryPeriod,
	} {
		if val := v[key]; val != "" {
			var err error
			if *d, err = time.ParseDuration(val); err != nil || *d <= 0 {
				return c, fmt.Errorf("controller-manager: setting %s=%q: want a duration such as 15s", key, val)
			}
		}
	}
	if !(c.LeaseDuration > c.RenewDeadline && c.RenewDeadline > c.RetryPeriod) {
		return c, fmt.Errorf("controller-manager: leader election needs lease-duration (%v) > renew-deadline (%v) > retry-period (%v)", c.LeaseDuration, c.RenewDeadline, c.RetryPeriod)
	}
	if q := v["kube-api-qps"]; q != "" {
		f, err := strconv.ParseFloat(q, 32)
		if err != nil || f <= 0 {
			return c, fmt.Errorf("controller-manager: setting kube-api-qps=%q: want a positive number", q)
		}
		c.QPS = float32(f)
	}
	if b := v["kube-api-burst"]; b != "" {
		n, err := strconv.Atoi(b)
		if err != nil || n <= 0 {
			return c, fmt.Errorf("controller-manager: setting kube-api-burst=%q: want a positive integer", b)
		}
		c.Burst = n
	}
	c.TerminatedPodGCThreshold = DefaultTerminatedPodGCThreshold
	if t := v["terminated-pod-gc-threshold"]; t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return c, fmt.Errorf("controller-manager: setting terminated-pod-gc-threshold=%q: want an integer (0 or less: keep every finished pod)", t)
		}
		c.TerminatedPodGCThreshold = n
	}
	c.HPASyncPeriod = DefaultHPASyncPeriod
	if p := v["horizontal-pod-autoscaler-sync-period"]; p != "" {
		d, err := time.ParseDuration(p)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("controller-manager: setting horizontal-pod-autoscaler-sync-period=%q: want a duration such as 15s", p)
		}
		c.HPASyncPeriod = d
	}
	var err error
	if c.NodeLifecycle, err = nodeLifecycleConfigFrom(v); err != nil {
		return c, fmt.Errorf("controller-manager: %w", err)
	}
	if c.ResourceQuotaSyncPeriod, err = resourceQuotaSyncPeriodFrom(v); err != nil {
		return c, fmt.Errorf("controller-manager: %w", err)
	}
	host := s.Machine
	if host == "" {
		host, _ = os.Hostname()
	}
	c.Identity = host + "_" + string(uuid.NewUUID())
	return c, nil
}

// apiServerAddress reads the master's address and port from the
// kubeconfig's server URL (https://10.200.0.10:6443).
func apiServerAddress(server string) (APIServerAddress, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return APIServerAddress{}, fmt.Errorf("kubeconfig server %q: want https://<master>:6443", server)
	}
	port := int32(443)
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return APIServerAddress{}, fmt.Errorf("kubeconfig server %q: port %q", server, p)
		}
		port = int32(n)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		return APIServerAddress{IP: ip.String(), Port: port}, nil
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return APIServerAddress{}, fmt.Errorf("kubeconfig server %q: cannot resolve %s: %v", server, host, err)
	}
	return APIServerAddress{IP: ips[0].String(), Port: port}, nil
}

// rootCA reads the CA to publish: file if set, else the kubeconfig's.
func rootCA(file string, restCfg *rest.Config) ([]byte, error) {
	switch {
	case file != "":
	case len(restCfg.CAData) > 0:
		return restCfg.CAData, nil
	case restCfg.CAFile != "":
		file = restCfg.CAFile
	default:
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("root CA: %w", err)
	}
	return data, nil
}

// ControllerManager is the reference controller-manager component.
type ControllerManager struct {
	// The life cycle comes from plugins.Background. Health is healthy
	// while the controller-manager leads with every controller's caches
	// synced, or stands by behind another leader; not while it has yet to
	// learn who leads. Stop stops the controllers and gives up the Lease,
	// so that another controller-manager (or this one, restarted) leads at
	// once instead of waiting for it to expire.
	plugins.Background
}

var _ plugins.Component = (*ControllerManager)(nil)

// New returns a controller-manager, not yet started.
func New() *ControllerManager { return &ControllerManager{} }

// Identify says this is the reference controller-manager.
func (m *ControllerManager) Identify(context.Context) (plugins.Identity, error) {
	return plugins.Identity{Kind: plugins.KindControllerManager, Implementation: "reference", Version: Version}, nil
}

// Start reads the settings and starts running for the Lease in the
// background; the controllers start once it is held.
func (m *ControllerManager) Start(_ context.Context, s plugins.Settings) error {
	if m.Started() {
		return plugins.ErrAlreadyStarted
	}
	cfg, err := ConfigFrom(s)
	if err != nil {
		return err
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("controller-manager: kubeconfig %s: %w", cfg.Kubeconfig, err)
	}
	if cfg.APIServer, err = apiServerAddress(restCfg.Host); err != nil {
		return fmt.Errorf("controller-manager: %w", err)
	}
	if cfg.RootCA, err = rootCA(s.Values["root-ca-file"], restCfg); err != nil {
		return fmt.Errorf("controller-manager: %w", err)
	}
	restCfg.QPS, restCfg.Burst = cfg.QPS, cfg.Burst
	restCfg.UserAgent = "tinykube-controller-manager/" + Version
	return m.Go("controller-manager", func(ctx context.Context) error { return m.run(ctx, cfg, restCfg) })
}

// run leads (or waits to), term after term, until ctx is done.
func (m *ControllerManager) run(ctx context.Context, cfg Config, restCfg *rest.Config) error {
	enabled, err := Enabled(cfg.Controllers, Controllers)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := func(component string) record.EventRecorder {
		return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
	}
	lead := func(ctx context.Context) {
		if err := m.runControllers(ctx, cfg, restCfg, enabled, recorder); err != nil && ctx.Err() == nil {
			m.SetHealth(false, err.Error())
			logf("manager", "%v", err)
		}
	}
	if !cfg.LeaderElect {
		lead(ctx)
		return nil
	}

	// The Lease is renewed with a client of its own, so that a busy
	// controller cannot starve the renewals of their rate limit.
	leCfg := rest.CopyConfig(restCfg)
	leCfg.UserAgent += "/leader-election"
	leClient, err := kubernetes.NewForConfig(leCfg)
	if err != nil {
		return err
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: LeaseNamespace, Name: LeaseName},
		Client:     leClient.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: cfg.Identity, EventRecorder: recorder("kube-controller-manager")},
	}
	for ctx.Err() == nil {
		m.SetHealth(false, fmt.Sprintf("waiting for the Lease %s/%s as %s", LeaseNamespace, LeaseName, cfg.Identity))
		// One term: run for the Lease; once it is held, run the
		// controllers here until it is lost. The controllers have stopped
		// before the next term starts (or before Stop returns).
		started := make(chan context.Context, 1)
		elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   cfg.LeaseDuration,
			RenewDeadline:   cfg.RenewDeadline,
			RetryPeriod:     cfg.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            LeaseName,
			Callbacks: leaderelection.LeaderCallbacks{
				// termCtx is cancelled when the Lease is lost.
				OnStartedLeading: func(termCtx context.Context) { started <- termCtx },
				OnStoppedLeading: func() {
					if ctx.Err() == nil {
						logf("manager", "lost the Lease %s/%s; stopping the controllers; running for it again", LeaseNamespace, LeaseName)
						m.SetHealth(false, "lost the Lease; running for it again")
					}
				},
				OnNewLeader: func(identity string) {
					if identity != cfg.Identity {
						logf("manager", "the leader is %s", identity)
						m.SetHealth(true, fmt.Sprintf("standby: %s leads", identity))
					}
				},
			},
		})
		if err != nil {
			return err
		}
		electorDone := make(chan struct{})
		go func() {
			defer close(electorDone)
			elector.Run(ctx) // returns when the Lease is lost, or ctx is done
		}()
		select {
		case termCtx := <-started:
			lead(termCtx)
		case <-electorDone:
		}
		<-electorDone
	}
	return nil
}

// runControllers builds the enabled controllers on fresh informers, starts
// them, and blocks until ctx is done and every controller has stopped.
func (m *ControllerManager) runControllers(ctx context.Context, cfg Config, restCfg *rest.Config, enabled []Registration, recorder func(string) record.EventRecorder) error {
	m.SetHealth(false, "leading: building the controllers")
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	disc := memory.NewMemCacheClient(cs.Discovery())
	cctx := &Context{
		Client: cs, Dynamic: dyn, Discovery: disc,
		Mapper:           restmapper.NewDeferredDiscoveryRESTMapper(disc),
		Informers:        informers.NewSharedInformerFactory(cs, 0),
		DynamicInformers: dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0),
		Recorder:         recorder,
		Config:           cfg,
	}
	type built struct {
		reg Registration
		c   Controller
	}
	var controllers []built
	for _, reg := range enabled {
		var c Controller
		for {
			if c, err = reg.New(cctx); err == nil {
				break
			}
			// Discovery can fail while the apiserver starts: try again.
			m.SetHealth(false, fmt.Sprintf("leading: building %s: %v", reg.Name, err))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			disc.Invalidate()
		}
		controllers = append(controllers, built{reg, c})
	}
	cctx.Informers.Start(ctx.Done())
	cctx.DynamicInformers.Start(ctx.Done())

	var wg sync.WaitGroup
	var names []string
	for _, b := range controllers {
		names = append(names, b.reg.Name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.c.Run(ctx, b.reg.Workers)
		}()
	}
	cctx.Informers.WaitForCacheSync(ctx.Done())
	cctx.DynamicInformers.WaitForCacheSync(ctx.Done())
	if ctx.Err() == nil {
		logf("manager", "leading as %s; running %s", cfg.Identity, strings.Join(names, ", "))
		m.SetHealth(true, fmt.Sprintf("leading; %d controllers: %s", len(names), strings.Join(names, ", ")))
	}
	<-ctx.Done()
	wg.Wait()
	cctx.Informers.Shutdown()
	cctx.DynamicInformers.Shutdown()
	return nil
}
