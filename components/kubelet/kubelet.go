package kubelet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"

	"github.com/tinykube/tinykube/components/kubelet/podnet"
	"github.com/tinykube/tinykube/plugins"
)

// Version is the reference kubelet component's version.
const Version = "v0.1.0"

// KubeletPort is the kubelet API's port, as in Kubernetes.
const KubeletPort = 10250

// Crash-loop backoff, as in Kubernetes: 10 s, doubling, at most 5 min.
// Settings backoff-initial and backoff-max change them (scenarios use
// shorter ones).
const (
	DefaultBackoffInitial = 10 * time.Second
	DefaultBackoffMax     = 5 * time.Minute
)

// Config is the kubelet's configuration, from its settings.
type Config struct {
	NodeName      string
	NodeIP        string
	Kubeconfig    string
	Containerd    string // containerd's socket
	RuncRoot      string
	CgroupParent  string
	PodCIDR       *net.IPNet
	ServiceCIDR   *net.IPNet
	ClusterDNS    string
	ClusterDomain string
	DataDir       string
	Cluster       string
	TLSCert       string
	TLSKey        string
	ClientCA      string
	Port          int
	BackoffInit   time.Duration
	BackoffMax    time.Duration
	// LeaseDuration is the node Lease's leaseDurationSeconds (setting
	// node-lease-duration-seconds, KubeletConfiguration's
	// nodeLeaseDurationSeconds, 40): the Lease is renewed every quarter of
	// it. Scenarios that shorten the node controller's grace period
	// shorten it too, so that a live node is never taken for lost.
	LeaseDuration time.Duration
}

// Kubelet is the reference kubelet component.
type Kubelet struct {
	// The life cycle comes from plugins.Background. Health is healthy
	// once the Node is registered and pods are synced. Stop stops the
	// kubelet; the pods keep running, as they do when a real kubelet
	// restarts, and a new kubelet adopts them.
	plugins.Background
}

var _ plugins.Component = (*Kubelet)(nil)

// New returns a kubelet, not yet started.
func New() *Kubelet { return &Kubelet{} }

// Identify says this is the reference kubelet.
func (k *Kubelet) Identify(context.Context) (plugins.Identity, error) {
	return plugins.Identity{Kind: plugins.KindKubelet, Implementation: "reference", Version: Version}, nil
}

