package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/script"
	"github.com/tandemlb/tandem/director/track"
	"github.com/tandemlb/tandem/director/vrrp"
)

// Tracking: the vrrp_script, vrrp_track_process and vrrp_track_file
// blocks that an instance or a sync group refers to, and the
// track_interface lines with a weight, run as one tracker each (package
// track). A tracker reports from its own goroutine into a trackBox, which
// keeps only the latest Update per tracker and wakes the main loop: a
// tracker never blocks, and nothing but the newest state is kept. The main
// loop recomputes each affected instance with track.Effective and hands the
// result to the instance's injector, which sends SetPriority and
// FaultSet/FaultCleared to the driver from a goroutine of its own.

// trackID names one tracked object.
type trackID struct {
	kind track.Kind
	name string
}

// String is the fault source name: "script chk_haproxy".
func (t trackID) String() string { return t.kind.String() + " " + t.name }

// trackInput is one track_* line of an instance as it applies: the object
// and the weight and reverse flag in force.
type trackInput struct {
	id      trackID
	weight  int
	reverse bool
}

// tracker is one running tracked object (owned by the main loop).
type tracker struct {
	id trackID
	// conf is the track.*Config it runs with; a reload restarts the
	// tracker only when it differs.
	conf   any
	cancel context.CancelFunc
	done   chan struct{}
	// last is the latest Update, have once one came.
	last track.Update
	have bool
	// refused is set for a script that enable_script_security refuses: it
	// never runs and counts as failed.
	refused string
	started time.Time
}

// trackMsg is an Update of a tracker, tagged with the tracker it came
// from so that one from a stopped tracker is ignored.
type trackMsg struct {
	from *tracker
	u    track.Update
}

// trackBox carries the trackers' Updates to the main loop without
// blocking them: the latest per tracker, and a wake-up channel of one.
type trackBox struct {
	mu      sync.Mutex
	pending map[trackID]trackMsg
	order   []trackID
	wake    chan struct{}
}

func newTrackBox() *trackBox {
	return &trackBox{pending: map[trackID]trackMsg{}, wake: make(chan struct{}, 1)}
}

func (b *trackBox) put(from *tracker, u track.Update) {
	b.mu.Lock()
	if _, ok := b.pending[from.id]; !ok {
		b.order = append(b.order, from.id)
	}
	b.pending[from.id] = trackMsg{from, u}
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *trackBox) take() []trackMsg {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]trackMsg, 0, len(b.order))
	for _, id := range b.order {
		out = append(out, b.pending[id])
	}
	clear(b.pending)
	b.order = b.order[:0]
	return out
}

// trackInputs lists what instance in tracks in cfg, with the weights in
// force: a track_* line's own weight, else the object's; the sync group's
// lines after the instance's; for a member of a group without
// global_tracking every weight counts as 0 (keepalived 2.2.7 zeroes them:
// a failure puts the group in FAULT). Weight-0 track_interface lines are
// not here: the vrrp driver watches them (VRRPConfigIn).
func trackInputs(cfg *config.Config, in *config.VRRPInstance) []trackInput {
	g := cfg.SyncGroupOf(in.Name)
	var out []trackInput
	add := func(t config.Tracking) {
		for _, r := range t.Scripts {
			if s := cfg.Script(r.Name); s != nil {
				out = append(out, refInput(track.KindScript, r, s.Weight, s.Reverse))
			}
		}
		for _, r := range t.Processes {
			if p := cfg.TrackedProcess(r.Name); p != nil {
				out = append(out, refInput(track.KindProcess, r, p.Weight, p.Reverse))
			}
		}
		for _, r := range t.Files {
			if f := cfg.TrackedFile(r.Name); f != nil {
				out = append(out, refInput(track.KindFile, r, f.Weight, f.Reverse))
			}
		}
	}
	add(in.Track)
	if g != nil {
		add(g.Track)
	}
	for _, t := range trackedInterfaces(in, g) {
		if t.Weight != 0 {
			out = append(out, trackInput{id: trackID{track.KindInterface, t.Name}, weight: t.Weight})
		}
	}
	if g != nil && !g.GlobalTracking {
		for i := range out {
			out[i].weight = 0
		}
	}
	return out
}

func refInput(k track.Kind, r config.TrackRef, weight int, reverse bool) trackInput {
	if r.WeightSet {
		weight, reverse = r.Weight, r.Reverse
	}
	return trackInput{id: trackID{k, r.Name}, weight: weight, reverse: reverse}
}

