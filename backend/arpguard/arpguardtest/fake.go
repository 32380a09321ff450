// Package arpguardtest has in-memory fakes of the arp guard's kernel side,
// for tests of what uses backend/arpguard: the nftables table
// (arpguard.Kernel, with change events) and sysctls (arpguard.Sysctl).
package arpguardtest

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/tandemlb/tandem/backend/arpguard"
	"github.com/tandemlb/tandem/shared/testutil"
)

// Kernel is an in-memory arpguard.Kernel: the arp-family tables by name.
// It records every change and is safe for concurrent use.
type Kernel struct {
	mu     sync.Mutex
	tables map[string]arpguard.Spec
	calls  []string
	kicks  []func()
	// changes is notified at every change of a table.
	changes testutil.Changes
}

// Changed returns a channel that is closed at the next change of a table
// (applied, removed or deleted).
func (k *Kernel) Changed() <-chan struct{} { return k.changes.Next() }

// NewKernel returns an empty ruleset.
func NewKernel() *Kernel { return &Kernel{tables: map[string]arpguard.Spec{}} }

func v4(vips []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, v := range vips {
		if v.Is4() {
			out = append(out, v)
		}
	}
	return out
}

func describe(s arpguard.Spec) string {
	return fmt.Sprintf("apply %s vips %v real_ip %s", s.Table, v4(s.VIPs), s.RealIP)
}

// Apply implements arpguard.Kernel.
func (k *Kernel) Apply(s arpguard.Spec) error {
	if err := s.Validate(); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, describe(s))
	s.VIPs = v4(s.VIPs)
	k.tables[s.Table] = s
	k.changes.Notify()
	return nil
}

// Remove implements arpguard.Kernel.
func (k *Kernel) Remove(table string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, "remove "+table)
	delete(k.tables, table)
	k.changes.Notify()
	return nil
}

// Check implements arpguard.Kernel: a missing table, or one with other
// VIPs or another real IP, is a problem; the counters are zero.
func (k *Kernel) Check(s arpguard.Spec) (arpguard.TableState, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	got, ok := k.tables[s.Table]
	if !ok {
		return arpguard.TableState{Problem: "table missing"}, nil
	}
	st := arpguard.TableState{Present: true}
	if !slices.Equal(got.VIPs, v4(s.VIPs)) || got.RealIP != s.RealIP {
		st.Problem = "rules differ"
		return st, nil
	}
	for _, chain := range []string{arpguard.ChainIn, arpguard.ChainOut} {
		for _, v := range got.VIPs {
			st.Counters = append(st.Counters, arpguard.RuleCounter{Chain: chain, VIP: v})
		}
	}
	return st, nil
}

// Table returns the table's content, if it exists.
func (k *Kernel) Table(name string) (arpguard.Spec, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.tables[name]
	return s, ok
}

// Tables returns the names of the tables, sorted.
func (k *Kernel) Tables() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for n := range k.tables {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Calls returns the recorded changes ("apply T vips [..] real_ip R",
// "remove T") and forgets them.
func (k *Kernel) Calls() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.calls
	k.calls = nil
	return c
}

// Delete removes the table as someone else would (nft delete table): not
// recorded as a call, but notified through Events.
func (k *Kernel) Delete(table string) {
	k.mu.Lock()
	delete(k.tables, table)
	k.changes.Notify()
	kicks := slices.Clone(k.kicks)
	k.mu.Unlock()
	for _, kick := range kicks {
		kick()
	}
}

// Events is an arpguard.Events: every Delete is a change event, until ctx
// ends.
func (k *Kernel) Events(ctx context.Context, kick func()) error {
	k.mu.Lock()
	k.kicks = append(k.kicks, kick)
	k.mu.Unlock()
	<-ctx.Done()
	return nil
}

var _ arpguard.Kernel = (*Kernel)(nil)
var _ arpguard.Events = (*Kernel)(nil).Events

// Sysctl is an in-memory arpguard.Sysctl keyed by path under /proc/sys. A
// path never set reads as "0" when it is under net/ipv4/conf/ of a known
// interface, and is missing otherwise.
type Sysctl struct {
	mu     sync.Mutex
	ifaces []string
	vals   map[string]string
	sets   []string
	// changes is notified at every write.
	changes testutil.Changes
}

// Changed returns a channel that is closed at the next write.
func (s *Sysctl) Changed() <-chan struct{} { return s.changes.Next() }

// NewSysctl returns sysctls for the interfaces ("all" is always known).
func NewSysctl(ifaces ...string) *Sysctl {
	return &Sysctl{ifaces: append([]string{"all", "default"}, ifaces...), vals: map[string]string{}}
}

func (s *Sysctl) known(path string) bool {
	rest, ok := strings.CutPrefix(path, "net/ipv4/conf/")
	if !ok {
		return false
	}
	iface, _, _ := strings.Cut(rest, "/")
	return slices.Contains(s.ifaces, iface)
}

// Get implements arpguard.Sysctl.
func (s *Sysctl) Get(path string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vals[path]; ok {
		return v, nil
	}
	if s.known(path) {
		return "0", nil
	}
	return "", &os.PathError{Op: "open", Path: "/proc/sys/" + path, Err: os.ErrNotExist}
}

// Set implements arpguard.Sysctl.
func (s *Sysctl) Set(path, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.known(path) {
		return &os.PathError{Op: "open", Path: "/proc/sys/" + path, Err: os.ErrNotExist}
	}
	s.vals[path] = value
	s.sets = append(s.sets, path+"="+value)
	s.changes.Notify()
	return nil
}

// Sets returns the recorded writes ("net/ipv4/conf/eth0/arp_ignore=1") and
// forgets them.
func (s *Sysctl) Sets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.sets
	s.sets = nil
	return c
}

var _ arpguard.Sysctl = (*Sysctl)(nil)
