package app

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tandemlb/tandem/director/checks"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/peerwatch"
	"github.com/tandemlb/tandem/director/pool"
	"github.com/tandemlb/tandem/director/reload"
	"github.com/tandemlb/tandem/shared/ctlsock"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/version"
)

// reloadPlan reads and validates the file as a reload would (readConfig,
// with a loader of its own: the daemon's keeps its last read) and returns
// the plan of applying it.
func (a *App) reloadPlan() (reload.Plan, error) {
	cfg, ch, _, err := a.readConfig(&config.Loader{Options: a.opts.Loader.Options})
	if err != nil {
		return reload.Plan{}, fmt.Errorf("invalid configuration, a reload would keep the running one:\n%w", err)
	}
	key := a.hbKey
	if cfg.Heartbeat.Enabled {
		k, miss, err := a.heartbeatKey(cfg)
		if err != nil {
			return reload.Plan{}, fmt.Errorf("a reload would keep the running configuration: %w", err)
		}
		if !miss {
			key = k
		}
	}
	return a.planOf(a.cfg, cfg, ch, !bytes.Equal(key, a.hbKey), a.peerwatchChanged(cfg, key)), nil
}

// command is a control-socket request handed to the main loop.
type command struct {
	op       string
	args     control.DrainArgs
	status   control.StatusArgs
	failover control.FailoverArgs
	// drainSelf: drain --self, undrain --self.
	drainSelf control.DrainSelfArgs
	reply     chan cmdResult
}

// statusWithStats is the main loop's answer to a status request that asks
// for the traffic counters: the status, and what the socket's goroutine
// needs to read them from IPVS itself, so that the main loop never waits
// for a whole-table read.
type statusWithStats struct {
	st control.Status
	// h is the handle to read (the background poll's when there is one,
	// so that the main loop's writes do not queue behind the read); nil
	// without IPVS.
	h IPVS
	// keys are the IPVS keys of st.Services, in order.
	keys []lvs.ServiceKey
	// stats: the traffic counters were asked for (the connections are
	// read in any case).
	stats bool
}

type cmdResult struct {
	data any
	err  error
}

