package controllermanager

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	"k8s.io/utils/clock"
)

// The HorizontalPodAutoscaler controller: it sets the replica count of a
// Deployment, ReplicaSet, StatefulSet or ReplicationController (the
// HPA's spec.scaleTargetRef, through its /scale subresource) from how
// busy its pods are.
//
// Every sync period (15 s; setting horizontal-pod-autoscaler-sync-period)
// each HPA is reconciled:
//
//  1. Read the target's scale: spec.replicas, and status.selector, the
//     label selector of its pods.
//  2. For each metric (tinykube: type Resource, cpu or memory), read the
//     pods' usage from metrics.k8s.io (served by the apiserver from the
//     kubelets' /metrics/resource) and compare it to the target:
//
//     desiredReplicas = ceil[currentReplicas × currentMetricValue / desiredMetricValue]
//
//     where, for a Utilization target, the value is usage as a percentage
//     of the pods' requests. A ratio within the tolerance (0.1) of 1 means
//     "no change"; pods not ready yet, or without metrics, are counted so
//     as to damp the change (hpaResourceReplicas). The largest proposal
//     over all metrics wins.
//  3. Stabilize: scaling down uses the highest recommendation of the last
//     5 minutes (spec.behavior.scaleDown.stabilizationWindowSeconds), so a
//     dip in load does not kill pods that will be needed again at once.
//  4. Limit: stay within minReplicas..maxReplicas and within the rate the
//     behavior's policies allow (by default: at most double, or +4 pods,
//     per 15 s when scaling up).
//  5. Write the scale if it changed (event SuccessfulRescale), then the
//     HPA's status: currentReplicas, desiredReplicas, currentMetrics,
//     lastScaleTime and the conditions AbleToScale, ScalingActive,
//     ScalingLimited.
//
// The decisions are pure functions of their inputs and the clock
// (hpaResourceReplicas, hpaStabilize, hpaLimit); the controller reads
// and writes around them. Recommendations and scale events of the
// stabilization window live in memory: a new leader starts with none.
//
// Reference: kubernetes/pkg/controller/podautoscaler/horizontal.go,
// replica_calculator.go; https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/,
// "Algorithm details".

// HPA tunables, kube-controller-manager's defaults.
const (
	// DefaultHPASyncPeriod is how often each HPA is reconciled.
	DefaultHPASyncPeriod = 15 * time.Second
	// hpaTolerance: a usage ratio this close to 1 changes nothing.
	hpaTolerance = 0.1
	// hpaDownscaleStabilization is the scale-down stabilization window
	// when the HPA's behavior does not give one.
	hpaDownscaleStabilization = 5 * time.Minute
	// hpaCPUInitializationPeriod: a pod younger than this is not trusted
	// for CPU until it has been ready for a whole metric window (start-up
	// burns CPU the steady state will not).
	hpaCPUInitializationPeriod = 5 * time.Minute
	// hpaInitialReadinessDelay: a pod that turned unready this soon after
	// starting is taken as "not ready yet", not as "was ready, failed".
	hpaInitialReadinessDelay = 30 * time.Second
)

type hpaController struct {
	client   kubernetes.Interface
	hpas     autoscalinglisters.HorizontalPodAutoscalerLister
	pods     corelisters.PodLister
	recorder record.EventRecorder
	queue    workqueue.TypedRateLimitingInterface[string]
	synced   []cache.InformerSynced
	clock    clock.Clock
	period   time.Duration
	// metrics reads the pods' usage (podMetricsFromAPI; tests replace it).
	metrics func(ctx context.Context, namespace string, selector labels.Selector) (map[string]hpaPodMetric, error)

	mu sync.Mutex
	// recommendations and events per HPA key, for stabilization and the
	// behavior's rate limits.
	recommendations map[string][]hpaRecommendation
	scaleUpEvents   map[string][]hpaScaleEvent
	scaleDownEvents map[string][]hpaScaleEvent
}

// hpaFixedRate makes every (re)queue of an HPA wait one sync period:
// HPAs are reconciled on a beat, not on every change (kube-controller-
// manager's NewDefaultHPARateLimiter).
type hpaFixedRate struct{ period time.Duration }

func (r hpaFixedRate) When(string) time.Duration { return r.period }
func (r hpaFixedRate) Forget(string)             {}
func (r hpaFixedRate) NumRequeues(string) int    { return 0 }

