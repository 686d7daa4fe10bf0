package machine_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/tinykube/tinykube/internal/machine"
)

// goodNetwork is the network of the package doc: cluster tk on
// 10.200.0.0/24. It is never created; only validated.
func goodNetwork() machine.Network {
	return machine.Network{
		Cluster:     "tk",
		CIDR:        netip.MustParsePrefix("10.200.0.0/24"),
		HostAddress: netip.MustParseAddr("10.200.0.1"),
		Machines: []machine.Spec{
			{Name: "master", Role: machine.RoleMaster, Address: netip.MustParseAddr("10.200.0.10")},
			{Name: "node1", Role: machine.RoleNode, Address: netip.MustParseAddr("10.200.0.11")},
			{Name: "node2", Role: machine.RoleNode, Address: netip.MustParseAddr("10.200.0.12")},
		},
	}
}

func TestValidate(t *testing.T) {
	if err := goodNetwork().Validate(); err != nil {
		t.Fatalf("Validate(good network) = %v, want nil", err)
	}
	tests := []struct {
		name   string
		change func(n *machine.Network)
		want   string // in the error
	}{
		{"empty cluster", func(n *machine.Network) { n.Cluster = "" }, `cluster "": must be 1-8 characters`},
		{"long cluster", func(n *machine.Network) { n.Cluster = "abcdefghi" }, `cluster "abcdefghi": must be 1-8`},
		{"dash in cluster", func(n *machine.Network) { n.Cluster = "t-k" }, `cluster "t-k"`},
		{"upper case cluster", func(n *machine.Network) { n.Cluster = "TK" }, `cluster "TK"`},
		{"no cidr", func(n *machine.Network) { n.CIDR = netip.Prefix{} }, "cidr: required"},
		{"ipv6 cidr", func(n *machine.Network) { n.CIDR = netip.MustParsePrefix("fd00::/64") }, "only IPv4"},
		{"host bits", func(n *machine.Network) { n.CIDR = netip.MustParsePrefix("10.200.0.5/24") }, "has host bits set; write 10.200.0.0/24"},
		{"tiny cidr", func(n *machine.Network) { n.CIDR = netip.MustParsePrefix("10.200.0.0/31") }, "too small"},
		{"no host address", func(n *machine.Network) { n.HostAddress = netip.Addr{} }, "hostAddress invalid IP: required"},
		{"host outside", func(n *machine.Network) { n.HostAddress = netip.MustParseAddr("10.9.0.1") }, "hostAddress 10.9.0.1: not inside cidr 10.200.0.0/24"},
		{"host is network", func(n *machine.Network) { n.HostAddress = netip.MustParseAddr("10.200.0.0") }, "hostAddress 10.200.0.0: is the network address"},
		{"no machines", func(n *machine.Network) { n.Machines = nil }, "machines: need at least one"},
		{"bad name", func(n *machine.Network) { n.Machines[1].Name = "Node_1" }, `machines[1].name "Node_1": must be 1-10 characters`},
		{"long name", func(n *machine.Network) { n.Machines[1].Name = "node1234567" }, `machines[1].name "node1234567"`},
		{"leading dash", func(n *machine.Network) { n.Machines[1].Name = "-node" }, `machines[1].name "-node"`},
		{"duplicate name", func(n *machine.Network) { n.Machines[2].Name = "node1" }, `machines[2].name "node1": same as machines[1].name`},
		{"bad role", func(n *machine.Network) { n.Machines[0].Role = "boss" }, `machines[0].role "boss": must be "master" or "node"`},
		{"no address", func(n *machine.Network) { n.Machines[0].Address = netip.Addr{} }, "machines[0].address invalid IP: required"},
		{"address outside", func(n *machine.Network) { n.Machines[2].Address = netip.MustParseAddr("10.201.0.12") }, "machines[2].address 10.201.0.12: not inside cidr"},
		{"broadcast", func(n *machine.Network) { n.Machines[2].Address = netip.MustParseAddr("10.200.0.255") }, "machines[2].address 10.200.0.255: is the broadcast address"},
		{"network address", func(n *machine.Network) { n.Machines[2].Address = netip.MustParseAddr("10.200.0.0") }, "machines[2].address 10.200.0.0: is the network address"},
		{"host's address", func(n *machine.Network) { n.Machines[2].Address = netip.MustParseAddr("10.200.0.1") }, "machines[2].address 10.200.0.1: is the hostAddress"},
		{"duplicate address", func(n *machine.Network) { n.Machines[2].Address = n.Machines[1].Address }, "machines[2].address 10.200.0.11: same as machines[1].address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := goodNetwork()
			tt.change(&n)
			err := n.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	n := goodNetwork()
	n.Cluster = "TK"
	n.Machines[0].Name = "Master"
	n.Machines[1].Address = netip.MustParseAddr("192.168.0.1")
	err := n.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want three problems")
	}
	for _, want := range []string{`cluster "TK"`, `machines[0].name "Master"`, "machines[1].address 192.168.0.1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}

// The local backend's own rules are checked before it touches anything, so
// these need no root: Open (which would only look) reports them.
func TestLocalValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(n *machine.Network)
		want   string
	}{
		{"lan", func(n *machine.Network) { n.Machines[1].Name = "lan" }, `machines[1].name "lan": reserved by the local backend`},
		{"bridge", func(n *machine.Network) { n.Machines[1].Name = "br0" }, `machines[1].name "br0": reserved`},
		{"host", func(n *machine.Network) { n.Machines[1].Name = "host" }, `machines[1].name "host": reserved`},
		{"loopback", func(n *machine.Network) { n.Machines[1].Name = "lo" }, `machines[1].name "lo": reserved`},
		{"prefix", func(n *machine.Network) { n.Machines[1].Name = "node"; n.Machines[2].Name = "node-2" },
			`machines[2].name "node-2": starts with machines[1].name "node" and a dash`},
		{"generic rules too", func(n *machine.Network) { n.Cluster = "" }, `cluster "": must be`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := goodNetwork()
			tt.change(&n)
			_, err := machine.NewLocal().Open(context.Background(), n)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	for _, cluster := range []string{"", "TK", "t-k", "toolongname"} {
		if err := machine.NewLocal().Destroy(context.Background(), machine.Network{Cluster: cluster}); err == nil {
			t.Errorf("Destroy(cluster %q) = nil, want an error (an invalid name could match other clusters' namespaces)", cluster)
		}
	}
}

func TestLocalNamespace(t *testing.T) {
	if got := machine.LocalNamespace("tk", "node1"); got != "tk-node1" {
		t.Errorf(`LocalNamespace("tk", "node1") = %q, want "tk-node1"`, got)
	}
}
