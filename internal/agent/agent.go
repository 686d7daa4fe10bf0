package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tinykube/tinykube/internal/config"
	"github.com/tinykube/tinykube/plugins"
)

// Timings of the agent. They are variables so tests can shorten them.
var (
	// StartTimeout bounds a component's start until healthy.
	StartTimeout = 60 * time.Second
	// ExitPoll is how often the agent looks for a component that exited.
	ExitPoll = 25 * time.Millisecond
	// HealthPeriod is how often a running component's health is asked.
	HealthPeriod = time.Second
	// BackoffFirst and BackoffMax bound the wait before a restart; the wait
	// doubles at each crash and resets after StableAfter of good health.
	BackoffFirst = 100 * time.Millisecond
	BackoffMax   = 10 * time.Second
	StableAfter  = 30 * time.Second
)

// Agent runs the components of one machine.
type Agent struct {
	machine config.Machine
	log     *slog.Logger
	since   time.Time
	comps   []*supervisor
}

// New returns the agent of machine name in cluster c, which must be
// complete (config.Cluster.Complete). binDir is where the reference
// component binaries are.
func New(c *config.Cluster, name, binDir string, log *slog.Logger) (*Agent, error) {
	m, ok := c.Machine(name)
	if !ok {
		return nil, fmt.Errorf("agent: machine %q is not in the cluster config %s", name, c.ConfigFile())
	}
	a := &Agent{machine: m, log: log, since: time.Now()}
	for _, p := range c.Plan(m, binDir) {
		a.comps = append(a.comps, &supervisor{
			planned: p,
			log:     log.With("component", p.Kind),
			logPath: filepath.Join(c.LogDir(m.Name), p.Kind+".log"),
			settings: plugins.Settings{
				Cluster: c.Name,
				Machine: m.Name,
				Role:    m.Role,
				Address: m.Address,
				DataDir: c.DataDir(m.Name, p.Kind),
				Values:  p.Settings,
				Peers:   c.Peers(),
			},
			status: ComponentStatus{
				Kind:      p.Kind,
				Binary:    p.Binary,
				Reference: p.Reference,
				State:     StateWaiting,
				Log:       filepath.Join(c.LogDir(m.Name), p.Kind+".log"),
			},
		})
	}
	return a, nil
}

// Run starts the machine's components in order, each only once the one
// before is healthy, then keeps them running until ctx ends, when it stops
// them in reverse order. If a component cannot be started, Run leaves the
// ones before it running, starts none after it, and reports the failure in
// Status; it still returns only when ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	started := 0
	for _, s := range a.comps {
		if ctx.Err() != nil {
			break
		}
		if err := s.startHealthy(ctx); err != nil {
			a.log.Error("component failed to start; starting no later component", "component", s.planned.Kind, "error", err)
			break
		}
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.supervise(ctx)
		}()
	}
	<-ctx.Done()
	wg.Wait()
	for i := len(a.comps) - 1; i >= 0; i-- {
		a.comps[i].stop()
	}
	a.log.Info("agent stopped", "components", started)
	return nil
}

// Status reports the machine and each component.
func (a *Agent) Status() Status {
	st := Status{
		Machine:  a.machine.Name,
		Role:     a.machine.Role,
		Address:  a.machine.Address,
		AgentPID: os.Getpid(),
		Since:    a.since,
	}
	for _, s := range a.comps {
		st.Components = append(st.Components, s.snapshot())
	}
	return st
}

// supervisor keeps one component running.
type supervisor struct {
	planned  config.Planned
	settings plugins.Settings
	logPath  string
	log      *slog.Logger

	mu     sync.Mutex
	proc   *plugins.Process
	output *os.File
	status ComponentStatus
}

func (s *supervisor) snapshot() ComponentStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func (s *supervisor) set(f func(*ComponentStatus)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.status)
}

// startHealthy launches the component and waits until it is healthy.
func (s *supervisor) startHealthy(ctx context.Context) error {
	err := s.launch(ctx)
	if err == nil {
		err = s.waitHealthy(ctx)
	}
	if err != nil {
		s.kill()
		s.set(func(st *ComponentStatus) {
			st.State, st.Healthy, st.Message, st.PID = StateFailed, false, err.Error(), 0
		})
	}
	return err
}

// launch starts the process and calls Identify and Start.
func (s *supervisor) launch(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(s.logPath), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(s.settings.DataDir, 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "--- tinykube agent: starting %s from %s at %s ---\n", s.planned.Kind, s.planned.Binary, time.Now().Format(time.RFC3339Nano))
	proc, err := plugins.Launch(ctx, plugins.LaunchConfig{Binary: s.planned.Binary, Output: out})
	if err != nil {
		out.Close()
		return fmt.Errorf("component %s: %w", s.planned.Kind, err)
	}
	s.mu.Lock()
	s.proc, s.output = proc, out
	s.status.PID = proc.PID
	s.status.StartedAt = time.Now()
	s.status.State = StateStarting
	s.status.Healthy = false
	s.mu.Unlock()

	callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	id, err := proc.Identify(callCtx)
	if err != nil {
		return fmt.Errorf("component %s (binary %s): Identify: %w", s.planned.Kind, s.planned.Binary, err)
	}
	if id.Kind != s.planned.Kind {
		return fmt.Errorf("component %s: binary %s is a %q component (%s %s), not %q; fix the binary path for %s", s.planned.Kind, s.planned.Binary, id.Kind, id.Implementation, id.Version, s.planned.Kind, s.planned.Kind)
	}
	s.set(func(st *ComponentStatus) { st.Implementation, st.Version = id.Implementation, id.Version })
	if err := proc.Start(callCtx, s.settings); err != nil {
		return fmt.Errorf("component %s (binary %s): Start: %w (its log: %s)", s.planned.Kind, s.planned.Binary, err, s.logPath)
	}
	s.log.Info("started", "binary", s.planned.Binary, "pid", proc.PID, "implementation", id.Implementation)
	return nil
}

