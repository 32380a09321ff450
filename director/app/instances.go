package app

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/shared/hbproto"
)

const vrrpMaster = vrrp.StateMaster

// restartAfter is how long a VRRP instance that failed stays down before
// it is started again (an interface that appears later, say).
const restartAfter = 5 * time.Second

// instance is one vrrp_instance at run time.
type instance struct {
	cfg  config.VRRPInstance
	vcfg vrrp.InstanceConfig
	drv  VRRPDriver

	cancel context.CancelFunc
	done   chan struct{}

	// tap holds the states notified by the driver, in order, until the
	// main loop takes them.
	tap *stateTap

	// keeper holds the VIPs a previous run left, nil if none.
	keeper *keepAddrs

	// Tracking (tracking.go): the track_* lines in force, the desired
	// effective priority and fault sources (with why), and the injector
	// that hands them to the running driver.
	track    []trackInput
	prio     uint8
	faults   []string
	faultWhy map[string]string
	inj      *injector

	// Owned by the main loop.
	state    vrrp.State
	since    time.Time
	err      error
	failedAt time.Time
	mailed   vrrp.State // the last state an e-mail alert was queued for
}

// stateTap sits between a driver and its notify scripts: it runs the
// scripts and records every state the instance enters, then wakes the
// main loop (the driver's Status is updated only after its notifier ran).
type stateTap struct {
	inner vrrp.Notifier
	wake  chan<- struct{}

	mu      sync.Mutex
	pending []vrrp.State
}

// Notify implements vrrp.Notifier.
func (t *stateTap) Notify(s vrrp.State, prio uint8) {
	t.mu.Lock()
	t.pending = append(t.pending, s)
	t.mu.Unlock()
	if t.inner != nil {
		t.inner.Notify(s, prio)
	}
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *stateTap) take() []vrrp.State {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pending
	t.pending = nil
	return p
}

// instanceDone says a driver returned on its own (it could not start, or
// failed).
type instanceDone struct {
	in  *instance
	drv VRRPDriver
	err error
}

func (instanceDone) isEvent() {}

func (a *App) instance(name string) *instance {
	for _, in := range a.instances {
		if in.cfg.Name == name {
			return in
		}
	}
	return nil
}

// startInstance maps a vrrp_instance and starts its driver.
func (a *App) startInstance(ci *config.VRRPInstance) error {
	vcfg, err := VRRPConfigIn(a.cfg, ci)
	if err != nil {
		return err
	}
	in := &instance{cfg: *ci, vcfg: vcfg}
	a.instances = append(a.instances, in)
	return a.runInstance(in)
}

// runInstance starts in's driver in a goroutine of its own.
func (a *App) runInstance(in *instance) error {
	log := a.log.With("instance", in.cfg.Name)
	scripts := vrrp.NewScriptNotifier(in.vcfg.WithDefaults(), log, 0)
	tap := &stateTap{inner: scripts, wake: a.vrrpChanged}
	newDrv := a.opts.NewVRRP
	if newDrv == nil {
		newDrv = func(cfg vrrp.InstanceConfig, opts vrrp.Options) (VRRPDriver, error) { return vrrp.NewDriver(cfg, opts) }
	}
	opts := vrrp.Options{Logger: a.log, Notifier: tap, Sync: a.hubOf(in.cfg.Name), DropLog: a.vrrpDrops, Clock: a.opts.Clock,
		OnRelease: a.onRelease}
	// A yield outlives a restart of the instance (a reload that restarts
	// it, a retry after a failure), not one of the director.
	if in.drv != nil && in.drv.Status().Yielding {
		opts.Yield = true
		log.Info("vrrp: the instance yielded before its restart and goes on yielding")
	}
	in.keeper = nil
	vips := in.vcfg.WithDefaults().VIPs
	if present := a.vipsPresent(vips); len(present) > 0 {
		if na, err := a.opts.Interfaces.OpenAddrs(); err == nil {
			in.keeper = &keepAddrs{inner: na, vips: vips, keeping: true}
			opts.Addrs = in.keeper
			log.Info("vrrp: VIPs left by a previous run stay until this instance is MASTER or hears another master", "vips", present)
		}
	}
	drv, err := newDrv(in.vcfg, opts)
	if err != nil {
		in.err, in.failedAt = err, a.now()
		if in.keeper != nil {
			in.keeper.inner.Close()
		}
		return fmt.Errorf("%s: vrrp_instance %s: %w", in.cfg.Pos, in.cfg.Name, err)
	}
	keeper := in.keeper
	scripts.Start()
	// The tracked state before Run: the driver applies it before Startup,
	// so a failing weight-0 script starts the instance in FAULT.
	in.track = trackInputs(a.cfg, &in.cfg)
	inj := newInjector(drv, in.vcfg.Priority)
	in.inj = inj
	a.recompute(in)
	rest := inj.prime()
	ctx, cancel := context.WithCancel(a.runCtx)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		inj.run(ctx, rest)
	}()
	done := make(chan struct{})
	in.drv, in.tap, in.cancel, in.done, in.err = drv, tap, cancel, done, nil
	in.state, in.since = vrrp.StateInit, a.now()
	a.publishVRRPMetrics()
	defer a.rebindPeerwatch()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		err := drv.Run(ctx)
		if keeper != nil {
			if ok, rerr := keeper.release(); ok {
				log.Info("vrrp: VIPs kept from the previous run released on stop", "err", rerr)
			}
			keeper.inner.Close()
		}
		scripts.Close()
		close(done)
		if ctx.Err() == nil {
			if err == nil {
				err = fmt.Errorf("vrrp driver returned")
			}
			select {
			case a.events <- instanceDone{in: in, drv: drv, err: err}:
			case <-a.runCtx.Done():
			}
		}
	}()
	return nil
}

