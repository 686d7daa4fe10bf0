package kubeproxy

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/kubernetes/scheme"
)

var update = flag.Bool("update", false, "rewrite the golden files (testdata/*.rules) with what the code makes now")

// node1 is the node the golden files are made for, unless they say
// otherwise: node1 of the default cluster.
var node1 = Node{Name: "node1", IP: netip.MustParseAddr("10.200.0.11"), ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")}

// loadSnapshot reads Services and EndpointSlices from a YAML file of
// manifests, as kubectl apply would take them.
func loadSnapshot(t testing.TB, path string, node Node) Snapshot {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := Snapshot{Node: node}
	for i, doc := range regexp.MustCompile(`(?m)^---$`).Split(string(data), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) == "" {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, i+1, err)
		}
		switch o := obj.(type) {
		case *corev1.Service:
			s.Services = append(s.Services, o)
		case *discoveryv1.EndpointSlice:
			s.EndpointSlices = append(s.EndpointSlices, o)
		default:
			t.Fatalf("%s: document %d: a %T; want Services and EndpointSlices", path, i+1, obj)
		}
	}
	return s
}

// golden compares got with the file at path, or rewrites the file with
// -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to write it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); if the change is meant, run go test -run %s -update and review the diff:\n%s", path, t.Name(), diff)
	}
}

// TestRules checks the rules for each testdata/NAME.yaml against
// testdata/NAME.rules. The golden files are the chapter's best reading: a
// Service's manifest next to the rules it becomes.
//
// Reference: chapters/06-kube-proxy, "The iptables walk"; Kubernetes'
// pkg/proxy/iptables/proxier_test.go, whose rules these follow.
func TestRules(t *testing.T) {
	node2 := Node{Name: "node2", IP: netip.MustParseAddr("10.200.0.12"), ClusterCIDR: node1.ClusterCIDR}
	for _, tc := range []struct {
		input, output string
		node          Node
	}{
		{"clusterip", "clusterip", node1},
		{"noendpoints", "noendpoints", node1},
		{"nodeport", "nodeport", node1},
		{"affinity", "affinity", node1},
		{"multiport", "multiport", node1},
		{"externalips", "externalips", node1},
		{"loadbalancer", "loadbalancer", node1},
		{"local", "local-node1", node1},
		{"local", "local-node2", node2},
		{"skipped", "skipped", node1},
		{"terminating", "terminating", node1},
	} {
		t.Run(tc.output, func(t *testing.T) {
			in := filepath.Join("testdata", tc.input+".yaml")
			s := loadSnapshot(t, in, tc.node)
			var buf bytes.Buffer
			fmt.Fprintf(&buf, "# The rules kube-proxy on %s makes for %s (go test -run TestRules -update rewrites this file).\n", tc.node.Name, in)
			buf.Write(Rules(s).Text())
			golden(t, filepath.Join("testdata", tc.output+".rules"), buf.Bytes())
			checkConsistent(t, Rules(s))
		})
	}
}

// checkConsistent checks what iptables-restore would refuse: a jump to a
// chain that does not exist, a chain written twice.
func checkConsistent(t *testing.T, r *Ruleset) {
	t.Helper()
	for _, table := range []*Table{&r.Filter, &r.NAT} {
		names := map[string]bool{}
		for _, c := range table.Chains {
			if names[c.Name] {
				t.Errorf("%s: chain %s twice", table.Name, c.Name)
			}
			names[c.Name] = true
		}
		targets := map[string]bool{"ACCEPT": true, "DROP": true, "REJECT": true, "RETURN": true, "MARK": true, "MASQUERADE": true, "DNAT": true}
		for _, c := range table.Chains {
			for _, rule := range c.Rules {
				if to := jumpTarget(rule); to != "" && !names[to] && !targets[to] {
					t.Errorf("%s: %s: %q jumps to %s, which is not in the rule set", table.Name, c.Name, rule, to)
				}
			}
		}
		for _, j := range table.Jumps {
			if !names[j.To] {
				t.Errorf("%s: jump from %s to missing chain %s", table.Name, j.From, j.To)
			}
		}
	}
}

