package controllermanager

import (
	"context"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	core "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

// hpaPod is a running pod of the RS web requesting cpu, ready since long ago.
func hpaPod(name, cpu string, opts ...func(*corev1.Pod)) *corev1.Pod {
	started := metav1.NewTime(t0.Add(-time.Hour))
	p := newPod(name, map[string]string{"app": "web"}, onNode("node1", "10.244.1.5"), ready(t0.Add(-time.Hour)), func(p *corev1.Pod) {
		p.Status.StartTime = &started
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	})
	for _, o := range opts {
		o(p)
	}
	return p
}

func cpuMetric(milli int64) hpaPodMetric {
	return hpaPodMetric{Timestamp: t0.Add(-time.Second), Window: 15 * time.Second, CPU: milli}
}

// Reference: https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#algorithm-details;
// replica_calculator_test.go.
func TestHPAResourceReplicas(t *testing.T) {
	pending := func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending; p.Status.Conditions = nil }
	justStarted := func(p *corev1.Pod) {
		s := metav1.NewTime(t0.Add(-10 * time.Second))
		p.Status.StartTime = &s
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: s}}
	}
	deleting := func(p *corev1.Pod) { now := metav1.NewTime(t0); p.DeletionTimestamp = &now }
	for _, tc := range []struct {
		name    string
		current int32
		pods    []*corev1.Pod
		metrics map[string]hpaPodMetric
		want    int32
		util    int32
		err     string
	}{
		{"the docs' example: 200m of 100m at target 50% → ×4", 1,
			[]*corev1.Pod{hpaPod("a", "100m")}, map[string]hpaPodMetric{"a": cpuMetric(200)}, 4, 200, ""},
		{"within tolerance: keep", 3,
			[]*corev1.Pod{hpaPod("a", "100m"), hpaPod("b", "100m"), hpaPod("c", "100m")},
			map[string]hpaPodMetric{"a": cpuMetric(50), "b": cpuMetric(52), "c": cpuMetric(54)}, 3, 52, ""},
		{"idle: scale down", 3,
			[]*corev1.Pod{hpaPod("a", "100m"), hpaPod("b", "100m"), hpaPod("c", "100m")},
			map[string]hpaPodMetric{"a": cpuMetric(0), "b": cpuMetric(1), "c": cpuMetric(2)}, 1, 1, ""},
		{"a missing metric counts as 100% when scaling down", 2,
			[]*corev1.Pod{hpaPod("a", "100m"), hpaPod("b", "100m")},
			map[string]hpaPodMetric{"a": cpuMetric(10)}, 2, 10, ""},
		{"a missing metric counts as 0 when scaling up: (200+0)/200 = 100% → ×2", 2,
			[]*corev1.Pod{hpaPod("a", "100m"), hpaPod("b", "100m")},
			map[string]hpaPodMetric{"a": cpuMetric(200)}, 4, 200, ""},
		{"a pending pod counts as 0 when scaling up: (300+0)/200 = 150% → ×3", 2,
			[]*corev1.Pod{hpaPod("a", "100m"), hpaPod("b", "100m", pending)},
			map[string]hpaPodMetric{"a": cpuMetric(300)}, 6, 300, ""},
		{"a missing metric flips a small scale-up: keep", 2,
			[]*corev1.Pod{hpaPod("a", "100m"), hpaPod("b", "100m")},
			map[string]hpaPodMetric{"a": cpuMetric(70)}, 2, 70, ""},
		{"a pod starting up is not trusted for CPU", 1,
			[]*corev1.Pod{hpaPod("a", "100m"), hpaPod("b", "100m", justStarted)},
			map[string]hpaPodMetric{"a": cpuMetric(50), "b": cpuMetric(1000)}, 1, 50, ""},
		{"a deleted pod is ignored", 2,
			[]*corev1.Pod{hpaPod("a", "100m"), hpaPod("b", "100m", deleting)},
			map[string]hpaPodMetric{"a": cpuMetric(100), "b": cpuMetric(0)}, 2, 100, ""},
		{"no request", 1, []*corev1.Pod{newPod("a", nil, onNode("node1", "10.0.0.1"))},
			map[string]hpaPodMetric{"a": cpuMetric(100)}, 0, 0, "missing request for cpu in container c of Pod a"},
		{"no pods", 1, nil, nil, 0, 0, "no pods returned by selector"},
		{"no metrics", 1, []*corev1.Pod{hpaPod("a", "100m")}, nil, 0, 0, "did not receive metrics for targeted pods"},
	} {
		got, err := hpaResourceReplicas(hpaResourceInput{CurrentReplicas: tc.current, Resource: corev1.ResourceCPU, TargetUtilization: 50,
			Pods: tc.pods, Metrics: tc.metrics, Now: t0, Tolerance: hpaTolerance})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got.Replicas != tc.want || got.Utilization != tc.util {
			t.Errorf("%s: %+v, %v; want %d replicas at %d%%", tc.name, got, err, tc.want, tc.util)
		}
	}
}