// trackerConfigs returns the configuration of every tracker cfg needs:
// the objects some instance (or its sync group) refers to.
func trackerConfigs(cfg *config.Config) (ids []trackID, confs map[trackID]any) {
	confs = map[trackID]any{}
	for i := range cfg.VRRP {
		for _, ti := range trackInputs(cfg, &cfg.VRRP[i]) {
			if _, ok := confs[ti.id]; ok || ti.id.kind == track.KindInterface {
				continue
			}
			var c any
			switch ti.id.kind {
			case track.KindScript:
				c = scriptConfig(cfg, cfg.Script(ti.id.name))
			case track.KindProcess:
				c = processConfig(cfg.TrackedProcess(ti.id.name))
			case track.KindFile:
				c = fileConfig(cfg.TrackedFile(ti.id.name))
			}
			confs[ti.id] = c
			ids = append(ids, ti.id)
		}
	}
	return ids, confs
}

// scriptConfig maps a vrrp_script: its user, else global_defs script_user
// (and group), else root (the director's own identity).
func scriptConfig(cfg *config.Config, s *config.VRRPScript) track.ScriptConfig {
	c := track.ScriptConfig{Name: s.Name, Command: s.Script, Interval: s.Interval, Timeout: s.Timeout,
		Rise: s.Rise, Fall: s.Fall, User: s.User, Group: s.Group, InitFail: s.InitFail}
	if c.User == "" {
		c.User, c.Group = cfg.ScriptUser, cfg.ScriptGroup
	}
	return c
}

func processConfig(p *config.TrackProcess) track.ProcessConfig {
	c := track.ProcessConfig{Name: p.Name, Process: p.Process, FullCommand: p.FullCommand,
		Quorum: p.Quorum, QuorumMax: p.QuorumMax, Delay: p.Delay, ForkDelay: p.ForkDelay, TermDelay: p.TermDelay}
	// The model says "exact" even without param; the tracker compares the
	// command line only when asked to, so the mode goes with a param.
	if p.Param != "" {
		c.Params = strings.Fields(p.Param)
	}
	switch m := p.ParamMatch; {
	case p.Param == "":
	case m == "exact":
		c.ParamMatch = track.ParamMatchExact
	case m == "partial":
		c.ParamMatch = track.ParamMatchPartial
	case m == "initial":
		c.ParamMatch = track.ParamMatchInitial
	}
	// keepalived's quorum 0 means "no process"; the model's 0 is that
	// (the reader's default is 1).
	if p.Quorum == 0 {
		c.Quorum = track.NoProcesses
	}
	return c
}

func fileConfig(f *config.TrackFile) track.FileConfig {
	return track.FileConfig{Name: f.Name, Path: f.File, InitFile: f.InitFile, Overwrite: f.Overwrite}
}

// startTracker starts one tracker. init applies a track_file's init_file
// (at start only, as keepalived).
func (a *App) startTracker(cfg *config.Config, id trackID, conf any, init bool) *tracker {
	t := &tracker{id: id, conf: conf, started: a.now()}
	log := a.log.With("tracker", id.String())
	report := func(u track.Update) { a.trackBox.put(t, u) }
	var run func(context.Context) error
	switch c := conf.(type) {
	case track.ScriptConfig:
		if cfg.ScriptSecurity {
			if why := scriptInsecure(c); why != "" {
				t.refused = why
				t.have = true
				t.last = track.Update{Kind: id.kind, Name: id.name, At: a.now(), OK: false, Changed: true, Reason: "refused: " + why}
				a.log.Error("vrrp_script refused by enable_script_security: it counts as failed", "script", id.name, "reason", why)
				return t
			}
		}
		run = track.NewScript(c, a.opts.TrackExec, a.opts.TrackClock, log, report).Run
	case track.ProcessConfig:
		run = track.NewProcess(c, a.opts.ProcFS, a.opts.TrackClock, log, report).Run
	case track.FileConfig:
		f := track.NewFile(c, a.opts.TrackClock, log, report)
		if init {
			if err := f.Init(); err != nil {
				a.log.Warn("vrrp_track_file: init_file failed", "file", c.Path, "err", err)
			}
		}
		run = f.Run
	default:
		return t
	}
	ctx, cancel := context.WithCancel(a.runCtx)
	t.cancel, t.done = cancel, make(chan struct{})
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(t.done)
		_ = run(ctx)
	}()
	return t
}

