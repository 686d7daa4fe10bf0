package controllermanager

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// The pod garbage collector. The kubelet deletes the pods it stops; but
// some pods have no kubelet left to do it, and finished pods are kept on
// purpose (their status and logs are what a Job's user looks at). Every
// 20 seconds this controller force-deletes:
//
//  1. finished pods (Succeeded, Failed) beyond the setting
//     terminated-pod-gc-threshold, oldest first;
//  2. orphans: pods bound to a node that no longer exists (after a
//     quarantine of 40 s and a check with the apiserver, so that a node
//     the cache has not shown yet does not lose its pods); they are first
//     marked Failed with the condition DisruptionTarget, so that their
//     owner (a Job) knows why they went;
//  3. pods being deleted that were never scheduled: no kubelet will ever
//     confirm their end;
//  4. pods being deleted on a node that is out of service (not ready and
//     tainted node.kubernetes.io/out-of-service by an administrator).
//
// Unlike the other controllers it is not driven by events: it looks at
// everything on a timer, as Kubernetes' does (nothing happens to a pod
// when its node is deleted, so there is no event to react to).
//
// Reference: kubernetes/pkg/controller/podgc/gc_controller.go.

// DefaultTerminatedPodGCThreshold is how many finished pods the cluster
// keeps (kube-controller-manager --terminated-pod-gc-threshold); 0 or less
// keeps them all.
const DefaultTerminatedPodGCThreshold = 12500

// Pod GC timings, as in Kubernetes.
const (
	podGCCheckPeriod = 20 * time.Second
	podGCQuarantine  = 40 * time.Second
)

// The condition pod GC puts on an orphan before deleting it.
const (
	podGCReason  = "DeletionByPodGC"
	podGCMessage = "PodGC: node no longer exists"
)

type podGCController struct {
	client     kubernetes.Interface
	pods       corelisters.PodLister
	nodes      corelisters.NodeLister
	threshold  int
	clock      clock.WithTicker
	quarantine time.Duration
	period     time.Duration
	// missingSince: when each node that pods are bound to was first seen
	// missing from the cache. Only the gc goroutine touches it.
	missingSince map[string]time.Time
	synced       []cache.InformerSynced
}

func newPodGCController(c *Context) (Controller, error) {
	pods := c.Informers.Core().V1().Pods()
	nodes := c.Informers.Core().V1().Nodes()
	threshold := c.Config.TerminatedPodGCThreshold
	return &podGCController{
		client: c.Client, pods: pods.Lister(), nodes: nodes.Lister(),
		threshold: threshold, clock: clock.RealClock{},
		quarantine: podGCQuarantine, period: podGCCheckPeriod,
		missingSince: map[string]time.Time{},
		synced:       []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced},
	}, nil
}

