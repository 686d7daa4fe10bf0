package kubeproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Health, as kube-proxy serves it over HTTP:
//
//   - /healthz on port 10256: is this kube-proxy keeping the rules up to
//     date? 200 when the last sync succeeded and no change has waited for
//     longer than the timeout, 503 otherwise. Load balancers in front of
//     node ports ask it; so can a student (curl NODE-IP:10256/healthz).
//   - one port per LoadBalancer Service with externalTrafficPolicy Local
//     (its spec.healthCheckNodePort): 200 when this node has endpoints of
//     the Service, 503 when it has none, so that the load balancer sends
//     traffic only to nodes that will not drop it.

// ProxierHealth answers /healthz from a Proxier's status.
type ProxierHealth struct {
	Proxier *Proxier
	// Timeout is how long a change may wait for a sync before kube-proxy
	// is unhealthy (Kubernetes: twice the sync period).
	Timeout time.Duration
}

// ServeHTTP writes {"lastUpdated": ..., "currentTime": ..., ...} with 200
// or 503, as Kubernetes' kube-proxy does.
func (h *ProxierHealth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	last, lastErr, summary, pending := h.Proxier.Status()
	now := time.Now()
	healthy := !last.IsZero() && (pending.IsZero() || now.Sub(pending) < h.Timeout)
	body := struct {
		LastUpdated  string `json:"lastUpdated"`
		CurrentTime  string `json:"currentTime"`
		NodeEligible bool   `json:"nodeEligible"`
		LastSync     string `json:"lastSync,omitempty"`
		LastError    string `json:"lastError,omitempty"`
	}{CurrentTime: now.UTC().Format(time.RFC3339Nano), NodeEligible: true, LastSync: summary}
	if !last.IsZero() {
		body.LastUpdated = last.UTC().Format(time.RFC3339Nano)
	}
	if lastErr != nil {
		body.LastError = lastErr.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !healthy {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(body)
}

// healthCheck is what one health check port reports.
type healthCheck struct {
	namespace, name string
	localEndpoints  int
}

// healthChecksOf lists the health check ports of service ports, by port
// number, with the count of this node's usable endpoints.
func healthChecksOf(ports []*servicePort, node string) map[int32]healthCheck {
	out := map[int32]healthCheck{}
	for _, sp := range ports {
		if sp.healthCheckPort == 0 {
			continue
		}
		ns, rest, _ := strings.Cut(sp.name, "/")
		name, _, _ := strings.Cut(rest, ":")
		_, local := sp.categorize(node)
		hc := out[sp.healthCheckPort]
		hc.namespace, hc.name = ns, name
		hc.localEndpoints += len(local)
		out[sp.healthCheckPort] = hc
	}
	return out
}

// HealthCheckServers serves the health check node ports.
type HealthCheckServers struct {
	// Address is where to listen ("" means every address of the node).
	Address string
	Log     func(format string, args ...any)

	mu      sync.Mutex
	servers map[int32]*hcServer
}

type hcServer struct {
	srv   *http.Server
	state healthCheck
	mu    sync.Mutex
}

// Sync starts the servers of new ports, stops those of ports gone and
// updates the others' answers.
func (h *HealthCheckServers) Sync(want map[int32]healthCheck) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.servers == nil {
		h.servers = map[int32]*hcServer{}
	}
	for port, s := range h.servers {
		if _, ok := want[port]; !ok {
			s.srv.Close()
			delete(h.servers, port)
		}
	}
	for port, state := range want {
		if s, ok := h.servers[port]; ok {
			s.mu.Lock()
			s.state = state
			s.mu.Unlock()
			continue
		}
		s := &hcServer{state: state}
		s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
		l, err := net.Listen("tcp", net.JoinHostPort(h.Address, strconv.Itoa(int(port))))
		if err != nil {
			if h.Log != nil {
				h.Log("health check port %d of Service %s/%s: %v", port, state.namespace, state.name, err)
			}
			continue
		}
		go s.srv.Serve(l)
		h.servers[port] = s
	}
}

// Close stops every server.
func (h *HealthCheckServers) Close() {
	h.Sync(nil)
}

func (s *hcServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if st.localEndpoints == 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintf(w, `{"service":{"namespace":%q,"name":%q},"localEndpoints":%d,"serviceProxyHealthy":true}`+"\n", st.namespace, st.name, st.localEndpoints)
}

// serveHTTP serves handler on addr until ctx ends.
func serveHTTP(ctx context.Context, addr string, handler http.Handler) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	return nil
}