func TestHPAStabilize(t *testing.T) {
	recs := []hpaRecommendation{{5, t0.Add(-4 * time.Minute)}, {4, t0.Add(-6 * time.Minute)}, {2, t0.Add(-10 * time.Second)}}
	// Scaling down to 1 within a 5 min window: the highest recent (5) wins.
	got, kept := hpaStabilize(recs, 5, 1, 0, 5*time.Minute, t0)
	if got != 5 || len(kept) != 3 {
		t.Errorf("down with window: %d, kept %v; want 5 and 3 kept (the 6-minute-old one dropped)", got, kept)
	}
	// No window: straight to the proposal.
	if got, _ := hpaStabilize(recs, 5, 1, 0, 0, t0); got != 1 {
		t.Errorf("down without window: %d, want 1", got)
	}
	// Scaling up within a 1 min up window: the lowest recent (2) wins.
	if got, _ := hpaStabilize(recs, 1, 6, time.Minute, 0, t0); got != 2 {
		t.Errorf("up with window: %d, want 2", got)
	}
}

func TestHPALimit(t *testing.T) {
	maxSelect := autoscalingv2.MaxChangePolicySelect
	disabled := autoscalingv2.DisabledPolicySelect
	defaultUp := &autoscalingv2.HPAScalingRules{SelectPolicy: &maxSelect, Policies: []autoscalingv2.HPAScalingPolicy{
		{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15}, {Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}}
	onePodPerMinute := &autoscalingv2.HPAScalingRules{SelectPolicy: &maxSelect, Policies: []autoscalingv2.HPAScalingPolicy{
		{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}}}
	for _, tc := range []struct {
		name             string
		current, desired int32
		l                hpaLimits
		want             int32
		reason           string
	}{
		{"within range", 2, 3, hpaLimits{Min: 1, Max: 5}, 3, "DesiredWithinRange"},
		{"above max", 1, 4, hpaLimits{Min: 1, Max: 3}, 3, "TooManyReplicas"},
		{"below min", 3, 1, hpaLimits{Min: 2, Max: 5}, 2, "TooFewReplicas"},
		{"classic rate: max(2×current, 4)", 3, 20, hpaLimits{Min: 1, Max: 50}, 6, "ScaleUpLimit"},
		{"default behavior: +4 or ×2 per 15 s", 10, 50, hpaLimits{Min: 1, Max: 100, ScaleUp: defaultUp}, 20, "ScaleUpLimit"},
		{"a recent scale-up counts against the period", 10, 50, hpaLimits{Min: 1, Max: 100, ScaleUp: onePodPerMinute,
			UpEvents: []hpaScaleEvent{{1, t0.Add(-30 * time.Second)}}}, 10, "ScaleUpLimit"},
		{"scale down at most one pod a minute", 10, 1, hpaLimits{Min: 1, Max: 100, ScaleDown: onePodPerMinute}, 9, "ScaleDownLimit"},
		{"scale down disabled", 10, 1, hpaLimits{Min: 1, Max: 100, ScaleDown: &autoscalingv2.HPAScalingRules{SelectPolicy: &disabled}}, 10, "ScaleDownLimit"},
	} {
		got, _, reason, _ := hpaLimit(tc.current, tc.desired, tc.l, t0)
		if got != tc.want || reason != tc.reason {
			t.Errorf("%s: %d (%s), want %d (%s)", tc.name, got, reason, tc.want, tc.reason)
		}
	}
}

// newHPA is `kubectl autoscale rs web --cpu=50% --min=1 --max=3` after
// the apiserver's defaults.
func newHPA() *autoscalingv2.HorizontalPodAutoscaler {
	minReplicas, target := int32(1), int32(50)
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Generation: 1, ResourceVersion: "1"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web"},
			MinReplicas:    &minReplicas, MaxReplicas: 3,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target}}}},
		},
	}
}

// hpaFixture wires the controller to a fake clientset whose ReplicaSet
// web answers /scale with replicas and remembers what is written to it.
func hpaFixture(t *testing.T, replicas int32, metrics map[string]hpaPodMetric, objs ...runtime.Object) (*fixture, *hpaController, *int32) {
	hpa := newHPA()
	f := newFixture(t, hpa)
	f.load(append(objs, hpa)...)
	scaled := replicas
	f.client.PrependReactor("*", "replicasets", func(a core.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "scale" {
			return false, nil, nil
		}
		if u, ok := a.(core.UpdateAction); ok {
			scaled = u.GetObject().(*autoscalingv1.Scale).Spec.Replicas
		}
		return true, &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: autoscalingv1.ScaleSpec{Replicas: scaled}, Status: autoscalingv1.ScaleStatus{Replicas: scaled, Selector: "app=web"}}, nil
	})
	c, err := newHorizontalPodAutoscalerController(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := c.(*hpaController)
	h.clock = clocktesting.NewFakeClock(t0)
	h.metrics = func(context.Context, string, labels.Selector) (map[string]hpaPodMetric, error) { return metrics, nil }
	return f, h, &scaled
}

