package scheduler

import (
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Preemption is what DefaultPreemption decided for a pod no node could
// take: make room on Node by deleting Victims (pods of lower priority). The
// pod is not bound yet: it waits, nominated to Node
// (status.nominatedNodeName), until the victims are gone, and is then
// scheduled like any other pod.
type Preemption struct {
	Node    string
	Victims []*corev1.Pod
}

// Messages of DefaultPreemption, word for word as kube-scheduler's.
const (
	reasonNotHelpful       = "Preemption is not helpful for scheduling"
	reasonNoVictims        = "No preemption victims found for incoming pod"
	msgPreemptionNever     = "not eligible due to preemptionPolicy=Never."
	msgTerminatingOnNomNod = "not eligible due to a terminating pod on the nominated node."
)

// Preempt is the PostFilter step, kube-scheduler's DefaultPreemption: when
// no node fits a pod, could deleting pods of lower priority make one fit?
//
//  1. A pod with preemptionPolicy Never may not preempt; nor may a pod
//     whose earlier victims, on its nominated node, are still terminating.
//  2. Nodes that failed for a reason no deletion can change
//     (UnschedulableAndUnresolvable: a label, a taint, a request larger
//     than the node) are not helpful.
//  3. On every other node, take away every pod of lower priority. If the
//     pod still does not fit, the node is out. If it fits, give the
//     removed pods back one at a time, most important first, keeping
//     each that still leaves room: the rest are the victims.
//  4. Of the nodes that work, prefer the one whose most important victim
//     is least important, then the smallest sum of victim priorities, then
//     the fewest victims.
//
// When no node works, Preempt returns nil and sets fitErr.PostFilterMsg to
// its account of each node, which ends the FailedScheduling message.
//
// tinykube leaves out PodDisruptionBudgets and does not tell the filters
// that victims left (kube-scheduler's PreFilterExtensions): a pod that only
// fails inter-pod (anti-)affinity or topology spread is not helped by
// preemption here.
func (a *Algorithm) Preempt(pod *corev1.Pod, snap *Snapshot, fitErr *FitError) *Preemption {
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == corev1.PreemptNever {
		fitErr.PostFilterMsg = "preemption: " + msgPreemptionNever
		return nil
	}
	prio := podPriority(pod)
	if nom := snap.Get(pod.Status.NominatedNodeName); nom != nil {
		if s := fitErr.NodeStatuses[nom.Name()]; s == nil || s.Code != UnschedulableAndUnresolvable {
			for _, p := range nom.Pods {
				if p.Pod.DeletionTimestamp != nil && podPriority(p.Pod) < prio {
					fitErr.PostFilterMsg = "preemption: " + msgTerminatingOnNomNod
					return nil
				}
			}
		}
	}

	type candidate struct {
		node    string
		victims []*corev1.Pod
	}
	var candidates []candidate
	statuses := map[string]*Status{}
	for _, n := range snap.Nodes {
		s := fitErr.NodeStatuses[n.Name()]
		if fitErr.state == nil || s == nil || s.Code != Unschedulable {
			statuses[n.Name()] = NewStatus(UnschedulableAndUnresolvable, reasonNotHelpful)
			continue
		}
		victims, s := a.selectVictims(fitErr.state, pod, n, prio)
		if !s.IsSuccess() {
			statuses[n.Name()] = s
			continue
		}
		candidates = append(candidates, candidate{n.Name(), victims})
	}
	if len(candidates) == 0 {
		fe := &FitError{NumAllNodes: len(snap.Nodes), NodeStatuses: statuses}
		fitErr.PostFilterMsg = "preemption: " + fe.Error()
		return nil
	}
	// The lexicographic order of step 4; ties keep the nodes' order.
	key := func(c candidate) [3]int64 {
		highest, sum := int64(-1<<31), int64(0)
		for _, v := range c.victims {
			highest = max(highest, int64(podPriority(v)))
			sum += int64(podPriority(v)) + 1<<31 // as kube-scheduler: shifted, so that negative priorities do not favour more victims
		}
		return [3]int64{highest, sum, int64(len(c.victims))}
	}
	best := slices.MinFunc(candidates, func(x, y candidate) int {
		kx, ky := key(x), key(y)
		for i := range kx {
			if kx[i] != ky[i] {
				if kx[i] < ky[i] {
					return -1
				}
				return 1
			}
		}
		return 0
	})
	return &Preemption{Node: best.node, Victims: best.victims}
}

// selectVictims finds the fewest, least important pods to remove from n so
// that pod fits (step 3 of Preempt).
func (a *Algorithm) selectVictims(state *CycleState, pod *corev1.Pod, n *NodeInfo, prio int32) ([]*corev1.Pod, *Status) {
	trial := n.Clone()
	var potential []*PodInfo
	for _, p := range n.Pods {
		if podPriority(p.Pod) < prio {
			potential = append(potential, p)
			trial.RemovePod(p.Pod.UID)
		}
	}
	if len(potential) == 0 {
		return nil, NewStatus(UnschedulableAndUnresolvable, reasonNoVictims)
	}
	if s := a.Framework.RunFilter(state, pod, trial); !s.IsSuccess() {
		return nil, s
	}
	// Most important first: higher priority, then the one that started
	// earlier.
	slices.SortStableFunc(potential, func(x, y *PodInfo) int {
		if px, py := podPriority(x.Pod), podPriority(y.Pod); px != py {
			return int(py) - int(px)
		}
		return startTime(x.Pod).Compare(startTime(y.Pod))
	})
	var victims []*corev1.Pod
	for _, p := range potential {
		trial.AddPod(p)
		if !a.Framework.RunFilter(state, pod, trial).IsSuccess() {
			trial.RemovePod(p.Pod.UID)
			victims = append(victims, p.Pod)
		}
	}
	return victims, nil
}

// startTime is when a pod started, or was created if it has not.
func startTime(pod *corev1.Pod) time.Time {
	if pod.Status.StartTime != nil {
		return pod.Status.StartTime.Time
	}
	return pod.CreationTimestamp.Time
}
