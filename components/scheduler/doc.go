// Package scheduler is the reference scheduler component: it gives every
// pod without a node one, the node that suits it best, and says why when
// none does.
//
// # What it does
//
// The course notes call the scheduler 承上启下: "承上", it takes the pods
// that the API and the controllers create, and finds each a home, a Node;
// "启下", once it has, the kubelet of that node takes over and runs the pod
// for the rest of its life. Its whole output is one field, spec.nodeName,
// written through the pods/binding subresource:
//
//	apiserver ──watch pods, nodes, namespaces──► scheduler
//	    ▲                                           │ queue → filter → score → assume
//	    └──── POST pods/<name>/binding ◄────────────┘
//	          Events (Scheduled, FailedScheduling)
//	          pods/<name>/status (PodScheduled False, with the reason)
//	          Lease kube-system/<scheduler name>
//
// Inputs: the pods (those not finished), the Nodes (their labels, taints,
// allocatable resources, conditions, images), the namespaces (for the
// namespaceSelector of pod affinity). Outputs: bindings, Events, the
// PodScheduled condition of pods that do not fit, the deletion of pods it
// preempts, its Lease.
//
// # The scheduling cycle
//
// A pod waits in the queue (queue.go) until the scheduling loop (run.go,
// scheduleOne) takes it. One cycle is one pod:
//
//  1. Snapshot (cache.go): the cluster as it is now, nodes and the pods on
//     them, copied so that nothing changes under the algorithm's feet.
//  2. PreFilter: each plugin looks at the pod once and works out what it
//     needs (pods matching an affinity term, per zone, say).
//  3. Filter: every node is checked by every filter plugin, in order; the
//     first that says no rejects the node, with a reason in Kubernetes'
//     words ("Insufficient cpu"). In a big cluster the search stops once
//     enough nodes have passed (Algorithm.PercentageOfNodesToScore).
//  4. Score: the nodes that passed are ranked by every score plugin
//     (0-100 each, times the plugin's weight); the best wins, ties at
//     random.
//  5. Reserve: the pod is assumed onto the winner in the cache (Cache,
//     AssumePod): the very next cycle sees that room taken.
//  6. Bind, in the background: POST pods/<name>/binding sets spec.nodeName
//     (and, in the apiserver, PodScheduled True); an Event says
//     "Successfully assigned default/web to node1". The kubelet of node1
//     sees the pod and runs it.
//
// Steps 1-4 are the Algorithm (schedule.go): a pure function of a pod and
// a snapshot, unit-tested table by table. When no node passes, Schedule
// returns a *FitError, whose message counts the reasons over the nodes:
//
//	0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match
//	Pod's node affinity/selector. preemption: 0/2 nodes are available: 1 No
//	preemption victims found for incoming pod, 1 Preemption is not helpful
//	for scheduling.
//
// The part after "preemption:" is PostFilter's (preemption.go): could
// deleting pods of lower priority make room? If it could, the scheduler
// deletes them and the pod waits, nominated to that node. Then the failure
// is reported three ways: a FailedScheduling Event, the pod's PodScheduled
// condition (False, reason Unschedulable, the same message: what kubectl
// describe and kubectl get pod -o yaml show), and the pod goes back to the
// queue.
//
// # The plugins
//
// Every check is a plugin, registered in one place (registry.go,
// DefaultPlugins), in kube-scheduler's order and with its weights:
//
//	plugin                 filter: a node is out when            score (weight)
//	NodeUnschedulable      it is cordoned (spec.unschedulable)
//	NodeName               it is not the pod's spec.nodeName
//	TaintToleration        a NoSchedule/NoExecute taint is       fewer untolerated PreferNoSchedule taints (3)
//	                       not tolerated
//	NodeReady              it is not Ready (as the node
//	                       controller's not-ready taint would)
//	NodeAffinity           nodeSelector or required node         weights of matching preferred terms (2)
//	                       affinity does not match
//	NodePorts              a hostPort is taken
//	NodeResourcesFit       requests do not fit next to the       least allocated (1)
//	                       node's pods; too many pods
//	PodTopologySpread      a DoNotSchedule constraint's skew
//	                       would be exceeded
//	InterPodAffinity       required pod (anti-)affinity fails
//	BalancedAllocation                                           CPU and memory used evenly (1)
//	ImageLocality                                                the pod's images already there (1)
//	OwnerSpread                                                  fewer pods of the same owner (2)
//
// A plugin is a type with a Name and the methods of the extension points
// it takes part in (framework.go): PreFilter, Filter, PreScore, Score,
// NormalizeScore, and EventsToRegister for the queue.
//
// # The queue
//
// The queue (queue.go) has three parts, as kube-scheduler's: active
// (highest priority first, then oldest), backoff (pods that failed wait
// 1 s, 2 s, 4 s... up to 10 s before their next try) and unschedulable
// (pods no node fits wait there until the cluster changes). The event
// handlers tell the queue what changed (a node added, labelled, tainted,
// given more room; a pod bound or deleted) and it moves back only the pods
// rejected by a plugin that cares about that change: a pod waiting for
// CPU is not retried because a node got a label. A pod left unschedulable
// for 5 minutes is retried anyway.
//
// # The assume cache
//
// Binding takes a round trip to the apiserver, and the informer reports the
// bound pod later still. The scheduler does not wait: the cache (cache.go)
// counts an assumed pod on its node at once, then swaps in the real one
// when the informer reports it bound, or takes it off if the binding
// fails. So two pods are never placed on capacity that only fits one, and
// the loop schedules the next pod while bindings are under way.
//
// # Several schedulers, and leader election
//
// A pod names its scheduler in spec.schedulerName (default
// "default-scheduler"); a scheduler takes only pods with its own name, so
// a student's scheduler can run beside this one and take only its pods.
// Two schedulers of the same name must never both act (they would bind
// pods onto the same free room): they elect a leader through the Lease
// kube-system/<scheduler name> (client-go's leaderelection). The holder
// renews it every 2 s; the others watch it and take over when it has not
// been renewed for 15 s. The component uses its machine's name as its
// identity, so that a scheduler the agent restarts after a crash takes the
// Lease back at once. A Lease is not a lock: a leader that was frozen
// (SIGSTOP, a long GC pause, a VM suspended) still believes it leads when
// it wakes, until its next renewal fails, at most the renew deadline
// (10 s) later. Kubernetes has the same window.
//
// # Using the component
//
// The agent (or a test) drives it through the component contract
// (plugins.Component):
//
//  1. Start with the settings (ConfigFrom): kubeconfig is required;
//     scheduler-name, leader-elect and the timings are optional. Start
//     returns at once; the work goes on in the background.
//  2. Poll Health: healthy once the informers have synced, whether the
//     scheduler leads ("scheduling pods of schedulerName ...") or stands
//     by ("standby ... Lease ... is held by ...").
//  3. Stop: the loop ends, bindings under way finish, the Lease is given
//     up so that a standby takes over at once.
//
// A program of its own calls Run(ctx, cfg) instead: the chapter's
// scenarios run a second scheduler that way.
//
// # What tinykube leaves out
//
// kube-scheduler's profiles and configuration file, scheduler extenders,
// the Permit, PreBind and PostBind steps, volume plugins (there are no
// volumes to bind), dynamic resource allocation, scheduling gates' own
// condition (a gated pod is simply not queued), queueing hints finer than
// the event kinds above, PodDisruptionBudgets in preemption, scoring for
// preferred inter-pod affinity and ScheduleAnyway spread constraints, and
// the node controller's taints (NodeReady stands in for them until chapter
// 5). Pods nominated to a node after a preemption are not counted there
// by other pods' filters.
package scheduler
