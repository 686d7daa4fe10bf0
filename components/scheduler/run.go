package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
)

// state is a running scheduler: its clients, informers, cache, queue and
// algorithm.
type state struct {
	cfg      Config
	cs       kubernetes.Interface
	electCS  kubernetes.Interface // leader election's own client: bindings do not delay renewals
	eventsCS kubernetes.Interface
	log      io.Writer

	cache    *Cache
	queue    *Queue
	algo     *Algorithm
	snapshot *Snapshot // the scheduling loop's own
	pods     corelisters.PodLister
	recorder record.EventRecorder
	bindings sync.WaitGroup
	bindSlot chan struct{} // one per binding under way
	// loopMu is held by the scheduling loop: one loop at a time, even when
	// leadership is lost and won again quickly.
	loopMu sync.Mutex

	mu       sync.Mutex
	phase    string // what the scheduler is doing, for Health
	synced   bool
	leading  bool
	leader   string
	bound    int64
	failures int64
}

func newState(cfg Config) (*state, error) {
	restCfg := cfg.RestConfig
	if restCfg == nil {
		var err error
		if restCfg, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig); err != nil {
			return nil, fmt.Errorf("scheduler: kubeconfig %s: %w", cfg.Kubeconfig, err)
		}
	}
	restCfg = rest.CopyConfig(restCfg)
	restCfg.QPS, restCfg.Burst = cfg.QPS, cfg.Burst
	restCfg.UserAgent = "tinykube-scheduler/" + cfg.SchedulerName
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	// A client of their own each, with a rate limiter of their own.
	electCfg := rest.CopyConfig(restCfg)
	electCfg.Timeout = max(time.Second, cfg.RenewDeadline/2)
	electCS, err := kubernetes.NewForConfig(electCfg)
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	eventsCS, err := kubernetes.NewForConfig(rest.CopyConfig(restCfg))
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	fw := NewFramework(DefaultPlugins())
	log := cfg.Log
	if log == nil {
		log = os.Stderr
	}
	return &state{
		cfg: cfg, cs: cs, electCS: electCS, eventsCS: eventsCS, log: log,
		cache:    NewCache(),
		queue:    NewQueue(clock.RealClock{}, cfg.PodInitialBackoff, cfg.PodMaxBackoff, fw.EventsFor()),
		algo:     &Algorithm{Framework: fw, PercentageOfNodesToScore: cfg.PercentageOfNodesToScore, Rand: rand.New(rand.NewSource(time.Now().UnixNano()))},
		snapshot: &Snapshot{},
		bindSlot: make(chan struct{}, MaxBindingsInFlight),
		phase:    "starting",
	}, nil
}

func (s *state) setPhase(p string) {
	s.mu.Lock()
	s.phase = p
	s.mu.Unlock()
}

func (s *state) logf(format string, args ...any) {
	fmt.Fprintf(s.log, "scheduler %s: "+format+"\n", append([]any{s.cfg.SchedulerName}, args...)...)
}

// health reports: healthy once synced, leading or standing by.
func (s *state) health() (bool, string) {
	s.mu.Lock()
	synced, leading, leader, phase, bound, failures := s.synced, s.leading, s.leader, s.phase, s.bound, s.failures
	s.mu.Unlock()
	if !synced {
		return false, phase
	}
	nodes, pods, _ := s.cache.Counts()
	active, backoff, unsched := s.queue.Lengths()
	if !leading && s.cfg.LeaderElect && leader == "" {
		return true, fmt.Sprintf("electing: trying to take Lease kube-system/%s", s.cfg.SchedulerName)
	}
	if !leading && s.cfg.LeaderElect {
		return true, fmt.Sprintf("standby for pods of schedulerName %s: Lease kube-system/%s is held by %q", s.cfg.SchedulerName, s.cfg.SchedulerName, leader)
	}
	return true, fmt.Sprintf("scheduling pods of schedulerName %s: %d nodes, %d pods on them; queue %d active, %d backoff, %d unschedulable; %d bindings, %d failed attempts",
		s.cfg.SchedulerName, nodes, pods, active, backoff, unsched, bound, failures)
}

