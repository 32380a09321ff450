package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"syscall"
	"time"

	"github.com/tandemlb/tandem/director/checks"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/metrics"
	"github.com/tandemlb/tandem/director/pool"
)

// scriptTimeout bounds a notify_up/notify_down/quorum_up/quorum_down script.
const scriptTimeout = 30 * time.Second

var poolTick = pool.Tick{}

// service is one virtual service at run time: its pool, its checkers, the
// last IPVS counters.
type service struct {
	cfg  config.VirtualService
	key  string
	pool *pool.Pool
	// checkers run per real server; results keeps each checker's last
	// attempt for status.
	checkers map[netip.AddrPort]*rsCheckers
	results  map[netip.AddrPort]map[string]checks.Result
	// conns are the destinations as the last poll read them, by
	// "addr:port".
	conns     map[string]lvs.DestinationState
	inKernel  bool
	dirty     bool
	lastApply time.Time
	lastErr   string
}

// rsCheckers are the running checkers of one real server. A generation
// number tells their results from those of checkers already replaced.
type rsCheckers struct {
	gen    uint64
	cancel context.CancelFunc
	list   []*checks.Checker
	fp     string
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
		checkers: map[netip.AddrPort]*rsCheckers{},
		results:  map[netip.AddrPort]map[string]checks.Result{},
		conns:    map[string]lvs.DestinationState{},
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
}

