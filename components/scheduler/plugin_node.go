package scheduler

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// Plugin names, as in kube-scheduler (NodeReady and OwnerSpread are
// tinykube's; see their doc comments).
const (
	NameNodeUnschedulable  = "NodeUnschedulable"
	NameNodeName           = "NodeName"
	NameTaintToleration    = "TaintToleration"
	NameNodeReady          = "NodeReady"
	NameNodeAffinity       = "NodeAffinity"
	NameNodePorts          = "NodePorts"
	NameNodeResourcesFit   = "NodeResourcesFit"
	NameBalancedAllocation = "NodeResourcesBalancedAllocation"
	NamePodTopologySpread  = "PodTopologySpread"
	NameInterPodAffinity   = "InterPodAffinity"
	NameImageLocality      = "ImageLocality"
	NameOwnerSpread        = "OwnerSpread"
)

// The reasons nodes fail for, word for word as kube-scheduler gives them:
// they are what `kubectl describe pod` shows, counted per node.
const (
	ReasonUnschedulable       = "node(s) were unschedulable"
	ReasonNodeName            = "node(s) didn't match the requested node name"
	ReasonNodeAffinity        = "node(s) didn't match Pod's node affinity/selector"
	ReasonNodePorts           = "node(s) didn't have free ports for the requested pod ports"
	ReasonTooManyPods         = "Too many pods"
	ReasonAffinityRules       = "node(s) didn't match pod affinity rules"
	ReasonAntiAffinityRules   = "node(s) didn't match pod anti-affinity rules"
	ReasonExistingAntiAffRule = "node(s) didn't satisfy existing pods anti-affinity rules"
	ReasonTopologySpread      = "node(s) didn't match pod topology spread constraints"
	ReasonTopologyLabel       = ReasonTopologySpread + " (missing required label)"
)

// reasonUntoleratedTaint is TaintToleration's reason for taint.
func reasonUntoleratedTaint(t *corev1.Taint) string {
	return fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value)
}

// reasonInsufficient is NodeResourcesFit's reason for a resource.
func reasonInsufficient(name corev1.ResourceName) string { return "Insufficient " + string(name) }

// tolerates reports whether one of tolerations tolerates taint. A
// toleration matches a taint when its effect is empty or the taint's, its
// key is empty or the taint's, and its operator is Exists, or Equal (the
// default) with the taint's value.
//
// Reference: https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/
func tolerates(tolerations []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tolerations {
		t := &tolerations[i]
		if t.Effect != "" && t.Effect != taint.Effect {
			continue
		}
		if t.Key != "" && t.Key != taint.Key {
			continue
		}
		switch t.Operator {
		case corev1.TolerationOpExists:
			return true
		case "", corev1.TolerationOpEqual:
			if t.Value == taint.Value {
				return true
			}
		}
	}
	return false
}

// NodeUnschedulable keeps pods off cordoned nodes (spec.unschedulable,
// `kubectl cordon`), unless they tolerate the taint
// node.kubernetes.io/unschedulable:NoSchedule.
type NodeUnschedulable struct{}

// Name implements Plugin.
func (NodeUnschedulable) Name() string { return NameNodeUnschedulable }

// Filter implements FilterPlugin.
func (NodeUnschedulable) Filter(_ *CycleState, pod *corev1.Pod, n *NodeInfo) *Status {
	if !n.Node.Spec.Unschedulable {
		return nil
	}
	if tolerates(pod.Spec.Tolerations, &corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}) {
		return nil
	}
	return NewStatus(UnschedulableAndUnresolvable, ReasonUnschedulable)
}

// EventsToRegister implements EnqueuePlugin.
func (NodeUnschedulable) EventsToRegister() []ClusterEvent {
	return []ClusterEvent{NodeAdd, NodeTaintChange}
}

// NodeName passes only the node a pod names in spec.nodeName, if it names
// one. (A pod created with spec.nodeName is never queued: it is bound
// already. The filter matters to tools that ask the algorithm "where
// could this pod go?".)
type NodeName struct{}

// Name implements Plugin.
func (NodeName) Name() string { return NameNodeName }

