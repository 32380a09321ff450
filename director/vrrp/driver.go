package vrrp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netns"

	"github.com/tandemlb/tandem/shared/clock"
	"github.com/tandemlb/tandem/shared/logging"
)

// Options are the driver's dependencies. Every field is optional: nil
// interfaces are replaced in Run by the kernel implementations, opened in
// NetNS. Tests pass recording fakes.
type Options struct {
	// Logger receives the driver's logs; default slog.Default().
	Logger *slog.Logger
	// NetNS, when open, is the network namespace of the interfaces: sockets
	// and netlink handles are opened there. Default: the current one.
	NetNS netns.NsHandle
	// Src is the source address of our adverts. Default: unicast_src_ip,
	// else the interface's primary IPv4 address (IPv6: its first link-local
	// address).
	Src netip.Addr
	// IfIndex is the index of Interface, used to drop packets that arrived
	// elsewhere; found in Run when zero and Conn is nil.
	IfIndex int

	// Conn, Addrs, Announcer, Notifier and Links replace the kernel
	// implementations. Run closes Conn when it returns.
	Conn      PacketConn
	Addrs     AddrManager
	Announcer Announcer
	Notifier  Notifier
	Links     LinkWatcher
	// Routes installs virtual_routes and virtual_rules; the kernel one is
	// opened only when the instance has some.
	Routes RouteManager

	// Sync is the hub of the instance's vrrp_sync_group (InstanceConfig.
	// SyncGroup). Without it a configured group is ignored, with a warning.
	Sync *SyncHub

	// Clock times the instance (adverts, Master_Down) and dates its
	// transitions; default clock.Real.
	Clock clock.Clock
	// DropLog rate-limits the "vrrp packet dropped" lines (one per reason
	// per interval, with the count suppressed); share one between the
	// instances so that a packet every socket sees is logged once. Default:
	// one per driver, 10s.
	DropLog *logging.Limiter
	// NotifyTimeout bounds each notify script; default 30s.
	NotifyTimeout time.Duration

	// OnRelease, if set, is called each time the instance leaves MASTER,
	// right after its VIPs are removed and before its priority-0 advert
	// (the machine's HandOver): the director hands its IPVS connections
	// to the peer there. It runs in its own goroutine with a context that
	// ends after ReleaseTimeout; the driver waits for it at most that
	// long, so a slow hook delays the peer's takeover by ReleaseTimeout at
	// worst, never more.
	OnRelease func(ctx context.Context, instance string)
	// ReleaseTimeout bounds OnRelease; default DefaultReleaseTimeout.
	ReleaseTimeout time.Duration
	// Yield starts the instance yielding (Yield before Startup): one
	// restarted while it yielded (a reload that restarts it) comes up
	// BACKUP and stays so while the peer advertises.
	Yield bool
}

// DefaultReleaseTimeout bounds Options.OnRelease when ReleaseTimeout is
// zero: the peer takes over this much later at worst.
const DefaultReleaseTimeout = 300 * time.Millisecond

// Drop reasons counted in Status.Dropped.
const (
	DropTTL       = "ttl"            // TTL or hop limit not 255
	DropInterface = "interface"      // arrived on another interface
	DropLooped    = "own advert"     // our own advert, looped back
	DropOtherVRID = "other vrid"     // another virtual router on the link
	DropVersion   = "version"        // a VRRP version other than ours
	DropAuth      = "authentication" // v2 auth type or password mismatch
	DropInterval  = "interval"       // v2 advert_int differs from ours
	DropAddresses = "addresses"      // VIP list differs from ours
	DropPeer      = "unicast source" // unicast mode: not one of unicast_peer
)

