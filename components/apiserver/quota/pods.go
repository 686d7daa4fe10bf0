package quota

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
)

// What a pod uses. Reference: kubernetes/pkg/quota/v1/evaluator/core/pods.go.

// podResourceNames are the quota resources a pod counts toward, besides
// the hugepages and extended ones (podTracks).
var podResourceNames = []corev1.ResourceName{
	"count/pods", corev1.ResourcePods,
	corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsEphemeralStorage,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
}

// mustSpecify: a quota on any of these makes every container state it
// (Kubernetes calls this coupling a mistake it keeps for compatibility,
// and does it for no other resource).
var mustSpecify = []corev1.ResourceName{
	corev1.ResourceCPU, corev1.ResourceMemory,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory,
}

var podEvaluator = &evaluator{
	resource:     podsResource,
	tracks:       podTracks,
	usage:        podUsage,
	matchesScope: podMatchesScope,
	constraints:  podConstraints,
}

func podTracks(n corev1.ResourceName) bool {
	s := string(n)
	switch {
	case slices.Contains(podResourceNames, n):
		return true
	case strings.HasPrefix(s, corev1.ResourceHugePagesPrefix), strings.HasPrefix(s, corev1.ResourceRequestsHugePagesPrefix):
		return true
	}
	// An extended resource (example.com/gpu) is counted as
	// requests.example.com/gpu only.
	rest, ok := strings.CutPrefix(s, corev1.DefaultResourceRequestsPrefix)
	return ok && isExtended(corev1.ResourceName(rest))
}

// isExtended: a resource of a vendor's domain (not kubernetes.io).
func isExtended(n corev1.ResourceName) bool {
	s := string(n)
	return strings.Contains(s, "/") && !strings.Contains(s, "kubernetes.io/") && !strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix)
}

// Counts reports whether pod counts toward pods and compute resources at
// now: a pod that has finished (Succeeded, Failed) does not, nor one being
// deleted whose grace period has run out (its node is probably gone, and
// the user should not be kept from replacing it). count/pods still counts
// it: it is still stored.
func Counts(pod *corev1.Pod, now time.Time) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil {
		end := pod.DeletionTimestamp.Add(time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second)
		if now.After(end) {
			return false
		}
	}
	return true
}

func podUsage(obj runtime.Object, now time.Time) corev1.ResourceList {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return corev1.ResourceList{}
	}
	out := corev1.ResourceList{"count/pods": *resource.NewQuantity(1, resource.DecimalSI)}
	if !Counts(pod, now) {
		return out
	}
	return add(out, computeUsage(podTotal(pod, true), podTotal(pod, false)))
}

// computeUsage turns requests and limits (of a pod or one container) into
// the quota resources they use: pods=1, requests.cpu and its older name
// cpu, limits.cpu, and so on.
func computeUsage(requests, limits corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(1, resource.DecimalSI)}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if q, ok := requests[r]; ok {
			out[r] = q.DeepCopy()
			out[corev1.DefaultResourceRequestsPrefix+r] = q.DeepCopy()
		}
		if q, ok := limits[r]; ok {
			out[corev1.ResourceName("limits.")+r] = q.DeepCopy()
		}
	}
	for r, q := range requests {
		switch {
		case strings.HasPrefix(string(r), corev1.ResourceHugePagesPrefix):
			out[r] = q.DeepCopy()
			out[corev1.DefaultResourceRequestsPrefix+r] = q.DeepCopy()
		case isExtended(r):
			out[corev1.DefaultResourceRequestsPrefix+r] = q.DeepCopy()
		}
	}
	return out
}

// podTotal is a pod's effective requests (or limits): the containers run
// together, so theirs add up; init containers run one at a time before
// them, so each only has to fit; the pod needs the larger of the two,
// plus its overhead. Sidecars (init containers that keep running) add to
// everything after them.
// Reference: kubernetes/pkg/api/v1/resource/helpers.go, PodRequests.
func podTotal(pod *corev1.Pod, requests bool) corev1.ResourceList {
	of := func(c *corev1.Container) corev1.ResourceList {
		if requests {
			return c.Resources.Requests
		}
		return c.Resources.Limits
	}
	sum := corev1.ResourceList{}
	for i := range pod.Spec.Containers {
		sum = add(sum, of(&pod.Spec.Containers[i]))
	}
	sidecars := corev1.ResourceList{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars = add(sidecars, of(c))
			sum = add(sum, of(c))
			continue
		}
		// This init container runs next to the sidecars started before it.
		sum = maxOf(sum, add(sidecars, of(c)))
	}
	if pod.Spec.Overhead != nil {
		sum = add(sum, pod.Spec.Overhead)
	}
	return sum
}

