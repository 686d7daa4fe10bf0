package chapter05

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/tinykube/tinykube/internal/scenario"
)

// The controller-manager's figure (issue 6): scale a ReplicationController
// from 0 to 100 replicas on 2 nodes, time until every pod is Ready. Run as
// root:
//
//	go test -run '^$' -bench . -benchtime 3x ./chapters/05-controller-manager/
//
// Two ways: one RC of 100 whose pods the scheduler places ("scheduled"),
// and two RCs of 50 pinned to node1 and node2 by spec.nodeName ("pinned":
// no scheduler in the path). Each run reports the median over b.N scale-ups
// of the time until the last pod is Ready (watched), and until the RCs'
// status says 100 ready (what kubectl get rc shows).

func benchCluster(b *testing.B) kubernetes.Interface {
	_, cs := scenario.StartCluster(b, 5, 2, 1000)
	return cs
}

func demoRC(name, node string) *corev1.ReplicationController {
	zero, grace := int32(0), int64(1)
	lbls := map[string]string{"bench": "scale", "rc": name}
	return &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: &zero,
			Selector: lbls,
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{
					NodeName:                      node,
					TerminationGracePeriodSeconds: &grace,
					Containers:                    []corev1.Container{{Name: "web", Image: "tinykube/demo:1.0", ImagePullPolicy: corev1.PullIfNotPresent}},
				},
			},
		},
	}
}

func BenchmarkScaleRC100(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a cluster")
	}
	cs := benchCluster(b)
	b.Run("scheduled", func(b *testing.B) { scaleBench(b, cs, map[string]string{"one": ""}, 100) })
	b.Run("pinned", func(b *testing.B) { scaleBench(b, cs, map[string]string{"on1": "node1", "on2": "node2"}, 50) })
}

// scaleBench scales the RCs (name → node, "" to let the scheduler place
// their pods) from 0 to each replicas, b.N times, and reports the medians.
func scaleBench(b *testing.B, cs kubernetes.Interface, rcs map[string]string, each int32) {
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	rcClient := cs.CoreV1().ReplicationControllers("default")
	for name, node := range rcs {
		if _, err := rcClient.Create(ctx, demoRC(name, node), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	defer func() {
		for name := range rcs {
			rcClient.Delete(ctx, name, metav1.DeleteOptions{})
		}
		waitGone(b, cs)
	}()
	total := int(each) * len(rcs)
	var createdTimes, boundTimes, readyTimes, statusTimes []time.Duration
	for i := 0; i < b.N; i++ {
		w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: "bench=scale"})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for name := range rcs {
			scaleTo(b, cs, name, each)
		}
		// Where the time goes: the controller creates the pods, the
		// scheduler binds them, the kubelets start them.
		created, bound, readyPods := map[string]bool{}, map[string]bool{}, map[string]bool{}
		var allCreated, allBound time.Duration
		timeout := time.After(5 * time.Minute)
		for len(readyPods) < total {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					b.Fatal("watch ended")
				}
				pod, ok := ev.Object.(*corev1.Pod)
				if !ok || ev.Type == watch.Deleted {
					continue
				}
				created[pod.Name] = true
				if len(created) == total && allCreated == 0 {
					allCreated = time.Since(start)
				}
				if pod.Spec.NodeName != "" {
					bound[pod.Name] = true
					if len(bound) == total && allBound == 0 {
						allBound = time.Since(start)
					}
				}
				if podReady(pod) {
					readyPods[pod.Name] = true
				}
			case <-timeout:
				b.Fatalf("%d of %d pods Ready after 5 minutes", len(readyPods), total)
			}
		}
		readyTimes = append(readyTimes, time.Since(start))
		createdTimes, boundTimes = append(createdTimes, allCreated), append(boundTimes, allBound)
		w.Stop()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) { // polling, with a deadline
			ready := int32(0)
			for name := range rcs {
				rc, err := rcClient.Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					b.Fatal(err)
				}
				ready += rc.Status.ReadyReplicas
			}
			if int(ready) == total {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("all %d pods Ready, but the RCs' status says %d ready after a minute", total, ready)
			}
		}
		statusTimes = append(statusTimes, time.Since(start))
		b.Logf("run %d: %d pods created after %v, bound after %v, Ready after %v, RC status after %v", i+1, total,
			allCreated.Round(time.Millisecond), allBound.Round(time.Millisecond), readyTimes[i].Round(time.Millisecond), statusTimes[i].Round(time.Millisecond))

		// Back to 0, untimed.
		for name := range rcs {
			scaleTo(b, cs, name, 0)
		}
		waitGone(b, cs)
	}
	b.ReportMetric(median(createdTimes), "s-all-created")
	b.ReportMetric(median(boundTimes), "s-all-bound")
	b.ReportMetric(median(readyTimes), "s-all-ready")
	b.ReportMetric(median(statusTimes), "s-rc-status")
	b.ReportMetric(0, "ns/op")
}

// scaleTo patches the RC's scale subresource, as kubectl scale does.
func scaleTo(b *testing.B, cs kubernetes.Interface, name string, n int32) {
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	_, err := cs.CoreV1().ReplicationControllers("default").Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "scale")
	if err != nil {
		b.Fatal(err)
	}
}

