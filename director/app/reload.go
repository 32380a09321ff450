package app

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/reload"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/shared/logging"
)

// reload re-reads the configuration file: parse, validate, diff, apply
// only the difference. An invalid file, or one that needs what this host
// cannot give (IPVS, a heartbeat key, a port), keeps the running
// configuration untouched and is returned as the error. It returns the
// summary of the changes.
func (a *App) reload() (string, error) {
	a.reloadTimes.begin(time.Now())
	a.notify.Reloading()
	ch, err := a.reloadConfig()
	a.lastReload = a.now()
	t := &a.reloadTimes
	if err != nil {
		a.lastReloadErr = err.Error()
		a.met.Reloads.WithLabelValues("error").Inc()
		a.configMetrics(false)
		a.log.Error("reload failed; the running configuration stays in force", "err", err)
		a.statusLn = a.statusLine()
		a.notify.Ready(a.statusLn)
		return "", err
	}
	a.reloads++
	a.lastReloadErr = ""
	a.met.Reloads.WithLabelValues("ok").Inc()
	a.configMetrics(true)
	t.mark("metrics")
	a.statusLn = a.statusLine()
	a.notify.Ready(a.statusLn)
	t.mark("status")
	a.log.Info("configuration reloaded", append([]any{"path", a.configPath(), "changes", ch.String()}, t.attrs()...)...)
	return ch.String(), nil
}

// readConfig reads the configuration file with l as a reload does
// (Options.adjust applied), compares it with the running one and
// validates what changed. t has the phases: read, parse and validate
// (config.Loader's), diff, and check (what this director checks of the
// changed services); the first one begins where the Loader's Load did.
func (a *App) readConfig(l *config.Loader) (cfg *config.Config, ch config.Changes, t reloadTimes, err error) {
	t.begin(time.Now())
	cfg, err = l.Load(a.configPath())
	lt := l.Times()
	t.start = lt.Start
	t.markSplit("parse", phase{"read", lt.Read}, phase{"validate", lt.Validate})
	if err != nil {
		return nil, ch, t, err
	}
	if a.opts.adjust != nil {
		a.opts.adjust(cfg)
	}
	unchanged := l.Unchanged(a.cfg, cfg)
	ch = config.DiffUnchanged(a.cfg, cfg, unchanged)
	t.mark("diff")
	err = validateChanged(cfg, ch, unchanged)
	t.mark("check")
	return cfg, ch, t, err
}

