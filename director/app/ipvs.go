package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/pool"
	"github.com/tandemlb/tandem/director/vrrp"
)

// retryEvery bounds how often a service whose kernel state differs from
// the desired one (a failed operation, or someone else's edit) is
// reconciled again.
const retryEvery = 2 * time.Second

// openIPVS opens IPVS when the configuration needs it: services or a sync
// daemon. Without services it is not even opened (VRRP only, like
// keepalived -P), and a missing ip_vs is then only a warning for the sync
// daemon. With services a missing ip_vs is an error that says what to do.
func (a *App) openIPVS(cfg *config.Config) error {
	if a.ipvs != nil {
		return nil
	}
	if len(cfg.Services) == 0 && cfg.ConnSync == nil {
		a.log.Info("no virtual_server: running VRRP only (as keepalived -P); IPVS is not touched")
		return nil
	}
	k, err := a.openKernel()
	if err != nil {
		a.ipvsErr = err
		if len(cfg.Services) > 0 {
			return fmt.Errorf("%w\nthe configuration has %d virtual_server(s), which need IPVS; a VRRP-only configuration runs without it", err, len(cfg.Services))
		}
		a.warn("lvs_sync_daemon needs IPVS, which is not available: no connection sync", "err", err)
		return nil
	}
	a.ipvs, a.ipvsErr = k, nil
	a.rec = lvs.NewReconciler(k, lvs.Options{Logger: a.log, RemoveOnStop: true})
	a.applySysctls(cfg)
	return nil
}

// openKernel opens an IPVS handle (Options.OpenIPVS, else the kernel's in
// this network namespace).
func (a *App) openKernel() (IPVS, error) {
	if a.opts.OpenIPVS != nil {
		return a.opts.OpenIPVS(a.log)
	}
	return lvs.Open("", a.log)
}

// applySysctls sets expire_nodest_conn, expire_quiescent_template and
// conn_reuse_mode as configured (per network namespace).
func (a *App) applySysctls(cfg *config.Config) {
	s := lvs.Sysctls{Root: a.opts.SysctlRoot, Logger: a.log}
	set := lvs.SysctlSettings{
		ExpireNodestConn:        cfg.IPVS.ExpireNodestConn,
		ExpireQuiescentTemplate: cfg.IPVS.ExpireQuiescentTemplate,
		ConnReuseMode:           cfg.IPVS.ConnReuseMode,
		SloppyTCP:               cfg.IPVS.SloppyTCP,
		SloppySCTP:              cfg.IPVS.SloppySCTP,
	}
	if _, err := s.Apply(set); err != nil {
		a.warn("IPVS sysctls not set: drains and removals may drop or stall connections (see tandem-director doctor)", "err", err)
	}
}

// hostWarnings logs what the seed's recipe needed and this host lacks:
// scheduler modules, ip_forward, VRRP let in by the firewall; and a
// keepalived running beside us.
func (a *App) hostWarnings(cfg *config.Config) {
	if !a.hostChecks() {
		return
	}
	if a.ipvs != nil {
		seen := map[string]bool{}
		for i := range cfg.Services {
			sched := cfg.Services[i].Scheduler
			if seen[sched] {
				continue
			}
			seen[sched] = true
			if err := a.opts.Host.CheckScheduler(sched); err != nil {
				a.warn(fmt.Sprintf("%v: adding its services will fail (load it with `modprobe ip_vs_%s`)", err, sched))
			}
		}
		s := lvs.Sysctls{Root: a.opts.SysctlRoot, Logger: a.log}
		desired := lvs.Desired{}
		for i := range cfg.Services {
			desired.Add(configuredSpec(&cfg.Services[i]))
		}
		if s.CheckForwarding(desired) {
			a.warnings = append(a.warnings, "net.ipv4.ip_forward is 0 but NAT destinations need it")
		} else if on, err := s.IPForward(); err == nil && !on && len(cfg.Services) > 0 {
			a.log.Info("net.ipv4.ip_forward is 0: not needed for direct routing (the seed set it; NAT would need it)")
		}
	}
	a.firewallWarnings(cfg)
	if pids := a.opts.Host.ProcessesNamed("keepalived"); len(pids) > 0 {
		a.warn(fmt.Sprintf("keepalived is running (pid %v): never let it manage the same virtual_router_id or virtual servers", pids))
	}
}

