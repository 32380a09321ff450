package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandemlb/tandem/director/bgp"
	"github.com/tandemlb/tandem/director/bgp/agree"
	"github.com/tandemlb/tandem/director/bgp/speakerproc"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/metrics"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/limitfile"
)

// BGP mode (issue 18; the native `bgp` block): the VIPs on lo, announced
// as /32 and /128 routes by a bgp.Speaker, as the pure bgp.Announcer
// decides. Only a configuration with a bgp block starts any of it: in
// VRRP mode a.bgp is nil and every hook below returns at once.
//
//   - At start, after the first reconciliation: each announced VIP
//     (config.AnnouncedVIPs) goes on lo (the StaticNet edge), the speaker
//     starts (Options.BGPSpeaker; the peers' password files read now),
//     and the Announcer learns each VIP's state.
//   - Each flush that reconciled a service or changed a quorum looks at
//     the VIPs again: Service{Programmed} (every service of the VIP
//     written without a failed operation) and Quorum{Up} (every service
//     of the VIP has its quorum), sent only when they change.
//   - The speaker's Changed() wakes the main loop (a signal, not a
//     queue): the peers are read and the changes become Session events.
//   - The Announcer's deadline (a graceful withdrawal due) is one of the
//     main loop's alarm deadlines.
//   - The Fingerprint gate, per VIP, comes from the agreement between
//     directors (bgp.directors; director/bgp/agree): an agree.Driver on
//     UDP bgp.agreement_port sends our services' fingerprints (each
//     service's s.fingerprint, taken when its spec is written) and
//     whether we announce their VIP to the other directors, and keeps
//     their messages; the pure agree.Agreement turns both into a gate per
//     VIP, fed to the Announcer at each change (bgpAgreeSync, at the end
//     of a flush that needs it). The driver's Changed() wakes the main
//     loop as the speaker's does (one channel for both, bgpArm); the
//     Agreement's deadline (a director going stale, the start grace) is
//     one of the alarm's. Without bgp.directors (or without a heartbeat
//     key to seal it) there is no agreement: the gate of every VIP opens
//     once, after the first reconciliation (docs/director.md, "BGP
//     mode"). A reload applies a change of bgp.directors at once, and
//     rebinds the socket when the address, port, node name or keys
//     changed.
//   - The actions go to one worker goroutine through a queue that keeps
//     the last action of each prefix (bounded by the VIPs): a slow
//     speaker never holds the main loop, and a backlog collapses.
//   - SIGTERM: Stop to the Announcer; the loop keeps serving (IPVS
//     untouched) until every VIP is withdrawn or the graceful wait (plus
//     bgpStopMargin) has passed; then the queue is emptied, the speaker
//     stopped, and the stop goes on as in VRRP mode.

// BGPSpeakerFunc builds the BGP speaker of BGP mode (Options.BGPSpeaker).
type BGPSpeakerFunc func(cfg bgp.SpeakerConfig, log *slog.Logger) (bgp.Speaker, error)

// bgpStopMargin is how long a clean stop waits, past the graceful
// shutdown wait, for the last withdrawals; bgpOpTimeout bounds one
// speaker operation, and the final Stop.
const (
	bgpStopMargin = 2 * time.Second
	bgpOpTimeout  = 5 * time.Second
)

// maxPasswordFile bounds a peer's password_file (a key is at most 80
// bytes; a little room for a newline and comments-free padding).
const maxPasswordFile = 1024

// bgpVIPIn is what the Announcer was last told of one VIP.
type bgpVIPIn struct{ programmed, quorum, sent bool }

// bgpMode is BGP mode at run time; owned by the main loop, except q.
type bgpMode struct {
	cfg   *config.BGP // the block the speaker and the Announcer started with
	ann   *bgp.Announcer
	spk   bgp.Speaker
	q     *bgpQueue
	done  chan struct{} // the worker ended
	vips  []netip.Addr  // announced VIPs, configuration order
	onLo  []netip.Addr  // VIPs put on lo
	in    map[netip.Addr]bgpVIPIn
	up    map[netip.Addr]bool // established peers
	peers []bgp.PeerState     // last read
	watch <-chan struct{}     // closed at the next change after that read
	// disarm ends the goroutine that closes watch (bgpArm) with the
	// agreement: the speaker's or the driver's change.
	disarm chan struct{}
	dirty  bool // a flush looks at the VIPs again
	// agree is the fingerprint agreement (bgp.directors), nil without;
	// agreeDirty: a flush runs bgpAgreeSync.
	agree      *bgpAgree
	agreeDirty bool
	drain      bool      // drain --self
	stop       bool      // Stop sent
	until      time.Time // the clean stop's latest end
}

