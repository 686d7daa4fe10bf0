// Command tinykube-etcd is the reference etcd component: an embedded etcd
// server, run by a tinykube agent as a plugin process.
package main

import (
	"github.com/tinykube/tinykube/components/etcd"
	"github.com/tinykube/tinykube/plugins"
)

func main() { plugins.Serve(etcd.New()) }
