package pki

import (
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// WriteKubeconfig writes a kubeconfig at path for a user authenticated by
// a client certificate, against server (https://host:port) trusting ca.
func WriteKubeconfig(path, cluster, server string, ca *CA, user string, client *KeyPair) error {
	keyPEM, err := KeyPEM(client.Key)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[cluster] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: CertPEM(ca.Cert)}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: CertPEM(client.Cert), ClientKeyData: keyPEM}
	context := user + "@" + cluster
	cfg.Contexts[context] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = context
	return clientcmd.WriteToFile(*cfg, path)
}
