package kubeproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Tables is how kube-proxy reads and writes the node's iptables. The
// reference one (Exec) runs iptables-save and iptables-restore; tests use a
// fake that records what it was given.
type Tables interface {
	// Save returns what iptables-save prints for all tables.
	Save(ctx context.Context) ([]byte, error)
	// Restore applies input with iptables-restore --noflush: each table of
	// the input atomically, leaving every chain the input does not name
	// alone. An error means the table it names is as it was.
	Restore(ctx context.Context, input []byte) error
}

// ErrNoIptables is returned when the iptables commands are not installed.
var ErrNoIptables = errors.New("kubeproxy: iptables-restore not found (install the iptables package: apt-get install iptables)")

// Exec runs the iptables commands (the nft or legacy backend, whichever
// /usr/sbin/iptables is) in the network namespace of the process, which
// for kube-proxy is its node's: the agent starts it there. Prefix, if set,
// goes before each command (tests use nsenter --net=... to work in a
// namespace of their own).
type Exec struct {
	Prefix []string
}

var _ Tables = (*Exec)(nil)

// lookPath finds an iptables command in PATH, then in /usr/sbin and /sbin,
// which a component's PATH may lack.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s", ErrNoIptables, name)
}

func (e *Exec) command(ctx context.Context, name string, args ...string) (*exec.Cmd, error) {
	path, err := lookPath(name)
	if err != nil {
		return nil, err
	}
	argv := append(append(append([]string(nil), e.Prefix...), path), args...)
	return exec.CommandContext(ctx, argv[0], argv[1:]...), nil
}

// Save runs iptables-save.
func (e *Exec) Save(ctx context.Context) ([]byte, error) {
	cmd, err := e.command(ctx, "iptables-save")
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kubeproxy: iptables-save: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Restore runs iptables-restore --noflush with input on stdin. -w waits
// for the xtables lock if another program holds it (legacy backend).
func (e *Exec) Restore(ctx context.Context, input []byte) error {
	cmd, err := e.command(ctx, "iptables-restore", "--noflush", "-w", "5")
	if err != nil {
		return err
	}
	var out bytes.Buffer
	cmd.Stdin = bytes.NewReader(input)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return &RestoreError{Err: err, Output: strings.TrimSpace(out.String()), Input: input}
	}
	return nil
}

// RestoreError is a failed iptables-restore: its message, and the input
// it refused (iptables-restore names the line: "Error occurred at line:
// 12").
type RestoreError struct {
	Err    error
	Output string
	Input  []byte
}

func (e *RestoreError) Error() string {
	msg := fmt.Sprintf("kubeproxy: iptables-restore: %v: %s", e.Err, e.Output)
	// Quote the line it names: "Error occurred at line: 12" (legacy) or
	// "line 12: RULE_APPEND failed" (nft).
	if m := errorLine.FindStringSubmatch(e.Output); m != nil {
		n, _ := strconv.Atoi(m[1])
		if lines := strings.Split(string(e.Input), "\n"); n >= 1 && n <= len(lines) {
			msg += fmt.Sprintf(" (line %d: %s)", n, lines[n-1])
		}
	}
	return msg
}

var errorLine = regexp.MustCompile(`line:? (\d+)`)

func (e *RestoreError) Unwrap() error { return e.Err }

// Cleanup removes every chain of kube-proxy's and the jumps into them from
// the tables, and nothing else: what a kube-proxy does when it stops for
// good. It reads the tables first, so it also removes what a previous,
// crashed kube-proxy left.
func Cleanup(ctx context.Context, t Tables) error {
	save, err := t.Save(ctx)
	if err != nil {
		return err
	}
	have := ParseSave(save)
	input := RestoreInput(have, &Ruleset{Filter: Table{Name: "filter"}, NAT: Table{Name: "nat"}})
	if input == nil {
		return nil
	}
	return t.Restore(ctx, input)
}

// conntrackDelete forgets the UDP connections to a Service address that
// conntrack sends to an endpoint that is gone. TCP needs nothing: the
// client's next packet gets a reset from the pod's node, or times out, and
// it reconnects. A UDP client that keeps sending from the same port (a DNS
// resolver, say) would keep sending into the void until the entry expires.
func conntrackDelete(ctx context.Context, prefix []string, f staleFlow) error {
	path, err := exec.LookPath("conntrack")
	if err != nil {
		path = "/usr/sbin/conntrack"
	}
	args := []string{"-D", "-p", "udp", "--orig-dst", f.serviceIP, "--dst-nat", f.endpointIP}
	if f.nodePort != 0 {
		args = []string{"-D", "-p", "udp", "--orig-port-dst", fmt.Sprint(f.nodePort), "--dst-nat", f.endpointIP}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	argv := append(append(append([]string(nil), prefix...), path), args...)
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	// conntrack exits 1 when no entry matched: nothing to forget.
	if err != nil && !strings.Contains(string(out), "0 flow entries have been deleted") {
		return fmt.Errorf("kubeproxy: conntrack %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
