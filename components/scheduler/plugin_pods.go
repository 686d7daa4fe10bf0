package scheduler

import (
	"math"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// topologyPair is one topology domain: a node label and its value
// (kubernetes.io/hostname=node1, topology.kubernetes.io/zone=a).
type topologyPair struct{ key, value string }

// InterPodAffinity places pods by the pods already placed: required pod
// affinity ("put me in a domain, say a zone or a node, where pods like
// these run"), required pod anti-affinity ("never where pods like these
// run"), and the existing pods' own anti-affinity ("nobody like you next
// to me"). A domain is the set of nodes that share a value of the term's
// topologyKey.
//
// PreFilter counts, once per pod, the matching pods per domain; Filter
// only looks the node's domains up.
//
// Reference: https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#inter-pod-affinity-and-anti-affinity
type InterPodAffinity struct{}

type interPodState struct {
	// existingAnti counts, per domain, the anti-affinity terms of existing
	// pods there that select the incoming pod.
	existingAnti map[topologyPair]int64
	// affinity counts, per domain of each of the pod's affinity terms, the
	// existing pods that match all of its affinity terms.
	affinity map[topologyPair]int64
	// anti counts, per domain of each anti-affinity term, the existing
	// pods the term selects.
	anti map[topologyPair]int64
	// podNS are the labels of the incoming pod's namespace.
	podNS labels.Set
}

// Name implements Plugin.
func (InterPodAffinity) Name() string { return NameInterPodAffinity }

// PreFilter implements PreFilterPlugin.
func (InterPodAffinity) PreFilter(state *CycleState, pod *corev1.Pod, snap *Snapshot) *Status {
	pi := state.PodInfo
	s := &interPodState{existingAnti: map[topologyPair]int64{}, affinity: map[topologyPair]int64{}, anti: map[topologyPair]int64{}}
	state.Write(NameInterPodAffinity, s)
	podNS := snap.NamespaceLabelsOf(pod.Namespace)
	s.podNS = podNS
	for _, n := range snap.WithRequiredAntiAffinity {
		for _, existing := range n.PodsWithRequiredAntiAffinity {
			for i := range existing.RequiredAntiAffinity {
				t := &existing.RequiredAntiAffinity[i]
				if v, ok := n.Node.Labels[t.TopologyKey]; ok && t.Matches(pod, podNS) {
					s.existingAnti[topologyPair{t.TopologyKey, v}]++
				}
			}
		}
	}
	if len(pi.RequiredAffinity) == 0 && len(pi.RequiredAntiAffinity) == 0 {
		return nil
	}
	for _, n := range snap.Nodes {
		for _, existing := range n.Pods {
			nsLabels := snap.NamespaceLabelsOf(existing.Pod.Namespace)
			if len(pi.RequiredAffinity) > 0 && matchesAllTerms(pi.RequiredAffinity, existing.Pod, nsLabels) {
				for _, t := range pi.RequiredAffinity {
					if v, ok := n.Node.Labels[t.TopologyKey]; ok {
						s.affinity[topologyPair{t.TopologyKey, v}]++
					}
				}
			}
			for i := range pi.RequiredAntiAffinity {
				t := &pi.RequiredAntiAffinity[i]
				if v, ok := n.Node.Labels[t.TopologyKey]; ok && t.Matches(existing.Pod, nsLabels) {
					s.anti[topologyPair{t.TopologyKey, v}]++
				}
			}
		}
	}
	return nil
}

func matchesAllTerms(terms []AffinityTerm, pod *corev1.Pod, nsLabels labels.Set) bool {
	for i := range terms {
		if !terms[i].Matches(pod, nsLabels) {
			return false
		}
	}
	return true
}

// Filter implements FilterPlugin.
func (InterPodAffinity) Filter(state *CycleState, pod *corev1.Pod, n *NodeInfo) *Status {
	s := state.Read(NameInterPodAffinity).(*interPodState)
	pi := state.PodInfo
	nodeLabels := n.Node.Labels

	// The pod's affinity: every term's domain must hold a matching pod.
	podsExist := true
	for _, t := range pi.RequiredAffinity {
		v, ok := nodeLabels[t.TopologyKey]
		if !ok {
			return NewStatus(UnschedulableAndUnresolvable, ReasonAffinityRules)
		}
		if s.affinity[topologyPair{t.TopologyKey, v}] <= 0 {
			podsExist = false
		}
	}
	// The first pod of a group that wants to be together: if no pod
	// anywhere matches and the pod matches its own terms, any node will
	// do, or the group could never start.
	if !podsExist && !(len(s.affinity) == 0 && matchesAllTerms(pi.RequiredAffinity, pod, s.podNS)) {
		return NewStatus(UnschedulableAndUnresolvable, ReasonAffinityRules)
	}
	// The pod's anti-affinity: no term's domain may hold a selected pod.
	for _, t := range pi.RequiredAntiAffinity {
		if v, ok := nodeLabels[t.TopologyKey]; ok && s.anti[topologyPair{t.TopologyKey, v}] > 0 {
			return NewStatus(Unschedulable, ReasonAntiAffinityRules)
		}
	}
	// The existing pods' anti-affinity against this pod.
	if len(s.existingAnti) > 0 {
		for k, v := range nodeLabels {
			if s.existingAnti[topologyPair{k, v}] > 0 {
				return NewStatus(Unschedulable, ReasonExistingAntiAffRule)
			}
		}
	}
	return nil
}

// EventsToRegister implements EnqueuePlugin.
func (InterPodAffinity) EventsToRegister() []ClusterEvent {
	return []ClusterEvent{NodeAdd, NodeLabelChange, AssignedPodAdd, AssignedPodUpdate, AssignedPodDelete, NamespaceChange}
}

// PodTopologySpread enforces the pod's topologySpreadConstraints with
// whenUnsatisfiable: DoNotSchedule: in each domain of topologyKey, the
// pods the labelSelector picks (in the pod's namespace) may outnumber the
// emptiest domain by at most maxSkew, counting the pod itself. Only nodes
// that match the pod's node selector and affinity count as domains
// (nodeAffinityPolicy Honor, the default); nodeTaintsPolicy Honor also
// leaves out nodes with taints the pod does not tolerate. A node without
// the topologyKey label cannot take the pod. (Constraints with
// ScheduleAnyway only score, and tinykube does not score them.)
//
// Reference: https://kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints/
type PodTopologySpread struct{}

type spreadConstraint struct {
	maxSkew     int32
	key         string
	selector    labels.Selector
	minDomains  int32
	honorTaints bool
	ignoreAff   bool
}

type spreadState struct {
	constraints []spreadConstraint
	counts      map[topologyPair]int32 // matching pods per domain
	domains     map[string]int32       // topology key → number of domains
	minMatch    map[string]int32       // topology key → the fewest matching pods in a domain
}

// Name implements Plugin.
func (PodTopologySpread) Name() string { return NamePodTopologySpread }

// PreFilter implements PreFilterPlugin.
func (PodTopologySpread) PreFilter(state *CycleState, pod *corev1.Pod, snap *Snapshot) *Status {
	var cs []spreadConstraint
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != corev1.DoNotSchedule {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			return AsStatus(err)
		}
		// matchLabelKeys: the pod's own values of these labels join the
		// selector (pods of the same revision spread among themselves).
		for _, key := range c.MatchLabelKeys {
			if v, ok := pod.Labels[key]; ok {
				r, err := labels.NewRequirement(key, selection.Equals, []string{v})
				if err != nil {
					return AsStatus(err)
				}
				sel = sel.Add(*r)
			}
		}
		sc := spreadConstraint{maxSkew: c.MaxSkew, key: c.TopologyKey, selector: sel, minDomains: 1}
		if c.MinDomains != nil {
			sc.minDomains = *c.MinDomains
		}
		sc.honorTaints = c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor
		sc.ignoreAff = c.NodeAffinityPolicy != nil && *c.NodeAffinityPolicy == corev1.NodeInclusionPolicyIgnore
		cs = append(cs, sc)
	}
	if len(cs) == 0 {
		return nil
	}
	s := &spreadState{constraints: cs, counts: map[topologyPair]int32{}, domains: map[string]int32{}, minMatch: map[string]int32{}}
	for _, n := range snap.Nodes {
		for _, c := range cs {
			v, ok := n.Node.Labels[c.key]
			if !ok || (!c.ignoreAff && !MatchesNodeSelectorAndAffinity(pod, n.Node)) ||
				(c.honorTaints && untoleratedNoScheduleTaint(pod, n.Node)) {
				continue
			}
			pair := topologyPair{c.key, v}
			if _, seen := s.counts[pair]; !seen {
				s.domains[c.key]++
			}
			s.counts[pair] += countMatching(n, pod.Namespace, c.selector)
		}
	}
	for _, c := range cs {
		s.minMatch[c.key] = math.MaxInt32
	}
	for pair, count := range s.counts {
		s.minMatch[pair.key] = min(s.minMatch[pair.key], count)
	}
	state.Write(NamePodTopologySpread, s)
	return nil
}

