package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/tandemlb/tandem/director/checks"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/metrics"
	"github.com/tandemlb/tandem/director/pool"
	"github.com/tandemlb/tandem/director/script"
)

// scriptTimeout bounds a notify_up/notify_down/quorum_up/quorum_down script.
const scriptTimeout = 30 * time.Second

// service is one virtual service at run time: its pool, its checkers, the
// last IPVS counters.
type service struct {
	cfg  config.VirtualService
	key  string
	pool *pool.Pool
	// checkers run per real server; results keeps each checker's last
	// attempt for status, by checker name.
	checkers map[netip.AddrPort][]*runningChecker
	results  map[netip.AddrPort]map[string]checks.Result
	// files are the director-wide track_file sources (sharedTrackFiles).
	files *trackFiles
	// conns are the destinations as the last poll read them, by
	// "addr:port".
	conns map[string]lvs.DestinationState
	// fingerprint is lvs.Fingerprint of the spec last written to the
	// kernel (kernelSpec), shown in status and metrics.
	fingerprint string
	inKernel    bool
	dirty       bool
	// quorumUp is the pool's quorum (its QuorumGained, QuorumLost).
	quorumUp bool
	// freshConns: a server began draining; flush reads the service's
	// counters before the view is rebuilt.
	freshConns bool
	lastApply  time.Time
	lastErr    string
}

// checkEvent is one checker attempt.
type checkEvent struct {
	svc string
	gen uint64
	res checks.Result
}

func (checkEvent) isEvent() {}

// addService builds the pool of cs (as at start: alpha or not), applies
// the operator drains and the fresh agent reports known for its servers,
// and marks it for reconciliation.
func (a *App) addService(cfg *config.Config, cs *config.VirtualService) error {
	now := a.now()
	p, acts, err := pool.New(PoolConfig(cfg, cs), now)
	if err != nil {
		return fmt.Errorf("%s: virtual_server %s: %w", cs.Pos, cs.Key(), err)
	}
	s := &service{
		cfg: *cs, key: cs.Key(), pool: p,
		checkers: map[netip.AddrPort][]*runningChecker{},
		results:  map[netip.AddrPort]map[string]checks.Result{},
		conns:    map[string]lvs.DestinationState{},
		files:    a.sharedTrackFiles(),
	}
	a.services = append(a.services, s)
	a.byKey[s.key] = s
	a.perform(s, acts, true)
	for _, rs := range cs.RealServers {
		if reason, ok := a.drains[rs.Addr]; ok {
			a.perform(s, p.Step(now, pool.Drain{Server: rs.Addr, Reason: reason}), true)
		}
		if ag := a.agentsTab[rs.Addr.Addr()]; ag != nil && a.agentFresh(ag) {
			st, reason := agentStateFor(&ag.report, s.key)
			a.perform(s, p.Step(now, pool.AgentReport{Addr: rs.Addr.Addr(), State: st, Reason: reason}), true)
		}
	}
	s.dirty = true
	return nil
}

// indexServices rebuilds the real IP → services index used for agent
// reports.
func (a *App) indexServices() {
	a.byIP = map[netip.Addr][]*service{}
	for _, s := range a.services {
		seen := map[netip.Addr]bool{}
		for _, rs := range s.cfg.RealServers {
			ip := rs.Addr.Addr().Unmap()
			if !seen[ip] {
				seen[ip] = true
				a.byIP[ip] = append(a.byIP[ip], s)
			}
		}
	}
	for ip, ag := range a.agentsTab {
		ag.known = len(a.byIP[ip]) > 0
	}
	a.publishIPVSMetrics()
}

// perform carries out a pool's actions: log and count transitions, run
// the configured scripts, mark the service for reconciliation, trigger
// rechecks. start is true for the actions of a pool just built (no
// scripts then).
func (a *App) perform(s *service, acts []pool.Action, start bool) {
	a.performQuiet(s, acts, start, false)
}

