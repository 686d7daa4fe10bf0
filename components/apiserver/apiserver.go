package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/tinykube/tinykube/components/apiserver/admission"
	"github.com/tinykube/tinykube/plugins"
)

// Version is the reference apiserver component's version.
const Version = "v0.1.0"

// SecurePort is where the apiserver listens, as in Kubernetes.
const SecurePort = 6443

// APIServer is the reference apiserver component.
type APIServer struct {
	mu      sync.Mutex
	started bool
	etcd    *clientv3.Client
	http    *http.Server
	server  *Server
	ready   bool // bootstrap objects exist
	url     string
	log     *slog.Logger
	// stopCompaction ends the compaction loop.
	stopCompaction context.CancelFunc
}

// CompactionInterval is how often the apiserver compacts etcd's history,
// as kube-apiserver does (--etcd-compaction-interval 5m): each time, the
// history older than the previous round goes. A watch from before that
// gets 410 Gone, and its client lists again.
const CompactionInterval = 5 * time.Minute

var _ plugins.Component = (*APIServer)(nil)

// New returns an apiserver component, not yet started.
func New() *APIServer { return &APIServer{log: slog.New(slog.NewTextHandler(os.Stderr, nil))} }

// Identify says this is the reference apiserver.
func (a *APIServer) Identify(context.Context) (plugins.Identity, error) {
	return plugins.Identity{Kind: plugins.KindAPIServer, Implementation: "reference", Version: Version}, nil
}

// Start connects to etcd and serves the API on the machine's address.
// Settings (named after kube-apiserver's flags):
//
//	etcd-servers              http://<address>:2379
//	secure-port               6443
//	tls-cert-file, tls-private-key-file
//	                          the serving certificate; without them the
//	                          API is served over plain HTTP (tests only)
//	client-ca-file            CA that signs client certificates
//	service-cluster-ip-range  10.96.0.0/12
//	default-not-ready-toleration-seconds, default-unreachable-toleration-seconds
//	                          300, 300: how long a new pod tolerates its
//	                          node's not-ready / unreachable NoExecute taint
//	                          before the taint-eviction-controller deletes it
//	event-ttl                 1h: etcd deletes an Event this long after its last write
func (a *APIServer) Start(ctx context.Context, s plugins.Settings) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return plugins.ErrAlreadyStarted
	}
	get := func(key, def string) string {
		if v := s.Values[key]; v != "" {
			return v
		}
		return def
	}
	var tolerations [2]int64
	for i, key := range []string{"default-not-ready-toleration-seconds", "default-unreachable-toleration-seconds"} {
		n, err := strconv.ParseInt(get(key, fmt.Sprint(admission.DefaultTolerationSeconds)), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("apiserver: setting %s=%q: want a number of seconds, 0 or more", key, s.Values[key])
		}
		tolerations[i] = n
	}
	admission.SetDefaultTolerationSeconds(tolerations[0], tolerations[1])
	etcdServers := strings.Split(get("etcd-servers", "http://"+s.Address+":2379"), ",")
	port := get("secure-port", fmt.Sprint(SecurePort))
	client, err := clientv3.New(clientv3.Config{Endpoints: etcdServers, DialTimeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("apiserver: etcd %v: %w", etcdServers, err)
	}
	var pool *x509.CertPool
	if caFile := get("client-ca-file", ""); caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			client.Close()
			return fmt.Errorf("apiserver: client-ca-file: %w", err)
		}
		pool = x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
	}
	addr := net.JoinHostPort(s.Address, port)
	kubeletClient, err := kubeletClientFrom(get("kubelet-client-certificate", ""), get("kubelet-client-key", ""), pool)
	if err != nil {
		client.Close()
		return err
	}
	var saKeys *ServiceAccountKeys
	if keyFile := get("service-account-signing-key-file", ""); keyFile != "" {
		key, err := LoadServiceAccountKey(keyFile)
		if err != nil {
			client.Close()
			return fmt.Errorf("apiserver: service-account-signing-key-file: %w", err)
		}
		saKeys = &ServiceAccountKeys{Signer: key, Issuer: get("service-account-issuer", DefaultIssuer)}
	}
	eventTTL, err := time.ParseDuration(get("event-ttl", DefaultEventTTL.String()))
	if err != nil || eventTTL <= 0 {
		client.Close()
		return fmt.Errorf("apiserver: setting event-ttl=%q: want a duration such as 1h", s.Values["event-ttl"])
	}
	srv, err := NewServer(Config{
		EventTTL:           eventTTL,
		ServiceAccountKeys: saKeys,
		Etcd:               client,
		Advertise:          addr,
		ServiceCIDR:        get("service-cluster-ip-range", "10.96.0.0/12"),
		ClientCAs:          pool,
		KubeletClient:      kubeletClient,
	})
	if err != nil {
		client.Close()
		return err
	}
	hs := &http.Server{Addr: addr, Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	certFile, keyFile := get("tls-cert-file", ""), get("tls-private-key-file", "")
	l, err := net.Listen("tcp", addr)
	if err != nil {
		client.Close()
		return fmt.Errorf("apiserver: listen on %s: %w", addr, err)
	}
	scheme := "http"
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			l.Close()
			client.Close()
			return fmt.Errorf("apiserver: serving certificate: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
		l = tls.NewListener(l, hs.TLSConfig)
		scheme = "https"
	}
	a.etcd, a.http, a.server, a.started = client, hs, srv, true
	compactCtx, cancel := context.WithCancel(context.Background())
	a.stopCompaction = cancel
	go compact(compactCtx, client, CompactionInterval, a.log)
	a.url = scheme + "://" + addr
	go func() {
		if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("serving stopped", "error", err)
		}
	}()
	go a.bootstrap()
	return nil
}

