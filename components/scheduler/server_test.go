package scheduler

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tinykube/tinykube/components/apiserver"
	"github.com/tinykube/tinykube/components/etcd"
	"github.com/tinykube/tinykube/plugins"
	"github.com/tinykube/tinykube/plugins/conformance"
)

// startAPIServer starts an etcd on loopback and the reference apiserver
// over it, on plain HTTP (every request is system:admin), and returns the
// apiserver's URL. Everything stops when the test ends.
func startAPIServer(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	e := etcd.New()
	settings := conformance.SettingsFor(t, plugins.KindEtcd)
	settings.Values["log-level"] = "fatal"
	if err := e.Start(ctx, settings); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.Stop(ctx)
	})
	conformance.WaitHealthy(t, e, 20*time.Second)
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:" + settings.Values["client-port"]}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	// No advertised address: the scheduler needs no kubernetes Service.
	srv, err := apiserver.NewServer(apiserver.Config{Etcd: client, ServiceCIDR: "10.96.0.0/12"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs.URL
}

// clientFor returns a clientset for url without client-side rate limits,
// with a connection pool of its own.
func clientFor(t testing.TB, url string) *kubernetes.Clientset {
	t.Helper()
	cfg := pooledConfig(t, url)
	cfg.QPS, cfg.Burst = 10000, 10000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// pooledConfig is a config for url with a connection pool of its own that
// keeps 100 idle connections. Over plain HTTP, client-go would share
// http.DefaultTransport, which keeps 2 per host: concurrent requests would
// mostly measure TCP connection setup. (Over TLS, as in a cluster,
// client-go multiplexes requests on one HTTP/2 connection.)
func pooledConfig(t testing.TB, url string) *rest.Config {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 100
	t.Cleanup(transport.CloseIdleConnections)
	return &rest.Config{Host: url, Transport: transport}
}

// writeKubeconfig writes a kubeconfig for url and returns its path.
func writeKubeconfig(t testing.TB, url string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scheduler.conf")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: url}
	cfg.AuthInfos["scheduler"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "scheduler"}
	cfg.CurrentContext = "test"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func createNodes(t testing.TB, cs kubernetes.Interface, nodes ...*corev1.Node) {
	t.Helper()
	for _, n := range nodes {
		if _, err := cs.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create node %s: %v", n.Name, err)
		}
	}
}

// waitFor polls cond every 20 ms until it returns "" (met), failing the
// test with cond's last answer after within.
func waitFor(t testing.TB, within time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		last := cond()
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %s", what, within, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// boundTo waits until the pod is bound and returns its node.
func boundTo(t testing.TB, cs kubernetes.Interface, name string) string {
	t.Helper()
	var nodeName string
	waitFor(t, 20*time.Second, fmt.Sprintf("pod %s bound", name), func() string {
		p, err := cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		nodeName = p.Spec.NodeName
		if nodeName == "" {
			return fmt.Sprintf("not bound; conditions %+v", p.Status.Conditions)
		}
		return ""
	})
	return nodeName
}

// restConfig is a plain config for url.
func restConfig(url string) *rest.Config { return &rest.Config{Host: url} }