func (t *tracker) stop() {
	if t.cancel == nil {
		return
	}
	t.cancel()
	<-t.done
	t.cancel = nil
}

// syncTrackers makes the running trackers those cfg needs: a tracker
// whose configuration is unchanged keeps running (and its state); a
// changed one is restarted; one no longer referred to stops. It also
// (re)starts the link watcher of the weighted track_interface lines when
// their set changed. It reports whether anything changed.
func (a *App) syncTrackers(cfg *config.Config, atStart bool) bool {
	ids, confs := trackerConfigs(cfg)
	changed := false
	for id, t := range a.trackers {
		if c, ok := confs[id]; !ok || !reflect.DeepEqual(c, t.conf) || (id.kind == track.KindScript && a.securityChanged) {
			t.stop()
			delete(a.trackers, id)
			changed = true
			if ok {
				a.log.Info("tracker restarts: its configuration changed", "tracker", id.String())
			} else {
				a.log.Info("tracker stopped: no instance tracks it any more", "tracker", id.String())
			}
		}
	}
	for _, id := range ids {
		if _, ok := a.trackers[id]; ok {
			continue
		}
		a.trackers[id] = a.startTracker(cfg, id, confs[id], atStart)
		a.trackOrder = append(a.trackOrder, id)
		changed = true
	}
	a.trackOrder = slices.DeleteFunc(a.trackOrder, func(id trackID) bool { return a.trackers[id] == nil })
	slices.SortStableFunc(a.trackOrder, func(x, y trackID) int {
		return slices.Index(ids, x) - slices.Index(ids, y)
	})
	a.trackOrder = slices.Compact(a.trackOrder)

	// The weighted interfaces.
	var links []string
	for i := range cfg.VRRP {
		for _, ti := range trackInputs(cfg, &cfg.VRRP[i]) {
			if ti.id.kind == track.KindInterface && !slices.Contains(links, ti.id.name) {
				links = append(links, ti.id.name)
			}
		}
	}
	if !slices.Equal(links, a.linkNames) {
		a.stopLinks()
		a.linkNames = links
		a.startLinks()
		changed = true
	}
	return changed
}

// startLinks watches the links of the weighted track_interface lines.
func (a *App) startLinks() {
	if len(a.linkNames) == 0 {
		return
	}
	w := a.opts.Links
	if w == nil {
		w = vrrp.NetlinkLinks{}
	}
	ctx, cancel := context.WithCancel(a.runCtx)
	initial, updates, err := w.Watch(ctx, a.linkNames)
	if err != nil {
		cancel()
		a.log.Error("track_interface: cannot watch the links; they count as down", "interfaces", a.linkNames, "err", err)
		for _, n := range a.linkNames {
			a.links[n] = linkState{up: false, at: a.now(), reason: "cannot watch: " + err.Error()}
		}
		return
	}
	for _, n := range a.linkNames {
		a.links[n] = linkState{up: initial[n], at: a.now()}
	}
	done := make(chan struct{})
	a.linkStop, a.linkDone = cancel, done
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case ls, ok := <-updates:
				if !ok {
					return
				}
				a.trackBox.put(a.linkTracker, track.Update{Kind: track.KindInterface, Name: ls.Name, OK: ls.Up, At: a.now(), Changed: true})
			}
		}
	}()
}

func (a *App) stopLinks() {
	if a.linkStop != nil {
		a.linkStop()
		<-a.linkDone
		a.linkStop, a.linkDone = nil, nil
	}
	clear(a.links)
}

// linkState is a weighted tracked interface's state.
type linkState struct {
	up     bool
	at     time.Time
	reason string
}

// onTrack takes the trackers' Updates and recomputes the instances.
func (a *App) onTrack() {
	changed := false
	for _, m := range a.trackBox.take() {
		if m.from == a.linkTracker {
			if _, ok := a.links[m.u.Name]; ok {
				a.links[m.u.Name] = linkState{up: m.u.OK, at: m.u.At}
				a.log.Info("track_interface: link changed", "interface", m.u.Name, "up", m.u.OK)
				changed = true
			}
			continue
		}
		t := a.trackers[m.from.id]
		if t != m.from {
			continue // a stopped tracker's last word
		}
		prev, had := t.last, t.have
		t.last, t.have = m.u, true
		if had && prev.OK == m.u.OK && prev.Pending == m.u.Pending && prev.Value == m.u.Value {
			a.markView() // last run, reason
			continue
		}
		{
			a.log.Info("tracker changed", "tracker", t.id.String(), "ok", m.u.OK, "pending", m.u.Pending, "value", m.u.Value, "reason", m.u.Reason)
		}
		changed = true
	}
	if changed {
		a.recomputeAll()
	}
}

