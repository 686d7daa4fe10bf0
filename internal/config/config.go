// Package config is the cluster config: one YAML file naming the machines,
// their roles, the chapter (which components run) and, per component kind,
// the plugin binary that implements it. The documented example with every
// default is cluster.yaml at the top of the repository.
package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/tinykube/tinykube/plugins"
)

// Cluster is a whole cluster's config.
type Cluster struct {
	// Name prefixes every namespace, link and directory the cluster makes.
	Name string `json:"name"`
	// Chapter says which components run: chapter N runs the components of
	// chapters 1..N (see Catalog).
	Chapter int `json:"chapter"`
	// StateDir holds the cluster's data and logs; default
	// /var/lib/tinykube/<name>.
	StateDir string `json:"stateDir,omitempty"`
	// Network is where machines, pods and services get their addresses.
	Network Network `json:"network"`
	// Machines lists the machines; addresses default to the 10th address of
	// the machine network onwards, in order.
	Machines []Machine `json:"machines"`
	// Components sets, per kind, the binary and settings. A kind not listed
	// runs its reference binary with no settings.
	Components map[string]Component `json:"components,omitempty"`
}

// Network holds the cluster's address ranges.
type Network struct {
	MachineCIDR string `json:"machineCIDR"` // the machines' LAN; the host takes its first address
	PodCIDR     string `json:"podCIDR"`     // split into one /24 per node
	ServiceCIDR string `json:"serviceCIDR"` // ClusterIPs
}

// Machine is one machine of the cluster.
type Machine struct {
	Name    string `json:"name"`
	Role    string `json:"role"` // "master" or "node"
	Address string `json:"address,omitempty"`
}

// Component says which binary implements a kind and with what settings.
type Component struct {
	// Binary is the plugin binary; empty means the reference one, found
	// next to the tinykube binary as tinykube-<kind>.
	Binary string `json:"binary,omitempty"`
	// Settings are passed to the component's Start as they are.
	Settings map[string]string `json:"settings,omitempty"`
}

// Roles a machine can have.
const (
	RoleMaster = "master"
	RoleNode   = "node"
)

// Kind is one kind of component in the catalog.
type Kind struct {
	Name    string // plugins.Kind*
	Chapter int    // the chapter that turns it on
	Role    string // the role of the machines it runs on
}

// Catalog lists every component kind in the order the agent starts them on
// a machine: a component comes after those it depends on.
var Catalog = []Kind{
	{plugins.KindEtcd, 1, RoleMaster},
	{plugins.KindAPIServer, 2, RoleMaster},
	{plugins.KindContainerd, 3, RoleNode},
	{plugins.KindKubelet, 3, RoleNode},
	{plugins.KindScheduler, 4, RoleMaster},
	{plugins.KindControllerManager, 5, RoleMaster},
	{plugins.KindKubeProxy, 6, RoleNode},
	{plugins.KindDNS, 7, RoleMaster},
}

// LastChapter is the highest chapter.
const LastChapter = 7

// Default returns the default cluster: one master and two nodes, chapter 1.
// It matches cluster.yaml at the top of the repository.
func Default() *Cluster {
	return &Cluster{
		Name:    "tk",
		Chapter: 7,
		Network: Network{
			MachineCIDR: "10.200.0.0/24",
			PodCIDR:     "10.244.0.0/16",
			ServiceCIDR: "10.96.0.0/12",
		},
		Machines: []Machine{
			{Name: "master", Role: RoleMaster},
			{Name: "node1", Role: RoleNode},
			{Name: "node2", Role: RoleNode},
		},
	}
}

