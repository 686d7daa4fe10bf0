package agent

import "time"

// State is where a component is in its life.
type State string

// The states of a component, as `tinykube status` shows them.
const (
	StateWaiting    State = "waiting"    // not started yet: an earlier component is starting
	StateStarting   State = "starting"   // launched, not healthy yet
	StateRunning    State = "running"    // started and (last seen) healthy or not
	StateRestarting State = "restarting" // its process ended; the agent starts it again after a backoff
	StateFailed     State = "failed"     // it could not be started; the error says why
	StateStopped    State = "stopped"    // stopped by the agent
)

// Status is what an agent reports about its machine.
type Status struct {
	Machine    string            `json:"machine"`
	Role       string            `json:"role"`
	Address    string            `json:"address"`
	AgentPID   int               `json:"agentPID"`
	Since      time.Time         `json:"since"`
	Components []ComponentStatus `json:"components"`
}

// ComponentStatus is one component as its agent sees it.
type ComponentStatus struct {
	Kind           string    `json:"kind"`
	Binary         string    `json:"binary"`
	Reference      bool      `json:"reference"`
	Implementation string    `json:"implementation,omitempty"`
	Version        string    `json:"version,omitempty"`
	State          State     `json:"state"`
	Healthy        bool      `json:"healthy"`
	Message        string    `json:"message,omitempty"` // the last health message, or why it failed
	Restarts       int       `json:"restarts"`
	StartedAt      time.Time `json:"startedAt,omitzero"` // start of the current process
	PID            int       `json:"pid,omitempty"`
	Log            string    `json:"log"`
}

// Settled reports whether the component got as far as it will get by
// itself: healthy, or failed.
func (c ComponentStatus) Settled() bool {
	return c.State == StateFailed || (c.State == StateRunning && c.Healthy)
}
