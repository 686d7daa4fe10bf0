package kubeproxy

import "sort"

// staleFlow names UDP connections conntrack should forget: those to a
// Service address (or node port) that it DNATs to an endpoint that is gone.
type staleFlow struct {
	serviceIP  string // a ClusterIP, external IP or load balancer IP; "" with nodePort
	nodePort   int32
	endpointIP string
}

// staleUDPFlows compares two syncs' service ports and lists the UDP flows
// to forget: for each UDP service port, every endpoint that could be used
// before and cannot now, at each of the port's addresses.
//
// conntrack remembers a connection's NAT for as long as packets keep
// coming. For TCP that is harmless: a connection to a deleted pod fails and
// the client makes a new one, which the rules send elsewhere. A UDP
// "connection" is only a pair of addresses and ports; a client that keeps
// sending from the same port (a DNS resolver) keeps reaching the old pod's
// address for as long as it sends, so kube-proxy deletes those entries.
func staleUDPFlows(prev, next []*servicePort, node string) []staleFlow {
	now := map[string]map[string]bool{} // service port → endpoint IPs in use
	for _, sp := range next {
		if sp.protocol != "udp" {
			continue
		}
		now[sp.name] = usedIPs(sp, node)
	}
	var out []staleFlow
	for _, sp := range prev {
		if sp.protocol != "udp" {
			continue
		}
		var gone []string
		for ip := range usedIPs(sp, node) {
			if !now[sp.name][ip] {
				gone = append(gone, ip)
			}
		}
		sort.Strings(gone)
		for _, ip := range gone {
			addrs := append(append([]string{sp.clusterIP}, sp.externalIPs...), sp.loadBalancerIPs...)
			for _, a := range addrs {
				out = append(out, staleFlow{serviceIP: a, endpointIP: ip})
			}
			if sp.nodePort != 0 {
				out = append(out, staleFlow{nodePort: sp.nodePort, endpointIP: ip})
			}
		}
	}
	return out
}

func usedIPs(sp *servicePort, node string) map[string]bool {
	cluster, local := sp.categorize(node)
	out := map[string]bool{}
	for _, e := range append(cluster, local...) {
		out[e.ip] = true
	}
	return out
}
