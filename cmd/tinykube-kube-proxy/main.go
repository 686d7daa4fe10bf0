// Command tinykube-kube-proxy is the reference kube-proxy component: it
// turns the cluster's Services and EndpointSlices into iptables rules on its
// node, run by the node's tinykube agent as a plugin process.
package main

import (
	"github.com/tinykube/tinykube/components/kubeproxy"
	"github.com/tinykube/tinykube/plugins"
)

func main() { plugins.Serve(kubeproxy.New()) }
