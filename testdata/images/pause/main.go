// Command pause is the first process of every pod, as Kubernetes'
// registry.k8s.io/pause is.
//
// The kubelet starts it before the pod's own containers, which then join
// its namespaces: the network namespace with the pod's IP, IPC and UTS
// (the hostname). It holds them for as long as the pod lives, whatever the
// app containers do, by doing nothing. As PID 1 of a PID namespace it has
// two duties of init: reaping children orphaned to it (zombies would pile
// up otherwise), and exiting on SIGTERM or SIGINT, which the kernel does
// not deliver to a PID 1 without a handler.
//
// It must be static: its image holds no C library.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause (tinykube) 3.10")
		return
	}
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
	}
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "Shutting down, got signal: %v\n", sig)
		os.Exit(0)
	}
}

// reap waits for every child that has exited. Several exits may arrive as
// one SIGCHLD, hence the loop; WNOHANG returns at once when none is left.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
