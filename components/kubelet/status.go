package kubelet

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StatusInput is everything ComputeStatus looks at.
type StatusInput struct {
	Pod        *corev1.Pod
	Containers []Container        // the pod's containers on the node
	Actions    Actions            // the latest ComputeActions for it
	Errors     map[string]Waiting // by container name: why it could not start (ErrImagePull...)
	HostIP     string
	Now        time.Time
	// Probes reports a running container's readiness and startup probes;
	// nil: a running container is ready and started.
	Probes func(id string, spec *corev1.Container) Outcome
}

// ComputeStatus is the pod's status as the kubelet reports it: phase,
// conditions, one status per container, IPs. It does no I/O; what kubectl
// shows (READY 1/1, STATUS CrashLoopBackOff, RESTARTS 3) comes from here.
func ComputeStatus(in StatusInput) corev1.PodStatus {
	pod := in.Pod
	old := pod.Status
	st := corev1.PodStatus{
		QOSClass:  old.QOSClass,
		StartTime: old.StartTime,
		HostIP:    in.HostIP,
	}
	if in.HostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: in.HostIP}}
	}
	if st.StartTime == nil {
		t := metav1.NewTime(in.Now)
		st.StartTime = &t
	}
	latest, previous := Latest(in.Containers)
	sandbox, hasSandbox := latest[""]
	if hasSandbox && sandbox.State == StateRunning && sandbox.PodIP != "" {
		st.PodIP = sandbox.PodIP
		st.PodIPs = []corev1.PodIP{{IP: sandbox.PodIP}}
	}

	initDone := true
	for _, ic := range pod.Spec.InitContainers {
		cs := containerStatus(ic, latest, previous, in, "PodInitializing")
		cs.Ready = cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
		if !cs.Ready {
			initDone = false
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	allReady := initDone
	// A container not created yet waits ContainerCreating, or
	// PodInitializing in a pod with init containers, even once they are
	// done (convertToAPIContainerStatuses' default waiting state).
	reason := "ContainerCreating"
	if len(pod.Spec.InitContainers) > 0 {
		reason = "PodInitializing"
	}
	for _, ctr := range pod.Spec.Containers {
		cs := containerStatus(ctr, latest, previous, in, reason)
		cs.Ready = cs.State.Running != nil
		if c, ok := latest[ctr.Name]; ok && cs.State.Running != nil && in.Probes != nil {
			o := in.Probes(c.ID, &ctr)
			cs.Ready, cs.Started = o.Ready, &o.Started
		}
		if !cs.Ready {
			allReady = false
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}

	st.Phase = phase(pod, latest, initDone)
	sandboxReady := hasSandbox && sandbox.State == StateRunning
	// In Kubernetes' order (generateAPIPodStatus), then the scheduler's.
	st.Conditions = []corev1.PodCondition{
		condition(old, corev1.PodReadyToStartContainers, sandboxReady, in.Now, ""),
		condition(old, corev1.PodInitialized, initDone, in.Now, "ContainersNotInitialized"),
		condition(old, corev1.PodReady, allReady, in.Now, "ContainersNotReady"),
		condition(old, corev1.ContainersReady, allReady, in.Now, "ContainersNotReady"),
	}
	scheduled := false
	for _, c := range old.Conditions {
		if c.Type == corev1.PodScheduled {
			st.Conditions = append(st.Conditions, c)
			scheduled = true
		}
	}
	if !scheduled {
		// A pod created with spec.nodeName never met a scheduler; the
		// kubelet says it is scheduled (here), as Kubernetes' does.
		st.Conditions = append(st.Conditions, condition(old, corev1.PodScheduled, true, in.Now, ""))
	}
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		// A finished pod's containers are not ready; its Ready condition
		// says why: PodCompleted or PodFailed. A Succeeded pod is
		// Initialized with reason PodCompleted. (Kubernetes'
		// pkg/kubelet/status/generate.go.)
		why := "PodCompleted"
		if st.Phase == corev1.PodFailed {
			why = "PodFailed"
		}
		for i := range st.Conditions {
			switch t := st.Conditions[i].Type; {
			case t == corev1.PodReady || t == corev1.ContainersReady:
				st.Conditions[i] = condition(old, t, false, in.Now, why)
			case t == corev1.PodInitialized && st.Phase == corev1.PodSucceeded:
				st.Conditions[i].Reason = "PodCompleted"
			}
		}
		st.PodIP, st.PodIPs = old.PodIP, old.PodIPs
	}
	return st
}

// containerStatus reports one container from its newest instance (and the
// one before, for lastState).
func containerStatus(spec corev1.Container, latest, previous map[string]Container, in StatusInput, creating string) corev1.ContainerStatus {
	// Started is always set: false until the container runs (Kubernetes'
	// prober manager sets it on every status).
	started := false
	cs := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, Started: &started}
	if ref, err := NormalizeImage(spec.Image); err == nil {
		cs.Image = ref
	}
	c, ok := latest[spec.Name]
	if !ok {
		w := Waiting{Reason: creating}
		if e, bad := in.Errors[spec.Name]; bad {
			w = e
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}
		return cs
	}
	cs.ContainerID = "containerd://" + c.ID
	cs.RestartCount = int32(c.Attempt)
	if c.ImageRef != "" {
		cs.ImageID = imageName(cs.Image) + "@" + c.ImageRef
	}
	switch c.State {
	case StateRunning:
		started = true
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.StartedAt)}
		if p, ok := previous[spec.Name]; ok {
			cs.LastTerminationState.Terminated = terminated(p)
		}
	case StateExited:
		term := terminated(c)
		if w, waiting := in.Actions.Waiting[spec.Name]; waiting {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}
			cs.LastTerminationState.Terminated = term
		} else if e, bad := in.Errors[spec.Name]; bad {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: e.Reason, Message: e.Message}
			cs.LastTerminationState.Terminated = term
		} else {
			cs.State.Terminated = term
			if p, ok := previous[spec.Name]; ok {
				cs.LastTerminationState.Terminated = terminated(p)
			}
		}
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: creating}
	}
	return cs
}

