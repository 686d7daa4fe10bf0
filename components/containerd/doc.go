// Package containerd is the reference containerd component: a node's
// container runtime.
//
// The kubelet decides which containers should run on its node; it does not
// run them itself. It asks a container runtime, and the runtime asks runc,
// which asks the Linux kernel for namespaces and cgroups. Kubernetes talks to
// runtimes through the CRI; tinykube's kubelet talks to containerd directly
// with containerd's Go client, which is shorter to read and shows the same
// steps: an image, a container (a name, an image snapshot, an OCI spec) and a
// task (the running process).
//
// This component runs Debian's containerd daemon (/usr/bin/containerd) as a
// child process, with a configuration of its own for the node, because every
// node on one host needs its own daemon and nothing of one daemon may leak
// into another's (see MACHINES-AND-NETWORK.md, "One containerd per node"):
//
//   - root (images, snapshots) under the component's data directory,
//   - state and the gRPC socket under /run/tinykube/<cluster>/<node>/,
//   - no debug or metrics listener, no CRI plugin (the kubelet uses the Go
//     client), a private "opt" directory.
//
// Once the daemon answers, the component imports the images found in the
// images directory (setting images-dir; `make images` builds them from the
// project's own sources: pause, busybox, the demo server) into containerd's
// "k8s.io" namespace, so pods start without a registry. Health is healthy
// when the daemon answers and the images are in.
//
// Stop is a machine powering off: every task of the node is killed and its
// container deleted, then the daemon is stopped. A crash of this component is
// not: the daemon dies with it (it is a child, killed on the parent's death),
// but containerd's shims keep the containers running, and the restarted
// daemon finds them again.
package containerd
