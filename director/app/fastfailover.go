package app

import (
	"context"
	"net/netip"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/peerwatch"
	"github.com/tandemlb/tandem/director/witness"
	"github.com/tandemlb/tandem/shared/hbproto"
)

// This file wires the fast peer-failure detection of docs/ha.md: one
// peerwatch.Watcher over every VRRP instance (a BFD-like probe to the other
// Tandem director on the sync interface, or the VRRP interface), and the
// witness rule fed by the agents' heartbeats. It runs only with
// fast_failover.enabled: without it the director behaves as plain VRRP
// (keepalived's timing).

// agentPeer is an agent heard within dead_after, for report_now.
type agentPeer struct {
	peer netip.AddrPort
	ip   netip.Addr
}

// newWitnessBoard is the board the heartbeat listener feeds (always, so
// that the rule has its input as soon as it is switched on). Its quorum is
// fast_failover.witness_quorum, set when the watcher starts.
func newWitnessBoard() *witness.Board {
	return witness.NewBoard(witness.Config{Quorum: config.DefaultWitnessQuorum})
}

// realServerIPs are the addresses of the configured real servers: the only
// agents that count as witnesses, each once (docs/ha.md).
func realServerIPs(cfg *config.Config) []netip.Addr {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for i := range cfg.Services {
		for _, rs := range cfg.Services[i].RealServers {
			ip := rs.Addr.Addr().Unmap()
			if ip.IsValid() && !seen[ip] {
				seen[ip] = true
				out = append(out, ip)
			}
		}
	}
	return out
}

// syncWitness gives the witness board the configured real servers (at
// start and on every reload).
func (a *App) syncWitness(cfg *config.Config) {
	a.witness.SetServers(realServerIPs(cfg))
}

// ffWanted reports whether cfg asks for the watcher and it can run.
func (a *App) ffWanted(cfg *config.Config) bool {
	if !cfg.FastFailover.Enabled || len(cfg.VRRP) == 0 {
		return false
	}
	if a.hbKey == nil {
		a.warn("fast_failover needs the heartbeat key (the probe is authenticated with it): plain VRRP timing applies")
		return false
	}
	return true
}

// bindings are the running VRRP drivers the watcher protects.
func (a *App) bindings() []peerwatch.Binding {
	var out []peerwatch.Binding
	for _, in := range a.instances {
		if in.drv == nil || in.cancel == nil {
			continue
		}
		if pi, ok := in.drv.(peerwatch.Instance); ok {
			out = append(out, peerwatch.Binding{VRRP: pi, NoPreempt: in.vcfg.Nopreempt})
		}
	}
	return out
}

// startPeerwatch starts the watcher when cfg asks for it.
func (a *App) startPeerwatch(cfg *config.Config) error {
	if !a.ffWanted(cfg) {
		return nil
	}
	iface := cfg.VRRP[0].Interface
	if cfg.ConnSync != nil && cfg.ConnSync.Interface != "" {
		iface = cfg.ConnSync.Interface
	}
	a.witness.SetQuorum(cfg.FastFailover.WitnessQuorum)
	a.syncWitness(cfg)
	w, err := peerwatch.New(peerwatch.Options{
		Name: a.node, Key: a.hbKey, Interface: iface, Port: cfg.FastFailover.Port, IPv6: probeIPv6(cfg),
		Session:        peerwatch.Config{TxInterval: cfg.FastFailover.Interval, DetectMult: cfg.FastFailover.Multiplier},
		Instances:      a.bindings(),
		Witness:        a.witness,
		RequestReports: a.requestReports,
		WitnessWait:    cfg.FastFailover.WitnessWait,
		Window:         cfg.Heartbeat.Window,
		Logger:         a.log,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(a.runCtx)
	done := make(chan struct{})
	a.pw, a.pwStop, a.pwDone = w, cancel, done
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(done)
		if err := w.Run(ctx); err != nil {
			a.log.Error("fast failover probe stopped", "err", err)
		}
	}()
	a.log.Info("fast failover probe running", "iface", iface, "port", cfg.FastFailover.Port,
		"interval", cfg.FastFailover.Interval.String(), "multiplier", cfg.FastFailover.Multiplier,
		"witness_quorum", cfg.FastFailover.WitnessQuorum, "witness_wait", cfg.FastFailover.WitnessWait.String(),
		"ipv6", probeIPv6(cfg))
	return nil
}

// probeIPv6 reports whether the probe runs over IPv6 (discovery by
// ff02::1, link-local peers): when every VRRP instance is IPv6, so that a
// director without IPv4 on the probe interface still has the probe. With
// any IPv4 instance it is IPv4 (broadcast discovery), as before.
func probeIPv6(cfg *config.Config) bool {
	for i := range cfg.VRRP {
		if cfg.VRRP[i].Family() != 6 {
			return false
		}
	}
	return len(cfg.VRRP) > 0
}

// stopPeerwatch cancels the watcher; wait says whether to wait for it (it
// says goodbye once the local masters released their VIPs, within 2 s).
func (a *App) stopPeerwatch(wait bool) {
	if a.pwStop == nil {
		return
	}
	a.pwStop()
	if wait {
		<-a.pwDone
	}
	a.pw, a.pwStop = nil, nil
}

// rebindPeerwatch gives the watcher the drivers running now (after a
// driver was started, restarted or stopped).
func (a *App) rebindPeerwatch() {
	if a.pw != nil {
		a.pw.SetInstances(a.bindings())
	}
}

// requestReports asks every live agent for a report now (report_now),
// each with its own destinations so that a waiting `maintenance --wait`
// never sees an empty list. It runs on the watcher's goroutine and reads
// only the published view.
func (a *App) requestReports() {
	v := a.view.Load()
	if v == nil || v.hb == nil {
		return
	}
	for _, p := range v.agents {
		r := hbproto.DirectorReply{Director: v.node, Role: v.role, Destinations: v.dests[p.ip], ReportNow: true}
		v.hb.Push(p.peer, r)
	}
}
