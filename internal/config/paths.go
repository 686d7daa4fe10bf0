package config

import "path/filepath"

// RunRoot holds the runtime files (sockets, PID files) of every cluster.
// Unix socket paths are short there, whatever the state dir.
const RunRoot = "/run/tinykube"

// ConfigFile is where `tinykube up` writes the resolved config for agents
// and later commands.
func (c *Cluster) ConfigFile() string { return filepath.Join(c.StateDir, "cluster.yaml") }

// RunDir holds the cluster's sockets and PID files.
func (c *Cluster) RunDir() string { return filepath.Join(RunRoot, c.Name) }

// MachineDir holds one machine's data and logs.
func (c *Cluster) MachineDir(machine string) string {
	return filepath.Join(c.StateDir, "machines", machine)
}

// LogDir holds one machine's logs: agent.log and <component>.log.
func (c *Cluster) LogDir(machine string) string { return filepath.Join(c.MachineDir(machine), "logs") }

// DataDir is a component's own directory on a machine.
func (c *Cluster) DataDir(machine, kind string) string {
	return filepath.Join(c.MachineDir(machine), "data", kind)
}

// AgentSocket is where the machine's agent answers status requests.
func (c *Cluster) AgentSocket(machine string) string {
	return filepath.Join(c.RunDir(), machine+".sock")
}

// AgentPIDFile holds the PID of the machine's agent.
func (c *Cluster) AgentPIDFile(machine string) string {
	return filepath.Join(c.RunDir(), machine+".pid")
}

// PKIDir holds the cluster's CA and certificates.
func (c *Cluster) PKIDir() string { return filepath.Join(c.StateDir, "pki") }

// AdminKubeconfig is the kubeconfig `tinykube up` writes for the cluster's
// admin (kubectl's credentials).
func (c *Cluster) AdminKubeconfig() string { return filepath.Join(c.StateDir, "admin.conf") }

// NodeRunDir holds a machine's runtime files: containerd's socket and
// state, runc's state.
func (c *Cluster) NodeRunDir(machine string) string { return filepath.Join(c.RunDir(), machine) }

// ContainerdSocket is where a node's containerd listens.
func (c *Cluster) ContainerdSocket(machine string) string {
	return filepath.Join(c.NodeRunDir(machine), "containerd.sock")
}

// NodeKubeconfig is a node's kubelet credentials (user system:node:<name>).
func (c *Cluster) NodeKubeconfig(machine string) string {
	return filepath.Join(c.MachineDir(machine), "kubelet.conf")
}

// ComponentKubeconfig is the credentials of a master component (the
// scheduler, the controller-manager, DNS): user system:<kind>, as kubeadm
// names them (system:kube-scheduler, system:kube-controller-manager).
func (c *Cluster) ComponentKubeconfig(kind string) string {
	return filepath.Join(c.StateDir, kind+".conf")
}

// NodeComponentKubeconfig is the credentials of a node component other
// than the kubelet (kube-proxy).
func (c *Cluster) NodeComponentKubeconfig(machine, kind string) string {
	return filepath.Join(c.MachineDir(machine), kind+".conf")
}