// Status is a snapshot of a driver: what `tandem-director status` shows.
type Status struct {
	Instance  string
	Interface string
	VRID      uint8
	Version   int
	// State is the current state.
	State State
	// Src is our advert source address.
	Src netip.Addr
	// Master is the current master's address (ours when master).
	Master netip.Addr
	// MasterPriority is the master's advertised priority.
	MasterPriority uint8
	// Priority is our effective priority (what we advertise), BasePriority
	// the configured one.
	Priority, BasePriority uint8
	// FaultSources are the fault sources in force, sorted.
	FaultSources []string
	// SyncGroup is the instance's sync group ("" when none); GroupFault
	// is set while the group holds it in FAULT, WantMaster while it waits
	// for the group to go MASTER.
	SyncGroup              string
	GroupFault, WantMaster bool
	// LastTransition and Reason say when and why the state last changed.
	LastTransition time.Time
	Reason         string
	// MasterAdverInterval is the interval in force.
	MasterAdverInterval time.Duration
	// Received counts valid adverts for our virtual router, Sent our adverts
	// (one per destination), SendErrors failed sends.
	Received, Sent, SendErrors uint64
	// PriorityZeroReceived counts the valid adverts received with priority
	// 0 (a master leaving), PriorityZeroSent ours (one per destination).
	PriorityZeroReceived, PriorityZeroSent uint64
	// BecameMaster counts transitions to MASTER, ReleasedMaster
	// transitions from MASTER to any other state.
	BecameMaster, ReleasedMaster uint64
	// Dropped counts refused packets by reason: the Drop* constants, or the
	// codec field for malformed packets ("checksum", "count ip addrs"…).
	Dropped map[string]uint64
	// Yielding: the instance yields its mastership (Yield) until Unyield
	// or until it becomes MASTER again.
	Yielding bool
	// MasterSince is when the current master (another router) was first
	// heard as master; zero while we are master or none is known.
	MasterSince time.Time
	// HandOvers counts the calls of Options.OnRelease, HandOverTimeouts
	// those that did not end within ReleaseTimeout.
	HandOvers, HandOverTimeouts uint64
}

// Driver runs one VRRP instance: it feeds a Machine with packets, link
// changes and timers, and performs its actions on the kernel.
type Driver struct {
	cfg  InstanceConfig
	opts Options
	log  *slog.Logger
	m    *Machine
	ext  chan Event
	warn []string

	// inbox holds the sync group's orders: delivered without blocking,
	// taken by Run.
	inboxMu sync.Mutex
	inbox   []Event
	kick    chan struct{}

	mu     sync.Mutex
	status Status
	src    netip.Addr

	// closers close what open (or a Reconfigure) opened, last first.
	closers []func()
	// ownAnnouncer: the announcer is ours (opened for the VIPs' devices),
	// so a Reconfigure with VIPs on other devices opens a new one.
	ownAnnouncer bool
}

