package arpguard

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// How often the guard checks without a change event. The nftables table
// is watched through nftables' own change events, so its check is only a
// safety net (DefaultResync); the sysctls it sets (arp_ignore,
// arp_announce) change without any event, so with them it checks every
// SysctlResync; while the event watch is down, every FallbackResync.
const (
	DefaultResync  = 30 * time.Second
	SysctlResync   = 5 * time.Second
	FallbackResync = 500 * time.Millisecond
)

// Kernel is what the guard needs from nftables; NFT implements it.
type Kernel interface {
	Apply(Spec) error
	Check(Spec) (TableState, error)
	Remove(table string) error
}

// Sysctl reads and writes sysctl values by dotted-free path under
// /proc/sys, e.g. "net/ipv4/conf/eth0/arp_ignore".
type Sysctl interface {
	Get(path string) (string, error)
	Set(path, value string) error
}

// ProcSys is the real Sysctl, on /proc/sys of the current network namespace.
type ProcSys struct{}

// Get reads /proc/sys/path.
func (ProcSys) Get(path string) (string, error) {
	b, err := os.ReadFile(filepath.Join("/proc/sys", path))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Set writes /proc/sys/path.
func (ProcSys) Set(path, value string) error {
	return os.WriteFile(filepath.Join("/proc/sys", path), []byte(value+"\n"), 0o644)
}

// Settings is what the guard enforces.
type Settings struct {
	// NFTables enables the nftables table.
	NFTables bool
	// Sysctl enables arp_ignore=1/arp_announce=2 on Interface.
	Sysctl bool
	// Interface is the interface facing the directors.
	Interface string
	// Spec is the table content.
	Spec Spec
}

// Status is the guard's view after the last check.
type Status struct {
	// Mode is "nftables", "sysctl" or "both".
	Mode string `json:"mode"`
	// Table is the table name.
	Table string `json:"table"`
	// TablePresent is true when the table exists (nftables mode).
	TablePresent bool `json:"table_present"`
	// TableOK is true when the table is exactly as wanted.
	TableOK bool `json:"table_ok"`
	// Repairs counts how often the table was put back after a change.
	Repairs uint64 `json:"repairs"`
	// SysctlOK is true when arp_ignore/arp_announce are as wanted (sysctl mode).
	SysctlOK bool `json:"sysctl_ok"`
	// Counters are the rule counters.
	Counters []RuleCounter `json:"counters,omitempty"`
	// LastError is the last failure, if any.
	LastError string `json:"last_error,omitempty"`
	// Checked is when the last check ran.
	Checked time.Time `json:"checked"`
}

// Options tune a Guard.
type Options struct {
	// Resync is the periodic check interval; 0 means DefaultResync, or
	// SysctlResync when the settings include the sysctls, or
	// FallbackResync while the event watch is down.
	Resync time.Duration
	// OnRepair is called when the table was found changed and put back.
	OnRepair func(problem string)
	// OnCheck is called after every check.
	OnCheck func(Status)
}

// Guard keeps the ARP suppression in place.
type Guard struct {
	k    Kernel
	sys  Sysctl
	log  *slog.Logger
	opts Options

	mu      sync.Mutex
	set     Settings
	applied bool // the table was applied by this guard at least once
	st      Status
	kick    chan struct{}
	watched atomic.Bool // the event watch is up
}

// New returns a guard. It does no I/O.
func New(k Kernel, sys Sysctl, log *slog.Logger, s Settings, opts Options) *Guard {
	return &Guard{k: k, sys: sys, log: log, opts: opts, set: s, kick: make(chan struct{}, 1)}
}

// resync is the interval until the next check without an event.
func (g *Guard) resync() time.Duration {
	if g.opts.Resync > 0 {
		return g.opts.Resync
	}
	g.mu.Lock()
	sysctl := g.set.Sysctl
	g.mu.Unlock()
	switch {
	case !g.watched.Load():
		return FallbackResync
	case sysctl:
		return SysctlResync
	}
	return DefaultResync
}

func modeName(s Settings) string {
	switch {
	case s.NFTables && s.Sysctl:
		return "both"
	case s.Sysctl:
		return "sysctl"
	case s.NFTables:
		return "nftables"
	}
	return "off"
}

// Update replaces the settings (on reload) and triggers a check. When the
// table name changes or nftables is no longer wanted, the old table is
// removed at the next check.
func (g *Guard) Update(s Settings) {
	g.mu.Lock()
	old := g.set
	g.set = s
	g.applied = false
	g.mu.Unlock()
	if old.NFTables && (!s.NFTables || old.Spec.Table != s.Spec.Table) {
		if err := g.k.Remove(old.Spec.Table); err != nil {
			g.log.Error("arp guard: removing the old table", "table", old.Spec.Table, "err", err)
		}
	}
	g.Kick()
}

// Kick asks Run for a check soon.
func (g *Guard) Kick() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// Status returns the state as of the last check.
func (g *Guard) Status() Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.st
	st.Counters = append([]RuleCounter(nil), g.st.Counters...)
	return st
}