// Run collects every period until ctx is done. workers is unused: one
// pass at a time is enough.
func (gc *podGCController) Run(ctx context.Context, _ int) {
	defer runtime.HandleCrash()
	if !cache.WaitForNamedCacheSync("pod-garbage-collector-controller", ctx.Done(), gc.synced...) {
		return
	}
	t := gc.clock.NewTicker(gc.period)
	defer t.Stop()
	for {
		if err := gc.gc(ctx); err != nil && ctx.Err() == nil {
			logf("pod-garbage-collector-controller", "%v (next pass in %v)", err, gc.period)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// gc is one pass: decide from the caches (podGCPlan), confirm that the
// nodes the cache misses are really gone, then delete.
func (gc *podGCController) gc(ctx context.Context) error {
	pods, err := gc.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	nodeList, err := gc.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	nodes := map[string]*corev1.Node{}
	for _, n := range nodeList {
		nodes[n.Name] = n
	}
	now := gc.clock.Now()
	// Quarantine: a node missing from the cache for long enough, and
	// missing from the apiserver too, is gone.
	gone := map[string]bool{}
	seen := map[string]bool{}
	for _, p := range pods {
		name := p.Spec.NodeName
		if name == "" || nodes[name] != nil || seen[name] {
			continue
		}
		seen[name] = true
		since, ok := gc.missingSince[name]
		if !ok {
			gc.missingSince[name] = now
			continue
		}
		if now.Sub(since) < gc.quarantine {
			continue
		}
		_, err := gc.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			gone[name] = true
		case err == nil:
			delete(gc.missingSince, name) // there after all: the cache was behind
		}
	}
	for name := range gc.missingSince {
		if !seen[name] {
			delete(gc.missingSince, name) // no pod bound to it any more
		}
	}

	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, d := range podGCPlan(pods, nodes, gone, gc.threshold) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := gc.delete(ctx, d); err != nil && !apierrors.IsNotFound(err) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("deleting pod %s/%s (%s): %w", d.pod.Namespace, d.pod.Name, d.why, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// delete marks the pod Failed (with the condition, for orphans) if it is
// not finished, then force-deletes it: grace period 0, since no kubelet
// will stop it, or its kubelet already has.
func (gc *podGCController) delete(ctx context.Context, d podGCDeletion) error {
	pod := d.pod
	if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
		next := pod.DeepCopy()
		next.Status.Phase = corev1.PodFailed
		if d.orphan {
			setPodGCCondition(&next.Status, gc.clock.Now())
		}
		if _, err := gc.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	logf("pod-garbage-collector-controller", "force-deleting pod %s/%s: %s", pod.Namespace, pod.Name, d.why)
	return gc.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, *metav1.NewDeleteOptions(0))
}

// ---- The pure part: no I/O below. ----

// podGCDeletion is one pod to delete, and why.
type podGCDeletion struct {
	pod    *corev1.Pod
	why    string
	orphan bool // bound to a node that no longer exists
}

// podGCPlan is what one pass deletes: given every pod, the nodes in the
// cache, the nodes confirmed gone and the threshold.
func podGCPlan(pods []*corev1.Pod, nodes map[string]*corev1.Node, gone map[string]bool, threshold int) []podGCDeletion {
	var out []podGCDeletion
	planned := map[*corev1.Pod]bool{}
	add := func(p *corev1.Pod, why string, orphan bool) {
		if !planned[p] {
			planned[p] = true
			out = append(out, podGCDeletion{pod: p, why: why, orphan: orphan})
		}
	}
	// 1. Too many finished pods: the oldest go.
	if threshold > 0 {
		var finished []*corev1.Pod
		for _, p := range pods {
			if podTerminated(p) {
				finished = append(finished, p)
			}
		}
		if extra := len(finished) - threshold; extra > 0 {
			sort.SliceStable(finished, func(i, j int) bool {
				a, b := finished[i], finished[j]
				// Evicted pods first (nobody looks at them), then oldest.
				if ea, eb := a.Status.Reason == "Evicted", b.Status.Reason == "Evicted"; ea != eb {
					return ea
				}
				if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
					return a.CreationTimestamp.Before(&b.CreationTimestamp)
				}
				return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
			})
			for _, p := range finished[:extra] {
				add(p, fmt.Sprintf("more than %d finished pods", threshold), false)
			}
		}
	}
	for _, p := range pods {
		switch {
		// 2. Bound to a node that is gone.
		case p.Spec.NodeName != "" && gone[p.Spec.NodeName]:
			add(p, fmt.Sprintf("node %s no longer exists", p.Spec.NodeName), true)
		// 3. Being deleted, never scheduled.
		case p.DeletionTimestamp != nil && p.Spec.NodeName == "":
			add(p, "being deleted and never scheduled", false)
		// 4. Being deleted on a node out of service.
		case p.DeletionTimestamp != nil && nodes[p.Spec.NodeName] != nil && nodeOutOfService(nodes[p.Spec.NodeName]):
			add(p, fmt.Sprintf("being deleted on node %s, out of service", p.Spec.NodeName), false)
		}
	}
	return out
}

// podTerminated: the pod has finished for good (Succeeded or Failed).
func podTerminated(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// nodeOutOfService: not ready, and tainted out-of-service (an
// administrator's word that the node is down and will stay down).
func nodeOutOfService(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			return false
		}
	}
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeOutOfService {
			return true
		}
	}
	return false
}

// setPodGCCondition adds DisruptionTarget=True, reason DeletionByPodGC.
func setPodGCCondition(st *corev1.PodStatus, now time.Time) {
	c := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: podGCReason, Message: podGCMessage, LastTransitionTime: metav1.NewTime(now)}
	for i := range st.Conditions {
		if st.Conditions[i].Type == corev1.DisruptionTarget {
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}
