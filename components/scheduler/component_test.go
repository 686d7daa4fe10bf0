package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/tinykube/tinykube/components/scheduler/schedulertest"
	"github.com/tinykube/tinykube/plugins"
	"github.com/tinykube/tinykube/plugins/conformance"
)

// The contract itself is checked on the built binary by
// plugins/conformance (Start needs a kubeconfig, which the in-process suite
// cannot give): here, what it cannot see.
func TestStartTwiceAndStop(t *testing.T) {
	s := New()
	ctx := context.Background()
	settings := plugins.Settings{Machine: "m1", Values: map[string]string{"kubeconfig": writeKubeconfig(t, "http://127.0.0.1:1")}}
	if err := s.Start(ctx, settings); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx, settings); !errors.Is(err, plugins.ErrAlreadyStarted) {
		t.Errorf("second Start = %v, want plugins.ErrAlreadyStarted", err)
	}
	if h, err := s.Health(ctx); err != nil || h.Healthy {
		t.Errorf("Health without an apiserver = %+v, %v; want unhealthy", h, err)
	}
	sctx, cancel := context.WithTimeout(ctx, plugins.StopGrace)
	defer cancel()
	if err := s.Stop(sctx); err != nil {
		t.Errorf("Stop = %v", err)
	}
	if err := s.Stop(sctx); err != nil {
		t.Errorf("second Stop = %v", err)
	}
}

func TestConfigFrom(t *testing.T) {
	base := func(kv ...string) plugins.Settings {
		s := plugins.Settings{Machine: "master", Values: map[string]string{"kubeconfig": "/k.conf", "cluster-cidr": "10.244.0.0/16"}}
		for i := 0; i+1 < len(kv); i += 2 {
			s.Values[kv[i]] = kv[i+1]
		}
		return s
	}
	c, err := ConfigFrom(base())
	if err != nil {
		t.Fatal(err)
	}
	if c.SchedulerName != "default-scheduler" || c.Identity != "master" || !c.LeaderElect || c.LeaseDuration != 15*time.Second ||
		c.PodInitialBackoff != time.Second || c.PodMaxBackoff != 10*time.Second || c.QPS != 50 || c.Burst != 100 {
		t.Errorf("defaults: %+v", c)
	}
	c, err = ConfigFrom(base("scheduler-name", "my-scheduler", "leader-elect", "false", "percentage-of-nodes-to-score", "30", "pod-max-backoff", "5s"))
	if err != nil || c.SchedulerName != "my-scheduler" || c.LeaderElect || c.PercentageOfNodesToScore != 30 || c.PodMaxBackoff != 5*time.Second {
		t.Errorf("settings: %+v, %v", c, err)
	}
	for _, tt := range []struct {
		settings plugins.Settings
		want     string
	}{
		{plugins.Settings{}, "setting kubeconfig is required"},
		{base("scheduler-name", "My_Scheduler"), `scheduler-name="My_Scheduler"`},
		{base("leader-elect", "maybe"), "want true or false"},
		{base("leader-elect-lease-duration", "10s"), "must be longer than leader-elect-renew-deadline"},
		{base("pod-initial-backoff", "-1s"), "want a positive duration"},
		{base("pod-initial-backoff", "20s"), "must not be shorter than pod-initial-backoff"},
		{base("percentage-of-nodes-to-score", "101"), "want 0 (adaptive) to 100"},
		{base("kube-api-qps", "none"), "want a positive number"},
	} {
		if _, err := ConfigFrom(tt.settings); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ConfigFrom(%v) = %v, want an error saying %q", tt.settings.Values, err, tt.want)
		}
	}
}

