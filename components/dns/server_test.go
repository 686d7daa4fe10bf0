package dns

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	miekg "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/tinykube/tinykube/plugins"
)

// The server end to end on loopback: a fake clientset for the apiserver,
// miekg's client for the pods' resolvers.

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type testServer struct {
	*Server
	cs         *fake.Clientset
	addr       string // DNS, host:port
	healthAddr string
}

// startServer runs the component against a fake clientset holding objs,
// on loopback, with settings over the defaults.
func startServer(t testing.TB, settings map[string]string, objs ...runtime.Object) *testServer {
	t.Helper()
	cs := fake.NewClientset(objs...)
	healthPort := freePort(t)
	values := map[string]string{
		"kubeconfig": "unused", "cluster-dns": "10.96.0.10", "service-cidr": "10.96.0.0/12",
		"cluster-cidr": "10.244.0.0/16", "port": "0", "health-port": strconv.Itoa(healthPort),
		"metrics-port": "0", "upstream": "none",
	}
	for k, v := range settings {
		values[k] = v
	}
	ready := make(chan string, 1)
	s := New()
	s.NewClient = func(Config) (kubernetes.Interface, error) { return cs, nil }
	s.Ready = func(addr string) { ready <- addr }
	if err := s.Start(context.Background(), plugins.Settings{Cluster: "t", Machine: "master", Role: "master", Address: "127.0.0.1", Values: values}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), plugins.StopGrace)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	select {
	case addr := <-ready:
		return &testServer{Server: s, cs: cs, addr: addr, healthAddr: fmt.Sprintf("127.0.0.1:%d", healthPort)}
	case <-time.After(10 * time.Second):
		h, _ := s.Health(context.Background())
		t.Fatalf("not ready within 10s: %s", h.Message)
	}
	return nil
}

func (ts *testServer) query(t testing.TB, net, name string, qtype uint16) *miekg.Msg {
	t.Helper()
	c := &miekg.Client{Net: net, Timeout: 2 * time.Second}
	m, _, err := c.Exchange(question(name, qtype), ts.addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, miekg.TypeToString[qtype], net, err)
	}
	return m
}

// waitFor polls cond every 5 ms until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last seen: %s", what, within, last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func aRecords(m *miekg.Msg) string {
	var out []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*miekg.A); ok {
			out = append(out, a.A.String())
		}
	}
	return strings.Join(out, ",")
}

func TestServerAnswersUDPAndTCP(t *testing.T) {
	ts := startServer(t, nil, svc("default", "mysql", "10.96.0.50", sport("mysql", corev1.ProtocolTCP, 3306)))
	for _, network := range []string{"udp", "tcp"} {
		m := ts.query(t, network, "mysql.default.svc.cluster.local.", miekg.TypeA)
		if m.Rcode != miekg.RcodeSuccess || aRecords(m) != "10.96.0.50" {
			t.Errorf("%s: %v", network, m)
		}
		m = ts.query(t, network, "_mysql._tcp.mysql.default.svc.cluster.local.", miekg.TypeSRV)
		if len(m.Answer) != 1 || m.Answer[0].(*miekg.SRV).Port != 3306 {
			t.Errorf("%s SRV: %v", network, m)
		}
	}
	// Outside the cluster with no upstream: SERVFAIL, at once.
	start := time.Now()
	if m := ts.query(t, "udp", "www.example.com.", miekg.TypeA); m.Rcode != miekg.RcodeServerFailure || time.Since(start) > time.Second {
		t.Errorf("outside name without upstream: %s after %v, want SERVFAIL at once", miekg.RcodeToString[m.Rcode], time.Since(start))
	}
}

// The discovery mode the course notes contrast with environment variables:
// a Service created after the pod is found at once, no restart needed.
func TestServerNewServiceResolvesAtOnce(t *testing.T) {
	ts := startServer(t, nil)
	if m := ts.query(t, "udp", "redis.default.svc.cluster.local.", miekg.TypeA); m.Rcode != miekg.RcodeNameError {
		t.Fatalf("before the Service: %s, want NXDOMAIN", miekg.RcodeToString[m.Rcode])
	}
	created := time.Now()
	ts.cs.CoreV1().Services("default").Create(context.Background(), svc("default", "redis", "10.96.0.77"), metav1.CreateOptions{})
	waitFor(t, 5*time.Second, "redis resolves", func() (bool, string) {
		m := ts.query(t, "udp", "redis.default.svc.cluster.local.", miekg.TypeA)
		return aRecords(m) == "10.96.0.77", m.String()
	})
	t.Logf("resolvable %v after the create", time.Since(created))
	ts.cs.CoreV1().Services("default").Delete(context.Background(), "redis", metav1.DeleteOptions{})
	waitFor(t, 5*time.Second, "redis gone", func() (bool, string) {
		m := ts.query(t, "udp", "redis.default.svc.cluster.local.", miekg.TypeA)
		return m.Rcode == miekg.RcodeNameError, m.String()
	})
}

