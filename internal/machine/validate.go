package machine

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
)

var (
	// clusterNameRE is the shape of Network.Cluster. No dash, so the
	// prefix "tk-" of cluster "tk" can never be the start of another
	// cluster's names ("tk2-..." or "tk-a-...").
	clusterNameRE = regexp.MustCompile(`^[a-z0-9]{1,8}$`)
	// machineNameRE is the shape of Spec.Name. It must start with a letter
	// or digit: tools such as ip(8) read a leading dash as an option.
	machineNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,9}$`)
)

// Validate checks n against the rules every backend relies on and returns
// nil or an error listing every problem found, each naming its field:
//
//   - Cluster: 1 to 8 characters of a-z and 0-9;
//   - CIDR: an IPv4 network written with its host bits zero, /30 or larger;
//   - HostAddress: inside CIDR, neither its network nor its broadcast address;
//   - Machines: at least one; each name 1 to 10 characters of a-z, 0-9 and
//     "-", starting with a letter or digit, and unique; each role RoleMaster
//     or RoleNode; each address inside CIDR, unique, and neither the
//     network, the broadcast nor the host address.
//
// Backends may add rules of their own (see Local).
func (n Network) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("machine: network %q: %s", n.Cluster, fmt.Sprintf(format, args...)))
	}

	if !clusterNameRE.MatchString(n.Cluster) {
		bad("cluster %q: must be 1-8 characters of a-z and 0-9 (it prefixes every name the backend makes)", n.Cluster)
	}

	cidrOK := false
	switch {
	case !n.CIDR.IsValid():
		bad("cidr: required, e.g. 10.200.0.0/24")
	case !n.CIDR.Addr().Is4():
		bad("cidr %s: only IPv4 networks are supported", n.CIDR)
	case n.CIDR != n.CIDR.Masked():
		bad("cidr %s: has host bits set; write %s", n.CIDR, n.CIDR.Masked())
	case n.CIDR.Bits() > 30:
		bad("cidr %s: too small for a host and a machine; use /30 or larger", n.CIDR)
	default:
		cidrOK = true
	}

	// checkAddr reports why a is not a usable address on the network, or "".
	checkAddr := func(a netip.Addr) string {
		switch {
		case !a.IsValid():
			return "required"
		case !cidrOK:
			return "" // the cidr error says it all
		case !n.CIDR.Contains(a):
			return fmt.Sprintf("not inside cidr %s", n.CIDR)
		case a == n.CIDR.Addr():
			return fmt.Sprintf("is the network address of %s", n.CIDR)
		case a == broadcast(n.CIDR):
			return fmt.Sprintf("is the broadcast address of %s", n.CIDR)
		}
		return ""
	}
	if why := checkAddr(n.HostAddress); why != "" {
		bad("hostAddress %v: %s", n.HostAddress, why)
	}

	if len(n.Machines) == 0 {
		bad("machines: need at least one machine")
	}
	names := map[string]int{}
	addrs := map[netip.Addr]int{}
	for i, m := range n.Machines {
		field := fmt.Sprintf("machines[%d]", i)
		if !machineNameRE.MatchString(m.Name) {
			bad("%s.name %q: must be 1-10 characters of a-z, 0-9 and \"-\", starting with a letter or digit", field, m.Name)
		} else if j, dup := names[m.Name]; dup {
			bad("%s.name %q: same as machines[%d].name; names must be unique", field, m.Name, j)
		} else {
			names[m.Name] = i
		}
		if m.Role != RoleMaster && m.Role != RoleNode {
			bad("%s.role %q: must be %q or %q", field, m.Role, RoleMaster, RoleNode)
		}
		if why := checkAddr(m.Address); why != "" {
			bad("%s.address %v: %s", field, m.Address, why)
		} else if m.Address == n.HostAddress {
			bad("%s.address %v: is the hostAddress; give the machine another address", field, m.Address)
		} else if j, dup := addrs[m.Address]; dup {
			bad("%s.address %v: same as machines[%d].address; addresses must be unique", field, m.Address, j)
		} else {
			addrs[m.Address] = i
		}
	}
	return errors.Join(errs...)
}

// broadcast returns the last address of the IPv4 network p.
func broadcast(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	hostBits := 32 - p.Bits()
	for i := 3; i >= 0 && hostBits > 0; i-- {
		n := min(hostBits, 8)
		a[i] |= byte(1<<n - 1)
		hostBits -= n
	}
	return netip.AddrFrom4(a)
}
