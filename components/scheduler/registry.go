package scheduler

// DefaultPlugins is the default profile: every plugin, in the order it
// runs at each extension point it implements, with its score weight (as in
// kube-scheduler's default profile). This is the one place plugins are
// registered: a plugin of your own goes in this list.
//
// The order matters for the filters: a node is rejected by the first
// filter that fails, and only that filter's reasons are counted in the
// FailedScheduling message. The cheap checks on the node alone come first.
//
// Three steps are not plugins here, because tinykube has one way of doing
// each: the queue's order (PrioritySort: Queue), PostFilter
// (DefaultPreemption: Algorithm.Preempt) and Bind (DefaultBinder: the
// pods/binding subresource, in the component).
func DefaultPlugins() []Registered {
	return []Registered{
		{NodeUnschedulable{}, 0},
		{NodeName{}, 0},
		{TaintToleration{}, 3},
		{NodeReady{}, 0},
		{NodeAffinity{}, 2},
		{NodePorts{}, 0},
		{NodeResourcesFit{}, 1},
		{PodTopologySpread{}, 0},
		{InterPodAffinity{}, 0},
		{BalancedAllocation{}, 1},
		{ImageLocality{}, 1},
		{OwnerSpread{}, 2},
	}
}

// Interface checks: each plugin implements the extension points it says.
var (
	_ FilterPlugin         = NodeUnschedulable{}
	_ FilterPlugin         = NodeName{}
	_ FilterPlugin         = TaintToleration{}
	_ NormalizeScorePlugin = TaintToleration{}
	_ PreScorePlugin       = TaintToleration{}
	_ FilterPlugin         = NodeReady{}
	_ FilterPlugin         = NodeAffinity{}
	_ NormalizeScorePlugin = NodeAffinity{}
	_ FilterPlugin         = NodePorts{}
	_ FilterPlugin         = NodeResourcesFit{}
	_ ScorePlugin          = NodeResourcesFit{}
	_ PreFilterPlugin      = PodTopologySpread{}
	_ FilterPlugin         = PodTopologySpread{}
	_ PreFilterPlugin      = InterPodAffinity{}
	_ FilterPlugin         = InterPodAffinity{}
	_ PreScorePlugin       = BalancedAllocation{}
	_ ScorePlugin          = BalancedAllocation{}
	_ PreScorePlugin       = ImageLocality{}
	_ ScorePlugin          = ImageLocality{}
	_ PreScorePlugin       = OwnerSpread{}
	_ NormalizeScorePlugin = OwnerSpread{}
	_ EnqueuePlugin        = NodeResourcesFit{}
)