// input is the state of one tracked object as track.Effective takes it.
func (a *App) input(ti trackInput) track.Input {
	in := track.Input{Kind: ti.id.kind, Name: ti.id.name, Weight: ti.weight, Reverse: ti.reverse}
	if ti.id.kind == track.KindInterface {
		in.OK = a.links[ti.id.name].up
		return in
	}
	t := a.trackers[ti.id]
	switch {
	case t == nil || !t.have:
		// No verdict yet: a script is pending (keepalived's init state;
		// with init_fail it starts failed), a process or file has not been
		// read: pending too (no weight, FAULT for weight 0), a file 0.
		if c, ok := t.confOrNil().(track.ScriptConfig); ok && c.InitFail {
			return in
		}
		in.Pending = ti.id.kind != track.KindFile
	default:
		in.OK, in.Pending, in.Value = t.last.OK, t.last.Pending, t.last.Value
	}
	return in
}

func (t *tracker) confOrNil() any {
	if t == nil {
		return nil
	}
	return t.conf
}

// evaluate computes an instance's effective priority and its fault
// sources ("script chk", sorted) with the reason of each.
func (a *App) evaluate(in *instance) (uint8, []string, map[string]string) {
	inputs := make([]track.Input, len(in.track))
	for i, ti := range in.track {
		inputs[i] = a.input(ti)
	}
	prio, lines := track.Effective(in.vcfg.Priority, inputs)
	var sources []string
	why := map[string]string{}
	for _, l := range lines {
		for _, ti := range in.track {
			label := ti.id.String()
			if strings.HasPrefix(l, label+": ") {
				if !slices.Contains(sources, label) {
					sources = append(sources, label)
				}
				why[label] = strings.TrimPrefix(l, label+": ")
				break
			}
		}
	}
	slices.Sort(sources)
	return prio, sources, why
}

// recompute sets in's desired priority and faults and wakes its injector.
func (a *App) recompute(in *instance) {
	prio, faults, why := a.evaluate(in)
	if prio != in.prio || !slices.Equal(faults, in.faults) {
		a.log.Info("vrrp instance tracking", "instance", in.cfg.Name, "priority", int(prio), "base_priority", int(in.vcfg.Priority), "faults", faults)
		a.markView()
	}
	in.prio, in.faults, in.faultWhy = prio, faults, why
	if in.inj != nil {
		in.inj.set(prio, faults)
	}
}

func (a *App) recomputeAll() {
	for _, in := range a.instances {
		a.recompute(in)
	}
}

// injector hands an instance's desired effective priority and fault
// sources to its driver, as the differences from what it sent: a goroutine
// of its own does the Inject, so the main loop never waits for a driver.
type injector struct {
	drv  VRRPDriver
	wake chan struct{}

	mu       sync.Mutex
	prio     uint8
	faults   []string
	sentPrio uint8
	sent     []string
}

func newInjector(drv VRRPDriver, base uint8) *injector {
	return &injector{drv: drv, wake: make(chan struct{}, 1), prio: base, sentPrio: base}
}

