package scheduler

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// Resource is an amount of each resource the scheduler counts: what a pod
// requests, what a node's pods request together, what a node has.
type Resource struct {
	MilliCPU         int64
	Memory           int64 // bytes
	EphemeralStorage int64 // bytes
	Pods             int64 // a node's allocatable pod count; unused for requests
	// Scalar holds every other resource: extended ones (nvidia.com/gpu),
	// hugepages-2Mi...
	Scalar map[corev1.ResourceName]int64
}

// NewResource reads a ResourceList.
func NewResource(rl corev1.ResourceList) Resource {
	var r Resource
	r.AddList(rl)
	return r
}

// AddList adds every resource of rl to r.
func (r *Resource) AddList(rl corev1.ResourceList) {
	for name, q := range rl {
		switch name {
		case corev1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case corev1.ResourceMemory:
			r.Memory += q.Value()
		case corev1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		case corev1.ResourcePods:
			r.Pods += q.Value()
		default:
			if r.Scalar == nil {
				r.Scalar = map[corev1.ResourceName]int64{}
			}
			r.Scalar[name] += q.Value()
		}
	}
}

// Add adds o to r.
func (r *Resource) Add(o Resource) { r.combine(o, func(a, b int64) int64 { return a + b }) }

// Sub subtracts o from r.
func (r *Resource) Sub(o Resource) { r.combine(o, func(a, b int64) int64 { return a - b }) }

// SetMax makes each amount of r the larger of r's and o's.
func (r *Resource) SetMax(o Resource) { r.combine(o, func(a, b int64) int64 { return max(a, b) }) }

func (r *Resource) combine(o Resource, f func(a, b int64) int64) {
	r.MilliCPU = f(r.MilliCPU, o.MilliCPU)
	r.Memory = f(r.Memory, o.Memory)
	r.EphemeralStorage = f(r.EphemeralStorage, o.EphemeralStorage)
	r.Pods = f(r.Pods, o.Pods)
	for name, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[corev1.ResourceName]int64{}
		}
		r.Scalar[name] = f(r.Scalar[name], v)
	}
}

// Clone returns a copy of r that shares nothing with it.
func (r Resource) Clone() Resource {
	if r.Scalar != nil {
		m := make(map[corev1.ResourceName]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			m[k] = v
		}
		r.Scalar = m
	}
	return r
}

// IsZero reports whether r requests nothing.
func (r Resource) IsZero() bool {
	if r.MilliCPU != 0 || r.Memory != 0 || r.EphemeralStorage != 0 {
		return false
	}
	for _, v := range r.Scalar {
		if v != 0 {
			return false
		}
	}
	return true
}

// HostPort is a host port a pod asks for: hostIP (0.0.0.0 for every
// address), protocol and port.
type HostPort struct {
	IP       string
	Protocol corev1.Protocol
	Port     int32
}

// AffinityTerm is a parsed pod (anti-)affinity term: which pods it
// selects and which topology it spans.
type AffinityTerm struct {
	Namespaces        map[string]bool
	NamespaceSelector labels.Selector // labels.Nothing() when the term has none
	Selector          labels.Selector
	TopologyKey       string
}

// Matches reports whether pod, in a namespace labelled nsLabels, is one the
// term selects.
func (t *AffinityTerm) Matches(pod *corev1.Pod, nsLabels labels.Set) bool {
	if !t.Namespaces[pod.Namespace] && !t.NamespaceSelector.Matches(nsLabels) {
		return false
	}
	return t.Selector.Matches(labels.Set(pod.Labels))
}

// PodInfo is a pod with what the plugins read of it worked out once: its
// requests, its parsed affinity terms, its host ports.
type PodInfo struct {
	Pod *corev1.Pod
	// Requests is what NodeResourcesFit counts (requests.go).
	Requests Resource
	// NonZero is Requests with 100m CPU and 200Mi of memory for each
	// container that states none, what the scores count: a node full of
	// pods that state nothing is still full.
	NonZero              Resource
	RequiredAffinity     []AffinityTerm
	RequiredAntiAffinity []AffinityTerm
	Ports                []HostPort
	// Owner is the UID of the pod's controller (its ReplicaSet, its
	// StatefulSet...), "" if it has none.
	Owner types.UID
}