func (a *App) reloadConfig() (config.Changes, error) {
	cfg, ch, rt, err := a.readConfig(a.opts.Loader)
	t := &a.reloadTimes
	t.add("notify", rt.start.Sub(t.last))
	for i, n := range rt.names {
		t.add(n, rt.took[i])
	}
	t.last = rt.last
	if err != nil {
		return config.Changes{}, fmt.Errorf("invalid configuration, keeping the running one:\n%w", err)
	}
	old := a.cfg
	a.markView()

	// First what can fail; nothing has changed yet.
	if err := a.bgpReloadCheck(cfg); err != nil {
		return ch, err
	}
	if len(cfg.Services) > 0 || cfg.ConnSync != nil {
		if err := a.openIPVS(cfg); err != nil {
			return ch, fmt.Errorf("keeping the running configuration: %w", err)
		}
	}
	// The heartbeat key is read again. For a keepalived.conf (heartbeatKey)
	// a key that appeared starts the listener; one that disappeared under
	// a running listener leaves it running with the key read before: agents
	// in maintenance keep being heard (turning the listener off would put
	// their real servers back), and the warning says what a restart does.
	key, hbRestart := a.hbKey, ch.Heartbeat
	missing, gone := false, false
	if cfg.Heartbeat.Enabled {
		k, miss, err := a.heartbeatKey(cfg)
		if err != nil {
			return ch, fmt.Errorf("keeping the running configuration: %w", err)
		}
		switch {
		case miss && a.hb != nil:
			k, gone = a.hbKey, true
		case miss:
			missing = true
		}
		if !bytes.Equal(k, a.hbKey) {
			hbRestart = true
		}
		key = k
	}
	wasMissing := a.hbMissing
	ffChanged := a.peerwatchChanged(cfg, key)
	t.mark("prepare")
	plan := a.planOf(old, cfg, ch, !bytes.Equal(key, a.hbKey), ffChanged)
	a.logPlan(plan)
	t.mark("plan")
	// The new listeners are bound while the old ones still serve: a port
	// in use fails the reload here, with nothing changed.
	metMove, err := a.prepareHTTP(old, cfg)
	if err != nil {
		return ch, fmt.Errorf("keeping the running configuration: %w", err)
	}
	if hbRestart {
		conn, err := a.prepareHeartbeat(old, cfg, key)
		if err != nil {
			metMove.Abort()
			return ch, fmt.Errorf("keeping the running configuration: %w", err)
		}
		oldKey := a.hbKey
		a.stopHeartbeat()
		a.hbKey, a.hbMissing = key, missing
		if err := a.startHeartbeatOn(cfg, conn); err != nil {
			a.hbKey, a.hbMissing = oldKey, wasMissing
			if rerr := a.startHeartbeat(old); rerr != nil {
				a.log.Error("reload: the old heartbeat listener could not be restored", "err", rerr)
			}
			metMove.Abort()
			return ch, fmt.Errorf("keeping the running configuration: %w", err)
		}
	}

	// From here on the new configuration is applied.
	a.hbMissing = missing
	a.heartbeatKeyNews(cfg, wasMissing, gone)
	if ch.ControlSocket {
		a.log.Warn("reload: control_socket changes take effect at the next restart", "socket", a.socket)
	}
	metMove.Commit()
	if metricsWant(cfg) == "" {
		a.metSrv = nil // stopped by the commit
	}
	if ch.Logging && a.opts.LogLevel != nil && !a.opts.LevelFromFlag {
		if lv, err := logging.ParseLevel(cfg.Logging.Level); err == nil {
			a.opts.LogLevel.Set(lv)
		}
	}
	if ch.IPVS && a.ipvs != nil {
		a.applySysctls(cfg)
	}
	a.cfg = cfg
	a.node = cfg.NodeName()
	t.mark("listeners")

	// VRRP: only the instances whose own keywords changed restart.
	for _, name := range ch.VRRPRemoved {
		if in := a.instance(name); in != nil {
			a.log.Info("reload: vrrp instance removed", "instance", name)
			a.stopInstance(in)
			a.instances = slices.DeleteFunc(a.instances, func(x *instance) bool { return x == in })
			a.met.ForgetInstance(name)
		}
	}
	// Sync groups, static entries and trackers. A group whose members
	// changed gets a new hub: its members restart to join it. A tracker
	// restarts only when its own block changed.
	a.logConfigWarnings(cfg)
	if ch.Static {
		a.applyStatic(staticOf(cfg.Static))
	}
	moved := a.syncGroups(cfg)
	a.securityChanged = old.ScriptSecurity != cfg.ScriptSecurity
	a.syncTrackers(cfg, false)
	a.securityChanged = false
	for _, in := range a.instances {
		ci := cfg.Instance(in.cfg.Name)
		if ci == nil {
			continue
		}
		vcfg, err := VRRPConfigIn(cfg, ci)
		if err != nil {
			a.log.Error("reload: vrrp instance", "instance", ci.Name, "err", err) // Validate makes this unreachable
			continue
		}
		a.applyInstanceStep(in, ci, vcfg, plan, slices.Contains(moved, ci.Name))
	}
	for _, name := range ch.VRRPAdded {
		a.log.Info("reload: vrrp instance added", "instance", name)
		if err := a.startInstance(cfg.Instance(name)); err != nil {
			a.log.Error("reload: vrrp instance cannot start; retrying", "instance", name, "err", err)
		}
	}
	a.reorderInstances(cfg)
	a.recomputeAll()
	a.syncWitness(cfg)
	a.applyPeerwatch(cfg, ffChanged)
	t.mark("vrrp")

	// Services: removed, changed, added; never a flush.
	for _, key := range ch.ServicesRemoved {
		s := a.byKey[key]
		if s == nil {
			continue
		}
		a.log.Info("reload: virtual service removed", "service", key)
		a.stopServiceCheckers(s)
		a.removeService(s)
		a.services = slices.DeleteFunc(a.services, func(x *service) bool { return x == s })
		delete(a.byKey, key)
		a.met.ForgetService(key)
	}
	changed := map[string]bool{}
	idx := cfg.ServiceIndex()
	for _, sc := range ch.ServicesChanged {
		changed[sc.Key] = true
		if s, ns := a.byKey[sc.Key], idx[sc.Key]; s != nil && ns != nil {
			a.log.Info("reload: virtual service changed", "service", sc.Key, "fields", sc.Fields,
				"rs_added", sc.RealServersAdded, "rs_removed", sc.RealServersRemoved, "rs_changed", len(sc.RealServersChanged))
			a.reconfigureService(cfg, s, ns)
		}
	}
	if ch.Drain || ch.Heartbeat {
		for _, s := range a.services {
			if !changed[s.key] {
				if ns := idx[s.key]; ns != nil {
					a.reconfigureService(cfg, s, ns)
				}
			}
		}
	}
	for _, key := range ch.ServicesAdded {
		a.log.Info("reload: virtual service added", "service", key)
		if err := a.addService(cfg, idx[key]); err != nil {
			a.log.Error("reload: virtual service", "service", key, "err", err) // Validate makes this unreachable
			continue
		}
		a.startServiceCheckers(a.byKey[key])
	}
	if ch.Tracking {
		// A check may take from outside its virtual_server (script_user,
		// a vrrp_track_file): restart those whose inputs changed.
		a.refreshCheckers()
	}
	// The kernel first: a changed weight does not wait for the
	// bookkeeping below (at 1,000 services it is milliseconds natively,
	// tens of them under emulation).
	t.mark("services")
	for _, s := range a.services {
		if s.dirty {
			a.applyService(s)
		}
	}
	t.mark("kernel")
	// Keep the config's order (look each key's position up once: a
	// comparator that scanned the list was quadratic) and the real IP
	// index, when services or real servers came or went.
	setChanged := len(ch.ServicesAdded)+len(ch.ServicesRemoved) > 0
	for _, sc := range ch.ServicesChanged {
		setChanged = setChanged || len(sc.RealServersAdded)+len(sc.RealServersRemoved) > 0
	}
	reorder := setChanged || len(a.services) != len(cfg.Services)
	for i := 0; !reorder && i < len(cfg.Services); i++ {
		reorder = a.services[i].key != cfg.Services[i].Key()
	}
	if reorder {
		order := make(map[string]int, len(cfg.Services))
		for i, v := range cfg.Services {
			order[v.Key()] = i
		}
		slices.SortStableFunc(a.services, func(x, y *service) int { return order[x.key] - order[y.key] })
	}
	if setChanged {
		a.indexServices()
	}
	t.mark("index")
	a.syncDaemons()
	t.mark("sync_daemons")
	a.reloadBGP(cfg)
	a.flush()
	t.mark("view")
	a.saveState()
	t.mark("state")
	return ch, nil
}

