package kubeproxy

import (
	"strings"
	"testing"
	"time"

	"github.com/tinykube/tinykube/plugins"
)

// The contract's suite runs against the built binary
// (go test ./plugins/conformance); in process it would need a cluster,
// as for the kubelet. Start's refusals are checked here.
func TestStartRefusesBadSettings(t *testing.T) {
	k := New()
	if err := k.Start(t.Context(), plugins.Settings{}); err == nil {
		t.Fatal("Start without settings succeeded")
	}
	if _, err := k.Health(t.Context()); err != plugins.ErrNotStarted {
		t.Errorf("Health after a refused Start = %v, want ErrNotStarted", err)
	}
	if err := k.Stop(t.Context()); err != nil {
		t.Errorf("Stop after a refused Start = %v", err)
	}
	if id, _ := k.Identify(t.Context()); id.Kind != plugins.KindKubeProxy {
		t.Errorf("Identify = %+v", id)
	}
}

func settings(values map[string]string) plugins.Settings {
	v := map[string]string{"kubeconfig": "/etc/kp.conf", "cluster-cidr": "10.244.0.0/16", "service-cidr": "10.96.0.0/12"}
	for k, val := range values {
		v[k] = val
	}
	return plugins.Settings{Machine: "node1", Address: "10.200.0.11", DataDir: "/tmp/x", Values: v}
}

func TestConfigFrom(t *testing.T) {
	c, err := ConfigFrom(settings(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.MinSyncPeriod != DefaultMinSyncPeriod || c.SyncPeriod != DefaultSyncPeriod || c.HealthzPort != 10256 || c.MetricsPort != 10249 || !c.CleanupOnStop || !c.LoadBalancer {
		t.Errorf("defaults: %+v", c)
	}
	c, err = ConfigFrom(settings(map[string]string{"min-sync-period": "1s", "sync-period": "1m", "healthz-port": "0", "cleanup-on-stop": "false", "load-balancer": "false"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.MinSyncPeriod != time.Second || c.SyncPeriod != time.Minute || c.HealthzPort != 0 || c.CleanupOnStop || c.LoadBalancer {
		t.Errorf("settings not applied: %+v", c)
	}
	for _, tc := range []struct {
		values map[string]string
		want   string
	}{
		{map[string]string{"kubeconfig": ""}, "setting kubeconfig is required"},
		{map[string]string{"cluster-cidr": "pods"}, `setting cluster-cidr="pods"`},
		{map[string]string{"min-sync-period": "soon"}, `setting min-sync-period="soon": want a duration`},
		{map[string]string{"metrics-port": "70000"}, `setting metrics-port="70000"`},
		{map[string]string{"cleanup-on-stop": "maybe"}, `setting cleanup-on-stop="maybe": want true or false`},
	} {
		if _, err := ConfigFrom(settings(tc.values)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ConfigFrom(%v) = %v, want an error with %q", tc.values, err, tc.want)
		}
	}
}