// defaultBGPSpeaker is GoBGP in the tandem-bgp-speaker process.
func (a *App) defaultBGPSpeaker(cfg bgp.SpeakerConfig, log *slog.Logger) (bgp.Speaker, error) {
	return speakerproc.NewRemote(cfg, speakerproc.Options{Logger: log, Clock: a.opts.Clock})
}

// speakerConfig is b as the speaker takes it; the password files are read
// now.
func speakerConfig(b *config.BGP) (bgp.SpeakerConfig, error) {
	sc := bgp.SpeakerConfig{LocalAS: b.LocalAS, RouterID: b.RouterID, ListenPort: uint16(b.ListenPort)}
	for _, p := range b.Peers {
		pc := bgp.PeerConfig{Addr: p.Address, AS: p.AS, Port: uint16(p.Port), HoldTime: p.HoldTime,
			MultihopTTL: uint8(p.MultihopTTL), MaxPrefixes: uint32(p.MaxPrefixes)}
		if p.PasswordFile != "" {
			raw, err := limitfile.Read(p.PasswordFile, maxPasswordFile)
			if err != nil {
				return sc, fmt.Errorf("%s: bgp peer %s: password_file: %w", p.Pos, p.Address, err)
			}
			pw := string(bytes.TrimRight(raw, "\r\n"))
			if pw == "" || len(pw) > 80 {
				return sc, fmt.Errorf("%s: bgp peer %s: password_file %s: want 1 to 80 bytes on one line (TCP MD5 key), got %d",
					p.Pos, p.Address, p.PasswordFile, len(pw))
			}
			pc.Password = pw
		}
		sc.Peers = append(sc.Peers, pc)
	}
	return sc, nil
}

func announcerConfig(b *config.BGP) bgp.Config {
	c := bgp.Config{GracefulShutdownWait: b.GracefulShutdownWait}
	for _, cm := range b.Communities {
		c.Communities = append(c.Communities, bgp.Community(cm))
	}
	return c
}

func announcedAddrs(cfg *config.Config) []netip.Addr {
	var out []netip.Addr
	for _, v := range cfg.AnnouncedVIPs() {
		out = append(out, v.Addr)
	}
	return out
}

func loVIPs(addrs []netip.Addr) []vrrp.VIP {
	out := make([]vrrp.VIP, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, vrrp.VIP{Prefix: netip.PrefixFrom(a, a.BitLen()), Dev: "lo"})
	}
	return out
}

// startBGP starts BGP mode when cfg has a bgp block: the VIPs on lo, the
// speaker, the Announcer fed with the state of the first reconciliation.
func (a *App) startBGP(cfg *config.Config) error {
	if cfg.BGP == nil {
		return nil
	}
	ann, err := bgp.New(announcerConfig(cfg.BGP))
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.BGP.Pos, err)
	}
	sc, err := speakerConfig(cfg.BGP)
	if err != nil {
		return err
	}
	vips := announcedAddrs(cfg)
	n, err := a.staticNet()
	if err != nil {
		return fmt.Errorf("bgp: VIPs on lo: netlink: %w", err)
	}
	if err := n.AddVIPs(loVIPs(vips)); err != nil {
		return fmt.Errorf("bgp: VIPs on lo: %w", err)
	}
	mk := a.opts.BGPSpeaker
	if mk == nil {
		mk = a.defaultBGPSpeaker
	}
	spk, err := mk(sc, a.log.With("subsystem", "bgp"))
	if err != nil {
		return err
	}
	b := &bgpMode{cfg: cfg.BGP, ann: ann, spk: spk, q: newBGPQueue(), done: make(chan struct{}), vips: vips,
		onLo: slices.Clone(vips), in: map[netip.Addr]bgpVIPIn{}, up: map[netip.Addr]bool{}, dirty: true}
	a.bgp = b
	a.met.BGPDraining.WithLabelValues().Set(0)
	ctx, cancel := context.WithTimeout(context.Background(), bgpOpTimeout)
	defer cancel()
	if err := spk.Start(ctx); err != nil {
		close(b.done)
		a.bgp = nil
		return fmt.Errorf("bgp: speaker: %w", err)
	}
	go a.bgpWorker(b)
	a.log.Info("bgp: speaker started", "local_as", sc.LocalAS, "router_id", sc.RouterID.String(), "peers", len(sc.Peers), "vips", len(vips))
	if err := a.startAgreement(cfg); err != nil {
		a.stopBGP()
		return err
	}
	if b.agree == nil {
		// No agreement between directors: this director's own table
		// programmed opens the gate (see the comment at the top).
		a.bgpStep(bgp.Fingerprint{Agreed: true})
	}
	a.bgpFlush()
	a.onBGPPeers()
	a.bgpFlush()
	return nil
}