func (j *injector) set(prio uint8, faults []string) {
	j.mu.Lock()
	j.prio, j.faults = prio, slices.Clone(faults)
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// events returns what must be injected to go from what was sent to what
// is wanted, and takes it as sent: cleared faults first, then the
// priority, then new faults.
func (j *injector) events() []vrrp.Event {
	j.mu.Lock()
	defer j.mu.Unlock()
	var evs []vrrp.Event
	for _, s := range j.sent {
		if !slices.Contains(j.faults, s) {
			evs = append(evs, vrrp.FaultCleared{Source: s})
		}
	}
	if j.prio != j.sentPrio {
		evs = append(evs, vrrp.SetPriority{Priority: j.prio})
	}
	for _, s := range j.faults {
		if !slices.Contains(j.sent, s) {
			evs = append(evs, vrrp.FaultSet{Source: s})
		}
	}
	j.sentPrio, j.sent = j.prio, slices.Clone(j.faults)
	return evs
}

// injectBefore is how many events a driver takes before Run
// (vrrp.Driver buffers 16); the rest wait for Run.
const injectBefore = 16

// prime injects the initial state before the driver's Run, so that it is
// applied before Startup; it returns what did not fit.
func (j *injector) prime() []vrrp.Event {
	evs := j.events()
	n := min(len(evs), injectBefore)
	for _, ev := range evs[:n] {
		_ = j.drv.Inject(context.Background(), ev)
	}
	return evs[n:]
}

// run injects the rest and every change until ctx ends.
func (j *injector) run(ctx context.Context, rest []vrrp.Event) {
	for _, ev := range rest {
		if j.drv.Inject(ctx, ev) != nil {
			return
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-j.wake:
			for _, ev := range j.events() {
				if j.drv.Inject(ctx, ev) != nil {
					return
				}
			}
		}
	}
}

// scriptInsecure is keepalived's enable_script_security check
// (check_script_secure): a script run as root must not be changeable by
// anyone else, so the file and every directory above it must be owned by
// root and not writable by group or others. It returns why it is refused,
// "" when it may run (or runs as another user).
func scriptInsecure(c track.ScriptConfig) string {
	if c.User != "" {
		u, err := user.Lookup(c.User)
		if err != nil {
			return "" // the executor refuses an unknown user with its reason
		}
		if u.Uid != "0" {
			return ""
		}
	}
	args, err := script.SplitCommand(c.Command)
	if err != nil || len(args) == 0 {
		return ""
	}
	path := args[0]
	if !strings.Contains(path, "/") {
		p, err := exec.LookPath(path)
		if err != nil {
			return ""
		}
		path = p
	}
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return ""
	}
	resolved, _ = filepath.Abs(resolved)
	for p := resolved; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Sprintf("%s: %v", p, err)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
			return fmt.Sprintf("%s is owned by uid %d, not root, and the script runs as root", p, st.Uid)
		}
		if fi.Mode().Perm()&0o022 != 0 {
			return fmt.Sprintf("%s is writable by group or others (mode %04o) and the script runs as root", p, fi.Mode().Perm())
		}
		if p == "/" || p == "." {
			return ""
		}
	}
}

// stopTrackers stops every tracker and the link watcher.
func (a *App) stopTrackers() {
	for _, t := range a.trackers {
		t.stop()
	}
	a.stopLinks()
}

// firstReadWait bounds how long the start waits for the first reading of
// the process and file trackers (they read at once; scripts are left
// pending, as keepalived's init state).
const firstReadWait = 2 * time.Second

// awaitFirstReads waits, at start, for each vrrp_track_process and
// vrrp_track_file to report once, so that their values are in the
// instances' initial priority (keepalived reads them before the instances
// start).
func (a *App) awaitFirstReads() {
	missing := func() bool {
		for _, t := range a.trackers {
			if (t.id.kind == track.KindProcess || t.id.kind == track.KindFile) && !t.have {
				return true
			}
		}
		return false
	}
	deadline := time.NewTimer(firstReadWait)
	defer deadline.Stop()
	for missing() {
		select {
		case <-a.trackBox.wake:
			a.onTrack()
		case <-deadline.C:
			a.log.Warn("trackers: no first reading yet; starting the instances with them pending")
			return
		}
	}
}

// trackerStatus lists the trackers for status, in configuration order,
// then the weighted interfaces.
func (a *App) trackerStatus() []control.TrackerStatus {
	var out []control.TrackerStatus
	for _, id := range a.trackOrder {
		t := a.trackers[id]
		if t == nil {
			continue
		}
		ts := control.TrackerStatus{Kind: id.kind.String(), Name: id.name, State: "pending"}
		if t.have {
			ts.Reason, ts.Last, ts.Value = t.last.Reason, t.last.At, t.last.Value
			switch {
			case t.last.Pending:
			case t.last.OK:
				ts.State = "OK"
			default:
				ts.State = "failed"
			}
		}
		out = append(out, ts)
	}
	for _, n := range a.linkNames {
		l := a.links[n]
		ts := control.TrackerStatus{Kind: track.KindInterface.String(), Name: n, State: "failed", Reason: l.reason, Last: l.at}
		if l.up {
			ts.State = "OK"
		} else if ts.Reason == "" {
			ts.Reason = "link down"
		}
		out = append(out, ts)
	}
	return out
}
