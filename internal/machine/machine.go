// Package machine is the layer under everything tinykube runs: a machine has
// a name, a role, an address on the cluster network and a way to run
// processes. Two backends provide machines: local (Linux network namespaces
// on one host, see local.go) and, later, ssh (Vagrant VMs or real hosts).
// Nothing above this package may assume which backend it has.
//
// A caller (the tinykube command) uses a backend in this order:
//
//  1. Destroy(n), to remove whatever a crashed run left behind (the local
//     backend keeps state under /run, which may even survive a reboot).
//  2. Create(n): the network and its machines, powered on, running nothing.
//     Open(n) instead finds the machines another process created.
//  3. Spawn the agents on each machine (kubelet, apiserver, ...), and reach
//     them with Dial; Command runs one-off commands there.
//  4. PowerOff and PowerOn a machine to play a power cut.
//  5. Destroy(n) at the end; Leftovers(n) is then empty, or it names what
//     could not be removed.
//
// Tests that need root use the helpers of package machinetest.
package machine

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
)

// Role is what a machine does in the cluster.
type Role string

// The roles a machine can have.
const (
	RoleMaster Role = "master"
	RoleNode   Role = "node"
)

// Spec describes one machine.
type Spec struct {
	Name    string     // e.g. "master", "node1"; [a-z0-9-], at most 10 characters
	Role    Role       //
	Address netip.Addr // its address on the cluster network
}

// Network describes a cluster's machines and the network they share.
type Network struct {
	// Cluster prefixes every name the backend makes (namespaces, links), so
	// two clusters or a stale run never clash: [a-z0-9], at most 8 characters.
	Cluster string
	// CIDR is the machines' network, e.g. 10.200.0.0/24.
	CIDR netip.Prefix
	// HostAddress is the host's own address on that network (the local
	// backend gives the host a link into it so kubectl on the host reaches
	// the master, like a laptop on a VM host-only network).
	HostAddress netip.Addr
	Machines    []Spec
}

// ErrExists is wrapped by Backend.Create when something of the cluster exists
// already.
var ErrExists = errors.New("machine: already exists")

// ErrNotFound is wrapped when a machine or cluster does not exist.
var ErrNotFound = errors.New("machine: not found")

// Backend creates, finds and destroys a cluster's machines.
type Backend interface {
	// Create makes the network and every machine of n, powered on. If any
	// of it exists already it returns an error wrapping ErrExists and makes
	// nothing (callers Destroy a stale run first).
	Create(ctx context.Context, n Network) ([]Machine, error)
	// Open returns the machines of n as they are now, without changing them
	// (another process made them). It wraps ErrNotFound when they do not exist.
	Open(ctx context.Context, n Network) ([]Machine, error)
	// Destroy removes everything Create made and everything left running on
	// the machines. It is idempotent: destroying nothing is not an error.
	Destroy(ctx context.Context, n Network) error
	// Leftovers describes, one line each, whatever of n still exists
	// (namespaces, links, processes); none when the cluster is gone.
	Leftovers(ctx context.Context, n Network) ([]string, error)
}

// Machine is one machine of a cluster.
type Machine interface {
	// Spec returns what the machine is.
	Spec() Spec
	// Command returns a command that runs name with args on the machine.
	// The caller starts and waits for it as for any exec.Cmd.
	Command(ctx context.Context, name string, args ...string) *exec.Cmd
	// Spawn starts a long-running process on the machine, detached from the
	// caller (its own session: it outlives the caller), with env added to the
	// caller's environment and its output appended to logFile. It returns
	// the process's PID.
	Spawn(argv []string, env []string, logFile string) (int, error)
	// Dial connects to address as seen from the machine: "tcp" addresses
	// from within the machine's network, "unix" paths on the machine.
	Dial(ctx context.Context, network, address string) (net.Conn, error)
	// Processes returns the PIDs of every process running on the machine.
	Processes() ([]int, error)
	// PowerOff stops the machine as a power cut would: every process on it
	// is killed and its network link goes down. Idempotent.
	PowerOff(ctx context.Context) error
	// PowerOn brings a powered-off machine back: its link comes up, nothing
	// runs on it until an agent is started. Idempotent.
	PowerOn(ctx context.Context) error
	// Powered reports whether the machine is on.
	Powered(ctx context.Context) (bool, error)
}
