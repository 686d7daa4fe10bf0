package kubeproxy

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
)

// RestoreInput returns the input for `iptables-restore --noflush` that
// turns the tables from have into want, touching nothing but kube-proxy's
// own chains and its jumps into them:
//
//   - a chain of want that have lacks, or whose rules differ, is declared
//     (":NAME - [0:0]", which creates it or, with --noflush, empties it) and
//     written rule by rule;
//   - a chain of want with the same rules in have is left out: the kernel
//     keeps it as it is (so adding one Service to a thousand rewrites
//     KUBE-SERVICES and the new Service's chains, not the thousand others);
//   - a chain of have that want lacks is declared (emptied) and deleted
//     ("-X NAME");
//   - a jump of want that have lacks is inserted at the top of its built-in
//     chain ("-I OUTPUT 1 ..."), a jump of have that want lacks is deleted.
//
// have nil means nothing is known of the tables: every chain of want is
// written. The input is one transaction per table: iptables-restore applies
// all of it or nothing. It returns nil when there is nothing to do.
func RestoreInput(have, want *Ruleset) []byte {
	if have == nil {
		have = &Ruleset{}
	}
	var buf bytes.Buffer
	for _, pair := range [][2]*Table{{&have.Filter, &want.Filter}, {&have.NAT, &want.NAT}} {
		h, w := pair[0], pair[1]
		name := w.Name
		if name == "" {
			name = h.Name
		}
		if name == "" {
			continue
		}
		writeTable(&buf, name, h, w)
	}
	if buf.Len() == 0 {
		return nil
	}
	return buf.Bytes()
}

func writeTable(buf *bytes.Buffer, name string, have, want *Table) {
	haveChains, wantChains := have.byName(), want.byName()
	var declare, rules, deletes []string
	for _, c := range want.Chains {
		if old := haveChains[c.Name]; old != nil && slices.Equal(old.Rules, c.Rules) {
			continue
		}
		declare = append(declare, ":"+c.Name+" - [0:0]")
		for _, r := range c.Rules {
			rules = append(rules, "-A "+c.Name+" "+r)
		}
	}
	for _, c := range have.Chains {
		if wantChains[c.Name] == nil {
			declare = append(declare, ":"+c.Name+" - [0:0]")
			deletes = append(deletes, "-X "+c.Name)
		}
	}
	// Jumps: delete the unwanted before chains go (a chain that is jumped
	// to cannot be deleted); insert the missing after chains exist.
	var jumpDeletes, jumpInserts []string
	for _, j := range have.Jumps {
		if !slices.ContainsFunc(want.Jumps, func(o Jump) bool { return o.From == j.From && o.To == j.To }) {
			jumpDeletes = append(jumpDeletes, "-D "+j.From+" "+j.Rule)
		}
	}
	// Inserted at the top one by one, the last inserted ends first: insert
	// in reverse to keep want's order.
	for i := len(want.Jumps) - 1; i >= 0; i-- {
		j := want.Jumps[i]
		if !slices.ContainsFunc(have.Jumps, func(o Jump) bool { return o.From == j.From && o.To == j.To }) {
			jumpInserts = append(jumpInserts, "-I "+j.From+" 1 "+j.Rule)
		}
	}
	if len(declare)+len(jumpDeletes)+len(jumpInserts) == 0 {
		return
	}
	buf.WriteString("*" + name + "\n")
	if len(declare)+len(rules)+len(jumpDeletes)+len(jumpInserts)+len(deletes) > zeroCountersAbove {
		// A big transaction (the first sync of a large cluster) starts by
		// zeroing the table's counters. See zeroCountersAbove for why.
		buf.WriteString("-Z\n")
	}
	for _, group := range [][]string{declare, jumpDeletes, rules, jumpInserts, deletes} {
		for _, line := range group {
			buf.WriteString(line)
			buf.WriteByte('\n')
		}
	}
	buf.WriteString("COMMIT\n")
}

// zeroCountersAbove is the size of a table's transaction (in lines) above
// which RestoreInput starts it with "-Z" (zero every chain's packet and
// byte counters). It is a workaround for iptables-nft 1.8.9 (Debian 12):
// for every command of a restore it inserts the command's chain names
// into a sorted linked list (nft-cache.c, cache_chain_list_insert) to
// know which chains to fetch, which costs O(commands × chains): the first
// sync of 1000 Services × 10 endpoints (43,000 lines, 11,000 chains)
// takes 3.6–5 s in iptables-nft-restore against 0.24 s in
// iptables-legacy-restore. A command that names no chain ("-Z" alone)
// makes it fetch every chain instead and skip the list: the same restore
// then takes 0.8 s. The price is that counters restart from zero — only on
// such big transactions; the small ones after a change (a Service added,
// an endpoint gone) leave counters alone, and a classroom cluster never
// reaches the threshold.
const zeroCountersAbove = 2000

