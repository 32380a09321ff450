// Package viptest has an in-memory netlink for tests of what uses
// backend/vip: links, their addresses and the main table's routes, with
// address-change notifications like the kernel's.
package viptest

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tandemlb/tandem/backend/vip"
	"github.com/tandemlb/tandem/shared/testutil"
)

// Fake is an in-memory netlink handle: it implements vip.Netlink and the
// route and link look-ups of the agent's address resolution. It is safe for
// concurrent use. The zero value has no links; New has lo.
type Fake struct {
	mu     sync.Mutex
	links  []netlink.Link
	addrs  map[int][]netlink.Addr // by link index
	routes []netlink.Route
	subs   []sub
	calls  []string
	closed int
	// changes is notified at every change of an address.
	changes testutil.Changes
	// failAdd, when set, fails AddrReplace.
	failAdd error
}

type sub struct {
	ch   chan<- netlink.AddrUpdate
	done <-chan struct{}
}

// New returns a fake with lo (index 1).
func New() *Fake {
	f := &Fake{addrs: map[int][]netlink.Addr{}}
	f.AddLink(vip.Loopback)
	return f
}

// AddLink adds a link and returns its index.
func (f *Fake) AddLink(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addrs == nil {
		f.addrs = map[int][]netlink.Addr{}
	}
	idx := len(f.links) + 1
	f.links = append(f.links, &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: name, Index: idx}})
	return idx
}

// AddAddr puts prefix (e.g. "192.0.2.11/24") on the link name with global
// scope, without recording a call.
func (f *Fake) AddAddr(name, prefix string) {
	p := netip.MustParsePrefix(prefix)
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.link(name)
	if l == nil {
		panic("viptest: no link " + name)
	}
	a := netlink.Addr{IPNet: &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}, Scope: unix.RT_SCOPE_UNIVERSE}
	f.addrs[l.Attrs().Index] = append(f.addrs[l.Attrs().Index], a)
}

// AddDefaultRoute adds an IPv4 default route through the link name with the
// preferred source src (may be invalid).
func (f *Fake) AddDefaultRoute(name string, src netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.link(name)
	if l == nil {
		panic("viptest: no link " + name)
	}
	r := netlink.Route{LinkIndex: l.Attrs().Index, Table: unix.RT_TABLE_MAIN}
	if src.IsValid() {
		r.Src = net.IP(src.AsSlice())
	}
	f.routes = append(f.routes, r)
}

// FailAdd makes every later AddrReplace fail with err (nil: succeed).
func (f *Fake) FailAdd(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAdd = err
}

func (f *Fake) link(name string) netlink.Link {
	for _, l := range f.links {
		if l.Attrs().Name == name {
			return l
		}
	}
	return nil
}

// LinkByName implements vip.Netlink.
func (f *Fake) LinkByName(name string) (netlink.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l := f.link(name); l != nil {
		return l, nil
	}
	return nil, netlink.LinkNotFoundError{}
}

// LinkByIndex returns the link with that index.
func (f *Fake) LinkByIndex(index int) (netlink.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.links {
		if l.Attrs().Index == index {
			return l, nil
		}
	}
	return nil, netlink.LinkNotFoundError{}
}

// RouteListFiltered returns the routes of the family; the filter is
// ignored (the fake has only the main table).
func (f *Fake) RouteListFiltered(family int, _ *netlink.Route, _ uint64) ([]netlink.Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if family != netlink.FAMILY_V4 && family != netlink.FAMILY_ALL {
		return nil, nil
	}
	return slices.Clone(f.routes), nil
}

// AddrList implements vip.Netlink.
func (f *Fake) AddrList(link netlink.Link, family int) ([]netlink.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []netlink.Addr
	for _, a := range f.addrs[link.Attrs().Index] {
		is4 := a.IP.To4() != nil
		if family == netlink.FAMILY_ALL || (family == netlink.FAMILY_V4) == is4 {
			out = append(out, a)
		}
	}
	return out, nil
}

// AddrReplace implements vip.Netlink.
func (f *Fake) AddrReplace(link netlink.Link, a *netlink.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("add %s dev %s", a.IPNet, link.Attrs().Name))
	if f.failAdd != nil {
		return f.failAdd
	}
	defer f.changes.Notify()
	idx := link.Attrs().Index
	list := f.addrs[idx]
	if i := indexOf(list, a); i >= 0 {
		list[i] = *a
	} else {
		f.addrs[idx] = append(list, *a)
	}
	return nil
}

// AddrDel implements vip.Netlink.
func (f *Fake) AddrDel(link netlink.Link, a *netlink.Addr) error {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("del %s dev %s", a.IPNet, link.Attrs().Name))
	f.mu.Unlock()
	return f.del(link.Attrs().Index, a)
}

func (f *Fake) del(idx int, a *netlink.Addr) error {
	f.mu.Lock()
	list := f.addrs[idx]
	i := indexOf(list, a)
	if i < 0 {
		f.mu.Unlock()
		return unix.EADDRNOTAVAIL
	}
	f.addrs[idx] = slices.Delete(list, i, i+1)
	f.changes.Notify()
	subs := slices.Clone(f.subs)
	f.mu.Unlock()
	u := netlink.AddrUpdate{LinkAddress: *a.IPNet, LinkIndex: idx, NewAddr: false}
	for _, s := range subs {
		select {
		case s.ch <- u:
		case <-s.done:
		}
	}
	return nil
}

func indexOf(list []netlink.Addr, a *netlink.Addr) int {
	return slices.IndexFunc(list, func(x netlink.Addr) bool { return x.IPNet.String() == a.IPNet.String() })
}

// Changed returns a channel that is closed at the next change of an
// address (added, replaced or deleted).
func (f *Fake) Changed() <-chan struct{} { return f.changes.Next() }

// Close counts the closes (the agent's handles are opened and closed).
func (f *Fake) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
}

// Closed returns how often Close was called.
func (f *Fake) Closed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// Remove deletes v from lo as someone else would (ip addr del): not
// recorded as a call, but notified to the subscribers.
func (f *Fake) Remove(v netip.Addr) error {
	return f.del(1, vip.Addr(v))
}

// OnLo returns the addresses on lo.
func (f *Fake) OnLo() []netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []netip.Addr
	for _, a := range f.addrs[1] {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

// Calls returns the recorded changes ("add 192.0.2.100/32 dev lo", "del …")
// and forgets them.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// Subscribe is a vip.Subscriber: the deletions of AddrDel and Remove are
// delivered on ch until done is closed.
func (f *Fake) Subscribe(ch chan<- netlink.AddrUpdate, done <-chan struct{}) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = append(f.subs, sub{ch: ch, done: done})
	return nil
}

var _ vip.Netlink = (*Fake)(nil)
var _ vip.Subscriber = (*Fake)(nil).Subscribe
