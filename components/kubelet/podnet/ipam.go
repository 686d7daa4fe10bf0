package podnet

// IPAM (IP address management): which pod has which address of the node's
// pod CIDR. The choice is a pure function (nextIP); the records live in
// files, one per address, so that a restarted kubelet keeps every pod's
// address and never hands one out twice. It is the layout of the CNI
// host-local plugin (/var/lib/cni/networks/<network>/<ip>).

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"syscall"
)

// ErrNoAddress is wrapped by AddPod when every address of the node's pod
// CIDR is taken.
var ErrNoAddress = errors.New("podnet: no free address in the pod CIDR")

// gatewayOf returns the gateway address of a pod CIDR: its first address
// after the network address (10.244.1.1 for 10.244.1.0/24). It belongs to
// the node's bridge.
func gatewayOf(cidr netip.Prefix) netip.Addr { return cidr.Masked().Addr().Next() }

// broadcastOf returns the last address of the IPv4 network cidr.
func broadcastOf(cidr netip.Prefix) netip.Addr {
	a := cidr.Masked().Addr().As4()
	for bit := cidr.Bits(); bit < 32; bit++ {
		a[bit/8] |= 0x80 >> (bit % 8)
	}
	return netip.AddrFrom4(a)
}

// nextIP chooses the address for a new pod in cidr: the first address
// after last that is free (not in used), wrapping around at the end of
// the network. It never returns the network address, the gateway (the
// bridge's) or the broadcast address. If last is not a pod address of
// cidr (nothing was handed out yet), it starts at the first one.
//
// Going round the network, rather than taking the lowest free address,
// keeps a released address unused for as long as possible: a client that
// still talks to the old pod's address (a stale DNS answer, an Endpoints
// object not yet updated) does not reach a new, unrelated pod.
//
// It returns false if every address is taken.
func nextIP(cidr netip.Prefix, used map[netip.Addr]bool, last netip.Addr) (netip.Addr, bool) {
	first := gatewayOf(cidr).Next()
	end := broadcastOf(cidr) // exclusive
	if !first.Less(end) {
		return netip.Addr{}, false // /31 and /32: no room for pods
	}
	start := first
	if last.IsValid() && !last.Less(first) && last.Less(end) {
		start = last.Next()
		if start == end {
			start = first // wrap around
		}
	}
	ip := start
	for {
		if !used[ip] {
			return ip, true
		}
		ip = ip.Next()
		if ip == end {
			ip = first // wrap around
		}
		if ip == start {
			return netip.Addr{}, false // went all the way round
		}
	}
}

// record is what the store keeps for a pod: its identity and address.
// Its file is named after the address.
type record struct {
	Pod PodRef     `json:"pod"`
	IP  netip.Addr `json:"ip"`
}

// lastFile is the store's file holding the address handed out last, where
// nextIP resumes.
const lastFile = "last_reserved_ip"

// store keeps the records in dir: one file per address handed out (named
// after it, e.g. "10.244.1.5", holding the record as JSON), plus lastFile.
// It is not safe for concurrent use (Network serializes its calls).
type store struct {
	dir  string
	byIP map[netip.Addr]record
	last netip.Addr
}

// openStore loads the records in dir, creating dir if needed. Files it
// does not recognise are left alone.
func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("podnet: state directory: %w", err)
	}
	s := &store{dir: dir, byIP: map[netip.Addr]record{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("podnet: reading state directory: %w", err)
	}
	for _, e := range entries {
		ip, err := netip.ParseAddr(e.Name())
		if err != nil {
			continue // lastFile, a temporary file, or not ours
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("podnet: reading address record: %w", err)
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil || r.IP != ip {
			// Keep the address reserved (someone holds it) but say so.
			return nil, fmt.Errorf("podnet: address record %s is damaged (%q); delete the file if no pod uses %s", filepath.Join(dir, e.Name()), b, ip)
		}
		s.byIP[ip] = r
	}
	if b, err := os.ReadFile(filepath.Join(dir, lastFile)); err == nil {
		s.last, _ = netip.ParseAddr(string(b)) // damaged: start from the beginning
	}
	return s, nil
}

// byUID returns the record of the pod with uid.
func (s *store) byUID(uid string) (record, bool) {
	for _, r := range s.byIP {
		if r.Pod.UID == uid {
			return r, true
		}
	}
	return record{}, false
}

// records returns every record, sorted by address.
func (s *store) records() []record {
	rs := make([]record, 0, len(s.byIP))
	for _, r := range s.byIP {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b record) int { return a.IP.Compare(b.IP) })
	return rs
}

// reserve hands out an address of cidr to pod and records it. The record
// is written to a temporary file and then hard-linked to its final name:
// link(2) fails if the name exists, so even two processes sharing dir
// cannot take the same address, and a crash never leaves half a record.
func (s *store) reserve(cidr netip.Prefix, pod PodRef) (netip.Addr, error) {
	used := map[netip.Addr]bool{}
	for ip := range s.byIP {
		used[ip] = true
	}
	for {
		ip, ok := nextIP(cidr, used, s.last)
		if !ok {
			return netip.Addr{}, fmt.Errorf("podnet: pod %s/%s: %d pods hold every address of %s: %w", pod.Namespace, pod.Name, len(s.byIP), cidr, ErrNoAddress)
		}
		r := record{Pod: pod, IP: ip}
		err := s.writeNew(r)
		if errors.Is(err, os.ErrExist) {
			used[ip] = true // taken behind our back: try the next one
			continue
		}
		if err != nil {
			return netip.Addr{}, err
		}
		s.byIP[ip] = r
		s.last = ip
		// Losing lastFile only makes the next choice start lower.
		_ = writeFileAtomic(filepath.Join(s.dir, lastFile), []byte(ip.String()))
		return ip, nil
	}
}

// writeNew writes r's file, failing with os.ErrExist if it exists.
func (s *store) writeNew(r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp, err := tempName(s.dir)
	if err != nil {
		return err
	}
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("podnet: writing address record: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, filepath.Join(s.dir, r.IP.String())); err != nil {
		if errors.Is(err, os.ErrExist) {
			return os.ErrExist
		}
		return fmt.Errorf("podnet: writing address record: %w", err)
	}
	return nil
}

// release forgets the address ip. Releasing an address that is not held
// is not an error.
func (s *store) release(ip netip.Addr) error {
	err := os.Remove(filepath.Join(s.dir, ip.String()))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("podnet: releasing address %s: %w", ip, err)
	}
	delete(s.byIP, ip)
	return nil
}

// removeAll deletes every record and lastFile, then dir itself if nothing
// else is in it.
func (s *store) removeAll() error {
	var errs []error
	for _, r := range s.records() {
		errs = append(errs, s.release(r.IP))
	}
	if err := os.Remove(filepath.Join(s.dir, lastFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	s.last = netip.Addr{}
	if tmps, err := filepath.Glob(filepath.Join(s.dir, ".tmp-*")); err == nil {
		for _, tmp := range tmps { // left by a crash between write and link
			errs = append(errs, os.Remove(tmp))
		}
	}
	if err := os.Remove(s.dir); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// tempName returns an unused name for a temporary file in dir.
func tempName(dir string) (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return filepath.Join(dir, ".tmp-"+hex.EncodeToString(b)), nil
}

// writeFileAtomic replaces the file path with data: readers see the old
// contents or the new, never a mix.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := tempName(filepath.Dir(path))
	if err != nil {
		return err
	}
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
