package podnet

// Names and addresses derived from other names and addresses. Everything
// here is a pure function, so a restarted kubelet computes the same names
// for the same pod and finds what it made before.

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
)

// Names of the links this package makes in a node and in a pod.
const (
	// BridgeName is the node's bridge, the pods' "switch". The name is
	// the one the CNI bridge plugin uses, so it looks familiar.
	BridgeName = "cni0"
	// PodInterface is the pod's end of its veth, inside the pod.
	PodInterface = "eth0"
	// hostVethPrefix starts the node's end of a pod's veth: "veth" and 8
	// characters of the pod's UID, 12 in all (the kernel allows 15).
	hostVethPrefix = "veth"
)

// shortIDLen is how many characters of a pod's UID go into its names.
const shortIDLen = 8

var (
	// uidRE is what AddPod accepts as a pod UID. Kubernetes UIDs are
	// UUIDs ("3f2a9c1d-77b0-4c1e-..."); this is looser, but keeps out
	// anything that could not be part of a file or link name.
	uidRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	// nameRE is the shape of Config.Cluster and Config.Node (the machine
	// layer's rules: they prefix namespace names).
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,19}$`)
)

// shortID returns the part of a pod's UID that names its namespace and
// veth: the first 8 letters and digits, lowercased. For a UUID that is its
// first group, e.g. "3f2a9c1d".
func shortID(uid string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(uid) {
		if b.Len() == shortIDLen {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// checkUID returns an error if uid cannot be a pod's UID here.
func checkUID(uid string) error {
	if !uidRE.MatchString(uid) || shortID(uid) == "" {
		return fmt.Errorf("podnet: pod UID %q: must be 1-128 characters of letters, digits, '.', '_' and '-', starting with a letter or digit (Kubernetes gives pods UUIDs)", uid)
	}
	return nil
}

// podNetNSPrefix returns the start of the name of every pod namespace of
// node in cluster: "<cluster>-<node>-". The machine layer names the node's
// own namespace "<cluster>-<node>" and finds its pods by this prefix.
func podNetNSPrefix(cluster, node string) string { return cluster + "-" + node + "-" }

// podNetNSName returns the name in /run/netns of a pod's network
// namespace, e.g. "tk-node1-3f2a9c1d".
func podNetNSName(cluster, node, uid string) string {
	return podNetNSPrefix(cluster, node) + shortID(uid)
}

// hostVethName returns the name of the node's end of a pod's veth, e.g.
// "veth3f2a9c1d".
func hostVethName(uid string) string { return hostVethPrefix + shortID(uid) }

// macFor returns the MAC address an interface with IPv4 address ip gets:
// 0a:58 followed by the address's four bytes (10.244.1.1 gives
// 0a:58:0a:f4:01:01). 0a has the "locally administered" bit set and the
// "multicast" bit clear, so it is a valid unicast MAC that no network card
// was born with. It is the scheme of the CNI plugins (hwaddr package).
//
// Two reasons for fixed MACs:
//   - The bridge. Without an explicit MAC a Linux bridge takes the lowest
//     MAC among its ports, so it changes when that pod goes away, and every
//     other pod's ARP entry for the gateway is wrong until it expires
//     (6+ seconds of lost packets).
//   - A pod. Its IP may later go to another pod; with the same MAC, the
//     neighbours' ARP caches stay right.
func macFor(ip netip.Addr) net.HardwareAddr {
	a := ip.As4()
	return net.HardwareAddr{0x0a, 0x58, a[0], a[1], a[2], a[3]}
}