// podConstraints refuses a pod if a quota tracks cpu or memory (requests
// or limits) and some container does not state it: "must specify
// limits.memory for: web; requests.cpu for: web,sidecar".
func podConstraints(required []corev1.ResourceName, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	var need []corev1.ResourceName
	for _, r := range required {
		if slices.Contains(mustSpecify, r) {
			need = append(need, r)
		}
	}
	missing := map[corev1.ResourceName][]string{}
	check := func(c *corev1.Container) {
		has := computeUsage(c.Resources.Requests, c.Resources.Limits)
		for _, r := range need {
			if _, ok := has[r]; !ok && !slices.Contains(missing[r], c.Name) {
				missing[r] = append(missing[r], c.Name)
			}
		}
	}
	for i := range pod.Spec.Containers {
		check(&pod.Spec.Containers[i])
	}
	for i := range pod.Spec.InitContainers {
		check(&pod.Spec.InitContainers[i])
	}
	if len(missing) == 0 {
		return nil
	}
	var parts []string
	for _, r := range sortedNames(missing) {
		names := missing[r]
		sort.Strings(names)
		parts = append(parts, fmt.Sprintf("%s for: %s", r, strings.Join(names, ",")))
	}
	return fmt.Errorf("must specify %s", strings.Join(parts, "; "))
}

func sortedNames[V any](m map[corev1.ResourceName]V) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// podMatchesScope: whether a pod falls in one scope of a quota.
//
//	Terminating / NotTerminating   spec.activeDeadlineSeconds set (or not)
//	BestEffort / NotBestEffort     QoS class BestEffort: no container states
//	                               cpu or memory requests or limits
//	PriorityClass                  spec.priorityClassName, by the selector's
//	                               operator (In, NotIn, Exists, DoesNotExist)
//	CrossNamespacePodAffinity      an affinity term naming other namespaces
func podMatchesScope(sel corev1.ScopedResourceSelectorRequirement, obj runtime.Object) (bool, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return false, fmt.Errorf("expected a Pod, got %T", obj)
	}
	switch sel.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return isTerminating(pod), nil
	case corev1.ResourceQuotaScopeNotTerminating:
		return !isTerminating(pod), nil
	case corev1.ResourceQuotaScopeBestEffort:
		return isBestEffort(pod), nil
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !isBestEffort(pod), nil
	case corev1.ResourceQuotaScopePriorityClass:
		name := pod.Spec.PriorityClassName
		switch sel.Operator {
		case corev1.ScopeSelectorOpExists:
			return name != "", nil
		case corev1.ScopeSelectorOpDoesNotExist:
			return name == "", nil
		case corev1.ScopeSelectorOpIn:
			return name != "" && slices.Contains(sel.Values, name), nil
		case corev1.ScopeSelectorOpNotIn:
			return name == "" || !slices.Contains(sel.Values, name), nil
		}
		return false, fmt.Errorf("%q is not a valid scope selector operator", sel.Operator)
	case corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return crossNamespaceAffinity(pod), nil
	}
	return false, nil
}

func isTerminating(pod *corev1.Pod) bool {
	return pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds >= 0
}

// isBestEffort: the BestEffort QoS class. Reference: kubernetes
// pkg/apis/core/v1/helper/qos, GetPodQOS (only cpu and memory decide it).
func isBestEffort(pod *corev1.Pod) bool {
	all := append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...)
	for _, c := range all {
		for _, list := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if q, ok := list[r]; ok && !q.IsZero() {
					return false
				}
			}
		}
	}
	return true
}

func crossNamespaceAffinity(pod *corev1.Pod) bool {
	a := pod.Spec.Affinity
	if a == nil {
		return false
	}
	cross := func(t corev1.PodAffinityTerm) bool { return len(t.Namespaces) > 0 || t.NamespaceSelector != nil }
	var terms []corev1.PodAffinityTerm
	if a.PodAffinity != nil {
		terms = append(terms, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	if a.PodAntiAffinity != nil {
		terms = append(terms, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	return slices.ContainsFunc(terms, cross)
}