// stopInstance stops a driver: a master releases its VIPs and sends
// priority 0, so the peer takes over within its skew time.
func (a *App) stopInstance(in *instance) {
	if in.cancel == nil {
		return
	}
	in.cancel()
	select {
	case <-in.done:
	case <-time.After(5 * time.Second):
		a.log.Warn("vrrp instance did not stop within 5s", "instance", in.cfg.Name)
	}
	in.cancel, in.inj = nil, nil
	a.publishVRRPMetrics()
	a.takeStates(in)
	a.rebindPeerwatch()
}

func (a *App) onInstanceDone(e instanceDone) {
	in := e.in
	if in.drv != e.drv {
		return // an older driver
	}
	a.takeStates(in)
	in.inj = nil
	in.err, in.failedAt, in.cancel = a.explainInstanceErr(&in.cfg, e.err), a.now(), nil
	a.publishVRRPMetrics()
	a.setState(in, vrrp.StateInit)
	a.markView() // the status line says FAILED
	a.rebindPeerwatch()
	a.log.Error("vrrp instance failed; retrying in 5s", "instance", in.cfg.Name, "interface", in.cfg.Interface, "err", in.err)
}

// restartFailedInstances starts again the instances that failed more than
// restartAfter ago (the main loop's alarm comes then: retryAt).
func (a *App) restartFailedInstances() {
	for _, in := range a.instances {
		if in.err == nil || in.cancel != nil || a.now().Sub(in.failedAt) < restartAfter {
			continue
		}
		if err := a.runInstance(in); err != nil {
			a.log.Error("vrrp instance cannot start", "instance", in.cfg.Name, "err", err)
		}
		a.markView()
	}
}

// onVRRP takes the states the drivers entered, and makes the sync daemons
// follow.
func (a *App) onVRRP() {
	for _, in := range a.instances {
		a.takeStates(in)
	}
	a.refreshHandOver()
	a.checkGroups()
	a.checkKeepers()
	a.syncDaemons()
}

func (a *App) takeStates(in *instance) {
	if in.tap == nil {
		return
	}
	for _, s := range in.tap.take() {
		a.setState(in, s)
	}
}

func (a *App) setState(in *instance, s vrrp.State) {
	a.met.VRRPState.WithLabelValues(in.cfg.Name).Set(float64(s))
	if s == in.state {
		return
	}
	a.met.VRRPTransitions.WithLabelValues(in.cfg.Name, s.String()).Inc()
	a.markView()
	a.mailTransition(in, in.state, s)
	in.state, in.since = s, a.now()
}

// roleOf maps a VRRP state onto the heartbeat's role.
func roleOf(s vrrp.State) hbproto.Role {
	switch s {
	case vrrp.StateMaster:
		return hbproto.RoleMaster
	case vrrp.StateBackup:
		return hbproto.RoleBackup
	case vrrp.StateFault:
		return hbproto.RoleFault
	}
	return hbproto.RoleUnknown
}

// role is the director's role as agents and status see it: master without
// VRRP (a lone director carries the traffic); the lvs_sync_daemon
// instance's role when one is named; otherwise the best of the instances
// (master, then backup, then fault).
func (a *App) role() hbproto.Role {
	if len(a.instances) == 0 {
		return hbproto.RoleMaster
	}
	if cs := a.cfg.ConnSync; cs != nil && cs.Instance != "" {
		if in := a.instance(cs.Instance); in != nil {
			return roleOf(in.state)
		}
	}
	rank := map[hbproto.Role]int{hbproto.RoleUnknown: 0, hbproto.RoleFault: 1, hbproto.RoleBackup: 2, hbproto.RoleMaster: 3}
	best := hbproto.RoleUnknown
	for _, in := range a.instances {
		if r := roleOf(in.state); rank[r] > rank[best] {
			best = r
		}
	}
	return best
}