func waitGone(b *testing.B, cs kubernetes.Interface) {
	deadline := time.Now().Add(3 * time.Minute)
	left, lastErr := -1, error(nil)
	for time.Now().Before(deadline) {
		list, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "bench=scale"})
		if err == nil && len(list.Items) == 0 {
			return
		}
		if err == nil {
			left = len(list.Items)
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond) // polling, with the deadline above
	}
	b.Fatalf("pods still there 3 minutes after scaling to 0: last seen %d pods (last error: %v)", left, lastErr)
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func median(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Seconds()
}

// The node loss figure (issue 6): node1's machine is powered off under an
// RC of 4 pods spread over node1 and node2; time until node1 is NotReady,
// and until 4 pods are Running and Ready on node2 (the evicted ones stay
// Terminating: their kubelet is gone). Timings as in the scenario
// node_loss.txtar: node-monitor-grace-period 10s, node-monitor-period 2s,
// tolerationSeconds 5 (the kubelets renew their Lease every 2.5 s).
// The goal is grace + toleration + 5 s = 20 s. Run as root:
//
//	go test -run '^$' -bench NodeLoss -benchtime 3x ./chapters/05-controller-manager/
func BenchmarkNodeLoss(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a cluster")
	}
	c, cs := scenario.StartCluster(b, 5, 2, 100,
		scenario.WithSettings("controller-manager", map[string]string{"node-monitor-period": "2s", "node-monitor-grace-period": "10s"}),
		scenario.WithSettings("apiserver", map[string]string{"default-not-ready-toleration-seconds": "5", "default-unreachable-toleration-seconds": "5"}),
		scenario.WithSettings("kubelet", map[string]string{"node-lease-duration-seconds": "10"}))
	ctx := context.Background()
	rcClient := cs.CoreV1().ReplicationControllers("default")
	var notReadyTimes, movedTimes []time.Duration
	for i := 0; i < b.N; i++ {
		rc := demoRC("loss", "")
		four := int32(4)
		rc.Spec.Replicas = &four
		if _, err := rcClient.Create(ctx, rc, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		// Running and Ready, some on each node.
		onNode := func() map[string]int {
			return nodeLossPods(cs, func(p *corev1.Pod) bool { return p.DeletionTimestamp == nil && podReady(p) })
		}
		nodeLossWait(b, 2*time.Minute, "4 Ready pods on node1 and node2", func() (bool, any) {
			n := onNode()
			return n["node1"]+n["node2"] == 4 && n["node1"] > 0, n
		})
		start := time.Now()
		if err := c.StopMachine(ctx, "node1"); err != nil {
			b.Fatal(err)
		}
		var notReady time.Duration
		nodeLossWait(b, 2*time.Minute, "node1 NotReady and 4 Ready pods on node2", func() (bool, any) {
			if notReady == 0 {
				if node, err := cs.CoreV1().Nodes().Get(ctx, "node1", metav1.GetOptions{}); err == nil && !nodeLossReady(node) {
					notReady = time.Since(start)
				}
			}
			n := onNode()
			return notReady > 0 && n["node2"] == 4, n
		})
		moved := time.Since(start)
		notReadyTimes, movedTimes = append(notReadyTimes, notReady), append(movedTimes, moved)
		b.Logf("run %d: machine stopped -> node1 NotReady %v, -> 4 pods Running on node2 %v", i+1, notReady.Round(time.Millisecond), moved.Round(time.Millisecond))

		// Untimed: node1 back, the RC gone, every pod gone.
		if err := c.StartMachine(ctx, "node1"); err != nil {
			b.Fatal(err)
		}
		nodeLossWait(b, 2*time.Minute, "node1 Ready", func() (bool, any) {
			node, err := cs.CoreV1().Nodes().Get(ctx, "node1", metav1.GetOptions{})
			return err == nil && nodeLossReady(node) && len(node.Spec.Taints) == 0, err
		})
		if err := rcClient.Delete(ctx, "loss", metav1.DeleteOptions{}); err != nil {
			b.Fatal(err)
		}
		waitGone(b, cs)
	}
	b.ReportMetric(median(notReadyTimes), "s-notready")
	b.ReportMetric(median(movedTimes), "s-all-running-elsewhere")
	b.ReportMetric(0, "ns/op")
}

// nodeLossPods counts the bench pods that pass keep, by node.
func nodeLossPods(cs kubernetes.Interface, keep func(*corev1.Pod) bool) map[string]int {
	list, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "bench=scale"})
	if err != nil {
		return nil
	}
	out := map[string]int{}
	for i := range list.Items {
		if keep(&list.Items[i]) {
			out[list.Items[i].Spec.NodeName]++
		}
	}
	return out
}

func nodeLossReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodeLossWait polls cond every 50 ms until it holds, or fails after within
// saying what it saw last.
func nodeLossWait(b *testing.B, within time.Duration, what string, cond func() (bool, any)) {
	b.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("no %s after %v; last seen: %v", what, within, seen)
		}
		time.Sleep(50 * time.Millisecond) // polling, with the deadline above
	}
}
