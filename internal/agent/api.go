package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// StatusPath is the agent's only HTTP endpoint, served on its unix socket.
const StatusPath = "/status"

// Serve answers status requests on a unix socket at path until ctx ends.
func Serve(ctx context.Context, path string, a *Agent) error {
	_ = os.Remove(path) // a socket left by a killed agent
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("agent: status socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+StatusPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(a.Status())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	err = srv.Serve(l)
	os.Remove(path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Dialer opens a connection to an agent's socket.
type Dialer func(ctx context.Context, network, address string) (net.Conn, error)

// FetchStatus asks the agent listening at socket for its status.
func FetchStatus(ctx context.Context, dial Dialer, socket string) (Status, error) {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dial(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent"+StatusPath, nil)
	if err != nil {
		return Status{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return Status{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Status{}, fmt.Errorf("agent at %s: %s", socket, resp.Status)
	}
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return Status{}, fmt.Errorf("agent at %s: %w", socket, err)
	}
	return st, nil
}