// newHorizontalPodAutoscalerController is the HPA controller.
func newHorizontalPodAutoscalerController(c *Context) (Controller, error) {
	period := c.Config.HPASyncPeriod
	if period <= 0 {
		period = DefaultHPASyncPeriod
	}
	hpaInformer := c.Informers.Autoscaling().V2().HorizontalPodAutoscalers()
	podInformer := c.Informers.Core().V1().Pods()
	h := &hpaController{
		client:   c.Client,
		hpas:     hpaInformer.Lister(),
		pods:     podInformer.Lister(),
		recorder: c.Recorder("horizontal-pod-autoscaler"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig[string](hpaFixedRate{period},
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "horizontalpodautoscaler"}),
		synced:          []cache.InformerSynced{hpaInformer.Informer().HasSynced, podInformer.Informer().HasSynced},
		clock:           clock.RealClock{},
		period:          period,
		recommendations: map[string][]hpaRecommendation{},
		scaleUpEvents:   map[string][]hpaScaleEvent{},
		scaleDownEvents: map[string][]hpaScaleEvent{},
	}
	h.metrics = h.podMetricsFromAPI
	enqueue := func(obj any) {
		if key, ok := keyOf(obj); ok {
			h.queue.AddRateLimited(key)
		}
	}
	hpaInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: func(obj any) {
			if key, ok := keyOf(obj); ok {
				h.forget(key)
			}
		},
	})
	return h, nil
}

func (h *hpaController) Run(ctx context.Context, workers int) {
	runWorkers(ctx, "horizontal-pod-autoscaler-controller", h.queue, workers, h.synced, h.syncHandler)
}

func (h *hpaController) forget(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.recommendations, key)
	delete(h.scaleUpEvents, key)
	delete(h.scaleDownEvents, key)
}

// syncHandler reconciles one HPA, then books its next reconcile one sync
// period later (an HPA that is gone is dropped).
func (h *hpaController) syncHandler(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // a malformed key never becomes valid: drop it
	}
	cached, err := h.hpas.HorizontalPodAutoscalers(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		h.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	err = h.reconcile(ctx, key, cached.DeepCopy())
	if err == nil {
		h.queue.AddRateLimited(key) // the next beat (on error runWorkers requeues it)
	}
	return err
}

// getScale and updateScale reach the target's /scale subresource by its kind.
func (h *hpaController) getScale(ctx context.Context, namespace string, ref autoscalingv2.CrossVersionObjectReference) (*autoscalingv1.Scale, error) {
	opts := metav1.GetOptions{}
	switch hpaTargetKind(ref) {
	case "apps/Deployment":
		return h.client.AppsV1().Deployments(namespace).GetScale(ctx, ref.Name, opts)
	case "apps/ReplicaSet":
		return h.client.AppsV1().ReplicaSets(namespace).GetScale(ctx, ref.Name, opts)
	case "apps/StatefulSet":
		return h.client.AppsV1().StatefulSets(namespace).GetScale(ctx, ref.Name, opts)
	case "/ReplicationController":
		return h.client.CoreV1().ReplicationControllers(namespace).GetScale(ctx, ref.Name, opts)
	}
	return nil, fmt.Errorf("unrecognized resource %s, kind %s: tinykube scales apps/v1 Deployments, ReplicaSets, StatefulSets and v1 ReplicationControllers", ref.APIVersion, ref.Kind)
}

func (h *hpaController) updateScale(ctx context.Context, namespace string, ref autoscalingv2.CrossVersionObjectReference, scale *autoscalingv1.Scale) error {
	opts := metav1.UpdateOptions{}
	var err error
	switch hpaTargetKind(ref) {
	case "apps/Deployment":
		_, err = h.client.AppsV1().Deployments(namespace).UpdateScale(ctx, ref.Name, scale, opts)
	case "apps/ReplicaSet":
		_, err = h.client.AppsV1().ReplicaSets(namespace).UpdateScale(ctx, ref.Name, scale, opts)
	case "apps/StatefulSet":
		_, err = h.client.AppsV1().StatefulSets(namespace).UpdateScale(ctx, ref.Name, scale, opts)
	case "/ReplicationController":
		_, err = h.client.CoreV1().ReplicationControllers(namespace).UpdateScale(ctx, ref.Name, scale, opts)
	default:
		err = fmt.Errorf("unrecognized resource %s, kind %s", ref.APIVersion, ref.Kind)
	}
	return err
}

// hpaTargetKind is "group/Kind" of a scale target reference.
func hpaTargetKind(ref autoscalingv2.CrossVersionObjectReference) string {
	group, _, _ := strings.Cut(ref.APIVersion, "/")
	if !strings.Contains(ref.APIVersion, "/") {
		group = "" // "v1": the core group
	}
	return group + "/" + ref.Kind
}

