// Package dns is the reference cluster DNS component: it answers the
// pods' DNS questions about the cluster's Services and pods, following
// the Kubernetes DNS-Based Service Discovery specification
// (kubernetes/dns docs/specification.md, schema 1.1.0), the way CoreDNS
// does in a Kubernetes cluster.
//
// # What it is for
//
// A ClusterIP is picked by the apiserver when the Service is made, so a
// client cannot know it in advance. The course notes give the two ways a
// pod finds it (Kubernetes 支持2种基本的服务发现模式 —— 环境变量和 DNS):
//
//   - environment variables, which the kubelet writes when a container
//     starts (MYSQL_SERVICE_HOST=10.96.x.y): a Service made after the pod
//     is not in them, "so there is an ordering requirement";
//   - DNS, which "has no such restriction": the DNS server watches the
//     apiserver and answers with what exists now.
//
// # Where it runs, and how pods reach it
//
// In Kubernetes CoreDNS runs as pods behind the kube-dns Service. Here the
// DNS server is a process on the master, like the scheduler, listening on
// the master's address, port 53, UDP and TCP. It publishes itself the way
// any server outside the pod network is published: the kube-dns Service in
// kube-system, with the ClusterIP every pod's resolv.conf names
// (10.96.0.10, setting cluster-dns) and no selector, and an EndpointSlice
// it writes itself (kubedns.go), naming the master's address:
//
//	pod 10.244.1.5                      resolv.conf: nameserver 10.96.0.10
//	  │ UDP 10.96.0.10:53                            search default.svc.cluster.local ...
//	  ▼
//	node1: kube-proxy's rules DNAT it to 10.200.0.10:53 (kube-dns's slice)
//	  │ the LAN
//	  ▼
//	master: this server ── answers from a snapshot of Services, slices, pods
//	  │ the reply goes back to 10.244.1.5 (the master routes each node's pod
//	  ▼ range via that node), where conntrack undoes the DNAT
//
// # Inputs and outputs
//
// Inputs: Services, EndpointSlices and pods, watched through client-go
// informers (only a pod's namespace and addresses are kept: trimPod); the
// questions. Outputs: the answers; the kube-dns Service and its slice;
// /healthz, /readyz and /metrics.
//
// # The records (specification section → name → answer)
//
//	2.2    dns-version.<zone>                     TXT "1.1.0"
//	2.3.1  <svc>.<ns>.svc.<zone>                  A/AAAA the ClusterIPs
//	2.3.2  _<port>._<proto>.<svc>.<ns>.svc.<zone> SRV 0 100 <port> <svc>.<ns>.svc.<zone> (named ports only)
//	2.3.3  <reversed ClusterIP>.in-addr.arpa      PTR <svc>.<ns>.svc.<zone>
//	2.4.1  <svc>.<ns>.svc.<zone> (headless)       A/AAAA per ready endpoint; none ready: NXDOMAIN
//	       <hostname>.<svc>.<ns>.svc.<zone>       A/AAAA of that endpoint (a StatefulSet's web-0.web...)
//	2.4.2  _<port>._<proto>.<svc>...(headless)    SRV per ready endpoint, to <hostname>.<svc>..., its target port
//	2.4.3  <reversed endpoint IP>.in-addr.arpa    PTR <hostname>.<svc>.<ns>.svc.<zone>
//	2.5    <svc>.<ns>.svc.<zone> (ExternalName)   CNAME <externalName>
//	2.6    a-b-c-d.<ns>.pod.<zone>                A a.b.c.d, for any address (nothing looked up)
//
// An endpoint without a hostname is named by its address with dashes
// (10-244-1-5). Any other pod's address has a PTR record to its 2.6 name.
// Names compare case-insensitively; the answer keeps the question's case.
//
// A name that does not exist gets NXDOMAIN; a name that exists without
// records of the type asked gets NODATA (NOERROR, empty answer). Both
// carry the zone's SOA in the authority section, whose minimum (the TTL,
// 5 s) says how long the "no" may be remembered. The difference matters:
// a resolver tries its search list on NXDOMAIN, and a pod asks A and AAAA
// side by side, so an IPv4 Service must answer AAAA with NODATA.
//
// Names outside the cluster's zones (cluster.local, and the reverse names
// of the service and pod ranges) go to the upstream servers (setting
// upstream; by default the name servers of the master's resolv.conf),
// within upstream-timeout (1 s) in all, with a small cache; when none
// answers, SERVFAIL, at once — a pod's resolver must never hang on us.
//
// # The shape of the code
//
// The answers come from one pure function: NewSnapshot(options, services,
// slices, pods) indexes the objects, and Snapshot.Answer(request) returns a
// Reply, with no I/O (snapshot.go, answer.go; unit tests per
// specification section in answer_test.go). Everything else is the edge:
//
//  1. informers watch Services, EndpointSlices and pods; their handlers
//     only say "changed" (a channel of one: changes that come together
//     are built together);
//  2. a builder makes a whole new Snapshot from the informers' caches and
//     swaps it in atomically, so a question is answered from one
//     consistent moment and never waits for a lock (dns.go);
//  3. the miekg/dns servers, UDP and TCP, call Answer and then do what the
//     Reply says (server.go): forward it (forward.go, cache.go), chase an
//     outside CNAME, truncate for UDP, send, count (metrics.go);
//  4. a one-key workqueue keeps the kube-dns Service and slice as they
//     should be, made again if deleted (kubedns.go).
//
// # What its caller (the agent) does
//
//  1. Start with the settings: kubeconfig, cluster-dns, cluster-domain,
//     service-cidr, cluster-cidr from the cluster; optional port (53),
//     bind-address (the machine's address), health-port (8080),
//     metrics-port (9153), upstream, upstream-timeout, cache-size, ttl,
//     register-service (true). Start returns at once.
//  2. Health until healthy: the ports are bound at once (a port in use is
//     an error at once); questions get SERVFAIL until the first sync, then
//     answers, and Health turns healthy.
//  3. Stop: the ports are released; the kube-dns Service and slice stay,
//     for the next server on the same address.
//
// # Differences with CoreDNS
//
// One process on the master instead of pods; no plugins, no Corefile; no
// wildcard queries, no autopath, no DNSSEC, no zone transfers (REFUSED);
// endpoint names only for headless Services, as the specification says.
package dns