// NewDriver checks cfg (after WithDefaults) and returns a driver. It does no
// I/O.
func NewDriver(cfg InstanceConfig, opts Options) (*Driver, error) {
	warn := cfg.Warnings()
	cfg = cfg.WithDefaults()
	switch {
	case cfg.SyncGroup != "" && opts.Sync == nil:
		warn = append(warn, "vrrp_instance "+cfg.Name+": sync group "+cfg.SyncGroup+" has no hub (Options.Sync): the instance runs alone")
		cfg.SyncGroup = ""
	case opts.Sync != nil:
		cfg.SyncGroup = opts.Sync.g.Name()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("instance", cfg.Name, "vrid", int(cfg.VRID))
	opts.Clock = clock.Or(opts.Clock)
	if opts.DropLog == nil {
		opts.DropLog = logging.NewLimiter(0, opts.Clock.Now)
	}
	if opts.ReleaseTimeout <= 0 {
		opts.ReleaseTimeout = DefaultReleaseTimeout
	}
	d := &Driver{cfg: cfg, opts: opts, log: log, m: NewMachine(cfg), ext: make(chan Event, 16), warn: warn, kick: make(chan struct{}, 1)}
	d.status = Status{Instance: cfg.Name, Interface: cfg.Interface, VRID: cfg.VRID, Version: cfg.Version,
		State: StateInit, Priority: cfg.Priority, BasePriority: cfg.Priority, SyncGroup: cfg.SyncGroup, Dropped: map[string]uint64{}}
	if opts.Sync != nil {
		opts.Sync.attach(cfg.Name, d)
	}
	return d, nil
}

// Inject hands an event to the running driver: the hooks PeerDead and
// Witness, SetPriority, FaultSet and FaultCleared, Yield and Unyield come
// in this way. It
// blocks until Run takes it or ctx ends; events injected before Run (up to
// 16) are applied before Startup, so an initial effective priority or
// fault holds from the start.
func (d *Driver) Inject(ctx context.Context, ev Event) error {
	select {
	case d.ext <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status returns a snapshot.
func (d *Driver) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.status
	s.Dropped = maps.Clone(d.status.Dropped)
	s.FaultSources = slices.Clone(d.status.FaultSources)
	return s
}

// deliver queues a sync group order for Run; it never blocks.
func (d *Driver) deliver(ev Event) {
	d.inboxMu.Lock()
	d.inbox = append(d.inbox, ev)
	d.inboxMu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *Driver) takeInbox() []Event {
	d.inboxMu.Lock()
	defer d.inboxMu.Unlock()
	evs := d.inbox
	d.inbox = nil
	return evs
}

func (d *Driver) count(f func(*Status)) {
	d.mu.Lock()
	f(&d.status)
	d.mu.Unlock()
}

func (d *Driver) drop(reason string) { d.count(func(s *Status) { s.Dropped[reason]++ }) }

// trackNames returns the interfaces whose state matters: the VRRP interface
// and track_interface.
func (d *Driver) trackNames() []string {
	names := append([]string{d.cfg.Interface}, d.cfg.TrackInterfaces...)
	slices.Sort(names)
	return slices.Compact(names)
}

// open fills in the kernel implementations of what Options left nil.
func (d *Driver) open() (closeAll func(), err error) {
	closeAll = func() {
		for i := len(d.closers) - 1; i >= 0; i-- {
			d.closers[i]()
		}
		d.closers = nil
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	v6 := d.cfg.IPv6()
	multicast := len(d.cfg.UnicastPeers) == 0
	err = inNetNS(d.opts.NetNS, func() error {
		ifi, err := net.InterfaceByName(d.cfg.Interface)
		if err != nil {
			return fmt.Errorf("vrrp: interface %s: %w", d.cfg.Interface, err)
		}
		if d.opts.IfIndex == 0 {
			d.opts.IfIndex = ifi.Index
		}
		if !d.opts.Src.IsValid() {
			d.opts.Src = d.cfg.UnicastSrc
		}
		if !d.opts.Src.IsValid() {
			if d.opts.Src, err = primaryAddr(ifi, v6, d.cfg.VIPs); err != nil {
				return err
			}
		}
		if d.opts.Conn == nil {
			var c PacketConn
			if v6 {
				c, err = openConn6(ifi, multicast)
			} else {
				c, err = openConn4(ifi, multicast)
			}
			if err != nil {
				return err
			}
			d.opts.Conn = c
			d.closers = append(d.closers, func() { c.Close() })
		}
		if d.opts.Announcer == nil {
			a, err := NewL2Announcer(d.cfg.allVIPs())
			if err != nil {
				return err
			}
			d.opts.Announcer, d.ownAnnouncer = a, true
			d.closers = append(d.closers, a.Close)
		}
		return nil
	})
	if err != nil {
		return closeAll, err
	}
	if d.opts.Addrs == nil {
		a, err := NewNetlinkAddrs(d.opts.NetNS)
		if err != nil {
			return closeAll, err
		}
		d.opts.Addrs = a
		d.closers = append(d.closers, a.Close)
	}
	if d.opts.Routes == nil && len(d.cfg.VirtualRoutes)+len(d.cfg.VirtualRules) > 0 {
		r, err := NewNetlinkRoutes(d.opts.NetNS)
		if err != nil {
			return closeAll, err
		}
		d.opts.Routes = r
		d.closers = append(d.closers, r.Close)
	}
	if d.opts.Links == nil {
		d.opts.Links = NetlinkLinks{NS: d.opts.NetNS}
	}
	if d.opts.Notifier == nil {
		n := NewScriptNotifier(d.cfg, d.log, d.opts.NotifyTimeout)
		n.Start()
		d.opts.Notifier = n
		d.closers = append(d.closers, n.Close)
	}
	return closeAll, nil
}

// Run opens what it needs, starts the instance and runs it until ctx ends;
// then it stops cleanly (a master releases its VIPs and sends priority 0)
// and returns nil. It returns an error if it cannot start. Call it once.
func (d *Driver) Run(ctx context.Context) error {
	closeAll, err := d.open()
	if err != nil {
		return err
	}
	defer closeAll()
	d.src = d.opts.Src
	d.count(func(s *Status) { s.Src = d.src })

	lw := &linkWatch{up: map[string]bool{}}
	defer func() { lw.stop() }()
	if err := d.watchLinks(lw); err != nil {
		return err
	}

	pkts := make(chan Received, 64)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			r, err := d.opts.Conn.Read()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					d.log.Error("vrrp read failed", "err", err)
				}
				return
			}
			select {
			case pkts <- r:
			default:
				d.drop("queue full")
			}
		}
	}()
	defer func() {
		d.opts.Conn.Close()
		<-readDone
	}()

	for _, w := range d.warn {
		d.log.Warn("vrrp: " + w)
	}
	// Events injected before Run (an initial effective priority, fault
	// sources) apply before Startup.
	for pending := true; pending; {
		select {
		case ev := <-d.ext:
			d.step(ev)
		default:
			pending = false
		}
	}
	if d.opts.Yield {
		d.step(Yield{})
	}
	d.log.Info("vrrp instance starting", "src", d.src.String(), "priority", int(d.m.Priority()), "base_priority", int(d.cfg.Priority), "version", d.cfg.Version, "yielding", d.opts.Yield)
	d.step(Startup{Src: d.src})
	alarm := clock.NewAlarm(d.opts.Clock)
	defer alarm.Stop()
	for {
		select {
		case <-ctx.Done():
			d.step(Shutdown{})
			d.log.Info("vrrp instance stopped")
			return nil
		case r := <-pkts:
			if ev, ok := d.check(r); ok {
				d.step(ev)
			}
		case ls, ok := <-lw.updates:
			if !ok {
				lw.updates = nil
				break
			}
			lw.set(d, ls.Name, ls.Up)
		case ev := <-d.ext:
			if rc, ok := ev.(Reconfigure); ok {
				d.reconfigure(rc.Config, lw)
				break
			}
			d.step(ev)
		case <-d.kick:
			for _, ev := range d.takeInbox() {
				d.step(ev)
			}
		case <-alarm.At(d.m.NextDeadline()):
			d.step(TimerFired{})
		}
	}
}

