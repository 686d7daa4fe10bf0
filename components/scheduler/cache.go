package scheduler

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// Cache is the scheduler's picture of the cluster: every node and the
// pods bound to it, from the informers, plus the pods it has assumed.
//
// Assuming is the Reserve step. Binding takes a round trip to the
// apiserver, and the informer reports the bound pod later still; the
// scheduler does not wait for either. The moment it picks a node it puts
// the pod there in its cache (AssumePod), so the next pod, scheduled a
// millisecond later, already sees the room taken: two pods are never
// placed on capacity that only fits one. When the informer reports the pod
// bound, the assumed copy gives way to the real one (AddPod); if binding
// fails the pod is taken off again (ForgetPod).
//
// All methods are safe for concurrent use.
type Cache struct {
	mu            sync.Mutex
	nodes         map[string]*NodeInfo
	pods          map[types.UID]*cachedPod
	namespaces    map[string]labels.Set
	generation    int64 // counts every change
	nodeObjectGen int64 // the generation of the last change to a Node object
	namespaceGen  int64 // the generation of the last change to a namespace
	// dirty names the nodes changed since the snapshot was last updated.
	dirty map[string]bool
}

type cachedPod struct {
	info    *PodInfo
	assumed bool
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{nodes: map[string]*NodeInfo{}, pods: map[types.UID]*cachedPod{}, namespaces: map[string]labels.Set{}, dirty: map[string]bool{}}
}

// node returns the NodeInfo of name, making an empty one (no Node yet)
// if needed: a pod may be reported before its node.
func (c *Cache) node(name string) *NodeInfo {
	n := c.nodes[name]
	if n == nil {
		n = &NodeInfo{}
		c.nodes[name] = n
	}
	return n
}

func (c *Cache) touch(name string, n *NodeInfo) {
	c.generation++
	n.Generation = c.generation
	c.dirty[name] = true
}

func (c *Cache) addLocked(pod *corev1.Pod, assumed bool) {
	pi, _ := NewPodInfo(pod) // a term that does not parse is left out
	n := c.node(pod.Spec.NodeName)
	n.AddPod(pi)
	c.touch(pod.Spec.NodeName, n)
	c.pods[pod.UID] = &cachedPod{info: pi, assumed: assumed}
}

func (c *Cache) removeLocked(cp *cachedPod) {
	pod := cp.info.Pod
	if n := c.nodes[pod.Spec.NodeName]; n != nil {
		n.RemovePod(pod.UID)
		c.touch(pod.Spec.NodeName, n)
		if n.Node == nil && len(n.Pods) == 0 {
			delete(c.nodes, pod.Spec.NodeName)
		}
	}
	delete(c.pods, pod.UID)
}

// AssumePod puts pod (its spec.nodeName set to the chosen node) on its
// node before it is bound.
func (c *Cache) AssumePod(pod *corev1.Pod) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pod.Spec.NodeName == "" {
		return fmt.Errorf("scheduler: assume pod %s/%s: no node", pod.Namespace, pod.Name)
	}
	if _, ok := c.pods[pod.UID]; ok {
		return fmt.Errorf("scheduler: assume pod %s/%s: already in the cache", pod.Namespace, pod.Name)
	}
	c.addLocked(pod, true)
	return nil
}

// ForgetPod takes an assumed pod off its node again (its binding failed).
// A pod the informer has confirmed meanwhile stays.
func (c *Cache) ForgetPod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cp := c.pods[pod.UID]; cp != nil && cp.assumed {
		c.removeLocked(cp)
	}
}

// IsAssumed reports whether the pod is assumed and not yet confirmed.
func (c *Cache) IsAssumed(pod *corev1.Pod) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := c.pods[pod.UID]
	return cp != nil && cp.assumed
}

// AddPod records a pod the informer reports bound to a node. An assumed
// copy gives way to it.
func (c *Cache) AddPod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cp := c.pods[pod.UID]; cp != nil {
		c.removeLocked(cp)
	}
	c.addLocked(pod, false)
}

// UpdatePod records a new version of a bound pod.
func (c *Cache) UpdatePod(pod *corev1.Pod) { c.AddPod(pod) }