// TestAgainstAPIServer runs the component against a real apiserver with
// simulated nodes: binding, events, the PodScheduled condition, re-queue
// on a pod's deletion, schedulerName, preemption, leader election.
func TestAgainstAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd and an apiserver")
	}
	url := startAPIServer(t)
	cs := clientFor(t, url)
	ctx := context.Background()

	s := New()
	settings := plugins.Settings{Machine: "master", Values: map[string]string{
		"kubeconfig": writeKubeconfig(t, url), "leader-elect-lease-duration": "3s", "leader-elect-renew-deadline": "2s", "leader-elect-retry-period": "500ms",
	}}
	if err := s.Start(ctx, settings); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			sctx, cancel := context.WithTimeout(ctx, plugins.StopGrace)
			defer cancel()
			if err := s.Stop(sctx); err != nil {
				t.Errorf("Stop: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	conformance.WaitHealthy(t, s, 20*time.Second)

	create := func(p *corev1.Pod) {
		t.Helper()
		p.UID, p.ResourceVersion = "", ""
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s: %v", p.Name, err)
		}
	}

	t.Run("NoNodesYet", func(t *testing.T) {
		create(pod("early"))
		waitFor(t, 20*time.Second, "PodScheduled False", func() string {
			p, err := cs.CoreV1().Pods("default").Get(ctx, "early", metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Reason == "Unschedulable" && c.Message == "no nodes available to schedule pods" {
					return ""
				}
			}
			return fmt.Sprintf("conditions %+v", p.Status.Conditions)
		})
		createNodes(t, cs, schedulertest.SimulatedNode("node1", "2", "4Gi"), schedulertest.SimulatedNode("node2", "2", "4Gi"))
		boundTo(t, cs, "early")
	})

	t.Run("Bound", func(t *testing.T) {
		create(pod("web"))
		n := boundTo(t, cs, "web")
		eventSays(t, cs, "web", "Scheduled", fmt.Sprintf("Successfully assigned default/web to %s", n), "default-scheduler")
		lease, err := cs.CoordinationV1().Leases("kube-system").Get(ctx, "default-scheduler", metav1.GetOptions{})
		if err != nil || ptr.Deref(lease.Spec.HolderIdentity, "") != "master" {
			t.Errorf("Lease kube-system/default-scheduler: %v, %v; want held by master", lease, err)
		}
	})

	t.Run("FailedThenFits", func(t *testing.T) {
		create(pod("fill", requests("1500m", ""), nodeSelector("kubernetes.io/hostname", "node2")))
		boundTo(t, cs, "fill")
		create(pod("want", requests("1", ""), nodeSelector("kubernetes.io/hostname", "node2")))
		msg := "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector. " +
			"preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
		waitFor(t, 20*time.Second, "PodScheduled False", func() string {
			p, err := cs.CoreV1().Pods("default").Get(ctx, "want", metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == "Unschedulable" && c.Message == msg {
					return ""
				}
			}
			return fmt.Sprintf("conditions %+v", p.Status.Conditions)
		})
		eventSays(t, cs, "want", "FailedScheduling", msg, "default-scheduler")
		if err := cs.CoreV1().Pods("default").Delete(ctx, "fill", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
			t.Fatal(err)
		}
		if n := boundTo(t, cs, "want"); n != "node2" {
			t.Errorf("want bound to %s, want node2", n)
		}
	})

	t.Run("Preemption", func(t *testing.T) {
		create(pod("low", requests("1500m", ""), nodeSelector("kubernetes.io/hostname", "node1")))
		boundTo(t, cs, "low")
		create(pod("vip", requests("1", ""), nodeSelector("kubernetes.io/hostname", "node1"), priority(1000)))
		// The victim is deleted gracefully: marked, with the
		// DisruptionTarget condition, until its kubelet stops it. There is
		// no kubelet here: the test removes it as one would.
		waitFor(t, 20*time.Second, "low preempted", func() string {
			p, err := cs.CoreV1().Pods("default").Get(ctx, "low", metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			if p.DeletionTimestamp == nil {
				return "low not being deleted"
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.DisruptionTarget && c.Reason == corev1.PodReasonPreemptionByScheduler {
					return ""
				}
			}
			return fmt.Sprintf("no DisruptionTarget condition: %+v", p.Status.Conditions)
		})
		if err := cs.CoreV1().Pods("default").Delete(ctx, "low", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
			t.Fatal(err)
		}
		eventSays(t, cs, "low", "Preempted", "Preempted by pod ", "default-scheduler")
		if n := boundTo(t, cs, "vip"); n != "node1" {
			t.Errorf("vip bound to %s, want node1", n)
		}
	})

	t.Run("SchedulerName", func(t *testing.T) {
		other := pod("mine")
		other.Spec.SchedulerName = "my-scheduler"
		create(other)
		create(pod("after"))
		boundTo(t, cs, "after")
		p, err := cs.CoreV1().Pods("default").Get(ctx, "mine", metav1.GetOptions{})
		if err != nil || p.Spec.NodeName != "" || len(p.Status.Conditions) != 0 {
			t.Fatalf("default-scheduler touched a pod of my-scheduler: %+v, %v", p, err)
		}
		mctx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() {
			cfg := DefaultConfig("")
			cfg.RestConfig, cfg.SchedulerName, cfg.Log = restConfig(url), "my-scheduler", io.Discard
			done <- Run(mctx, cfg)
		}()
		defer func() { cancel(); <-done }()
		boundTo(t, cs, "mine")
		eventSays(t, cs, "mine", "Scheduled", "Successfully assigned default/mine to ", "my-scheduler")
	})

	t.Run("LeaderElection", func(t *testing.T) {
		// A second default-scheduler stands by while the first holds the
		// Lease, and takes over when it stops.
		second := New()
		settings := settings
		settings.Machine = "master2"
		if err := second.Start(ctx, settings); err != nil {
			t.Fatal(err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(ctx, plugins.StopGrace)
			defer cancel()
			second.Stop(sctx)
		}()
		waitFor(t, 20*time.Second, "second scheduler standing by", func() string {
			h, _ := second.Health(ctx)
			if h.Healthy && strings.HasPrefix(h.Message, "standby") {
				return ""
			}
			return h.Message
		})
		stop()
		create(pod("later"))
		boundTo(t, cs, "later")
		lease, err := cs.CoordinationV1().Leases("kube-system").Get(ctx, "default-scheduler", metav1.GetOptions{})
		if err != nil || ptr.Deref(lease.Spec.HolderIdentity, "") != "master2" {
			t.Errorf("Lease: %v, %v; want held by master2", lease, err)
		}
	})
}

// eventSays waits for an event about pod with reason whose message starts
// with msg, from source.
func eventSays(t *testing.T, cs kubernetes.Interface, podName, reason, msg, source string) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("event %s on %s", reason, podName), func() string {
		list, err := cs.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{
			FieldSelector: fields.SelectorFromSet(fields.Set{"involvedObject.name": podName, "reason": reason}).String(),
		})
		if err != nil {
			return err.Error()
		}
		var seen []string
		for _, e := range list.Items {
			if strings.HasPrefix(e.Message, msg) && e.Source.Component == source && e.ReportingController == source {
				return ""
			}
			seen = append(seen, fmt.Sprintf("%s/%s: %q", e.Source.Component, e.ReportingController, e.Message))
		}
		return fmt.Sprintf("events %v", seen)
	})
}