// bgpMark says that a flush looks at the VIPs again (a service was
// reconciled, a quorum changed).
func (a *App) bgpMark() {
	if a.bgp != nil {
		a.bgp.dirty = true
		a.bgp.agreeDirty = true
	}
}

// bgpFlush tells the Announcer what changed of each VIP's services.
func (a *App) bgpFlush() {
	b := a.bgp
	if b == nil {
		return
	}
	if b.dirty {
		a.bgpFlushVIPs()
	}
	if b.agreeDirty {
		a.bgpAgreeSync()
	}
}

// bgpFlushVIPs tells the Announcer each VIP's service and quorum state.
func (a *App) bgpFlushVIPs() {
	b := a.bgp
	b.dirty = false
	now := map[netip.Addr]bgpVIPIn{}
	for _, v := range b.vips {
		now[v] = bgpVIPIn{programmed: true, quorum: true}
	}
	has := map[netip.Addr]bool{}
	for _, s := range a.services {
		v := s.cfg.Addr.Addr()
		st, ok := now[v]
		if s.cfg.FWMark != 0 || !ok {
			continue
		}
		has[v] = true
		st.programmed = st.programmed && a.rec != nil && !s.dirty && s.lastErr == "" && !s.lastApply.IsZero()
		st.quorum = st.quorum && s.quorumUp
		now[v] = st
	}
	for _, v := range b.vips {
		st := now[v]
		if !has[v] {
			st = bgpVIPIn{} // a VIP of no service serves nothing
		}
		old := b.in[v]
		if !old.sent || old.programmed != st.programmed {
			a.bgpStep(bgp.Service{VIP: v, Programmed: st.programmed})
		}
		if !old.sent || old.quorum != st.quorum {
			a.bgpStep(bgp.Quorum{VIP: v, Up: st.quorum})
		}
		st.sent = true
		b.in[v] = st
	}
}

// bgpStep steps the Announcer and performs its actions: a log line and
// the gauge per VIP here, the speaker's work on the worker.
func (a *App) bgpStep(ev bgp.Event) {
	b := a.bgp
	acts := b.ann.Step(a.now(), ev)
	for _, act := range acts {
		switch act := act.(type) {
		case bgp.Announce:
			a.log.Info("bgp: "+act.String(), "vip", act.Prefix.Addr().String(), "graceful_shutdown", act.GracefulShutdown, "reason", act.Reason)
			a.met.BGPVIPAnnounced.WithLabelValues(act.Prefix.Addr().String()).Set(1)
			b.q.push(act.Prefix, act)
		case bgp.Withdraw:
			a.log.Info("bgp: "+act.String(), "vip", act.Prefix.Addr().String(), "reason", act.Reason)
			a.met.BGPVIPAnnounced.WithLabelValues(act.Prefix.Addr().String()).Set(0)
			b.q.push(act.Prefix, act)
		}
	}
	if len(acts) > 0 {
		a.markView()
		b.agreeDirty = true // what we announce is in our message
	}
}

// bgpWatch is what wakes the main loop at a change of the sessions: the
// speaker's Changed() taken before the last read of the peers, nil
// without BGP mode.
func (a *App) bgpWatch() <-chan struct{} {
	if a.bgp == nil {
		return nil
	}
	return a.bgp.watch
}

// onBGPPeers reads the sessions and tells the Announcer which came up or
// went down.
func (a *App) onBGPPeers() {
	b := a.bgp
	if b == nil {
		return
	}
	// The channels first: a change after the read closes them.
	a.bgpArm(b.spk.Changed())
	b.peers = b.spk.Peers()
	seen := map[netip.Addr]bool{}
	for _, p := range b.peers {
		seen[p.Addr] = true
		a.met.BGPSessionUp.WithLabelValues(p.Addr.String()).Set(metrics.B2F(p.Established))
		if p.Established == b.up[p.Addr] {
			continue
		}
		a.log.Info("bgp: session "+p.State, "peer", p.Addr.String(), "as", p.AS, "established", p.Established)
		if p.Established {
			b.up[p.Addr] = true
		} else {
			delete(b.up, p.Addr)
		}
		a.bgpStep(bgp.Session{Peer: p.Addr, Up: p.Established})
	}
	for p := range b.up {
		if !seen[p] {
			delete(b.up, p)
			a.bgpStep(bgp.Session{Peer: p, Up: false})
		}
	}
	a.markView()
}

