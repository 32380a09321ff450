package app

import (
	"context"
	"crypto/sha256"
	"fmt"
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

// probeKeys are the probe's keys (docs/ha.md, "Keys"): we seal with the
// directors' key of the cluster secret, which real servers never hold, and
// accept also the directors' key of the previous secret (a rotation) and,
// unless agent keys are scoped, the raw secret that directors older than
// the directors' key seal with (a rolling upgrade).
func probeKeys(secret, previous []byte, agentKeys string) (send []byte, accept [][]byte) {
	send = hbproto.DeriveDirectorKey(secret)
	if len(previous) > 0 {
		accept = append(accept, hbproto.DeriveDirectorKey(previous))
	}
	if agentKeys != config.AgentKeysScoped {
		accept = append(accept, append([]byte(nil), secret...))
	}
	return send, accept
}

// probePeer is the peer the probe accepts: fast_failover.peer, else the
// one unicast_peer of the VRRP instances when they have exactly one
// distinct, all on the probe interface and of the probe's family; else
// invalid (the watcher pins the first authenticated peer).
func probePeer(cfg *config.Config, iface string, v6 bool) netip.Addr {
	if cfg.FastFailover.Peer.IsValid() {
		return cfg.FastFailover.Peer
	}
	var peer netip.Addr
	for i := range cfg.VRRP {
		in := &cfg.VRRP[i]
		for _, p := range in.UnicastPeers {
			ip := p.Addr.Unmap()
			if in.Interface != iface || ip.Is6() != v6 || (peer.IsValid() && ip != peer) {
				return netip.Addr{}
			}
			peer = ip
		}
	}
	return peer
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
	iface := probeInterface(cfg)
	a.witness.SetQuorum(cfg.FastFailover.WitnessQuorum)
	a.syncWitness(cfg)
	previous, err := previousKey(cfg)
	if err != nil {
		a.log.Warn("fast failover: heartbeat.previous_key_file unreadable: probes sealed with it are refused", "err", err)
	}
	send, accept := probeKeys(a.hbKey, previous, agentKeysMode(cfg))
	peer := probePeer(cfg, iface, probeIPv6(cfg))
	w, err := peerwatch.New(peerwatch.Options{
		Name: a.node, Key: send, AcceptKeys: accept, Peer: peer, MaxVeto: cfg.FastFailover.WitnessMaxVeto, Clock: a.opts.Clock,
		Interface: iface, Port: cfg.FastFailover.Port, IPv6: probeIPv6(cfg),
		Session:        peerwatch.Config{TxInterval: cfg.FastFailover.Interval, DetectMult: cfg.FastFailover.Multiplier},
		Instances:      a.bindings(),
		Witness:        a.witness,
		RequestReports: a.requestReports,
		WitnessWait:    cfg.FastFailover.WitnessWait,
		Window:         cfg.Heartbeat.Window,
		Logger:         a.log,
		ProbeInterval:  a.met.ObserveProbeInterval,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(a.runCtx)
	done := make(chan struct{})
	a.pw, a.pwStop, a.pwDone = w, cancel, done
	a.pwKey = peerwatchKey(cfg, a.hbKey, previous)
	a.publishFastFailoverMetrics(w)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(done)
		if err := w.Run(ctx); err != nil {
			a.log.Error("fast failover probe stopped", "err", err)
		}
	}()
	a.log.Info("fast failover probe running", "interface", iface, "port", cfg.FastFailover.Port,
		"interval", cfg.FastFailover.Interval.String(), "multiplier", cfg.FastFailover.Multiplier,
		"witness_quorum", cfg.FastFailover.WitnessQuorum, "witness_wait", cfg.FastFailover.WitnessWait.String(),
		"ipv6", probeIPv6(cfg), "peer", peerString(peer), "witness_max_veto", cfg.FastFailover.WitnessMaxVeto.String(),
		"legacy_key_accepted", agentKeysMode(cfg) != config.AgentKeysScoped)
	return nil
}

func peerString(p netip.Addr) string {
	if !p.IsValid() {
		return "learn and pin"
	}
	return p.String()
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
	a.publishFastFailoverMetrics(nil)
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

// probeInterface is the probe's interface: the connection-sync daemon's,
// else the first VRRP instance's ("" without either).
func probeInterface(cfg *config.Config) string {
	if cfg.ConnSync != nil && cfg.ConnSync.Interface != "" {
		return cfg.ConnSync.Interface
	}
	if len(cfg.VRRP) > 0 {
		return cfg.VRRP[0].Interface
	}
	return ""
}

// previousKey reads heartbeat.previous_key_file (nil without one).
func previousKey(cfg *config.Config) ([]byte, error) {
	if p := cfg.Heartbeat.PreviousKeyFile; p != "" {
		return hbproto.LoadKey(p)
	}
	return nil, nil
}

// peerwatchKey is what the watcher is built from (peerwatch.Options) but
// the instances and the witness quorum, which a running watcher takes:
// a reload restarts the watcher only when it differs. key is the
// heartbeat key, previous the previous one (previousKey).
func peerwatchKey(cfg *config.Config, key, previous []byte) string {
	iface := probeInterface(cfg)
	ff := cfg.FastFailover
	v6 := probeIPv6(cfg)
	return fmt.Sprintf("%s|%s|%d|%t|%s|%s|%d|%s|%s|%s|%x|%x|%s", cfg.NodeName(), iface, ff.Port, v6, probePeer(cfg, iface, v6),
		ff.Interval, ff.Multiplier, ff.WitnessWait, ff.WitnessMaxVeto, cfg.Heartbeat.Window,
		sha256.Sum256(key), sha256.Sum256(previous), agentKeysMode(cfg))
}

// peerwatchChanged reports whether a reload to cfg with the heartbeat
// key key restarts the running watcher: its peerwatchKey differs. False
// when no watcher runs or cfg turns it off (it is then started or
// stopped, not restarted).
func (a *App) peerwatchChanged(cfg *config.Config, key []byte) bool {
	if a.pw == nil || !cfg.FastFailover.Enabled {
		return false
	}
	previous, _ := previousKey(cfg) // unreadable: as absent, as the watcher takes it
	return peerwatchKey(cfg, key, previous) != a.pwKey
}

// applyPeerwatch is a reload's step for the watcher (the caller gave the
// witness board the new real servers). One whose inputs did not change
// (changed: peerwatchChanged) keeps running (its session with the peer
// goes on) and takes the new witness quorum and instances; one whose did
// is replaced at once (Handoff: no wait for VIPs that a reload does not
// release, and a goodbye that does not make the peer take over).
func (a *App) applyPeerwatch(cfg *config.Config, changed bool) {
	want := a.ffWanted(cfg)
	switch {
	case a.pw != nil && want && !changed:
		a.witness.SetQuorum(cfg.FastFailover.WitnessQuorum)
		a.rebindPeerwatch()
		return
	case a.pw != nil:
		a.pw.Handoff()
		a.stopPeerwatch(true)
	}
	if err := a.startPeerwatch(cfg); err != nil {
		a.log.Error("reload: fast failover probe", "err", err)
	}
}
