package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// Each filter, table by table: a pod, the node (and the pods on it), the
// verdict in Kubernetes' words.

func TestPodRequests(t *testing.T) {
	// Reference: https://kubernetes.io/docs/concepts/workloads/pods/init-containers/#resource-sharing-within-containers
	res := func(cpu string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}
	}
	always := ptr.To(corev1.ContainerRestartPolicyAlways)
	tests := []struct {
		name              string
		containers, inits []corev1.Container
		overhead          corev1.ResourceList
		podLevel          string
		want, wantNonZero int64 // milli CPU
	}{
		{name: "app containers add up", containers: []corev1.Container{{Resources: res("100m")}, {Resources: res("200m")}}, want: 300, wantNonZero: 300},
		{name: "none stated: nothing, 100m each for the scores", containers: []corev1.Container{{}, {}}, want: 0, wantNonZero: 200},
		{name: "an init container larger than the app's sum wins", containers: []corev1.Container{{Resources: res("100m")}}, inits: []corev1.Container{{Resources: res("500m")}, {Resources: res("300m")}}, want: 500, wantNonZero: 500},
		{name: "init containers smaller than the app's sum do not count", containers: []corev1.Container{{Resources: res("1")}}, inits: []corev1.Container{{Resources: res("500m")}}, want: 1000, wantNonZero: 1000},
		{name: "a sidecar adds to the app containers", containers: []corev1.Container{{Resources: res("1")}}, inits: []corev1.Container{{Resources: res("200m"), RestartPolicy: always}}, want: 1200, wantNonZero: 1200},
		{name: "a sidecar adds to the init containers after it", containers: []corev1.Container{{Resources: res("100m")}},
			inits: []corev1.Container{{Resources: res("200m"), RestartPolicy: always}, {Resources: res("1")}}, want: 1200, wantNonZero: 1200},
		{name: "an init container before the sidecar does not get it", containers: []corev1.Container{{Resources: res("100m")}},
			inits: []corev1.Container{{Resources: res("1")}, {Resources: res("200m"), RestartPolicy: always}}, want: 1000, wantNonZero: 1000},
		{name: "overhead adds", containers: []corev1.Container{{Resources: res("100m")}}, overhead: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}, want: 350, wantNonZero: 350},
		{name: "pod-level requests win", containers: []corev1.Container{{Resources: res("100m")}, {}}, podLevel: "2", want: 2000, wantNonZero: 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pod("p")
			p.Spec.Containers, p.Spec.InitContainers, p.Spec.Overhead = tt.containers, tt.inits, tt.overhead
			if tt.podLevel != "" {
				p.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(tt.podLevel)}}
			}
			if got := PodRequests(p, false).MilliCPU; got != tt.want {
				t.Errorf("PodRequests = %dm, want %dm", got, tt.want)
			}
			if got := PodRequests(p, true).MilliCPU; got != tt.wantNonZero {
				t.Errorf("PodRequests nonZero = %dm, want %dm", got, tt.wantNonZero)
			}
		})
	}
}