func (f *fixture) hpaStatus() autoscalingv2.HorizontalPodAutoscalerStatus {
	f.t.Helper()
	for _, a := range f.writes() {
		if u, ok := a.(core.UpdateAction); ok && a.GetSubresource() == "status" {
			return u.GetObject().(*autoscalingv2.HorizontalPodAutoscaler).Status
		}
	}
	f.t.Fatalf("no status update; writes %v", describe(f.writes()))
	return autoscalingv2.HorizontalPodAutoscalerStatus{}
}

func hpaCondition(st autoscalingv2.HorizontalPodAutoscalerStatus, t autoscalingv2.HorizontalPodAutoscalerConditionType) string {
	for _, c := range st.Conditions {
		if c.Type == t {
			return string(c.Status) + " " + c.Reason
		}
	}
	return "<none>"
}

// The scenario's case: one pod busy at 200% of its request, target 50%,
// max 3: scale to 3, limited by maxReplicas.
func TestHPASyncScalesUp(t *testing.T) {
	f, h, scaled := hpaFixture(t, 1, map[string]hpaPodMetric{"web-1": cpuMetric(200)}, hpaPod("web-1", "100m"))
	if err := h.syncHandler(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	if *scaled != 3 {
		t.Errorf("scaled to %d, want 3", *scaled)
	}
	if got, want := describe(f.writes()), []string{"update replicasets/scale", "update horizontalpodautoscalers/status"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("writes %v, want %v", got, want)
	}
	ev := f.events()
	if len(ev) != 1 || ev[0] != "Normal SuccessfulRescale New size: 3; reason: cpu resource utilization (percentage of request) above target" {
		t.Errorf("events %q", ev)
	}
	st := f.hpaStatus()
	if st.CurrentReplicas != 1 || st.DesiredReplicas != 3 || st.LastScaleTime == nil || len(st.CurrentMetrics) != 1 ||
		*st.CurrentMetrics[0].Resource.Current.AverageUtilization != 200 || st.CurrentMetrics[0].Resource.Current.AverageValue.String() != "200m" {
		t.Errorf("status %+v", st)
	}
	for typ, want := range map[autoscalingv2.HorizontalPodAutoscalerConditionType]string{
		autoscalingv2.AbleToScale: "True SucceededRescale", autoscalingv2.ScalingActive: "True ValidMetricFound", autoscalingv2.ScalingLimited: "True TooManyReplicas",
	} {
		if got := hpaCondition(st, typ); got != want {
			t.Errorf("condition %s = %q, want %q", typ, got, want)
		}
	}
}

// Load gone: the default 5 min stabilization window keeps the highest
// recent recommendation; with behavior.scaleDown.stabilizationWindowSeconds
// 0 the HPA scales down at once.
func TestHPASyncScaleDownStabilized(t *testing.T) {
	pods := []runtime.Object{hpaPod("web-1", "100m"), hpaPod("web-2", "100m"), hpaPod("web-3", "100m")}
	idle := map[string]hpaPodMetric{"web-1": cpuMetric(0), "web-2": cpuMetric(0), "web-3": cpuMetric(0)}
	f, h, scaled := hpaFixture(t, 3, idle, pods...)
	h.recommendations["default/web"] = []hpaRecommendation{{3, t0.Add(-time.Minute)}}
	if err := h.syncHandler(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	if *scaled != 3 {
		t.Errorf("scaled to %d within the stabilization window, want 3", *scaled)
	}
	if got := hpaCondition(f.hpaStatus(), autoscalingv2.AbleToScale); got != "True ScaleDownStabilized" {
		t.Errorf("AbleToScale = %q, want True ScaleDownStabilized", got)
	}

	zero := int32(0)
	hpa := newHPA()
	hpa.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: &zero, Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}}}
	f, h, scaled = hpaFixture(t, 3, idle, pods...)
	f.load(hpa)
	h.recommendations["default/web"] = []hpaRecommendation{{3, t0.Add(-time.Minute)}}
	if err := h.syncHandler(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	if *scaled != 1 {
		t.Errorf("scaled to %d with no window, want 1", *scaled)
	}
	if ev := f.events(); len(ev) != 1 || ev[0] != "Normal SuccessfulRescale New size: 1; reason: All metrics below target" {
		t.Errorf("events %q", ev)
	}
}

func TestHPASyncNoMetrics(t *testing.T) {
	f, h, scaled := hpaFixture(t, 1, nil, hpaPod("web-1", "100m"))
	if err := h.syncHandler(context.Background(), "default/web"); err == nil {
		t.Error("no metrics: want an error (requeued)")
	}
	if *scaled != 1 {
		t.Errorf("scaled to %d without metrics", *scaled)
	}
	if got := hpaCondition(f.hpaStatus(), autoscalingv2.ScalingActive); got != "False FailedGetResourceMetric" {
		t.Errorf("ScalingActive = %q, want False FailedGetResourceMetric", got)
	}
}