// podMetricsFromAPI lists metrics.k8s.io PodMetrics of the selected pods
// and sums each pod's containers. It goes through the clientset's REST
// client (no extra client: the group's two resources are read-only JSON).
func (h *hpaController) podMetricsFromAPI(ctx context.Context, namespace string, selector labels.Selector) (map[string]hpaPodMetric, error) {
	rc := h.client.Discovery().RESTClient()
	if rc == nil {
		return nil, fmt.Errorf("no REST client to reach metrics.k8s.io")
	}
	raw, err := rc.Get().AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces", namespace, "pods").
		Param("labelSelector", selector.String()).Do(ctx).Raw()
	if err != nil {
		return nil, fmt.Errorf("unable to fetch metrics from resource metrics API: %v", err)
	}
	var list metricsv1beta1.PodMetricsList
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("unable to fetch metrics from resource metrics API: %v", err)
	}
	return hpaSumPodMetrics(list.Items), nil
}

// hpaPodMetric is one pod's usage of the resource asked for, in
// milli-units (millicores, or milli-bytes), with when and over what
// window it was measured. Value holds the CPU; Memory the memory.
type hpaPodMetric struct {
	Timestamp time.Time
	Window    time.Duration
	CPU       int64 // millicores
	Memory    int64 // milli-bytes, as upstream's MilliValue()
}

func (m hpaPodMetric) value(r corev1.ResourceName) int64 {
	if r == corev1.ResourceMemory {
		return m.Memory
	}
	return m.CPU
}

// hpaSumPodMetrics sums each pod's containers (a pod's usage is all of
// its containers').
func hpaSumPodMetrics(items []metricsv1beta1.PodMetrics) map[string]hpaPodMetric {
	out := map[string]hpaPodMetric{}
	for _, pm := range items {
		m := hpaPodMetric{Timestamp: pm.Timestamp.Time, Window: pm.Window.Duration}
		for _, c := range pm.Containers {
			cpu, mem := c.Usage[corev1.ResourceCPU], c.Usage[corev1.ResourceMemory]
			m.CPU += cpu.MilliValue()
			m.Memory += mem.MilliValue()
		}
		out[pm.Name] = m
	}
	return out
}

// reconcile is one pass over an HPA: steps 1 to 5 of the file comment.
func (h *hpaController) reconcile(ctx context.Context, key string, hpa *autoscalingv2.HorizontalPodAutoscaler) error {
	old := hpa.Status.DeepCopy()
	now := h.clock.Now()
	ref := hpa.Spec.ScaleTargetRef
	scale, err := h.getScale(ctx, hpa.Namespace, ref)
	if err != nil {
		h.recorder.Event(hpa, corev1.EventTypeWarning, "FailedGetScale", err.Error())
		hpaSetCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale", fmt.Sprintf("the HPA controller was unable to get the target's current scale: %v", err), now)
		if uerr := h.updateStatusIfNeeded(ctx, old, hpa); uerr != nil {
			return uerr
		}
		return fmt.Errorf("failed to query scale subresource for %s/%s: %w", ref.Kind, ref.Name, err)
	}
	hpaSetCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale", "the HPA controller was able to get the target's current scale", now)
	current := scale.Spec.Replicas
	minReplicas := int32(1)
	if hpa.Spec.MinReplicas != nil {
		minReplicas = *hpa.Spec.MinReplicas
	}

	var (
		desired       int32
		rescaleReason string
		statuses      []autoscalingv2.MetricStatus
	)
	switch {
	case current == 0 && minReplicas != 0:
		// Scaled to zero by hand: autoscaling is off until someone
		// scales the target up again.
		desired = 0
		hpaSetCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero", now)
	case current > hpa.Spec.MaxReplicas:
		desired, rescaleReason = hpa.Spec.MaxReplicas, "Current number of replicas above Spec.MaxReplicas"
	case current < minReplicas:
		desired, rescaleReason = minReplicas, "Current number of replicas below Spec.MinReplicas"
	default:
		proposed, metricName, sts, err := h.replicasForMetrics(ctx, hpa, scale, now)
		statuses = sts
		if err != nil {
			hpa.Status.CurrentMetrics = statuses
			hpa.Status.CurrentReplicas, hpa.Status.DesiredReplicas = current, current
			if uerr := h.updateStatusIfNeeded(ctx, old, hpa); uerr != nil {
				return uerr
			}
			return fmt.Errorf("failed to compute desired number of replicas based on listed metrics for %s/%s: %w", ref.Kind, ref.Name, err)
		}
		desired = h.normalize(key, hpa, current, proposed, minReplicas, now)
		if desired > current {
			rescaleReason = fmt.Sprintf("%s above target", metricName)
		} else if desired < current {
			rescaleReason = "All metrics below target"
		}
	}

	rescale := desired != current
	if rescale {
		scale.Spec.Replicas = desired
		if err := h.updateScale(ctx, hpa.Namespace, ref, scale); err != nil {
			h.recorder.Eventf(hpa, corev1.EventTypeWarning, "FailedRescale", "New size: %d; reason: %s; error: %v", desired, rescaleReason, err)
			hpaSetCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedUpdateScale", fmt.Sprintf("the HPA controller was unable to update the target scale: %v", err), now)
			if uerr := h.updateStatusIfNeeded(ctx, old, hpa); uerr != nil {
				return uerr
			}
			return fmt.Errorf("failed to rescale %s/%s: %w", ref.Kind, ref.Name, err)
		}
		hpaSetCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale", fmt.Sprintf("the HPA controller was able to update the target scale to %d", desired), now)
		h.recorder.Eventf(hpa, corev1.EventTypeNormal, "SuccessfulRescale", "New size: %d; reason: %s", desired, rescaleReason)
		h.storeScaleEvent(key, hpa.Spec.Behavior, current, desired, now)
		logf("horizontal-pod-autoscaler-controller", "%s: scaled %s/%s from %d to %d: %s", key, ref.Kind, ref.Name, current, desired, rescaleReason)
		hpa.Status.LastScaleTime = &metav1.Time{Time: now}
	}
	hpa.Status.ObservedGeneration = &hpa.Generation
	hpa.Status.CurrentReplicas = current
	hpa.Status.DesiredReplicas = desired
	hpa.Status.CurrentMetrics = statuses
	return h.updateStatusIfNeeded(ctx, old, hpa)
}

