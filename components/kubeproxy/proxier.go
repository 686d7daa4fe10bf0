package kubeproxy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
)

// Proxier keeps the node's iptables in line with the cluster's Services and
// EndpointSlices: the process wrapper around the pure Rules. It is driven
// by informers (OnChange on every event) and runs one sync at a time:
//
//  1. list Services and EndpointSlices from the informers' caches;
//  2. compute the whole rule set (Rules);
//  3. compare it with what the last sync left in the tables and write
//     only the difference, in one iptables-restore (RestoreInput);
//  4. forget stale UDP connections, update the health check servers,
//     write rules.txt, record metrics.
//
// Syncs happen after changes, at most once per MinSyncPeriod (changes
// that come meanwhile are batched into the next), and at least once per
// SyncPeriod, when the tables are read back with iptables-save and
// whatever someone else did to kube-proxy's chains is repaired.
type Proxier struct {
	// Node is the node the rules are for.
	Node Node
	// Tables reads and writes iptables.
	Tables Tables
	// Services and EndpointSlices are the informers' listers.
	Services       corelisters.ServiceLister
	EndpointSlices discoverylisters.EndpointSliceLister
	// MinSyncPeriod and SyncPeriod bound how often syncs happen.
	MinSyncPeriod, SyncPeriod time.Duration
	// RulesFile, if set, receives the whole rule set (Ruleset.Text) after
	// each sync that changed it, for people to read.
	RulesFile string
	// ConntrackPrefix goes before the conntrack command (tests).
	ConntrackPrefix []string
	// HealthChecks, if set, serves the health check node ports of
	// LoadBalancer Services with externalTrafficPolicy Local.
	HealthChecks *HealthCheckServers
	// Metrics receives the sync figures; nil means none are kept.
	Metrics *Metrics
	// Log receives one line per sync and per problem.
	Log func(format string, args ...any)

	kickOnce sync.Once
	kick     chan struct{}

	mu           sync.Mutex
	pendingSince time.Time // the first change the tables do not show yet
	lastSuccess  time.Time
	lastErr      error
	summary      string

	// Only the sync loop touches these.
	applied      *Ruleset // what the tables hold of ours; nil: unknown, next sync is full
	lastReadBack time.Time
	prevPorts    []*servicePort
	lastText     []byte
}

// OnChange tells the proxier something it depends on changed: it syncs
// soon. Informer event handlers call it; it never blocks.
func (p *Proxier) OnChange() {
	p.mu.Lock()
	if p.pendingSince.IsZero() {
		p.pendingSince = time.Now()
	}
	p.mu.Unlock()
	select {
	case p.kicks() <- struct{}{}:
	default: // a sync is already due
	}
}

// kicks is the channel OnChange signals Run on.
func (p *Proxier) kicks() chan struct{} {
	p.kickOnce.Do(func() { p.kick = make(chan struct{}, 1) })
	return p.kick
}

func (p *Proxier) logf(format string, args ...any) {
	if p.Log != nil {
		p.Log(format, args...)
	}
}

// Status reports the last sync: when it succeeded, the error of the last
// attempt (nil if it succeeded), a one-line summary, and since when a change
// waits to be synced (zero if none does).
func (p *Proxier) Status() (lastSuccess time.Time, lastErr error, summary string, pendingSince time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastSuccess, p.lastErr, p.summary, p.pendingSince
}