// run is the scheduler's life: informers, then (as leader) the
// scheduling loop, until ctx ends.
func (s *state) run(ctx context.Context) error {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.eventsCS.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	s.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: s.cfg.SchedulerName})

	// Pods that have finished hold nothing on their node: the informer
	// leaves them out, as kube-scheduler's does.
	podFactory := informers.NewSharedInformerFactoryWithOptions(s.cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.AndSelectors(
			fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)),
			fields.OneTermNotEqualSelector("status.phase", string(corev1.PodFailed))).String()
	}))
	factory := informers.NewSharedInformerFactory(s.cs, 0)
	podInformer := podFactory.Core().V1().Pods()
	s.pods = podInformer.Lister()
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.onPodAdd(obj.(*corev1.Pod)) },
		UpdateFunc: func(old, cur any) { s.onPodUpdate(old.(*corev1.Pod), cur.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if pod := podOf(obj); pod != nil {
				s.onPodDelete(pod)
			}
		},
	}); err != nil {
		return err
	}
	if _, err := factory.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			s.cache.AddNode(obj.(*corev1.Node))
			s.queue.MoveOnEvent(NodeAdd)
		},
		UpdateFunc: func(old, cur any) {
			s.cache.UpdateNode(cur.(*corev1.Node))
			for _, e := range NodeEvents(old.(*corev1.Node), cur.(*corev1.Node)) {
				s.queue.MoveOnEvent(e)
			}
		},
		DeleteFunc: func(obj any) {
			node, ok := obj.(*corev1.Node)
			if d, isTomb := obj.(cache.DeletedFinalStateUnknown); isTomb {
				node, ok = d.Obj.(*corev1.Node)
			}
			if ok {
				s.cache.RemoveNode(node)
				s.queue.MoveOnEvent(NodeDelete)
			}
		},
	}); err != nil {
		return err
	}
	if _, err := factory.Core().V1().Namespaces().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { ns := obj.(*corev1.Namespace); s.cache.SetNamespace(ns.Name, ns.Labels) },
		UpdateFunc: func(old, cur any) {
			ns := cur.(*corev1.Namespace)
			s.cache.SetNamespace(ns.Name, ns.Labels)
			if !equality.Semantic.DeepEqual(old.(*corev1.Namespace).Labels, ns.Labels) {
				s.queue.MoveOnEvent(NamespaceChange)
			}
		},
		DeleteFunc: func(obj any) {
			if ns, ok := obj.(*corev1.Namespace); ok {
				s.cache.SetNamespace(ns.Name, nil)
			}
		},
	}); err != nil {
		return err
	}
	s.setPhase("syncing caches (pods, nodes, namespaces)")
	podFactory.Start(ctx.Done())
	factory.Start(ctx.Done())
	defer podFactory.Shutdown()
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.Informer().HasSynced, factory.Core().V1().Nodes().Informer().HasSynced,
		factory.Core().V1().Namespaces().Informer().HasSynced) {
		return nil // ctx ended
	}
	s.mu.Lock()
	s.synced = true
	s.mu.Unlock()
	go s.queue.Run(ctx)
	defer s.queue.Close()
	defer func() {
		// The loop has ended (it holds loopMu while it runs), so no
		// binding starts any more: wait for those under way.
		s.loopMu.Lock()
		s.loopMu.Unlock()
		s.bindings.Wait()
	}()

	if !s.cfg.LeaderElect {
		s.mu.Lock()
		s.leading = true
		s.mu.Unlock()
		s.logf("scheduling (leader election off)")
		s.loop(ctx)
		return nil
	}
	for ctx.Err() == nil {
		if err := s.elect(ctx); err != nil {
			return err
		}
	}
	return nil
}

