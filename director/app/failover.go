package app

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/peerwatch"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/shared/hbproto"
)

// `tandem-director failover`: an instance MASTER here hands its VIPs to
// the peer on purpose (vrrp.Yield), its connections first (the release's
// vrrp.HandOver, onRelease), and stays BACKUP while the peer advertises;
// the op returns once the peer is heard as master. --cancel ends the
// yield (vrrp.Unyield). The yield lives in the VRRP driver: a reload that
// keeps the instance keeps it, one that restarts it passes it on
// (vrrp.Options.Yield), a restart of the director clears it.

// failoverPoll is how often the op looks at the drivers while it waits:
// the resolution of the figures it reports.
const failoverPoll = 5 * time.Millisecond

// failoverState is what the drivers' release hooks read (handOverSnap)
// and what they leave for the op (the last hand-over of each instance).
type failoverState struct {
	snap atomic.Pointer[handOverSnap]
	from *config.Config // main loop: the configuration snap was built from

	mu   sync.Mutex
	last map[string]handOverRecord
}

// handOverRecord is one instance's last hand-over.
type handOverRecord struct {
	at      time.Time
	skipped string // why nothing was sent ("no lvs_sync_daemon")
	res     HandOverResult
	took    time.Duration
	err     error
}

func (f *failoverState) record(instance string, r handOverRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		f.last = map[string]handOverRecord{}
	}
	f.last[instance] = r
}

func (f *failoverState) lastOf(instance string) (handOverRecord, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.last[instance]
	return r, ok
}

// vsKey is a virtual service's protocol and address as a connection line
// shows them.
type vsKey struct {
	proto string
	addr  netip.AddrPort
}

// handOverSnap is the configuration a hand-over needs, built by the main
// loop and read by the drivers' goroutines.
type handOverSnap struct {
	// cs is the connection-sync daemon; nil: none, nothing is sent (the
	// peer runs no backup daemon to take it).
	cs *config.ConnSync
	// vips are each instance's addresses (VIPs and excluded VIPs): an
	// instance hands over the connections to them.
	vips map[string]map[netip.Addr]bool
	// byVS and byAddr (a persistent service of port 0) give a
	// connection's forwarding; byDest that of a firewall-mark service's
	// connection, by real server, with the mark.
	byVS   map[vsKey]lvs.ConnInfo
	byAddr map[vsKey]lvs.ConnInfo
	byDest map[netip.AddrPort]lvs.ConnInfo
}

// newHandOverSnap builds the snapshot of cfg for instances (name → VIPs).
// Pure.
func newHandOverSnap(cfg *config.Config, instances map[string][]netip.Addr) *handOverSnap {
	s := &handOverSnap{vips: map[string]map[netip.Addr]bool{}, byVS: map[vsKey]lvs.ConnInfo{},
		byAddr: map[vsKey]lvs.ConnInfo{}, byDest: map[netip.AddrPort]lvs.ConnInfo{}}
	if cfg.ConnSync != nil {
		cs := *cfg.ConnSync
		s.cs = &cs
	}
	for name, vips := range instances {
		set := map[netip.Addr]bool{}
		for _, v := range vips {
			set[v.Unmap()] = true
		}
		s.vips[name] = set
	}
	for i := range cfg.Services {
		vs := &cfg.Services[i]
		info := lvs.ConnInfo{Forward: forwardOf(vs.Forwarding)}
		proto := string(vs.Protocol)
		if proto == "" {
			proto = "TCP"
		}
		switch {
		case vs.FWMark != 0:
			info.FWMark = vs.FWMark
			for _, rs := range vs.RealServers {
				s.byDest[unmapAP(rs.Addr)] = info
			}
		case vs.Addr.Port() == 0:
			s.byAddr[vsKey{proto, netip.AddrPortFrom(vs.Addr.Addr().Unmap(), 0)}] = info
		default:
			s.byVS[vsKey{proto, unmapAP(vs.Addr)}] = info
		}
	}
	return s
}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// keep reports whether instance hands over c: a connection to one of its
// addresses, or a firewall-mark template (protocol IP: its virtual
// address is the mark, so it is every instance's).
func (s *handOverSnap) keep(instance string, c lvs.Conn) bool {
	return c.Protocol == "IP" || s.vips[instance][c.Virtual.Addr().Unmap()]
}

