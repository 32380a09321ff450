package app

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/vishvananda/netlink"

	"github.com/tandemlb/tandem/backend/arpguard"
	"github.com/tandemlb/tandem/backend/health"
	"github.com/tandemlb/tandem/backend/procwatch"
	"github.com/tandemlb/tandem/backend/sockdiag"
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
	// Listeners sees the application's listening socket vanish (the
	// health probe's listener watch); nil means backend/sockdiag.
	Listeners health.Listeners
	// Processes watches the application's process (health.process);
	// nil means backend/procwatch.
	Processes health.Processes
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
	if e.Listeners == nil {
		e.Listeners = sockdiagListeners{}
	}
	if e.Processes == nil {
		e.Processes = pidfdProcesses{}
	}
	return e
}

// pidfdProcesses is health.Processes over backend/procwatch.
type pidfdProcesses struct{}

func (pidfdProcesses) ReadPID(path string) (int, error) { return procwatch.ReadPidfile(path) }

func (pidfdProcesses) Open(pid int) (health.Process, error) {
	p, err := procwatch.Open(pid)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// sockdiagListeners is health.Listeners over backend/sockdiag.
type sockdiagListeners struct{}

func (sockdiagListeners) Count(port uint16) (int, error) {
	l, err := sockdiag.Listeners(port)
	return len(l), err
}

func (sockdiagListeners) Watch(port uint16) (health.ListenEvents, error) {
	w, err := sockdiag.WatchPort(port)
	if err != nil {
		return nil, err
	}
	return sockdiagEvents{w}, nil
}

type sockdiagEvents struct{ w *sockdiag.Watch }

// Next returns nil for a lost event too (sockdiag.ErrOverrun): the watch
// counts the listeners again either way.
func (e sockdiagEvents) Next(ctx context.Context) error {
	_, err := e.w.Next(ctx)
	if errors.Is(err, sockdiag.ErrOverrun) {
		return nil
	}
	return err
}

func (e sockdiagEvents) Close() error { return e.w.Close() }

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