// reorderInstances puts the instances in configuration order.
func (a *App) reorderInstances(cfg *config.Config) {
	slices.SortStableFunc(a.instances, func(x, y *instance) int {
		return slices.IndexFunc(cfg.VRRP, func(v config.VRRPInstance) bool { return v.Name == x.cfg.Name }) -
			slices.IndexFunc(cfg.VRRP, func(v config.VRRPInstance) bool { return v.Name == y.cfg.Name })
	})
}

// keepAddrs is the AddrManager of an instance that starts with some of its
// VIPs already on their interfaces: a run killed while MASTER left them,
// and the kernel kept serving the VIP through IPVS. A VRRP start-up
// removes them first (keepalived does too), which would drop every request
// until Master_Down_Interval (3.6 s) makes the instance MASTER again.
// keepAddrs skips that removal and keeps the addresses until the instance
// becomes MASTER (it keeps them: no gap at all) or hears another master,
// goes to FAULT or stops (then they are removed). It sends no gratuitous
// ARP while keeping, so a peer that took over meanwhile keeps the clients.
type keepAddrs struct {
	inner AddrCloser
	vips  []vrrp.VIP

	mu      sync.Mutex
	keeping bool
}

// AddVIPs implements vrrp.AddrManager: MASTER; the addresses are its own
// again.
func (k *keepAddrs) AddVIPs(v []vrrp.VIP) error {
	k.mu.Lock()
	k.keeping = false
	k.mu.Unlock()
	return k.inner.AddVIPs(v)
}

// RemoveVIPs implements vrrp.AddrManager; skipped while keeping.
func (k *keepAddrs) RemoveVIPs(v []vrrp.VIP) error {
	k.mu.Lock()
	keeping := k.keeping
	k.mu.Unlock()
	if keeping {
		return nil
	}
	return k.inner.RemoveVIPs(v)
}

// release removes the kept addresses; it reports whether it did.
func (k *keepAddrs) release() (bool, error) {
	k.mu.Lock()
	if !k.keeping {
		k.mu.Unlock()
		return false, nil
	}
	k.keeping = false
	vips := k.vips
	k.mu.Unlock()
	return true, k.inner.RemoveVIPs(vips)
}

func (k *keepAddrs) isKeeping() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keeping
}

// checkKeepers releases the addresses an instance kept from a previous run
// as soon as it is not on its way to MASTER: another master was heard, or
// it is in FAULT.
func (a *App) checkKeepers() {
	for _, in := range a.instances {
		if in.keeper == nil || !in.keeper.isKeeping() || in.drv == nil {
			continue
		}
		st := in.drv.Status()
		other := st.Master.IsValid() && st.Master != st.Src && st.State != vrrp.StateMaster
		if !other && st.State != vrrp.StateFault && st.State != vrrp.StateStop {
			continue
		}
		if ok, err := in.keeper.release(); ok {
			a.log.Info("vrrp: VIPs kept from the previous run released", "instance", in.cfg.Name, "master", st.Master.String(), "state", st.State.String(), "err", err)
		}
	}
}

// Reconfigure implements vrrp.Reconfigurer: the notify scripts of a reload.
func (t *stateTap) Reconfigure(c vrrp.InstanceConfig) {
	if r, ok := t.inner.(vrrp.Reconfigurer); ok {
		r.Reconfigure(c)
	}
}

// updateInstance gives a running instance the new values of a reload
// (vrrp.Reconfigure): it keeps its state, a master its VIPs. The injector
// then sends the effective priority again, whatever it sent before. An
// instance that is not running only takes the values: its retry starts
// with them.
func (a *App) updateInstance(in *instance, ci *config.VRRPInstance, vcfg vrrp.InstanceConfig) error {
	in.cfg, in.vcfg = *ci, vcfg
	in.track = trackInputs(a.cfg, ci)
	if in.cancel == nil || in.drv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(a.runCtx, time.Second)
	defer cancel()
	if err := in.drv.Inject(ctx, vrrp.Reconfigure{Config: vcfg}); err != nil {
		return err
	}
	if in.keeper != nil {
		in.keeper.mu.Lock()
		in.keeper.vips = vcfg.WithDefaults().VIPs
		in.keeper.mu.Unlock()
	}
	if j := in.inj; j != nil {
		j.mu.Lock()
		j.sentPrio = 0 // the machine moved its priority by the base's change: set it exactly
		j.mu.Unlock()
	}
	a.rebindPeerwatch()
	return nil
}
