// Command tinykube-apiserver is the reference apiserver component: the
// Kubernetes API over etcd, run by a tinykube agent as a plugin process.
package main

import (
	"github.com/tinykube/tinykube/components/apiserver"
	"github.com/tinykube/tinykube/plugins"
)

func main() { plugins.Serve(apiserver.New()) }