// Run syncs until ctx ends. The first sync is immediate and full. The
// caller must have waited for the informers' caches to sync: rules made
// from an empty cache would delete every Service's.
func (p *Proxier) Run(ctx context.Context) {
	kick := p.kicks()
	const retryAfter = time.Second
	var last time.Time
	timer := time.NewTimer(0) // the first sync now
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-timer.C:
		}
		// At most one sync per MinSyncPeriod: the changes that come while
		// waiting go into this one.
		if wait := p.MinSyncPeriod - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		select {
		case <-kick: // included in this sync
		default:
		}
		last = time.Now()
		readBack := p.applied == nil || time.Since(p.lastReadBack) >= p.SyncPeriod
		next := p.SyncPeriod
		if err := p.Sync(ctx, readBack); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.logf("sync failed (retrying in %v): %v", retryAfter, err)
			next = retryAfter
		} else if d := time.Until(p.lastReadBack.Add(p.SyncPeriod)); d > 0 {
			next = d
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// Sync makes the tables match the informers' caches once. readBack reads
// the tables back with iptables-save first and repairs whatever differs
// from what kube-proxy wrote (everything, the first time); otherwise only
// the chains that changed since the last sync are written. Run calls it;
// tests call it directly.
func (p *Proxier) Sync(ctx context.Context, readBack bool) error {
	start := time.Now()
	p.mu.Lock()
	since := p.pendingSince
	p.pendingSince = time.Time{}
	p.mu.Unlock()
	err := p.sync(ctx, readBack || p.applied == nil, start)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastErr = err
	if err != nil {
		// The change is still pending, since when it first was.
		if !since.IsZero() && (p.pendingSince.IsZero() || since.Before(p.pendingSince)) {
			p.pendingSince = since
		}
		if p.Metrics != nil {
			p.Metrics.failed()
		}
		return err
	}
	p.lastSuccess = time.Now()
	if p.Metrics != nil && !since.IsZero() {
		p.Metrics.observeProgramming(p.lastSuccess.Sub(since))
	}
	return nil
}

func (p *Proxier) sync(ctx context.Context, readBack bool, start time.Time) error {
	services, err := p.Services.List(labels.Everything())
	if err != nil {
		return err
	}
	slices, err := p.EndpointSlices.List(labels.Everything())
	if err != nil {
		return err
	}
	snap := Snapshot{Node: p.Node, Services: services, EndpointSlices: slices}
	want, ports := rules(snap)
	// Three kinds of sync: "full" rewrites every chain (the first, and after
	// a failure: the tables are unknown); "resync" (periodic) reads the
	// tables back and repairs what differs; "partial" (after changes)
	// writes what changed since the last sync.
	kind := "partial sync"
	switch {
	case p.applied == nil:
		kind = "full sync"
	case readBack:
		kind = "resync"
	}
	have := p.applied
	if readBack {
		save, err := p.Tables.Save(ctx)
		if err != nil {
			return err
		}
		have = ParseSave(save)
		if p.applied != nil {
			// A periodic resync: repair what differs from what we wrote.
			have = Intact(have, p.applied)
		}
	}
	input := RestoreInput(have, want)
	if input != nil {
		if err := p.Tables.Restore(ctx, input); err != nil {
			p.applied = nil // the tables may not be what we think: read them next time
			return err
		}
	}
	p.applied = want
	if readBack {
		p.lastReadBack = start
	}
	took := time.Since(start)

	for _, f := range staleUDPFlows(p.prevPorts, ports, p.Node.Name) {
		if err := conntrackDelete(ctx, p.ConntrackPrefix, f); err != nil {
			p.logf("%v", err)
		}
	}
	p.prevPorts = ports
	if p.HealthChecks != nil {
		p.HealthChecks.Sync(healthChecksOf(ports, p.Node.Name))
	}
	counts := map[string]int{}
	for _, t := range []*Table{&want.Filter, &want.NAT} {
		for _, c := range t.Chains {
			counts[t.Name] += len(c.Rules)
		}
	}
	if p.Metrics != nil {
		p.Metrics.observeSync(took, kind == "full sync", time.Now(), counts)
	}
	summary := fmt.Sprintf("%s at %s: %d service ports, %d nat and %d filter rules, wrote %d lines in %v",
		kind, time.Now().Format("15:04:05.000"), len(ports), counts["nat"], counts["filter"], bytes.Count(input, []byte("\n")), took.Round(time.Millisecond))
	p.mu.Lock()
	p.summary = summary
	p.mu.Unlock()
	if input != nil {
		p.logf("%s", summary)
	}
	if p.RulesFile != "" {
		if text := want.Text(); !bytes.Equal(text, p.lastText) {
			if err := writeFileAtomic(p.RulesFile, text); err != nil {
				p.logf("writing %s: %v", p.RulesFile, err)
			} else {
				p.lastText = text
			}
		}
	}
	return nil
}

// writeFileAtomic writes a file so that readers see the old or the new
// content, never half.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
