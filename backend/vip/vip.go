package vip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Loopback is the interface the VIPs live on.
const Loopback = "lo"

// How often the manager checks the VIPs without a netlink event: the
// address events say at once when a VIP is removed, so the check is a
// safety net (DefaultResync); while the subscription is down, every
// FallbackResync.
const (
	DefaultResync  = 30 * time.Second
	FallbackResync = 500 * time.Millisecond
)

// Netlink is the part of *netlink.Handle the manager needs.
type Netlink interface {
	LinkByName(name string) (netlink.Link, error)
	AddrList(link netlink.Link, family int) ([]netlink.Addr, error)
	AddrReplace(link netlink.Link, addr *netlink.Addr) error
	AddrDel(link netlink.Link, addr *netlink.Addr) error
}

// Subscriber starts delivering address updates on ch until done is closed;
// it closes ch when the subscription ends. netlink.AddrSubscribeWithOptions
// bound to a namespace fits (see [SubscribeIn]).
type Subscriber func(ch chan<- netlink.AddrUpdate, done <-chan struct{}) error

// Status is the state of one VIP.
type Status struct {
	// Addr is the VIP.
	Addr netip.Addr `json:"addr"`
	// Present is true when the VIP was on lo at the last check.
	Present bool `json:"present"`
	// Repairs counts how often the manager put it back after removal.
	Repairs uint64 `json:"repairs"`
}

// Options tune a Manager.
type Options struct {
	// Resync is the periodic check interval; 0 means DefaultResync.
	Resync time.Duration
	// OnRepair is called (from Run's goroutine) when a VIP that had been
	// present was found missing and put back.
	OnRepair func(vip netip.Addr)
	// OnCheck is called after every check with the current status.
	OnCheck func([]Status)
}

// Manager keeps a set of VIPs on lo.
type Manager struct {
	nl   Netlink
	log  *slog.Logger
	opts Options

	mu      sync.Mutex
	vips    []netip.Addr
	present map[netip.Addr]bool
	repairs map[netip.Addr]uint64
	kick    chan struct{}
}

// New returns a manager for vips. It does no I/O.
func New(nl Netlink, log *slog.Logger, vips []netip.Addr, opts Options) *Manager {
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	return &Manager{
		nl:      nl,
		log:     log,
		opts:    opts,
		vips:    slices.Clone(vips),
		present: map[netip.Addr]bool{},
		repairs: map[netip.Addr]uint64{},
		kick:    make(chan struct{}, 1),
	}
}

// SetVIPs replaces the wanted set (on reload). VIPs no longer wanted are
// removed from lo; new ones are added at the next check, which it triggers.
func (m *Manager) SetVIPs(vips []netip.Addr) error {
	m.mu.Lock()
	var gone []netip.Addr
	for _, v := range m.vips {
		if !slices.Contains(vips, v) {
			gone = append(gone, v)
			delete(m.present, v)
			delete(m.repairs, v)
		}
	}
	m.vips = slices.Clone(vips)
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
	if len(gone) > 0 {
		m.log.Info("vips dropped from the configuration: removing them from lo", "vips", gone)
		return m.Remove(gone)
	}
	return nil
}

// VIPs returns the wanted set.
func (m *Manager) VIPs() []netip.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.vips)
}

// Status returns the state of each VIP as of the last check.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.vips))
	for _, v := range m.vips {
		out = append(out, Status{Addr: v, Present: m.present[v], Repairs: m.repairs[v]})
	}
	return out
}