// check validates a received packet against the configuration and turns
// it into an event; a refused packet is counted (and logged when it is an
// error, not just another router's traffic).
func (d *Driver) check(r Received) (AdvertReceived, bool) {
	if r.Src == d.src {
		d.drop(DropLooped)
		return AdvertReceived{}, false
	}
	if r.TTL != 255 {
		d.drop(DropTTL)
		d.logDrop(r, DropTTL, func() string { return fmt.Sprintf("field \"ttl\": %d, want 255", r.TTL) })
		return AdvertReceived{}, false
	}
	if d.opts.IfIndex != 0 && r.IfIndex != 0 && r.IfIndex != d.opts.IfIndex {
		d.drop(DropInterface)
		return AdvertReceived{}, false
	}
	if len(d.cfg.UnicastPeers) > 0 && !slices.Contains(d.cfg.UnicastPeers, r.Src) {
		d.drop(DropPeer)
		d.logDrop(r, DropPeer, func() string { return "not a unicast_peer" })
		return AdvertReceived{}, false
	}
	p, err := Decode(r.Payload, r.Src, r.Dst)
	if err != nil {
		var de *DecodeError
		reason := "malformed"
		if errors.As(err, &de) {
			reason = de.Field
		}
		d.drop(reason)
		d.logDrop(r, reason, err.Error)
		return AdvertReceived{}, false
	}
	if p.VRID != d.cfg.VRID {
		d.drop(DropOtherVRID)
		return AdvertReceived{}, false
	}
	bad := func(reason, format string, args ...any) (AdvertReceived, bool) {
		d.drop(reason)
		d.logDrop(r, reason, func() string { return fmt.Sprintf(format, args...) })
		return AdvertReceived{}, false
	}
	if int(p.Version) != d.cfg.Version {
		return bad(DropVersion, "field \"version\": %d, ours is %d", p.Version, d.cfg.Version)
	}
	ev := AdvertReceived{From: r.Src, Priority: p.Priority}
	if p.Version == Version2 {
		wantType, want := d.authData()
		if p.AuthType != wantType || p.AuthData != want {
			return bad(DropAuth, "field \"auth data\": type %d or password does not match ours", p.AuthType)
		}
		if time.Duration(p.AdverInt)*time.Second != d.cfg.AdvertInterval {
			return bad(DropInterval, "field \"adver int\": %ds, ours is %s", p.AdverInt, d.cfg.AdvertInterval)
		}
	} else {
		ev.MaxAdverInt = time.Duration(p.MaxAdverInt) * 10 * time.Millisecond
	}
	if !sameAddrs(p.Addresses, d.cfg.VIPs) {
		return bad(DropAddresses, "field \"addresses\": %v, ours are %v", p.Addresses, d.vipAddrs())
	}
	d.count(func(s *Status) {
		s.Received++
		if p.Priority == 0 {
			s.PriorityZeroReceived++
		}
	})
	return ev, true
}