// bootstrap makes what every cluster has: the four namespaces and the
// `kubernetes` Service. It retries until etcd answers.
func (a *APIServer) bootstrap() {
	for {
		err := a.server.Bootstrap(context.Background())
		if err == nil {
			a.mu.Lock()
			a.ready = true
			a.mu.Unlock()
			return
		}
		a.log.Warn("bootstrap: retrying", "error", err)
		select {
		case <-time.After(200 * time.Millisecond):
		}
		a.mu.Lock()
		stopped := a.http == nil
		a.mu.Unlock()
		if stopped {
			return
		}
	}
}

// Bootstrap creates the namespaces default, kube-system, kube-public and
// kube-node-lease and the `kubernetes` Service, unless they exist.
func (s *Server) Bootstrap(ctx context.Context) error {
	nsRes := lookup("", "v1", "namespaces")
	for _, name := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := s.createObject(ctx, request{resource: nsRes}, ns, false); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	svcRes := lookup("", "v1", "services")
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: s.services.nth(1).String(),
			Ports:     []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(SecurePort)}},
		},
	}
	if _, err := s.store(svcRes).Get(ctx, "default", "kubernetes"); apierrors.IsNotFound(err) {
		if _, err := s.createObject(ctx, request{resource: svcRes, namespace: "default"}, svc, false); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	} else if err != nil {
		return err
	}
	return s.bootstrapEndpoints(ctx)
}

// bootstrapEndpoints points the `kubernetes` Service at this apiserver:
// its Endpoints and EndpointSlice, which kube-apiserver keeps itself (the
// endpoints controller leaves this Service alone).
func (s *Server) bootstrapEndpoints(ctx context.Context) error {
	host, portText, err := net.SplitHostPort(s.advertise)
	if ip := net.ParseIP(host); err != nil || ip == nil || ip.IsLoopback() {
		return nil // no address other machines could use (tests on loopback)
	}
	port, _ := strconv.Atoi(portText)
	ports := []corev1.EndpointPort{{Name: "https", Port: int32(port), Protocol: corev1.ProtocolTCP}}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: host}}, Ports: ports}},
	}
	ready := true
	name, proto, p32 := "https", corev1.ProtocolTCP, int32(port)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{host}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &p32}},
	}
	for _, obj := range []runtime.Object{ep, slice} {
		res := lookup("", "v1", "endpoints")
		if _, ok := obj.(*discoveryv1.EndpointSlice); ok {
			res = lookup("discovery.k8s.io", "v1", "endpointslices")
		}
		if _, err := s.store(res).Get(ctx, "default", "kubernetes"); apierrors.IsNotFound(err) {
			if _, err := s.createObject(ctx, request{resource: res, namespace: "default"}, obj, false); err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
		} else if err != nil {
			return err
		}
	}
	return nil
}

// Health is healthy once etcd answers and the bootstrap objects exist.
func (a *APIServer) Health(ctx context.Context) (plugins.Health, error) {
	a.mu.Lock()
	started, ready, client, url := a.started, a.ready, a.etcd, a.url
	a.mu.Unlock()
	if !started {
		return plugins.Health{}, plugins.ErrNotStarted
	}
	if client == nil {
		return plugins.Health{Message: "stopped"}, nil
	}
	if !ready {
		return plugins.Health{Message: "starting: creating the default namespaces and the kubernetes Service"}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := client.Get(ctx, "/registry/health"); err != nil {
		return plugins.Health{Message: fmt.Sprintf("etcd does not answer: %v", err)}, nil
	}
	return plugins.Health{Healthy: true, Message: "serving " + url}, nil
}

// Stop stops serving and closes the etcd connection.
func (a *APIServer) Stop(ctx context.Context) error {
	a.mu.Lock()
	hs, client := a.http, a.etcd
	a.http, a.etcd = nil, nil
	a.mu.Unlock()
	if hs == nil {
		return nil
	}
	if a.stopCompaction != nil {
		a.stopCompaction()
	}
	err := hs.Shutdown(ctx)
	if err != nil {
		hs.Close()
	}
	client.Close()
	return nil
}

// compact compacts etcd every interval to the revision the previous round
// saw, until ctx ends.
func compact(ctx context.Context, client *clientv3.Client, interval time.Duration, log *slog.Logger) {
	var previous int64
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		resp, err := client.Get(ctx, "/registry/health")
		if err != nil {
			continue
		}
		if previous > 0 {
			if _, err := client.Compact(ctx, previous); err != nil && ctx.Err() == nil {
				log.Warn("compaction failed", "revision", previous, "error", err)
			} else {
				log.Info("compacted etcd", "revision", previous)
			}
		}
		previous = resp.Header.Revision
	}
}

// kubeletClientFrom builds the client the apiserver reaches kubelets with:
// its own client certificate, and the cluster CA to trust the kubelets'
// serving certificates. No certificate: no client.
func kubeletClientFrom(certFile, keyFile string, ca *x509.CertPool) (*http.Client, error) {
	if certFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("apiserver: kubelet client certificate: %w", err)
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca, MinVersion: tls.VersionTLS12},
	}}, nil
}