// Addr returns the netlink address for a VIP: /32 scope host or /128.
func Addr(v netip.Addr) *netlink.Addr {
	bits := v.BitLen()
	a := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(v.AsSlice()), Mask: net.CIDRMask(bits, bits)}}
	if v.Is4() {
		a.Scope = unix.RT_SCOPE_HOST
	} else {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

// List returns which of vips are on lo as full-length prefixes.
func List(nl Netlink, vips []netip.Addr) (map[netip.Addr]bool, error) {
	lo, err := nl.LinkByName(Loopback)
	if err != nil {
		return nil, fmt.Errorf("vip: link %s: %w", Loopback, err)
	}
	var addrs []netlink.Addr
	for try := 0; ; try++ {
		addrs, err = nl.AddrList(lo, netlink.FAMILY_ALL)
		if err == nil || !errors.Is(err, netlink.ErrDumpInterrupted) || try == 3 {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("vip: list addresses of %s: %w", Loopback, err)
	}
	out := make(map[netip.Addr]bool, len(vips))
	for _, a := range addrs {
		if a.IPNet == nil {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		ones, bits := a.Mask.Size()
		if ones != bits || ones != ip.BitLen() {
			continue
		}
		if slices.Contains(vips, ip) {
			out[ip] = true
		}
	}
	return out, nil
}

// Ensure adds every wanted VIP that is missing and returns those it added.
func (m *Manager) Ensure() ([]netip.Addr, error) {
	vips := m.VIPs()
	have, err := List(m.nl, vips)
	if err != nil {
		return nil, err
	}
	lo, err := m.nl.LinkByName(Loopback)
	if err != nil {
		return nil, fmt.Errorf("vip: link %s: %w", Loopback, err)
	}
	var added []netip.Addr
	var errs []error
	for _, v := range vips {
		if have[v] {
			continue
		}
		if err := m.nl.AddrReplace(lo, Addr(v)); err != nil {
			errs = append(errs, fmt.Errorf("vip: add %s to %s: %w", v, Loopback, err))
			continue
		}
		have[v] = true
		added = append(added, v)
	}
	m.mu.Lock()
	wasPresent := make(map[netip.Addr]bool, len(added))
	for _, v := range added {
		wasPresent[v] = m.present[v]
		if m.present[v] {
			m.repairs[v]++
		}
	}
	for _, v := range vips {
		if slices.Contains(m.vips, v) {
			m.present[v] = have[v]
		}
	}
	m.mu.Unlock()
	for _, v := range added {
		if wasPresent[v] {
			m.log.Warn("vip was removed from lo by someone else: put it back", "vip", v, "dev", Loopback)
			if m.opts.OnRepair != nil {
				m.opts.OnRepair(v)
			}
		} else {
			m.log.Info("vip added to lo", "vip", v, "dev", Loopback)
		}
	}
	if m.opts.OnCheck != nil {
		m.opts.OnCheck(m.Status())
	}
	return added, errors.Join(errs...)
}

// Remove deletes vips from lo; a VIP that is not there is not an error.
func (m *Manager) Remove(vips []netip.Addr) error {
	return Remove(m.nl, vips)
}

// Remove deletes vips from lo; a VIP that is not there is not an error.
func Remove(nl Netlink, vips []netip.Addr) error {
	lo, err := nl.LinkByName(Loopback)
	if err != nil {
		return fmt.Errorf("vip: link %s: %w", Loopback, err)
	}
	var errs []error
	for _, v := range vips {
		err := nl.AddrDel(lo, Addr(v))
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("vip: remove %s from %s: %w", v, Loopback, err))
		}
	}
	return errors.Join(errs...)
}

// Run keeps the VIPs in place until ctx ends: at once, on every netlink
// address deletion that concerns a VIP, and every resync interval. It does
// not remove the VIPs when it returns. sub may be nil (periodic checks only).
func (m *Manager) Run(ctx context.Context, sub Subscriber) error {
	check := func() {
		if _, err := m.Ensure(); err != nil {
			m.log.Error("vip check failed", "err", err)
		}
	}
	check()
	var updates chan netlink.AddrUpdate
	var done chan struct{}
	subscribe := func() {
		if sub == nil {
			return
		}
		updates = make(chan netlink.AddrUpdate, 64)
		done = make(chan struct{})
		if err := sub(updates, done); err != nil {
			m.log.Warn("vip: cannot watch address changes, relying on periodic checks", "err", err)
			updates = nil
			close(done)
			done = nil
		}
	}
	subscribe()
	defer func() {
		if done != nil {
			close(done)
		}
	}()
	resync := func() time.Duration {
		if updates == nil {
			return min(m.opts.Resync, FallbackResync)
		}
		return m.opts.Resync
	}
	t := time.NewTimer(resync())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-updates:
			if !ok {
				// The subscription ended (e.g. ENOBUFS): check and resubscribe.
				close(done)
				done, updates = nil, nil
				check()
				subscribe()
				continue
			}
			if u.NewAddr {
				continue
			}
			ip, ok := netip.AddrFromSlice(u.LinkAddress.IP)
			if ok && slices.Contains(m.VIPs(), ip.Unmap()) {
				check()
			}
		case <-m.kick:
			check()
		case <-t.C:
			check()
		}
		t.Reset(resync())
	}
}

// SubscribeIn returns a Subscriber for address changes in the namespace ns
// (nil: the current one).
func SubscribeIn(ns *netns.NsHandle, log *slog.Logger) Subscriber {
	return func(ch chan<- netlink.AddrUpdate, done <-chan struct{}) error {
		return netlink.AddrSubscribeWithOptions(ch, done, netlink.AddrSubscribeOptions{
			Namespace: ns,
			ErrorCallback: func(err error) {
				log.Debug("vip: address subscription error", "err", err)
			},
		})
	}
}
