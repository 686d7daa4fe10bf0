// Command tinykube-dns is the reference cluster DNS component: it answers
// DNS questions about the cluster's Services and pods on the master, run by
// the master's tinykube agent as a plugin process.
package main

import (
	"github.com/tinykube/tinykube/components/dns"
	"github.com/tinykube/tinykube/plugins"
)

func main() { plugins.Serve(dns.New()) }