// NewPodInfo works out pod's PodInfo. An affinity term it cannot parse is
// left out and reported in the error; the PodInfo is usable either way.
func NewPodInfo(pod *corev1.Pod) (*PodInfo, error) {
	pi := &PodInfo{Pod: pod, Requests: PodRequests(pod, false), NonZero: PodRequests(pod, true)}
	var errs []error
	if a := pod.Spec.Affinity; a != nil {
		if a.PodAffinity != nil {
			pi.RequiredAffinity, errs = parseTerms(pod, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, errs)
		}
		if a.PodAntiAffinity != nil {
			pi.RequiredAntiAffinity, errs = parseTerms(pod, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, errs)
		}
	}
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			hp := HostPort{IP: p.HostIP, Protocol: p.Protocol, Port: p.HostPort}
			if hp.IP == "" {
				hp.IP = "0.0.0.0"
			}
			if hp.Protocol == "" {
				hp.Protocol = corev1.ProtocolTCP
			}
			pi.Ports = append(pi.Ports, hp)
		}
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		pi.Owner = ref.UID
	}
	if len(errs) > 0 {
		return pi, fmt.Errorf("pod %s/%s: spec.affinity: %w", pod.Namespace, pod.Name, errors.Join(errs...))
	}
	return pi, nil
}

func parseTerms(pod *corev1.Pod, terms []corev1.PodAffinityTerm, errs []error) ([]AffinityTerm, []error) {
	var out []AffinityTerm
	for _, t := range terms {
		sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		at := AffinityTerm{Namespaces: map[string]bool{}, NamespaceSelector: labels.Nothing(), Selector: sel, TopologyKey: t.TopologyKey}
		for _, ns := range t.Namespaces {
			at.Namespaces[ns] = true
		}
		if t.NamespaceSelector != nil {
			if at.NamespaceSelector, err = metav1.LabelSelectorAsSelector(t.NamespaceSelector); err != nil {
				errs = append(errs, err)
				continue
			}
		} else if len(t.Namespaces) == 0 {
			// Neither namespaces nor a namespace selector: the pod's own
			// namespace.
			at.Namespaces[pod.Namespace] = true
		}
		out = append(out, at)
	}
	return out, errs
}

// NodeInfo is a node with the pods on it (bound, or assumed: being bound)
// and their sums.
type NodeInfo struct {
	Node *corev1.Node // nil while the cache knows pods on a node it has not seen yet
	Pods []*PodInfo
	// PodsWithAffinity are the pods that have required affinity or
	// anti-affinity terms; PodsWithRequiredAntiAffinity those with
	// anti-affinity terms.
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo
	Requested                    Resource // the pods' requests, summed
	NonZeroRequested             Resource // the pods' NonZero requests, summed
	Allocatable                  Resource // what the node offers pods
	UsedPorts                    map[HostPort]int
	// Images maps each image name the node has (from status.images,
	// normalised: nginx → nginx:latest) to its size in bytes.
	Images map[string]int64
	// Generation is the cache's change counter when the node last
	// changed (for logs and tests: which node changed last).
	Generation int64
}

// NewNodeInfo returns the NodeInfo of node with pods on it.
func NewNodeInfo(node *corev1.Node, pods ...*corev1.Pod) *NodeInfo {
	n := &NodeInfo{}
	n.SetNode(node)
	for _, p := range pods {
		pi, _ := NewPodInfo(p)
		n.AddPod(pi)
	}
	return n
}

// Name is the node's name ("" if the Node is not known yet).
func (n *NodeInfo) Name() string {
	if n.Node == nil {
		return ""
	}
	return n.Node.Name
}

// SetNode sets (or replaces) the Node object.
func (n *NodeInfo) SetNode(node *corev1.Node) {
	n.Node = node
	n.Allocatable = NewResource(node.Status.Allocatable)
	n.Images = map[string]int64{}
	for _, img := range node.Status.Images {
		for _, name := range img.Names {
			n.Images[normalizedImageName(name)] = img.SizeBytes
		}
	}
}