// logDrop logs a dropped packet: only by the instance of the packet's VRID
// (every instance's socket sees every advert on the link; a packet too
// short to carry one is logged by all, through the shared limiter once),
// and at most once per reason per interval of Options.DropLog, with the
// count suppressed meanwhile. The message is built only when logged.
func (d *Driver) logDrop(r Received, reason string, msg func() string) {
	if len(r.Payload) >= 2 && r.Payload[1] != d.cfg.VRID {
		return // another virtual router's packet: counted, its instance (if ours) logs it
	}
	ok, n := d.opts.DropLog.Allow(reason)
	if !ok {
		return
	}
	args := []any{"peer", r.Src.String(), "reason", reason, "err", msg()}
	if n > 0 {
		args = append(args, logging.KeySuppressed, n)
	}
	d.log.Warn("vrrp packet dropped", args...)
}

func (d *Driver) authData() (uint8, [8]byte) {
	var b [8]byte
	if d.cfg.AuthPass == "" {
		return AuthNone, b
	}
	copy(b[:], d.cfg.AuthPass)
	return AuthPassword, b
}

func (d *Driver) vipAddrs() []netip.Addr {
	out := make([]netip.Addr, len(d.cfg.VIPs))
	for i, v := range d.cfg.VIPs {
		out[i] = v.Prefix.Addr()
	}
	return out
}

// sameAddrs: the advert carries exactly our VIPs, in any order (keepalived
// refuses adverts whose list differs, and so do we).
func sameAddrs(got []netip.Addr, vips []VIP) bool {
	if len(got) != len(vips) {
		return false
	}
	set := map[netip.Addr]bool{}
	for _, a := range got {
		set[a] = true
	}
	for _, v := range vips {
		if !set[v.Prefix.Addr()] {
			return false
		}
	}
	return true
}

// advert builds our advert with priority prio.
func (d *Driver) advert(prio uint8) *Packet {
	p := &Packet{Version: uint8(d.cfg.Version), Type: TypeAdvertisement, VRID: d.cfg.VRID, Priority: prio, Addresses: d.vipAddrs()}
	if d.cfg.Version == Version2 {
		p.AdverInt = uint8(d.cfg.AdvertInterval / time.Second)
		p.AuthType, p.AuthData = d.authData()
	} else {
		p.MaxAdverInt = uint16(d.cfg.AdvertInterval / (10 * time.Millisecond))
	}
	return p
}

func (d *Driver) destinations() []netip.Addr {
	if len(d.cfg.UnicastPeers) > 0 {
		return d.cfg.UnicastPeers
	}
	if d.cfg.IPv6() {
		return []netip.Addr{MulticastGroup6}
	}
	return []netip.Addr{MulticastGroup4}
}