// hpaMetricName names a metric in events and conditions, as upstream:
// "cpu resource utilization (percentage of request)".
func hpaMetricName(spec autoscalingv2.MetricSpec) string {
	if spec.Resource != nil && spec.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
		return fmt.Sprintf("%s resource utilization (percentage of request)", spec.Resource.Name)
	}
	if spec.Resource != nil {
		return fmt.Sprintf("%s resource", spec.Resource.Name)
	}
	return string(spec.Type)
}

// replicasForMetrics proposes a replica count per metric and keeps the
// largest; it fills ScalingActive and the metrics' status.
func (h *hpaController) replicasForMetrics(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, scale *autoscalingv1.Scale, now time.Time) (int32, string, []autoscalingv2.MetricStatus, error) {
	if scale.Status.Selector == "" {
		msg := "the HPA target's scale is missing a selector"
		h.recorder.Event(hpa, corev1.EventTypeWarning, "SelectorRequired", "selector is required")
		hpaSetCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "InvalidSelector", msg, now)
		return 0, "", nil, fmt.Errorf("%s", msg)
	}
	selector, err := labels.Parse(scale.Status.Selector)
	if err != nil {
		msg := fmt.Sprintf("couldn't convert selector into a corresponding internal selector object: %v", err)
		h.recorder.Event(hpa, corev1.EventTypeWarning, "InvalidSelector", msg)
		hpaSetCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "InvalidSelector", msg, now)
		return 0, "", nil, fmt.Errorf("%s", msg)
	}
	pods, err := h.pods.Pods(hpa.Namespace).List(selector)
	if err != nil {
		return 0, "", nil, err
	}
	statuses := make([]autoscalingv2.MetricStatus, len(hpa.Spec.Metrics))
	var (
		best     int32 = -1
		bestName string
		firstErr error
		invalid  int
	)
	for i, spec := range hpa.Spec.Metrics {
		replicas, status, err := h.replicasForMetric(ctx, hpa, spec, scale.Spec.Replicas, pods, selector, now)
		if err != nil {
			invalid++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		statuses[i] = status
		if replicas > best {
			best, bestName = replicas, hpaMetricName(spec)
		}
	}
	// Upstream scales on the valid metrics unless one that failed might
	// have asked for more; with every metric invalid there is nothing to go on.
	if invalid == len(hpa.Spec.Metrics) || (invalid > 0 && best < scale.Spec.Replicas) {
		h.recorder.Eventf(hpa, corev1.EventTypeWarning, "FailedComputeMetricsReplicas", "invalid metrics (%d invalid out of %d), first error is: %v", invalid, len(hpa.Spec.Metrics), firstErr)
		return 0, "", statuses, fmt.Errorf("invalid metrics (%d invalid out of %d), first error is: %v", invalid, len(hpa.Spec.Metrics), firstErr)
	}
	hpaSetCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", fmt.Sprintf("the HPA was able to successfully calculate a replica count from %s", bestName), now)
	return best, bestName, statuses, nil
}