// configuredSpec is service s with every real server at its configured
// weight.
func configuredSpec(s *config.VirtualService) lvs.ServiceSpec {
	spec := lvs.ServiceSpec{Service: ServiceOf(s), Destinations: make([]lvs.Destination, 0, len(s.RealServers))}
	for _, rs := range s.RealServers {
		spec.Destinations = append(spec.Destinations, lvs.Destination{Addr: rs.Addr.Addr(), Port: rs.Addr.Port(), Weight: rs.Weight, Forward: forwardOf(s.Forwarding)})
	}
	return spec
}

// ProcessesNamed lists the PIDs whose comm is name, in this network
// namespace (a keepalived in another namespace manages other interfaces):
// osHost's, and the CLI's doctor.
func ProcessesNamed(name string) []string {
	var out []string
	self, _ := os.Readlink("/proc/self/ns/net")
	matches, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil || strings.TrimSpace(string(b)) != name {
			continue
		}
		dir := filepath.Dir(m)
		if ns, err := os.Readlink(filepath.Join(dir, "ns", "net")); err == nil && self != "" && ns != self {
			continue
		}
		out = append(out, filepath.Base(dir))
	}
	return out
}

// desired is the desired IPVS state of every service.
func (a *App) desired() lvs.Desired {
	d := lvs.Desired{}
	for _, s := range a.services {
		d.Add(a.kernelSpec(s))
	}
	return d
}

// firstReconcile adopts and reconciles the whole table once: entries that
// match the configuration are left alone (a restart drops no connection),
// the rest is added, updated or removed (only services this director
// owns).
//
// It runs once, at start, before anything is served: the metrics of the
// configuration loaded at start are set here (a reload sets them again).
func (a *App) firstReconcile() error {
	defer a.configMetrics(true) // after the writes: they need not wait for its hash
	if a.rec == nil {
		return nil
	}
	res, err := a.rec.Apply(context.Background(), a.desired())
	a.countOps(res)
	if err != nil && len(res.Applied)+len(res.Failed) == 0 {
		return fmt.Errorf("ipvs: read the table: %w", err)
	}
	if err != nil {
		a.log.Warn("ipvs: first reconciliation incomplete; retrying in the background", "err", err)
	}
	a.log.Info("ipvs: table adopted", "services_found", res.Found, "destinations_found", res.FoundDests, "operations", len(res.Applied), "failed", len(res.Failed))
	a.fullPollAt = a.now() // the table was just read whole
	for _, s := range a.services {
		s.dirty = false
		s.lastApply = a.now()
		s.lastErr = ""
		for _, f := range res.Failed {
			if f.Op.Service.Key() == ServiceOf(&s.cfg).Key() {
				s.lastErr = f.Error()
				a.applyFailed(s.lastApply)
			}
		}
	}
	a.saveState()
	return nil
}

func (a *App) countOps(res lvs.Result) {
	for _, op := range res.Applied {
		a.met.IPVSOps.WithLabelValues(op.Kind.String(), "ok").Inc()
	}
	for _, f := range res.Failed {
		a.met.IPVSOps.WithLabelValues(f.Op.Kind.String(), "error").Inc()
	}
}

// applyService reconciles one service: one read of that service, the
// difference written.
func (a *App) applyService(s *service) {
	s.dirty = false
	a.markView()
	if a.rec == nil {
		return
	}
	s.lastApply = a.now()
	res, err := a.rec.ApplyService(context.Background(), a.kernelSpec(s))
	a.countOps(res)
	if err != nil {
		s.lastErr = err.Error()
		a.applyFailed(s.lastApply)
		return
	}
	s.lastErr = ""
}

// maxApplyBackoff bounds the wait between two retries of the services
// whose write failed.
const maxApplyBackoff = time.Minute

