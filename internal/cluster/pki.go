package cluster

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/tinykube/tinykube/internal/pki"
)

// makePKI makes the cluster's CA, the apiserver's serving certificate and
// the admin's kubeconfig, as `kubeadm init` does.
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
	return pki.WriteKubeconfig(cfg.AdminKubeconfig(), cfg.Name, server, ca, "kubernetes-admin", admin)
}
