// Package etcd is the reference etcd component: the cluster's memory.
//
// Everything a Kubernetes cluster knows (every Pod, Service, Node, the
// ReplicationController that wants three replicas...) is a key in etcd:
// /registry/<resource>/<namespace>/<name>, its value the object as JSON.
// The apiserver is etcd's only client; every other component asks the
// apiserver. etcd gives it three things the rest of Kubernetes is built on:
//
//   - revisions: every write makes the store's revision one higher, and each
//     key remembers the revision that created it and last changed it. The
//     apiserver turns that into an object's resourceVersion, and an update
//     becomes "write this only if the key is still at revision N"
//     (optimistic concurrency: 409 Conflict otherwise).
//   - watch: "tell me every change under /registry/pods/ after revision N".
//     Controllers, the scheduler and the kubelet all react to the cluster
//     this way, through the apiserver's own watch.
//   - durability: a write is on disk (the write-ahead log) before it is
//     acknowledged, so a crash loses nothing. The course notes insist on a
//     backup plan for etcd: it is the one component whose loss loses the
//     cluster's state.
//
// This component embeds a real etcd server (go.etcd.io/etcd/server/v3/embed)
// in a plugin process. Its caller, the agent, must:
//
//  1. Start it with the machine's address and a data directory. It serves
//     clients on <address>:2379 and on 127.0.0.1:2379, peers on
//     <address>:2380 (settings client-port and peer-port change them).
//  2. Poll Health until it is healthy: the member is ready and answers a
//     read. Only then start the apiserver.
//  3. Stop it with a deadline on shutdown; its data stays in the data
//     directory, and a new Start on the same directory finds it again.
//
// Reference: chapters/01-etcd/README.md.
package etcd