// RemovePod forgets a pod that is gone.
func (c *Cache) RemovePod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cp := c.pods[pod.UID]; cp != nil {
		c.removeLocked(cp)
	}
}

// AddNode records a new or changed Node.
func (c *Cache) AddNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.node(node.Name)
	n.SetNode(node)
	c.touch(node.Name, n)
	c.nodeObjectGen = c.generation
}

// UpdateNode records a changed Node.
func (c *Cache) UpdateNode(node *corev1.Node) { c.AddNode(node) }

// RemoveNode forgets a Node. Its pods are kept until they are reported
// gone too, but the node is no longer offered to pods.
func (c *Cache) RemoveNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[node.Name]
	if n == nil {
		return
	}
	n.Node = nil
	c.touch(node.Name, n)
	c.nodeObjectGen = c.generation
	if len(n.Pods) == 0 {
		delete(c.nodes, node.Name)
	}
}

// SetNamespace records a namespace's labels (nil: the namespace is gone).
func (c *Cache) SetNamespace(name string, l map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l == nil {
		delete(c.namespaces, name)
	} else {
		c.namespaces[name] = labels.Set(l)
	}
	c.generation++
	c.namespaceGen = c.generation
}

// Counts returns how many nodes and pods the cache holds, and how many of
// the pods are assumed.
func (c *Cache) Counts() (nodes, pods, assumed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.Node != nil {
			nodes++
		}
	}
	for _, cp := range c.pods {
		if cp.assumed {
			assumed++
		}
	}
	return nodes, len(c.pods), assumed
}

// UpdateSnapshot brings snap up to date with the cache, copying only the
// nodes that changed since it was last updated. A cache keeps one snapshot
// up to date, the scheduling loop's: it remembers which nodes changed
// since that snapshot's last update, not since any other's. (A snapshot
// never updated before gets every node.)
func (c *Cache) UpdateSnapshot(snap *Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if snap.byName == nil || snap.generation == 0 {
		snap.byName = map[string]*NodeInfo{}
		for name := range c.nodes {
			c.dirty[name] = true
		}
	}
	setChanged := false
	for name := range c.dirty {
		n := c.nodes[name]
		_, had := snap.byName[name]
		if n == nil || n.Node == nil {
			if had {
				delete(snap.byName, name)
				setChanged = true
			}
			continue
		}
		snap.byName[name] = n.Clone()
		setChanged = setChanged || !had
	}
	if setChanged {
		snap.rebuildLists()
	} else if len(c.dirty) > 0 {
		// The same nodes in the same order: swap in the new copies.
		for i, n := range snap.Nodes {
			if c.dirty[n.Name()] {
				snap.Nodes[i] = snap.byName[n.Name()]
			}
		}
		snap.WithAffinity = snap.WithAffinity[:0]
		snap.WithRequiredAntiAffinity = snap.WithRequiredAntiAffinity[:0]
		for _, n := range snap.Nodes {
			if len(n.PodsWithAffinity) > 0 {
				snap.WithAffinity = append(snap.WithAffinity, n)
			}
			if len(n.PodsWithRequiredAntiAffinity) > 0 {
				snap.WithRequiredAntiAffinity = append(snap.WithRequiredAntiAffinity, n)
			}
		}
	}
	clear(c.dirty)
	if snap.nodeObjectGen != c.nodeObjectGen || snap.ImageNodes == nil {
		snap.countImages()
		snap.nodeObjectGen = c.nodeObjectGen
	}
	if snap.namespaceGen != c.namespaceGen || snap.NamespaceLabels == nil {
		snap.NamespaceLabels = make(map[string]labels.Set, len(c.namespaces))
		for k, v := range c.namespaces {
			snap.NamespaceLabels[k] = v
		}
		snap.namespaceGen = c.namespaceGen
	}
	snap.generation = max(c.generation, 1)
}

// Dump describes the cache, node by node, for logs and tests.
func (c *Cache) Dump() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.nodes))
	for name := range c.nodes {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, name := range names {
		n := c.nodes[name]
		fmt.Fprintf(&b, "%s: %d pods, cpu %dm, memory %d\n", name, len(n.Pods), n.Requested.MilliCPU, n.Requested.Memory)
	}
	return b.String()
}
