package scheduler

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"math/rand"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestScores(t *testing.T) {
	// Each score plugin alone (weight 1), after normalisation.
	tests := []struct {
		name     string
		plugin   Plugin
		nodes    []*corev1.Node
		existing []*corev1.Pod
		pod      *corev1.Pod
		want     []int64 // per node, in name order; nil: the plugin skips the pod
	}{
		{"least allocated: (50% cpu + 75% memory free) / 2", NodeResourcesFit{},
			[]*corev1.Node{node("n1", "2", "4Gi")}, nil, pod("p", requests("1", "1Gi")), []int64{62}},
		{"least allocated counts 100m/200Mi for pods that state nothing", NodeResourcesFit{},
			[]*corev1.Node{node("n1", "1", "1000Mi"), node("n2", "1", "1000Mi")}, []*corev1.Pod{pod("a", on("n1"))}, pod("p"),
			[]int64{(80 + 60) / 2, (90 + 80) / 2}},
		{"balanced: 50% cpu and 25% memory used → 1 − 0.125", BalancedAllocation{},
			[]*corev1.Node{node("n1", "2", "4Gi")}, nil, pod("p", requests("1", "1Gi")), []int64{87}},
		{"balanced skips a pod that requests nothing", BalancedAllocation{},
			[]*corev1.Node{node("n1", "2", "4Gi")}, nil, pod("p"), nil},
		{"preferred node affinity: weights, the best → 100", NodeAffinity{},
			[]*corev1.Node{node("n1", "1", "1Gi", withLabels("disk", "ssd")), node("n2", "1", "1Gi"), node("n3", "1", "1Gi")}, nil,
			pod("p", preferredNodeAffinity(5, expr("disk", corev1.NodeSelectorOpIn, "ssd")), preferredNodeAffinity(3, expr("kubernetes.io/hostname", corev1.NodeSelectorOpIn, "n2"))),
			[]int64{100, 60, 0}},
		{"PreferNoSchedule taints: fewest untolerated → 100", TaintToleration{},
			[]*corev1.Node{
				node("n1", "1", "1Gi", withTaint("a", "", corev1.TaintEffectPreferNoSchedule), withTaint("b", "", corev1.TaintEffectPreferNoSchedule)),
				node("n2", "1", "1Gi", withTaint("a", "", corev1.TaintEffectPreferNoSchedule), withTaint("c", "", corev1.TaintEffectPreferNoSchedule)),
				node("n3", "1", "1Gi"),
			}, nil, pod("p", toleration("b", "", corev1.TaintEffectPreferNoSchedule)), []int64{50, 0, 100}},
		{"image locality: 500MB on half the nodes → 250MB → (250−23)/(1000−23)", ImageLocality{},
			[]*corev1.Node{node("n1", "1", "1Gi", withImage(500*mb, "docker.io/library/busybox:latest", "busybox")), node("n2", "1", "1Gi")}, nil,
			pod("p"), []int64{23, 0}},
		{"owner spread: fewest pods of the owner → 100", OwnerSpread{},
			[]*corev1.Node{node("n1", "1", "1Gi"), node("n2", "1", "1Gi"), node("n3", "1", "1Gi")},
			[]*corev1.Pod{pod("a", ownedBy("rs1"), on("n1")), pod("b", ownedBy("rs1"), on("n1")), pod("c", ownedBy("rs1"), on("n2")), pod("d", ownedBy("rs2"), on("n3"))},
			pod("p", ownedBy("rs1")), []int64{0, 50, 100}},
		{"owner spread skips a pod without owner", OwnerSpread{},
			[]*corev1.Node{node("n1", "1", "1Gi")}, nil, pod("p"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := NewSnapshot(tt.nodes, tt.existing)
			pi, _ := NewPodInfo(tt.pod)
			scores, err := NewFramework([]Registered{{tt.plugin, 1}}).RunScore(NewCycleState(pi), tt.pod, snap.Nodes, snap)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, s := range scores {
				got = append(got, s.Score)
			}
			if tt.want == nil {
				tt.want = make([]int64, len(tt.nodes)) // skipped: every node 0
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("scores (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScheduleFailureMessages(t *testing.T) {
	// The FailedScheduling messages, word for word as kube-scheduler's.
	// Reference: chapters/04-scheduler, "When nothing fits".
	two := func(opts ...nodeOpt) []*corev1.Node {
		return []*corev1.Node{node("node1", "2", "4Gi", opts...), node("node2", "2", "4Gi")}
	}
	tests := []struct {
		name     string
		nodes    []*corev1.Node
		existing []*corev1.Pod
		pod      *corev1.Pod
		want     string
	}{
		{"one node too full, the other not selected", two(), []*corev1.Pod{pod("big", requests("1500m", ""), on("node2"))},
			pod("p", requests("1", ""), nodeSelector("kubernetes.io/hostname", "node2")),
			"0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector. " +
				"preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."},
		{"larger than any node", two(), nil, pod("p", requests("3", "")),
			"0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."},
		{"both resources short", two(), []*corev1.Pod{pod("a", requests("2", "3Gi"), on("node1")), pod("b", requests("2", "3Gi"), on("node2"))},
			pod("p", requests("1", "2Gi")),
			"0/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."},
		{"a taint and a selector", two(withTaint("dedicated", "db", corev1.TaintEffectNoSchedule)), nil,
			pod("p", nodeSelector("kubernetes.io/hostname", "node1"), toleration("other", "", "")),
			"0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {dedicated: db}. " +
				"preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."},
		{"label nobody has", two(), nil, pod("p", nodeSelector("disk", "ssd")),
			"0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."},
		{"preemptionPolicy Never", two(), []*corev1.Pod{pod("a", requests("2", ""), on("node1")), pod("b", requests("2", ""), on("node2"))},
			pod("p", requests("1", ""), priority(10), func(p *corev1.Pod) { p.Spec.PreemptionPolicy = ptr.To(corev1.PreemptNever) }),
			"0/2 nodes are available: 2 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."},
		{"cordoned and full", two(cordoned()), []*corev1.Pod{pod("a", requests("2", ""), on("node2"))}, pod("p", requests("1", "")),
			"0/2 nodes are available: 1 Insufficient cpu, 1 node(s) were unschedulable. " +
				"preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."},
		{"host port taken everywhere", two(), []*corev1.Pod{pod("a", hostPort(80, "", ""), on("node1")), pod("b", hostPort(80, "", ""), on("node2"))},
			pod("p", hostPort(80, "", "")),
			"0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := defaultAlgorithm()
			snap := NewSnapshot(tt.nodes, tt.existing)
			res, err := a.Schedule(tt.pod, snap)
			var fitErr *FitError
			if !errors.As(err, &fitErr) {
				t.Fatalf("Schedule = %+v, %v; want a FitError", res, err)
			}
			if p := a.Preempt(tt.pod, snap, fitErr); p != nil {
				t.Fatalf("Preempt = %+v, want nothing", p)
			}
			if got := fitErr.Error(); got != tt.want {
				t.Errorf("message:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestScheduleNoNodes(t *testing.T) {
	if _, err := defaultAlgorithm().Schedule(pod("p"), NewSnapshot(nil, nil)); !errors.Is(err, ErrNoNodesAvailable) {
		t.Errorf("Schedule on no nodes = %v, want ErrNoNodesAvailable", err)
	}
}

func TestSchedulePicks(t *testing.T) {
	tests := []struct {
		name     string
		nodes    []*corev1.Node
		existing []*corev1.Pod
		pod      *corev1.Pod
		want     string
	}{
		{"the emptier node", []*corev1.Node{node("n1", "2", "4Gi"), node("n2", "2", "4Gi")},
			[]*corev1.Pod{pod("a", requests("1", "1Gi"), on("n1"))}, pod("p", requests("500m", "512Mi")), "n2"},
		{"the emptier node, pods that state nothing", []*corev1.Node{node("n1", "2", "4Gi"), node("n2", "2", "4Gi")},
			[]*corev1.Pod{pod("a", on("n2"))}, pod("p"), "n1"},
		{"the only node that fits", []*corev1.Node{node("n1", "2", "4Gi"), node("n2", "2", "4Gi")},
			[]*corev1.Pod{pod("a", requests("1500m", ""), on("n2"))}, pod("p", requests("1", "")), "n1"},
		{"preferred affinity beats free room", []*corev1.Node{node("n1", "2", "4Gi", withLabels("disk", "ssd")), node("n2", "2", "4Gi")},
			[]*corev1.Pod{pod("a", requests("1", "1Gi"), on("n1"))}, pod("p", preferredNodeAffinity(10, expr("disk", corev1.NodeSelectorOpIn, "ssd"))), "n1"},
		{"away from a PreferNoSchedule taint", []*corev1.Node{node("n1", "2", "4Gi", withTaint("soft", "", corev1.TaintEffectPreferNoSchedule)), node("n2", "2", "4Gi")},
			[]*corev1.Pod{pod("a", requests("1", "1Gi"), on("n2"))}, pod("p"), "n2"},
		{"toleration opens a tainted node", []*corev1.Node{node("n1", "2", "4Gi", withTaint("dedicated", "db", corev1.TaintEffectNoSchedule)), node("n2", "2", "4Gi")},
			[]*corev1.Pod{pod("a", requests("1500m", ""), on("n2"))}, pod("p", requests("1", ""), toleration("dedicated", "db", corev1.TaintEffectNoSchedule)), "n1"},
		{"away from its owner's other pods", []*corev1.Node{node("n1", "2", "4Gi"), node("n2", "2", "4Gi")},
			[]*corev1.Pod{pod("a", ownedBy("rs1"), on("n1")), pod("b", on("n2")), pod("c", on("n2"))}, pod("p", ownedBy("rs1")), "n2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := defaultAlgorithm().Schedule(tt.pod, NewSnapshot(tt.nodes, tt.existing))
			if err != nil {
				t.Fatal(err)
			}
			if res.Node != tt.want {
				t.Errorf("Schedule picked %s (scores %v), want %s", res.Node, res.Scores, tt.want)
			}
		})
	}
}

func TestScheduleSpreadsWithAssumedPods(t *testing.T) {
	// Six pods, one after another, each assumed before the next: three on
	// each node, whatever the tie-breaks.
	// Reference: chapters/04-scheduler, scenario schedule_spread.
	for seed := range int64(5) {
		c := NewCache()
		c.AddNode(node("node1", "2", "8Gi"))
		c.AddNode(node("node2", "2", "8Gi"))
		a := defaultAlgorithm()
		a.Rand = newRand(seed)
		snap := &Snapshot{}
		count := map[string]int{}
		for i := range 6 {
			p := pod(fmt.Sprintf("p%d", i))
			c.UpdateSnapshot(snap)
			res, err := a.Schedule(p, snap)
			if err != nil {
				t.Fatal(err)
			}
			p.Spec.NodeName = res.Node
			if err := c.AssumePod(p); err != nil {
				t.Fatal(err)
			}
			count[res.Node]++
		}
		if count["node1"] != 3 || count["node2"] != 3 {
			t.Errorf("seed %d: pods per node %v, want 3 and 3", seed, count)
		}
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	tests := []struct {
		percentage int32
		nodes      int
		want       int
	}{
		{0, 10, 10}, {0, 99, 99}, {0, 100, 100}, {0, 1000, 420}, {0, 5000, 500}, {0, 10000, 500},
		{100, 1000, 1000}, {10, 500, 100}, {30, 1000, 300},
	}
	for _, tt := range tests {
		a := &Algorithm{PercentageOfNodesToScore: tt.percentage}
		if got := a.numFeasibleNodesToFind(tt.nodes); got != tt.want {
			t.Errorf("percentage %d, %d nodes: %d, want %d", tt.percentage, tt.nodes, got, tt.want)
		}
	}
}

func TestScheduleSearchResumesWhereItStopped(t *testing.T) {
	var nodes []*corev1.Node
	for i := range 300 {
		nodes = append(nodes, node(fmt.Sprintf("n%03d", i), "2", "4Gi"))
	}
	snap := NewSnapshot(nodes, nil)
	a := defaultAlgorithm()
	a.PercentageOfNodesToScore = 50 // 150 nodes each time
	for round, want := range []int{0, 150, 0} {
		if a.nextStartNodeIndex != want {
			t.Fatalf("round %d starts at %d, want %d", round, a.nextStartNodeIndex, want)
		}
		res, err := a.Schedule(pod("p"), snap)
		if err != nil {
			t.Fatal(err)
		}
		if res.Evaluated != 150 || res.Feasible != 150 {
			t.Errorf("round %d: evaluated %d, feasible %d; want 150 and 150", round, res.Evaluated, res.Feasible)
		}
	}
}

func TestPreempt(t *testing.T) {
	// Reference: https://kubernetes.io/docs/concepts/scheduling-eviction/pod-priority-preemption/
	tests := []struct {
		name        string
		nodes       []*corev1.Node
		existing    []*corev1.Pod
		pod         *corev1.Pod
		wantNode    string
		wantVictims []string
		wantMsg     string // when nothing can be preempted
	}{
		{"the fewest, least important victims",
			[]*corev1.Node{node("n1", "2", "4Gi")},
			[]*corev1.Pod{pod("a", requests("500m", ""), priority(1), on("n1")), pod("b", requests("500m", ""), priority(0), on("n1")), pod("c", requests("1", ""), priority(5), on("n1"))},
			pod("p", requests("500m", ""), priority(3)), "n1", []string{"b"}, ""},
		{"the node whose most important victim matters least",
			[]*corev1.Node{node("n1", "1", "4Gi"), node("n2", "1", "4Gi")},
			[]*corev1.Pod{pod("a", requests("1", ""), priority(2), on("n1")), pod("b", requests("1", ""), priority(1), on("n2"))},
			pod("p", requests("1", ""), priority(3)), "n2", []string{"b"}, ""},
		{"equal priority is no victim",
			[]*corev1.Node{node("n1", "1", "4Gi")},
			[]*corev1.Pod{pod("a", requests("1", ""), priority(3), on("n1"))},
			pod("p", requests("1", ""), priority(3)), "", nil,
			"preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."},
		{"removing every victim is not enough",
			[]*corev1.Node{node("n1", "2", "4Gi")},
			[]*corev1.Pod{pod("a", requests("500m", ""), priority(1), on("n1")), pod("c", requests("1500m", ""), priority(9), on("n1"))},
			pod("p", requests("1", ""), priority(3)), "", nil,
			"preemption: 0/1 nodes are available: 1 Insufficient cpu."},
		{"waiting for its victims to go",
			[]*corev1.Node{node("n1", "1", "4Gi")},
			[]*corev1.Pod{pod("a", requests("1", ""), priority(1), on("n1"), func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(p.CreationTimestamp) })},
			pod("p", requests("1", ""), priority(3), func(p *corev1.Pod) { p.Status.NominatedNodeName = "n1" }), "", nil,
			"preemption: not eligible due to a terminating pod on the nominated node."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := defaultAlgorithm()
			snap := NewSnapshot(tt.nodes, tt.existing)
			_, err := a.Schedule(tt.pod, snap)
			var fitErr *FitError
			if !errors.As(err, &fitErr) {
				t.Fatalf("Schedule: %v, want a FitError", err)
			}
			p := a.Preempt(tt.pod, snap, fitErr)
			if tt.wantNode == "" {
				if p != nil {
					t.Fatalf("Preempt = %+v, want nothing", p)
				}
				if fitErr.PostFilterMsg != tt.wantMsg {
					t.Errorf("PostFilterMsg = %q, want %q", fitErr.PostFilterMsg, tt.wantMsg)
				}
				return
			}
			if p == nil {
				t.Fatalf("Preempt = nil (%s), want victims on %s", fitErr.PostFilterMsg, tt.wantNode)
			}
			var victims []string
			for _, v := range p.Victims {
				victims = append(victims, v.Name)
			}
			slices.Sort(victims)
			if p.Node != tt.wantNode || !slices.Equal(victims, tt.wantVictims) {
				t.Errorf("Preempt = %s %v, want %s %v", p.Node, victims, tt.wantNode, tt.wantVictims)
			}
		})
	}
}

func newRand(seed int64) *rand.Rand { return rand.New(rand.NewSource(seed)) }
