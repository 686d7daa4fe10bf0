// Package schedulertest holds what the scheduler's tests and benchmarks
// share, in the component and in chapter 4: Node objects with no kubelet
// behind them, scheduler_perf's default pod, and the time from a pod's
// creation until it is bound.
package schedulertest

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// SimulatedNode is a Node object with no kubelet behind it: Ready, with
// cpu, memory and 110 pods.
func SimulatedNode(name, cpu, memory string) *corev1.Node {
	rl := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory), corev1.ResourcePods: resource.MustParse("110"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{
			Capacity: rl, Allocatable: rl.DeepCopy(),
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}},
		},
	}
}

// BenchPod is scheduler_perf's default pod: pause, 100m and 500Mi.
func BenchPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "pause", Image: "registry.k8s.io/pause:3.10",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("500Mi"),
			}},
		}}},
	}
}

// Latency creates BenchPod(name) in the default namespace and returns the
// time until w, a watch of its pods, shows it bound (at most 30 s).
func Latency(tb testing.TB, cs kubernetes.Interface, w watch.Interface, name string) time.Duration {
	tb.Helper()
	start := time.Now()
	if _, err := cs.CoreV1().Pods("default").Create(context.Background(), BenchPod(name), metav1.CreateOptions{}); err != nil {
		tb.Fatal(err)
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				tb.Fatal("watch closed")
			}
			if p, isPod := ev.Object.(*corev1.Pod); isPod && p.Name == name && p.Spec.NodeName != "" {
				return time.Since(start)
			}
		case <-timeout:
			tb.Fatalf("pod %s not bound within 30s", name)
		}
	}
}
