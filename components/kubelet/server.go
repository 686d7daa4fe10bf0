package kubelet

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"
)

// serve starts the kubelet API on port 10250: /healthz, resource metrics
// (/metrics/resource, stats.go), and the container
// logs the apiserver proxies `kubectl logs` to. Clients must present a
// certificate signed by the cluster CA (the apiserver's
// apiserver-kubelet-client).
func (n *node) serve(ctx context.Context) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", n.containerLogs)
	mux.HandleFunc("GET /exec/{namespace}/{pod}/{container}", n.exec)
	mux.HandleFunc("GET /metrics/resource", n.resourceMetrics) // stats.go
	srv := &http.Server{Handler: requireClientCert(mux), ReadHeaderTimeout: 10 * time.Second}
	addr := net.JoinHostPort(n.cfg.NodeIP, strconv.Itoa(n.cfg.Port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("kubelet API: listen on %s: %w", addr, err)
	}
	if n.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(n.cfg.TLSCert, n.cfg.TLSKey)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("kubelet API: serving certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if pem, err := os.ReadFile(n.cfg.ClientCA); err == nil {
			pool.AppendCertsFromPEM(pem)
		}
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12})
	}
	go srv.Serve(l)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	return srv, nil
}

// requireClientCert lets only the apiserver (its kubelet-client
// certificate) or an admin (group system:masters) past /healthz: a node's
// own certificate may not read another node's logs or exec into its pods.
func requireClientCert(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.TLS == nil {
			h.ServeHTTP(w, r)
			return
		}
		if len(r.TLS.VerifiedChains) == 0 {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		cert := r.TLS.VerifiedChains[0][0]
		if cert.Subject.CommonName != "kube-apiserver-kubelet-client" && !slices.Contains(cert.Subject.Organization, "system:masters") {
			http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=get, resource=nodes, subresource=proxy)", cert.Subject.CommonName), http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// containerLogs answers GET /containerLogs/<ns>/<pod>/<container> with
// the options of `kubectl logs`: previous, tailLines, limitBytes, follow.
func (n *node) containerLogs(w http.ResponseWriter, r *http.Request) {
	ns, podName, name := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	q := r.URL.Query()
	pod, err := n.pods.Pods(ns).Get(podName)
	if err != nil {
		http.Error(w, fmt.Sprintf("pod %s/%s is not on node %s", ns, podName, n.cfg.NodeName), http.StatusNotFound)
		return
	}
	all, err := n.runtime.ListPod(r.Context(), pod.UID)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var ofName []Container
	for _, c := range podContainers(all, pod.UID) {
		if c.Name == name && !c.Sandbox {
			ofName = append(ofName, c)
		}
	}
	latest, previous := Latest(ofName)
	c, ok := latest[name]
	if q.Get("previous") == "true" {
		c, ok = previous[name]
		if !ok {
			http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", name, podName), http.StatusBadRequest)
			return
		}
	}
	if !ok {
		http.Error(w, fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", name, podName), http.StatusBadRequest)
		return
	}
	data, err := os.ReadFile(c.LogPath)
	if err != nil && !os.IsNotExist(err) {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if t := q.Get("tailLines"); t != "" {
		if lines, err := strconv.Atoi(t); err == nil {
			data = Tail(data, lines)
		}
	}
	if l := q.Get("limitBytes"); l != "" {
		if limit, err := strconv.Atoi(l); err == nil && limit < len(data) {
			data = data[:limit]
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(data)
	if q.Get("follow") != "true" || c.State != StateRunning {
		return
	}
	n.follow(r.Context(), w, c, int64(len(data)))
}

// Tail returns the last n lines of data.
func Tail(data []byte, n int) []byte {
	if n < 0 {
		return data
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, nil)
}

// follow streams what the container writes to its log until it exits or
// the client goes.
func (n *node) follow(ctx context.Context, w http.ResponseWriter, c Container, offset int64) {
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	f, err := os.Open(c.LogPath)
	if err != nil {
		return
	}
	defer f.Close()
	f.Seek(offset, io.SeekStart)
	reader := bufio.NewReader(f)
	buf := make([]byte, 32*1024)
	for {
		k, _ := reader.Read(buf)
		if k > 0 {
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		if !n.running(ctx, c.ID) {
			io.Copy(w, reader) // what it wrote last
			return
		}
	}
}

func (n *node) running(ctx context.Context, id string) bool {
	all, err := n.runtime.List(ctx)
	if err != nil {
		return false
	}
	for _, c := range all {
		if c.ID == id {
			return c.State == StateRunning
		}
	}
	return false
}
