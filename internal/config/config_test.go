package config

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The documented file at the top of the repository says the defaults: it
// must parse to exactly Default(). Each chapter's file is the default
// cluster at that chapter.
func TestClusterYAMLIsTheDefault(t *testing.T) {
	chapters, _ := filepath.Glob("../../chapters/0*/cluster.yaml")
	for _, path := range append([]string{"../../cluster.yaml"}, chapters...) {
		got, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		want := Default()
		if path != "../../cluster.yaml" {
			n, _ := strconv.Atoi(filepath.Base(filepath.Dir(path))[:2])
			want.Chapter = n
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s differs from the default cluster (-want +got):\n%s", path, diff)
		}
	}
}

func TestComplete(t *testing.T) {
	c := Default()
	if err := c.Complete(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"master": "10.200.0.10", "node1": "10.200.0.11", "node2": "10.200.0.12"}
	for _, m := range c.Machines {
		if m.Address != want[m.Name] {
			t.Errorf("%s address %s, want %s", m.Name, m.Address, want[m.Name])
		}
	}
	if c.StateDir != "/var/lib/tinykube/tk" {
		t.Errorf("StateDir %s", c.StateDir)
	}
	if got := c.HostAddress().String(); got != "10.200.0.1" {
		t.Errorf("HostAddress %s", got)
	}
}

func TestCompleteErrors(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		change func(*Cluster)
		want   string
	}{
		{name: "role", yaml: "machines: [{name: master, role: master}, {name: n1, role: worker}]", want: `machines[1].role: "worker": want master or node`},
		{name: "two masters", yaml: "machines: [{name: a, role: master}, {name: b, role: master}]", want: "machines: 2 masters"},
		{name: "duplicate", yaml: "machines: [{name: a, role: master}, {name: a, role: node}]", want: `machines[1].name: "a" is used twice`},
		{name: "bad name", yaml: "name: TK", want: `name: "TK": want 1-8 lower-case`},
		{name: "chapter", yaml: "chapter: 8", want: "chapter: 8: want 1 to 7"},
		{name: "cidr", yaml: "network: {machineCIDR: 10.200.0.1/24}", want: `network.machineCIDR: "10.200.0.1/24"`},
		{name: "address outside", yaml: "machines: [{name: m, role: master, address: 10.9.9.9}]", want: `machines[0].address: "10.9.9.9": want an address inside network.machineCIDR 10.200.0.0/24`},
		{name: "host address", yaml: "machines: [{name: m, role: master, address: 10.200.0.1}]", want: "10.200.0.1 is the network, host or broadcast address"},
		{name: "same address", yaml: "machines: [{name: m, role: master, address: 10.200.0.10}, {name: n, role: node, address: 10.200.0.10}]", want: `also machine "m"'s address`},
		{name: "kind", yaml: "components: {etcdd: {binary: /x}}", want: "components.etcdd: no such component kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if err == nil {
				err = c.Complete()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestUnknownField(t *testing.T) {
	_, err := Parse([]byte("machine: []"))
	if err == nil || !strings.Contains(err.Error(), `unknown field "machine"`) {
		t.Fatalf("error %v", err)
	}
}

func TestPlanFollowsChapterAndRole(t *testing.T) {
	c := Default()
	c.Chapter = 3
	if err := c.Use("kubelet", "/opt/my-kubelet"); err != nil {
		t.Fatal(err)
	}
	if err := c.Complete(); err != nil {
		t.Fatal(err)
	}
	kinds := func(m string) (out []string) {
		mm, _ := c.Machine(m)
		for _, p := range c.Plan(mm, "/bin") {
			out = append(out, p.Kind+"="+p.Binary)
		}
		return out
	}
	if diff := cmp.Diff([]string{"etcd=/bin/tinykube-etcd", "apiserver=/bin/tinykube-apiserver"}, kinds("master")); diff != "" {
		t.Errorf("master plan (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"containerd=/bin/tinykube-containerd", "kubelet=/opt/my-kubelet"}, kinds("node1")); diff != "" {
		t.Errorf("node plan (-want +got):\n%s", diff)
	}
}

func TestSetNodes(t *testing.T) {
	c := Default()
	c.SetNodes(3)
	if err := c.Complete(); err != nil {
		t.Fatal(err)
	}
	if len(c.Machines) != 4 || c.Machines[3].Name != "node3" || c.Machines[3].Address != "10.200.0.13" {
		t.Fatalf("machines %+v", c.Machines)
	}
}

func TestNodeSettings(t *testing.T) {
	c := Default()
	if err := c.Complete(); err != nil {
		t.Fatal(err)
	}
	if got := c.NodePodCIDR("node2"); got != "10.244.2.0/24" {
		t.Errorf("node2's pod CIDR = %q, want 10.244.2.0/24", got)
	}
	if got := c.NodePodCIDR("master"); got != "" {
		t.Errorf("the master's pod CIDR = %q, want none", got)
	}
	if got := c.ClusterDNS(); got != "10.96.0.10" {
		t.Errorf("cluster DNS = %q, want 10.96.0.10", got)
	}
	c.Chapter = 3
	node1, _ := c.Machine("node1")
	plan := c.Plan(node1, "/bin")
	if len(plan) != 2 || plan[0].Kind != "containerd" || plan[1].Kind != "kubelet" {
		t.Fatalf("node plan at chapter 3: %+v", plan)
	}
	if got := plan[1].Settings["containerd-address"]; got != plan[0].Settings["address"] || got == "" {
		t.Errorf("kubelet's containerd-address %q, containerd's address %q", got, plan[0].Settings["address"])
	}
	if got := plan[1].Settings["pod-cidr"]; got != "10.244.1.0/24" {
		t.Errorf("kubelet's pod-cidr = %q", got)
	}
}
