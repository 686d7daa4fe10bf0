package kubelet

import (
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Actions is what the kubelet must do to a pod's containers to move it
// toward its spec, computed by ComputeActions from what runs now. The
// caller applies the fields in this order, then computes again: one step
// at a time, like kubelet's computePodActions.
type Actions struct {
	// KillPod: stop every running container of the pod and its sandbox.
	// Set when the sandbox died (its network is gone, so its containers
	// must start over in a new one) or when the pod has finished.
	KillPod bool
	// CreateSandbox: make the pod's network namespace and pause container.
	CreateSandbox bool
	// StartInit is the index of the init container to start, or -1.
	StartInit int
	// Start are the indexes of app containers to start.
	Start []int
	// Waiting explains containers that are not started on purpose, by
	// name: CrashLoopBackOff while a restart is backed off.
	Waiting map[string]Waiting
	// Done: nothing of the pod will run again: it has finished
	// (Succeeded or Failed), or its sandbox died under restartPolicy
	// Never. With KillPod, the pod's network is freed too.
	Done bool
}

// Waiting is why a container is waiting, as its status shows it.
type Waiting struct {
	Reason  string
	Message string
}

// Backoff answers whether a container that exited at finishedAt may be
// restarted now, and if not for how long it is backed off. Kubernetes
// doubles the delay from 10 s to 5 min (client-go's flowcontrol.Backoff).
type Backoff func(key string, finishedAt time.Time) (wait time.Duration, inBackoff bool)

// BackoffKey names a container for the backoff.
func BackoffKey(pod *corev1.Pod, name string) string {
	return fmt.Sprintf("%s_%s(%s):%s", pod.Name, pod.Namespace, pod.UID, name)
}

// Latest returns the newest instance of each container of a pod by name
// ("" for the sandbox), and the one before it (for lastState).
func Latest(ctrs []Container) (latest, previous map[string]Container) {
	sorted := append([]Container(nil), ctrs...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Attempt != sorted[j].Attempt {
			return sorted[i].Attempt < sorted[j].Attempt
		}
		return sorted[i].StartedAt.Before(sorted[j].StartedAt)
	})
	latest, previous = map[string]Container{}, map[string]Container{}
	for _, c := range sorted {
		if l, ok := latest[c.Name]; ok {
			previous[c.Name] = l
		}
		latest[c.Name] = c
	}
	return latest, previous
}

// shouldRestart says whether an exited container runs again.
func shouldRestart(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return true
}

// ComputeActions decides the next step for pod given its containers on
// the node. It does no I/O.
func ComputeActions(pod *corev1.Pod, ctrs []Container, backoff Backoff) Actions {
	a := Actions{StartInit: -1, Waiting: map[string]Waiting{}}
	latest, _ := Latest(ctrs)
	policy := pod.Spec.RestartPolicy

	sb, hasSandbox := latest[""]
	if done, _ := finished(pod, latest); done {
		// Kill what still runs, and remove the sandbox even if it is
		// dead: that frees the pod's network (its IP), as stopping a
		// pod's sandbox does in Kubernetes.
		a.Done = true
		a.KillPod = hasSandbox || anyRunning(ctrs)
		return a
	}
	if !hasSandbox || sb.State != StateRunning {
		// No sandbox, or it died: everything starts over in a new one.
		// A dead sandbox is killed too, which removes it (Kubernetes:
		// changes.KillPod = createPodSandbox).
		a.KillPod = hasSandbox || anyRunning(ctrs)
		if policy == corev1.RestartPolicyNever && anyContainer(latest) {
			// Kubernetes makes no new sandbox for a pod whose containers
			// have run under restartPolicy Never: nothing of it may run
			// again, so the pod is only killed (computePodActions: "Should
			// not restart the pod, just return"). Its exited containers
			// then decide its phase.
			a.Done = true
			return a
		}
		a.CreateSandbox = true
		return a
	}

	// Init containers, one at a time, in order; each must succeed.
	for i, ic := range pod.Spec.InitContainers {
		c, ok := latest[ic.Name]
		switch {
		case !ok:
			a.StartInit = i
			return a
		case c.State != StateExited:
			return a // running: wait for it
		case c.ExitCode == 0 && c.StartedAt.Before(sb.StartedAt):
			// It succeeded in a sandbox that has since died: init
			// containers run again in the new one, from the first
			// (computePodActions starts InitContainers[0] whenever it
			// creates a sandbox). One that failed is retried below.
			a.StartInit = i
			return a
		case c.ExitCode == 0:
			continue
		}
		// It failed. With restartPolicy Never the pod has failed (see
		// finished); otherwise it is retried, backed off.
		if wait, in := backoff(BackoffKey(pod, ic.Name), c.FinishedAt); in {
			a.Waiting[ic.Name] = crashLoop(pod, ic.Name, wait)
			return a
		}
		a.StartInit = i
		return a
	}

	for i, ctr := range pod.Spec.Containers {
		c, ok := latest[ctr.Name]
		switch {
		case !ok:
			a.Start = append(a.Start, i)
		case c.State == StateExited && shouldRestart(policy, c.ExitCode):
			if wait, in := backoff(BackoffKey(pod, ctr.Name), c.FinishedAt); in {
				a.Waiting[ctr.Name] = crashLoop(pod, ctr.Name, wait)
				continue
			}
			a.Start = append(a.Start, i)
		}
	}
	return a
}

func crashLoop(pod *corev1.Pod, name string, wait time.Duration) Waiting {
	return Waiting{
		Reason:  "CrashLoopBackOff",
		Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", wait.Round(time.Second), name, pod.Name, pod.Namespace, pod.UID),
	}
}

// anyContainer reports whether any container other than the sandbox has
// been created for the pod.
func anyContainer(latest map[string]Container) bool {
	for name := range latest {
		if name != "" {
			return true
		}
	}
	return false
}

func anyRunning(ctrs []Container) bool {
	for _, c := range ctrs {
		if c.State == StateRunning {
			return true
		}
	}
	return false
}

// finished reports whether the pod has run to its end and nothing of it
// will run again, and whether it failed: an init container failed under
// restartPolicy Never, or every app container has exited and the policy
// restarts none of them.
func finished(pod *corev1.Pod, latest map[string]Container) (done, failed bool) {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return true, pod.Status.Phase == corev1.PodFailed
	}
	policy := pod.Spec.RestartPolicy
	for _, ic := range pod.Spec.InitContainers {
		c, ok := latest[ic.Name]
		if ok && c.State == StateExited && c.ExitCode != 0 && policy == corev1.RestartPolicyNever {
			return true, true
		}
	}
	if len(pod.Spec.Containers) == 0 {
		return false, false
	}
	for _, ctr := range pod.Spec.Containers {
		c, ok := latest[ctr.Name]
		if !ok || c.State != StateExited || shouldRestart(policy, c.ExitCode) {
			return false, false
		}
		if c.ExitCode != 0 {
			failed = true
		}
	}
	return true, failed
}