// ConfigFrom reads the kubelet's settings.
func ConfigFrom(s plugins.Settings) (Config, error) {
	v := s.Values
	c := Config{
		NodeName: s.Machine, NodeIP: s.Address, Kubeconfig: v["kubeconfig"], Containerd: v["containerd-address"],
		RuncRoot: v["runc-root"], CgroupParent: v["cgroup-parent"], ClusterDNS: v["cluster-dns"],
		ClusterDomain: v["cluster-domain"], DataDir: s.DataDir, Cluster: s.Cluster,
		TLSCert: v["tls-cert-file"], TLSKey: v["tls-private-key-file"], ClientCA: v["client-ca-file"],
		Port: KubeletPort, BackoffInit: DefaultBackoffInitial, BackoffMax: DefaultBackoffMax,
		LeaseDuration: LeaseDuration,
	}
	for key, val := range map[string]string{"kubeconfig": c.Kubeconfig, "containerd-address": c.Containerd, "runc-root": c.RuncRoot, "cgroup-parent": c.CgroupParent} {
		if val == "" {
			return c, fmt.Errorf("kubelet: setting %s is required", key)
		}
	}
	var err error
	if _, c.PodCIDR, err = net.ParseCIDR(v["pod-cidr"]); err != nil {
		return c, fmt.Errorf("kubelet: setting pod-cidr=%q: %v", v["pod-cidr"], err)
	}
	if sc := v["service-cidr"]; sc != "" {
		if _, c.ServiceCIDR, err = net.ParseCIDR(sc); err != nil {
			return c, fmt.Errorf("kubelet: setting service-cidr=%q: %v", sc, err)
		}
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	for key, d := range map[string]*time.Duration{"backoff-initial": &c.BackoffInit, "backoff-max": &c.BackoffMax} {
		if val := v[key]; val != "" {
			if *d, err = time.ParseDuration(val); err != nil {
				return c, fmt.Errorf("kubelet: setting %s=%q: want a duration such as 10s", key, val)
			}
		}
	}
	if val := v["node-lease-duration-seconds"]; val != "" {
		n, err := strconv.Atoi(val)
		if err != nil || n <= 0 {
			return c, fmt.Errorf("kubelet: setting node-lease-duration-seconds=%q: want a positive number of seconds such as 40", val)
		}
		c.LeaseDuration = time.Duration(n) * time.Second
	}
	if s.DataDir == "" || s.Machine == "" {
		return c, errors.New("kubelet: settings need the machine's name and a data directory")
	}
	return c, nil
}

// Start connects to the apiserver and containerd, builds the node's pod
// network, registers the Node and starts syncing pods, in the background.
func (k *Kubelet) Start(_ context.Context, s plugins.Settings) error {
	if k.Started() {
		return plugins.ErrAlreadyStarted
	}
	cfg, err := ConfigFrom(s)
	if err != nil {
		return err
	}
	return k.Go("kubelet", func(ctx context.Context) error {
		// A kubelet that cannot reach containerd or build the pod network
		// says why in its health and tries again.
		for {
			err := k.run(ctx, cfg)
			if ctx.Err() != nil {
				return nil
			}
			k.SetHealth(false, fmt.Sprintf("%v (retrying)", err))
			fmt.Fprintf(os.Stderr, "kubelet: %v; retrying in 2s\n", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(2 * time.Second):
			}
		}
	})
}

// node is a running kubelet's state.
type node struct {
	cfg      Config
	cs       kubernetes.Interface
	runtime  *Runtime
	network  *podnet.Network
	pods     corelisters.PodLister
	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
	backoff  *flowcontrol.Backoff
	pullErrs *flowcontrol.Backoff
	probes   *probeManager

	mu     sync.Mutex
	errors map[string]map[string]Waiting // pod key → container → why it waits
}

func (k *Kubelet) run(ctx context.Context, cfg Config) error {
	restCfg, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	restCfg.QPS, restCfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	client, err := containerd.New(cfg.Containerd, containerd.WithDefaultNamespace("k8s.io"))
	if err != nil {
		return fmt.Errorf("containerd at %s: %w", cfg.Containerd, err)
	}
	defer client.Close()
	ctx = namespaces.WithNamespace(ctx, "k8s.io")
	version, err := client.Version(ctx)
	if err != nil {
		return fmt.Errorf("containerd at %s: %w", cfg.Containerd, err)
	}
	k.SetHealth(false, "building the pod network")
	network, err := podnet.Setup(podnet.Config{
		Cluster: cfg.Cluster, Node: cfg.NodeName, PodCIDR: cfg.PodCIDR, ServiceCIDR: cfg.ServiceCIDR,
		NodeIP: net.ParseIP(cfg.NodeIP), StateDir: filepath.Join(cfg.DataDir, "podnet"),
	})
	if err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	defer network.Close()

	n := &node{
		cfg: cfg, cs: cs, network: network,
		runtime:  &Runtime{client: client, runcRoot: cfg.RuncRoot, cgroupParent: cfg.CgroupParent, podsDir: filepath.Join(cfg.DataDir, "pods")},
		queue:    workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		backoff:  flowcontrol.NewBackOff(cfg.BackoffInit, cfg.BackoffMax),
		pullErrs: flowcontrol.NewBackOff(cfg.BackoffInit, cfg.BackoffMax),
		errors:   map[string]map[string]Waiting{},
	}
	defer n.queue.ShutDown()
	n.probes = newProbeManager(n)
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	n.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: cfg.NodeName})

	k.SetHealth(false, "registering the node")
	facts := ReadNodeFacts(cfg.NodeName, cfg.NodeIP, cfg.PodCIDR.String(), "containerd://"+version.Version)
	facts.Images = n.nodeImages(ctx)
	for {
		err := register(ctx, cs, NodeObject(facts, time.Now()))
		if err == nil {
			break
		}
		k.SetHealth(false, fmt.Sprintf("registering the node: %v", err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}

	// Only this node's pods, as the real kubelet watches them.
	podInformers := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
	}))
	all := informers.NewSharedInformerFactory(cs, 0)
	podInformer := podInformers.Core().V1().Pods()
	n.pods = podInformer.Lister()
	n.services = all.Core().V1().Services().Lister()
	n.nodes = all.Core().V1().Nodes().Lister()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			n.queue.Add(key)
		}
	}
	podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }, DeleteFunc: enqueue,
	})
	all.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { n.syncRoutes() }, UpdateFunc: func(any, any) { n.syncRoutes() }, DeleteFunc: func(any) { n.syncRoutes() },
	})
	podInformers.Start(ctx.Done())
	all.Start(ctx.Done())
	k.SetHealth(false, "syncing pods")
	for _, ok := range podInformers.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil
		}
	}
	all.WaitForCacheSync(ctx.Done())

	go n.heartbeat(ctx)
	go n.watchExits(ctx)
	go n.housekeeping(ctx)
	server, err := n.serve(ctx)
	if err != nil {
		return err
	}
	defer server.Close()
	const workers = 8
	for i := 0; i < workers; i++ {
		go n.worker(ctx)
	}
	k.SetHealth(true, fmt.Sprintf("node %s registered, pod CIDR %s, containerd %s", cfg.NodeName, cfg.PodCIDR, version.Version))
	<-ctx.Done()
	return nil
}

