package scheduler

import (
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ErrNoNodesAvailable is Schedule's error when the cluster has no node at
// all (kube-scheduler's words).
var ErrNoNodesAvailable = errors.New("no nodes available to schedule pods")

// Algorithm decides where one pod goes: PreFilter, Filter, Score, pick the
// best. It is pure: given a pod and a snapshot it reads nothing else and
// changes nothing, so that every decision can be replayed in a unit test.
// It is not safe for concurrent use (it remembers where the last search
// stopped).
type Algorithm struct {
	Framework *Framework
	// PercentageOfNodesToScore bounds the search in big clusters: once this
	// share of the nodes (at least 100) has passed the filters, the search
	// stops and only those are scored. 0 picks a share from the cluster's
	// size, as kube-scheduler does: 50% − 1% per 125 nodes, at least 5%;
	// 100 looks at every node.
	PercentageOfNodesToScore int32
	// Rand breaks ties between equally good nodes; nil uses a fixed seed.
	Rand *rand.Rand

	nextStartNodeIndex int
}

// Result is where a pod goes, and how the algorithm got there.
type Result struct {
	Node      string
	Evaluated int         // nodes the filters looked at
	Feasible  int         // nodes that passed them
	Scores    []NodeScore // each feasible node's total score; nil when only one passed
}

// FitError says why no node could take a pod. Its Error() is the message of
// the FailedScheduling event and of the pod's PodScheduled condition.
type FitError struct {
	Pod         *corev1.Pod
	NumAllNodes int
	// NodeStatuses holds every node's rejection.
	NodeStatuses map[string]*Status
	// PreFilterMsg is set when a PreFilter plugin rejected the pod before
	// any node was looked at.
	PreFilterMsg string
	// PostFilterMsg is preemption's account, when preemption found nothing
	// ("preemption: 0/2 nodes are available: ...").
	PostFilterMsg string
	// UnschedulablePlugins are the plugins that rejected the pod: the
	// queue retries it on the events they care about.
	UnschedulablePlugins map[string]bool

	state *CycleState // for preemption's dry runs
}

// Error builds kube-scheduler's message: "0/N nodes are available: ", then
// each reason with the number of nodes that gave it, sorted, then what
// preemption had to say:
//
//	0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's
//	node affinity/selector. preemption: 0/2 nodes are available: 1 No
//	preemption victims found for incoming pod, 1 Preemption is not helpful
//	for scheduling.
func (f *FitError) Error() string {
	msg := fmt.Sprintf("0/%d nodes are available:", f.NumAllNodes)
	if f.PreFilterMsg != "" {
		msg += " " + f.PreFilterMsg + "."
	} else {
		counts := map[string]int{}
		for _, s := range f.NodeStatuses {
			for _, r := range s.Reasons {
				counts[r]++
			}
		}
		var parts []string
		for r, n := range counts {
			parts = append(parts, fmt.Sprintf("%d %s", n, r))
		}
		sort.Strings(parts)
		if len(parts) > 0 {
			msg += " " + strings.Join(parts, ", ") + "."
		}
	}
	if f.PostFilterMsg != "" {
		msg += " " + f.PostFilterMsg
	}
	return msg
}

// Schedule finds a node for pod in snap. It returns a *FitError when no
// node fits, ErrNoNodesAvailable when there are no nodes, another error
// when a plugin failed.
func (a *Algorithm) Schedule(pod *corev1.Pod, snap *Snapshot) (Result, error) {
	if len(snap.Nodes) == 0 {
		return Result{}, ErrNoNodesAvailable
	}
	pi, err := NewPodInfo(pod)
	if err != nil {
		return Result{}, err
	}
	state := NewCycleState(pi)
	fitErr := &FitError{Pod: pod, NumAllNodes: len(snap.Nodes), NodeStatuses: map[string]*Status{}, UnschedulablePlugins: map[string]bool{}, state: state}

	// 1. PreFilter: the pod alone, once.
	if s := a.Framework.RunPreFilter(state, pod, snap); !s.IsSuccess() {
		if !s.IsRejected() {
			return Result{}, fmt.Errorf("prefilter plugin %s: %s", s.Plugin, s.Message())
		}
		fitErr.PreFilterMsg = s.Message()
		fitErr.UnschedulablePlugins[s.Plugin] = true
		for _, n := range snap.Nodes {
			fitErr.NodeStatuses[n.Name()] = s
		}
		return Result{}, fitErr
	}

	// 2. Filter: node by node, from where the last search stopped, until
	// enough nodes passed.
	feasible, evaluated, err := a.findFeasible(state, pod, snap, fitErr)
	if err != nil {
		return Result{}, err
	}
	if len(feasible) == 0 {
		return Result{}, fitErr
	}
	if len(feasible) == 1 {
		return Result{Node: feasible[0].Name(), Evaluated: evaluated, Feasible: 1}, nil
	}

	// 3. Score the nodes that passed, and take the best.
	scores, err := a.Framework.RunScore(state, pod, feasible, snap)
	if err != nil {
		return Result{}, err
	}
	return Result{Node: a.selectHost(scores), Evaluated: evaluated, Feasible: len(feasible), Scores: scores}, nil
}

// findFeasible runs the filters over the nodes. It records each rejection
// in fitErr.
func (a *Algorithm) findFeasible(state *CycleState, pod *corev1.Pod, snap *Snapshot, fitErr *FitError) ([]*NodeInfo, int, error) {
	all := len(snap.Nodes)
	want := a.numFeasibleNodesToFind(all)
	var feasible []*NodeInfo
	evaluated := 0
	start := a.nextStartNodeIndex % all
	for i := 0; i < all && len(feasible) < want; i++ {
		n := snap.Nodes[(start+i)%all]
		evaluated++
		s := a.Framework.RunFilter(state, pod, n)
		switch {
		case s.IsSuccess():
			feasible = append(feasible, n)
		case s.IsRejected():
			fitErr.NodeStatuses[n.Name()] = s
			fitErr.UnschedulablePlugins[s.Plugin] = true
		default:
			return nil, evaluated, fmt.Errorf("filter plugin %s on node %s: %s", s.Plugin, n.Name(), s.Message())
		}
	}
	// The next pod's search starts where this one stopped, so that in a big
	// cluster every node gets its turn.
	a.nextStartNodeIndex = (start + evaluated) % all
	return feasible, evaluated, nil
}

// numFeasibleNodesToFind is how many feasible nodes are enough: all of them
// in a cluster of under 100 nodes; in a bigger one a share of the nodes,
// never under 100.
func (a *Algorithm) numFeasibleNodesToFind(all int) int {
	const minNodes, minPercentage = 100, 5
	if all < minNodes {
		return all
	}
	percentage := int(a.PercentageOfNodesToScore)
	if percentage == 0 {
		percentage = max(50-all/125, minPercentage)
	}
	return max(all*percentage/100, minNodes)
}

// selectHost picks the node with the highest score; among equals, each has
// the same chance (reservoir sampling).
func (a *Algorithm) selectHost(scores []NodeScore) string {
	if a.Rand == nil {
		a.Rand = rand.New(rand.NewSource(1))
	}
	best, ties := scores[0], 1
	for _, s := range scores[1:] {
		switch {
		case s.Score > best.Score:
			best, ties = s, 1
		case s.Score == best.Score:
			ties++
			if a.Rand.Intn(ties) == 0 {
				best = s
			}
		}
	}
	return best.Name
}

// podPriority is a pod's spec.priority, 0 if unset.
func podPriority(pod *corev1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	return 0
}