// replicasForMetric handles one metric: Resource (cpu, memory) with a
// Utilization or AverageValue target.
func (h *hpaController) replicasForMetric(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, spec autoscalingv2.MetricSpec, current int32, pods []*corev1.Pod, selector labels.Selector, now time.Time) (int32, autoscalingv2.MetricStatus, error) {
	fail := func(reason, format string, args ...any) (int32, autoscalingv2.MetricStatus, error) {
		err := fmt.Errorf(format, args...)
		h.recorder.Event(hpa, corev1.EventTypeWarning, reason, err.Error())
		hpaSetCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, reason, fmt.Sprintf("the HPA was unable to compute the replica count: %v", err), now)
		return 0, autoscalingv2.MetricStatus{}, err
	}
	if spec.Type != autoscalingv2.ResourceMetricSourceType || spec.Resource == nil {
		return fail("InvalidMetricSourceType", "unknown metric source type %q: tinykube's HPA scales on Resource metrics only", spec.Type)
	}
	res := spec.Resource.Name
	if res != corev1.ResourceCPU && res != corev1.ResourceMemory {
		return fail("FailedGetResourceMetric", "failed to get %s utilization: unable to get metrics for resource %s: no metrics returned from resource metrics API", res, res)
	}
	in := hpaResourceInput{CurrentReplicas: current, Resource: res, Pods: pods, Now: now, Tolerance: hpaTolerance}
	switch t := spec.Resource.Target; {
	case t.Type == autoscalingv2.UtilizationMetricType && t.AverageUtilization != nil:
		in.TargetUtilization = *t.AverageUtilization
	case t.Type == autoscalingv2.AverageValueMetricType && t.AverageValue != nil:
		in.TargetAverageValue = t.AverageValue.MilliValue()
	default:
		return fail("FailedGetResourceMetric", "invalid resource metric source: neither an average utilization target nor an average value (usage) target was set")
	}
	metrics, err := h.metrics(ctx, hpa.Namespace, selector)
	if err != nil {
		return fail("FailedGetResourceMetric", "failed to get %s utilization: unable to get metrics for resource %s: %v", res, res, err)
	}
	in.Metrics = metrics
	out, err := hpaResourceReplicas(in)
	if err != nil {
		return fail("FailedGetResourceMetric", "failed to get %s utilization: %v", res, err)
	}
	status := autoscalingv2.MetricStatus{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricStatus{Name: res, Current: autoscalingv2.MetricValueStatus{
			AverageValue: resource.NewMilliQuantity(out.AverageValue, resource.DecimalSI),
		}},
	}
	if in.TargetUtilization > 0 {
		u := out.Utilization
		status.Resource.Current.AverageUtilization = &u
	}
	return out.Replicas, status, nil
}

// ---- the pure core ----

// hpaResourceInput is what one Resource metric's proposal is made from.
type hpaResourceInput struct {
	CurrentReplicas int32
	Resource        corev1.ResourceName
	// Exactly one target: a percentage of the pods' requests, or an
	// average usage per pod in milli-units.
	TargetUtilization  int32
	TargetAverageValue int64
	Pods               []*corev1.Pod           // the target's pods (its scale's selector)
	Metrics            map[string]hpaPodMetric // by pod name; may lack some
	Now                time.Time
	Tolerance          float64
}

// hpaResourceResult is a metric's proposal and what was measured.
type hpaResourceResult struct {
	Replicas     int32
	Utilization  int32 // percent of request (Utilization targets)
	AverageValue int64 // milli-units per pod
}