// bgpDeadline is BGP mode's deadline of the main loop's alarm: a graceful
// withdrawal due, the clean stop's end; zero if none.
func (a *App) bgpDeadline() time.Time {
	b := a.bgp
	if b == nil {
		return time.Time{}
	}
	next := b.ann.NextDeadline()
	if b.stop && (next.IsZero() || b.until.Before(next)) {
		next = b.until
	}
	if g := b.agree; g != nil && !g.due.IsZero() && (next.IsZero() || g.due.Before(next)) {
		next = g.due
	}
	return next
}

// bgpAlarm does what is due of BGP mode at the main loop's alarm.
func (a *App) bgpAlarm(now time.Time) {
	if b := a.bgp; b != nil {
		if d := b.ann.NextDeadline(); !d.IsZero() && !d.After(now) {
			a.bgpStep(bgp.TimerFired{})
		}
		if g := b.agree; g != nil && !g.due.IsZero() && !g.due.After(now) {
			b.agreeDirty = true
		}
	}
}

// bgpBeginStop starts a clean stop in BGP mode (Stop to the Announcer)
// and reports whether the main loop must go on serving until bgpStopped;
// false without BGP mode.
func (a *App) bgpBeginStop() bool {
	b := a.bgp
	if b == nil {
		return false
	}
	b.stop = true
	a.met.BGPDraining.WithLabelValues().Set(1)
	b.until = a.now().Add(b.cfg.GracefulShutdownWait + bgpStopMargin)
	a.log.Info("bgp: stopping: withdrawing every VIP before the stop", "graceful_shutdown_wait", b.cfg.GracefulShutdownWait.String())
	a.bgpStep(bgp.Stop{})
	return true
}

// bgpStopped reports whether a clean stop begun by bgpBeginStop may go on:
// every VIP withdrawn, or its time is over.
func (a *App) bgpStopped() bool {
	b := a.bgp
	if b == nil || !b.stop {
		return false
	}
	if b.ann.Done() {
		return true
	}
	if !a.now().Before(b.until) {
		a.log.Warn("bgp: stopping before every VIP is withdrawn: the graceful wait is over")
		return true
	}
	return false
}

// stopBGP ends BGP mode at the end of a stop: the queued actions done (in
// bgpOpTimeout), the speaker stopped (its peers drop what is left), the
// VIPs left on lo unless ipvs.remove_on_stop removed the services and the
// VIP is withdrawn.
func (a *App) stopBGP() {
	b := a.bgp
	if b == nil {
		return
	}
	b.q.close()
	t := a.opts.Clock.NewTimer(bgpOpTimeout)
	select {
	case <-b.done:
	case <-t.C():
		a.log.Warn("bgp: the speaker did not finish its queued actions in time", "timeout", bgpOpTimeout.String())
	}
	t.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), bgpOpTimeout)
	defer cancel()
	if err := b.spk.Stop(ctx); err != nil {
		a.log.Error("bgp: stopping the speaker", "err", err)
	}
	a.stopAgreement()
	if b.disarm != nil {
		close(b.disarm)
		b.disarm = nil
	}
	if a.cfg.IPVS.RemoveOnStop && a.static != nil {
		var gone []netip.Addr
		for _, v := range b.ann.Status() {
			if v.State == bgp.Withdrawn && slices.Contains(b.onLo, v.VIP) {
				gone = append(gone, v.VIP)
			}
		}
		if err := a.static.RemoveVIPs(loVIPs(gone)); err != nil {
			a.log.Error("bgp: removing the VIPs from lo (ipvs.remove_on_stop)", "err", err)
		}
	}
	a.bgp = nil
}

// bgpReloadCheck refuses a reload that switches between VRRP and BGP mode:
// that needs a restart.
func (a *App) bgpReloadCheck(cfg *config.Config) error {
	switch {
	case a.bgp == nil && cfg.BGP != nil:
		return errors.New("keeping the running configuration: the new file has a bgp block and the director runs in VRRP mode: switching to BGP mode needs a restart")
	case a.bgp != nil && cfg.BGP == nil:
		return errors.New("keeping the running configuration: the new file has no bgp block and the director runs in BGP mode: switching to VRRP mode needs a restart")
	}
	return nil
}

