// Memetcd is a second implementation of tinykube's etcd component: a tiny
// server that speaks etcd's real v3 gRPC API, so the real etcdctl and the
// real Go client (clientv3) work against it. It proves that a component is
// only a contract: swap the binary and the cluster does not notice
//
//	tinykube up --use etcd=/path/to/memetcd
//
// It also shows etcd's API in a few hundred lines: keys, revisions, watch.
//
// # Data lives in memory only
//
// The reference etcd keeps its keys on disk (bbolt and a raft log under its
// data directory) and finds them again after a restart. Memetcd keeps them
// in a Go map: when it stops, every key is gone. It has no peers, no raft, no
// auth, and its leases never expire.
//
// # The data model (store.go)
//
//   - A revision is a single counter for the whole store. It starts at 1 and
//     every transaction that writes takes the next one.
//   - Each key carries create_revision (when it was created), mod_revision
//     (when it was last written) and version (how many writes since it was
//     created). Deleting a key resets all three.
//   - Every write is a transaction (Put and DeleteRange are one-op ones).
//     The Kubernetes apiserver writes with "if the key's mod_revision is
//     still the one I read, put my value, else get the key".
//   - Every change is appended to a history of PUT and DELETE events. A
//     watcher is a cursor into that history; a read at an older revision
//     undoes the history after it. Compact forgets the history's beginning;
//     until a client compacts (the Kubernetes apiserver does every five
//     minutes) the history only grows.
//
// # The services (server.go)
//
// KV (Range, Put, DeleteRange, Txn, Compact), Watch, Lease (LeaseGrant
// only), Cluster (MemberList) and Maintenance (Status, Alarm). Any other call
// answers codes.Unimplemented, and so do the options memetcd leaves out:
// sorted or filtered reads, ignore_value and ignore_lease, nested
// transactions. A watch gets progress reports only when its client asks.
//
// # Running it
//
// The tinykube agent runs memetcd as a component (plugins.Component); run by
// hand it only prints how it is meant to be run. The agent:
//
//  1. calls Start with the machine's address and the client-port setting
//     (2379 when absent); memetcd listens there and on loopback;
//  2. polls Health, which is healthy as soon as memetcd listens;
//  3. points clients at http://ADDRESS:PORT;
//  4. calls Stop, which ends open watches, waits for calls in flight until
//     the deadline and drops every key.
package main