// Filter implements FilterPlugin.
func (NodeName) Filter(_ *CycleState, pod *corev1.Pod, n *NodeInfo) *Status {
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != n.Name() {
		return NewStatus(UnschedulableAndUnresolvable, ReasonNodeName)
	}
	return nil
}

// EventsToRegister implements EnqueuePlugin.
func (NodeName) EventsToRegister() []ClusterEvent { return []ClusterEvent{NodeAdd} }

// TaintToleration keeps pods off nodes with a NoSchedule or NoExecute
// taint they do not tolerate, and scores nodes by how many
// PreferNoSchedule taints the pod does not tolerate (fewer is better).
type TaintToleration struct{}

// Name implements Plugin.
func (TaintToleration) Name() string { return NameTaintToleration }

// Filter implements FilterPlugin: the first untolerated NoSchedule or
// NoExecute taint rejects the node.
func (TaintToleration) Filter(_ *CycleState, pod *corev1.Pod, n *NodeInfo) *Status {
	for i := range n.Node.Spec.Taints {
		t := &n.Node.Spec.Taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !tolerates(pod.Spec.Tolerations, t) {
			return NewStatus(UnschedulableAndUnresolvable, reasonUntoleratedTaint(t))
		}
	}
	return nil
}

// PreScore implements PreScorePlugin: it keeps the tolerations that can
// tolerate PreferNoSchedule taints.
func (TaintToleration) PreScore(state *CycleState, pod *corev1.Pod, _ []*NodeInfo, _ *Snapshot) *Status {
	var prefer []corev1.Toleration
	for _, t := range pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == corev1.TaintEffectPreferNoSchedule {
			prefer = append(prefer, t)
		}
	}
	state.Write(NameTaintToleration, prefer)
	return nil
}

// Score implements ScorePlugin: the number of PreferNoSchedule taints the
// pod does not tolerate.
func (TaintToleration) Score(state *CycleState, _ *corev1.Pod, n *NodeInfo) (int64, *Status) {
	prefer, _ := state.Read(NameTaintToleration).([]corev1.Toleration)
	var count int64
	for i := range n.Node.Spec.Taints {
		t := &n.Node.Spec.Taints[i]
		if t.Effect == corev1.TaintEffectPreferNoSchedule && !tolerates(prefer, t) {
			count++
		}
	}
	return count, nil
}

// NormalizeScore implements NormalizeScorePlugin: fewest untolerated
// taints → 100.
func (TaintToleration) NormalizeScore(_ *CycleState, _ *corev1.Pod, scores []NodeScore) *Status {
	defaultNormalizeScore(true, scores)
	return nil
}

// EventsToRegister implements EnqueuePlugin.
func (TaintToleration) EventsToRegister() []ClusterEvent {
	return []ClusterEvent{NodeAdd, NodeTaintChange}
}

// NodeReady keeps pods off nodes that are not Ready, unless they tolerate
// it. In Kubernetes the scheduler does not look at conditions: the node
// lifecycle controller (chapter 5) taints a node whose Ready condition is
// False with node.kubernetes.io/not-ready:NoSchedule, and one whose
// condition is Unknown (its kubelet went silent) with
// node.kubernetes.io/unreachable:NoSchedule, and TaintToleration does the
// rest. Until that controller runs, NodeReady applies those taints itself,
// so the message is the one Kubernetes gives:
// "node(s) had untolerated taint {node.kubernetes.io/not-ready: }".
type NodeReady struct{}

// Name implements Plugin.
func (NodeReady) Name() string { return NameNodeReady }

// Filter implements FilterPlugin.
func (NodeReady) Filter(_ *CycleState, pod *corev1.Pod, n *NodeInfo) *Status {
	taint := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}
	for _, c := range n.Node.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		switch c.Status {
		case corev1.ConditionTrue:
			return nil
		case corev1.ConditionFalse:
			taint.Key = corev1.TaintNodeNotReady
		}
	}
	if tolerates(pod.Spec.Tolerations, &taint) {
		return nil
	}
	return NewStatus(UnschedulableAndUnresolvable, reasonUntoleratedTaint(&taint))
}

// EventsToRegister implements EnqueuePlugin.
func (NodeReady) EventsToRegister() []ClusterEvent {
	return []ClusterEvent{NodeAdd, NodeConditionChange}
}

