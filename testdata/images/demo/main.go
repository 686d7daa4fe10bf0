// Command demo is tinykube's demo server (image docker.io/tinykube/demo):
// an HTTP server that answers every request with who answered it, so that
// Services, load balancing and pod restarts can be seen with curl or wget.
//
//	$ wget -qO- http://10.96.0.20/hello
//	pod: web-5d8f7-x2k4q
//	ip: 10.244.1.7
//	node: node1
//	path: /hello
//	client: 10.244.2.3:51234
//
// GET /healthz answers "ok", for liveness and readiness probes. It reads
// its settings from the environment, as a pod gives them:
//
//	PORT       where to listen (default 8080)
//	POD_NAME   the pod's name (default: the hostname, which is the pod's name)
//	POD_IP     the pod's IP (default: the first address that is not loopback)
//	NODE_NAME  the node's name (default: unknown)
//
// A pod gets POD_NAME, POD_IP and NODE_NAME through the downward API
// (env[].valueFrom.fieldRef: metadata.name, status.podIP, spec.nodeName).
// On SIGTERM it stops accepting connections, finishes the requests in
// flight and exits 0, as a pod's containers should.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// identity is what the server says about itself.
type identity struct {
	pod, ip, node string
}

func main() {
	log.SetFlags(0)
	id := identity{
		pod:  getenv("POD_NAME", hostname()),
		ip:   getenv("POD_IP", firstAddress()),
		node: getenv("NODE_NAME", "unknown"),
	}
	addr := ":" + getenv("PORT", "8080")
	srv := &http.Server{Addr: addr, Handler: handler(id), ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		log.Printf("demo: shutting down")
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()

	log.Printf("demo: pod %s, ip %s, node %s: listening on %s", id.pod, id.ip, id.node, addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("demo: %v", err)
	}
	<-done
}

// handler answers /healthz with "ok" and any other path with id, the
// path and the client's address, one "field: value" line each.
func handler(id identity) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s from %s", r.Method, r.URL.Path, r.RemoteAddr)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "pod: %s\nip: %s\nnode: %s\npath: %s\nclient: %s\n",
			id.pod, id.ip, id.node, r.URL.Path, r.RemoteAddr)
	})
	return mux
}

func getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func hostname() string {
	name, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return name
}

// firstAddress returns the first IPv4 address that is not loopback (in a
// pod: the address of eth0), else the first other one, else "unknown".
func firstAddress() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "unknown"
	}
	var other string
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok || ipnet.IP.IsLoopback() || ipnet.IP.IsLinkLocalUnicast() {
			continue
		}
		if ipnet.IP.To4() != nil {
			return ipnet.IP.String()
		}
		if other == "" {
			other = ipnet.IP.String()
		}
	}
	if other != "" {
		return other
	}
	return "unknown"
}