// elect runs one round of leader election: wait to hold the Lease, then
// schedule until it is lost (or ctx ends).
func (s *state) elect(ctx context.Context) error {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: s.cfg.SchedulerName},
		Client:     s.electCS.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: s.cfg.Identity},
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   s.cfg.LeaseDuration,
		RenewDeadline:   s.cfg.RenewDeadline,
		RetryPeriod:     s.cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            s.cfg.SchedulerName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				s.mu.Lock()
				s.leading, s.leader = true, s.cfg.Identity
				s.mu.Unlock()
				s.logf("leading: holds Lease kube-system/%s as %q", s.cfg.SchedulerName, s.cfg.Identity)
				s.loop(lctx)
			},
			OnStoppedLeading: func() {
				s.mu.Lock()
				s.leading = false
				s.mu.Unlock()
				if ctx.Err() == nil {
					s.logf("lost Lease kube-system/%s: standing by", s.cfg.SchedulerName)
				}
			},
			OnNewLeader: func(identity string) {
				s.mu.Lock()
				s.leader = identity
				s.mu.Unlock()
				if identity != s.cfg.Identity {
					s.logf("standing by: Lease kube-system/%s is held by %q", s.cfg.SchedulerName, identity)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("scheduler: leader election: %w", err)
	}
	le.Run(ctx)
	return nil
}

// loop schedules pods one at a time until ctx ends.
func (s *state) loop(ctx context.Context) {
	s.loopMu.Lock()
	defer s.loopMu.Unlock()
	for {
		qp, err := s.queue.Pop(ctx)
		if err != nil {
			return
		}
		s.scheduleOne(ctx, qp)
	}
}

// responsible reports whether this scheduler should place pod: its
// schedulerName is ours, it waits for no scheduling gate and is not being
// deleted.
func (s *state) responsible(pod *corev1.Pod) bool {
	return pod.Spec.SchedulerName == s.cfg.SchedulerName && len(pod.Spec.SchedulingGates) == 0 && pod.DeletionTimestamp == nil
}

func (s *state) onPodAdd(pod *corev1.Pod) {
	switch {
	case pod.Spec.NodeName != "":
		s.cache.AddPod(pod)
		s.queue.MoveOnEvent(AssignedPodAdd)
	case s.responsible(pod):
		s.queue.Add(pod)
	}
}

func (s *state) onPodUpdate(old, cur *corev1.Pod) {
	switch {
	case cur.Spec.NodeName != "" && old.Spec.NodeName == "":
		// Bound: by us (our binding came back) or by someone else.
		s.queue.Delete(cur)
		s.cache.AddPod(cur)
		s.queue.MoveOnEvent(AssignedPodAdd)
	case cur.Spec.NodeName != "":
		s.cache.UpdatePod(cur)
		// Only what the plugins read: kubelets' status updates are many.
		if !equality.Semantic.DeepEqual(old.Labels, cur.Labels) || !equality.Semantic.DeepEqual(old.Spec, cur.Spec) {
			s.queue.MoveOnEvent(AssignedPodUpdate)
		}
	case !s.responsible(cur):
		s.queue.Delete(cur)
	case !s.responsible(old):
		s.queue.Add(cur) // its last scheduling gate was removed
	default:
		s.queue.Update(old, cur)
	}
}

func (s *state) onPodDelete(pod *corev1.Pod) {
	if pod.Spec.NodeName != "" {
		s.cache.RemovePod(pod)
		s.queue.MoveOnEvent(AssignedPodDelete)
		return
	}
	s.queue.Delete(pod)
	s.cache.ForgetPod(pod) // it may have been assumed, its binding under way
}

func podOf(obj any) *corev1.Pod {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, _ := obj.(*corev1.Pod)
	return pod
}