// kube-dns: the Service at the cluster DNS address and a hand-made slice
// naming this server, made again if deleted.
func TestServerRegistersKubeDNS(t *testing.T) {
	ts := startServer(t, map[string]string{"metrics-port": strconv.Itoa(freePort(t))})
	ctx := context.Background()
	var svc *corev1.Service
	var sl *discoveryv1.EndpointSlice
	waitFor(t, 5*time.Second, "kube-dns Service and slice", func() (bool, string) {
		var err1, err2 error
		svc, err1 = ts.cs.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		sl, err2 = ts.cs.DiscoveryV1().EndpointSlices("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		return err1 == nil && err2 == nil, fmt.Sprint(err1, err2)
	})
	if svc.Spec.ClusterIP != "10.96.0.10" || svc.Spec.Selector != nil || svc.Labels["k8s-app"] != "kube-dns" {
		t.Errorf("Service: clusterIP %s selector %v labels %v", svc.Spec.ClusterIP, svc.Spec.Selector, svc.Labels)
	}
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, fmt.Sprintf("%s %d/%s", p.Name, p.Port, p.Protocol))
	}
	if got := strings.Join(ports, ", "); got != "dns 53/UDP, dns-tcp 53/TCP, metrics 9153/TCP" {
		t.Errorf("Service ports: %s", got)
	}
	_, port, _ := net.SplitHostPort(ts.addr)
	if sl.Labels[discoveryv1.LabelServiceName] != "kube-dns" || sl.Labels[discoveryv1.LabelManagedBy] != ManagedBy ||
		len(sl.Endpoints) != 1 || sl.Endpoints[0].Addresses[0] != "127.0.0.1" || !*sl.Endpoints[0].Conditions.Ready ||
		fmt.Sprint(*sl.Ports[0].Port) != port || *sl.Ports[0].Protocol != corev1.ProtocolUDP || *sl.Ports[1].Protocol != corev1.ProtocolTCP {
		t.Errorf("slice: %+v", sl)
	}

	// Deleted by someone: made again.
	ts.cs.CoreV1().Services("kube-system").Delete(ctx, "kube-dns", metav1.DeleteOptions{})
	ts.cs.DiscoveryV1().EndpointSlices("kube-system").Delete(ctx, "kube-dns", metav1.DeleteOptions{})
	waitFor(t, 5*time.Second, "kube-dns made again", func() (bool, string) {
		_, err1 := ts.cs.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		_, err2 := ts.cs.DiscoveryV1().EndpointSlices("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		return err1 == nil && err2 == nil, fmt.Sprint(err1, err2)
	})
	// And DNS answers for itself.
	waitFor(t, 5*time.Second, "kube-dns resolves", func() (bool, string) {
		m := ts.query(t, "udp", "kube-dns.kube-system.svc.cluster.local.", miekg.TypeA)
		return aRecords(m) == "10.96.0.10", m.String()
	})
}

// A kube-dns Service with another address is the user's to fix: the
// server says so in its health message and keeps answering.
func TestServerKubeDNSWrongAddress(t *testing.T) {
	wrong := kubeDNSService("10.96.0.99")
	ts := startServer(t, nil, wrong)
	waitFor(t, 5*time.Second, "health names the problem", func() (bool, string) {
		h, _ := ts.Health(context.Background())
		return h.Healthy && strings.Contains(h.Message, "has clusterIP 10.96.0.99, not the cluster DNS address 10.96.0.10"), h.Message
	})
	if _, err := ts.cs.DiscoveryV1().EndpointSlices("kube-system").Get(context.Background(), "kube-dns", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a slice was written for the wrong Service: %v", err)
	}
}

// Headless Services answer with every ready endpoint; a UDP answer too big
// for 512 bytes comes back truncated, and whole over TCP.
func TestServerTruncatesOverUDP(t *testing.T) {
	var eps []ep
	for i := 0; i < 60; i++ {
		eps = append(eps, ep{ip: fmt.Sprintf("10.244.1.%d", i+2), hostname: fmt.Sprintf("web-%d", i), ready: true})
	}
	ts := startServer(t, nil, svc("default", "web", corev1.ClusterIPNone), slice("default", "web", eps))
	udp := ts.query(t, "udp", "web.default.svc.cluster.local.", miekg.TypeA)
	if !udp.Truncated || len(udp.Answer) >= 60 {
		t.Errorf("over UDP: truncated %v with %d records; want TC and fewer than 60", udp.Truncated, len(udp.Answer))
	}
	tcp := ts.query(t, "tcp", "web.default.svc.cluster.local.", miekg.TypeA)
	if tcp.Truncated || len(tcp.Answer) != 60 {
		t.Errorf("over TCP: truncated %v with %d records; want all 60", tcp.Truncated, len(tcp.Answer))
	}
	// With EDNS0's larger buffer, UDP carries them all (60 × 16 bytes).
	m := question("web.default.svc.cluster.local.", miekg.TypeA)
	m.SetEdns0(4096, false)
	r, _, err := (&miekg.Client{Net: "udp"}).Exchange(m, ts.addr)
	if err != nil || r.Truncated || len(r.Answer) != 60 {
		t.Errorf("EDNS0 4096: %v, truncated %v, %d records", err, r.Truncated, len(r.Answer))
	}
}

