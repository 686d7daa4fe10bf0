// Package apiserver is the reference apiserver component: the Kubernetes
// API over etcd, spoken well enough for the real kubectl and client-go.
//
// # Where it sits
//
// The apiserver is the cluster's front door and etcd's only client.
// kubectl, the scheduler, the controllers and every kubelet talk to it,
// never to etcd and never to each other:
//
//	kubectl, scheduler,      HTTPS :6443                  :2379
//	controllers, kubelets  ──────────────►  apiserver  ──────────►  etcd  /registry/...
//	                                            │ HTTPS :10250
//	                                            └──────────► kubelet (kubectl logs, exec)
//
// It keeps no state of its own: everything is in etcd, so it can be killed
// and restarted at any time. What it adds on top of etcd is a REST API, one
// URL per object; defaults and validation, so that only sound objects are
// stored; optimistic concurrency and watches, built on etcd's revisions;
// and the identity of whoever asks.
//
// Subpackages, each usable and tested on its own:
//   - storage: objects in etcd, resourceVersion = etcd revision,
//     compare-and-swap updates, lists with paging, watches;
//   - admission: defaults and validation, as Kubernetes sets and checks
//     them, with Kubernetes' messages;
//   - printers: the Table columns `kubectl get` shows for each kind;
//   - openapi: the OpenAPI v3 documents kubectl validates and explains with.
//
// # A request, step by step
//
// Server.ServeHTTP (server.go) takes every request through these steps:
//
//  1. /healthz, /livez, /readyz, /version and /metrics are answered to
//     anyone.
//  2. authenticate: the client certificate, already verified by TLS
//     against the cluster CA, names the user: user = its CN, groups = its
//     O fields. Without one, a service-account bearer token
//     (serviceaccount.go) does. Neither: 401 Unauthorized.
//  3. /openapi/... goes to the openapi package (kubectl create, apply and
//     explain read it).
//  4. Discovery (discovery.go): GET /api, /apis and /apis/<group>/<version>
//     list the resources served, in the aggregated form kubectl asks for
//     first and in the legacy one. kubectl turns "rc" into
//     replicationcontrollers with it.
//  5. parsePath (request.go) reads the URL and the method into a request:
//     resource, namespace, name, subresource and verb. GET on a collection
//     is list (watch with ?watch=true), GET on an object is get, POST is
//     create, PUT update, PATCH patch, DELETE delete (deletecollection on a
//     collection). An unknown path is 404, a wrong method 405.
//  6. serveResource (server.go) sends a subresource to its handler and a
//     verb to its own: get and list (label and field selectors, limit and
//     continue for paging) in server.go; create in server.go; update,
//     patch (JSON, merge, strategic merge and server-side apply), delete
//     and deletecollection in writes.go; watch in watch.go.
//  7. The answer is the object as JSON, or a meta.k8s.io/v1 Table when the
//     client asks for one (kubectl get: see the printers package). Every
//     failure is a metav1.Status with a code and a reason (respond.go),
//     which kubectl prints as "Error from server (NotFound): ...".
//
// Resources (resources.go) lists every kind served; adding a kind is adding
// one line there.
//
// # The create path
//
// create and createObject (server.go) run these steps, and write nothing
// unless every one of them passed:
//
//  1. decode (server.go, misc.go): JSON, YAML or protobuf into the kind's
//     Go type. With fieldValidation=Strict, which kubectl sends, an unknown
//     or duplicated field is 400 Bad Request; with Warn it is a warning.
//  2. The namespace from the URL, a name from generateName, and a check
//     that the namespace exists and is not being deleted.
//  3. admission.Default: the fields the user left out (imagePullPolicy,
//     restartPolicy, protocol TCP...). For a pod, serviceAccountAdmission
//     (serviceaccount.go) too: its account is "default" unless it names
//     one, and if that account and the namespace's kube-root-ca.crt
//     ConfigMap exist (the controller-manager makes them, chapter 5) it
//     gets the kube-api-access volume: a token, the cluster CA and its
//     namespace, at /var/run/secrets/kubernetes.io/serviceaccount.
//  4. prepareForCreate: what the server owns: uid, creationTimestamp,
//     generation 1, no resourceVersion.
//  5. admission.PrepareForCreate: the kind's own changes (a Pod starts
//     Pending, a Namespace Active).
//  6. admission.ValidateCreate: every broken rule at once, as 422 Invalid
//     with one cause per field.
//  7. ResourceQuota admission (quota.go, with the pure rules in package
//     quota): if the namespace has ResourceQuotas, what the object would
//     use (pods, requests.cpu, services.nodeports, count/...) is checked
//     against each, and refused as 403 Forbidden with Kubernetes' message
//     (`exceeded quota: compute-resources, requested: pods=1, used:
//     pods=2, limited: pods=2`, or `failed quota: ...: must specify
//     limits.cpu for: web`). Otherwise the quota's status.used is raised
//     first, with a compare-and-swap on its resourceVersion, so that
//     concurrent creates cannot both take the last slot. The
//     controller-manager's resourcequota-controller recounts usage when
//     objects go away.
//  8. allocate (allocator.go): a Service's ClusterIP and NodePorts, each
//     claimed as an etcd key with a create-if-absent transaction, and given
//     back if the write fails.
//  9. storage.Store.Create: the object is written only if its key does not
//     exist (409 AlreadyExists otherwise).
//
// An update (updateObject in writes.go) runs inside Store.GuaranteedUpdate:
// it keeps what the client may not change (keepServerFields: uid, creation
// time, the status through the main resource, everything but the status
// through /status), defaults, validates (ValidateUpdate) and writes with a
// compare-and-swap. A PATCH is applied to the stored object first, then
// takes the same path.
//
// # Storage, resourceVersion, watch
//
// Each object is one etcd key, its value the object as JSON (see the
// storage package):
//
//	/registry/pods/default/web                namespaced: <resource>/<namespace>/<name>
//	/registry/nodes/node1                     cluster-scoped: <resource>/<name>
//	/registry/deployments/default/web         groups apps, batch, autoscaling: as core
//	/registry/coordination.k8s.io/leases/...  other groups: under the group's name
//	/registry/ranges/serviceips/10.96.0.1     a ClusterIP in use, and its owner
//	/registry/ranges/servicenodeports/30080   a NodePort in use
//
// An object's metadata.resourceVersion is its key's etcd mod_revision; a
// list's is the store's revision when it was read. An update that carries
// a resourceVersion is written only if the key is still at that revision,
// otherwise 409 Conflict: no locks, only a check at write time.
//
// A watch (watch.go) is an etcd watch on the resource's prefix, from the
// resourceVersion the client gives: one JSON event (ADDED, MODIFIED,
// DELETED, BOOKMARK, ERROR) per line, each flushed at once, until the
// client goes or timeoutSeconds passes. kubectl get -w gets Table rows;
// kubectl delete asks for sendInitialEvents and waits for the bookmark
// that ends them. A resourceVersion older than etcd's compacted history is
// 410 Gone (reason Expired): the client lists again. client-go's informers
// do exactly that.
//
// # Subresources
//
//   - status: for kinds with a status (pods, nodes, services,
//     replicationcontrollers, deployments...). A write through /status
//     changes only the status (and labels and annotations); a write through
//     the main resource keeps the stored status. The kubelet reports pods
//     and nodes this way.
//   - scale (subresources.go): the autoscaling/v1 Scale of RCs,
//     ReplicaSets, Deployments and StatefulSets; kubectl scale patches it.
//   - binding (subresources.go): POST pods/<name>/binding sets a pod's
//     spec.nodeName, once, and its PodScheduled condition: how a scheduler
//     places a pod.
//   - log (proxy.go): kubectl logs. The apiserver reads the pod's node,
//     finds the node's InternalIP and kubelet port in its Node object, and
//     streams the answer of
//     https://<node>:10250/containerLogs/<namespace>/<pod>/<container>,
//     passing follow, previous, tailLines, limitBytes, timestamps and
//     sinceSeconds on, flushing as it comes. It authenticates to the
//     kubelet with its own client certificate.
//   - token (serviceaccount.go): POST serviceaccounts/<name>/token, a
//     TokenRequest. The answer is a token for that account, valid for an
//     hour unless asked otherwise (10 minutes at least), optionally bound
//     to a pod: it then dies with the pod.
//   - exec (proxy.go): kubectl exec. The client's WebSocket upgrade
//     (v5.channel.k8s.io, what kubectl 1.30 and later speak; SPDY is
//     refused) is passed to the kubelet's
//     /exec/<namespace>/<pod>/<container> with the command and stream
//     options; once the kubelet has switched protocols the apiserver only
//     copies bytes both ways. The pod must be Running.
//
// attach, port-forward and eviction are not served yet.
//
// # Deleting
//
// deleteObject (writes.go) deletes most objects at once. A pod bound to a
// node is deleted gracefully: the server sets deletionTimestamp and
// deletionGracePeriodSeconds (the request's, or the pod's
// terminationGracePeriodSeconds, 30 by default; a deletion can only be
// hurried) and answers 202; the pod shows Terminating. Its kubelet stops
// the containers and then deletes the pod with grace 0 and a UID
// precondition, which removes it. An object with finalizers is only marked
// until its finalizers are gone; a namespace always is (Terminating) until
// the namespace controller empties it. default, kube-system and
// kube-public may not be deleted.
//
// # Bootstrap and compaction
//
// At start (bootstrap and Server.Bootstrap in apiserver.go) the apiserver
// creates what every cluster has, unless it exists: the namespaces
// default, kube-system, kube-public and kube-node-lease (where the kubelets'
// Leases live), and the Service default/kubernetes at the first address of
// the Service range (10.96.0.1), port 443 to 6443: pods will reach the API
// through it. It retries every 200 ms until etcd answers, and Health
// reports unhealthy until it is done.
//
// compact (apiserver.go) compacts etcd every CompactionInterval (5 minutes,
// as kube-apiserver does) up to the revision it read on the round before,
// so at least 5 minutes of history are always kept and etcd does not grow
// forever. A watch from before that gets 410 Gone.
//
// # Resource metrics
//
// The apiserver also serves metrics.k8s.io/v1beta1 (NodeMetrics and
// PodMetrics, get and list, with label selectors), which `kubectl top`
// and the HorizontalPodAutoscaler read. This is a deviation: in
// Kubernetes that group belongs to metrics-server, a separate server the
// apiserver's aggregation layer proxies to, which scrapes every kubelet's
// /metrics/resource each 15 s. tinykube has no aggregation layer, so
// metrics.go does the same job in process, on demand: a request scrapes
// the kubelets whose reading is older than 5 s (the first time, twice, a
// second apart, since a CPU rate needs two readings) and reports the CPU
// rate over the window between the last two scrapes. Nothing is stored in
// etcd.
//
// # Security
//
//   - HTTPS only, on port 6443, TLS 1.2 or newer, with the serving
//     certificate `tinykube up` made (it names the master's address and the
//     kubernetes Service IP 10.96.0.1).
//   - Authentication by client certificate: a certificate signed by the
//     cluster CA (client-ca-file) says who you are. user = CN, groups = O:
//     kubectl's admin is kubernetes-admin in system:masters, a kubelet is
//     system:node:<node> in system:nodes. Without a certificate or a valid
//     token: 401 Unauthorized for everything but the health checks,
//     /version and /metrics.
//   - Or by a service-account token, the only bearer tokens: a JWT (ES256)
//     signed with the service-account key (sa.key), sent as
//     "Authorization: Bearer <token>". It is accepted if its signature,
//     issuer, audience and expiry are right and its account (and the pod
//     it is bound to, if any) still exist with the same UID; the user is
//     then system:serviceaccount:<namespace>:<name>, in the groups
//     system:serviceaccounts, system:serviceaccounts:<namespace> and
//     system:authenticated. No static tokens, no bootstrap tokens: nodes
//     get their certificates from `tinykube up`.
//   - No authorization yet: every authenticated user may do everything
//     (ServeHTTP ignores the user it found; an authorizer, RBAC or the Node
//     authorizer, would go there). So node1's kubelet credential could
//     delete node2's pods. Real clusters limit that.
//   - Toward kubelets the apiserver presents its own client certificate
//     (kubelet-client-certificate, CN kube-apiserver-kubelet-client) and
//     checks the kubelet's serving certificate against the cluster CA.
//   - Without tls-cert-file the API is plain HTTP, and without
//     client-ca-file every request is taken as system:admin. Both are for
//     unit tests only: `tinykube up` always sets them.
//
// # Settings
//
// Start reads these settings (named after kube-apiserver's flags);
// `tinykube up` sets all of them (internal/config, standardSettings):
//
//	etcd-servers                 etcd's client URLs, comma-separated
//	                             (default http://<machine address>:2379)
//	secure-port                  6443
//	tls-cert-file, tls-private-key-file
//	                             the serving certificate (none: plain HTTP)
//	client-ca-file               the CA that signs client certificates
//	service-cluster-ip-range     ClusterIPs come from here (10.96.0.0/12)
//	kubelet-client-certificate, kubelet-client-key
//	                             the apiserver's certificate toward kubelets
//	                             (none: kubectl logs and exec answer 503)
//	service-account-signing-key-file
//	                             the ECDSA key that signs and checks
//	                             service-account tokens (none: no tokens)
//	service-account-issuer       the tokens' issuer and default audience
//	                             (https://kubernetes.default.svc.cluster.local)
//	default-not-ready-toleration-seconds, default-unreachable-toleration-seconds
//	                             300, 300: the NoExecute tolerations every new
//	                             pod gets (chapter 5's node lifecycle)
//	event-ttl                    1h: Events are written with an etcd lease
//	                             and vanish this long after their last
//	                             write (storage.Store.WithTTL)
//
// It listens on <machine address>:<secure-port> only.
//
// # What the caller must do
//
// The caller is the master's agent (internal/agent). It must:
//
//  1. Start etcd first and wait until it is healthy.
//  2. Start the apiserver with the machine's address and the settings
//     above. Start returns once the port is open; bootstrap goes on in the
//     background.
//  3. Poll Health until it is healthy: etcd answers, and the namespaces and
//     the kubernetes Service exist. Only then report the master up.
//  4. Give every client (kubectl, each kubelet) a kubeconfig with the
//     cluster CA and a client certificate signed by it, whose CN and O say
//     who the client is.
//  5. Stop it with a deadline: it stops accepting requests, lets those in
//     flight finish until the deadline (open watches are cut then), stops
//     compacting and closes its etcd connection. Nothing is lost: it is
//     all in etcd, and a new Start finds it again.
//
// Reference: chapters/02-apiserver/README.md; KUBECTL-CONTRACT.md for what
// kubectl asks of the server; the Kubernetes documentation, "Kubernetes
// API Concepts" and "Authenticating".
package apiserver