// hpaResourceReplicas is the replica calculator for a Resource metric:
// ceil(ratio × pods measured), where ratio is usage over target, with
// upstream's care for the pods it cannot trust:
//
//   - deleted or failed pods are ignored;
//   - pending pods, and (for CPU) pods still starting up, are "unready":
//     left out, and if the ratio says scale up they count as using 0;
//   - pods without metrics count, when scaling down, as using exactly the
//     target (100% of request) and, when scaling up, as using 0.
//
// If those assumptions flip the direction of the change, or bring the
// ratio within tolerance, nothing changes.
// Reference: replica_calculator.go, GetResourceReplicas and groupPods.
func hpaResourceReplicas(in hpaResourceInput) (hpaResourceResult, error) {
	var res hpaResourceResult
	if len(in.Pods) == 0 {
		return res, fmt.Errorf("no pods returned by selector while calculating replica count")
	}
	requests := map[string]int64{}
	if in.TargetUtilization > 0 {
		for _, p := range in.Pods {
			var sum int64
			for _, c := range p.Spec.Containers {
				q, ok := c.Resources.Requests[in.Resource]
				if !ok {
					return res, fmt.Errorf("missing request for %s in container %s of Pod %s", in.Resource, c.Name, p.Name)
				}
				sum += q.MilliValue()
			}
			requests[p.Name] = sum
		}
	}
	metrics := map[string]int64{}
	var ready int
	var unready, missing []string
	for _, p := range in.Pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodFailed {
			continue // ignored
		}
		if p.Status.Phase == corev1.PodPending {
			unready = append(unready, p.Name)
			continue
		}
		m, ok := in.Metrics[p.Name]
		if !ok {
			missing = append(missing, p.Name)
			continue
		}
		if in.Resource == corev1.ResourceCPU && hpaCPUUnready(p, m, in.Now) {
			unready = append(unready, p.Name)
			continue
		}
		ready++
		metrics[p.Name] = m.value(in.Resource)
	}
	if len(metrics) == 0 {
		return res, fmt.Errorf("did not receive metrics for targeted pods (pods might be unready)")
	}
	// ratio of usage to target over the pods in m.
	ratio := func(m map[string]int64) (float64, int32, int64, error) {
		var total, totalRequest int64
		var n int64
		for pod, v := range m {
			if in.TargetUtilization > 0 {
				req, ok := requests[pod]
				if !ok {
					continue
				}
				totalRequest += req
			}
			total += v
			n++
		}
		if n == 0 {
			return 0, 0, 0, fmt.Errorf("no metrics returned matched known pods")
		}
		if in.TargetUtilization > 0 {
			if totalRequest == 0 {
				return 0, 0, 0, fmt.Errorf("no metrics returned matched known pods")
			}
			util := int32(total * 100 / totalRequest)
			return float64(util) / float64(in.TargetUtilization), util, total / n, nil
		}
		avg := total / n
		return float64(avg) / float64(in.TargetAverageValue), 0, avg, nil
	}
	usage, util, avg, err := ratio(metrics)
	if err != nil {
		return res, err
	}
	res.Utilization, res.AverageValue = util, avg
	scaleUpWithUnready := len(unready) > 0 && usage > 1.0
	if !scaleUpWithUnready && len(missing) == 0 {
		if math.Abs(1.0-usage) <= in.Tolerance {
			res.Replicas = in.CurrentReplicas // close enough: keep
			return res, nil
		}
		res.Replicas = int32(math.Ceil(usage * float64(ready)))
		return res, nil
	}
	// Assume the worst for the direction the measured pods point to.
	if len(missing) > 0 {
		for _, pod := range missing {
			if usage < 1.0 {
				if in.TargetUtilization > 0 {
					metrics[pod] = requests[pod] // 100% of request
				} else {
					metrics[pod] = in.TargetAverageValue
				}
			} else {
				metrics[pod] = 0
			}
		}
	}
	if scaleUpWithUnready {
		for _, pod := range unready {
			metrics[pod] = 0
		}
	}
	newUsage, _, _, err := ratio(metrics)
	if err != nil {
		return res, err
	}
	if math.Abs(1.0-newUsage) <= in.Tolerance || (usage < 1.0 && newUsage > 1.0) || (usage > 1.0 && newUsage < 1.0) {
		res.Replicas = in.CurrentReplicas // the assumptions undo the change
		return res, nil
	}
	n := int32(math.Ceil(newUsage * float64(len(metrics))))
	if (newUsage < 1.0 && n > in.CurrentReplicas) || (newUsage > 1.0 && n < in.CurrentReplicas) {
		n = in.CurrentReplicas // never move against the measured direction
	}
	res.Replicas = n
	return res, nil
}

// hpaCPUUnready says whether a running pod's CPU sample must not be
// trusted: it has no Ready condition or start time; or it started less
// than hpaCPUInitializationPeriod ago and is not ready, or the sample
// began before it turned ready; or, later, it is not ready and never has
// been since shortly after starting.
func hpaCPUUnready(p *corev1.Pod, m hpaPodMetric, now time.Time) bool {
	var cond *corev1.PodCondition
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			cond = &p.Status.Conditions[i]
		}
	}
	if cond == nil || p.Status.StartTime == nil {
		return true
	}
	start := p.Status.StartTime.Time
	if start.Add(hpaCPUInitializationPeriod).After(now) {
		return cond.Status == corev1.ConditionFalse || m.Timestamp.Before(cond.LastTransitionTime.Add(m.Window))
	}
	return cond.Status == corev1.ConditionFalse && start.Add(hpaInitialReadinessDelay).After(cond.LastTransitionTime.Time)
}

// hpaRecommendation is a proposed replica count and when it was made.
type hpaRecommendation struct {
	Replicas int32
	Time     time.Time
}

// hpaScaleEvent is a change the controller made (for the policies'
// periods): how many replicas it added or removed, and when.
type hpaScaleEvent struct {
	Change int32
	Time   time.Time
}