// performQuiet is perform; quiet (a reload's actions) logs at debug the
// state changes and removals of the destinations the reload itself
// added, removed or changed: the reload's line per service names them,
// and a reload of thousands of destinations logs no line for each. What
// follows later (a drain that ends) is logged at info as ever.
func (a *App) performQuiet(s *service, acts []pool.Action, start, quiet bool) {
	if len(acts) > 0 {
		a.markView()
	}
	for _, act := range acts {
		switch act := act.(type) {
		case pool.Transition:
			// A pool just built reports every server's first state: at
			// 1,000 services that is 10,000 lines, so those go to debug.
			lvl := slog.LevelInfo
			if start || quiet {
				lvl = slog.LevelDebug
			}
			if a.log.Enabled(context.Background(), lvl) {
				a.log.Log(context.Background(), lvl, "real server state changed", "service", s.key, "rs", act.Server.String(), "from", act.From.String(), "to", act.To.String(), "reason", act.Reason)
			}
			if act.To == pool.Draining && !start {
				// The counters the loop holds may be minutes old (it reads
				// the table for drains only): the view agents see, which
				// `maintenance on --wait` trusts, waits for a fresh read.
				s.freshConns = true
			}
			if start && !a.stopping {
				continue // no scripts for a pool just built: no lookup (10,000 at a start)
			}
			rs := s.cfg.RealServer(act.Server.String())
			if rs != nil && !start && !a.stopping {
				if act.To == pool.Up && rs.NotifyUp != "" {
					a.runScript("notify_up", rs.NotifyUp)
				}
				if act.From == pool.Up && act.To == pool.Down && rs.NotifyDown != "" {
					a.runScript("notify_down", rs.NotifyDown)
				}
			}
			if a.stopping && act.To == pool.Down && rs != nil && rs.NotifyDown != "" {
				a.runScript("notify_down", rs.NotifyDown) // omega
			}
		case pool.QuorumLost:
			s.quorumUp = false
			a.bgpMark()
			a.met.QuorumUp.WithLabelValues(s.key).Set(0)
			if !start {
				a.log.Warn("quorum lost", "service", s.key, "reason", act.Reason)
			}
			if s.cfg.QuorumDown != "" && (!start || a.stopping) {
				a.runScript("quorum_down", s.cfg.QuorumDown)
			}
		case pool.QuorumGained:
			s.quorumUp = true
			a.bgpMark()
			a.met.QuorumUp.WithLabelValues(s.key).Set(1)
			if !start {
				a.log.Info("quorum gained", "service", s.key, "reason", act.Reason)
				if s.cfg.QuorumUp != "" {
					a.runScript("quorum_up", s.cfg.QuorumUp)
				}
			}
		case pool.SorryIn:
			a.log.Warn("sorry server in: no real server can take the traffic", "service", s.key, "rs", act.Server.String(), "reason", act.Reason)
			a.met.SorryActive.WithLabelValues(s.key).Set(1)
			s.dirty = true
		case pool.SorryOut:
			a.log.Info("sorry server out", "service", s.key, "rs", act.Server.String(), "reason", act.Reason)
			a.met.SorryActive.WithLabelValues(s.key).Set(0)
			s.dirty = true
		case pool.SetDest:
			s.dirty = true
			if act.Removed {
				lvl := slog.LevelInfo
				if quiet {
					lvl = slog.LevelDebug
				}
				a.log.Log(context.Background(), lvl, "real server removed", "service", s.key, "rs", act.Server.String(), "reason", act.Reason)
				delete(s.conns, act.Server.String())
				a.met.ForgetDestination(s.key, act.Server.String())
			}
		case pool.Recheck:
			if rcs := s.checkers[act.Server]; len(rcs) > 0 {
				a.log.Info("rechecking now", "service", s.key, "rs", act.Server.String(), "reason", act.Reason)
				for _, rc := range rcs {
					rc.ck.Trigger()
				}
			}
		}
	}
	if len(acts) > 0 && !a.starting {
		a.serviceGauges(s)
	}
}

// serviceGauges sets the per-destination gauges from the pool.
func (a *App) serviceGauges(s *service) {
	st := s.pool.Status()
	for _, ss := range st.Servers {
		rs := ss.Addr.String()
		w := 0
		if ss.Present {
			w = ss.Weight
		}
		a.met.Weight.WithLabelValues(s.key, rs).Set(float64(w))
		a.met.ConfiguredWeight.WithLabelValues(s.key, rs).Set(float64(ss.ConfiguredWeight))
		a.met.Present.WithLabelValues(s.key, rs).Set(metrics.B2F(ss.Present))
		a.met.PoolState.WithLabelValues(s.key, rs).Set(float64(ss.State))
		a.met.LastChange.WithLabelValues(s.key, rs).Set(metrics.UnixSeconds(ss.Since))
		c := s.conns[rs]
		a.met.ActiveConns.WithLabelValues(s.key, rs).Set(float64(c.ActiveConns))
		a.met.InactiveConns.WithLabelValues(s.key, rs).Set(float64(c.InactiveConns))
	}
	a.met.QuorumUp.WithLabelValues(s.key).Set(metrics.B2F(st.QuorumUp))
	a.met.SorryActive.WithLabelValues(s.key).Set(metrics.B2F(st.SorryIn))
}