// info is what c's sync entry needs: its service's forwarding (and mark);
// direct routing when no service matches.
func (s *handOverSnap) info(c lvs.Conn) lvs.ConnInfo {
	if i, ok := s.byVS[vsKey{c.Protocol, unmapAP(c.Virtual)}]; ok {
		return i
	}
	if i, ok := s.byAddr[vsKey{c.Protocol, netip.AddrPortFrom(c.Virtual.Addr().Unmap(), 0)}]; ok {
		return i
	}
	if i, ok := s.byDest[unmapAP(c.Dest)]; ok {
		return i
	}
	return lvs.ConnInfo{Forward: lvs.ForwardRoute}
}

// refreshHandOver rebuilds the hand-over snapshot when the configuration
// changed (main loop).
func (a *App) refreshHandOver() {
	if a.fo.from == a.cfg && a.fo.snap.Load() != nil {
		return
	}
	inst := map[string][]netip.Addr{}
	for _, in := range a.instances {
		v := in.vcfg.WithDefaults()
		for _, x := range slices.Concat(v.VIPs, v.ExcludedVIPs) {
			inst[in.cfg.Name] = append(inst[in.cfg.Name], x.Prefix.Addr())
		}
	}
	a.fo.snap.Store(newHandOverSnap(a.cfg, inst))
	a.fo.from = a.cfg
}

// onRelease is vrrp.Options.OnRelease: instance left MASTER, its VIPs are
// off; hand its connections to the peer's backup sync daemon, within ctx.
// It runs in the driver's goroutine.
func (a *App) onRelease(ctx context.Context, instance string) {
	rec := handOverRecord{at: a.now()}
	s := a.fo.snap.Load()
	if s == nil || s.cs == nil {
		rec.skipped = "no lvs_sync_daemon: the peer runs no backup sync daemon to take the connections"
		a.fo.record(instance, rec)
		a.log.Debug("vrrp: no connection hand-over", "instance", instance, "reason", rec.skipped)
		return
	}
	req := HandOverRequest{Interface: s.cs.Interface, SyncID: uint8(s.cs.SyncID),
		Keep: func(c lvs.Conn) bool { return s.keep(instance, c) }, Info: s.info}
	rec.res, rec.err = a.opts.HandOver.HandOver(ctx, req)
	rec.took = a.now().Sub(rec.at)
	a.fo.record(instance, rec)
	args := []any{"instance", instance, "connections", rec.res.Conns, "messages", rec.res.Messages, "table", rec.res.Read,
		"took_ms", rec.took.Milliseconds(), "interface", req.Interface, "syncid", int(req.SyncID)}
	if rec.err != nil {
		a.log.Warn("vrrp: connection hand-over to the peer failed", append(args, "err", rec.err)...)
		return
	}
	a.log.Info("vrrp: connections handed over to the peer", args...)
}

// failoverItem is one instance the op moves, and what it saw.
type failoverItem struct {
	name    string
	drv     VRRPDriver
	res     control.FailoverInstance
	preempt bool // cancel: it should become MASTER again
	backup  bool // yield: seen BACKUP since the request
	done    bool
}

// failoverWait is the main loop's answer to a failover request: the
// instances asked, for the socket's goroutine to wait on (the main loop
// never waits for the peer).
type failoverWait struct {
	cancel  bool
	start   time.Time
	timeout time.Duration
	items   []*failoverItem
}

