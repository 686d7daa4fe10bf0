package kubeproxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"

	"github.com/tinykube/tinykube/internal/machine"
	"github.com/tinykube/tinykube/internal/machine/machinetest"
)

// scratchNetns makes a network namespace of the test's own and returns
// Exec tables working in it.
func scratchNetns(t testing.TB) *Exec {
	t.Helper()
	machinetest.RequireNetns(t)
	if _, err := lookPath("iptables-restore"); err != nil {
		t.Skip(err)
	}
	b := make([]byte, 3)
	rand.Read(b)
	name := "kpt-" + hex.EncodeToString(b)
	// /run/netns must already be a mount point, or `ip netns add` mounts it
	// over itself and hides the namespaces of clusters running meanwhile.
	if err := machine.EnsureNetnsDir(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return &Exec{Prefix: []string{"nsenter", "--net=/run/netns/" + name}}
}

// TestRestoreIntoIptables loads every golden rule set into a real
// iptables (in a namespace of the test's own), moving from each to the
// next with partial inputs, and checks that what iptables holds matches,
// that someone else's rules survive, and that Cleanup leaves nothing of
// kube-proxy's.
func TestRestoreIntoIptables(t *testing.T) {
	tables := scratchNetns(t)
	ctx := context.Background()
	// Someone else's rules, in built-in chains and a chain of their own.
	others := "*filter\n:OTHER - [0:0]\n-A OTHER -s 10.1.2.3/32 -j DROP\n-A INPUT -j OTHER\nCOMMIT\n*nat\n-A POSTROUTING -s 10.9.0.0/16 -j MASQUERADE\nCOMMIT\n"
	if err := tables.Restore(ctx, []byte(others)); err != nil {
		t.Fatal(err)
	}

	var have *Ruleset
	for _, name := range []string{"clusterip", "nodeport", "affinity", "multiport", "externalips", "loadbalancer", "local", "noendpoints", "terminating", "skipped"} {
		want := Rules(loadSnapshot(t, "testdata/"+name+".yaml", node1))
		if have == nil {
			save, err := tables.Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			have = ParseSave(save)
		}
		if err := tables.Restore(ctx, RestoreInput(have, want)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		save, err := tables.Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := ParseSave(save)
		for _, pair := range [][2]*Table{{&got.Filter, &want.Filter}, {&got.NAT, &want.NAT}} {
			g, w := pair[0], pair[1]
			var gotNames, wantNames []string
			for _, c := range g.Chains {
				gotNames = append(gotNames, c.Name)
			}
			for _, c := range w.Chains {
				wantNames = append(wantNames, c.Name)
				if gc := g.Chain(c.Name); gc == nil || len(gc.Rules) != len(c.Rules) {
					t.Errorf("%s: %s chain %s: iptables has %v, want %d rules", name, w.Name, c.Name, gc, len(c.Rules))
				}
			}
			if len(gotNames) != len(wantNames) {
				t.Errorf("%s: %s chains in iptables: %v, want %v", name, w.Name, gotNames, wantNames)
			}
			if len(g.Jumps) != len(w.Jumps) {
				t.Errorf("%s: %s jumps in iptables: %v, want %d", name, w.Name, g.Jumps, len(w.Jumps))
			}
		}
		have = want // as the proxier does between full syncs
	}

	if err := Cleanup(ctx, tables); err != nil {
		t.Fatal(err)
	}
	save, err := tables.Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(save), "KUBE-") {
		t.Errorf("after Cleanup, iptables still has kube-proxy's chains:\n%s", save)
	}
	for _, other := range []string{"-A OTHER -s 10.1.2.3/32 -j DROP", "-A INPUT -j OTHER", "-A POSTROUTING -s 10.9.0.0/16 -j MASQUERADE"} {
		if !strings.Contains(string(save), other) {
			t.Errorf("someone else's rule %q is gone:\n%s", other, save)
		}
	}
	// Cleanup on clean tables has nothing to do.
	if err := Cleanup(ctx, tables); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
}

// TestRestoreErrorNamesTheLine: a refused input names the line.
func TestRestoreErrorNamesTheLine(t *testing.T) {
	tables := scratchNetns(t)
	err := tables.Restore(context.Background(), []byte("*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j KUBE-NOWHERE\nCOMMIT\n"))
	if err == nil || !strings.Contains(err.Error(), "KUBE-NOWHERE") {
		t.Errorf("Restore = %v, want an error quoting the line with KUBE-NOWHERE", err)
	}
}

// TestConntrackDelete: forgetting flows that do not exist is not an error,
// for a Service address and for a node port.
func TestConntrackDelete(t *testing.T) {
	tables := scratchNetns(t)
	if _, err := exec.LookPath("conntrack"); err != nil {
		t.Skip("conntrack not installed (apt-get install conntrack)")
	}
	for _, f := range []staleFlow{{serviceIP: "10.96.0.10", endpointIP: "10.244.1.5"}, {nodePort: 30053, endpointIP: "10.244.1.5"}} {
		if err := conntrackDelete(context.Background(), tables.Prefix, f); err != nil {
			t.Errorf("%+v: %v", f, err)
		}
	}
}