// reloadBGP applies a reload's VIP set: a VIP gone is withdrawn at once
// (its services are gone too) and taken off lo, a new one put on lo and
// looked at. The speaker and the Announcer keep the block they started
// with: a change of it is logged, for the next restart.
func (a *App) reloadBGP(cfg *config.Config) {
	b := a.bgp
	if b == nil || cfg.BGP == nil {
		return
	}
	vips := announcedAddrs(cfg)
	var gone, added []netip.Addr
	for _, v := range b.vips {
		if !slices.Contains(vips, v) {
			gone = append(gone, v)
		}
	}
	for _, v := range vips {
		if !slices.Contains(b.vips, v) {
			added = append(added, v)
		}
	}
	for _, v := range gone {
		a.bgpStep(bgp.Remove{VIP: v})
		delete(b.in, v)
		a.met.BGPVIPAnnounced.DeleteLabelValues(v.String())
		if g := b.agree; g != nil {
			delete(g.gates, v)
			a.met.BGPFingerprintAgree.DeleteLabelValues(v.String())
		}
	}
	var errs []error
	if n := a.static; n != nil && len(gone) > 0 {
		errs = append(errs, n.RemoveVIPs(loVIPs(gone)))
		b.onLo = slices.DeleteFunc(b.onLo, func(v netip.Addr) bool { return slices.Contains(gone, v) })
	}
	if len(added) > 0 {
		if n, err := a.staticNet(); err != nil {
			errs = append(errs, err)
		} else if err := n.AddVIPs(loVIPs(added)); err != nil {
			errs = append(errs, err)
		} else {
			b.onLo = append(b.onLo, added...)
		}
	}
	if err := errors.Join(errs...); err != nil {
		a.log.Error("reload: bgp: VIPs on lo", "err", err)
	}
	if len(gone)+len(added) > 0 {
		a.log.Info("reload: bgp VIPs changed", "added", len(added), "removed", len(gone))
	}
	b.vips = vips
	b.dirty, b.agreeDirty = true, true
	a.reloadAgreement(cfg)
	if !sameSpeaker(b.cfg, cfg.BGP) {
		a.log.Warn("reload: bgp: local_as, router_id, listen_port, graceful_shutdown_wait, communities and peers take effect at the next restart")
	}
}

// sameSpeaker reports whether x and y start the same speaker and
// Announcer (everything but the VIPs and positions).
func sameSpeaker(x, y *config.BGP) bool {
	if x.LocalAS != y.LocalAS || x.RouterID != y.RouterID || x.ListenPort != y.ListenPort ||
		x.GracefulShutdownWait != y.GracefulShutdownWait || !slices.Equal(x.Communities, y.Communities) || len(x.Peers) != len(y.Peers) {
		return false
	}
	for i := range x.Peers {
		p, q := x.Peers[i], y.Peers[i]
		p.Pos, q.Pos = config.Pos{}, config.Pos{}
		if p != q {
			return false
		}
	}
	return true
}

// drainSelf is `drain --self` (on) and `undrain --self`.
func (a *App) drainSelf(on bool) (control.DrainSelfResult, error) {
	if a.bgp == nil {
		return control.DrainSelfResult{}, errors.New("drain --self withdraws this director's BGP routes: this director is not in BGP mode (no bgp block); in VRRP mode use `failover`")
	}
	a.log.Info("bgp: drain --self", "on", on)
	a.bgp.drain = on
	a.met.BGPDraining.WithLabelValues().Set(metrics.B2F(on || a.bgp.stop))
	a.bgpStep(bgp.DrainSelf{On: on})
	st := a.bgpStatus()
	return control.DrainSelfResult{Draining: on, VIPs: st.VIPs}, nil
}

// bgpStatus is BGP mode's part of status, nil without it.
func (a *App) bgpStatus() *control.BGPStatus {
	b := a.bgp
	if b == nil {
		return nil
	}
	st := &control.BGPStatus{LocalAS: b.cfg.LocalAS, RouterID: b.cfg.RouterID.String(), Draining: b.drain, FingerprintGate: a.bgpGateSummary()}
	st.Agreement = a.bgpAgreementStatus()
	for _, v := range b.ann.Status() {
		st.VIPs = append(st.VIPs, control.BGPVIPStatus{VIP: v.VIP.String(), State: v.State.String(), Why: v.Why, Until: v.Until})
	}
	for _, p := range b.peers {
		st.Peers = append(st.Peers, control.BGPPeerStatus{Address: p.Addr.String(), AS: p.AS, State: p.State, Established: p.Established, Since: p.Since})
	}
	return st
}