// scheduleOne is one scheduling cycle: snapshot, algorithm, and then
// either Reserve (assume) and Bind in the background, or the failure
// handling: preemption, event, condition, back to the queue.
func (s *state) scheduleOne(ctx context.Context, qp *QueuedPod) {
	pod := qp.Pod
	if pod.DeletionTimestamp != nil || s.cache.IsAssumed(pod) {
		return
	}
	start := time.Now()
	s.cache.UpdateSnapshot(s.snapshot)
	result, err := s.algo.Schedule(pod, s.snapshot)
	if err != nil {
		var fitErr *FitError
		if errors.As(err, &fitErr) {
			nominated := ""
			if p := s.algo.Preempt(pod, s.snapshot, fitErr); p != nil {
				s.preempt(ctx, pod, p)
				nominated = p.Node
			}
			qp.UnschedulablePlugins = fitErr.UnschedulablePlugins
			s.fail(ctx, qp, corev1.PodReasonUnschedulable, fitErr.Error(), nominated)
			return
		}
		if errors.Is(err, ErrNoNodesAvailable) {
			// Not an error: the pod waits, unschedulable, for any change
			// (a node joining), as kube-scheduler's does.
			qp.UnschedulablePlugins = map[string]bool{"(no nodes)": true}
			s.fail(ctx, qp, corev1.PodReasonUnschedulable, err.Error(), "")
			return
		}
		qp.UnschedulablePlugins = nil
		s.fail(ctx, qp, corev1.PodReasonSchedulerError, err.Error(), "")
		return
	}

	// Reserve: the pod takes its place in the cache now.
	assumed := pod.DeepCopy()
	assumed.Spec.NodeName = result.Node
	if err := s.cache.AssumePod(assumed); err != nil {
		qp.UnschedulablePlugins = nil
		s.fail(ctx, qp, corev1.PodReasonSchedulerError, err.Error(), "")
		return
	}
	// Bind in the background: the next pod need not wait for the
	// apiserver, unless MaxBindingsInFlight bindings are under way already.
	select {
	case s.bindSlot <- struct{}{}:
	case <-ctx.Done():
		// Leadership lost (or stopping): back to the queue, for whoever
		// leads next.
		s.cache.ForgetPod(assumed)
		s.queue.AddUnschedulable(qp)
		return
	}
	s.bindings.Add(1)
	go func() {
		defer func() { <-s.bindSlot; s.bindings.Done() }()
		s.bind(ctx, qp, assumed, result, time.Since(start))
	}()
}

// RequestTimeout bounds each write the scheduler makes (a binding, a
// status, a deletion): a request stuck on a dead connection must not hold
// a binding slot, or the loop, forever.
const RequestTimeout = 30 * time.Second

// MaxBindingsInFlight bounds the bindings under way at once. The
// scheduling loop is much faster than the apiserver's writes; without a
// bound it would start thousands of requests at once when many pods wait.
const MaxBindingsInFlight = 64

// bind is the Bind step (DefaultBinder): POST pods/<name>/binding.
func (s *state) bind(ctx context.Context, qp *QueuedPod, assumed *corev1.Pod, result Result, took time.Duration) {
	pod := qp.Pod
	rctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	err := s.cs.CoreV1().Pods(pod.Namespace).Bind(rctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: result.Node},
	}, metav1.CreateOptions{})
	if err != nil {
		s.cache.ForgetPod(assumed)
		switch {
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			// Gone, or bound by someone else meanwhile (the informer will
			// tell): nothing to retry.
			s.logf("binding %s/%s to %s: %v", pod.Namespace, pod.Name, result.Node, err)
			return
		case ctx.Err() != nil:
			// Leadership lost (or stopping): back to the queue. If the
			// binding got through after all, the informer will say so
			// and the pod leaves the queue.
			qp.UnschedulablePlugins = nil
			s.queue.AddUnschedulable(qp)
			return
		}
		qp.UnschedulablePlugins = nil
		s.fail(ctx, qp, corev1.PodReasonSchedulerError, fmt.Sprintf("binding rejected: %v", err), "")
		return
	}
	s.mu.Lock()
	s.bound++
	s.mu.Unlock()
	s.recorder.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, result.Node)
	s.logf("bound %s/%s to %s (%d of %d nodes feasible, %v)", pod.Namespace, pod.Name, result.Node, result.Feasible, result.Evaluated, took.Round(time.Microsecond))
}

