package pki

import (
	"crypto/x509"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestServingAndClientCertificatesVerify(t *testing.T) {
	ca, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)

	serving, err := ca.Serving("kube-apiserver", []string{"kubernetes.default.svc"}, []net.IP{net.ParseIP("10.96.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kubernetes.default.svc", "10.96.0.1"} {
		if _, err := serving.Cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("serving certificate for %s: %v", name, err)
		}
	}

	client, err := ca.Client("kubernetes-admin", "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if client.Cert.Subject.CommonName != "kubernetes-admin" || client.Cert.Subject.Organization[0] != "system:masters" {
		t.Errorf("client subject %v, want CN=kubernetes-admin O=system:masters", client.Cert.Subject)
	}
	if !strings.HasPrefix(ca.Hash(), "sha256:") || len(ca.Hash()) != 7+64 {
		t.Errorf("CA hash %q", ca.Hash())
	}
}

func TestKubeconfigAndCARoundTrip(t *testing.T) {
	dir := t.TempDir()
	ca, _ := NewCA("test-ca")
	if err := WriteKeyPair(dir, "ca", ca.Cert, ca.Key); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Cert.Equal(ca.Cert) {
		t.Error("loaded CA differs")
	}
	admin, _ := ca.Client("kubernetes-admin", "system:masters")
	path := filepath.Join(dir, "admin.conf")
	if err := WriteKubeconfig(path, "tk", "https://10.200.0.10:6443", ca, "kubernetes-admin", admin); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://10.200.0.10:6443" || len(cfg.TLSClientConfig.CertData) == 0 || len(cfg.TLSClientConfig.CAData) == 0 {
		t.Errorf("kubeconfig gives host %q and %d bytes of client cert", cfg.Host, len(cfg.TLSClientConfig.CertData))
	}
}
