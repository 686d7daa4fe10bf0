// Command tinykube-controller-manager is the reference controller-manager
// component: the control loops that keep the cluster's actual state at the
// desired one (replicas, endpoints, garbage collection, namespaces), run by
// a tinykube agent on the master as a plugin process.
package main

import (
	"github.com/tinykube/tinykube/components/controllermanager"
	"github.com/tinykube/tinykube/plugins"
)

func main() { plugins.Serve(controllermanager.New()) }