// Load reads a cluster config file. Fields it leaves out take their
// defaults; unknown fields are errors.
func Load(path string) (*Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("cluster config %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a cluster config over the defaults.
func Parse(data []byte) (*Cluster, error) {
	c := Default()
	if len(bytes.TrimSpace(data)) == 0 {
		return c, nil
	}
	var in Cluster
	if err := yaml.UnmarshalStrict(data, &in); err != nil {
		return nil, fmt.Errorf("%v (see cluster.yaml at the top of the repository for every field)", err)
	}
	if in.Name != "" {
		c.Name = in.Name
	}
	if in.Chapter != 0 {
		c.Chapter = in.Chapter
	}
	c.StateDir = in.StateDir
	if in.Network.MachineCIDR != "" {
		c.Network.MachineCIDR = in.Network.MachineCIDR
	}
	if in.Network.PodCIDR != "" {
		c.Network.PodCIDR = in.Network.PodCIDR
	}
	if in.Network.ServiceCIDR != "" {
		c.Network.ServiceCIDR = in.Network.ServiceCIDR
	}
	if in.Machines != nil {
		c.Machines = in.Machines
	}
	c.Components = in.Components
	return c, nil
}

// Marshal writes c as YAML.
func (c *Cluster) Marshal() ([]byte, error) { return yaml.Marshal(c) }

// SetNodes replaces the node machines by n nodes named node1..nodeN.
func (c *Cluster) SetNodes(n int) {
	var ms []Machine
	for _, m := range c.Machines {
		if m.Role != RoleNode {
			ms = append(ms, m)
		}
	}
	for i := 1; i <= n; i++ {
		ms = append(ms, Machine{Name: fmt.Sprintf("node%d", i), Role: RoleNode})
	}
	c.Machines = ms
}

// Use makes binary implement kind, as `--use kind=binary` does.
func (c *Cluster) Use(kind, binary string) error {
	if !slices.ContainsFunc(Catalog, func(k Kind) bool { return k.Name == kind }) {
		return fmt.Errorf("--use %s=%s: no component kind %q; kinds are %s", kind, binary, kind, kindNames())
	}
	abs, err := filepath.Abs(binary)
	if err != nil {
		return err
	}
	if c.Components == nil {
		c.Components = map[string]Component{}
	}
	comp := c.Components[kind]
	comp.Binary = abs
	c.Components[kind] = comp
	return nil
}

var (
	clusterName = regexp.MustCompile(`^[a-z][a-z0-9]{0,7}$`)
	machineName = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,8}[a-z0-9])?$`)
)

// Complete fills in what follows from other fields (addresses, state dir)
// and checks everything, naming the field and the fix in its error.
func (c *Cluster) Complete() error {
	if !clusterName.MatchString(c.Name) {
		return fmt.Errorf("name: %q: want 1-8 lower-case letters and digits, starting with a letter (it prefixes every namespace and link the cluster makes)", c.Name)
	}
	if c.Chapter < 1 || c.Chapter > LastChapter {
		return fmt.Errorf("chapter: %d: want 1 to %d", c.Chapter, LastChapter)
	}
	if c.StateDir == "" {
		c.StateDir = filepath.Join("/var/lib/tinykube", c.Name)
	}
	lan, err := netip.ParsePrefix(c.Network.MachineCIDR)
	if err != nil || !lan.Addr().Is4() || lan != lan.Masked() || lan.Bits() > 28 {
		return fmt.Errorf("network.machineCIDR: %q: want an IPv4 network such as 10.200.0.0/24", c.Network.MachineCIDR)
	}
	for _, f := range []struct{ field, value string }{
		{"network.podCIDR", c.Network.PodCIDR}, {"network.serviceCIDR", c.Network.ServiceCIDR},
	} {
		if p, err := netip.ParsePrefix(f.value); err != nil || p != p.Masked() {
			return fmt.Errorf("%s: %q: want a network such as 10.244.0.0/16", f.field, f.value)
		}
	}
	if err := c.completeMachines(lan); err != nil {
		return err
	}
	if pods := netip.MustParsePrefix(c.Network.PodCIDR); !pods.Addr().Is4() || pods.Bits() > 16 || len(c.Nodes()) > 254 {
		return fmt.Errorf("network.podCIDR: %q: want an IPv4 network of /16 or larger: every node gets a /24 of it", c.Network.PodCIDR)
	}
	for kind := range c.Components {
		if !slices.ContainsFunc(Catalog, func(k Kind) bool { return k.Name == kind }) {
			return fmt.Errorf("components.%s: no such component kind; kinds are %s", kind, kindNames())
		}
	}
	return nil
}

func (c *Cluster) completeMachines(lan netip.Prefix) error {
	if len(c.Machines) == 0 {
		return fmt.Errorf("machines: none listed; a cluster needs one master (and usually nodes)")
	}
	names := map[string]bool{}
	addrs := map[netip.Addr]string{}
	masters := 0
	next := lan.Addr().Next() // the host's address
	for i := 0; i < 9; i++ {
		next = next.Next()
	}
	for i := range c.Machines {
		m := &c.Machines[i]
		field := fmt.Sprintf("machines[%d]", i)
		if !machineName.MatchString(m.Name) {
			return fmt.Errorf("%s.name: %q: want 1-10 lower-case letters, digits and dashes, starting with a letter", field, m.Name)
		}
		if names[m.Name] {
			return fmt.Errorf("%s.name: %q is used twice; machine names must be unique", field, m.Name)
		}
		names[m.Name] = true
		switch m.Role {
		case RoleMaster:
			masters++
		case RoleNode:
		default:
			return fmt.Errorf("%s.role: %q: want master or node", field, m.Role)
		}
		if m.Address == "" {
			for addrs[next] != "" {
				next = next.Next()
			}
			m.Address = next.String()
			next = next.Next()
		}
		a, err := netip.ParseAddr(m.Address)
		if err != nil || !lan.Contains(a) {
			return fmt.Errorf("%s.address: %q: want an address inside network.machineCIDR %s", field, m.Address, lan)
		}
		if a == lan.Addr() || a == lan.Addr().Next() || a == lastAddr(lan) {
			return fmt.Errorf("%s.address: %s is the network, host or broadcast address of %s; pick another", field, a, lan)
		}
		if other, ok := addrs[a]; ok {
			return fmt.Errorf("%s.address: %s is also machine %q's address", field, a, other)
		}
		addrs[a] = m.Name
	}
	if masters != 1 {
		return fmt.Errorf("machines: %d masters; tinykube runs exactly one master (role: master)", masters)
	}
	return nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// HostAddress is the host's own address on the machine network.
func (c *Cluster) HostAddress() netip.Addr {
	return netip.MustParsePrefix(c.Network.MachineCIDR).Addr().Next()
}

// Machine returns the machine called name.
func (c *Cluster) Machine(name string) (Machine, bool) {
	i := slices.IndexFunc(c.Machines, func(m Machine) bool { return m.Name == name })
	if i < 0 {
		return Machine{}, false
	}
	return c.Machines[i], true
}

// Master returns the master machine.
func (c *Cluster) Master() Machine {
	i := slices.IndexFunc(c.Machines, func(m Machine) bool { return m.Role == RoleMaster })
	return c.Machines[i]
}

// Planned is a component as it will run on a machine.
type Planned struct {
	Kind      string
	Binary    string
	Reference bool // Binary is tinykube's own
	Settings  map[string]string
}

// Plan lists the components that run on machine m, in start order. binDir
// is where the reference binaries are.
func (c *Cluster) Plan(m Machine, binDir string) []Planned {
	var out []Planned
	for _, k := range Catalog {
		if k.Chapter > c.Chapter || k.Role != m.Role {
			continue
		}
		comp := c.Components[k.Name]
		settings := c.standardSettings(k.Name, m, binDir)
		for key, v := range comp.Settings {
			settings[key] = v // the config's own settings win
		}
		p := Planned{Kind: k.Name, Binary: comp.Binary, Settings: settings}
		if p.Binary == "" {
			p.Binary = filepath.Join(binDir, "tinykube-"+k.Name)
			p.Reference = true
		}
		out = append(out, p)
	}
	return out
}

// standardSettings are the settings a kind gets from the cluster itself:
// where etcd is, the certificates `tinykube up` made, the address ranges,
// the node's runtime.
func (c *Cluster) standardSettings(kind string, m Machine, binDir string) map[string]string {
	out := map[string]string{}
	switch kind {
	case plugins.KindContainerd:
		out["address"] = c.ContainerdSocket(m.Name)
		out["state-dir"] = filepath.Join(c.NodeRunDir(m.Name), "containerd")
		out["images-dir"] = filepath.Join(binDir, "images")
	case plugins.KindScheduler, plugins.KindControllerManager, plugins.KindDNS:
		out["kubeconfig"] = c.ComponentKubeconfig(kind)
		out["cluster-cidr"] = c.Network.PodCIDR
		out["service-cidr"] = c.Network.ServiceCIDR
		out["cluster-dns"] = c.ClusterDNS()
		out["cluster-domain"] = "cluster.local"
	case plugins.KindKubeProxy:
		out["kubeconfig"] = c.NodeComponentKubeconfig(m.Name, kind)
		out["cluster-cidr"] = c.Network.PodCIDR
		out["service-cidr"] = c.Network.ServiceCIDR
	case plugins.KindKubelet:
		out["kubeconfig"] = c.NodeKubeconfig(m.Name)
		out["containerd-address"] = c.ContainerdSocket(m.Name)
		out["runc-root"] = filepath.Join(c.NodeRunDir(m.Name), "runc")
		out["cgroup-parent"] = "/tinykube/" + c.Name + "/" + m.Name
		out["pod-cidr"] = c.NodePodCIDR(m.Name)
		out["cluster-cidr"] = c.Network.PodCIDR
		out["service-cidr"] = c.Network.ServiceCIDR
		out["cluster-dns"] = c.ClusterDNS()
		out["cluster-domain"] = "cluster.local"
		out["tls-cert-file"] = filepath.Join(c.PKIDir(), "kubelet-"+m.Name+".crt")
		out["tls-private-key-file"] = filepath.Join(c.PKIDir(), "kubelet-"+m.Name+".key")
		out["client-ca-file"] = filepath.Join(c.PKIDir(), "ca.crt")
	case plugins.KindAPIServer:
		etcdPort := "2379"
		if p := c.Components[plugins.KindEtcd].Settings["client-port"]; p != "" {
			etcdPort = p
		}
		out["etcd-servers"] = "http://" + c.Master().Address + ":" + etcdPort
		out["tls-cert-file"] = filepath.Join(c.PKIDir(), "apiserver.crt")
		out["tls-private-key-file"] = filepath.Join(c.PKIDir(), "apiserver.key")
		out["client-ca-file"] = filepath.Join(c.PKIDir(), "ca.crt")
		out["service-cluster-ip-range"] = c.Network.ServiceCIDR
		out["service-account-signing-key-file"] = filepath.Join(c.PKIDir(), "sa.key")
		out["kubelet-client-certificate"] = filepath.Join(c.PKIDir(), "apiserver-kubelet-client.crt")
		out["kubelet-client-key"] = filepath.Join(c.PKIDir(), "apiserver-kubelet-client.key")
	}
	return out
}

// Nodes lists the node machines, in config order.
func (c *Cluster) Nodes() []Machine {
	var out []Machine
	for _, m := range c.Machines {
		if m.Role == RoleNode {
			out = append(out, m)
		}
	}
	return out
}

// NodePodCIDR is the pod address range of node machine name: the n-th /24
// of network.podCIDR for the n-th node (10.244.1.0/24 for the first), as
// kube-controller-manager's node IPAM would hand them out. It is "" for a
// machine that is not a node.
func (c *Cluster) NodePodCIDR(name string) string {
	pods := netip.MustParsePrefix(c.Network.PodCIDR).Masked()
	for i, m := range c.Nodes() {
		if m.Name == name {
			a := pods.Addr().As4()
			a[2] += byte(i + 1)
			return netip.PrefixFrom(netip.AddrFrom4(a), 24).String()
		}
	}
	return ""
}

// ClusterDNS is the cluster DNS Service's address (kube-dns): the tenth
// address of the service range, 10.96.0.10 by default.
func (c *Cluster) ClusterDNS() string {
	a := netip.MustParsePrefix(c.Network.ServiceCIDR).Masked().Addr()
	for i := 0; i < 10; i++ {
		a = a.Next()
	}
	return a.String()
}

// Peers maps every machine's name to its address.
func (c *Cluster) Peers() map[string]string {
	out := map[string]string{}
	for _, m := range c.Machines {
		out[m.Name] = m.Address
	}
	return out
}

// ChapterKinds names the kinds chapter n turns on, in catalog order.
func ChapterKinds(n int) []string {
	var out []string
	for _, k := range Catalog {
		if k.Chapter <= n {
			out = append(out, k.Name)
		}
	}
	return out
}

func kindNames() string {
	var names []string
	for _, k := range Catalog {
		names = append(names, k.Name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