func (d *Driver) send(prio uint8) {
	p := d.advert(prio)
	for _, dst := range d.destinations() {
		b, err := p.Marshal(d.src, dst)
		if err == nil {
			err = d.opts.Conn.Write(b, d.src, dst)
		}
		if err != nil {
			d.count(func(s *Status) { s.SendErrors++ })
			d.log.Error("vrrp advert not sent", "peer", dst.String(), "priority", int(prio), "err", err)
			continue
		}
		d.count(func(s *Status) {
			s.Sent++
			if prio == 0 {
				s.PriorityZeroSent++
			}
		})
	}
}

// step feeds the machine and performs its actions in order.
func (d *Driver) step(ev Event) {
	acts := d.m.Step(d.opts.Clock.Now(), ev)
	for _, a := range acts {
		switch a := a.(type) {
		case SendAdvert:
			d.send(a.Priority)
		case AddVIPs:
			if err := d.opts.Addrs.AddVIPs(d.cfg.allVIPs()); err != nil {
				d.log.Error("vrrp VIPs not added", "err", err)
			}
		case RemoveVIPs:
			if err := d.opts.Addrs.RemoveVIPs(d.cfg.allVIPs()); err != nil {
				d.log.Error("vrrp VIPs not removed", "err", err)
			}
		case HandOver:
			d.handOver()
		case AddRoutes:
			if d.opts.Routes == nil {
				break
			}
			if err := d.opts.Routes.AddRoutes(d.cfg.VirtualRoutes, d.cfg.VirtualRules); err != nil {
				d.log.Error("vrrp virtual routes not added", "err", err)
			}
		case RemoveRoutes:
			if d.opts.Routes == nil {
				break
			}
			if err := d.opts.Routes.RemoveRoutes(d.cfg.VirtualRoutes, d.cfg.VirtualRules); err != nil {
				d.log.Error("vrrp virtual routes not removed", "err", err)
			}
		case UpdateVIPs:
			if len(a.Remove) > 0 {
				if err := d.opts.Addrs.RemoveVIPs(a.Remove); err != nil {
					d.log.Error("vrrp VIPs not removed", "err", err)
				}
			}
			if len(a.Add) > 0 {
				if err := d.opts.Addrs.AddVIPs(a.Add); err != nil {
					d.log.Error("vrrp VIPs not added", "err", err)
				}
			}
		case UpdateRoutes:
			if d.opts.Routes == nil {
				break
			}
			if len(a.RemoveRoutes)+len(a.RemoveRules) > 0 {
				if err := d.opts.Routes.RemoveRoutes(a.RemoveRoutes, a.RemoveRules); err != nil {
					d.log.Error("vrrp virtual routes not removed", "err", err)
				}
			}
			if len(a.AddRoutes)+len(a.AddRules) > 0 {
				if err := d.opts.Routes.AddRoutes(a.AddRoutes, a.AddRules); err != nil {
					d.log.Error("vrrp virtual routes not added", "err", err)
				}
			}
		case AnnounceVIPs:
			if err := d.opts.Announcer.Announce(a.VIPs, a.Repeat); err != nil {
				d.log.Warn("vrrp announcement failed", "err", err)
			}
		case Reconfigured:
			d.log.Info("vrrp instance reconfigured; it keeps its state", "fields", a.Fields, "state", d.m.State().String(),
				"priority", int(d.m.Priority()), "base_priority", int(d.cfg.Priority))
		case SendGARP:
			if err := d.opts.Announcer.Announce(d.cfg.allVIPs(), a.Repeat); err != nil {
				d.log.Warn("vrrp announcement failed", "err", err)
			}
		case Notify:
			d.opts.Notifier.Notify(a.State, d.m.Priority())
		case PriorityChanged:
			d.log.Info("vrrp effective priority changed", "priority", int(a.To), "from", int(a.From), "base_priority", int(d.cfg.Priority))
		case GroupReport:
			if d.opts.Sync != nil {
				d.opts.Sync.report(d.cfg.Name, a)
			}
		case StateChanged:
			d.log.Info("vrrp state changed", "state", a.To.String(), "from", a.From.String(), "reason", a.Reason)
			d.count(func(s *Status) {
				switch {
				case a.To == StateMaster && a.From != StateMaster:
					s.BecameMaster++
				case a.From == StateMaster && a.To != StateMaster:
					s.ReleasedMaster++
				}
			})
		case Warn:
			d.log.Warn("vrrp: " + a.Msg)
		}
	}
	ms := d.m.Status()
	d.count(func(s *Status) {
		s.Priority, s.FaultSources, s.GroupFault, s.WantMaster = ms.Priority, ms.FaultSources, ms.GroupFault, ms.WantMaster
		s.BasePriority = ms.BasePriority
		s.State, s.Master, s.MasterPriority = ms.State, ms.Master, ms.MasterPriority
		s.LastTransition, s.Reason, s.MasterAdverInterval = ms.LastTransition, ms.Reason, ms.MasterAdverInterval
		s.Yielding, s.MasterSince = ms.Yielding, ms.MasterSince
	})
}

