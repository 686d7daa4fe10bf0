// Package podnet is the kubelet's pod network: it gives every pod of a node
// its own network namespace and IP address, and connects the pods of all
// nodes to each other.
//
// # The Kubernetes network model
//
// Kubernetes asks three things of a cluster's network, and leaves how to a
// plugin:
//
//   - every pod has its own IP address, shared by its containers (they
//     reach each other on localhost, like processes on one machine);
//   - every pod reaches every other pod, on any node, at that pod's
//     address, without NAT: the address a pod sees itself with is the one
//     others see it come from;
//   - the agents of a node (the kubelet, for its probes) reach its pods.
//
// So a pod is, to the network, like a small machine of its own. This is
// what lets a Service be "a set of pod IPs", and a pod be moved or
// replaced without anyone renumbering anything.
//
// # The pieces, on one node
//
//	pod a (netns tk-node1-3f2a9c1d)     pod b (netns tk-node1-77b04c1e)
//	  eth0 10.244.1.2/24                  eth0 10.244.1.3/24
//	  default via 10.244.1.1              default via 10.244.1.1
//	    │ veth pair                         │ veth pair
//	════╪═══════════════════════════════════╪════  node tk-node1
//	  veth3f2a9c1d                        veth77b04c1e
//	    └─ ports of cni0 10.244.1.1/24 ─────┘
//	                    │ routed (ip_forward=1)
//	                  eth0 10.200.0.11/24 ── the LAN ── other nodes
//	  routes: 10.244.2.0/24 via 10.200.0.12   (node2's pods)
//	          10.96.0.0/12 dev eth0            (Services, see below)
//
// Each piece, and why it is there:
//
//   - A network namespace per pod: its own links, addresses, routes and
//     ports. The pod's containers all join it; it is named in /run/netns
//     ("<cluster>-<node>-<first 8 characters of the pod's UID>") so that
//     the container runtime can be given its path.
//   - A veth pair per pod: a virtual cable whose two ends are links in two
//     namespaces. One end is the pod's eth0; the other stays in the node.
//   - The bridge cni0: a virtual switch in the node, whose ports are the
//     node's ends of the pods' cables. Pods of one node reach each other
//     through it, as machines on one switch do. The bridge has an address
//     too, the first of the node's pod CIDR: it is every pod's gateway, the
//     way out to the rest of the cluster.
//   - The bridge's MAC is fixed (0a:58 and the gateway's four bytes). Left
//     alone, a Linux bridge takes the lowest MAC among its ports, so when
//     that pod goes away the gateway's MAC changes under every other pod,
//     whose ARP caches are then wrong for seconds.
//   - Hairpin mode on every port. A switch never sends a frame back out of
//     the port it came in by. But when a pod calls a Service and kube-proxy
//     picks that very pod as the backend, the packet must come back in the
//     way it went out. Hairpin mode allows exactly that.
//   - net.bridge.bridge-nf-call-iptables=1: packets between two pods of one
//     node are switched by the bridge, never routed, so by default they skip
//     iptables, where kube-proxy's Service rules are. This sysctl sends
//     bridged packets through iptables too. It is per namespace, so it is
//     set in every node.
//   - Routes to other nodes' pods ("host-gw"): each node owns a pod CIDR
//     (its Node object's spec.podCIDR), so "10.244.2.0/24 via 10.200.0.12"
//     in node1 sends node2's pods' packets to node2, which forwards them
//     (net.ipv4.ip_forward=1) onto its bridge. No encapsulation, no NAT:
//     source addresses arrive intact. This needs the nodes to share a LAN,
//     which tinykube's machines do; across routed networks real clusters
//     use an overlay (VXLAN, as Flannel does) or BGP (Calico).
//   - A route for the Service range out of the uplink. No packet is ever
//     delivered to a Service IP (kube-proxy rewrites it to a pod's), but the
//     kernel looks for a route before iptables rewrites a packet the node
//     itself sends; without one, the node cannot reach any ClusterIP.
//
// A packet from pod a (node1) to pod c 10.244.2.5 (node2): a's default
// route sends it to the gateway 10.244.1.1, out of eth0, through the veth
// into the bridge, which delivers it to node1 itself; node1 routes it via
// 10.200.0.12 out of its eth0 onto the LAN; node2 finds 10.244.2.5 on its
// cni0 (the route the kernel made for the bridge's address), and the
// bridge hands it to c's port and cable. The answer goes back the same way.
//
// Every route this package makes is marked with RouteProtocol, so it only
// ever changes its own: inside a node, `ip route show proto 123` lists
// them.
//
// # Why netlink, and not CNI plugins
//
// In a real cluster the container runtime calls CNI plugins: executables
// that read a JSON config on stdin (the "bridge" plugin makes the bridge
// and veth, "host-local" hands out addresses from files, one per address,
// like this package's StateDir). This package does the same steps, in the
// kubelet's own process, with netlink (github.com/vishvananda/netlink): the
// kernel's own interface for links, addresses and routes, which is what
// the `ip` command and the CNI plugins use underneath. Two reasons:
//
//   - clarity: every step is a few readable lines here (see AddPod),
//     rather than a config file, a plugin binary and its source elsewhere;
//   - speed: a pod's network takes 2-3 ms this way, against 100-200 ms by
//     running the `ip` command a dozen times (each one a process). A node
//     that starts 50 pods feels the difference.
//
// # Namespaces and Go threads
//
// A network namespace belongs to a thread, not a process: setns(2) and
// unshare(2) move only the calling thread, and Go moves goroutines between
// threads at will. So this package switches namespaces only on a locked
// thread that switches back (see internal/machine/netns.go), and mostly does not switch at
// all: a netlink socket works in the namespace it was opened in, from any
// thread, so it keeps one socket per namespace (netlink.NewHandleAt).
//
// The kubelet runs inside its node's namespace (the agent starts it
// there), so the node's namespace is simply its own.
//
// # What the kubelet must do
//
//  1. At start, call Setup with its node's pod CIDR (from its Node object),
//     the Service range, its node IP and a state directory. Setup adopts
//     what a previous run made.
//  2. Adopt the pods of a previous run: List them; call AddPod again for
//     each pod the node still runs (it returns the same network, remaking
//     anything missing) and DelPod for the others.
//  3. Call SyncRoutes with every Node's pod CIDR and address, at start and
//     whenever Nodes change (an informer's event handler).
//  4. Before starting a pod's sandbox (pause) container, call AddPod; give
//     the runtime PodNet.NetNSPath as the pod's network namespace, and
//     report PodNet.IP as the pod's status.podIP.
//  5. After a pod's containers have stopped, call DelPod.
//  6. On exit, Close (the pods keep their network); when the node leaves
//     the cluster, Teardown removes everything this package made.
//
// Reference: MACHINES-AND-NETWORK.md, "Pod network"; the Kubernetes
// documentation, "Cluster Networking" and "Services, Load Balancing, and
// Networking".
package podnet