// perform carries out a pool's actions: log and count transitions, run
// the configured scripts, mark the service for reconciliation, trigger
// rechecks. start is true for the actions of a pool just built (no
// scripts then).
func (a *App) perform(s *service, acts []pool.Action, start bool) {
	if len(acts) > 0 {
		a.markView()
	}
	for _, act := range acts {
		switch act.Kind {
		case pool.Transition:
			from := act.From.String()
			if act.From == 0 {
				from = "new"
			}
			// A pool just built reports every server's first state: at
			// 1,000 services that is 10,000 lines, so those go to debug.
			lvl := slog.LevelInfo
			if start {
				lvl = slog.LevelDebug
			}
			if a.log.Enabled(context.Background(), lvl) {
				a.log.Log(context.Background(), lvl, "real server state changed", "service", s.key, "rs", act.Server.String(), "from", from, "to", act.To.String(), "reason", act.Reason)
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
			a.met.QuorumUp.WithLabelValues(s.key).Set(0)
			if !start {
				a.log.Warn("quorum lost", "service", s.key, "reason", act.Reason)
			}
			if s.cfg.QuorumDown != "" && (!start || a.stopping) {
				a.runScript("quorum_down", s.cfg.QuorumDown)
			}
		case pool.QuorumGained:
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
				a.log.Info("real server removed", "service", s.key, "rs", act.Server.String(), "reason", act.Reason)
				delete(s.conns, act.Server.String())
				a.met.ForgetDestination(s.key, act.Server.String())
			}
		case pool.Recheck:
			if rc := s.checkers[act.Server]; rc != nil {
				a.log.Info("rechecking now", "service", s.key, "rs", act.Server.String(), "reason", act.Reason)
				for _, c := range rc.list {
					c.Trigger()
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
		c := s.conns[rs]
		a.met.ActiveConns.WithLabelValues(s.key, rs).Set(float64(c.ActiveConns))
		a.met.InactiveConns.WithLabelValues(s.key, rs).Set(float64(c.InactiveConns))
	}
	a.met.QuorumUp.WithLabelValues(s.key).Set(metrics.B2F(st.QuorumUp))
	a.met.SorryActive.WithLabelValues(s.key).Set(metrics.B2F(st.SorryIn))
}

// runScript runs a keepalived-style notify script through /bin/sh -c,
// bounded by scriptTimeout, without blocking the main loop.
func (a *App) runScript(kind, cmdline string) {
	a.goRun(kind, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", cmdline)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("script %q: %w (output %q)", cmdline, err, truncate(string(out), 200))
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

// checkFingerprint identifies what a real server's checkers depend on, so
// that a reload restarts only the checkers whose settings changed.
func checkFingerprint(s *config.VirtualService, rs *config.RealServer) string {
	cs := make([]config.Check, len(rs.Checks))
	for i, c := range rs.Checks {
		c.Pos = config.Pos{}
		urls := make([]config.URL, len(c.URLs))
		for j, u := range c.URLs {
			u.Pos = config.Pos{}
			urls[j] = u
		}
		c.URLs = urls
		cs[i] = c
	}
	return fmt.Sprintf("%s|%v|%v|%+v", rs.Addr, s.DelayLoop, s.Alpha, cs)
}

func (a *App) startServiceCheckers(s *service) {
	for i := range s.cfg.RealServers {
		a.startCheckers(s, &s.cfg.RealServers[i])
	}
}

func (a *App) stopServiceCheckers(s *service) {
	for addr, rc := range s.checkers {
		rc.cancel()
		delete(s.checkers, addr)
	}
}

// startCheckers starts the checkers of one real server.
func (a *App) startCheckers(s *service, rs *config.RealServer) {
	if len(rs.Checks) == 0 {
		return
	}
	a.checkGen++
	gen := a.checkGen
	ctx, cancel := context.WithCancel(a.runCtx)
	rc := &rsCheckers{gen: gen, cancel: cancel, fp: checkFingerprint(&s.cfg, rs)}
	names := checkerNames(rs)
	key := s.key
	for i := range rs.Checks {
		c := &rs.Checks[i]
		ck := checks.NewChecker(rs.Addr, ProbeOf(c, rs, names[i]), SettingsOf(&s.cfg, c), nil, func(res checks.Result) {
			select {
			case a.events <- checkEvent{svc: key, gen: gen, res: res}:
			case <-ctx.Done():
			}
		})
		rc.list = append(rc.list, ck)
		a.goRun("checker", func() error { return ck.Run(ctx) })
	}
	s.checkers[rs.Addr] = rc
}

// onCheck takes one checker attempt: kept for status, counted, and a
// changed verdict goes to the pool.
func (a *App) onCheck(e checkEvent) {
	s := a.byKey[e.svc]
	if s == nil {
		return
	}
	res := e.res
	rc := s.checkers[res.Server]
	if rc == nil || rc.gen != e.gen {
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
	if !res.Changed {
		if res.Err != nil {
			a.log.Debug("health check failed", "service", s.key, "rs", rs, "check", res.Checker, "reason", res.Reason)
		}
		return
	}
	a.log.Info("health check verdict changed", "service", s.key, "rs", rs, "check", res.Checker, "up", res.Up, "reason", res.Reason)
	a.perform(s, s.pool.Step(a.now(), pool.CheckResult{Server: res.Server, Checker: res.Checker, Up: res.Up, Reason: res.Reason}), false)
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
	a.perform(s, acts, false)
	keep := map[netip.AddrPort]bool{}
	for i := range ns.RealServers {
		rs := &ns.RealServers[i]
		keep[rs.Addr] = true
		rc := s.checkers[rs.Addr]
		if rc != nil && rc.fp == checkFingerprint(ns, rs) {
			continue
		}
		if rc != nil {
			rc.cancel()
			delete(s.checkers, rs.Addr)
			delete(s.results, rs.Addr)
			a.met.CheckUp.DeletePartialMatch(map[string]string{"service": s.key, "rs": rs.Addr.String()})
		}
		a.startCheckers(s, rs)
	}
	for addr, rc := range s.checkers {
		if !keep[addr] {
			rc.cancel()
			delete(s.checkers, addr)
		}
	}
	for addr := range s.results {
		if !keep[addr] {
			delete(s.results, addr)
			a.met.ForgetDestination(s.key, addr.String())
		}
	}
	s.dirty = true
}