// heartbeatKeyNews logs what a reload found of a keepalived.conf's
// heartbeat key, and keeps the warning of a key file gone under the running
// listener for status until the file is back or the listener stops.
func (a *App) heartbeatKeyNews(cfg *config.Config, wasMissing, gone bool) {
	path := cfg.Heartbeat.KeyFile
	if a.hbGone != "" && (!gone || a.hbGone != keyGoneWarning(path)) {
		a.unwarn(a.hbGone)
		a.hbGone = ""
	}
	switch {
	case gone:
		if a.hbGone == "" {
			a.hbGone = keyGoneWarning(path)
			a.warn(a.hbGone, "path", path)
		}
	case a.hbMissing:
		a.log.Info("reload: the heartbeat key still does not exist: the agent heartbeat listener stays off", "path", path,
			"create", HeartbeatKeyCommand(path))
	case wasMissing && a.hb != nil:
		a.log.Info("reload: heartbeat key found: the agent heartbeat listener is on", "path", path)
	}
}

// keyGoneWarning says that the key file of the running listener is gone.
func keyGoneWarning(path string) string {
	return fmt.Sprintf("heartbeat key %s is gone: the agent heartbeat listener keeps the key read before; "+
		"a restart would start without the listener: put the key back (the same on every director and agent), then reload", path)
}

// reloadTimes is where the last start's or reload's time went, phase by
// phase (logged with "ready" and "configuration reloaded").
type reloadTimes = phases

// phases measures one operation (a start, a reload) as consecutive
// phases: each mark ends the phase that began at the previous mark, so
// that the phases add up to the whole; what no mark names is "other". A
// phase marked more than once accumulates.
type phases struct {
	start, last time.Time
	names       []string
	took        []time.Duration
}

// begin starts the measure at t.
func (p *phases) begin(t time.Time) { *p = phases{start: t, last: t} }

// mark ends the current phase as name.
func (p *phases) mark(name string) {
	now := time.Now()
	p.add(name, now.Sub(p.last))
	p.last = now
}

// markSplit ends the current phase as the parts whose times are known
// (from inside a call), the remainder as name.
func (p *phases) markSplit(name string, parts ...phase) {
	now := time.Now()
	rest := now.Sub(p.last)
	for _, x := range parts {
		p.add(x.name, x.took)
		rest -= x.took
	}
	p.add(name, max(rest, 0))
	p.last = now
}

// phase is one named part of a measure.
type phase struct {
	name string
	took time.Duration
}

// add counts d in phase name.
func (p *phases) add(name string, d time.Duration) {
	for i, n := range p.names {
		if n == name {
			p.took[i] += d
			return
		}
	}
	p.names = append(p.names, name)
	p.took = append(p.took, d)
}

// attrs returns the phases as log attributes (microseconds), "other" for
// the time since the last mark, and "took" for the whole.
func (p *phases) attrs() []any {
	now := time.Now()
	out := make([]any, 0, 2*len(p.names)+4)
	for i, n := range p.names {
		out = append(out, n, p.took[i].Round(time.Microsecond))
	}
	if other := now.Sub(p.last); other >= time.Microsecond {
		out = append(out, "other", other.Round(time.Microsecond))
	}
	return append(out, "took", now.Sub(p.start).Round(time.Microsecond))
}