// failoverTargets are the instances a request names: the one named (with
// its sync group), else every MASTER (cancel: every yielding) instance.
func (a *App) failoverTargets(args control.FailoverArgs) ([]*instance, error) {
	var picked []*instance
	if args.Instance != "" {
		in := a.instance(args.Instance)
		if in == nil {
			var names []string
			for _, x := range a.instances {
				names = append(names, x.cfg.Name)
			}
			return nil, fmt.Errorf("no vrrp_instance %q in the configuration (instances: %s)", args.Instance, strings.Join(names, ", "))
		}
		picked = []*instance{in}
	} else {
		for _, in := range a.instances {
			if in.drv == nil || in.cancel == nil {
				continue
			}
			ds := in.drv.Status()
			if (!args.Cancel && ds.State == vrrp.StateMaster) || (args.Cancel && ds.Yielding) {
				picked = append(picked, in)
			}
		}
		if len(picked) == 0 {
			if args.Cancel {
				return nil, fmt.Errorf("no VRRP instance of this director yields: nothing to cancel")
			}
			return nil, fmt.Errorf("this director is MASTER of no VRRP instance: nothing to hand over")
		}
	}
	// A sync group moves as one.
	var out []*instance
	for _, in := range picked {
		names := []string{in.cfg.Name}
		if g := a.groupOf(in.cfg.Name); g != nil {
			names = g.cfg.Members
		}
		for _, n := range names {
			if m := a.instance(n); m != nil && !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// failoverStart checks a failover request and asks the drivers (main
// loop). Nothing changes when it refuses.
func (a *App) failoverStart(args control.FailoverArgs) (*failoverWait, error) {
	timeout := time.Duration(args.TimeoutMS) * time.Millisecond
	if timeout == 0 {
		timeout = control.DefaultFailoverTimeout
	}
	targets, err := a.failoverTargets(args)
	if err != nil {
		return nil, err
	}
	w := &failoverWait{cancel: args.Cancel, start: a.now(), timeout: timeout}
	for _, in := range targets {
		if in.drv == nil || in.cancel == nil {
			why := "stopped"
			if in.err != nil {
				why = in.err.Error()
			}
			return nil, fmt.Errorf("vrrp_instance %s is not running (%s): nothing changed", in.cfg.Name, why)
		}
		ds := in.drv.Status()
		it := &failoverItem{name: in.cfg.Name, drv: in.drv, res: control.FailoverInstance{
			Instance: in.cfg.Name, VRID: in.cfg.VirtualRouterID, FromState: ds.State.String(), PeerMasterAfterMS: -1, MasterAfterMS: -1}}
		if g := a.groupOf(in.cfg.Name); g != nil {
			it.res.SyncGroup = g.cfg.Name
		}
		if args.Cancel {
			if !ds.Yielding {
				it.done = true
				it.res.State, it.res.Note = ds.State.String(), "not yielding: nothing to cancel"
			} else {
				it.preempt, it.res.Note = preemptsBack(in, ds)
			}
		} else {
			if ds.State != vrrp.StateMaster {
				master := ""
				if ds.Master.IsValid() && ds.Master != ds.Src {
					master = fmt.Sprintf(" (the master is %s, priority %d)", ds.Master, ds.MasterPriority)
				}
				return nil, fmt.Errorf("vrrp_instance %s is %s, not MASTER: only a master hands over%s; nothing changed", in.cfg.Name, ds.State, master)
			}
			if !args.Force {
				if _, ok := a.peerEvidence(in, ds); !ok {
					return nil, fmt.Errorf("vrrp_instance %s: no peer is known to be ready to take over: a VRRP backup is silent, and since this "+
						"director started it has heard no advert from another router for virtual router %d, the fast-failover probe reports "+
						"no peer BACKUP for it, and no agent reports another director as BACKUP; if nobody takes over, the VIPs come back here "+
						"after Master_Down_Interval (3 × advert_int + skew) without serving meanwhile. Nothing changed; --force hands over anyway",
						in.cfg.Name, in.cfg.VirtualRouterID)
				}
			}
		}
		w.items = append(w.items, it)
	}
	a.refreshHandOver()
	var ev vrrp.Event = vrrp.Yield{}
	verb := "operator failover: handing mastership over to the peer"
	if args.Cancel {
		ev, verb = vrrp.Unyield{}, "operator failover --cancel: the instances stop yielding"
	}
	var names []string
	for _, it := range w.items {
		if it.done {
			continue
		}
		names = append(names, it.name)
		ctx, cancel := context.WithTimeout(a.runCtx, time.Second)
		err := it.drv.Inject(ctx, ev)
		cancel()
		if err != nil {
			it.done, it.res.Error = true, fmt.Sprintf("the VRRP instance did not take the request: %v", err)
		}
	}
	a.log.Info(verb, "instances", names, "force", args.Force, "timeout", timeout)
	return w, nil
}

// preemptsBack says whether a yielding instance becomes MASTER again once
// it stops yielding, and if not, why.
func preemptsBack(in *instance, ds vrrp.Status) (bool, string) {
	switch {
	case ds.State != vrrp.StateBackup:
		return ds.State == vrrp.StateMaster, ""
	case in.vcfg.Priority == vrrp.PriorityOwner:
		return true, ""
	case in.vcfg.Nopreempt:
		return false, "nopreempt: stays BACKUP until the master fails"
	case !ds.Master.IsValid() || ds.MasterPriority == 0:
		return true, ""
	case ds.Priority > ds.MasterPriority || ds.Priority == ds.MasterPriority && ds.Src.Compare(ds.Master) > 0:
		return true, ""
	}
	return false, fmt.Sprintf("stays BACKUP: the master %s advertises priority %d, ours is %d", ds.Master, ds.MasterPriority, ds.Priority)
}

// peerEvidence says why a peer is believed ready to take in's VIPs over:
// the fast-failover probe reports its instance BACKUP, an agent hears
// another director as BACKUP, or this instance has heard another router's
// adverts since it started. ok is false when nothing says so.
func (a *App) peerEvidence(in *instance, ds vrrp.Status) (string, bool) {
	if a.pw != nil {
		ws := a.pw.Status()
		if ws.Session == peerwatch.StateUp {
			for _, r := range ws.Peer.Instances {
				if int(r.VRID) == in.cfg.VirtualRouterID && int(r.Family) == in.cfg.Family() && r.Role == hbproto.RoleBackup {
					return fmt.Sprintf("fast-failover peer %s reports virtual router %d BACKUP", ws.Peer.Name, r.VRID), true
				}
			}
		}
	}
	for ip, ag := range a.agentsTab {
		if !a.agentFresh(ag) {
			continue
		}
		for _, d := range ag.report.Seen {
			if d.Director != a.node && d.Role == hbproto.RoleBackup && d.Age < a.agentDeadAfter() {
				return fmt.Sprintf("agent %s hears director %s as BACKUP", ip, d.Director), true
			}
		}
	}
	if ds.Received > 0 {
		return fmt.Sprintf("%d adverts from another router heard since start", ds.Received), true
	}
	return "", false
}

// agentDeadAfter is how old an agent's word may be.
func (a *App) agentDeadAfter() time.Duration {
	if d := a.cfg.Heartbeat.DeadAfter; d > 0 {
		return d
	}
	return config.DefaultHeartbeatDeadAfter * config.DefaultHeartbeatInterval
}

// failoverWaitFor waits (in the control socket's goroutine) until every
// instance got where it should, the timeout, or ctx's end, and returns
// what each did.
func (a *App) failoverWaitFor(ctx context.Context, w *failoverWait) control.FailoverResult {
	res := control.FailoverResult{Cancel: w.cancel, TimeoutMS: w.timeout.Milliseconds()}
	tick := a.opts.Clock.NewTicker(failoverPoll)
	defer tick.Stop()
	deadline := w.start.Add(w.timeout)
	for {
		now := a.now()
		pending := 0
		for _, it := range w.items {
			if !it.done {
				a.failoverCheck(w, it, it.drv.Status(), now)
			}
			if !it.done {
				pending++
			}
		}
		if pending == 0 || !now.Before(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-tick.C():
		case <-ctx.Done():
		}
	}
	for _, it := range w.items {
		ds := it.drv.Status()
		if !it.done {
			it.res.Error = a.failoverTimeout(w, it, ds, ctx.Err())
		}
		if it.res.State == "" {
			it.res.State = ds.State.String()
		}
		it.res.Yielding = ds.Yielding
		if it.res.Peer == "" && ds.Master.IsValid() && ds.Master != ds.Src {
			it.res.Peer, it.res.PeerPriority = ds.Master.String(), int(ds.MasterPriority)
		}
		if !w.cancel {
			if rec, ok := a.fo.lastOf(it.name); ok && !rec.at.Before(w.start) {
				it.res.ConnectionsHandedOver, it.res.HandOverMessages = rec.res.Conns, rec.res.Messages
				it.res.HandOverMS = rec.took.Milliseconds()
				switch {
				case rec.err != nil:
					it.res.HandOverError = rec.err.Error()
				case rec.skipped != "":
					it.res.Note = rec.skipped
				}
			}
		}
		res.Instances = append(res.Instances, it.res)
	}
	return res
}

// failoverCheck looks at one instance's driver: done, and how.
func (a *App) failoverCheck(w *failoverWait, it *failoverItem, ds vrrp.Status, now time.Time) {
	if w.cancel {
		if !it.preempt || ds.State == vrrp.StateMaster {
			it.done, it.res.State = true, ds.State.String()
			if ds.State == vrrp.StateMaster {
				it.res.MasterAfterMS = now.Sub(w.start).Milliseconds()
			}
		}
		return
	}
	switch ds.State {
	case vrrp.StateBackup:
		it.backup = true
		if it.res.ReleasedAt.IsZero() && ds.Yielding {
			it.res.ReleasedAt = ds.LastTransition
		}
		if ds.Master.IsValid() && ds.Master != ds.Src && ds.MasterPriority > 0 && !ds.MasterSince.IsZero() {
			it.done, it.res.State = true, ds.State.String()
			it.res.Peer, it.res.PeerPriority = ds.Master.String(), int(ds.MasterPriority)
			if !it.res.ReleasedAt.IsZero() {
				it.res.PeerMasterAfterMS = max(ds.MasterSince.Sub(it.res.ReleasedAt), 0).Milliseconds()
			}
		}
	case vrrp.StateMaster:
		if it.backup {
			it.done, it.res.State = true, ds.State.String()
			it.res.Error = fmt.Sprintf("nobody took over: this director is MASTER again (%s)", ds.Reason)
		}
	case vrrp.StateFault, vrrp.StateStop:
		it.done, it.res.State = true, ds.State.String()
		it.res.Error = fmt.Sprintf("the instance went to %s (%s)", ds.State, ds.Reason)
	}
}

// failoverTimeout says what an instance that did not get there looked
// like at the end.
func (a *App) failoverTimeout(w *failoverWait, it *failoverItem, ds vrrp.Status, ctxErr error) string {
	within := "within " + w.timeout.String()
	if ctxErr != nil {
		within = "before the client left (" + ctxErr.Error() + ")"
	}
	saw := "no advert from another router since the release"
	if ds.Master.IsValid() && ds.Master != ds.Src {
		saw = fmt.Sprintf("the last advert came from %s with priority %d", ds.Master, ds.MasterPriority)
	}
	if w.cancel {
		return fmt.Sprintf("not MASTER again %s: state %s, %s", within, ds.State, saw)
	}
	if ds.State == vrrp.StateMaster && !it.backup {
		return fmt.Sprintf("the instance did not release %s: still MASTER", within)
	}
	return fmt.Sprintf("the peer was not heard as master %s: state %s, %s", within, ds.State, saw)
}
