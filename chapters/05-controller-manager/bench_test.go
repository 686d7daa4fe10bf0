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
		for {
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
			time.Sleep(20 * time.Millisecond)
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