// handOver calls Options.OnRelease and waits for it, at most
// ReleaseTimeout (real time: the hook does I/O, which the injected clock
// does not drive).
func (d *Driver) handOver() {
	if d.opts.OnRelease == nil {
		return
	}
	d.count(func(s *Status) { s.HandOvers++ })
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.ReleaseTimeout)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.opts.OnRelease(ctx, d.cfg.Name)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		d.count(func(s *Status) { s.HandOverTimeouts++ })
		d.log.Warn("vrrp: connection hand-over did not end in time; the release goes on without it", "timeout", d.opts.ReleaseTimeout)
	}
}

// String renders a status for humans, one line per item.
func (s Status) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "instance %s vrid %d (VRRPv%d) on %s: %s\n", s.Instance, s.VRID, s.Version, s.Interface, s.State)
	master := "unknown"
	if s.Master.IsValid() {
		master = fmt.Sprintf("%s (priority %d)", s.Master, s.MasterPriority)
	}
	prio := fmt.Sprint(s.Priority)
	if s.BasePriority != 0 && s.BasePriority != s.Priority {
		prio = fmt.Sprintf("%d (base %d)", s.Priority, s.BasePriority)
	}
	fmt.Fprintf(&b, "  master: %s; our priority %s, source %s\n", master, prio, s.Src)
	if len(s.FaultSources) > 0 || s.GroupFault {
		faults := strings.Join(s.FaultSources, ", ")
		if s.GroupFault {
			faults = strings.TrimPrefix(faults+", sync group "+s.SyncGroup, ", ")
		}
		fmt.Fprintf(&b, "  faults: %s\n", faults)
	}
	if s.Yielding {
		fmt.Fprintf(&b, "  yielding: mastership handed over (tandem-director failover); `failover --cancel` ends it\n")
	}
	if s.SyncGroup != "" {
		want := ""
		if s.WantMaster && s.State == StateBackup {
			want = " (waiting for the group to go MASTER)"
		}
		fmt.Fprintf(&b, "  sync group: %s%s\n", s.SyncGroup, want)
	}
	if !s.LastTransition.IsZero() {
		fmt.Fprintf(&b, "  last transition: %s: %s\n", s.LastTransition.Format(time.RFC3339), s.Reason)
	}
	fmt.Fprintf(&b, "  adverts: %d received, %d sent, %d send errors\n", s.Received, s.Sent, s.SendErrors)
	for _, k := range slices.Sorted(maps.Keys(s.Dropped)) {
		fmt.Fprintf(&b, "  dropped (%s): %d\n", k, s.Dropped[k])
	}
	return b.String()
}

// linkWatch is the running watch of the tracked interfaces (Run's).
type linkWatch struct {
	cancel  context.CancelFunc
	updates <-chan LinkState
	names   []string
	up      map[string]bool
}

func (lw *linkWatch) stop() {
	if lw.cancel != nil {
		lw.cancel()
	}
}