func TestNodeResourcesFitFilter(t *testing.T) {
	// Reference: chapters/04-scheduler, "Filtering".
	n := node("n1", "2", "4Gi")
	tests := []struct {
		name     string
		pod      *corev1.Pod
		existing []*corev1.Pod
		node     *corev1.Node
		want     string
	}{
		{"fits an empty node", pod("p", requests("1", "1Gi")), nil, n, "ok"},
		{"fits exactly", pod("p", requests("1", "1Gi")), []*corev1.Pod{pod("a", requests("1", "3Gi"), on("n1"))}, n, "ok"},
		{"cpu taken", pod("p", requests("1", "1Gi")), []*corev1.Pod{pod("a", requests("1500m", ""), on("n1"))}, n, "Unschedulable: Insufficient cpu"},
		{"cpu and memory taken", pod("p", requests("1", "2Gi")), []*corev1.Pod{pod("a", requests("1500m", "3Gi"), on("n1"))}, n, "Unschedulable: Insufficient cpu, Insufficient memory"},
		{"more than the whole node: unresolvable", pod("p", requests("3", "")), nil, n, "UnschedulableAndUnresolvable: Insufficient cpu"},
		{"requests nothing: fits a full node", pod("p"), []*corev1.Pod{pod("a", requests("2", "4Gi"), on("n1"))}, n, "ok"},
		{"too many pods", pod("p"), []*corev1.Pod{pod("a", on("n1"))}, node("n1", "2", "4Gi", withMaxPods(1)), "Unschedulable: Too many pods"},
		{"extended resource missing", func() *corev1.Pod {
			p := pod("p")
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{"example.com/gpu": resource.MustParse("1")}
			return p
		}(), nil, n, "UnschedulableAndUnresolvable: Insufficient example.com/gpu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := statusString(filterOne(NodeResourcesFit{}, tt.pod, []*corev1.Node{tt.node}, tt.existing, "n1"))
			if got != tt.want {
				t.Errorf("Filter = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTaintTolerationFilter(t *testing.T) {
	// Reference: https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/
	tests := []struct {
		name string
		node *corev1.Node
		pod  *corev1.Pod
		want string
	}{
		{"no taints", node("n1", "1", "1Gi"), pod("p"), "ok"},
		{"NoSchedule, not tolerated", node("n1", "1", "1Gi", withTaint("dedicated", "db", corev1.TaintEffectNoSchedule)), pod("p"),
			"UnschedulableAndUnresolvable: node(s) had untolerated taint {dedicated: db}"},
		{"NoExecute, not tolerated", node("n1", "1", "1Gi", withTaint("gone", "", corev1.TaintEffectNoExecute)), pod("p"),
			"UnschedulableAndUnresolvable: node(s) had untolerated taint {gone: }"},
		{"PreferNoSchedule only scores", node("n1", "1", "1Gi", withTaint("soft", "x", corev1.TaintEffectPreferNoSchedule)), pod("p"), "ok"},
		{"tolerated by Equal", node("n1", "1", "1Gi", withTaint("dedicated", "db", corev1.TaintEffectNoSchedule)),
			pod("p", toleration("dedicated", "db", corev1.TaintEffectNoSchedule)), "ok"},
		{"Equal with another value", node("n1", "1", "1Gi", withTaint("dedicated", "db", corev1.TaintEffectNoSchedule)),
			pod("p", toleration("dedicated", "web", corev1.TaintEffectNoSchedule)), "UnschedulableAndUnresolvable: node(s) had untolerated taint {dedicated: db}"},
		{"tolerated by Exists, any effect", node("n1", "1", "1Gi", withTaint("dedicated", "db", corev1.TaintEffectNoSchedule)),
			pod("p", toleration("dedicated", "", "")), "ok"},
		{"toleration of another effect", node("n1", "1", "1Gi", withTaint("dedicated", "db", corev1.TaintEffectNoSchedule)),
			pod("p", toleration("dedicated", "db", corev1.TaintEffectNoExecute)), "UnschedulableAndUnresolvable: node(s) had untolerated taint {dedicated: db}"},
		{"empty key and Exists tolerates everything", node("n1", "1", "1Gi", withTaint("a", "b", corev1.TaintEffectNoSchedule), withTaint("c", "", corev1.TaintEffectNoExecute)),
			pod("p", toleration("", "", "")), "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusString(filterOne(TaintToleration{}, tt.pod, []*corev1.Node{tt.node}, nil, "n1")); got != tt.want {
				t.Errorf("Filter = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNodeAffinityFilter(t *testing.T) {
	// Reference: https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/
	n := node("n1", "1", "1Gi", withLabels("disk", "ssd", "gen", "5"))
	const no = "UnschedulableAndUnresolvable: node(s) didn't match Pod's node affinity/selector"
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"no selector", pod("p"), "ok"},
		{"nodeSelector matches", pod("p", nodeSelector("disk", "ssd")), "ok"},
		{"nodeSelector other value", pod("p", nodeSelector("disk", "hdd")), no},
		{"nodeSelector missing label", pod("p", nodeSelector("gpu", "yes")), no},
		{"In", pod("p", requiredNodeAffinity(expr("disk", corev1.NodeSelectorOpIn, "hdd", "ssd"))), "ok"},
		{"In, no value", pod("p", requiredNodeAffinity(expr("disk", corev1.NodeSelectorOpIn, "hdd"))), no},
		{"NotIn", pod("p", requiredNodeAffinity(expr("disk", corev1.NodeSelectorOpNotIn, "hdd"))), "ok"},
		{"NotIn, label missing", pod("p", requiredNodeAffinity(expr("zone", corev1.NodeSelectorOpNotIn, "a"))), "ok"},
		{"Exists", pod("p", requiredNodeAffinity(expr("disk", corev1.NodeSelectorOpExists))), "ok"},
		{"DoesNotExist", pod("p", requiredNodeAffinity(expr("disk", corev1.NodeSelectorOpDoesNotExist))), no},
		{"Gt", pod("p", requiredNodeAffinity(expr("gen", corev1.NodeSelectorOpGt, "4"))), "ok"},
		{"Lt", pod("p", requiredNodeAffinity(expr("gen", corev1.NodeSelectorOpLt, "4"))), no},
		{"Gt on a value that is not a number", pod("p", requiredNodeAffinity(expr("disk", corev1.NodeSelectorOpGt, "4"))), no},
		{"terms are ORed", pod("p", requiredNodeAffinity(expr("disk", corev1.NodeSelectorOpIn, "hdd"), expr("gen", corev1.NodeSelectorOpIn, "5"))), "ok"},
		{"no terms match no node", pod("p", requiredNodeAffinity()), no},
		{"an empty term matches nothing", pod("p", requiredNodeAffinity(corev1.NodeSelectorTerm{})), no},
		{"matchFields on the name", pod("p", requiredNodeAffinity(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}}})), "ok"},
		{"selector and affinity must both hold", pod("p", nodeSelector("disk", "hdd"), requiredNodeAffinity(expr("gen", corev1.NodeSelectorOpIn, "5"))), no},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusString(filterOne(NodeAffinity{}, tt.pod, []*corev1.Node{n}, nil, "n1")); got != tt.want {
				t.Errorf("Filter = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNodeFilters(t *testing.T) {
	tests := []struct {
		name   string
		plugin Plugin
		node   *corev1.Node
		pod    *corev1.Pod
		want   string
	}{
		{"schedulable", NodeUnschedulable{}, node("n1", "1", "1Gi"), pod("p"), "ok"},
		{"cordoned", NodeUnschedulable{}, node("n1", "1", "1Gi", cordoned()), pod("p"), "UnschedulableAndUnresolvable: node(s) were unschedulable"},
		{"cordoned, tolerated", NodeUnschedulable{}, node("n1", "1", "1Gi", cordoned()),
			pod("p", toleration(corev1.TaintNodeUnschedulable, "", corev1.TaintEffectNoSchedule)), "ok"},
		{"nodeName this node", NodeName{}, node("n1", "1", "1Gi"), pod("p", on("n1")), "ok"},
		{"nodeName another node", NodeName{}, node("n1", "1", "1Gi"), pod("p", on("n2")), "UnschedulableAndUnresolvable: node(s) didn't match the requested node name"},
		{"ready", NodeReady{}, node("n1", "1", "1Gi"), pod("p"), "ok"},
		{"not ready", NodeReady{}, node("n1", "1", "1Gi", withReady(corev1.ConditionFalse)), pod("p"),
			"UnschedulableAndUnresolvable: node(s) had untolerated taint {node.kubernetes.io/not-ready: }"},
		{"unknown", NodeReady{}, node("n1", "1", "1Gi", withReady(corev1.ConditionUnknown)), pod("p"),
			"UnschedulableAndUnresolvable: node(s) had untolerated taint {node.kubernetes.io/unreachable: }"},
		{"not ready, tolerated", NodeReady{}, node("n1", "1", "1Gi", withReady(corev1.ConditionFalse)),
			pod("p", toleration(corev1.TaintNodeNotReady, "", corev1.TaintEffectNoSchedule)), "ok"},
		{"not ready, only NoExecute tolerated (the default tolerations)", NodeReady{}, node("n1", "1", "1Gi", withReady(corev1.ConditionFalse)),
			pod("p", toleration(corev1.TaintNodeNotReady, "", corev1.TaintEffectNoExecute)),
			"UnschedulableAndUnresolvable: node(s) had untolerated taint {node.kubernetes.io/not-ready: }"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusString(filterOne(tt.plugin, tt.pod, []*corev1.Node{tt.node}, nil, "n1")); got != tt.want {
				t.Errorf("%s.Filter = %q, want %q", tt.plugin.Name(), got, tt.want)
			}
		})
	}
}

func TestNodePortsFilter(t *testing.T) {
	const taken = "Unschedulable: node(s) didn't have free ports for the requested pod ports"
	n := node("n1", "1", "1Gi")
	tests := []struct {
		name     string
		existing *corev1.Pod
		pod      *corev1.Pod
		want     string
	}{
		{"no host ports", pod("a", hostPort(8080, "", ""), on("n1")), pod("p"), "ok"},
		{"free port", pod("a", hostPort(8080, "", ""), on("n1")), pod("p", hostPort(8081, "", "")), "ok"},
		{"same port, TCP by default", pod("a", hostPort(8080, "", ""), on("n1")), pod("p", hostPort(8080, corev1.ProtocolTCP, "")), taken},
		{"same port, other protocol", pod("a", hostPort(8080, corev1.ProtocolTCP, ""), on("n1")), pod("p", hostPort(8080, corev1.ProtocolUDP, "")), "ok"},
		{"same port, two addresses", pod("a", hostPort(8080, "", "10.0.0.1"), on("n1")), pod("p", hostPort(8080, "", "10.0.0.2")), "ok"},
		{"0.0.0.0 clashes with any address", pod("a", hostPort(8080, "", "10.0.0.1"), on("n1")), pod("p", hostPort(8080, "", "")), taken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusString(filterOne(NodePorts{}, tt.pod, []*corev1.Node{n}, []*corev1.Pod{tt.existing}, "n1")); got != tt.want {
				t.Errorf("Filter = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestInterPodAffinityFilter(t *testing.T) {
	// Reference: https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#inter-pod-affinity-and-anti-affinity
	nodes := []*corev1.Node{
		node("n1", "1", "1Gi", withLabels("zone", "a")),
		node("n2", "1", "1Gi", withLabels("zone", "a")),
		node("n3", "1", "1Gi", withLabels("zone", "b")),
		node("n4", "1", "1Gi"), // no zone
	}
	db := pod("db", podLabels("app", "db"), on("n1"))
	tests := []struct {
		name     string
		pod      *corev1.Pod
		existing []*corev1.Pod
		node     string
		want     string
	}{
		{"affinity, same zone", pod("p", podAffinity(false, "zone", "app", "db")), []*corev1.Pod{db}, "n2", "ok"},
		{"affinity, other zone", pod("p", podAffinity(false, "zone", "app", "db")), []*corev1.Pod{db}, "n3",
			"UnschedulableAndUnresolvable: node(s) didn't match pod affinity rules"},
		{"affinity, node without the topology key", pod("p", podAffinity(false, "zone", "app", "db")), []*corev1.Pod{db}, "n4",
			"UnschedulableAndUnresolvable: node(s) didn't match pod affinity rules"},
		{"affinity, no such pod anywhere", pod("p", podAffinity(false, "zone", "app", "cache")), []*corev1.Pod{db}, "n1",
			"UnschedulableAndUnresolvable: node(s) didn't match pod affinity rules"},
		{"affinity to itself, first of its group", pod("p", podLabels("app", "web"), podAffinity(false, "zone", "app", "web")), []*corev1.Pod{db}, "n3", "ok"},
		{"affinity in another namespace does not count", pod("p", podAffinity(false, "zone", "app", "db")),
			[]*corev1.Pod{func() *corev1.Pod { p := pod("db2", podLabels("app", "db"), on("n1")); p.Namespace = "other"; return p }()}, "n1",
			"UnschedulableAndUnresolvable: node(s) didn't match pod affinity rules"},
		{"anti-affinity, same node", pod("p", podAffinity(true, "kubernetes.io/hostname", "app", "db")), []*corev1.Pod{db}, "n1",
			"Unschedulable: node(s) didn't match pod anti-affinity rules"},
		{"anti-affinity, another node", pod("p", podAffinity(true, "kubernetes.io/hostname", "app", "db")), []*corev1.Pod{db}, "n2", "ok"},
		{"anti-affinity by zone", pod("p", podAffinity(true, "zone", "app", "db")), []*corev1.Pod{db}, "n2",
			"Unschedulable: node(s) didn't match pod anti-affinity rules"},
		{"an existing pod's anti-affinity", pod("p", podLabels("app", "web")),
			[]*corev1.Pod{pod("lonely", podAffinity(true, "zone", "app", "web"), on("n1"))}, "n2",
			"Unschedulable: node(s) didn't satisfy existing pods anti-affinity rules"},
		{"an existing pod's anti-affinity, other zone", pod("p", podLabels("app", "web")),
			[]*corev1.Pod{pod("lonely", podAffinity(true, "zone", "app", "web"), on("n1"))}, "n3", "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusString(filterOne(InterPodAffinity{}, tt.pod, nodes, tt.existing, tt.node)); got != tt.want {
				t.Errorf("Filter on %s = %q, want %q", tt.node, got, tt.want)
			}
		})
	}
}

func TestPodTopologySpreadFilter(t *testing.T) {
	// Reference: https://kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints/
	nodes := []*corev1.Node{
		node("n1", "1", "1Gi", withLabels("zone", "a")),
		node("n2", "1", "1Gi", withLabels("zone", "b")),
		node("n3", "1", "1Gi"), // no zone
	}
	web := func(name, nodeName string) *corev1.Pod { return pod(name, podLabels("app", "web"), on(nodeName)) }
	tests := []struct {
		name     string
		pod      *corev1.Pod
		existing []*corev1.Pod
		node     string
		want     string
	}{
		{"empty cluster", pod("p", podLabels("app", "web"), spread(1, "zone", "app", "web")), nil, "n1", "ok"},
		{"skew 1 allowed", pod("p", podLabels("app", "web"), spread(1, "zone", "app", "web")), []*corev1.Pod{web("a", "n2")}, "n1", "ok"},
		{"skew 2 refused", pod("p", podLabels("app", "web"), spread(1, "zone", "app", "web")), []*corev1.Pod{web("a", "n1")}, "n1",
			"Unschedulable: node(s) didn't match pod topology spread constraints"},
		{"maxSkew 2 allows it", pod("p", podLabels("app", "web"), spread(2, "zone", "app", "web")), []*corev1.Pod{web("a", "n1")}, "n1", "ok"},
		{"other pods do not count", pod("p", podLabels("app", "web"), spread(1, "zone", "app", "web")), []*corev1.Pod{pod("x", podLabels("app", "db"), on("n1"))}, "n1", "ok"},
		{"node without the key", pod("p", podLabels("app", "web"), spread(1, "zone", "app", "web")), nil, "n3",
			"UnschedulableAndUnresolvable: node(s) didn't match pod topology spread constraints (missing required label)"},
		{"ScheduleAnyway does not filter", func() *corev1.Pod {
			p := pod("p", podLabels("app", "web"), spread(1, "zone", "app", "web"))
			p.Spec.TopologySpreadConstraints[0].WhenUnsatisfiable = corev1.ScheduleAnyway
			return p
		}(), []*corev1.Pod{web("a", "n1")}, "n1", "ok"},
		{"nodes the pod may not use are not domains", pod("p", podLabels("app", "web"), spread(1, "zone", "app", "web"), nodeSelector("zone", "a")),
			[]*corev1.Pod{web("a", "n1"), web("b", "n1")}, "n1", "ok"},
		{"minDomains: missing domains count as empty", func() *corev1.Pod {
			p := pod("p", podLabels("app", "web"), spread(1, "zone", "app", "web"))
			p.Spec.TopologySpreadConstraints[0].MinDomains = ptr.To(int32(3))
			return p
		}(), []*corev1.Pod{web("a", "n1"), web("b", "n2")}, "n1", "Unschedulable: node(s) didn't match pod topology spread constraints"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusString(filterOne(PodTopologySpread{}, tt.pod, nodes, tt.existing, tt.node)); got != tt.want {
				t.Errorf("Filter on %s = %q, want %q", tt.node, got, tt.want)
			}
		})
	}
}
