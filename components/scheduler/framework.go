package scheduler

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// MaxNodeScore is the highest score a score plugin gives a node, after
// normalisation; 0 is the lowest.
const MaxNodeScore int64 = 100

// Code is what a plugin says about a pod (and a node).
type Code int

// The codes, as in kube-scheduler's framework.
const (
	// Success: the pod may go on (or: may go on this node).
	Success Code = iota
	// Unschedulable: the pod does not fit this node now, but a change on
	// the node could make it fit: a pod leaving it, say. Preemption may
	// help.
	Unschedulable
	// UnschedulableAndUnresolvable: the pod does not fit this node, and
	// removing pods from it would not help (a label it lacks, a taint it
	// has). Preemption skips the node.
	UnschedulableAndUnresolvable
	// Error: something went wrong; the pod is retried after a backoff.
	Error
	// Skip: from PreScore, "I have nothing to say about this pod": the
	// plugin's Score is not called for it.
	Skip
)

var codeNames = [...]string{"Success", "Unschedulable", "UnschedulableAndUnresolvable", "Error", "Skip"}

// String names the code.
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Status is a plugin's verdict. A nil *Status means Success.
type Status struct {
	Code Code
	// Reasons are what a user reads, in Kubernetes' own words ("Insufficient
	// cpu"). A node's reasons are counted into the FailedScheduling message.
	Reasons []string
	// Plugin names the plugin that gave the status; the framework sets it.
	Plugin string
	// Err is the error behind an Error status.
	Err error
}

// NewStatus returns a status with code and reasons.
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{Code: code, Reasons: reasons}
}

// AsStatus wraps an error as an Error status.
func AsStatus(err error) *Status {
	return &Status{Code: Error, Reasons: []string{err.Error()}, Err: err}
}

// IsSuccess reports whether s is nil or Success.
func (s *Status) IsSuccess() bool { return s == nil || s.Code == Success }

// IsRejected reports whether s says the pod does not fit.
func (s *Status) IsRejected() bool {
	return s != nil && (s.Code == Unschedulable || s.Code == UnschedulableAndUnresolvable)
}

// Message joins the reasons.
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.Reasons, ", ")
}

// Plugin is what every plugin is: a name.
type Plugin interface {
	Name() string
}

// PreFilterPlugin runs once per pod, before any node is looked at: it
// checks the pod itself and computes what its Filter needs (counts over
// the whole cluster, parsed selectors) into the cycle state.
type PreFilterPlugin interface {
	Plugin
	PreFilter(state *CycleState, pod *corev1.Pod, snap *Snapshot) *Status
}

// FilterPlugin says whether the pod may run on one node. It is called for
// many nodes, maybe concurrently: it must only read the state and the
// node. A rejection carries reasons in Kubernetes' words.
type FilterPlugin interface {
	Plugin
	Filter(state *CycleState, pod *corev1.Pod, node *NodeInfo) *Status
}

// PreScorePlugin runs once per pod, with the nodes that passed every
// filter, before scoring. It may return Skip: its Score is then not
// called for this pod.
type PreScorePlugin interface {
	Plugin
	PreScore(state *CycleState, pod *corev1.Pod, nodes []*NodeInfo, snap *Snapshot) *Status
}

// ScorePlugin ranks a feasible node: any non-negative number, made
// 0..MaxNodeScore by NormalizeScore if the plugin has one, then
// multiplied by the plugin's weight.
type ScorePlugin interface {
	Plugin
	Score(state *CycleState, pod *corev1.Pod, node *NodeInfo) (int64, *Status)
}

// NormalizeScorePlugin is a ScorePlugin whose raw scores (a count, a sum
// of weights) are turned into 0..MaxNodeScore once every node is scored.
type NormalizeScorePlugin interface {
	ScorePlugin
	NormalizeScore(state *CycleState, pod *corev1.Pod, scores []NodeScore) *Status
}

// EnqueuePlugin is a plugin that can reject a pod and says which cluster
// events could change its mind: the queue moves a pod it rejected back to
// scheduling only on those. (kube-scheduler: EnqueueExtensions.)
type EnqueuePlugin interface {
	Plugin
	EventsToRegister() []ClusterEvent
}

// NodeScore is one node's score.
type NodeScore struct {
	Name  string
	Score int64
}

// CycleState is what the plugins compute for one pod in one scheduling
// cycle (PreFilter for Filter, PreScore for Score), keyed by plugin name.
// It is written before the nodes are looked at and only read after, so
// Filter and Score may read it from several goroutines.
type CycleState struct {
	// PodInfo is the pod being scheduled, worked out once for every
	// plugin.
	PodInfo *PodInfo
	data    map[string]any
}

// NewCycleState returns the state of a cycle for pi's pod.
func NewCycleState(pi *PodInfo) *CycleState { return &CycleState{PodInfo: pi, data: map[string]any{}} }

// Write stores v under key.
func (c *CycleState) Write(key string, v any) { c.data[key] = v }

// Read returns what is stored under key, or nil.
func (c *CycleState) Read(key string) any { return c.data[key] }