// waitHealthy polls Health until healthy, the process ends, or StartTimeout.
func (s *supervisor) waitHealthy(ctx context.Context) error {
	proc := s.process()
	deadline := time.Now().Add(StartTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	last := "no answer yet"
	for {
		if proc.Exited() {
			return fmt.Errorf("component %s (binary %s) exited while starting; last health: %s; see its log %s", s.planned.Kind, s.planned.Binary, last, s.logPath)
		}
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		h, err := proc.Health(hctx)
		cancel()
		switch {
		case err != nil:
			last = err.Error()
		case h.Healthy:
			s.set(func(st *ComponentStatus) { st.State, st.Healthy, st.Message = StateRunning, true, h.Message })
			return nil
		default:
			last = h.Message
			s.set(func(st *ComponentStatus) { st.Message = h.Message })
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("component %s not healthy within %v; last health: %s; see its log %s", s.planned.Kind, StartTimeout, last, s.logPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// supervise restarts the component whenever its process ends and records
// its health, until ctx ends.
func (s *supervisor) supervise(ctx context.Context) {
	exitTick := time.NewTicker(ExitPoll)
	defer exitTick.Stop()
	healthTick := time.NewTicker(HealthPeriod)
	defer healthTick.Stop()
	backoff := BackoffFirst
	healthySince := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-healthTick.C:
			if h, ok := s.checkHealth(ctx); ok && h {
				if time.Since(healthySince) > StableAfter {
					backoff = BackoffFirst // it has been fine for a while: forgive old crashes
				}
			} else {
				healthySince = time.Now()
			}
		case <-exitTick.C:
			if p := s.process(); p == nil || !p.Exited() {
				continue
			}
			// The process ended without being asked to: restart it,
			// waiting longer after each crash so a component that cannot
			// start does not spin.
			s.kill()
			s.set(func(st *ComponentStatus) {
				st.State, st.Healthy, st.PID, st.Restarts = StateRestarting, false, 0, st.Restarts+1
				st.Message = fmt.Sprintf("process ended; restarting in %v", s.firstWait(st.Restarts, backoff))
			})
			s.log.Warn("component process ended; restarting", "backoff", backoff)
			for {
				wait := s.firstWait(s.snapshot().Restarts, backoff)
				backoff = min(backoff*2, BackoffMax)
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
				err := s.launch(ctx)
				if err == nil {
					err = s.waitHealthy(ctx)
				}
				if err == nil {
					healthySince = time.Now()
					break
				}
				// This attempt failed too: it counts as one more restart.
				s.log.Error("restart failed; retrying", "error", err)
				s.kill()
				s.set(func(st *ComponentStatus) {
					st.State, st.Healthy, st.PID, st.Restarts = StateRestarting, false, 0, st.Restarts+1
					st.Message = "restart failed: " + err.Error()
				})
			}
		}
	}
}

// firstWait makes the first restart immediate: one crash is an accident,
// a second is a pattern.
func (s *supervisor) firstWait(restarts int, backoff time.Duration) time.Duration {
	if restarts <= 1 {
		return 0
	}
	return backoff
}

func (s *supervisor) checkHealth(ctx context.Context) (healthy, ok bool) {
	proc := s.process()
	if proc == nil {
		return false, false
	}
	hctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	h, err := proc.Health(hctx)
	if err != nil {
		if ctx.Err() == nil {
			s.set(func(st *ComponentStatus) { st.Healthy, st.Message = false, err.Error() })
		}
		return false, false
	}
	s.set(func(st *ComponentStatus) { st.State, st.Healthy, st.Message = StateRunning, h.Healthy, h.Message })
	return h.Healthy, true
}

func (s *supervisor) process() *plugins.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// stop asks the component to stop within plugins.StopGrace, then ends its
// process.
func (s *supervisor) stop() {
	proc := s.process()
	if proc == nil {
		return
	}
	if !proc.Exited() {
		ctx, cancel := context.WithTimeout(context.Background(), plugins.StopGrace)
		if err := proc.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Warn("stop", "error", err)
		}
		cancel()
	}
	s.kill()
	s.set(func(st *ComponentStatus) {
		st.State, st.Healthy, st.PID, st.Message = StateStopped, false, 0, "stopped by the agent"
	})
}

// kill ends the process, if any, and closes its log.
func (s *supervisor) kill() {
	s.mu.Lock()
	proc, out := s.proc, s.output
	s.proc, s.output = nil, nil
	s.mu.Unlock()
	if proc != nil {
		proc.Kill()
	}
	if out != nil {
		out.Close()
	}
}