// NodeAffinity passes the nodes that match the pod's spec.nodeSelector
// and its required node affinity, and scores nodes by the weights of the
// preferred node affinity terms they match.
//
// Reference: https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/
type NodeAffinity struct{}

// Name implements Plugin.
func (NodeAffinity) Name() string { return NameNodeAffinity }

// Filter implements FilterPlugin.
func (NodeAffinity) Filter(_ *CycleState, pod *corev1.Pod, n *NodeInfo) *Status {
	if !MatchesNodeSelectorAndAffinity(pod, n.Node) {
		return NewStatus(UnschedulableAndUnresolvable, ReasonNodeAffinity)
	}
	return nil
}

// Score implements ScorePlugin: the sum of the weights of the preferred
// terms the node matches.
func (NodeAffinity) Score(_ *CycleState, pod *corev1.Pod, n *NodeInfo) (int64, *Status) {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil {
		return 0, nil
	}
	var sum int64
	for _, t := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		if t.Weight != 0 && matchesTerm(&t.Preference, n.Node) {
			sum += int64(t.Weight)
		}
	}
	return sum, nil
}

// NormalizeScore implements NormalizeScorePlugin: the best match → 100.
func (NodeAffinity) NormalizeScore(_ *CycleState, _ *corev1.Pod, scores []NodeScore) *Status {
	defaultNormalizeScore(false, scores)
	return nil
}

// EventsToRegister implements EnqueuePlugin.
func (NodeAffinity) EventsToRegister() []ClusterEvent {
	return []ClusterEvent{NodeAdd, NodeLabelChange}
}

// MatchesNodeSelectorAndAffinity reports whether node may run pod as far as
// its spec.nodeSelector (every label equal) and its required node
// affinity (any one of the terms) go: both must hold.
func MatchesNodeSelectorAndAffinity(pod *corev1.Pod, node *corev1.Node) bool {
	for k, v := range pod.Spec.NodeSelector {
		if got, ok := node.Labels[k]; !ok || got != v {
			return false
		}
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	// The terms are ORed; no terms at all matches no node.
	for i := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if matchesTerm(&a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[i], node) {
			return true
		}
	}
	return false
}

// matchesTerm reports whether node matches every expression of term, on
// its labels (matchExpressions) and on its name (matchFields,
// metadata.name only). An empty term matches nothing.
func matchesTerm(term *corev1.NodeSelectorTerm, node *corev1.Node) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false
	}
	for _, r := range term.MatchExpressions {
		v, ok := node.Labels[r.Key]
		if !matchesRequirement(r, v, ok) {
			return false
		}
	}
	for _, r := range term.MatchFields {
		if r.Key != "metadata.name" || !matchesRequirement(r, node.Name, true) {
			return false
		}
	}
	return true
}

// matchesRequirement applies one node selector requirement to a label's
// value (has says whether the label is there at all).
func matchesRequirement(r corev1.NodeSelectorRequirement, value string, has bool) bool {
	in := func() bool {
		for _, v := range r.Values {
			if v == value {
				return true
			}
		}
		return false
	}
	compare := func(f func(label, limit int64) bool) bool {
		if !has || len(r.Values) != 1 {
			return false
		}
		label, err1 := strconv.ParseInt(value, 10, 64)
		limit, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		return err1 == nil && err2 == nil && f(label, limit)
	}
	switch r.Operator {
	case corev1.NodeSelectorOpIn:
		return has && in()
	case corev1.NodeSelectorOpNotIn:
		return !has || !in()
	case corev1.NodeSelectorOpExists:
		return has
	case corev1.NodeSelectorOpDoesNotExist:
		return !has
	case corev1.NodeSelectorOpGt:
		return compare(func(l, n int64) bool { return l > n })
	case corev1.NodeSelectorOpLt:
		return compare(func(l, n int64) bool { return l < n })
	}
	return false
}

// untoleratedNoScheduleTaint reports whether node has a NoSchedule or
// NoExecute taint pod does not tolerate.
func untoleratedNoScheduleTaint(pod *corev1.Pod, node *corev1.Node) bool {
	return !TaintToleration{}.Filter(nil, pod, &NodeInfo{Node: node}).IsSuccess()
}