// Framework runs a profile's plugins at each extension point, in the order
// they were registered (registry.go).
type Framework struct {
	preFilter []PreFilterPlugin
	filter    []FilterPlugin
	preScore  []PreScorePlugin
	score     []weightedScore
	enqueue   []EnqueuePlugin
}

type weightedScore struct {
	plugin ScorePlugin
	weight int64
}

// Registered is a plugin with its score weight (0 if it does not score).
type Registered struct {
	Plugin Plugin
	Weight int64
}

// NewFramework builds a framework from plugins, each put at every
// extension point it implements.
func NewFramework(plugins []Registered) *Framework {
	f := &Framework{}
	for _, r := range plugins {
		if p, ok := r.Plugin.(PreFilterPlugin); ok {
			f.preFilter = append(f.preFilter, p)
		}
		if p, ok := r.Plugin.(FilterPlugin); ok {
			f.filter = append(f.filter, p)
		}
		if p, ok := r.Plugin.(PreScorePlugin); ok {
			f.preScore = append(f.preScore, p)
		}
		if p, ok := r.Plugin.(ScorePlugin); ok && r.Weight > 0 {
			f.score = append(f.score, weightedScore{p, r.Weight})
		}
		if p, ok := r.Plugin.(EnqueuePlugin); ok {
			f.enqueue = append(f.enqueue, p)
		}
	}
	return f
}

// RunPreFilter runs every PreFilter plugin; the first that does not
// succeed ends the run.
func (f *Framework) RunPreFilter(state *CycleState, pod *corev1.Pod, snap *Snapshot) *Status {
	for _, p := range f.preFilter {
		if s := p.PreFilter(state, pod, snap); !s.IsSuccess() {
			s.Plugin = p.Name()
			return s
		}
	}
	return nil
}

// RunFilter runs the Filter plugins on one node, in order, and returns
// the first rejection: like kube-scheduler, a node fails for one plugin's
// reasons only.
func (f *Framework) RunFilter(state *CycleState, pod *corev1.Pod, node *NodeInfo) *Status {
	for _, p := range f.filter {
		if s := p.Filter(state, pod, node); !s.IsSuccess() {
			s.Plugin = p.Name()
			return s
		}
	}
	return nil
}

// RunScore runs PreScore, then every Score plugin on every node,
// normalises, weighs and sums: one total per node, in nodes' order.
func (f *Framework) RunScore(state *CycleState, pod *corev1.Pod, nodes []*NodeInfo, snap *Snapshot) ([]NodeScore, error) {
	skip := map[string]bool{}
	for _, p := range f.preScore {
		s := p.PreScore(state, pod, nodes, snap)
		switch {
		case s.IsSuccess():
		case s.Code == Skip:
			skip[p.Name()] = true
		default:
			return nil, fmt.Errorf("prescore plugin %s: %s", p.Name(), s.Message())
		}
	}
	totals := make([]NodeScore, len(nodes))
	for i, n := range nodes {
		totals[i].Name = n.Name()
	}
	scores := make([]NodeScore, len(nodes))
	for _, ws := range f.score {
		if skip[ws.plugin.Name()] {
			continue
		}
		for i, n := range nodes {
			v, s := ws.plugin.Score(state, pod, n)
			if !s.IsSuccess() {
				return nil, fmt.Errorf("score plugin %s on node %s: %s", ws.plugin.Name(), n.Name(), s.Message())
			}
			scores[i] = NodeScore{Name: n.Name(), Score: v}
		}
		if np, ok := ws.plugin.(NormalizeScorePlugin); ok {
			if s := np.NormalizeScore(state, pod, scores); !s.IsSuccess() {
				return nil, fmt.Errorf("score plugin %s: normalize: %s", ws.plugin.Name(), s.Message())
			}
		}
		for i := range scores {
			if scores[i].Score < 0 || scores[i].Score > MaxNodeScore {
				return nil, fmt.Errorf("score plugin %s gave node %s the score %d, outside 0..%d", ws.plugin.Name(), scores[i].Name, scores[i].Score, MaxNodeScore)
			}
			totals[i].Score += scores[i].Score * ws.weight
		}
	}
	return totals, nil
}

// EventsFor returns, per plugin name, the cluster events that could make a
// pod it rejected schedulable.
func (f *Framework) EventsFor() map[string][]ClusterEvent {
	out := map[string][]ClusterEvent{}
	for _, p := range f.enqueue {
		out[p.Name()] = p.EventsToRegister()
	}
	return out
}

// defaultNormalizeScore scales scores so the highest becomes MaxNodeScore;
// with reverse, the highest becomes 0 and the lowest MaxNodeScore (for
// scores that count bad things). (kube-scheduler: helper.DefaultNormalizeScore.)
func defaultNormalizeScore(reverse bool, scores []NodeScore) {
	var highest int64
	for _, s := range scores {
		highest = max(highest, s.Score)
	}
	for i := range scores {
		switch {
		case highest == 0 && reverse:
			scores[i].Score = MaxNodeScore
		case highest == 0:
		case reverse:
			scores[i].Score = MaxNodeScore - MaxNodeScore*scores[i].Score/highest
		default:
			scores[i].Score = MaxNodeScore * scores[i].Score / highest
		}
	}
}
