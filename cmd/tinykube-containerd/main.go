// Command tinykube-containerd is the reference containerd component: a
// node's containerd daemon with its own configuration, run by a tinykube
// agent as a plugin process.
package main

import (
	"github.com/tinykube/tinykube/components/containerd"
	"github.com/tinykube/tinykube/plugins"
)

func main() { plugins.Serve(containerd.New()) }