// applyFailed arms the retry of the services whose write failed, if it is
// not armed: retryEvery after the first failure, twice as long after each
// retry that failed again, at most maxApplyBackoff.
func (a *App) applyFailed(now time.Time) {
	if !a.applyRetry.at.IsZero() {
		return
	}
	if a.applyRetry.backoff == 0 {
		a.applyRetry.backoff = retryEvery
	}
	a.applyRetry.at = now.Add(a.applyRetry.backoff)
}

// retryApplies marks the services whose last write failed for the next
// flush, and lengthens the next wait.
func (a *App) retryApplies() {
	a.applyRetry.at = time.Time{}
	a.applyRetry.round = true
	a.applyRetry.backoff = min(2*a.applyRetry.backoff, maxApplyBackoff)
	for _, s := range a.services {
		if s.lastErr != "" {
			s.dirty = true
		}
	}
}

// endRetryRound, after the flush of a retry, starts the backoff again
// once every write succeeded.
func (a *App) endRetryRound() {
	if !a.applyRetry.round {
		return
	}
	a.applyRetry.round = false
	for _, s := range a.services {
		if s.lastErr != "" {
			return
		}
	}
	a.applyRetry.backoff = 0
}

// applyRetry is the retry of the services whose write failed.
type applyRetry struct {
	at      time.Time     // when; zero: nothing failed
	backoff time.Duration // the wait after the next failure
	round   bool          // this flush retries
}

// removeService deletes a service that left the configuration.
func (a *App) removeService(s *service) {
	a.markView()
	if a.rec == nil {
		return
	}
	res, err := a.rec.RemoveService(context.Background(), ServiceOf(&s.cfg))
	a.countOps(res)
	if err != nil {
		a.log.Error("ipvs: removing a service that left the configuration", "service", s.key, "err", err)
	}
}

// drainReadAt is when the services with a server draining are next read
// (pollDraining), zero when none drains: their counters end the drain.
func (a *App) drainReadAt() time.Time {
	if a.ipvs == nil || !a.anyDraining() {
		return time.Time{}
	}
	return a.drainedAt.Add(a.opts.PollInterval)
}

// pollDraining reads the counters of every service with a server
// draining, one service each, in the main loop (one small read per
// draining service).
func (a *App) pollDraining(now time.Time) {
	a.drainedAt = now
	for _, s := range a.services {
		if s.draining() {
			a.readDraining(s, now)
		}
	}
}

// readDraining reads one service and takes its counters (pollService); it
// reports whether the read succeeded (absent counts as read).
func (a *App) readDraining(s *service, now time.Time) bool {
	if a.ipvs == nil {
		return false
	}
	st, err := a.ipvs.Service(ServiceOf(&s.cfg))
	switch {
	case err == nil:
		a.pollService(s, &st, now)
	case errors.Is(err, lvs.ErrNotFound):
		a.pollService(s, nil, now)
	default:
		a.log.Debug("ipvs: reading a draining service failed", "service", s.key, "err", err)
		return false
	}
	return true
}

// anyDraining reports whether a server of any service is draining.
func (a *App) anyDraining() bool {
	for _, s := range a.services {
		if s.draining() {
			return true
		}
	}
	return false
}

// resyncAt is when the whole table is next read (fullPoll), zero while a
// read runs or without services: Options.ResyncInterval after the last
// one, stretched to 1,000 times what that read took (at most 0.1 % of the
// time goes to it: 0.89 s at 1,000 × 10 under emulation, every 15 min).
func (a *App) resyncAt() time.Time {
	if a.ipvs == nil || len(a.services) == 0 || a.fullPolling {
		return time.Time{}
	}
	return a.fullPollAt.Add(max(a.opts.ResyncInterval, resyncStretch*a.fullPollTook))
}

// resyncStretch: a safety read comes at least this many times its own
// duration after the previous one.
const resyncStretch = 1000

// fullPollDone is the whole table, read in the background.
type fullPollDone struct {
	states []lvs.ServiceState
	err    error
	start  time.Time // on the main loop's clock
	took   time.Duration
	asked  bool // read for a status request, not by fullPoll
}

