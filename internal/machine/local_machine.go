package machine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/vishvananda/netlink"
)

// localMachine is a machine of the Local backend: the network namespace
// LocalNamespace(net.Cluster, spec.Name). It holds no open handle; each
// method opens what it needs and closes it before returning.
type localMachine struct {
	spec Spec
	net  Network // the machine's cluster
}

var _ Machine = (*localMachine)(nil)

// Spec returns what the machine is.
func (m *localMachine) Spec() Spec { return m.spec }

// netns returns the name of the machine's namespace.
func (m *localMachine) netns() string { return LocalNamespace(m.net.Cluster, m.spec.Name) }

// Command returns `nsenter --net=/run/netns/<ns> -- name args...`: the
// command runs in the machine's network namespace and nothing else changes.
// (Not `ip netns exec`, which also remounts /sys and so hides the cgroup
// filesystem from everything the command starts; see MACHINES-AND-NETWORK.md,
// "Starting a process on a machine".)
func (m *localMachine) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + NetnsPath(m.netns()), "--", name}, args...)...)
}

// Spawn starts argv from a thread inside the machine's namespace: the child
// is born there. It runs in a session of its own (setsid), with stdin from
// /dev/null and stdout and stderr appended to logFile, whose directory is
// made if needed. A goroutine waits for it, so that it does not linger as a
// zombie while this process lives.
func (m *localMachine) Spawn(argv []string, env []string, logFile string) (int, error) {
	if len(argv) == 0 {
		return 0, fmt.Errorf("machine %s: spawn: empty argv; give at least the program to run", m.spec.Name)
	}
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		return 0, fmt.Errorf("machine %s: spawn %s: log directory: %w", m.spec.Name, argv[0], err)
	}
	log, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("machine %s: spawn %s: log file: %w", m.spec.Name, argv[0], err)
	}
	defer log.Close() // the child has its own copy

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = log // an *os.File is handed to the child as is: no copying goroutine
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := inNamedNetns(m.netns(), cmd.Start); err != nil {
		return 0, fmt.Errorf("machine %s: spawn %s: %w", m.spec.Name, argv[0], err)
	}
	go func() { _ = cmd.Wait() }() // reap it; its exit status is nobody's business here
	return cmd.Process.Pid, nil
}

// Dial connects to address from the machine. "unix" is an ordinary dial
// (the machine shares the host's filesystem). "tcp", "tcp4" and "tcp6"
// create the socket on a thread inside the machine's namespace, so the
// connection leaves from the machine's address and "127.0.0.1" is the
// machine's own loopback; host names are looked up by the host's resolver.
func (m *localMachine) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "unix":
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("machine %s: dial %s %s: network must be tcp, tcp4, tcp6 or unix", m.spec.Name, network, address)
	}
	var conn net.Conn
	err := inNamedNetns(m.netns(), func() error {
		// FallbackDelay < 0 turns off "happy eyeballs", which would dial
		// from other goroutines, hence other threads, hence the host's
		// namespace. Without it the dial runs on this locked thread.
		d := net.Dialer{FallbackDelay: -1}
		var err error
		conn, err = d.DialContext(ctx, network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("machine %s: %w", m.spec.Name, err)
	}
	return conn, nil
}

// namespaces returns the IDs of the machine's namespace and of its pods'.
func (m *localMachine) namespaces() (map[nsID]string, error) {
	if !IsNetns(NetnsPath(m.netns())) {
		return nil, fmt.Errorf("machine %s: network namespace %s: %w", m.spec.Name, m.netns(), ErrNotFound)
	}
	pods, err := ListNetns(m.netns() + "-")
	if err != nil {
		return nil, err
	}
	return netnsIDs(append(pods, m.netns())), nil
}

// Processes returns, sorted, the PIDs of the processes whose main thread is
// in the machine's namespace or one of its pods' namespaces.
func (m *localMachine) Processes() ([]int, error) {
	ids, err := m.namespaces()
	if err != nil {
		return nil, err
	}
	procs, err := procsIn(ids)
	if err != nil {
		return nil, err
	}
	pids := make([]int, len(procs))
	for i, p := range procs {
		pids[i] = p.pid
	}
	return pids, nil
}

// PowerOff kills (SIGKILL) every process of Processes, waits until they are
// gone, then sets the machine's cable down at both ends: its port on the
// LAN bridge and its eth0. Pod namespaces stay, empty. It waits at most
// until ctx's deadline or 10 s.
func (m *localMachine) PowerOff(ctx context.Context) error {
	ids, err := m.namespaces()
	if err != nil {
		return err
	}
	if err := killAll(ctx, ids); err != nil {
		return fmt.Errorf("machine %s: power off: %w", m.spec.Name, err)
	}
	return errors.Join(
		m.setLinkDown(lanNamespace(m.net.Cluster), m.spec.Name),
		m.setLinkDown(m.netns(), machineLink))
}

// setLinkDown sets link name down in namespace ns.
func (m *localMachine) setLinkDown(ns, name string) error {
	return withNamedHandle(ns, func(h *netlink.Handle) error {
		link, err := h.LinkByName(name)
		if err == nil {
			err = h.LinkSetDown(link)
		}
		if err != nil {
			return fmt.Errorf("machine %s: power off: setting %s in %s down: %w", m.spec.Name, name, ns, err)
		}
		return nil
	})
}

// PowerOn sets the machine's links up again (lo, eth0 with its address if
// it was lost, its port on the LAN bridge) and ip_forward back to 1. It
// starts no process.
func (m *localMachine) PowerOn(ctx context.Context) error {
	err := withNamedHandle(m.netns(), func(h *netlink.Handle) error {
		return upMachineLinks(h, m.net, m.spec)
	})
	if err != nil {
		return fmt.Errorf("machine %s: power on: %w", m.spec.Name, err)
	}
	if err := inNamedNetns(m.netns(), func() error { return WriteSysctl("net/ipv4/ip_forward", "1") }); err != nil {
		return fmt.Errorf("machine %s: power on: %w", m.spec.Name, err)
	}
	err = withNamedHandle(lanNamespace(m.net.Cluster), func(h *netlink.Handle) error {
		link, err := h.LinkByName(m.spec.Name)
		if err != nil {
			return fmt.Errorf("finding its port %s on the LAN: %w", m.spec.Name, err)
		}
		if err := h.LinkSetUp(link); err != nil {
			return fmt.Errorf("setting its port %s on the LAN up: %w", m.spec.Name, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("machine %s: power on: %w", m.spec.Name, err)
	}
	return nil
}

// Powered reports whether the machine's port on the LAN bridge is up: that
// is the switch PowerOff and PowerOn turn.
func (m *localMachine) Powered(ctx context.Context) (bool, error) {
	var up bool
	err := withNamedHandle(lanNamespace(m.net.Cluster), func(h *netlink.Handle) error {
		link, err := h.LinkByName(m.spec.Name)
		if errors.As(err, new(netlink.LinkNotFoundError)) {
			return fmt.Errorf("machine %s: no port %s on the LAN bridge: %w", m.spec.Name, m.spec.Name, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("machine %s: finding its port on the LAN: %w", m.spec.Name, err)
		}
		up = link.Attrs().Flags&net.FlagUp != 0
		return nil
	})
	return up, err
}