// bgpWorker performs the queued actions on the speaker until the queue is
// closed and empty.
func (a *App) bgpWorker(b *bgpMode) {
	defer close(b.done)
	for {
		acts, closed := b.q.take()
		for _, act := range acts {
			ctx, cancel := context.WithTimeout(context.Background(), bgpOpTimeout)
			var err error
			label := "withdraw"
			switch act := act.(type) {
			case bgp.Announce:
				label = "announce"
				if act.GracefulShutdown {
					label = "graceful_shutdown"
				}
				err = b.spk.Announce(ctx, bgp.Route{Prefix: act.Prefix, Communities: act.Communities})
			case bgp.Withdraw:
				err = b.spk.Withdraw(ctx, act.Prefix)
			}
			cancel()
			if err != nil {
				a.log.Error("bgp: speaker", "action", act.String(), "err", err)
				continue
			}
			a.met.BGPAnnouncements.WithLabelValues(label).Inc()
		}
		if closed && len(acts) == 0 {
			return
		}
	}
}

// bgpQueue hands the Announcer's actions to the worker: the last action
// of each prefix, in the order the prefixes were first queued. It holds at
// most one action per VIP.
type bgpQueue struct {
	mu      sync.Mutex
	order   []netip.Prefix
	pending map[netip.Prefix]bgp.Action
	closed  bool
	wake    chan struct{}
}

func newBGPQueue() *bgpQueue {
	return &bgpQueue{pending: map[netip.Prefix]bgp.Action{}, wake: make(chan struct{}, 1)}
}

func (q *bgpQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *bgpQueue) push(p netip.Prefix, act bgp.Action) {
	q.mu.Lock()
	if _, ok := q.pending[p]; !ok {
		q.order = append(q.order, p)
	}
	q.pending[p] = act
	q.mu.Unlock()
	q.signal()
}