func (fullPollDone) isEvent() {}

// fullPoll reads the whole table in the background, on a handle of its
// own so that the main loop's writes (a reload, a drain) never wait for
// it: at 1,000 services × 10 one read takes 0.7 s under emulation. The
// result comes back as an event.
func (a *App) fullPoll() {
	h := a.pollIPVS
	if h == nil {
		k, err := a.openKernel()
		if err != nil {
			a.log.Debug("ipvs: no second handle for the background poll; using the main one", "err", err)
			k = a.ipvs
		}
		a.pollIPVS, h = k, k
	}
	a.fullPolling = true
	start := a.now()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		t0 := time.Now()
		states, err := h.Services()
		select {
		case a.events <- fullPollDone{states: states, err: err, start: start, took: time.Since(t0)}:
		case <-a.runCtx.Done():
		}
	}()
}

// postRead hands a whole-table read made for a status request to the
// main loop, if its queue has room (from the control socket's goroutine).
func (a *App) postRead(r fullPollDone) {
	select {
	case a.events <- r:
	default:
	}
}

// onFullPoll takes the result of a background read.
func (a *App) onFullPoll(r fullPollDone) {
	if r.asked {
		a.takeTable(r.states, r.start)
		return
	}
	a.fullPolling = false
	a.fullPollAt, a.fullPollTook = a.now(), r.took
	if r.err != nil {
		a.log.Warn("ipvs: reading the whole table failed; next try at the next safety read", "err", r.err)
		return
	}
	a.takeTable(r.states, r.start)
}

// takeTable takes a whole-table read begun at start: every service's
// counters and drift. A service written since start (a reload, a drain)
// is skipped: the read may predate the write, and the write read it. So is
// one with a server draining: its own reads (pollDraining) time the end of
// the drain.
func (a *App) takeTable(states []lvs.ServiceState, start time.Time) {
	byKey := statesByKey(states)
	now := a.now()
	for _, s := range a.services {
		if s.dirty || s.lastApply.After(start) || s.draining() {
			continue
		}
		a.pollService(s, byKey[ServiceOf(&s.cfg).Key()], now)
	}
}

// draining reports whether a server of s is draining.
func (s *service) draining() bool { return s.pool.Draining() }

// pollService takes the kernel's state of one service (nil: absent).
//
// A service without a drain that IPVS shows as the last read did (same
// destinations, weights and connections) is left alone: that read was
// checked against the desired state, and every write since read the
// service itself (a failed one is retried: applyRetry). At 1,000 × 10
// this keeps a whole-table read's work in the main loop small.
// connsOf indexes kst's destinations by key (none for a nil kst).
func connsOf(kst *lvs.ServiceState) map[string]lvs.DestinationState {
	conns := map[string]lvs.DestinationState{}
	if kst != nil {
		for _, d := range kst.Destinations {
			conns[d.Key()] = d
		}
	}
	return conns
}

// readConnsNow reads s's counters from the kernel at once (a server of s
// began draining) for what the view shows: the agents' replies, which
// `maintenance on --wait` trusts; the loop's counters of a service that
// was not draining may be minutes old. The pool's own drain reads keep
// their delay (flush): a connection in its handshake is not active yet.
func (a *App) readConnsNow(s *service) {
	if a.ipvs == nil {
		return
	}
	st, err := a.ipvs.Service(ServiceOf(&s.cfg))
	if err != nil {
		a.log.Debug("ipvs: reading the counters of a service that began draining", "service", s.key, "err", err)
		return
	}
	s.conns = connsOf(&st)
	a.markView()
	a.serviceGauges(s)
}