// handle serves the control socket (from the socket's goroutines): every
// operation runs in the main loop, so it sees and changes a consistent
// state.
func (a *App) handle(ctx context.Context, req ctlsock.Request) (any, error) {
	c := command{op: req.Op}
	switch req.Op {
	case control.OpStatus:
		if err := req.DecodeArgs(&c.status); err != nil {
			return nil, err
		}
	case control.OpReload, control.OpReloadPlan:
	case control.OpDrain, control.OpUndrain:
		if err := req.DecodeArgs(&c.args); err != nil {
			return nil, err
		}
		if len(c.args.Reason) > control.MaxReason {
			return nil, fmt.Errorf("reason longer than %d bytes", control.MaxReason)
		}
	case control.OpDrainSelf:
		if err := req.DecodeArgs(&c.drainSelf); err != nil {
			return nil, err
		}
	case control.OpFailover:
		if err := req.DecodeArgs(&c.failover); err != nil {
			return nil, err
		}
		if err := checkFailoverArgs(c.failover); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown operation %q", req.Op)
	}
	c.reply = make(chan cmdResult, 1)
	select {
	case a.cmds <- c:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-c.reply:
		if sw, ok := r.data.(statusWithStats); ok && r.err == nil {
			return readStats(sw, a.now, a.postRead)
		}
		if fw, ok := r.data.(*failoverWait); ok && r.err == nil {
			return a.failoverWaitFor(ctx, fw), nil
		}
		return r.data, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// checkFailoverArgs bounds what the socket accepts for failover.
func checkFailoverArgs(f control.FailoverArgs) error {
	if len(f.Instance) > control.MaxInstanceName {
		return fmt.Errorf("instance name longer than %d bytes", control.MaxInstanceName)
	}
	if f.TimeoutMS < 0 || time.Duration(f.TimeoutMS)*time.Millisecond > control.MaxFailoverTimeout {
		return fmt.Errorf("timeout %dms: want 0 (default %s) up to %s", f.TimeoutMS, control.DefaultFailoverTimeout, control.MaxFailoverTimeout)
	}
	return nil
}

// readStats reads the IPVS table once (from the control socket's
// goroutine; the handle serialises its calls) and puts its connections
// and, if asked, its traffic counters into the status. The read goes to
// the main loop too (post), as a safety read would.
func readStats(sw statusWithStats, now func() time.Time, post func(fullPollDone)) (control.Status, error) {
	st := sw.st
	if sw.h == nil {
		return st, nil
	}
	start := now()
	states, err := lvs.ReadTraffic(sw.h) // the 64-bit counters
	if err != nil {
		return control.Status{}, fmt.Errorf("reading the IPVS counters: %w", err)
	}
	post(fullPollDone{states: states, start: start, took: now().Sub(start), asked: true})
	fillConns(&st, sw.keys, states)
	if sw.stats {
		st.StatsAt = now()
		fillStats(&st, sw.keys, states)
	}
	return st, nil
}

// statesByKey indexes states by their service's key.
func statesByKey(states []lvs.ServiceState) map[lvs.ServiceKey]*lvs.ServiceState {
	byKey := make(map[lvs.ServiceKey]*lvs.ServiceState, len(states))
	for i := range states {
		byKey[states[i].Service.Key()] = &states[i]
	}
	return byKey
}

// fillConns puts what IPVS says of each real server of st's services
// (keys[i] is the IPVS key of st.Services[i]) into it: its weight in the
// kernel (-1: absent) and connections; a service IPVS lacks is not in the
// kernel.
func fillConns(st *control.Status, keys []lvs.ServiceKey, states []lvs.ServiceState) {
	byKey := statesByKey(states)
	for i := range st.Services {
		if i >= len(keys) {
			break
		}
		svc := &st.Services[i]
		kst := byKey[keys[i]]
		svc.InKernel = kst != nil
		dests := map[string]*lvs.DestinationState{}
		if kst != nil {
			for j := range kst.Destinations {
				dests[kst.Destinations[j].Key()] = &kst.Destinations[j]
			}
		}
		for j := range svc.RealServers {
			rs := &svc.RealServers[j]
			rs.KernelWeight, rs.Active, rs.Inactive = -1, 0, 0
			if d := dests[destKey(rs.Addr)]; d != nil {
				rs.KernelWeight, rs.Active, rs.Inactive = d.Weight, d.ActiveConns, d.InactiveConns
			}
		}
	}
}

// fillStats puts the counters of states into st's services (keys[i] is
// the IPVS key of st.Services[i]), real servers and sorry servers. What
// IPVS lacks keeps no counters.
func fillStats(st *control.Status, keys []lvs.ServiceKey, states []lvs.ServiceState) {
	byKey := statesByKey(states)
	for i := range st.Services {
		if i >= len(keys) {
			break
		}
		kst := byKey[keys[i]]
		if kst == nil {
			continue
		}
		svc := &st.Services[i]
		svc.Stats = controlStats(kst.Stats)
		dests := make(map[string]*lvs.DestinationState, len(kst.Destinations))
		for j := range kst.Destinations {
			dests[kst.Destinations[j].Key()] = &kst.Destinations[j]
		}
		for j := range svc.RealServers {
			if d := dests[destKey(svc.RealServers[j].Addr)]; d != nil {
				svc.RealServers[j].Stats = controlStats(d.Stats)
			}
		}
		if svc.Sorry != "" && svc.SorryIn {
			if d := dests[destKey(svc.Sorry)]; d != nil {
				svc.SorryStats = controlStats(d.Stats)
			}
		}
	}
}

// destKey is the lvs.Destination.Key of the address addr:port s (IPv4
// unmapped).
func destKey(s string) string {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return s
	}
	return lvs.Destination{Addr: ap.Addr(), Port: ap.Port()}.Key()
}

func controlStats(s lvs.Stats) *control.Stats {
	c := control.Stats(s)
	return &c
}

// onCommand runs a control operation in the main loop.
func (a *App) onCommand(c command) cmdResult {
	a.onVRRP() // states the drivers entered before this command count
	switch c.op {
	case control.OpStatus:
		st := a.status()
		if c.status.Peers {
			st.Peers = a.peersStatus(st.VRRP)
		}
		if !c.status.Stats && (a.ipvs == nil || len(a.services) == 0) {
			return cmdResult{data: st}
		}
		// The connection counters are read when asked, off the main loop
		// (it reads only those of the servers draining).
		sw := statusWithStats{st: st, stats: c.status.Stats}
		if a.ipvs != nil {
			sw.h = a.ipvs
			if a.pollIPVS != nil {
				sw.h = a.pollIPVS
			}
			for _, s := range a.services {
				sw.keys = append(sw.keys, ServiceOf(&s.cfg).Key())
			}
		}
		return cmdResult{data: sw}
	case control.OpReload:
		ch, err := a.reload()
		if err != nil {
			return cmdResult{err: err}
		}
		return cmdResult{data: control.ReloadResult{Changes: ch}}
	case control.OpReloadPlan:
		p, err := a.reloadPlan()
		return cmdResult{data: p, err: err}
	case control.OpDrain, control.OpUndrain:
		res, err := a.drain(c.args, c.op == control.OpDrain)
		return cmdResult{data: res, err: err}
	case control.OpDrainSelf:
		res, err := a.drainSelf(c.drainSelf.On)
		return cmdResult{data: res, err: err}
	case control.OpFailover:
		w, err := a.failoverStart(c.failover)
		if err != nil {
			return cmdResult{err: err}
		}
		return cmdResult{data: w}
	}
	return cmdResult{err: fmt.Errorf("unknown operation %q", c.op)}
}

// parseTarget reads "RIP" or "RIP:PORT".
func parseTarget(s string) (ip netip.Addr, ap netip.AddrPort, err error) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.Addr{}, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	if ip, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return ip.Unmap(), netip.AddrPort{}, nil
	}
	return netip.Addr{}, netip.AddrPort{}, fmt.Errorf("%q: want a real server's address, RIP or RIP:PORT ([RIP]:PORT for IPv6)", s)
}