// hpaStabilize applies the stabilization windows to a fresh proposal:
// scaling up goes no higher than the lowest recommendation within the
// scale-up window, scaling down no lower than the highest within the
// scale-down window. recs are the earlier recommendations; the result
// includes the proposal and drops those older than both windows.
// Reference: horizontal.go, stabilizeRecommendationWithBehaviors.
func hpaStabilize(recs []hpaRecommendation, current, proposed int32, upWindow, downWindow time.Duration, now time.Time) (int32, []hpaRecommendation) {
	up, down := proposed, proposed
	keep := []hpaRecommendation{}
	for _, r := range recs {
		age := now.Sub(r.Time)
		if age < upWindow && r.Replicas < up {
			up = r.Replicas
		}
		if age < downWindow && r.Replicas > down {
			down = r.Replicas
		}
		if age < upWindow || age < downWindow {
			keep = append(keep, r)
		}
	}
	out := current
	if out < up {
		out = up
	}
	if out > down {
		out = down
	}
	return out, append(keep, hpaRecommendation{Replicas: proposed, Time: now})
}

// hpaLimits are the bounds a stabilized recommendation must fit.
type hpaLimits struct {
	Min, Max int32
	// ScaleUp and ScaleDown are the behavior's rules (defaults filled in);
	// nil ScaleUp: the classic limit, max(2 × current, 4).
	ScaleUp, ScaleDown *autoscalingv2.HPAScalingRules
	// UpEvents and DownEvents are the recent changes, for the policies.
	UpEvents, DownEvents []hpaScaleEvent
}

// hpaLimit fits desired into [Min, Max] and the policies' rate, and says
// whether it was cut (ScalingLimited) with upstream's reason and message.
// Reference: horizontal.go, convertDesiredReplicasWithBehaviorRate and
// convertDesiredReplicasWithRules.
func hpaLimit(current, desired int32, l hpaLimits, now time.Time) (int32, bool, string, string) {
	if desired > current {
		limit, reason, msg := l.Max, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
		rate := max(2*current, 4)
		if l.ScaleUp != nil {
			rate = max(hpaScaleUpLimit(current, l.UpEvents, l.DownEvents, l.ScaleUp, now), current)
		}
		if rate < limit {
			limit, reason, msg = rate, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
		}
		if desired > limit {
			return limit, true, reason, msg
		}
	} else if desired < current {
		limit, reason, msg := l.Min, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
		if l.ScaleDown != nil {
			rate := min(hpaScaleDownLimit(current, l.UpEvents, l.DownEvents, l.ScaleDown, now), current)
			if rate > limit {
				limit, reason, msg = rate, "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"
			}
		}
		if desired < limit {
			return limit, true, reason, msg
		}
	}
	// Unchanged, or within the rate: still clamp to the bounds.
	if desired < l.Min {
		return l.Min, true, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
	}
	if desired > l.Max {
		return l.Max, true, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
	}
	return desired, false, "DesiredWithinRange", "the desired count is within the acceptable range"
}

// changeWithin sums the changes of events younger than period.
func changeWithin(events []hpaScaleEvent, period time.Duration, now time.Time) int32 {
	var n int32
	for _, e := range events {
		if now.Sub(e.Time) < period {
			n += e.Change
		}
	}
	return n
}

// hpaScaleUpLimit is the most replicas the scale-up policies allow now:
// each policy counts from the replica count at the start of its period;
// selectPolicy Max takes the most permissive, Min the least, Disabled
// forbids scaling up.
func hpaScaleUpLimit(current int32, up, down []hpaScaleEvent, rules *autoscalingv2.HPAScalingRules, now time.Time) int32 {
	if rules.SelectPolicy != nil && *rules.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		return current
	}
	pickMin := rules.SelectPolicy != nil && *rules.SelectPolicy == autoscalingv2.MinChangePolicySelect
	result := int32(math.MinInt32)
	if pickMin {
		result = math.MaxInt32
	}
	for _, p := range rules.Policies {
		period := time.Duration(p.PeriodSeconds) * time.Second
		start := current - changeWithin(up, period, now) + changeWithin(down, period, now)
		var proposed int32
		if p.Type == autoscalingv2.PodsScalingPolicy {
			proposed = start + p.Value
		} else {
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		if pickMin {
			result = min(result, proposed)
		} else {
			result = max(result, proposed)
		}
	}
	return result
}

// hpaScaleDownLimit is the fewest replicas the scale-down policies allow
// now (selectPolicy Max: the biggest drop).
func hpaScaleDownLimit(current int32, up, down []hpaScaleEvent, rules *autoscalingv2.HPAScalingRules, now time.Time) int32 {
	if rules.SelectPolicy != nil && *rules.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		return current
	}
	pickMin := rules.SelectPolicy != nil && *rules.SelectPolicy == autoscalingv2.MinChangePolicySelect
	result := int32(math.MaxInt32)
	if pickMin {
		result = math.MinInt32
	}
	for _, p := range rules.Policies {
		period := time.Duration(p.PeriodSeconds) * time.Second
		start := current + changeWithin(down, period, now) - changeWithin(up, period, now)
		var proposed int32
		if p.Type == autoscalingv2.PodsScalingPolicy {
			proposed = start - p.Value
		} else {
			proposed = int32(math.Floor(float64(start) * (1 - float64(p.Value)/100)))
		}
		if pickMin {
			result = max(result, proposed)
		} else {
			result = min(result, proposed)
		}
	}
	return result
}

