package app

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/vishvananda/netlink"

	"github.com/tandemlb/tandem/backend/arpguard"
	"github.com/tandemlb/tandem/backend/vip"
)

// The agent's kernel and OS edges. Each has a real implementation (the zero
// value of its field in Edges) and an in-memory fake for the unit tests:
// backend/vip/viptest for netlink, backend/arpguard/arpguardtest for
// nftables and sysctls. The real ones are tested in a fresh netns.

// Netlink is what the agent needs of a netlink handle: the VIPs on lo and
// the resolution of the interface and real IP. *netlink.Handle is one.
type Netlink interface {
	vip.Netlink
	RouteListFiltered(family int, filter *netlink.Route, filterMask uint64) ([]netlink.Route, error)
	LinkByIndex(index int) (netlink.Link, error)
}

// NetlinkHandle is a Netlink that is closed after use.
type NetlinkHandle interface {
	Netlink
	Close()
}

// Edges are the agent's kernel and OS touches. Every nil field means the
// real one, in the current network namespace.
type Edges struct {
	// OpenNetlink opens a netlink handle (at start, at each reload and
	// for cleanup); nil means netlink.NewHandle.
	OpenNetlink func() (NetlinkHandle, error)
	// WatchVIPs delivers lo's address changes; nil means
	// vip.SubscribeIn(nil, log).
	WatchVIPs vip.Subscriber
	// NFT applies, checks and removes the arp table; nil means
	// arpguard.NFT{}.
	NFT arpguard.Kernel
	// WatchNFT delivers nftables change events; nil means
	// arpguard.WatchNFT(0).
	WatchNFT arpguard.Events
	// Sysctl reads and writes /proc/sys; nil means arpguard.ProcSys{}.
	Sysctl arpguard.Sysctl
	// Hangup delivers SIGHUP until stop is called; nil means os/signal.
	Hangup func() (hup <-chan os.Signal, stop func())
}

// withDefaults fills the nil fields with the real edges.
func (e Edges) withDefaults(log *slog.Logger) Edges {
	if e.OpenNetlink == nil {
		e.OpenNetlink = openNetlink
	}
	if e.WatchVIPs == nil {
		e.WatchVIPs = vip.SubscribeIn(nil, log)
	}
	if e.NFT == nil {
		e.NFT = arpguard.NFT{}
	}
	if e.WatchNFT == nil {
		e.WatchNFT = arpguard.WatchNFT(0)
	}
	if e.Sysctl == nil {
		e.Sysctl = arpguard.ProcSys{}
	}
	if e.Hangup == nil {
		e.Hangup = notifyHangup
	}
	return e
}

func openNetlink() (NetlinkHandle, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, err
	}
	return h, nil
}

func notifyHangup() (<-chan os.Signal, func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup, func() { signal.Stop(hup) }
}