// TestChainNamesMatchKubernetes: the chains are named as on a Kubernetes
// node. The expected names are from Kubernetes' own proxier tests
// (pkg/proxy/iptables/proxier_test.go: ns1/svc1:p80, endpoint 10.180.0.1:80).
func TestChainNamesMatchKubernetes(t *testing.T) {
	sp := &servicePort{name: "ns1/svc1:p80", protocol: "tcp"}
	if got, want := sp.chainService(), "KUBE-SVC-XPGD46QRK7WJZT7O"; got != want {
		t.Errorf("service chain = %s, want %s", got, want)
	}
	if got, want := sp.chainEndpoint(endpoint{ip: "10.180.0.1", port: 80}), "KUBE-SEP-SXIVWICOYRO3J4NJ"; got != want {
		t.Errorf("endpoint chain = %s, want %s", got, want)
	}
	if got := sp.chainExternal(); len(got) > 28 {
		t.Errorf("chain %s is longer than iptables' 28 characters", got)
	}
}

// TestBalanceIsEven: with the probabilities of a service chain, each of n
// endpoints gets 1/n of new connections.
//
// Reference: chapters/06-kube-proxy, "Balancing".
func TestBalanceIsEven(t *testing.T) {
	for n := 1; n <= 12; n++ {
		left := 1.0 // the share of connections not yet taken by a rule
		for i := 0; i < n; i++ {
			p := 1.0
			if i < n-1 {
				p, _ = strconv.ParseFloat(probability(n-i), 64)
			}
			if share := left * p; math.Abs(share-1/float64(n)) > 1e-9 {
				t.Errorf("n=%d: endpoint %d gets %.6f, want %.6f", n, i, share, 1/float64(n))
			}
			left *= 1 - p
		}
	}
}

// TestRulesDeterministic: the input's order does not matter.
func TestRulesDeterministic(t *testing.T) {
	s := loadSnapshot(t, "testdata/loadbalancer.yaml", node1)
	want := Rules(s).Text()
	for i, j := 0, len(s.Services)-1; i < j; i, j = i+1, j-1 {
		s.Services[i], s.Services[j] = s.Services[j], s.Services[i]
	}
	for i, j := 0, len(s.EndpointSlices)-1; i < j; i, j = i+1, j-1 {
		s.EndpointSlices[i], s.EndpointSlices[j] = s.EndpointSlices[j], s.EndpointSlices[i]
	}
	if got := Rules(s).Text(); !bytes.Equal(got, want) {
		t.Errorf("rules depend on the order of the snapshot:\n%s", cmp.Diff(string(want), string(got)))
	}
}

// A big first sync starts each table with "-Z" (the iptables-nft 1.8.9
// workaround, see zeroCountersAbove); a small change does not, so that
// counters survive ordinary syncs.
func TestBigRestoreZeroesCounters(t *testing.T) {
	svcs, eps := bigCluster(1000, 10)
	big := Rules(Snapshot{Node: node1, Services: svcs, EndpointSlices: eps})
	input := string(RestoreInput(nil, big))
	if !strings.HasPrefix(input, "*filter\n") || !strings.Contains(input, "*nat\n-Z\n") {
		t.Errorf("the first sync of 1000 Services: want the nat table to start with -Z; it starts %q", input[:min(len(input), 200)])
	}

	svcs = append(svcs, service("extra", "10.97.0.1"))
	eps = append(eps, slice("extra", "10.244.9.2"))
	more := Rules(Snapshot{Node: node1, Services: svcs, EndpointSlices: eps})
	if input := string(RestoreInput(big, more)); strings.Contains(input, "\n-Z\n") {
		t.Errorf("one Service added: want no -Z, got it in:\n%s", input[:min(len(input), 400)])
	}
}
