// Command tinykube-scheduler is the reference scheduler component: it
// binds pods that have no node to a node that fits them, run by a tinykube
// agent as a plugin process.
package main

import (
	"github.com/tinykube/tinykube/components/scheduler"
	"github.com/tinykube/tinykube/plugins"
)

func main() { plugins.Serve(scheduler.New()) }
