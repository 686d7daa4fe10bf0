package controllermanager

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tinykube/tinykube/plugins"
)

// The contract's suite runs against the binary (go test
// ./plugins/conformance); here, the lifecycle without a cluster.
func TestLifecycleWithoutCluster(t *testing.T) {
	ctx := context.Background()
	m := New()
	if _, err := m.Health(ctx); !errors.Is(err, plugins.ErrNotStarted) {
		t.Errorf("Health before Start = %v, want ErrNotStarted", err)
	}
	if err := m.Stop(ctx); err != nil {
		t.Errorf("Stop before Start = %v", err)
	}
	if err := m.Start(ctx, plugins.Settings{}); err == nil || !strings.Contains(err.Error(), "kubeconfig") {
		t.Errorf("Start without settings = %v, want an error naming the kubeconfig setting", err)
	}
	if id, _ := m.Identify(ctx); id.Kind != plugins.KindControllerManager {
		t.Errorf("Identify = %+v", id)
	}
}

func TestEnabled(t *testing.T) {
	// Every controller, in registry order; and every one but two.
	all := names(Controllers)
	var allBut []string
	for _, r := range Controllers {
		if r.Name != "replicaset-controller" && r.Name != "endpointslice-controller" {
			allBut = append(allBut, r.Name)
		}
	}
	for _, tc := range []struct {
		setting string
		want    string // names, comma-separated; or "error: <substring>"
	}{
		{"", strings.ReplaceAll(all, ", ", ",")},
		{"*,-replicaset-controller,-endpointslice", strings.Join(allBut, ",")},
		{"replicaset,garbagecollector", "replicaset-controller,garbage-collector-controller"},
		{"-garbage-collector-controller", ""},
		{"*,-deployment-controllr", "error: no controller \"deployment-controllr\"; controllers are replicationcontroller-controller"},
		{"*,,", "error: an empty name"},
	} {
		regs, err := Enabled(tc.setting, Controllers)
		var got string
		if err != nil {
			got = "error: " + err.Error()
		} else {
			var names []string
			for _, r := range regs {
				names = append(names, r.Name)
			}
			got = strings.Join(names, ",")
		}
		if strings.HasPrefix(tc.want, "error: ") {
			if !strings.Contains(got, strings.TrimPrefix(tc.want, "error: ")) {
				t.Errorf("Enabled(%q) = %q, want an error containing %q", tc.setting, got, tc.want)
			}
		} else if got != tc.want {
			t.Errorf("Enabled(%q) = %q, want %q", tc.setting, got, tc.want)
		}
	}
}

func TestConfigFrom(t *testing.T) {
	s := plugins.Settings{Machine: "master", Values: map[string]string{"kubeconfig": "/k.conf"}}
	c, err := ConfigFrom(s)
	if err != nil {
		t.Fatal(err)
	}
	if !c.LeaderElect || c.Controllers != "*" || c.LeaseDuration != 15*time.Second || c.QPS != DefaultQPS || !strings.HasPrefix(c.Identity, "master_") {
		t.Errorf("defaults = %+v", c)
	}
	for _, tc := range []struct{ key, value, want string }{
		{"kubeconfig", "", "setting kubeconfig is required"},
		{"leader-elect", "maybe", "leader-elect=\"maybe\": want true or false"},
		{"leader-elect-retry-period", "2", "want a duration"},
		{"leader-elect-renew-deadline", "20s", "lease-duration (15s) > renew-deadline (20s)"},
		{"controllers", "*,-nope", "no controller \"nope\""},
		{"kube-api-qps", "-1", "want a positive number"},
	} {
		bad := plugins.Settings{Values: map[string]string{"kubeconfig": "/k.conf", tc.key: tc.value}}
		if _, err := ConfigFrom(bad); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: error %v, want one containing %q", tc.key, tc.value, err, tc.want)
		}
	}
}

func TestAPIServerAddress(t *testing.T) {
	got, err := apiServerAddress("https://10.200.0.10:6443")
	if err != nil || got != (APIServerAddress{IP: "10.200.0.10", Port: 6443}) {
		t.Errorf("apiServerAddress = %+v, %v", got, err)
	}
	if _, err := apiServerAddress("not a url"); err == nil {
		t.Error("apiServerAddress of a bad URL: no error")
	}
}

func TestExpectations(t *testing.T) {
	now := t0
	e := newExpectations(func() time.Time { return now })
	if !e.Satisfied("ns/rs") {
		t.Fatal("nothing expected, yet not satisfied")
	}
	e.ExpectCreations("ns/rs", 2)
	e.CreationObserved("ns/rs")
	if e.Satisfied("ns/rs") {
		t.Fatal("satisfied with one creation still expected")
	}
	e.CreationObserved("ns/rs")
	if !e.Satisfied("ns/rs") {
		t.Fatal("not satisfied after both creations")
	}
	e.ExpectDeletions("ns/rs", []string{"ns/a", "ns/b"})
	e.DeletionObserved("ns/rs", "ns/a")
	e.DeletionObserved("ns/rs", "ns/a") // seen twice (marked, then gone): counts once
	if e.Satisfied("ns/rs") {
		t.Fatal("satisfied with ns/b's deletion still expected")
	}
	now = now.Add(ExpectationsTimeout + time.Second)
	if !e.Satisfied("ns/rs") {
		t.Fatal("expectations never expire")
	}
}