// countMatching counts the pods on n in namespace that sel picks, leaving
// out those being deleted.
func countMatching(n *NodeInfo, namespace string, sel labels.Selector) int32 {
	var count int32
	for _, p := range n.Pods {
		if p.Pod.Namespace == namespace && p.Pod.DeletionTimestamp == nil && sel.Matches(labels.Set(p.Pod.Labels)) {
			count++
		}
	}
	return count
}

// Filter implements FilterPlugin.
func (PodTopologySpread) Filter(state *CycleState, pod *corev1.Pod, n *NodeInfo) *Status {
	s, _ := state.Read(NamePodTopologySpread).(*spreadState)
	if s == nil {
		return nil
	}
	for _, c := range s.constraints {
		v, ok := n.Node.Labels[c.key]
		if !ok {
			return NewStatus(UnschedulableAndUnresolvable, ReasonTopologyLabel)
		}
		var self int32
		if c.selector.Matches(labels.Set(pod.Labels)) {
			self = 1
		}
		minMatch := s.minMatch[c.key]
		if s.domains[c.key] < c.minDomains {
			// Fewer domains than minDomains: the missing ones count as
			// empty.
			minMatch = 0
		}
		if s.counts[topologyPair{c.key, v}]+self-minMatch > c.maxSkew {
			return NewStatus(Unschedulable, ReasonTopologySpread)
		}
	}
	return nil
}

