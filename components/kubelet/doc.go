// Package kubelet is the reference kubelet component: the node's side of
// the cluster, the agent that turns pods on paper into running containers.
//
// # What it does
//
// The apiserver only stores pods; nothing runs until the kubelet of the
// pod's node (spec.nodeName) acts. The course notes:
// kubelet，负责容器的创建、启停，与Master协作实现基本的集群管理 (creates, starts and
// stops containers, and works with the master on basic cluster
// management: it registers its node and reports on it). One kubelet runs
// on each node, inside the node's network namespace:
//
//	apiserver ◄──── watch my pods, report status, Node, Lease, Events
//	    │
//	    │ https :10250 (kubectl logs, kubectl exec)
//	    ▼
//	 kubelet ──► containerd (k8s.io namespace) ──► runc ──► namespaces, cgroups
//	    │
//	    └──────► podnet: a network namespace, a veth and an IP per pod
//
// Inputs: the pods bound to this node, the Services (for environment
// variables), the ConfigMaps and Secrets pods refer to, the other Nodes (for
// routes). Outputs: containers in containerd, each pod's status, this node's
// Node object and Lease, Events.
//
// # The loop
//
// The kubelet is a controller in the sample-controller mould (kubelet.go,
// pods.go):
//
//  1. An informer watches only this node's pods (field selector
//     spec.nodeName=<node>). Its handlers only enqueue "namespace/name".
//  2. A workqueue hands each key to one of 8 workers, never to two at once.
//     Three other sources enqueue too: containerd's /tasks/exit events
//     (watchExits: a container that exits is looked at at once), a resync
//     of every pod every 10 s, and a backoff that ends (AddAfter).
//  3. syncPod compares what should run with what runs, and converges one
//     step at a time: list the pod's containers (Runtime.ListPod) →
//     ComputeActions (sync.go, pure: no I/O) → apply that step through the
//     Runtime (runtime.go, containerd) → list again, up to 6 steps, until
//     there is nothing left to do.
//  4. Then ComputeStatus (status.go, pure) turns the containers and their
//     probes' outcomes into the pod's status (phase, conditions, one status
//     per container, podIP), written through pods/<name>/status only if it
//     changed. What kubectl shows (READY 1/1, STATUS CrashLoopBackOff,
//     RESTARTS 3) comes from here.
//  5. An error requeues the pod, rate-limited; a pod being deleted goes to
//     terminate instead.
//
// Both pure functions take the containers as plain Container values, never
// containerd itself, and are unit-tested as such.
//
// # The sandbox: the pause container
//
// The first thing a pod gets is its sandbox (createSandbox in pods.go): a
// network namespace with its own IP (podnet.AddPod: the namespace
// /run/netns/<cluster>-<node>-<first 8 characters of the UID>, a veth pair to
// the node's bridge cni0, an address from the node's pod CIDR), the pod's
// etc files, and the pause container (registry.k8s.io/pause:3.10, a tiny
// program that waits for signals and reaps zombies) started in it. The pause
// container holds the pod's namespaces for as long as the pod lives; its
// containerd labels record the namespace's path and the pod's IP.
//
// Every app container then joins the sandbox's network namespace (by path)
// and the pause container's IPC and UTS namespaces (/proc/<pause pid>/ns/),
// and gets its own PID and mount namespaces. So the containers of a pod
// share one IP, localhost and one hostname, and an app container can crash
// and restart without the pod losing its address. If the sandbox dies,
// the pod starts over in a new one (KillPod, then CreateSandbox), where
// podnet gives the same UID the same IP again; unless its restartPolicy is
// Never and its containers have run: then the pod is over.
//
// # Restarts and CrashLoopBackOff
//
// Init containers run first, one at a time, each until it succeeds. Then
// the app containers start, and restartPolicy decides what an exited one
// does: Always restarts it, OnFailure only after a non-zero exit code,
// Never does not. When every container has exited for good the pod is done:
// Succeeded if all exited 0, Failed otherwise.
//
// A restart is backed off as in Kubernetes (client-go's flowcontrol.Backoff,
// one entry per pod UID and container name): the first restart is at once,
// then the waits are 10 s, 20 s, 40 s... up to 5 minutes (settings
// backoff-initial and backoff-max). While it waits the container is
// Waiting with reason CrashLoopBackOff, its lastState is the exit that
// caused it, and its restartCount is the attempt number that every
// container carries in a label. A failed image pull waits the same way
// (ErrImagePull, then ImagePullBackOff).
//
// # Deleting a pod gracefully
//
// kubectl delete pod only marks a bound pod (deletionTimestamp,
// deletionGracePeriodSeconds). The kubelet sees the change and terminates
// it (terminate in pods.go): the app containers stop side by side, each
// with the whole grace period (30 s by default): its preStop hook if it
// has one, then SIGTERM, then SIGKILL for what still runs when the grace
// period is over (at least 2 s after the hook). The sandbox goes last.
// Then the kubelet removes the containers, the pod's network, its cgroup
// and its directory, and last deletes the pod from the API with grace 0
// and a UID precondition: only this very pod, never a new one created
// since under the same name. Nothing of the pod is left on the node.
//
// # Probes and lifecycle hooks
//
// probe.go runs a goroutine per probe of each running container, every
// periodSeconds after initialDelaySeconds. A probe is an exec in the
// container, an HTTP GET or a TCP connection to the pod's IP from the
// node (as the real kubelet probes, from outside the pod); it counts as
// failed after failureThreshold failures in a row and as passed after
// successThreshold successes (ProbeState, pure).
//
//   - readinessProbe: the container is Ready only while it passes (it
//     starts failed). The pod's Ready condition follows; Services will
//     send traffic only to Ready pods.
//   - livenessProbe: when it fails, the container is killed (with the
//     grace period) and restarted as restartPolicy says, backed off like
//     any exit. Events: Unhealthy, then Killing.
//   - startupProbe: liveness and readiness wait until it passes; if it
//     fails, the container is killed like a failed liveness probe.
//   - postStart: run right after the container starts; the container
//     counts as started only once it is done, and is killed if it fails.
//   - preStop: run before SIGTERM when the container is stopped, within
//     the grace period.
//
// # The node: registration and heartbeats
//
// At start (node.go) the kubelet registers its Node: its capacity (CPUs,
// memory, 110 pods), addresses (InternalIP, Hostname), kubelet port 10250,
// system info, spec.podCIDR, and the conditions Ready=True and no
// memory, disk or PID pressure. A Node left by a previous run is taken over:
// its labels and taints stay, its status is rewritten. Then it heartbeats:
// the Lease kube-node-lease/<node> is renewed every 10 s (lease duration
// 40 s), and the Node's conditions once a minute. Whoever watches nodes (the
// node controller, chapter 5) reads a node that stops renewing as gone.
// The kubelet also watches every Node and routes the other nodes' pod
// CIDRs through their addresses (podnet.SyncRoutes): pod to pod without NAT.
//
// # What a container gets
//
//   - Environment (env.go): first the docker-link variables of the Services
//     of its namespace and of default/kubernetes that exist when it starts
//     (MYSQL_SERVICE_HOST, MYSQL_PORT_3306_TCP...; enableServiceLinks: false
//     leaves only kubernetes's), then envFrom (ConfigMaps, Secrets, with a
//     prefix), then env, each later one winning. env values may use $(NAME);
//     valueFrom reads the downward API (metadata.name, namespace, uid,
//     labels, annotations, spec.nodeName, status.podIP, status.hostIP...),
//     resources, ConfigMap and Secret keys. command replaces the image's
//     entrypoint, args alone its cmd, both with $(NAME) expanded.
//   - Files (files.go): /etc/hosts (localhost, the pod's IP under its
//     hostname, hostAliases), /etc/resolv.conf by dnsPolicy (ClusterFirst:
//     nameserver cluster-dns, search <ns>.svc.cluster.local
//     svc.cluster.local cluster.local and the node's own search domains,
//     ndots:5) and /etc/hostname, written
//     once per pod and bind-mounted into each container, and its
//     terminationMessagePath.
//   - Volumes (volumes.go): emptyDir (a directory of the pod), hostPath,
//     configMap, secret, downwardAPI and projected (not
//     serviceAccountToken), written when the container starts and not
//     updated after; subPath and readOnly.
//   - Resources: memory limit, CPU limit as a CFS quota, CPU request as
//     shares, in the cgroup /<cgroup-parent>/pod<uid>/<container id>.
//   - Its own log file, one per attempt:
//     <data dir>/pods/<uid>/logs/<container>/<attempt>.log.
//
// # Images without a registry
//
// EnsureImage (images.go) follows imagePullPolicy: Never uses the node's
// image or fails (ErrImageNeverPull), IfNotPresent pulls only when the
// node lacks it, Always pulls every time. A cluster on one host reaches
// no registry, so one rule differs from Kubernetes: when a pull under Always
// fails and the node has the image, the kubelet uses it and says so in a
// PullFailedUsingLocal warning event. `image: busybox` means busybox:latest,
// pulled Always, and must still run. The images a node has are those
// `make images` built, which the containerd component imports at start:
// registry.k8s.io/pause:3.10, busybox and tinykube/demo (1.0, 2.0). The
// Node's status.images lists them (NodeImages: every name, and
// repository@digest), as the scheduler's ImageLocality reads them. As in
// Kubernetes, the names are the runtime's full ones
// (docker.io/tinykube/demo:1.0), which a pod's short image name
// (tinykube/demo:1.0) does not match.
//
// # The kubelet API: kubectl logs and kubectl exec
//
// serve (server.go) listens on <node address>:10250, over TLS with the
// node's serving certificate. Every path but /healthz needs a client
// certificate signed by the cluster CA:
//
//   - GET /containerLogs/<namespace>/<pod>/<container> answers with the
//     container's log file, with previous, tailLines, limitBytes and
//     follow.
//   - GET /exec/<namespace>/<pod>/<container>?command=... (exec.go)
//     upgrades to a WebSocket speaking v5.channel.k8s.io and runs the
//     command in the running container (containerd's task.Exec, as
//     `ctr tasks exec` does). Each message starts with its channel: 0
//     stdin, 1 stdout, 2 stderr, 3 the final Status (with the exit code),
//     4 terminal resizes.
//
// kubectl does not come here itself: it asks the apiserver for
// pods/<name>/log or pods/<name>/exec, and the apiserver, with its own
// client certificate, asks the kubelet of the pod's node and passes the
// answer back (proxy.go in the apiserver).
//
// # Restarting the kubelet
//
// The kubelet keeps nothing in memory it cannot find again. Each
// containerd container carries labels: the pod's UID, name and namespace,
// the container's name, its attempt, its log path, and for a sandbox the
// namespace's path and the pod's IP; when a container exits, its exit code
// and time are moved into labels too (Runtime.List). podnet keeps its
// addresses in files. So a kubelet that crashes leaves its pods running
// (containerd's shims hold them), and the next one lists the containers
// and carries on: same containers, no restart counted. housekeeping, every
// 2 s, removes whatever belongs to no pod of this node any more (a pod
// deleted while the kubelet was away): its containers, network and files.
//
// # Settings
//
// ConfigFrom (kubelet.go) reads the settings; `tinykube up` sets them all
// (internal/config, standardSettings). The node's name, address and data
// directory come from the plugin settings themselves.
//
//	kubeconfig            how to reach the apiserver, with the node's client
//	                      certificate (required)
//	containerd-address    the node's containerd socket (required)
//	runc-root             runc's state directory, one per node (required)
//	cgroup-parent         the node's cgroup, e.g. /tinykube/tk/node1 (required)
//	pod-cidr              this node's pod addresses, e.g. 10.244.1.0/24 (required)
//	service-cidr          the Service range, routed out of the node
//	cluster-dns           the nameserver of ClusterFirst pods (10.96.0.10)
//	cluster-domain        cluster.local
//	tls-cert-file, tls-private-key-file
//	                      the kubelet API's serving certificate (none: plain HTTP)
//	client-ca-file        the CA that signs the kubelet API's clients
//	backoff-initial       first crash-loop wait (10s)
//	backoff-max           longest crash-loop wait (5m)
//	node-lease-duration-seconds
//	                      the node Lease's duration (40), renewed every quarter of it
//
// # What the caller must do
//
// The caller is the node's agent (internal/agent). It must:
//
//  1. Start the node's containerd first and wait until it is healthy (the
//     images imported).
//  2. Run the kubelet as root inside the node's network namespace: the
//     node's address must be its own, and it makes namespaces, links and
//     cgroups.
//  3. Start it with the machine's name and address, a data directory kept
//     across restarts (pod directories, podnet's addresses), and the
//     settings above. Every node needs its own pod-cidr, cgroup-parent and
//     runc-root. The kubeconfig's certificate should name the node
//     (CN system:node:<node>, O system:nodes).
//  4. Poll Health until it is healthy: connected to containerd, the pod
//     network built, the Node registered, the caches synced, the API
//     served. If it fails after that, Health says why.
//  5. Restart it when its process dies: the pods keep running, and the new
//     kubelet adopts them.
//  6. Stop it with a deadline. Stop leaves the pods running, as when a
//     real kubelet is restarted; to power a node off, stop containerd too
//     (its Stop kills every container).
//
// Reference: chapters/03-kubelet/README.md; podnet/doc.go for the pod
// network; the Kubernetes documentation, "Pod Lifecycle" and "Nodes".
package kubelet
