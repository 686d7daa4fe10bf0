package cluster

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tinykube/tinykube/internal/agent"
	"github.com/tinykube/tinykube/internal/config"
	"github.com/tinykube/tinykube/internal/machine"
)

// MachineStatus is one machine as `tinykube status` shows it.
type MachineStatus struct {
	Machine config.Machine
	Powered bool
	Agent   *agent.Status // nil when the agent does not answer
	Problem string        // why Agent is nil
}

// machines opens the cluster's machines, by name.
func (c *Cluster) machines(ctx context.Context) (map[string]machine.Machine, error) {
	ms, err := c.Backend.Open(ctx, c.Network())
	if err != nil {
		return nil, err
	}
	out := map[string]machine.Machine{}
	for _, m := range ms {
		out[m.Spec().Name] = m
	}
	return out, nil
}

// Status asks every machine's agent for its status.
func (c *Cluster) Status(ctx context.Context) ([]MachineStatus, error) {
	ms, err := c.machines(ctx)
	if err != nil {
		return nil, err
	}
	var out []MachineStatus
	for _, cm := range c.Config.Machines {
		st := MachineStatus{Machine: cm}
		m := ms[cm.Name]
		if m == nil {
			st.Problem = "machine missing"
			out = append(out, st)
			continue
		}
		st.Powered, _ = m.Powered(ctx)
		switch {
		case !st.Powered:
			st.Problem = "powered off"
		default:
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			a, err := agent.FetchStatus(sctx, m.Dial, c.Config.AgentSocket(cm.Name))
			cancel()
			if err != nil {
				st.Problem = "agent not answering"
			} else {
				st.Agent = &a
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// Component returns the status of component kind on machine name.
func Component(sts []MachineStatus, name, kind string) (agent.ComponentStatus, bool) {
	for _, st := range sts {
		if st.Machine.Name != name || st.Agent == nil {
			continue
		}
		for _, comp := range st.Agent.Components {
			if comp.Kind == kind {
				return comp, true
			}
		}
	}
	return agent.ComponentStatus{}, false
}

// PrintStatus writes the status table: per machine and component, the
// implementation, version, state, health, restarts and uptime.
func (c *Cluster) PrintStatus(w io.Writer, sts []MachineStatus) {
	fmt.Fprintf(w, "cluster %s, chapter %d (%s)\n\n", c.Config.Name, c.Config.Chapter, strings.Join(config.ChapterKinds(c.Config.Chapter), ", "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MACHINE\tROLE\tADDRESS\tCOMPONENT\tIMPLEMENTATION\tVERSION\tSTATE\tHEALTH\tRESTARTS\tUPTIME\tPID")
	for _, st := range sts {
		m := st.Machine
		if st.Agent == nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t%s\t-\t-\t-\t-\n", m.Name, m.Role, m.Address, st.Problem)
			continue
		}
		if len(st.Agent.Components) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t(none at this chapter)\t-\t-\t-\t-\t-\t-\t%d\n", m.Name, m.Role, m.Address, st.Agent.AgentPID)
		}
		for _, comp := range st.Agent.Components {
			impl := orDash(comp.Implementation)
			if !comp.Reference {
				impl += " (" + comp.Binary + ")"
			}
			health := "-"
			switch {
			case comp.Healthy:
				health = "healthy"
			case comp.State == agent.StateRunning || comp.State == agent.StateStarting:
				health = "unhealthy"
			}
			uptime := "-"
			if comp.PID != 0 && !comp.StartedAt.IsZero() {
				uptime = humanDuration(time.Since(comp.StartedAt))
			}
			pid := "-"
			if comp.PID != 0 {
				pid = fmt.Sprint(comp.PID)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n",
				m.Name, m.Role, m.Address, comp.Kind, impl, orDash(comp.Version),
				comp.State, health, comp.Restarts, uptime, pid)
		}
	}
	tw.Flush()
	for _, st := range sts {
		if st.Agent == nil {
			continue
		}
		for _, comp := range st.Agent.Components {
			if !comp.Healthy && comp.Message != "" {
				fmt.Fprintf(w, "  %s/%s: %s\n", st.Machine.Name, comp.Kind, comp.Message)
			}
		}
	}
	fmt.Fprintf(w, "\nlogs: %s\n", filepath.Join(c.Config.StateDir, "machines", "<machine>", "logs"))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// humanDuration prints a duration as kubectl prints ages: 5s, 3m2s, 4h5m, 2d3h.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// StopMachine powers a machine off: its agent and components die with it,
// as in a power cut.
func (c *Cluster) StopMachine(ctx context.Context, name string) error {
	m, err := c.machine(ctx, name)
	if err != nil {
		return err
	}
	return m.PowerOff(ctx)
}

// StartMachine powers a machine on and starts its agent again, waiting
// until its components are healthy.
func (c *Cluster) StartMachine(ctx context.Context, name string) error {
	m, err := c.machine(ctx, name)
	if err != nil {
		return err
	}
	if err := m.PowerOn(ctx); err != nil {
		return err
	}
	if agentAlive(c.Config.AgentPIDFile(name)) {
		return nil // it was not off
	}
	if err := c.startAgent(m); err != nil {
		return err
	}
	return c.waitSettled(ctx, []machine.Machine{m})
}

func (c *Cluster) machine(ctx context.Context, name string) (machine.Machine, error) {
	ms, err := c.machines(ctx)
	if err != nil {
		return nil, err
	}
	m, ok := ms[name]
	if !ok {
		return nil, fmt.Errorf("no machine %q in cluster %q; machines are %s", name, c.Config.Name, machineNames(c.Config))
	}
	return m, nil
}