// drain starts (on) or cancels an operator drain of every real server
// matching args.Target, in every service. The drain is persisted: a
// restart keeps it.
func (a *App) drain(args control.DrainArgs, on bool) (control.DrainResult, error) {
	ip, ap, err := parseTarget(args.Target)
	if err != nil {
		return control.DrainResult{}, err
	}
	// Which servers, first; nothing changes before the drain is persisted.
	var touched []*service
	var servers []netip.AddrPort
	for _, s := range a.services {
		hit := false
		for _, rs := range s.cfg.RealServers {
			if (ap.IsValid() && rs.Addr != ap) || (ip.IsValid() && rs.Addr.Addr().Unmap() != ip) {
				continue
			}
			hit = true
			if !slices.Contains(servers, rs.Addr) {
				servers = append(servers, rs.Addr)
			}
		}
		if hit {
			touched = append(touched, s)
		}
	}
	if len(touched) == 0 {
		return control.DrainResult{}, fmt.Errorf("no real server %s in the configuration", args.Target)
	}
	verb := "drain"
	if !on {
		verb = "undrain"
	}
	next := maps.Clone(a.drains)
	for _, rs := range servers {
		if on {
			next[rs] = args.Reason
		} else {
			delete(next, rs)
		}
	}
	// A drain is persisted so that a restart keeps it: one that cannot be
	// written would silently not survive, so it is refused.
	if err := a.writeState(next); err != nil {
		a.log.Error("operator "+verb+" refused: it cannot be persisted", "rs", args.Target, "path", filepath.Join(a.state, StateFile), "err", err)
		return control.DrainResult{}, fmt.Errorf("%s %s refused, nothing changed: %w (the drain is kept in the state file so that it survives a restart; free space or fix the state directory, then retry)", verb, args.Target, err)
	}
	a.drains = next
	now := a.now()
	for _, s := range touched {
		for _, rs := range s.cfg.RealServers {
			if !slices.Contains(servers, rs.Addr) {
				continue
			}
			var ev pool.Event = pool.Undrain{Server: rs.Addr}
			if on {
				ev = pool.Drain{Server: rs.Addr, Reason: args.Reason}
			}
			a.perform(s, s.pool.Step(now, ev), false)
		}
	}
	a.log.Info("operator "+verb, "rs", args.Target, "reason", args.Reason, "servers", len(servers), "services", len(touched))
	a.flush()
	var res control.DrainResult
	for _, s := range touched {
		for _, ss := range s.pool.Status().Servers {
			if !slices.Contains(servers, ss.Addr) {
				continue
			}
			w := 0
			if ss.Present {
				w = ss.Weight
			}
			res.Servers = append(res.Servers, control.DrainedServer{Service: s.key, RS: ss.Addr.String(), State: ss.State.String(), Weight: w, Active: s.conns[ss.Addr.String()].ActiveConns})
		}
	}
	return res, nil
}

