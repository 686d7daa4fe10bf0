package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/tinykube/tinykube/internal/pki"
	"github.com/tinykube/tinykube/plugins"
)

// makePKI makes the cluster's CA, the apiserver's serving certificate and
// the admin's kubeconfig, as `kubeadm init` does; and for every node the
// kubelet's credentials (user system:node:<name> in group system:nodes, as
// the kubelet's TLS bootstrap would end with) and its serving certificate
// for port 10250, which the apiserver reaches with its own client
// certificate for `kubectl logs` and `exec`.
func (c *Cluster) makePKI() error {
	cfg := c.Config
	dir := cfg.PKIDir()
	ca, err := pki.NewCA("tinykube-ca")
	if err != nil {
		return err
	}
	if err := pki.WriteKeyPair(dir, "ca", ca.Cert, ca.Key); err != nil {
		return err
	}
	master := cfg.Master()
	svc := netip.MustParsePrefix(cfg.Network.ServiceCIDR).Masked().Addr().Next() // the `kubernetes` Service
	serving, err := ca.Serving("kube-apiserver",
		[]string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost", master.Name},
		[]net.IP{net.ParseIP(master.Address), net.ParseIP("127.0.0.1"), net.IP(svc.AsSlice())})
	if err != nil {
		return err
	}
	if err := pki.WriteKeyPair(dir, "apiserver", serving.Cert, serving.Key); err != nil {
		return err
	}
	admin, err := ca.Client("kubernetes-admin", "system:masters")
	if err != nil {
		return err
	}
	server := fmt.Sprintf("https://%s:6443", master.Address)
	if err := pki.WriteKubeconfig(cfg.AdminKubeconfig(), cfg.Name, server, ca, "kubernetes-admin", admin); err != nil {
		return err
	}
	// The key that signs service-account tokens (sa.key, as kubeadm names it).
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	saPEM, err := pki.KeyPEM(saKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), saPEM, 0o600); err != nil {
		return err
	}
	kubeletClient, err := ca.Client("kube-apiserver-kubelet-client", "system:masters")
	if err != nil {
		return err
	}
	if err := pki.WriteKeyPair(dir, "apiserver-kubelet-client", kubeletClient.Cert, kubeletClient.Key); err != nil {
		return err
	}
	// The master's components, each with its own user, as kubeadm makes
	// them; DNS runs as CoreDNS's service account would.
	for kind, user := range map[string]string{
		plugins.KindScheduler:         "system:kube-scheduler",
		plugins.KindControllerManager: "system:kube-controller-manager",
		plugins.KindDNS:               "system:serviceaccount:kube-system:coredns",
	} {
		client, err := ca.Client(user)
		if err != nil {
			return err
		}
		if err := pki.WriteKubeconfig(cfg.ComponentKubeconfig(kind), cfg.Name, server, ca, user, client); err != nil {
			return err
		}
	}
	for _, node := range cfg.Nodes() {
		proxy, err := ca.Client("system:kube-proxy", "system:node-proxier")
		if err != nil {
			return err
		}
		if err := pki.WriteKubeconfig(cfg.NodeComponentKubeconfig(node.Name, plugins.KindKubeProxy), cfg.Name, server, ca, "system:kube-proxy", proxy); err != nil {
			return err
		}
		user := "system:node:" + node.Name
		client, err := ca.Client(user, "system:nodes")
		if err != nil {
			return err
		}
		if err := pki.WriteKubeconfig(cfg.NodeKubeconfig(node.Name), cfg.Name, server, ca, user, client); err != nil {
			return err
		}
		serving, err := ca.Serving(node.Name, []string{node.Name}, []net.IP{net.ParseIP(node.Address)})
		if err != nil {
			return err
		}
		if err := pki.WriteKeyPair(dir, "kubelet-"+node.Name, serving.Cert, serving.Key); err != nil {
			return err
		}
	}
	return nil
}