// Names outside the cluster go to the upstream; an ExternalName Service's
// outside target is chased there too.
func TestServerForwards(t *testing.T) {
	up := startUpstream(t)
	ext := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "www.example.com"}}
	ts := startServer(t, map[string]string{"upstream": up.addr}, ext)
	m := ts.query(t, "udp", "www.example.com.", miekg.TypeA)
	if m.Rcode != miekg.RcodeSuccess || aRecords(m) != "192.0.2.53" {
		t.Errorf("forwarded: %v", m)
	}
	m = ts.query(t, "udp", "ext.default.svc.cluster.local.", miekg.TypeA)
	if len(m.Answer) != 2 || m.Answer[0].(*miekg.CNAME).Target != "www.example.com." || aRecords(m) != "192.0.2.53" {
		t.Errorf("ExternalName chased: %v", m)
	}
}

func TestServerHealthAndMetrics(t *testing.T) {
	ts := startServer(t, nil, svc("default", "mysql", "10.96.0.50"))
	ts.query(t, "udp", "mysql.default.svc.cluster.local.", miekg.TypeA)
	ts.query(t, "tcp", "nope.default.svc.cluster.local.", miekg.TypeA)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + ts.healthAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(path); code != 200 || body != "ok\n" {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
	_, body := get("/metrics")
	for _, want := range []string{
		`coredns_dns_requests_total{proto="udp",type="A"} 1`,
		`coredns_dns_requests_total{proto="tcp",type="A"} 1`,
		`coredns_dns_responses_total{rcode="NOERROR"} 1`,
		`coredns_dns_responses_total{rcode="NXDOMAIN"} 1`,
		`coredns_dns_request_duration_seconds_count 2`,
		`coredns_dns_request_duration_seconds_bucket{le="+Inf"} 2`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	h, err := ts.Health(context.Background())
	if err != nil || !h.Healthy || !strings.Contains(h.Message, "serving cluster.local on 127.0.0.1:") {
		t.Errorf("Health = %+v, %v", h, err)
	}
}

// Stop releases the ports: a new server can take them at once.
func TestServerStopReleasesPorts(t *testing.T) {
	port := freePort(t)
	s := New()
	cs := fake.NewClientset()
	s.NewClient = func(Config) (kubernetes.Interface, error) { return cs, nil }
	ready := make(chan string, 1)
	s.Ready = func(a string) { ready <- a }
	set := plugins.Settings{Address: "127.0.0.1", Values: map[string]string{
		"kubeconfig": "x", "cluster-dns": "10.96.0.10", "service-cidr": "10.96.0.0/12", "cluster-cidr": "10.244.0.0/16",
		"port": strconv.Itoa(port), "health-port": "0", "metrics-port": "0", "upstream": "none", "register-service": "false",
	}}
	if _, err := s.Health(context.Background()); err != plugins.ErrNotStarted {
		t.Errorf("Health before Start: %v, want ErrNotStarted", err)
	}
	if err := s.Start(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background(), set); err != plugins.ErrAlreadyStarted {
		t.Errorf("second Start: %v", err)
	}
	<-ready
	ctx, cancel := context.WithTimeout(context.Background(), plugins.StopGrace)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, network := range []string{"udp", "tcp"} {
		var err error
		if network == "udp" {
			var pc net.PacketConn
			if pc, err = net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				pc.Close()
			}
		} else {
			var l net.Listener
			if l, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				l.Close()
			}
		}
		if err != nil {
			t.Errorf("port %d/%s after Stop: %v", port, network, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	base := map[string]string{"kubeconfig": "k", "cluster-dns": "10.96.0.10", "service-cidr": "10.96.0.0/12", "cluster-cidr": "10.244.0.0/16"}
	for _, c := range []struct {
		key, value, want string
	}{
		{"kubeconfig", "", "setting kubeconfig is required"},
		{"cluster-dns", "ten", `setting cluster-dns="ten"`},
		{"service-cidr", "10.96.0.0", `setting service-cidr="10.96.0.0"`},
		{"port", "99999", `setting port="99999"`},
		{"ttl", "0", `setting ttl="0"`},
		{"upstream-timeout", "soon", `setting upstream-timeout="soon"`},
		{"upstream", "a b:c:d", `setting upstream="a b:c:d"`},
		{"register-service", "maybe", `setting register-service="maybe"`},
	} {
		v := map[string]string{}
		for k, val := range base {
			v[k] = val
		}
		v[c.key] = c.value
		_, err := ConfigFrom(plugins.Settings{Address: "10.200.0.10", Values: v})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%q: error %v, want %q", c.key, c.value, err, c.want)
		}
	}
	v := map[string]string{"upstream": "192.0.2.1, 192.0.2.2:5353"}
	for k, val := range base {
		v[k] = val
	}
	c, err := ConfigFrom(plugins.Settings{Address: "10.200.0.10", Values: v})
	if err != nil || strings.Join(c.Upstreams, ",") != "192.0.2.1:53,192.0.2.2:5353" || c.Port != 53 || c.Address != "10.200.0.10" {
		t.Errorf("ConfigFrom = %+v, %v", c, err)
	}
}
