package scheduler

import (
	"math"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// NodeResourcesFit passes the nodes with room for the pod's requests
// (requests.go) next to the requests of the pods already there: CPU,
// memory, ephemeral storage, extended resources, and one more pod under
// the node's pod limit. Limits and actual use do not count: a node whose
// pods request little is "empty" however busy they are.
//
// It also scores the nodes that pass, least allocated first: per resource
// (CPU and memory, weight 1 each) the share left free after the pod,
// ×100. It counts the NonZero requests, so pods that state nothing still
// spread out.
//
// Reference: https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/#how-pods-with-resource-requests-are-scheduled
type NodeResourcesFit struct{}

// Name implements Plugin.
func (NodeResourcesFit) Name() string { return NameNodeResourcesFit }

// Filter implements FilterPlugin. Every resource that does not fit is a
// reason of its own ("Insufficient cpu", "Insufficient memory"). A request
// larger than the node's whole allocatable can never fit however many pods
// leave, so the node is then unresolvable: preemption will not try it.
func (NodeResourcesFit) Filter(state *CycleState, _ *corev1.Pod, n *NodeInfo) *Status {
	req := state.PodInfo.Requests
	var reasons []string
	unresolvable := false
	if int64(len(n.Pods))+1 > n.Allocatable.Pods {
		reasons = append(reasons, ReasonTooManyPods)
	}
	check := func(name corev1.ResourceName, want, used, has int64) {
		if want > 0 && want > has-used {
			reasons = append(reasons, reasonInsufficient(name))
			unresolvable = unresolvable || want > has
		}
	}
	check(corev1.ResourceCPU, req.MilliCPU, n.Requested.MilliCPU, n.Allocatable.MilliCPU)
	check(corev1.ResourceMemory, req.Memory, n.Requested.Memory, n.Allocatable.Memory)
	check(corev1.ResourceEphemeralStorage, req.EphemeralStorage, n.Requested.EphemeralStorage, n.Allocatable.EphemeralStorage)
	names := make([]corev1.ResourceName, 0, len(req.Scalar))
	for name := range req.Scalar {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		check(name, req.Scalar[name], n.Requested.Scalar[name], n.Allocatable.Scalar[name])
	}
	if len(reasons) == 0 {
		return nil
	}
	if unresolvable {
		return NewStatus(UnschedulableAndUnresolvable, reasons...)
	}
	return NewStatus(Unschedulable, reasons...)
}

// Score implements ScorePlugin: LeastAllocated.
func (NodeResourcesFit) Score(state *CycleState, _ *corev1.Pod, n *NodeInfo) (int64, *Status) {
	pod := state.PodInfo.NonZero
	var sum, weights int64
	for _, r := range [...]struct{ requested, allocatable int64 }{
		{n.NonZeroRequested.MilliCPU + pod.MilliCPU, n.Allocatable.MilliCPU},
		{n.NonZeroRequested.Memory + pod.Memory, n.Allocatable.Memory},
	} {
		if r.allocatable == 0 {
			continue
		}
		weights++
		if r.requested <= r.allocatable {
			sum += (r.allocatable - r.requested) * MaxNodeScore / r.allocatable
		}
	}
	if weights == 0 {
		return 0, nil
	}
	return sum / weights, nil
}

// EventsToRegister implements EnqueuePlugin: a new node, a node that
// offers more, a pod that leaves, or shrinks.
func (NodeResourcesFit) EventsToRegister() []ClusterEvent {
	return []ClusterEvent{NodeAdd, NodeAllocatableChange, AssignedPodDelete, AssignedPodUpdate}
}

// BalancedAllocation scores nodes by how evenly the pod would leave their
// CPU and memory used: a node at 50% CPU and 50% memory is better than
// one at 90% CPU and 10% memory, whose spare memory nobody can use
// without CPU. Score = (1 − the standard deviation of the two shares)
// ×100. It counts real requests only, and has nothing to say (Skip) about
// a pod that requests neither.
type BalancedAllocation struct{}

// Name implements Plugin.
func (BalancedAllocation) Name() string { return NameBalancedAllocation }

// PreScore implements PreScorePlugin.
func (BalancedAllocation) PreScore(state *CycleState, _ *corev1.Pod, _ []*NodeInfo, _ *Snapshot) *Status {
	if r := state.PodInfo.Requests; r.MilliCPU == 0 && r.Memory == 0 {
		return NewStatus(Skip)
	}
	return nil
}

// Score implements ScorePlugin.
func (BalancedAllocation) Score(state *CycleState, _ *corev1.Pod, n *NodeInfo) (int64, *Status) {
	pod := state.PodInfo.Requests
	var fractions []float64
	for _, r := range [...]struct{ requested, allocatable int64 }{
		{n.Requested.MilliCPU + pod.MilliCPU, n.Allocatable.MilliCPU},
		{n.Requested.Memory + pod.Memory, n.Allocatable.Memory},
	} {
		if r.allocatable == 0 {
			continue
		}
		fractions = append(fractions, min(1, float64(r.requested)/float64(r.allocatable)))
	}
	std := 0.0
	if len(fractions) == 2 {
		std = math.Abs(fractions[0]-fractions[1]) / 2
	}
	return int64((1 - std) * float64(MaxNodeScore)), nil
}

// NodePorts passes the nodes where none of the host ports the pod asks for
// (containers[].ports[].hostPort) is taken. A port on 0.0.0.0 clashes with
// the same port and protocol on any address.
type NodePorts struct{}

// Name implements Plugin.
func (NodePorts) Name() string { return NameNodePorts }

// Filter implements FilterPlugin.
func (NodePorts) Filter(state *CycleState, _ *corev1.Pod, n *NodeInfo) *Status {
	for _, want := range state.PodInfo.Ports {
		for used := range n.UsedPorts {
			if used.Protocol == want.Protocol && used.Port == want.Port &&
				(used.IP == want.IP || used.IP == "0.0.0.0" || want.IP == "0.0.0.0") {
				return NewStatus(Unschedulable, ReasonNodePorts)
			}
		}
	}
	return nil
}

// EventsToRegister implements EnqueuePlugin.
func (NodePorts) EventsToRegister() []ClusterEvent { return []ClusterEvent{NodeAdd, AssignedPodDelete} }

// ImageLocality scores nodes by the images of the pod they already have:
// the sizes of those images, each scaled by the share of nodes that have
// it (an image every node has says nothing), from 23 MB (score 0) up to
// 1000 MB per container (score 100). A node learns which images it has
// from its kubelet's status.images.
type ImageLocality struct{}

// ImageLocality's thresholds, as in kube-scheduler.
const (
	mb                      int64 = 1024 * 1024
	imageMinThreshold             = 23 * mb
	imageMaxContainerThresh       = 1000 * mb
)

// Name implements Plugin.
func (ImageLocality) Name() string { return NameImageLocality }

// imageState is what ImageLocality's Score needs, worked out once per pod.
type imageState struct {
	images     []string // the pod's images, normalised
	containers int
	snap       *Snapshot
}

// PreScore implements PreScorePlugin: it normalises the pod's image names
// once, and skips the pod when no node reports any image.
func (ImageLocality) PreScore(state *CycleState, pod *corev1.Pod, _ []*NodeInfo, snap *Snapshot) *Status {
	if len(snap.ImageNodes) == 0 || len(snap.Nodes) == 0 {
		return NewStatus(Skip)
	}
	st := &imageState{snap: snap, containers: len(pod.Spec.InitContainers) + len(pod.Spec.Containers)}
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		st.images = append(st.images, normalizedImageName(c.Image))
	}
	state.Write(NameImageLocality, st)
	return nil
}

// Score implements ScorePlugin.
func (ImageLocality) Score(state *CycleState, _ *corev1.Pod, n *NodeInfo) (int64, *Status) {
	st := state.Read(NameImageLocality).(*imageState)
	var sum int64
	for _, name := range st.images {
		if size, ok := n.Images[name]; ok {
			spread := float64(st.snap.ImageNodes[name]) / float64(len(st.snap.Nodes))
			sum += int64(float64(size) * spread)
		}
	}
	maxThreshold := imageMaxContainerThresh * int64(st.containers)
	sum = min(max(sum, imageMinThreshold), maxThreshold)
	return MaxNodeScore * (sum - imageMinThreshold) / (maxThreshold - imageMinThreshold), nil
}