// Ensure checks and, where needed, repairs once. It returns whether
// something had to be put back after this guard had applied it.
func (g *Guard) Ensure() (repaired bool, err error) {
	g.mu.Lock()
	s, applied := g.set, g.applied
	g.mu.Unlock()
	st := Status{Mode: modeName(s), Table: s.Spec.Table, Checked: time.Now()}
	var errs []string
	var problem string
	if s.NFTables {
		ts, err := g.k.Check(s.Spec)
		if err != nil {
			errs = append(errs, err.Error())
		} else if ts.Problem != "" {
			if err := g.k.Apply(s.Spec); err != nil {
				errs = append(errs, err.Error())
				st.TablePresent = ts.Present
			} else {
				if applied {
					repaired = true
					g.log.Warn("arp table was changed or removed by someone else: put it back", "table", s.Spec.Table, "problem", ts.Problem)
					problem = ts.Problem
				} else {
					g.log.Info("arp table applied", "table", s.Spec.Table, "vips", s.Spec.v4(), "nd_vips", s.Spec.v6(), "real_ip", s.Spec.RealIP, "was", ts.Problem)
				}
				applied = true
				if ts2, err := g.k.Check(s.Spec); err == nil {
					ts = ts2
				}
				st.TablePresent, st.TableOK, st.Counters = ts.Present, ts.Problem == "", ts.Counters
				if ts.Problem != "" {
					errs = append(errs, "table still differs after apply: "+ts.Problem)
				}
			}
		} else {
			applied = true
			st.TablePresent, st.TableOK, st.Counters = true, true, ts.Counters
		}
	}
	if s.Sysctl {
		ok, err := g.ensureSysctl(s.Interface)
		st.SysctlOK = ok
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		st.LastError = strings.Join(errs, "; ")
		err = fmt.Errorf("%s", st.LastError)
	}
	g.mu.Lock()
	repairs := g.st.Repairs
	if repaired {
		repairs++
	}
	st.Repairs = repairs
	g.st = st
	if g.set.Spec.Table == s.Spec.Table && g.set.NFTables == s.NFTables {
		g.applied = applied
	}
	g.mu.Unlock()
	if repaired && g.opts.OnRepair != nil {
		g.opts.OnRepair(problem)
	}
	if g.opts.OnCheck != nil {
		g.opts.OnCheck(st)
	}
	return repaired, err
}

// Refresh re-reads the table (counters, presence) without repairing it;
// repairs stay with Run.
func (g *Guard) Refresh() {
	g.mu.Lock()
	s := g.set
	g.mu.Unlock()
	if !s.NFTables {
		return
	}
	ts, err := g.k.Check(s.Spec)
	if err != nil {
		return
	}
	g.mu.Lock()
	g.st.TablePresent, g.st.TableOK, g.st.Counters = ts.Present, ts.Problem == "", ts.Counters
	g.mu.Unlock()
}

// Sysctl values wanted in sysctl mode: reply only for addresses configured
// on the receiving interface, and always use the best local address (not a
// VIP on lo) as the sender of ARP requests.
const (
	WantARPIgnore   = 1
	WantARPAnnounce = 2
)

func (g *Guard) ensureSysctl(iface string) (bool, error) {
	if iface == "" {
		return false, fmt.Errorf("arp guard: sysctl mode needs the interface")
	}
	ok := true
	for _, kv := range []struct {
		key  string
		want int
		okIf func(int) bool
	}{
		{"arp_ignore", WantARPIgnore, func(v int) bool { return v == 1 || v == 2 }},
		{"arp_announce", WantARPAnnounce, func(v int) bool { return v == 2 }},
	} {
		p := "net/ipv4/conf/" + iface + "/" + kv.key
		cur, err := g.sys.Get(p)
		if err != nil {
			return false, fmt.Errorf("arp guard: read %s: %w", p, err)
		}
		n, _ := strconv.Atoi(cur)
		// The kernel uses the larger of "all" and the interface's value.
		allCur, _ := g.sys.Get("net/ipv4/conf/all/" + kv.key)
		all, _ := strconv.Atoi(allCur)
		if kv.okIf(max(n, all)) {
			continue
		}
		if err := g.sys.Set(p, strconv.Itoa(kv.want)); err != nil {
			ok = false
			return false, fmt.Errorf("arp guard: set %s=%d: %w", p, kv.want, err)
		}
		g.log.Info("arp sysctl set", "key", p, "value", kv.want, "was", cur)
	}
	return ok, nil
}

// Events delivers a value whenever the nftables ruleset may have changed.
type Events func(ctx context.Context, kick func()) error

// WatchNFT subscribes to nftables change notifications (NFNLGRP_NFTABLES)
// in the namespace netns (0: current) and calls kick for each; it returns
// when ctx ends or the socket fails.
func WatchNFT(netns int) Events {
	return func(ctx context.Context, kick func()) error {
		c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{
			Groups: 1 << (unix.NFNLGRP_NFTABLES - 1),
			NetNS:  netns,
		})
		if err != nil {
			return fmt.Errorf("arpguard: subscribe to nftables events: %w", err)
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
		for {
			if _, err := c.Receive(); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				c.Close()
				return fmt.Errorf("arpguard: nftables events: %w", err)
			}
			kick()
		}
	}
}

// Run keeps the settings enforced until ctx ends: now, on every event and
// every resync interval. The table stays when Run returns. events may be nil.
func (g *Guard) Run(ctx context.Context, events Events) error {
	check := func() {
		if _, err := g.Ensure(); err != nil {
			g.log.Error("arp guard check failed", "err", err)
		}
	}
	check()
	if events != nil {
		g.watched.Store(true)
		go func() {
			for ctx.Err() == nil {
				err := events(ctx, g.Kick)
				if err == nil || ctx.Err() != nil {
					return
				}
				g.watched.Store(false)
				g.log.Warn("arp guard: event watch ended, checking every "+FallbackResync.String()+" until it is back", "err", err)
				g.Kick()
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Second):
				}
				g.watched.Store(true)
			}
		}()
	}
	t := time.NewTimer(g.resync())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-g.kick:
			check()
		case <-t.C:
			check()
		}
		t.Reset(g.resync())
	}
}
