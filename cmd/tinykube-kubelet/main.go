// Command tinykube-kubelet is the reference kubelet component: it registers
// its node and runs the pods bound to it in containerd, run by a tinykube
// agent as a plugin process.
package main

import (
	"github.com/tinykube/tinykube/components/kubelet"
	"github.com/tinykube/tinykube/plugins"
)

func main() { plugins.Serve(kubelet.New()) }