// fail handles a pod that could not be placed: back to the queue (unless
// it is gone or bound meanwhile), a FailedScheduling event, and its
// PodScheduled condition False with reason and message (and the node it is
// nominated to, after a preemption).
func (s *state) fail(ctx context.Context, qp *QueuedPod, reason, msg, nominated string) {
	pod := qp.Pod
	s.mu.Lock()
	s.failures++
	s.mu.Unlock()
	cur, err := s.pods.Pods(pod.Namespace).Get(pod.Name)
	if err != nil || cur.UID != pod.UID || cur.Spec.NodeName != "" {
		return // gone, replaced or bound: nothing to report
	}
	qp.Pod = cur
	s.queue.AddUnschedulable(qp)
	s.recorder.Event(cur, corev1.EventTypeWarning, "FailedScheduling", truncate(msg))
	s.logf("%s/%s: %s", pod.Namespace, pod.Name, msg)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		want := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: reason, Message: msg}
		p := cur.DeepCopy()
		changed := setPodCondition(&p.Status, want, time.Now())
		if nominated != "" && p.Status.NominatedNodeName != nominated {
			p.Status.NominatedNodeName, changed = nominated, true
		}
		if !changed || p.Spec.NodeName != "" {
			return nil
		}
		rctx, cancel := context.WithTimeout(ctx, RequestTimeout)
		defer cancel()
		_, err := s.cs.CoreV1().Pods(p.Namespace).UpdateStatus(rctx, p, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			if fresh, gerr := s.cs.CoreV1().Pods(p.Namespace).Get(rctx, p.Name, metav1.GetOptions{}); gerr == nil && fresh.UID == pod.UID {
				cur = fresh
			}
		}
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		s.logf("%s/%s: condition PodScheduled: %v", pod.Namespace, pod.Name, err)
	}
}

// setPodCondition sets c in st, keeping lastTransitionTime if the status
// does not change; it reports whether anything changed.
func setPodCondition(st *corev1.PodStatus, c corev1.PodCondition, now time.Time) bool {
	c.LastProbeTime = metav1.Time{}
	for i := range st.Conditions {
		old := &st.Conditions[i]
		if old.Type != c.Type {
			continue
		}
		if old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message {
			return false
		}
		c.LastTransitionTime = old.LastTransitionTime
		if old.Status != c.Status {
			c.LastTransitionTime = metav1.NewTime(now)
		}
		*old = c
		return true
	}
	c.LastTransitionTime = metav1.NewTime(now)
	st.Conditions = append(st.Conditions, c)
	return true
}

// preempt carries out a preemption: each victim gets the DisruptionTarget
// condition, a Preempted event, and is deleted (gracefully: its kubelet
// stops it).
func (s *state) preempt(ctx context.Context, pod *corev1.Pod, p *Preemption) {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	for _, v := range p.Victims {
		s.recorder.Eventf(v, corev1.EventTypeNormal, "Preempted", "Preempted by pod %s on node %s", pod.UID, p.Node)
		victim := v.DeepCopy()
		if setPodCondition(&victim.Status, corev1.PodCondition{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: corev1.PodReasonPreemptionByScheduler,
			Message: fmt.Sprintf("%s: preempting to accommodate a higher priority pod", s.cfg.SchedulerName),
		}, time.Now()) {
			if _, err := s.cs.CoreV1().Pods(v.Namespace).UpdateStatus(ctx, victim, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
				s.logf("preempting %s/%s: condition DisruptionTarget: %v", v.Namespace, v.Name, err)
			}
		}
		err := s.cs.CoreV1().Pods(v.Namespace).Delete(ctx, v.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &v.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			s.logf("preempting %s/%s: %v", v.Namespace, v.Name, err)
			continue
		}
		s.logf("preempted %s/%s on %s for %s/%s", v.Namespace, v.Name, p.Node, pod.Namespace, pod.Name)
	}
}

// truncate keeps a message within an event's 1024 characters, as
// kube-scheduler does.
func truncate(msg string) string {
	const limit, suffix = 1024, " ..."
	if len(msg) <= limit {
		return msg
	}
	return msg[:limit-len(suffix)] + suffix
}