// builtinChains are the chains of the filter and nat tables that belong to
// the kernel, not to kube-proxy.
var builtinChains = []string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}

// ParseSave reads the output of iptables-save and returns kube-proxy's part
// of it: its own chains (IsOwnChain) in the filter and nat tables, with
// their rules as iptables-save prints them, and the rules of built-in
// chains that jump to them. Everything else is someone else's and is left
// out. It is what the kernel holds, for RestoreInput's have, when a
// kube-proxy starts or resyncs from scratch.
//
// Rules come back in iptables-save's own spelling ("-d 10.96.0.1/32 -p tcp
// -m comment ..."), which differs from Rules' ("-m tcp -p tcp -d
// 10.96.0.1"); so RestoreInput from a parsed save rewrites every chain,
// which is what a full resync is for.
func ParseSave(save []byte) *Ruleset {
	out := &Ruleset{}
	var t *Table
	var chains map[string]int // the current table's chains, by name → index
	sc := bufio.NewScanner(bytes.NewReader(save))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "*filter":
			t, chains = &out.Filter, map[string]int{}
			t.Name = "filter"
		case line == "*nat":
			t, chains = &out.NAT, map[string]int{}
			t.Name = "nat"
		case strings.HasPrefix(line, "*"):
			t = nil // mangle, raw, security: not ours
		case t == nil:
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			if IsOwnChain(name) {
				chains[name] = len(t.Chains)
				t.Chains = append(t.Chains, Chain{Name: name})
			}
		case strings.HasPrefix(line, "-A "):
			chain, rule, _ := strings.Cut(line[3:], " ")
			if i, ok := chains[chain]; ok {
				t.Chains[i].Rules = append(t.Chains[i].Rules, rule)
				continue
			}
			if !slices.Contains(builtinChains, chain) {
				continue
			}
			if target := jumpTarget(rule); IsOwnChain(target) {
				t.Jumps = append(t.Jumps, Jump{From: chain, To: target, Rule: rule})
			}
		}
	}
	return out
}

// Intact returns saved (a ParseSave of the tables), where each chain that
// has as many rules as the same chain of applied (what kube-proxy last
// wrote) takes applied's rules. RestoreInput(Intact(saved, applied), want)
// then rewrites only the chains someone else changed, added to or emptied,
// and those that changed in want: a periodic resync repairs the tables
// without rewriting them all. (Counting rules sees rules added, deleted or
// flushed, not a rule edited in place; a restart rewrites everything.)
func Intact(saved, applied *Ruleset) *Ruleset {
	out := &Ruleset{Filter: intactTable(&saved.Filter, &applied.Filter), NAT: intactTable(&saved.NAT, &applied.NAT)}
	return out
}

func intactTable(saved, applied *Table) Table {
	t := Table{Name: saved.Name, Jumps: saved.Jumps}
	appliedChains := applied.byName()
	for _, c := range saved.Chains {
		if a := appliedChains[c.Name]; a != nil && len(a.Rules) == len(c.Rules) {
			c = *a
		}
		t.Chains = append(t.Chains, c)
	}
	return t
}

// jumpTarget returns the chain a rule jumps to ("-j NAME"), or "".
func jumpTarget(rule string) string {
	fields := strings.Fields(rule)
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] == "-j" || fields[i] == "--jump" {
			return fields[i+1]
		}
	}
	return ""
}

// Text renders a rule set for people, as iptables-save shows tables: each
// table's chains, the jumps into them from the built-in chains, then every
// chain's rules. It is also the iptables-restore input that makes the rule
// set in empty tables. kube-proxy writes it to its data directory after
// each sync (rules.txt); the tests' golden files are in this form.
func (r *Ruleset) Text() []byte {
	var buf bytes.Buffer
	for _, t := range []*Table{&r.Filter, &r.NAT} {
		if t.Name == "" {
			continue
		}
		buf.WriteString("*" + t.Name + "\n")
		for _, c := range t.Chains {
			buf.WriteString(":" + c.Name + " - [0:0]\n")
		}
		for _, j := range t.Jumps {
			buf.WriteString("-A " + j.From + " " + j.Rule + "\n")
		}
		for _, c := range t.Chains {
			for _, rule := range c.Rules {
				buf.WriteString("-A " + c.Name + " " + rule + "\n")
			}
		}
		buf.WriteString("COMMIT\n")
	}
	return buf.Bytes()
}