// status builds the answer to the status op.
func (a *App) status() control.Status {
	cfg := a.cfg
	st := control.Status{
		Version: version.Version, PID: os.Getpid(), Started: a.start, Config: a.configPath(), Format: string(cfg.Format),
		Node: a.node, Role: a.role().String(), Reloads: a.reloads, LastReload: a.lastReload, LastReloadError: a.lastReloadErr,
		Warnings: slices.Clone(a.warnings), BGP: a.bgpStatus(),
	}
	for _, in := range a.instances {
		vs := control.VRRPStatus{
			Instance: in.cfg.Name, Interface: in.cfg.Interface, VRID: in.cfg.VirtualRouterID, Version: in.cfg.Version,
			State: in.state.String(), Priority: int(in.prio), BasePriority: in.cfg.Priority, Since: in.since,
		}
		if in.prio == 0 {
			vs.Priority = in.cfg.Priority
		}
		if g := a.groupOf(in.cfg.Name); g != nil {
			vs.SyncGroup = g.cfg.Name
		}
		for _, v := range in.cfg.VirtualIPs {
			vs.VIPs = append(vs.VIPs, v.Prefix.String())
		}
		if in.drv != nil {
			ds := in.drv.Status()
			if ds.Master.IsValid() {
				vs.Master, vs.MasterPriority = ds.Master.String(), int(ds.MasterPriority)
			}
			vs.Reason, vs.Received, vs.Sent = ds.Reason, ds.Received, ds.Sent
			if ds.Priority != 0 {
				vs.Priority = int(ds.Priority)
			}
			for _, src := range ds.FaultSources {
				if why := in.faultWhy[src]; why != "" {
					src += ": " + why
				}
				vs.FaultSources = append(vs.FaultSources, src)
			}
			if ds.GroupFault {
				vs.FaultSources = append(vs.FaultSources, "sync group "+vs.SyncGroup)
			}
			if len(ds.Dropped) > 0 {
				vs.Dropped = maps.Clone(ds.Dropped)
			}
			vs.Yielding = ds.Yielding
		}
		if in.err != nil {
			vs.Error = in.err.Error()
		}
		if in.drv == nil || in.cancel == nil {
			// Not running: what the trackers want.
			for _, src := range in.faults {
				vs.FaultSources = append(vs.FaultSources, src+": "+in.faultWhy[src])
			}
		}
		st.VRRP = append(st.VRRP, vs)
	}
	st.Trackers = a.trackerStatus()
	for _, g := range a.groups {
		st.SyncGroups = append(st.SyncGroups, control.SyncGroupStatus{Name: g.cfg.Name, State: g.state.String(), Since: g.since,
			Members: slices.Clone(g.cfg.Members), GlobalTracking: g.cfg.GlobalTracking})
	}
	st.ConfigWarnings, st.ConfigWarningsLine = len(cfg.Warnings), a.configWarningsLine()
	st.IPVS = control.IPVSStatus{Enabled: a.ipvs != nil, SyncDaemons: a.syncDaemonLines()}
	if a.ipvsErr != nil {
		st.IPVS.Error = a.ipvsErr.Error()
	}
	for _, s := range a.services {
		st.Services = append(st.Services, a.serviceStatus(s))
	}
	st.Heartbeat = control.HeartbeatStatus{Enabled: cfg.Heartbeat.Enabled, Insecure: a.hbInsecure, Disabled: a.hbDisabled}
	if a.hb != nil {
		hs := a.hb.Stats()
		st.Heartbeat.Listen = a.hb.Addr().String()
		st.Heartbeat.Accepted, st.Heartbeat.Replies, st.Heartbeat.ReplyErrors = hs.Accepted, hs.Replies, hs.ReplyErrors
		st.Heartbeat.Dropped = hs.Dropped
	}
	if a.pw != nil {
		ps := a.pw.Status()
		ff := &control.FastFailoverStatus{Session: ps.Session.String(), Sent: ps.Sent, Received: ps.Received,
			Takeovers: ps.Takeovers, Vetoes: ps.Vetoes, Witnesses: ps.Witnesses}
		if ps.Peer.Name != "" {
			ff.Peer, ff.PeerAddr = ps.Peer.Name, ps.Peer.Addr.String()
		}
		if len(ps.Dropped) > 0 {
			ff.Dropped = ps.Dropped
		}
		st.FastFailover = ff
	}
	ips := slices.SortedFunc(maps.Keys(a.agentsTab), netip.Addr.Compare)
	for _, ip := range ips {
		st.Agents = append(st.Agents, a.agentStatus(ip, a.agentsTab[ip]))
	}
	return st
}