// planOf computes the reload plan from the running configuration old to
// cfg, with the instances as they run now (director/reload). keyChanged:
// the heartbeat key changes; ffChanged: the fast-failover watcher
// restarts (peerwatchChanged).
func (a *App) planOf(old, cfg *config.Config, ch config.Changes, keyChanged, ffChanged bool) reload.Plan {
	in := reload.Input{Old: old, New: cfg, Changes: ch, HeartbeatKeyChanged: keyChanged, FastFailoverChanged: ffChanged,
		VRRPOld: map[string]vrrp.InstanceConfig{}, VRRPNew: map[string]vrrp.InstanceConfig{},
		Instances: map[string]reload.Observed{}}
	for _, x := range a.instances {
		in.VRRPOld[x.cfg.Name] = x.vcfg.WithDefaults()
		in.Instances[x.cfg.Name] = reload.Observed{Running: x.cancel != nil, State: x.state}
	}
	for i := range cfg.VRRP {
		if v, err := VRRPConfigIn(cfg, &cfg.VRRP[i]); err == nil {
			in.VRRPNew[cfg.VRRP[i].Name] = v.WithDefaults()
		}
	}
	return reload.Compute(in)
}

// logPlan logs the steps that restart something.
func (a *App) logPlan(p reload.Plan) {
	for _, s := range p.VRRP {
		if s.Action == reload.Restart {
			a.log.Info("reload: vrrp instance restarts", "instance", s.Name, "fields", s.Fields, "reason", s.Reason)
		}
	}
	for _, l := range p.Listeners {
		a.log.Info("reload: listener", "listener", l.Name, "action", l.Action, "reason", l.Reason)
	}
}

// applyInstanceStep applies the plan's step of a running instance: a
// live update (vrrp.Reconfigure: no restart, no priority-0 advert), a
// restart, or only the new tracking. moved: its sync group's hub was
// replaced, so it restarts whatever the plan says.
func (a *App) applyInstanceStep(in *instance, ci *config.VRRPInstance, vcfg vrrp.InstanceConfig, plan reload.Plan, moved bool) {
	step, ok := plan.Step(ci.Name)
	switch {
	case moved || (ok && step.Action == reload.Restart):
		a.restartInstance(in, ci, vcfg)
	case ok && step.Action == reload.Update:
		a.log.Info("reload: vrrp instance updated; it keeps running", "instance", ci.Name, "fields", step.Fields, "state", in.state.String())
		if err := a.updateInstance(in, ci, vcfg); err != nil {
			a.log.Error("reload: vrrp instance could not take the new values; it restarts", "instance", ci.Name, "err", err)
			a.restartInstance(in, ci, vcfg)
		}
	default:
		// Tracking (track_script weights, weighted track_interface
		// lines, the group's tracking) or smtp_alert only: the running
		// driver gets the new effective priority, no restart.
		if ok {
			a.log.Info("reload: vrrp instance tracking changed; it keeps running", "instance", ci.Name, "fields", step.Fields)
		}
		in.cfg = *ci
		in.track = trackInputs(a.cfg, ci)
	}
}

func (a *App) restartInstance(in *instance, ci *config.VRRPInstance, vcfg vrrp.InstanceConfig) {
	a.stopInstance(in)
	in.cfg, in.vcfg = *ci, vcfg
	if err := a.runInstance(in); err != nil {
		a.log.Error("reload: vrrp instance cannot start; retrying", "instance", ci.Name, "err", err)
	}
}

// beginStart begins the measure of the start (logged with "ready"): its
// first phases are the Loader's read of the configuration, before Run
// (read, parse, validate), then "load_to_run" until Run began.
func (a *App) beginStart() {
	now := time.Now()
	t := &a.reloadTimes
	lt := a.opts.Loader.Times()
	if lt.Start.IsZero() || lt.Start.After(now) {
		t.begin(now)
		return
	}
	t.begin(lt.Start)
	t.markSplit("load_to_run", phase{"read", lt.Read}, phase{"parse", lt.Parse}, phase{"validate", lt.Validate})
}

// markReconcile ends the current phase of the start as the first
// reconciliation's parts (lvs.Times: "plan" with the desired state's
// validation, "kernel_read" and "kernel"), the rest as "reconcile".
func (a *App) markReconcile() {
	var lt lvs.Times
	if a.rec != nil {
		lt = a.rec.LastTimes()
	}
	a.reloadTimes.markSplit("reconcile", phase{"plan", lt.Validate + lt.Plan}, phase{"kernel_read", lt.Read}, phase{"kernel", lt.Write})
}
