// Package controllermanager is the reference controller-manager
// component: the control loops that keep what runs in the cluster at what
// its objects ask for.
//
// # Desired and actual state
//
// A Kubernetes object is a wish: the course notes' mysql-rc.yaml says
// "one pod like this, labelled app=mysql, always" (RC 根据定义文件的Pod模版创建、
// 销毁Pod使其达到预期数量: the RC creates and destroys pods from its template
// to keep the expected number). The apiserver only stores the wish. A
// controller is the loop that makes it come true and keeps it true:
//
//	for {
//	    desired := what the objects say      (spec)
//	    actual  := what there is              (other objects, status)
//	    act to move actual toward desired     (create, delete, update)
//	    write down what you saw               (status)
//	}
//
// Nothing tells a controller *what happened* (a pod died, someone scaled);
// it looks at *how things are* and converges. That is why a controller
// that crashes, restarts, or misses a notification still does the right
// thing on its next pass: it is level-triggered, not edge-triggered.
//
// # What runs here
//
// kube-controller-manager is one process running many controllers; so is
// this one. Each is in its own file, listed in one table, Controllers
// (registry.go):
//
//	replicationcontroller-controller  replicationcontroller.go  an RC's pods: as many as spec.replicas
//	replicaset-controller             replicaset.go             the same for ReplicaSets (both: replicas.go)
//	deployment-controller             deployment.go             ReplicaSets per pod template: rollouts, undo, pause
//	                                  deployment_rollout.go     (the pure steps: maxSurge, maxUnavailable, Recreate)
//	daemonset-controller              daemonset.go              one pod per eligible node
//	statefulset-controller            statefulset.go            pods web-0, web-1... in order, with stable names
//	endpoints-controller              endpoints.go              a Service's pod addresses, ready or not
//	endpointslice-controller          endpointslice.go          the same, as EndpointSlices
//	garbage-collector-controller      garbagecollector.go       objects whose owners are gone
//	node-lifecycle-controller         nodelifecycle.go          a silent node: Unknown, NotReady, tainted
//	taint-eviction-controller         tainteviction.go          pods on a NoExecute-tainted node they do not tolerate
//	namespace-controller              namespace.go              a deleted namespace's content, then it
//	serviceaccount-controller         serviceaccount.go         a "default" ServiceAccount per namespace
//	root-ca-certificate-publisher-controller
//	                                  rootcapublisher.go        the CA in a ConfigMap per namespace, for pods' tokens
//	job-controller                    job.go                    pods run to completion: completions, parallelism, backoffLimit
//	cronjob-controller                cronjob.go                a Job per schedule tick
//	ttl-after-finished-controller     ttlafterfinished.go       finished Jobs deleted after ttlSecondsAfterFinished
//	pod-garbage-collector-controller  podgc.go                  finished pods beyond a threshold, pods of deleted nodes
//	resourcequota-controller          resourcequota.go          a ResourceQuota's status.used, recounted
//	horizontal-pod-autoscaler-controller
//	                                  horizontalpodautoscaler.go a target's replicas from its pods' CPU (metrics.k8s.io)
//
// Inputs: every object, through the apiserver's watches. Outputs: pods,
// ReplicaSets, Jobs, Endpoints, EndpointSlices, ServiceAccounts, node
// taints and conditions, deletions and status updates, ConfigMaps, and
// Events (kubectl describe shows them, FROM
// replication-controller, replicaset-controller...).
//
// # The shape of a controller
//
// Every controller has the shape of kubernetes/sample-controller
// (controller.go has the shared part):
//
//  1. Informers. One shared informer per resource lists it once and
//     then watches it, keeping a local cache (read through listers) that
//     all controllers share: one watch of pods for the whole process, not
//     one per controller. Reading the cache costs nothing; the apiserver
//     is asked only to write.
//  2. Event handlers only enqueue keys. A pod changed? The ReplicaSet
//     controller puts its owner's "namespace/name" on its workqueue, and
//     that is all. Never the object itself: by the time a worker gets to
//     it, it may have changed again, and the worker reads the latest from
//     the cache.
//  3. A workqueue. It de-duplicates (ten pod events for one ReplicaSet
//     make one sync), never gives one key to two workers at once, and
//     rate-limits retries per key.
//  4. Workers: Run → runWorker → processNextWorkItem → syncHandler. A
//     worker takes a key and calls the controller's syncHandler, which
//     "compares the actual state with the desired, and attempts to
//     converge the two". If it returns an error the key is requeued,
//     backed off; otherwise the key's failures are forgotten.
//  5. Never modify an object from the cache: it is shared. DeepCopy
//     first, change the copy, write it.
//
// Each syncHandler's decision is a pure function where it can be
// (calculateStatus, podsToDelete, claim, endpointSubsets, desiredSlices,
// planSlices), tested without a cluster; the unit tests call syncHandler
// directly on a fake clientset with objects put straight into the
// informers' caches, and check what it wrote.
//
// # Expectations: when the cache is behind
//
// The cache lags the apiserver by a few milliseconds. Suppose a
// ReplicaSet wants 3 pods and has none: the controller creates 3. A
// moment later something else changes and the ReplicaSet is synced
// again, but the cache does not show the 3 new pods yet: it would create
// 3 more. So before creating, the controller records "expecting 3
// creations" for the key; the pod informer's add handler counts each new
// pod of that owner down; and the sync does not manage replicas again
// until the count is zero (or 5 minutes have passed, in case an event
// was lost). Deletions are counted the same way, by pod name
// (expectations.go).
//
// # Owners and garbage
//
// Every pod a ReplicaSet makes carries an ownerReference to it
// (controller: true, blockOwnerDeletion: true). A ReplicaSet adopts a pod
// its selector matches that has no controller, and lets go of one whose
// labels no longer match. When an owner is deleted, the garbage collector
// follows the references down: deleting the dependents (background,
// kubectl's default), deleting them first and the owner after
// (foreground), or cutting them loose (orphan, kubectl delete
// --cascade=orphan).
//
// # Leader election
//
// Two controller-managers acting at once would fight (each creating the
// missing pod). So a controller-manager runs its controllers only while it
// holds the Lease kube-system/kube-controller-manager, renewed every 2 s;
// another one waits, and takes over when the Lease has not been renewed
// for 15 s. Stopped cleanly, it gives the Lease up at once. Each time it
// becomes the leader it starts from nothing: new informers, new queues.
// Nothing is remembered between terms but what is in the apiserver.
//
// # Settings
//
//	kubeconfig      the credentials (tinykube up writes controller-manager.conf,
//	                user system:kube-controller-manager); required
//	controllers     "*" (default): all; "*,-replicaset-controller": all but
//	                one; older names ("replicaset") work too
//	leader-elect    true (default) or false
//	leader-elect-lease-duration, leader-elect-renew-deadline,
//	leader-elect-retry-period   15s, 10s, 2s
//	kube-api-qps, kube-api-burst  50, 100: the client's rate limit
//	root-ca-file    the CA published as kube-root-ca.crt; default: the kubeconfig's
//	cluster-cidr, service-cidr, cluster-dns, cluster-domain
//	                the cluster's ranges, for the controllers that need them
//	node-monitor-period, node-monitor-grace-period, node-startup-grace-period
//	                5s, 40s, 1m: how often nodes are checked, how long a
//	                node may be silent before it turns NotReady (Unknown)
//	terminated-pod-gc-threshold   12500: finished pods kept (0: all)
//	resource-quota-sync-period    5m: every quota recounted this often
//
// How long a pod stays on a NotReady node before the taint-eviction
// controller deletes it is not a controller-manager setting: it is the
// pod's toleration of node.kubernetes.io/not-ready and unreachable, which
// the apiserver adds to every pod (its settings
// default-not-ready-toleration-seconds and
// default-unreachable-toleration-seconds, 300 s).
//
// # What the caller does
//
// The agent, through the plugin contract (plugins.Component):
//
//  1. Start with the settings: Start checks them, reads the apiserver's
//     address from the kubeconfig, and returns; the election and the
//     controllers run in the background.
//  2. Health: unhealthy while building; healthy when leading with every
//     controller's caches synced, or when standing by behind another
//     leader.
//  3. Stop: the controllers stop, their workers finish the key in hand,
//     and the Lease is released.
//
// # Adding a controller
//
// Write its file: a constructor func(*Context) (Controller, error) that
// takes its listers from Context.Informers and adds event handlers that
// enqueue keys; a Run that calls runWorkers; a syncHandler. Then add one
// line to Controllers. Every controller above was added this way.
//
// Reference: kubernetes/cmd/kube-controller-manager, kubernetes/pkg/controller,
// kubernetes/sample-controller; chapters/05-controller-manager.
package controllermanager