// kernelSpec is the spec of s to write to the kernel; it records the
// spec's fingerprint (status, metrics) when it changed, so that the hash
// is taken once per written change, not at every gauge refresh.
func (a *App) kernelSpec(s *service) lvs.ServiceSpec {
	sp := SpecOf(&s.cfg, s.pool.Status())
	if fp := sp.Fingerprint(); fp != s.fingerprint {
		s.fingerprint = fp
		a.met.SetServiceFingerprint(s.key, fp)
	}
	return sp
}

// runScript runs a keepalived-style notify script through /bin/sh -c
// (script.RunShell: own process group killed whole on timeout, output
// bounded and valid UTF-8), bounded by scriptTimeout, without blocking
// the main loop.
func (a *App) runScript(kind, cmdline string) {
	a.goRun(kind, func() error {
		out, err := script.RunShell(cmdline, scriptTimeout)
		if err != nil {
			return fmt.Errorf("script %q: %w (output %q)", cmdline, err, truncate(out, 200))
		}
		a.log.Debug("script ran", "kind", kind, "script", cmdline)
		return nil
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (a *App) startServiceCheckers(s *service) {
	for i := range s.cfg.RealServers {
		a.startCheckers(s, &s.cfg.RealServers[i])
	}
}

func (a *App) stopServiceCheckers(s *service) {
	for addr, rcs := range s.checkers {
		for _, rc := range rcs {
			rc.cancel()
		}
		delete(s.checkers, addr)
	}
}

// startCheckers starts the checkers of one real server.
func (a *App) startCheckers(s *service, rs *config.RealServer) {
	names := checkerNames(rs)
	var rcs []*runningChecker
	for i := range rs.Checks {
		rcs = append(rcs, a.startChecker(s, rs, &rs.Checks[i], names[i]))
	}
	if len(rcs) > 0 {
		s.checkers[rs.Addr] = rcs
	}
}

// startChecker starts check c, named name, of real server rs.
func (a *App) startChecker(s *service, rs *config.RealServer, c *config.Check, name string) *runningChecker {
	a.checkGen++
	gen := a.checkGen
	ctx, cancel := context.WithCancel(a.runCtx)
	p, err := ProbeOf(a.cfg, &s.cfg, rs, c, name, s.files.source)
	if err != nil {
		// Validate makes this unreachable, unless the system changed
		// since (a user deleted): the check fails rather than being
		// skipped, which would leave the server up unchecked.
		a.log.Error("health check cannot run", "service", s.key, "rs", rs.Addr.String(), "check", name, "err", err)
		p = failedProbe{name: name, err: err}
	}
	p = timed(p, a.met.CheckObserver(s.key, string(c.Type)))
	key := s.key
	ck := checks.NewChecker(rs.Addr, p, SettingsOf(&s.cfg, c), a.opts.Clock, func(res checks.Result) {
		select {
		case a.events <- checkEvent{svc: key, gen: gen, res: res}:
		case <-ctx.Done():
		}
	})
	a.goRun("checker", func() error { return ck.Run(ctx) })
	return &runningChecker{name: name, gen: gen, cancel: cancel, ck: ck, fp: checkerFingerprint(a.cfg, &s.cfg, rs, *c, name)}
}

// restartChangedCheckers brings the checkers of rs in line with its
// configuration: a checker whose fingerprint is unchanged keeps running
// (and its last result); the others stop, and the new or changed ones
// start.
func (a *App) restartChangedCheckers(s *service, rs *config.RealServer) (restarted int) {
	old := map[string]*runningChecker{}
	for _, rc := range s.checkers[rs.Addr] {
		old[rc.name] = rc
	}
	names := checkerNames(rs)
	var rcs []*runningChecker
	for i := range rs.Checks {
		c, name := &rs.Checks[i], names[i]
		if rc := old[name]; rc != nil && rc.fp == checkerFingerprint(a.cfg, &s.cfg, rs, *c, name) {
			rcs = append(rcs, rc)
			delete(old, name)
			continue
		}
		if rc := old[name]; rc != nil {
			a.log.Debug("reload: health check restarts: its settings changed", "service", s.key, "rs", rs.Addr.String(), "check", name)
			restarted++
		}
		rcs = append(rcs, a.startChecker(s, rs, c, name))
	}
	for name, rc := range old {
		rc.cancel()
		a.forgetCheck(s, rs.Addr, name)
	}
	if len(rcs) == 0 {
		delete(s.checkers, rs.Addr)
		return restarted
	}
	s.checkers[rs.Addr] = rcs
	return restarted
}

// logCheckRestarts says, once for service s, how many of its health
// checks a reload restarted because their settings changed (each one at
// debug).
func (a *App) logCheckRestarts(s *service, n int) {
	if n > 0 {
		a.log.Info("reload: health checks restart: their settings changed", "service", s.key, "checks", n)
	}
}

// refreshCheckers restarts, in every service, the checkers whose
// fingerprint changed although their service did not: what a check takes
// from outside its virtual_server (global_defs script_user, a
// vrrp_track_file's file or weight) changed. A reload calls it when
// config.Changes.Tracking is set; a.cfg must be the new configuration.
func (a *App) refreshCheckers() {
	for _, s := range a.services {
		restarted := 0
		for i := range s.cfg.RealServers {
			if rs := &s.cfg.RealServers[i]; len(rs.Checks) > 0 {
				restarted += a.restartChangedCheckers(s, rs)
			}
		}
		a.logCheckRestarts(s, restarted)
	}
}

// forgetCheck drops the last result and the gauge of a checker that
// stopped.
func (a *App) forgetCheck(s *service, addr netip.AddrPort, name string) {
	if r := s.results[addr]; r != nil {
		delete(r, name)
	}
	a.met.CheckUp.DeletePartialMatch(map[string]string{"service": s.key, "rs": addr.String(), "check": name})
}

// onCheck takes one checker attempt: kept for status, counted, and a
// changed verdict goes to the pool.
func (a *App) onCheck(e checkEvent) {
	s := a.byKey[e.svc]
	if s == nil {
		return
	}
	res := e.res
	current := false
	for _, rc := range s.checkers[res.Server] {
		current = current || rc.name == res.Checker && rc.gen == e.gen
	}
	if !current {
		return // a checker since replaced or stopped
	}
	if s.results[res.Server] == nil {
		s.results[res.Server] = map[string]checks.Result{}
	}
	s.results[res.Server][res.Checker] = res
	result := "success"
	if res.Err != nil {
		result = "failure"
	}
	rs := res.Server.String()
	a.met.CheckResults.WithLabelValues(s.key, rs, res.Checker, result).Inc()
	a.met.CheckUp.WithLabelValues(s.key, rs, res.Checker).Set(metrics.B2F(res.Up))
	if !res.Changed && !res.WeightChanged {
		if res.Err != nil {
			a.log.Debug("health check failed", "service", s.key, "rs", rs, "check", res.Checker, "reason", res.Reason)
		}
		return
	}
	if res.Changed {
		a.log.Info("health check verdict changed", "service", s.key, "rs", rs, "check", res.Checker, "up", res.Up, "reason", res.Reason)
	} else {
		a.log.Info("health check sets the weight", "service", s.key, "rs", rs, "check", res.Checker, "weight", res.Weight)
	}
	a.perform(s, s.pool.Step(a.now(), pool.CheckResult{
		Server: res.Server, Checker: res.Checker, Up: res.Up, Reason: res.Reason,
		WeightSet: res.WeightSet, Weight: res.Weight,
	}), false)
}

// reconfigureService takes a changed virtual_server: the pool keeps the
// state of the servers that stay, checkers restart only where their
// settings changed, and the service is reconciled (only the difference is
// written).
func (a *App) reconfigureService(cfg *config.Config, s *service, ns *config.VirtualService) {
	s.cfg = *ns
	acts, err := s.pool.Reconfigure(PoolConfig(cfg, ns), a.now())
	if err != nil {
		a.log.Error("reload: pool", "service", s.key, "err", err) // Validate makes this unreachable
		return
	}
	a.performQuiet(s, acts, false, true)
	keep := map[netip.AddrPort]bool{}
	restarted := 0
	for i := range s.cfg.RealServers {
		rs := &s.cfg.RealServers[i]
		keep[rs.Addr] = true
		restarted += a.restartChangedCheckers(s, rs)
	}
	a.logCheckRestarts(s, restarted)
	for addr, rcs := range s.checkers {
		if !keep[addr] {
			for _, rc := range rcs {
				rc.cancel()
			}
			delete(s.checkers, addr)
		}
	}
	for addr := range s.results {
		if !keep[addr] {
			delete(s.results, addr)
			a.met.ForgetDestination(s.key, addr.String())
		}
	}
	a.forgetCheckTypes(s)
	s.dirty = true
}