// AddPod puts a pod on the node.
func (n *NodeInfo) AddPod(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	if len(pi.RequiredAffinity) > 0 || len(pi.RequiredAntiAffinity) > 0 {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if len(pi.RequiredAntiAffinity) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
	n.Requested.Add(pi.Requests)
	n.NonZeroRequested.Add(pi.NonZero)
	for _, p := range pi.Ports {
		if n.UsedPorts == nil {
			n.UsedPorts = map[HostPort]int{}
		}
		n.UsedPorts[p]++
	}
}

// RemovePod takes the pod with uid off the node and reports whether it
// was there.
func (n *NodeInfo) RemovePod(uid types.UID) bool {
	same := func(pi *PodInfo) bool { return pi.Pod.UID == uid }
	i := slices.IndexFunc(n.Pods, same)
	if i < 0 {
		return false
	}
	pi := n.Pods[i]
	// A new slice, never an edit in place: a snapshot may share the old.
	n.Pods = slices.Delete(slices.Clone(n.Pods), i, i+1)
	n.PodsWithAffinity = slices.DeleteFunc(slices.Clone(n.PodsWithAffinity), same)
	n.PodsWithRequiredAntiAffinity = slices.DeleteFunc(slices.Clone(n.PodsWithRequiredAntiAffinity), same)
	n.Requested.Sub(pi.Requests)
	n.NonZeroRequested.Sub(pi.NonZero)
	if len(pi.Ports) > 0 {
		ports := make(map[HostPort]int, len(n.UsedPorts))
		for k, v := range n.UsedPorts {
			ports[k] = v
		}
		for _, p := range pi.Ports {
			if ports[p]--; ports[p] <= 0 {
				delete(ports, p)
			}
		}
		n.UsedPorts = ports
	}
	return true
}

// Clone returns a copy of n that n's later changes do not reach. The
// pods themselves are shared: nobody changes a PodInfo once made.
func (n *NodeInfo) Clone() *NodeInfo {
	c := *n
	// Full slices, so that an append to the clone copies instead of
	// writing into n's array.
	c.Pods = slices.Clip(n.Pods)
	c.PodsWithAffinity = slices.Clip(n.PodsWithAffinity)
	c.PodsWithRequiredAntiAffinity = slices.Clip(n.PodsWithRequiredAntiAffinity)
	c.Requested = n.Requested.Clone()
	c.NonZeroRequested = n.NonZeroRequested.Clone()
	if n.UsedPorts != nil {
		c.UsedPorts = make(map[HostPort]int, len(n.UsedPorts))
		for k, v := range n.UsedPorts {
			c.UsedPorts[k] = v
		}
	}
	return &c
}

// Snapshot is the cluster as one scheduling cycle sees it: every node with
// its pods, frozen. The algorithm reads nothing else.
type Snapshot struct {
	// Nodes lists the nodes by name.
	Nodes  []*NodeInfo
	byName map[string]*NodeInfo
	// WithAffinity and WithRequiredAntiAffinity list the nodes that have
	// pods with affinity terms (any, anti-affinity): InterPodAffinity only
	// looks there.
	WithAffinity             []*NodeInfo
	WithRequiredAntiAffinity []*NodeInfo
	// NamespaceLabels are the labels of each namespace, for the
	// namespaceSelector of affinity terms.
	NamespaceLabels map[string]labels.Set
	// ImageNodes counts the nodes that have each image (ImageLocality).
	ImageNodes map[string]int

	generation    int64 // the cache's generation when the snapshot was last updated
	nodeObjectGen int64 // the cache's nodeObjectGen when ImageNodes was counted
	namespaceGen  int64 // the cache's namespaceGen when NamespaceLabels was copied
}

// NewSnapshot builds a snapshot from scratch: nodes, and pods bound to
// them (pods on other nodes are left out). Tests and tools use it; the
// scheduler keeps its snapshot up to date from its cache.
func NewSnapshot(nodes []*corev1.Node, pods []*corev1.Pod) *Snapshot {
	infos := map[string]*NodeInfo{}
	for _, n := range nodes {
		infos[n.Name] = NewNodeInfo(n)
	}
	for _, p := range pods {
		if n := infos[p.Spec.NodeName]; n != nil {
			pi, _ := NewPodInfo(p)
			n.AddPod(pi)
		}
	}
	s := &Snapshot{byName: infos, NamespaceLabels: map[string]labels.Set{}}
	s.rebuildLists()
	s.countImages()
	return s
}

// Get returns the node called name, or nil.
func (s *Snapshot) Get(name string) *NodeInfo { return s.byName[name] }

// NamespaceLabelsOf returns namespace ns's labels (empty if unknown).
func (s *Snapshot) NamespaceLabelsOf(ns string) labels.Set { return s.NamespaceLabels[ns] }

// rebuildLists remakes Nodes and the affinity lists from byName.
func (s *Snapshot) rebuildLists() {
	s.Nodes = s.Nodes[:0]
	s.WithAffinity = s.WithAffinity[:0]
	s.WithRequiredAntiAffinity = s.WithRequiredAntiAffinity[:0]
	for _, n := range s.byName {
		s.Nodes = append(s.Nodes, n)
	}
	slices.SortFunc(s.Nodes, func(a, b *NodeInfo) int { return strings.Compare(a.Name(), b.Name()) })
	for _, n := range s.Nodes {
		if len(n.PodsWithAffinity) > 0 {
			s.WithAffinity = append(s.WithAffinity, n)
		}
		if len(n.PodsWithRequiredAntiAffinity) > 0 {
			s.WithRequiredAntiAffinity = append(s.WithRequiredAntiAffinity, n)
		}
	}
}

func (s *Snapshot) countImages() {
	s.ImageNodes = map[string]int{}
	for _, n := range s.Nodes {
		for name := range n.Images {
			s.ImageNodes[name]++
		}
	}
}

// normalizedImageName adds the tag latest to an image named without tag
// or digest, as container runtimes do.
func normalizedImageName(name string) string {
	if strings.Contains(name, "@") {
		return name
	}
	if i := strings.LastIndex(name, ":"); i < 0 || strings.Contains(name[i:], "/") {
		return name + ":latest"
	}
	return name
}