func (a *App) pollService(s *service, kst *lvs.ServiceState, now time.Time) {
	if kst != nil && s.inKernel && s.lastErr == "" && !s.dirty && !s.draining() && sameConns(s.conns, kst.Destinations) {
		return
	}
	s.inKernel = kst != nil
	conns := connsOf(kst)
	anyChange := false
	st := s.pool.Status()
	for _, ss := range st.Servers {
		c, ok := conns[ss.Addr.String()]
		prev, had := s.conns[ss.Addr.String()]
		changed := ok != had || c.ActiveConns != prev.ActiveConns || c.InactiveConns != prev.InactiveConns
		anyChange = anyChange || changed
		if changed || (ok && ss.State == pool.Draining) {
			a.perform(s, s.pool.Step(now, pool.Conns{Server: ss.Addr, Active: c.ActiveConns, Inactive: c.InactiveConns}), false)
		}
	}
	s.conns = conns
	if anyChange {
		a.markView()
		a.serviceGauges(s)
	}
	if s.dirty || matches(SpecOf(&s.cfg, s.pool.Status()), kst) {
		return
	}
	if now.Sub(s.lastApply) >= retryEvery {
		a.log.Warn("ipvs: the table differs from the desired state (a failed operation, or changed by someone else): reconciling",
			"service", s.key)
		s.dirty = true
		return
	}
	// Just written: the write may not show yet, or someone edits against
	// us. Retried with the failed writes.
	s.lastErr = "the IPVS table differs from the desired state"
	a.applyFailed(now)
}

// sameConns reports whether the kernel's destinations are those of the
// last read (conns), at the same weights and connection counts.
func sameConns(conns map[string]lvs.DestinationState, dests []lvs.DestinationState) bool {
	if len(conns) != len(dests) {
		return false
	}
	for _, c := range conns {
		i := slices.IndexFunc(dests, func(d lvs.DestinationState) bool {
			return d.Port == c.Port && d.Addr.Unmap() == c.Addr.Unmap()
		})
		if i < 0 {
			return false
		}
		d := &dests[i]
		if d.Weight != c.Weight || d.ActiveConns != c.ActiveConns || d.InactiveConns != c.InactiveConns {
			return false
		}
	}
	return true
}

// matches reports whether the kernel's service has exactly the desired
// destinations at the desired weights.
func matches(spec lvs.ServiceSpec, kst *lvs.ServiceState) bool {
	if kst == nil {
		return false
	}
	if len(kst.Destinations) != len(spec.Destinations) {
		return false
	}
	for _, d := range spec.Destinations {
		i := slices.IndexFunc(kst.Destinations, func(k lvs.DestinationState) bool { return k.Key() == d.Key() })
		if i < 0 || kst.Destinations[i].Weight != d.Weight {
			return false
		}
	}
	return true
}

// syncState tracks the connection-sync daemons this director runs.
type syncState struct {
	running map[lvs.DaemonState]syncParams
	read    bool // the kernel's daemons were read once
	lastTry time.Time
	lastErr string
	// wakeAt is when syncDaemons must run again without an event: a retry
	// after a failure, the end of a new master's hand-over grace; zero:
	// never.
	wakeAt time.Time
}

// wantDaemons is syncRoles of the configuration and the instances'
// states.
func (a *App) wantDaemons() map[lvs.DaemonState]syncParams {
	if a.cfg.ConnSync == nil {
		return nil
	}
	states := make(map[string]vrrp.State, len(a.instances))
	newMaster := false
	for _, in := range a.instances {
		states[in.cfg.Name] = in.state
		if in.cfg.Name == a.cfg.ConnSync.Instance && in.state == vrrp.StateMaster {
			newMaster = a.now().Sub(in.since) < a.opts.SyncHandOverGrace
			if newMaster {
				a.syncd.wake(in.since.Add(a.opts.SyncHandOverGrace))
			}
		}
	}
	return syncRoles(a.cfg.ConnSync, states, newMaster)
}

// syncHandOverGrace is how long a new MASTER keeps its backup sync daemon
// by default (Options.SyncHandOverGrace):
// the old master sends its table as it releases, before its priority-0
// advert, so the table arrives within milliseconds; the main loop's alarm
// stops the daemon when this ends (syncState.wakeAt).
const syncHandOverGrace = 3 * time.Second