func terminated(c Container) *corev1.ContainerStateTerminated {
	reason := "Completed"
	if c.ExitCode != 0 {
		reason = "Error"
	}
	return &corev1.ContainerStateTerminated{
		ExitCode:    c.ExitCode,
		Reason:      reason,
		StartedAt:   metav1.NewTime(c.StartedAt),
		FinishedAt:  metav1.NewTime(c.FinishedAt),
		ContainerID: "containerd://" + c.ID,
	}
}

// imageName drops the tag or digest: "docker.io/library/busybox:latest"
// or "docker.io/library/busybox@sha256:…" → "docker.io/library/busybox",
// for imageID's name@digest form.
func imageName(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		return ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		return ref[:i]
	}
	return ref
}

// phase is the pod's phase, by kubelet's rules (getPhase): Pending until
// every init container succeeded and every container started; Running
// while a container runs or will be restarted; Succeeded or Failed when
// every container has exited for good.
func phase(pod *corev1.Pod, latest map[string]Container, initDone bool) corev1.PodPhase {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return pod.Status.Phase // a finished pod never runs again
	}
	if done, failed := finished(pod, latest); done {
		if failed {
			return corev1.PodFailed
		}
		return corev1.PodSucceeded
	}
	if !initDone {
		return corev1.PodPending
	}
	for _, ctr := range pod.Spec.Containers {
		if _, ok := latest[ctr.Name]; !ok {
			return corev1.PodPending // not started yet
		}
	}
	return corev1.PodRunning
}

// condition keeps a condition's lastTransitionTime while its status
// stays the same.
func condition(old corev1.PodStatus, t corev1.PodConditionType, ok bool, now time.Time, reason string) corev1.PodCondition {
	c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason}
	if ok {
		c.Status, c.Reason = corev1.ConditionTrue, ""
	}
	c.LastTransitionTime = metav1.NewTime(now)
	for _, o := range old.Conditions {
		if o.Type == t && o.Status == c.Status {
			c.LastTransitionTime = o.LastTransitionTime
		}
	}
	return c
}