// normalize stabilizes and limits a proposal (steps 3 and 4), setting
// the AbleToScale and ScalingLimited conditions.
func (h *hpaController) normalize(key string, hpa *autoscalingv2.HorizontalPodAutoscaler, current, proposed, minReplicas int32, now time.Time) int32 {
	upWindow, downWindow := time.Duration(0), hpaDownscaleStabilization
	l := hpaLimits{Min: minReplicas, Max: hpa.Spec.MaxReplicas}
	if b := hpa.Spec.Behavior; b != nil {
		l.ScaleUp, l.ScaleDown = b.ScaleUp, b.ScaleDown
		if b.ScaleUp != nil && b.ScaleUp.StabilizationWindowSeconds != nil {
			upWindow = time.Duration(*b.ScaleUp.StabilizationWindowSeconds) * time.Second
		}
		if b.ScaleDown != nil && b.ScaleDown.StabilizationWindowSeconds != nil {
			downWindow = time.Duration(*b.ScaleDown.StabilizationWindowSeconds) * time.Second
		}
	}
	h.mu.Lock()
	stabilized, recs := hpaStabilize(h.recommendations[key], current, proposed, upWindow, downWindow, now)
	h.recommendations[key] = recs
	l.UpEvents, l.DownEvents = h.scaleUpEvents[key], h.scaleDownEvents[key]
	h.mu.Unlock()

	switch {
	case stabilized > proposed:
		hpaSetCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation", now)
	case stabilized < proposed:
		hpaSetCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ScaleUpStabilized", "recent recommendations were lower than current one, applying the lowest recent recommendation", now)
	default:
		hpaSetCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ReadyForNewScale", "recommended size matches current size", now)
	}
	desired, limited, reason, msg := hpaLimit(current, stabilized, l, now)
	status := corev1.ConditionFalse
	if limited {
		status = corev1.ConditionTrue
	}
	hpaSetCondition(hpa, autoscalingv2.ScalingLimited, status, reason, msg, now)
	return desired
}

// storeScaleEvent remembers a change for the behavior's policies,
// dropping events older than the longest policy period.
func (h *hpaController) storeScaleEvent(key string, b *autoscalingv2.HorizontalPodAutoscalerBehavior, from, to int32, now time.Time) {
	if b == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	prune := func(events []hpaScaleEvent, rules *autoscalingv2.HPAScalingRules) []hpaScaleEvent {
		var longest time.Duration
		if rules != nil {
			for _, p := range rules.Policies {
				longest = max(longest, time.Duration(p.PeriodSeconds)*time.Second)
			}
		}
		var keep []hpaScaleEvent
		for _, e := range events {
			if now.Sub(e.Time) < longest {
				keep = append(keep, e)
			}
		}
		return keep
	}
	if to > from {
		h.scaleUpEvents[key] = append(prune(h.scaleUpEvents[key], b.ScaleUp), hpaScaleEvent{Change: to - from, Time: now})
	} else {
		h.scaleDownEvents[key] = append(prune(h.scaleDownEvents[key], b.ScaleDown), hpaScaleEvent{Change: from - to, Time: now})
	}
}

// hpaSetCondition sets a condition, keeping its transition time if its
// status did not change.
func hpaSetCondition(hpa *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) {
	for i := range hpa.Status.Conditions {
		c := &hpa.Status.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = metav1.NewTime(now)
		}
		c.Status, c.Reason, c.Message = status, reason, message
		return
	}
	hpa.Status.Conditions = append(hpa.Status.Conditions, autoscalingv2.HorizontalPodAutoscalerCondition{
		Type: t, Status: status, Reason: reason, Message: message, LastTransitionTime: metav1.NewTime(now)})
}

// updateStatusIfNeeded writes the status only if it changed.
func (h *hpaController) updateStatusIfNeeded(ctx context.Context, old *autoscalingv2.HorizontalPodAutoscalerStatus, hpa *autoscalingv2.HorizontalPodAutoscaler) error {
	if apiequality.Semantic.DeepEqual(old, &hpa.Status) {
		return nil
	}
	_, err := h.client.AutoscalingV2().HorizontalPodAutoscalers(hpa.Namespace).UpdateStatus(ctx, hpa, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("failed to update status for %s: %w", hpa.Name, err)
	}
	return nil
}