// set records an interface's state and feeds the machine a change.
func (lw *linkWatch) set(d *Driver, name string, up bool) {
	if was, ok := lw.up[name]; (ok && was == up) || (!ok && up) {
		lw.up[name] = up
		return
	}
	lw.up[name] = up
	if up {
		d.step(InterfaceUp{Name: name})
	} else {
		d.step(InterfaceDown{Name: name})
	}
}

// watchLinks (re)starts the watch of trackNames: an interface no longer
// tracked that was down clears its fault, a newly tracked one that is down
// sets one. On error the running watch stays.
func (d *Driver) watchLinks(lw *linkWatch) error {
	names := d.trackNames()
	ctx, cancel := context.WithCancel(context.Background())
	initial, updates, err := d.opts.Links.Watch(ctx, names)
	if err != nil {
		cancel()
		return err
	}
	lw.stop()
	lw.cancel, lw.updates = cancel, updates
	for _, n := range lw.names {
		if !slices.Contains(names, n) {
			if !lw.up[n] {
				d.step(InterfaceUp{Name: n})
			}
			delete(lw.up, n)
		}
	}
	for _, n := range names {
		lw.set(d, n, initial[n])
	}
	lw.names = names
	return nil
}

// Reconfigurer is a Notifier that takes a new configuration (the notify
// scripts of a reload).
type Reconfigurer interface {
	Reconfigure(cfg InstanceConfig)
}

// reconfigure is Reconfigure in Run: the driver's own part (the sockets and
// handles the new configuration needs, the notifier, the watched
// interfaces) around the machine's.
func (d *Driver) reconfigure(cfg InstanceConfig, lw *linkWatch) {
	n := cfg.WithDefaults()
	n.SyncGroup = d.cfg.SyncGroup // membership is the hub's: a change restarts the instance
	if err := n.Validate(); err != nil {
		d.log.Error("vrrp reconfigure refused", "err", err)
		return
	}
	live, restart := d.cfg.Compare(n)
	if len(restart) > 0 {
		d.log.Error("vrrp reconfigure refused: these fields need a restart", "fields", restart)
		return
	}
	if len(live) == 0 {
		return
	}
	if err := d.openFor(n); err != nil {
		d.log.Error("vrrp reconfigure refused", "err", err)
		return
	}
	oldTrack := d.trackNames()
	d.cfg = n
	d.step(Reconfigure{Config: n})
	if r, ok := d.opts.Notifier.(Reconfigurer); ok {
		r.Reconfigure(n)
	}
	if !slices.Equal(oldTrack, d.trackNames()) {
		if err := d.watchLinks(lw); err != nil {
			d.log.Error("vrrp track_interface watch not changed", "err", err)
		}
	}
}

// openFor opens what n needs and the running driver lacks: the route
// manager for an instance that gets its first virtual route or rule, and
// an announcer for VIPs on other devices or of another family.
func (d *Driver) openFor(n InstanceConfig) error {
	if d.opts.Routes == nil && len(n.VirtualRoutes)+len(n.VirtualRules) > 0 {
		r, err := NewNetlinkRoutes(d.opts.NetNS)
		if err != nil {
			return err
		}
		d.opts.Routes = r
		d.closers = append(d.closers, r.Close)
	}
	if !d.ownAnnouncer {
		return nil
	}
	type devFam struct {
		dev string
		v6  bool
	}
	have := map[devFam]bool{}
	for _, v := range d.cfg.allVIPs() {
		have[devFam{v.Dev, v.Prefix.Addr().Is6()}] = true
	}
	all := n.allVIPs()
	if !slices.ContainsFunc(all, func(v VIP) bool { return !have[devFam{v.Dev, v.Prefix.Addr().Is6()}] }) {
		return nil
	}
	var a *L2Announcer
	err := inNetNS(d.opts.NetNS, func() error {
		var err error
		a, err = NewL2Announcer(all)
		return err
	})
	if err != nil {
		return err
	}
	old, _ := d.opts.Announcer.(*L2Announcer)
	d.opts.Announcer = a
	d.closers = append(d.closers, a.Close)
	if old != nil {
		old.Close() // closing twice at the end is harmless
	}
	return nil
}