func (a *App) agentStatus(ip netip.Addr, ag *agentInfo) control.AgentStatus {
	return control.AgentStatus{
		RealIP: ip.String(), Node: ag.report.Node, State: ag.report.State.String(), Reason: ag.report.Reason,
		Fresh: a.agentFresh(ag), LastSeen: ag.lastSeen, Peer: ag.peer.String(), Reports: ag.reports, Known: ag.known,
		ClusterKey: ag.legacy,
	}
}

func (a *App) serviceStatus(s *service) control.ServiceStatus {
	ps := s.pool.Status()
	ss := control.ServiceStatus{
		Key: s.key, Scheduler: s.cfg.Scheduler, Forwarding: string(s.cfg.Forwarding), DelayLoop: s.cfg.DelayLoop.String(),
		QuorumUp: ps.QuorumUp, LiveWeight: ps.LiveWeight, Quorum: s.cfg.Quorum, SorryIn: ps.SorryIn,
		InKernel: s.inKernel || a.ipvs == nil, LastError: s.lastErr,
		SchedulerFlags: config.SchedFlagNames(s.cfg.Scheduler, s.cfg.SchedFlags), Fingerprint: s.fingerprint,
	}
	if s.cfg.Persistence > 0 {
		ss.Persistence = s.cfg.Persistence.String()
	}
	if ps.Sorry.IsValid() {
		ss.Sorry = ps.Sorry.String()
	}
	for _, r := range ps.Servers {
		key := r.Addr.String()
		rst := control.RealServerStatus{
			Addr: key, State: r.State.String(), Since: r.Since, Reason: r.Reason,
			Weight: r.Weight, ConfiguredWeight: r.ConfiguredWeight, Present: r.Present, KernelWeight: -1,
			Drain: r.Drain, DrainReason: a.drains[r.Addr], DrainDeadline: r.DrainDeadline,
		}
		if !r.Present {
			rst.Weight = 0
		}
		if c, ok := s.conns[key]; ok {
			rst.KernelWeight, rst.Active, rst.Inactive = c.Weight, c.ActiveConns, c.InactiveConns
		}
		if rs := s.cfg.RealServer(key); rs != nil {
			results := s.results[r.Addr]
			for _, name := range checkerNames(rs) {
				rst.Checks = append(rst.Checks, checkStatus(name, results[name], r))
			}
		}
		if ag := a.agentsTab[r.Addr.Addr().Unmap()]; ag != nil {
			as := a.agentStatus(r.Addr.Addr().Unmap(), ag)
			rst.Agent = &as
		}
		ss.RealServers = append(ss.RealServers, rst)
	}
	return ss
}

