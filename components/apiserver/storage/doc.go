// Package storage keeps Kubernetes objects in etcd, the way the real
// apiserver does. It is the only part of the apiserver that talks to etcd:
// the REST handlers above it validate, default and encode for clients; a
// Store only stores, reads and watches.
//
// # An object in etcd
//
// Each object is one etcd key, its value the object as JSON:
//
//	$ etcdctl get /registry/pods/default/web
//	/registry/pods/default/web
//	{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web","namespace":"default","uid":"…"},"spec":{…}}
//
// Namespaced objects live at /registry/<resource>/<namespace>/<name>,
// cluster-scoped ones at /registry/<resource>/<name> (/registry/nodes/node1).
// Listing a namespace is reading every key under its prefix, sorted by key.
//
// # resourceVersion is etcd's revision
//
// etcd numbers every write to the whole keyspace: the revision. Each key
// remembers the revision of its last write (mod_revision). That number is
// the object's metadata.resourceVersion: the Store never writes it into
// the JSON, it sets it on every object it reads, from mod_revision. A
// list's resourceVersion is the revision the list was read at. Because
// revisions only grow, a client can say "what changed after N", and etcd
// can answer from its history, until it compacts that history away: then
// the answer is 410 Gone (reason Expired), and the client lists again.
//
// # Optimistic concurrency
//
// Nothing is locked. An update reads the object at revision R, computes
// the new object, and writes it in an etcd transaction that succeeds only
// if the key is still at R (compare mod_revision, then put). If someone
// else wrote first, the Store reads their version and computes again
// (GuaranteedUpdate). A client that sent resourceVersion R with its update
// gets 409 Conflict instead: it decided on a state that is gone.
//
// # Watch
//
// A watch is an etcd watch on the prefix, starting just after a revision,
// with each event's previous value, turned into ADDED, MODIFIED and
// DELETED events. Selectors are applied to both the old and the new
// state, so an object that starts or stops matching is ADDED or DELETED
// for that watch. A watch that starts without a revision first sends the
// current state as ADDED events (and, with sendInitialEvents, a BOOKMARK
// marking the end of it: kubectl waits for it). Periodic BOOKMARKs carry
// a revision the client may resume from; they come from etcd's progress
// notifications, which etcd sends only once every earlier event of the
// stream has been sent.
//
// # What the caller does
//
//  1. Make one Store per resource: New(client, DefaultCodec(),
//     schema.GroupResource{Resource: "pods"}, "/registry/pods", newPod,
//     newPodList). A Store is safe for concurrent use; share it.
//  2. Before Create: set everything the server owns (uid,
//     creationTimestamp, a name from generateName, defaults), validate,
//     and clear metadata.resourceVersion (a Create with one is refused).
//  3. For an update: pass Preconditions{ResourceVersion: <the body's>}
//     when the client sent one; in tryUpdate, start from the current
//     object and carry over what the client may not change (status on
//     the main resource, spec on /status). Keep tryUpdate free of side
//     effects: it may run several times.
//  4. For a delete with finalizers or a grace period, set
//     deletionTimestamp with GuaranteedUpdate; call Delete when nothing
//     holds the object any more (Preconditions{UID} guards against
//     deleting a newer object of the same name).
//  5. Turn errors into responses: an apierrors.APIStatus is the Status to
//     send as it is; anything else is a 500.
//  6. Set apiVersion and kind on lists before encoding them: objects come
//     back with the ones stored, lists with none.
//  7. For a watch, translate the query (resourceVersion, sendInitialEvents
//     after checking resourceVersionMatch=NotOlderThan, allowWatchBookmarks,
//     label and field selectors into Predicate, metadata.name into Name),
//     pass the request's context, write events until the channel closes,
//     and Stop the watch when the client goes away.
//  8. Compact etcd's history now and then (Kubernetes does every 5
//     minutes), or etcd grows forever; the Store never compacts.
package storage