// EventsToRegister implements EnqueuePlugin.
func (PodTopologySpread) EventsToRegister() []ClusterEvent {
	return []ClusterEvent{NodeAdd, NodeLabelChange, NodeTaintChange, NodeDelete, AssignedPodAdd, AssignedPodUpdate, AssignedPodDelete}
}

// OwnerSpread scores nodes by how few pods of the pod's owner (its
// ReplicaSet, ReplicationController, StatefulSet, Job...: its controller
// ownerReference) they run already: the replicas of one workload spread
// over the nodes, so losing a node loses few of them. Kubernetes gets the
// same effect from the default constraints of PodTopologySpread (and,
// before, from the SelectorSpread plugin), which pick the pods by the
// selectors of the Services and controllers that match the pod; tinykube
// simply follows the owner. A pod without an owner is skipped.
type OwnerSpread struct{}

// Name implements Plugin.
func (OwnerSpread) Name() string { return NameOwnerSpread }

// PreScore implements PreScorePlugin.
func (OwnerSpread) PreScore(state *CycleState, _ *corev1.Pod, _ []*NodeInfo, _ *Snapshot) *Status {
	if state.PodInfo.Owner == "" {
		return NewStatus(Skip)
	}
	return nil
}

// Score implements ScorePlugin: the number of the owner's pods on the
// node.
func (OwnerSpread) Score(state *CycleState, pod *corev1.Pod, n *NodeInfo) (int64, *Status) {
	var count int64
	for _, p := range n.Pods {
		if p.Owner == state.PodInfo.Owner && p.Pod.Namespace == pod.Namespace && p.Pod.DeletionTimestamp == nil {
			count++
		}
	}
	return count, nil
}

// NormalizeScore implements NormalizeScorePlugin: fewest → 100.
func (OwnerSpread) NormalizeScore(_ *CycleState, _ *corev1.Pod, scores []NodeScore) *Status {
	defaultNormalizeScore(true, scores)
	return nil
}