// syncDaemons makes the running sync daemons what wantDaemons says:
// the other role's daemon is stopped first, then the wanted one started.
// Failures are retried every syncRetry (the main loop's alarm, wakeAt).
func (a *App) syncDaemons() {
	a.syncd.wakeAt = time.Time{}
	if a.ipvs == nil {
		return
	}
	want := a.wantDaemons()
	if a.syncd.running == nil {
		a.syncd.running = map[lvs.DaemonState]syncParams{}
	}
	if !a.syncd.read {
		if want == nil {
			return // never touch daemons someone else runs
		}
		a.syncd.read = true
		if ds, err := a.ipvs.Daemons(); err == nil {
			for _, d := range ds {
				a.syncd.running[d.State] = syncParams{Interface: d.Interface, SyncID: uint8(d.SyncID)}
			}
		}
	}
	same := len(want) == len(a.syncd.running)
	for st, p := range want {
		if a.syncd.running[st] != p {
			same = false
		}
	}
	if same {
		return
	}
	if a.syncd.lastErr != "" && a.now().Sub(a.syncd.lastTry) < syncRetry {
		a.syncd.wake(a.syncd.lastTry.Add(syncRetry))
		return
	}
	a.syncd.lastTry, a.syncd.lastErr = a.now(), ""
	defer func() {
		if a.syncd.lastErr != "" {
			a.syncd.wake(a.syncd.lastTry.Add(syncRetry))
		}
	}()
	for st, p := range a.syncd.running {
		if w, ok := want[st]; ok && w == p {
			continue
		}
		if err := a.ipvs.StopDaemon(st); err != nil {
			a.syncd.lastErr = err.Error()
			a.log.Error("ipvs: stopping the sync daemon", "role", st.String(), "err", err)
			continue
		}
		delete(a.syncd.running, st)
		a.met.SyncDaemon.WithLabelValues(st.String()).Set(0)
		a.log.Info("ipvs: sync daemon stopped", "role", st.String())
	}
	for _, st := range []lvs.DaemonState{lvs.DaemonMaster, lvs.DaemonBackup} {
		p, ok := want[st]
		if !ok || a.syncd.running[st] == p {
			continue
		}
		if err := a.ipvs.StartDaemon(st, p.Interface, p.SyncID); err != nil {
			err = a.explainSyncErr(a.cfg.ConnSync, p.Interface, err)
			a.syncd.lastErr = err.Error()
			a.log.Error("ipvs: starting the sync daemon", "role", st.String(), "interface", p.Interface, "err", err)
			continue
		}
		a.syncd.running[st] = p
		a.met.SyncDaemon.WithLabelValues(st.String()).Set(1)
		a.log.Info("ipvs: sync daemon started", "role", st.String(), "interface", p.Interface, "syncid", int(p.SyncID))
	}
}

// syncRetry is the wait before a sync daemon that failed to start or stop
// is tried again.
const syncRetry = 5 * time.Second

// wake moves wakeAt to t if t comes first.
func (s *syncState) wake(t time.Time) {
	if s.wakeAt.IsZero() || t.Before(s.wakeAt) {
		s.wakeAt = t
	}
}

// stopSyncDaemons stops the daemons this director runs (on stop, as
// keepalived does).
//
// The backup daemon goes first, the master's last: it syncs until the end.
func (a *App) stopSyncDaemons() {
	if a.ipvs == nil {
		return
	}
	for _, st := range []lvs.DaemonState{lvs.DaemonBackup, lvs.DaemonMaster} {
		if _, ok := a.syncd.running[st]; !ok {
			continue
		}
		if err := a.ipvs.StopDaemon(st); err != nil {
			a.log.Warn("ipvs: stopping the sync daemon", "role", st.String(), "err", err)
		}
		delete(a.syncd.running, st)
	}
}

func (a *App) syncDaemonLines() []string {
	var out []string
	for _, st := range []lvs.DaemonState{lvs.DaemonMaster, lvs.DaemonBackup} {
		if p, ok := a.syncd.running[st]; ok {
			out = append(out, fmt.Sprintf("%s on %s syncid %d", st, p.Interface, p.SyncID))
		}
	}
	if a.syncd.lastErr != "" {
		out = append(out, "error: "+a.syncd.lastErr)
	}
	return out
}
