package vrrp

import (
	"errors"
	"fmt"
	"math"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// AddrManager puts virtual addresses on interfaces and takes them off.
// Both are idempotent: adding a present address or removing an absent one
// is not an error.
type AddrManager interface {
	AddVIPs(vips []VIP) error
	RemoveVIPs(vips []VIP) error
}

// NetlinkAddrs is the AddrManager of the kernel, through netlink.
type NetlinkAddrs struct {
	h *netlink.Handle
}

// NewNetlinkAddrs opens a netlink handle in ns (the current namespace when
// ns is not open).
func NewNetlinkAddrs(ns netns.NsHandle) (*NetlinkAddrs, error) {
	h, err := openHandle(ns)
	if err != nil {
		return nil, err
	}
	return &NetlinkAddrs{h: h}, nil
}

// openHandle opens a netlink handle in ns, or in the current namespace
// when ns is not open.
func openHandle(ns netns.NsHandle) (*netlink.Handle, error) {
	var h *netlink.Handle
	var err error
	if nsSet(ns) {
		h, err = netlink.NewHandleAt(ns)
	} else {
		h, err = netlink.NewHandle()
	}
	if err != nil {
		return nil, fmt.Errorf("vrrp: netlink: %w", err)
	}
	return h, nil
}

// Close releases the netlink handle.
func (n *NetlinkAddrs) Close() { n.h.Close() }

func vipAddr(v VIP) *netlink.Addr {
	ipn := &net.IPNet{IP: v.Prefix.Addr().AsSlice(), Mask: net.CIDRMask(v.Prefix.Bits(), v.Prefix.Addr().BitLen())}
	a := &netlink.Addr{IPNet: ipn, Label: v.Label}
	if v.Deprecated {
		// preferred_lft 0, valid_lft forever.
		a.PreferedLft, a.ValidLft = 0, math.MaxUint32
	}
	if v.Prefix.Addr().Is6() {
		// Usable at once: a VIP taking over must not wait for DAD.
		a.Flags = unix.IFA_F_NODAD
	} else if v.Broadcast.IsValid() {
		a.Broadcast = v.Broadcast.AsSlice()
	} else {
		// No broadcast address unless given (brd), as keepalived adds a
		// VIP (the netlink library would compute one for a prefix
		// shorter than /31).
		a.Broadcast = net.IPv4zero
	}
	return a
}

// AddVIPs adds every VIP to its Dev (AddrReplace: present is fine).
func (n *NetlinkAddrs) AddVIPs(vips []VIP) error {
	var errs []error
	for _, v := range vips {
		link, err := n.h.LinkByName(v.Dev)
		if err != nil {
			errs = append(errs, fmt.Errorf("vrrp: add VIP %s: dev %s: %w", v.Prefix, v.Dev, err))
			continue
		}
		if err := n.h.AddrReplace(link, vipAddr(v)); err != nil {
			errs = append(errs, fmt.Errorf("vrrp: add VIP %s on %s: %w", v.Prefix, v.Dev, err))
		}
	}
	return errors.Join(errs...)
}

// RemoveVIPs deletes every VIP from its Dev; absent addresses are skipped.
func (n *NetlinkAddrs) RemoveVIPs(vips []VIP) error {
	var errs []error
	for _, v := range vips {
		link, err := n.h.LinkByName(v.Dev)
		if err != nil {
			errs = append(errs, fmt.Errorf("vrrp: remove VIP %s: dev %s: %w", v.Prefix, v.Dev, err))
			continue
		}
		err = n.h.AddrDel(link, vipAddr(v))
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("vrrp: remove VIP %s from %s: %w", v.Prefix, v.Dev, err))
		}
	}
	return errors.Join(errs...)
}