func (q *bgpQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// take waits for actions (or the close) and takes them all.
func (q *bgpQueue) take() ([]bgp.Action, bool) {
	for {
		q.mu.Lock()
		if len(q.order) > 0 || q.closed {
			acts := make([]bgp.Action, 0, len(q.order))
			for _, p := range q.order {
				acts = append(acts, q.pending[p])
			}
			q.order, q.pending = q.order[:0], map[netip.Prefix]bgp.Action{}
			closed := q.closed
			q.mu.Unlock()
			return acts, closed
		}
		q.mu.Unlock()
		<-q.wake
	}
}

// bgpWarnEvery is the least time between two warnings of one VIP's
// directors disagreeing.
const bgpWarnEvery = 30 * time.Second

// bgpAgree is the fingerprint agreement with the other directors at run
// time; owned by the main loop.
type bgpAgree struct {
	drv    *agree.Driver
	ag     *agree.Agreement
	key    string // what drv was built from (agreeKey)
	cancel context.CancelFunc
	done   chan struct{}
	gates  map[netip.Addr]agree.Gate // last given to the Announcer
	warned map[netip.Addr]time.Time
	due    time.Time // the Agreement's deadline, as last computed
}

// agreeKeys are the agreement's keys: it is sealed with the directors'
// key of the cluster secret (hbproto.DeriveDirectorKey, which real servers
// never hold) and accepts that of the previous secret during a rotation.
func agreeKeys(secret, previous []byte) (send []byte, accept [][]byte) {
	send = hbproto.DeriveDirectorKey(secret)
	if len(previous) > 0 {
		accept = append(accept, hbproto.DeriveDirectorKey(previous))
	}
	return send, accept
}

// agreeKey is what an agreement driver is built from but its peers: a
// reload rebuilds the driver only when it changed.
func agreeKey(cfg *config.Config, key, previous []byte) string {
	return fmt.Sprintf("%s|%d|%s|%s|%x|%x", cfg.BGP.AgreementAddress, cfg.BGP.AgreementPort, cfg.NodeName(), cfg.Heartbeat.Window,
		sha256.Sum256(key), sha256.Sum256(previous))
}

func directorAddrs(b *config.BGP) []netip.Addr {
	out := make([]netip.Addr, 0, len(b.Directors))
	for _, d := range b.Directors {
		out = append(out, d.Addr)
	}
	return out
}

// agreeWanted reports whether cfg asks for the agreement and it can run
// (it is sealed with the heartbeat key).
func (a *App) agreeWanted(cfg *config.Config) bool {
	if cfg.BGP == nil || len(cfg.BGP.Directors) == 0 {
		return false
	}
	if a.hbKey == nil {
		a.warn("bgp.directors: no heartbeat key to seal the fingerprint agreement with: it is off, each VIP is announced once its own services are programmed")
		return false
	}
	return true
}

// startAgreement starts the agreement when cfg asks for it: the driver's
// socket bound, the Agreement started now, the driver running.
func (a *App) startAgreement(cfg *config.Config) error {
	b := a.bgp
	if !a.agreeWanted(cfg) {
		return nil
	}
	previous, err := previousKey(cfg)
	if err != nil {
		a.log.Warn("bgp: agreement: heartbeat.previous_key_file unreadable: messages sealed with it are refused", "err", err)
	}
	send, accept := agreeKeys(a.hbKey, previous)
	peers := directorAddrs(cfg.BGP)
	drv, err := agree.NewDriver(agree.Options{
		Local: netip.AddrPortFrom(cfg.BGP.AgreementAddress, uint16(cfg.BGP.AgreementPort)), Port: uint16(cfg.BGP.AgreementPort),
		Peers: peers, Node: a.node, Key: send, AcceptKeys: accept, Window: cfg.Heartbeat.Window,
		Clock: a.opts.Clock, Logger: a.log.With("subsystem", "bgp-agreement"),
	})
	if err != nil {
		return fmt.Errorf("%s: bgp.directors: %w", cfg.BGP.Pos, err)
	}
	ctx, cancel := context.WithCancel(a.runCtx)
	g := &bgpAgree{drv: drv, ag: agree.NewAgreement(agree.Config{}, a.now(), peers), key: agreeKey(cfg, a.hbKey, previous),
		cancel: cancel, done: make(chan struct{}), gates: map[netip.Addr]agree.Gate{}, warned: map[netip.Addr]time.Time{}}
	b.agree, b.agreeDirty = g, true
	go func() {
		defer close(g.done)
		if err := drv.Run(ctx); err != nil {
			a.log.Error("bgp: agreement stopped", "err", err)
		}
	}()
	a.log.Info("bgp: fingerprint agreement running", "listen", drv.LocalAddr().String(), "directors", len(peers),
		"interval", agree.DefaultInterval.String(), "grace", agree.DefaultGrace.String())
	return nil
}

// stopAgreement stops the driver and forgets the gates' series.
func (a *App) stopAgreement() {
	b := a.bgp
	if b == nil || b.agree == nil {
		return
	}
	g := b.agree
	g.cancel()
	<-g.done
	for v := range g.gates {
		a.met.BGPFingerprintAgree.DeleteLabelValues(v.String())
	}
	b.agree = nil
}

// reloadAgreement applies a reload's bgp.directors: started, stopped (the
// gate of every VIP opens, as without), rebuilt when its socket, name or
// keys changed, else given the new directors at once.
func (a *App) reloadAgreement(cfg *config.Config) {
	b := a.bgp
	want := a.agreeWanted(cfg)
	g := b.agree
	if g != nil && want {
		previous, _ := previousKey(cfg)
		if agreeKey(cfg, a.hbKey, previous) == g.key {
			peers := directorAddrs(cfg.BGP)
			g.drv.SetPeers(peers)
			g.ag.SetPeers(peers)
			b.agreeDirty = true
			a.log.Info("reload: bgp: agreement directors", "directors", len(peers))
			return
		}
	}
	if g != nil {
		a.stopAgreement()
		a.log.Info("reload: bgp: fingerprint agreement stopped")
	}
	if want {
		if err := a.startAgreement(cfg); err != nil {
			a.log.Error("reload: bgp: fingerprint agreement", "err", err)
		}
	}
	if b.agree == nil {
		a.bgpStep(bgp.Fingerprint{Agreed: true})
	}
	a.onBGPPeers() // the main loop's wake-up follows the new driver
}

// bgpArm sets the channel that wakes the main loop (bgpWatch): closed at
// the speaker's change spk or, with the agreement, the driver's next
// change. The caller took spk before reading the sessions.
func (a *App) bgpArm(spk <-chan struct{}) {
	b := a.bgp
	if b.disarm != nil {
		close(b.disarm)
		b.disarm = nil
	}
	if b.agree == nil {
		b.watch = spk
		return
	}
	drv := b.agree.drv.Changed()
	disarm, w := make(chan struct{}), make(chan struct{})
	b.disarm, b.watch = disarm, w
	go func() {
		select {
		case <-spk:
		case <-drv:
		case <-disarm:
			return
		}
		close(w)
	}()
	b.agreeDirty = true
}

// ownServices are this director's services of its announced VIPs for the
// agreement: key, fingerprint (the spec last written) and whether the
// VIP is announced now.
func (a *App) ownServices() []agree.Service {
	b := a.bgp
	announced := map[netip.Addr]bool{}
	for _, v := range b.ann.Status() {
		announced[v.VIP] = v.State == bgp.Announced
	}
	var out []agree.Service
	for _, s := range a.services {
		v := s.cfg.Addr.Addr()
		if s.cfg.FWMark != 0 || !slices.Contains(b.vips, v) {
			continue
		}
		pr, ok := agree.ParseProto(string(s.cfg.Protocol))
		if !ok {
			pr = agree.TCP
		}
		as := agree.Service{Key: agree.Key{Proto: pr, Addr: s.cfg.Addr}, Announcing: announced[v]}
		if fp, err := strconv.ParseUint(s.fingerprint, 16, 64); err == nil && len(s.fingerprint) == 16 {
			as.Fingerprint, as.HasFingerprint = fp, true
		}
		out = append(out, as)
	}
	return out
}

// bgpAgreeSync runs the agreement once: the peers' last messages and our
// fingerprints in, each VIP's gate to the Announcer when it changed (with
// its gauge and log line), then our message (what we announce after
// that) to the driver.
func (a *App) bgpAgreeSync() {
	b := a.bgp
	b.agreeDirty = false
	g := b.agree
	if g == nil {
		return
	}
	now := a.now()
	for _, r := range g.drv.Reports() {
		g.ag.Heard(r.Peer, r.Heard, r.Msg)
	}
	g.ag.SetOwn(b.vips, a.ownServices())
	for _, gt := range g.ag.Gates(now) {
		old, seen := g.gates[gt.VIP]
		if seen && old == gt {
			continue
		}
		g.gates[gt.VIP] = gt
		a.met.BGPFingerprintAgree.WithLabelValues(gt.VIP.String()).Set(metrics.B2F(gt.Open))
		a.logGate(g, gt, old, seen, now)
		if !seen || old.Open != gt.Open {
			a.bgpStep(bgp.Fingerprint{VIP: gt.VIP, Agreed: gt.Open})
		}
		a.markView()
	}
	g.drv.SetOwn(a.ownServices())
	g.due = g.ag.NextDeadline(now)
	b.agreeDirty = false
}

// logGate logs a VIP's gate that changed: a warning when it closed because
// a director announcing the VIP has other fingerprints (at most every
// bgpWarnEvery per VIP unless it was open), else an info line.
func (a *App) logGate(g *bgpAgree, gt, old agree.Gate, seen bool, now time.Time) {
	vip := gt.VIP.String()
	if !gt.Open && strings.HasPrefix(gt.Reason, "differs") {
		if last, ok := g.warned[gt.VIP]; ok && (!seen || !old.Open) && now.Sub(last) < bgpWarnEvery {
			return
		}
		g.warned[gt.VIP] = now
		a.log.Warn("bgp: directors disagree on the IPVS fingerprint of a VIP: it is not announced here until they agree (what is announced stays)",
			"vip", vip, "reason", gt.Reason)
		return
	}
	a.log.Info("bgp: fingerprint gate", "vip", vip, "open", gt.Open, "reason", gt.Reason)
}

// bgpGateSummary is status's one line on the fingerprint gate.
func (a *App) bgpGateSummary() string {
	g := a.bgp.agree
	if g == nil {
		return "open: no agreement between directors (no bgp.directors)"
	}
	open := 0
	for _, gt := range g.gates {
		if gt.Open {
			open++
		}
	}
	return fmt.Sprintf("agreement with %d directors: %d of %d VIPs open", len(directorAddrs(a.cfg.BGP)), open, len(g.gates))
}

// bgpAgreementStatus is the agreement's part of status, nil without it.
func (a *App) bgpAgreementStatus() *control.BGPAgreementStatus {
	g := a.bgp.agree
	if g == nil {
		return nil
	}
	now := a.now()
	st := &control.BGPAgreementStatus{Listen: g.drv.LocalAddr().String(), Sent: g.drv.Sent(), Dropped: g.drv.Drops()}
	if len(st.Dropped) == 0 {
		st.Dropped = nil
	}
	for _, gt := range g.ag.Gates(now) {
		st.Gates = append(st.Gates, control.BGPGateStatus{VIP: gt.VIP.String(), Open: gt.Open, Reason: gt.Reason})
	}
	for _, p := range g.ag.Peers(now) {
		ds := control.BGPDirectorStatus{Address: p.Addr.String(), Node: p.Node, LastHeard: p.Heard, Fresh: p.Fresh, Agree: p.Agree, Disagree: p.Disagree}
		for _, v := range p.Announcing {
			ds.Announcing = append(ds.Announcing, v.String())
		}
		st.Directors = append(st.Directors, ds)
	}
	return st
}
