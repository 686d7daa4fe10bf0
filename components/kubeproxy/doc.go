// Package kubeproxy is tinykube's kube-proxy: the node component that makes
// Services work. It runs on every node and turns the cluster's Services and
// EndpointSlices into iptables rules in that node's kernel, so that a packet
// sent to a Service's virtual address reaches one of the Service's pods.
//
// # Virtual IPs
//
// A Service's ClusterIP (10.96.0.20, say) belongs to no machine and no
// network interface: nothing answers ARP for it, no process listens on it.
// It exists only as rules. When a pod connects to 10.96.0.20:80, the packet
// leaves the pod for its node, and there, before routing, the nat table
// rewrites its destination to a pod's address and port (DNAT), picked at
// random among the Service's ready endpoints. conntrack remembers the
// choice: the rest of the connection goes to the same pod, and the answers
// come back with the Service's address put back as their source. The client
// never sees the pod's address.
//
// Every node has the same rules (give or take traffic policy Local), so a
// Service works from any node and any pod, and kube-proxy never sits in the
// data path: once the rules are in the kernel, kube-proxy could die and
// traffic would flow (chapter 6's kubeproxy_restart scenario shows it).
//
// # The iptables walk
//
// kube-proxy's chains, in the nat table (KUBE-SVC-<hash> names are the first
// 16 characters of the base32 SHA-256 of "namespace/name:port" and the
// protocol, as in Kubernetes):
//
//	PREROUTING, OUTPUT ─► KUBE-SERVICES
//	   -d 10.96.0.20 --dport 80           ─► KUBE-SVC-X    the Service's ClusterIP
//	   -d 10.200.0.11 --dport 8000        ─► KUBE-EXT-X    a load balancer IP or external IP
//	   (last) -m addrtype --dst-type LOCAL ─► KUBE-NODEPORTS
//	KUBE-NODEPORTS: --dport 30080          ─► KUBE-EXT-X    a node port, on any address of the node
//	KUBE-EXT-X:  ─► KUBE-MARK-MASQ, then ─► KUBE-SVC-X      external traffic is masqueraded
//	KUBE-SVC-X:  probability 1/3 ─► KUBE-SEP-A; 1/2 ─► KUBE-SEP-B; else ─► KUBE-SEP-C
//	KUBE-SEP-A:  -j DNAT --to-destination 10.244.1.5:8080
//	POSTROUTING ─► KUBE-POSTROUTING: marked packets ─► MASQUERADE
//
// Masquerading (source NAT to the node's address) is for packets whose
// answer would otherwise not come back through this node: those from
// outside the pod network (the node itself, a client of a node port), and a
// pod's packets to its own Service when it is picked as the endpoint
// (hairpin). Pods calling ClusterIPs keep their address, and the endpoint
// sees the real client.
//
// The filter table adds KUBE-SERVICES and KUBE-EXTERNAL-SERVICES, which
// REJECT packets for Services with no endpoint ("connection refused" at
// once rather than a timeout) and DROP those for a traffic policy Local
// with no endpoint on this node, and KUBE-FORWARD, which accepts forwarded
// Service traffic. The golden files in testdata/ show complete rule sets
// next to the manifests they come from.
//
// # Inputs and outputs
//
// Inputs: every Service and EndpointSlice (discovery.k8s.io/v1, joined to
// their Service by the kubernetes.io/service-name label) the apiserver has,
// except headless ones and those another proxy handles (ProxiedSelector),
// and the node's name, address and the pods' range. An EndpointSlice lists
// a Service's pods with their target port (a named targetPort already
// resolved per pod by the endpoints controller) and their conditions: only
// ready endpoints get traffic, or serving terminating ones when none is
// ready.
//
// Outputs: the node's iptables rules; the status of LoadBalancer Services
// (see loadbalancer.go: tinykube's stand-in load balancer); /healthz on
// port 10256, /metrics on 10249; a health check port per LoadBalancer
// Service with externalTrafficPolicy Local; and rules.txt in its data
// directory, the whole rule set for people to read.
//
// # The code
//
// The algorithm is pure: Rules(Snapshot) computes the whole rule set from
// the Services, the EndpointSlices and the node, with no I/O (services.go
// turns objects into service ports, rules.go writes the chains).
// RestoreInput(have, want) turns "what the tables hold" and "what they
// should hold" into one iptables-restore input that changes only what
// differs, and only kube-proxy's own chains. The Proxier is the thin edge:
// informers feed it, it calls Rules and RestoreInput and runs
// iptables-restore.
//
// # What the caller must do
//
//  1. Run in the node's network namespace (the tinykube agent starts
//     kube-proxy there), as root, with iptables-restore and iptables-save
//     installed; the node's pod network must be up (bridge-nf-call-iptables
//     and ip_forward set, a route for the Service range): kube-proxy warns
//     if it is not.
//  2. Build a Proxier with listers of Services and EndpointSlices, call
//     OnChange from their informers' event handlers, and wait for the
//     informers' caches to sync before Run: rules made from an empty cache
//     would delete every Service's.
//  3. Run the Proxier until the component stops; serve ProxierHealth on
//     /healthz and Metrics on /metrics.
//  4. On a clean stop, call Cleanup to remove kube-proxy's rules (a crash
//     leaves them in place, and traffic keeps flowing; the next kube-proxy
//     rewrites them at its first sync).
//
// Reference: chapters/06-kube-proxy/README.md; MACHINES-AND-NETWORK.md,
// "Services with iptables"; Kubernetes' pkg/proxy/iptables (proxier.go),
// whose rules and chain names these follow; the Kubernetes documentation,
// "Virtual IPs and Service Proxies".
package kubeproxy