// checkStatus describes one checker from its last attempt; before the
// first attempt its verdict is the pool's starting one.
func checkStatus(name string, res checks.Result, ss pool.ServerStatus) control.CheckStatus {
	if res.At.IsZero() {
		return control.CheckStatus{Name: name, Up: ss.State != pool.Down, Reason: "not run yet"}
	}
	cs := control.CheckStatus{Name: name, Up: res.Up, LastOK: res.Err == nil, Last: res.At, Failures: res.Failures}
	if res.Err != nil {
		cs.Reason = res.Reason
	}
	return cs
}

// peersStatus is status --peers: this director's instances (vrrp, their
// entries in the status, in the same order) beside the peer's as the
// fast-failover probe last reported them, the probe's session, and what
// each agent reports hearing from the directors.
func (a *App) peersStatus(vrrp []control.VRRPStatus) *control.PeersStatus {
	ps := &control.PeersStatus{Node: a.node, Role: a.role().String(),
		Instances: []control.PeerInstanceStatus{}, Agents: []control.AgentViewStatus{}}
	var peer *peerwatch.Peer
	if a.pw != nil {
		ws := a.pw.Status()
		pr := &control.PeerProbeStatus{Session: ws.Session.String(), Sent: ws.Sent, Received: ws.Received,
			LastDown: ws.LastDown, Instances: []control.PeerVRRPStatus{}}
		if !ws.LastDown.IsZero() {
			pr.LastDownReason = ws.LastDownDiag.String()
		}
		if ws.Pinned.IsValid() {
			pr.Pinned = ws.Pinned.String()
		}
		if ws.Peer.Name != "" {
			peer = &ws.Peer
			pr.Peer, pr.PeerAddr, pr.LastHeard = ws.Peer.Name, ws.Peer.Addr.String(), ws.Peer.LastHeard
			pr.TxIntervalMS, pr.DetectMult = ws.Peer.TxInterval.Milliseconds(), int(ws.Peer.DetectMult)
			pr.DetectTimeMS = ws.Peer.DetectTime().Milliseconds()
			for _, r := range ws.Peer.Instances {
				pr.Instances = append(pr.Instances, control.PeerVRRPStatus{VRID: int(r.VRID), Family: int(r.Family), Role: r.Role.String(), Priority: int(r.Priority)})
			}
		}
		ps.Probe = pr
	}
	for i, in := range a.instances {
		if i >= len(vrrp) {
			break
		}
		v := vrrp[i]
		pi := control.PeerInstanceStatus{Instance: v.Instance, VRID: v.VRID, Family: in.cfg.Family(), State: v.State,
			Priority: v.Priority, Master: v.Master, MasterPriority: v.MasterPriority, PeerRole: hbproto.RoleUnknown.String()}
		if peer != nil {
			for _, r := range peer.Instances {
				if int(r.VRID) == pi.VRID && int(r.Family) == pi.Family {
					pi.PeerRole, pi.PeerPriority, pi.PeerKnown = r.Role.String(), int(r.Priority), true
					break
				}
			}
		}
		ps.Instances = append(ps.Instances, pi)
	}
	for _, ip := range slices.SortedFunc(maps.Keys(a.agentsTab), netip.Addr.Compare) {
		ag := a.agentsTab[ip]
		av := control.AgentViewStatus{RealIP: ip.String(), Node: ag.report.Node, Fresh: a.agentFresh(ag), LastSeen: ag.lastSeen,
			Directors: []control.DirectorHeardStatus{}}
		for _, d := range ag.report.Seen {
			av.Directors = append(av.Directors, control.DirectorHeardStatus{Director: d.Director, Role: d.Role.String(),
				AgeMS: d.Age.Milliseconds(), Heard: ag.lastSeen.Add(-d.Age)})
		}
		ps.Agents = append(ps.Agents, av)
	}
	return ps
}
