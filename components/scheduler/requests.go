package scheduler

import (
	corev1 "k8s.io/api/core/v1"
)

// What a container that requests no CPU or memory counts for in the
// scores (never in NodeResourcesFit): kube-scheduler's
// DefaultMilliCPURequest and DefaultMemoryRequest.
const (
	DefaultMilliCPURequest int64 = 100
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024
)

// PodRequests is what a pod asks of a node, counted as Kubernetes counts
// it:
//
//   - the app containers run together: their requests add up;
//   - init containers run one after another, before the app containers:
//     only the largest counts, if it is larger than the app containers'
//     sum;
//   - a sidecar (an init container with restartPolicy Always) keeps
//     running: it adds to the app containers, and to every init container
//     that starts after it;
//   - the pod's overhead (spec.overhead, from its RuntimeClass) adds to
//     the total;
//   - pod-level resources (spec.resources.requests), when set, are the
//     pod's CPU and memory, whatever its containers say.
//
// With nonZero, a container that requests no CPU counts as 100m and one
// that requests no memory as 200Mi: what the scores use.
//
// Reference: https://kubernetes.io/docs/concepts/workloads/pods/init-containers/#resource-sharing-within-containers
// and https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/#resource-sharing-within-containers
func PodRequests(pod *corev1.Pod, nonZero bool) Resource {
	requests := func(c *corev1.Container) Resource {
		r := NewResource(c.Resources.Requests)
		if nonZero {
			if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
				r.MilliCPU = DefaultMilliCPURequest
			}
			if _, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok {
				r.Memory = DefaultMemoryRequest
			}
		}
		return r
	}
	var total Resource
	for i := range pod.Spec.Containers {
		total.Add(requests(&pod.Spec.Containers[i]))
	}
	var sidecars, initMax Resource
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		r := requests(c)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			total.Add(r)
			sidecars.Add(r)
			r = sidecars.Clone()
		} else {
			r.Add(sidecars)
		}
		initMax.SetMax(r)
	}
	total.SetMax(initMax)
	if pr := pod.Spec.Resources; pr != nil {
		if q, ok := pr.Requests[corev1.ResourceCPU]; ok {
			total.MilliCPU = q.MilliValue()
		}
		if q, ok := pr.Requests[corev1.ResourceMemory]; ok {
			total.Memory = q.Value()
		}
	}
	if pod.Spec.Overhead != nil {
		total.AddList(pod.Spec.Overhead)
	}
	return total
}