// heartbeat renews the Lease every 10 s (a quarter of its duration) and
// the Node's status every minute, or at once when the Node no longer says
// Ready: the node controller marked it Unknown while this kubelet could not
// reach the apiserver, and the kubelet, which is well, says so again (as
// the real kubelet posts a status that differs from the stored one).
func (n *node) heartbeat(ctx context.Context) {
	lastStatus := time.Now()
	tick := time.NewTicker(n.cfg.LeaseDuration / 4)
	defer tick.Stop()
	for {
		if err := renewLease(ctx, n.cs, n.cfg.NodeName, n.cfg.LeaseDuration, time.Now()); err != nil && ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "kubelet: lease: %v\n", err)
		}
		if time.Since(lastStatus) >= NodeStatusMaxSilence || !n.postedReady() {
			if err := updateNodeStatus(ctx, n.cs, n.cfg.NodeName, n.nodeImages(ctx), time.Now()); err == nil {
				lastStatus = time.Now()
			} else if ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "kubelet: %v\n", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// postedReady reports whether the stored Node says Ready=True, as this
// kubelet last posted (the informer's copy; true if it has none yet).
func (n *node) postedReady() bool {
	node, err := n.nodes.Get(n.cfg.NodeName)
	if err != nil {
		return true
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// syncRoutes routes the other nodes' pod CIDRs through their addresses.
func (n *node) syncRoutes() {
	nodes, err := n.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	peers := map[string]podnet.Peer{}
	for _, node := range nodes {
		if node.Name == n.cfg.NodeName || node.Spec.PodCIDR == "" {
			continue
		}
		_, cidr, err := net.ParseCIDR(node.Spec.PodCIDR)
		if err != nil {
			continue
		}
		for _, a := range node.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				peers[node.Name] = podnet.Peer{PodCIDR: cidr, NodeIP: net.ParseIP(a.Address)}
			}
		}
	}
	if err := n.network.SyncRoutes(peers); err != nil {
		fmt.Fprintf(os.Stderr, "kubelet: routes to other nodes' pods: %v\n", err)
	}
}
