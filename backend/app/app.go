package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemlb/tandem/backend/arpguard"
	"github.com/tandemlb/tandem/backend/config"
	"github.com/tandemlb/tandem/backend/health"
	"github.com/tandemlb/tandem/backend/heartbeat"
	"github.com/tandemlb/tandem/backend/maintenance"
	"github.com/tandemlb/tandem/backend/vip"
	"github.com/tandemlb/tandem/shared/clock"
	"github.com/tandemlb/tandem/shared/ctlsock"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/sdnotify"
	"github.com/tandemlb/tandem/shared/version"
)

// Options are the daemon's inputs besides the configuration.
type Options struct {
	// Log is the logger.
	Log *slog.Logger
	// LogLevel, if set, is updated from log.level on reload.
	LogLevel *slog.LevelVar
	// Notifier talks to systemd; nil means none.
	Notifier sdnotify.Notifier
	// Socket overrides the control socket path (tests); empty means the
	// configuration's runtime dir.
	Socket string
	// Edges are the kernel and OS touches; the zero value means the real
	// ones (tests pass fakes).
	Edges Edges
	// Clock times the main loop, the heartbeats and the control socket's
	// waits; nil means the system clock.
	Clock clock.Clock
}

// App is the daemon.
type App struct {
	log    *slog.Logger
	level  *slog.LevelVar
	notify sdnotify.Notifier
	socket string
	edges  Edges
	clock  clock.Clock
	start  time.Time
	met    *Metrics

	// Set by New or the main loop; read by handlers under mu.
	mu       sync.Mutex
	cfg      *config.Config
	host     Host
	insecure bool
	snap     snapshot

	vips  *vip.Manager
	guard *arpguard.Guard
	hb    *heartbeat.Agent

	// Owned by the main loop.
	tracker   *health.Tracker
	probe     health.Probe
	runner    *health.Runner
	procWatch *health.ProcessWatch // nil without health.process
	probeStop context.CancelFunc
	maint     maintenance.State
	store     maintenance.Store
	checkSrv  *http.Server // under mu
	checkAddr string       // under mu
	checkH    atomic.Pointer[http.Handler]
	metSrv    *http.Server // under mu
	metAddr   string       // under mu
	dbg       debugServer  // debug.pprof (pprof.go)
	statusLn  string

	verdict atomic.Pointer[health.Verdict]
	results chan health.Result
	cmds    chan command
	wg      sync.WaitGroup
}

type snapshot struct {
	health HealthStatus
	maint  maintenance.State
}

type command struct {
	op     string
	reason string
	reply  chan cmdResult
}

type cmdResult struct {
	state maintenance.State
	err   error
}

// New returns the daemon for cfg. It does no I/O.
func New(cfg *config.Config, opts Options) *App {
	n := opts.Notifier
	if n == nil {
		n = sdnotify.New(opts.Log)
	}
	sock := opts.Socket
	if sock == "" {
		sock = cfg.ControlSocket()
	}
	return &App{
		log:     opts.Log,
		level:   opts.LogLevel,
		notify:  n,
		socket:  sock,
		edges:   opts.Edges.withDefaults(opts.Log),
		clock:   clock.Or(opts.Clock),
		cfg:     cfg,
		met:     NewMetrics(),
		results: make(chan health.Result),
		cmds:    make(chan command),
		store:   maintenance.Store{Dir: cfg.StateDir},
	}
}

// LoadKey returns the heartbeat key for cfg: nil without directors. Without
// a usable key file it fails, unless heartbeat.insecure is set: then a key
// file that is merely too open is used anyway, and a missing or short one
// disables heartbeats; both are logged as warnings.
func LoadKey(cfg *config.Config, log *slog.Logger) (key []byte, insecure bool, err error) {
	if len(cfg.Directors) == 0 {
		return nil, false, nil
	}
	return loadKeyFile(cfg.Heartbeat.KeyFile, cfg.Heartbeat.Insecure, log)
}

// LoadKey6 returns the key of the IPv6 identity: heartbeat.key_file6's,
// nil when it is not set or no IPv6 director is listed (then the key of
// key_file serves both identities, as the legacy cluster key does). The
// same rules as LoadKey apply to the file.
func LoadKey6(cfg *config.Config, log *slog.Logger) (key []byte, insecure bool, err error) {
	if cfg.Heartbeat.KeyFile6 == "" || !cfg.HasIPv6Directors() {
		return nil, false, nil
	}
	return loadKeyFile(cfg.Heartbeat.KeyFile6, cfg.Heartbeat.Insecure, log)
}

// loadKeys returns both keys (LoadKey, LoadKey6).
func loadKeys(cfg *config.Config, log *slog.Logger) (key, key6 []byte, insecure bool, err error) {
	key, insecure, err = LoadKey(cfg, log)
	if err != nil {
		return nil, nil, false, err
	}
	key6, insecure6, err := LoadKey6(cfg, log)
	if err != nil {
		return nil, nil, false, err
	}
	return key, key6, insecure || insecure6, nil
}

func loadKeyFile(path string, insecureOK bool, log *slog.Logger) (key []byte, insecure bool, err error) {
	key, err = hbproto.LoadKey(path)
	if err == nil {
		return key, false, nil
	}
	if !insecureOK {
		return nil, false, fmt.Errorf("heartbeat key %s: %w (fix the file, or set heartbeat.insecure: true to start anyway)", path, err)
	}
	f, oerr := os.Open(path)
	if oerr == nil {
		b, _ := io.ReadAll(io.LimitReader(f, hbproto.MaxKeyFileSize))
		f.Close()
		b = bytes.TrimRight(b, " \t\r\n")
		if len(b) >= hbproto.MinKeySize {
			log.Warn("INSECURE: heartbeat.insecure is set: using a heartbeat key file that others may read; anyone who can read it can forge heartbeats",
				"path", path, "err", err)
			return b, true, nil
		}
	}
	log.Warn("INSECURE: heartbeat.insecure is set and there is no usable heartbeat key: heartbeats are DISABLED; the directors will not see maintenance or health from this agent",
		"path", path, "err", err)
	return nil, true, nil
}

func guardSettings(cfg *config.Config, h Host) arpguard.Settings {
	return arpguard.Settings{
		NFTables:  cfg.ARPMode.UsesNFTables(),
		Sysctl:    cfg.ARPMode.UsesSysctl(),
		Interface: h.Interface,
		Spec:      arpguard.Spec{Table: cfg.NFTTable, VIPs: cfg.VIPs, RealIP: h.RealIP},
	}
}

func hbSettings(cfg *config.Config, h Host, key, key6 []byte) heartbeat.Settings {
	return heartbeat.Settings{Key: key, Key6: key6, Interval: cfg.Heartbeat.Interval, Targets: cfg.Directors, RealIP: h.RealIP, RealIP6: h.RealIP6}
}

// Run starts everything, signals READY, and runs the main loop until ctx
// ends (SIGTERM). SIGHUP reloads the configuration.
func (a *App) Run(ctx context.Context) error {
	a.start = a.clock.Now()
	cfg := a.cfg
	nl, err := a.edges.OpenNetlink()
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer nl.Close()
	host, err := Resolve(cfg, nl)
	if err != nil {
		return err
	}
	key, key6, insecure, err := loadKeys(cfg, a.log)
	if err != nil {
		return err
	}
	flag, err := a.store.Load()
	if err != nil {
		return err
	}
	a.maint = maintenance.FromFlag(flag)
	// The listeners are bound before anything is put on the host: a port
	// in use fails the start and changes nothing.
	var checkLn, metLn, dbgLn net.Listener
	defer func() {
		for _, ln := range []net.Listener{checkLn, metLn, dbgLn} {
			if ln != nil {
				ln.Close() // bound but never served: the start failed
			}
		}
	}()
	if addr := checkWant(cfg); addr != "" {
		if checkLn, err = listenAt(cfg, keyCheckListen, addr); err != nil {
			return err
		}
	}
	if cfg.Metrics.Listen != "" {
		if metLn, err = listenAt(cfg, keyMetricsListen, cfg.Metrics.Listen); err != nil {
			return err
		}
	}
	if cfg.Debug.PProf != "" {
		if dbgLn, err = listenDebug(cfg, cfg.Debug.PProf); err != nil {
			return err
		}
	}
	a.mu.Lock()
	a.host, a.insecure = host, insecure
	a.mu.Unlock()
	a.log.Info("starting", "version", version.Version, "node", host.Node, "interface", host.Interface, "real_ip", host.RealIP,
		"real_ip6", host.RealIP6, "vips", cfg.VIPs, "arp_mode", cfg.ARPMode, "check", cfg.Check.Mode, "directors", len(cfg.Directors),
		"maintenance", a.maint.Mode)
	if a.maint.InMaintenance() {
		a.log.Warn("maintenance is on (persisted): the check endpoint says 503 until `tandem-backend maintenance off`", "reason", a.maint.Reason)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		a.wg.Wait()
	}()

	// 1. VIPs on lo.
	a.vips = vip.New(nl, a.log, cfg.VIPs, vip.Options{OnRepair: a.met.vipRepair, OnCheck: a.met.vipCheck})
	if _, err := a.vips.Ensure(); err != nil {
		return err
	}
	a.goRun("vip", func() error { return a.vips.Run(runCtx, a.edges.WatchVIPs) })

	// 2. ARP suppression.
	a.guard = arpguard.New(a.edges.NFT, a.edges.Sysctl, a.log, guardSettings(cfg, host),
		arpguard.Options{OnCheck: a.met.arpCheck, OnRepair: func(string) { a.met.arpRepairs.Inc() }})
	if cfg.ARPMode.UsesNFTables() || cfg.ARPMode.UsesSysctl() {
		if _, err := a.guard.Ensure(); err != nil {
			return err
		}
	}
	if !cfg.ARPMode.UsesNFTables() {
		if err := a.edges.NFT.Remove(cfg.NFTTable); err != nil {
			a.log.Warn("removing a left-over arp table", "err", err)
		}
	}
	a.goRun("arpguard", func() error { return a.guard.Run(runCtx, a.edges.WatchNFT) })

	// 3. Health: one synchronous probe, so the endpoint starts truthful.
	if err := a.setProbe(cfg); err != nil {
		return err
	}
	a.tracker.Observe(a.runner.Once(ctx))
	a.startRunner(runCtx)

	// 4. Check endpoint.
	a.updateVerdict()
	a.setCheckHandler(cfg)
	if checkLn != nil {
		a.serveCheck(checkLn, cfg.Check.Path)
		checkLn = nil
	}
	a.syncCheckFile()

	// 5. Heartbeats, metrics, control socket.
	a.hb = heartbeat.New(a.log, hbSettings(cfg, host, key, key6), heartbeat.Hooks{Sent: a.met.hbSentHook, Reply: a.met.hbReply, Rejected: a.met.hbReject}, a.clock)
	a.hb.SetReport(a.report())
	a.goRun("heartbeat", func() error { return a.hb.Run(runCtx) })
	if metLn != nil {
		a.serveMetrics(metLn)
		metLn = nil
	}
	if dbgLn != nil {
		a.dbg.Serve(dbgLn, a.log)
		dbgLn = nil
	}
	ctl := ctlsock.NewServer(a.socket, a.handle, a.log)
	ctlErr := make(chan error, 1)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctlErr <- ctl.Run(runCtx)
	}()
	if err := a.writeApplied(cfg); err != nil {
		a.log.Warn("cannot record what was applied (cleanup may miss it)", "err", err)
	}
	defer a.stopServers()

	a.notify.Ready(a.statusLine())
	a.log.Info("ready", "status", a.statusLine())

	hup, stopHup := a.edges.Hangup()
	defer stopHup()
	wdInterval, wdOn := sdnotify.WatchdogInterval()
	var wd <-chan time.Time
	if wdOn {
		t := a.clock.NewTicker(wdInterval / 3)
		defer t.Stop()
		wd = t.C()
	}
	slow := a.clock.NewTicker(time.Second)
	defer slow.Stop()
	for {
		select {
		case <-ctx.Done():
			a.notify.Stopping()
			a.log.Info("stopping; VIPs, ARP table and check file stay in place")
			return nil
		case err := <-ctlErr:
			return fmt.Errorf("control socket: %w", err)
		case <-hup:
			a.reload(runCtx)
		case res := <-a.results:
			a.onProbe(res)
		case c := <-a.cmds:
			c.reply <- a.onCommand(runCtx, c)
		case <-wd:
			a.notify.Watchdog()
		case <-slow.C():
			a.syncCheckFile()
			a.refreshStatus()
		}
	}
}

func (a *App) goRun(name string, f func() error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := f(); err != nil {
			a.log.Error(name+" stopped", "err", err)
		}
	}()
}

func (a *App) setProbe(cfg *config.Config) error {
	p, err := health.New(cfg.Health)
	if err != nil {
		return err
	}
	a.probe = p
	a.runner = health.NewRunner(p, cfg.Health.Interval, cfg.Health.Timeout)
	if a.tracker == nil {
		a.tracker = health.NewTracker(cfg.Health.Rise, cfg.Health.Fall)
	} else {
		a.tracker.Reset(cfg.Health.Rise, cfg.Health.Fall)
	}
	return nil
}

func (a *App) startRunner(ctx context.Context) {
	pctx, stop := context.WithCancel(ctx)
	a.probeStop = stop
	r := a.runner
	interval := a.cfg.Health.Interval
	deliver := func(res health.Result) {
		select {
		case a.results <- res:
		case <-pctx.Done():
		}
	}
	a.goRun("health", func() error {
		// The synchronous start-up (or reload) probe just ran or is not needed.
		return r.RunAfter(pctx, interval, deliver)
	})
	if port, ok := health.ListenPort(a.cfg.Health); ok {
		w := health.ListenWatch{Port: port, Kernel: a.edges.Listeners, Now: a.clock.Now}
		a.goRun("health listener watch", func() error {
			if err := w.Run(pctx, deliver); err != nil {
				return fmt.Errorf("TCP port %d: %w (the probe alone judges health)", port, err)
			}
			return nil
		})
	}
	a.procWatch = nil
	if pidfile := a.cfg.Health.Process; pidfile != "" {
		w := health.NewProcessWatch(pidfile, a.edges.Processes, a.clock.Now, a.log)
		a.procWatch = w
		a.goRun("health process watch", func() error {
			if err := w.Run(pctx, deliver); err != nil {
				return fmt.Errorf("pidfile %s: %w (the probe alone judges health)", pidfile, err)
			}
			return nil
		})
	}
}

func (a *App) onProbe(res health.Result) {
	switch {
	case res.Gone && res.Watch == health.WatchProcess: // the process watch, not a probe
		a.log.Warn("application's process gone", "service", a.cfg.Health.Service, "reason", res.Reason)
	case res.Gone: // the listener watch, not a probe
		a.log.Warn("application's listener gone", "service", a.cfg.Health.Service, "reason", res.Reason)
	case res.OK:
		a.met.probes.WithLabelValues("pass").Inc()
		if a.procWatch != nil {
			a.procWatch.ProbePassed()
		}
	default:
		a.met.probes.WithLabelValues("fail").Inc()
	}
	if a.tracker.Observe(res) {
		a.log.Info("health changed", "service", a.cfg.Health.Service, "state", a.tracker.State(), "reason", res.Reason)
	}
	var acts []maintenance.Action
	a.maint, acts = a.maint.Step(res.At, maintenance.Probe{OK: res.OK}, a.cfg.Health.Rise)
	if a.maint.Mode == maintenance.InService && len(acts) > 0 {
		a.log.Info("back in service after maintenance")
	}
	a.announce()
}

// announce recomputes the verdict, updates the check endpoint and sends a
// heartbeat at once if the report changed.
func (a *App) announce() {
	a.updateVerdict()
	a.syncCheckFile()
	if a.hb != nil {
		a.hb.SetReport(a.report())
	}
	a.refreshStatus()
}

func (a *App) updateVerdict() {
	v := health.Verdict{OK: true}
	switch {
	case a.maint.InMaintenance():
		v = health.Verdict{Reason: a.maint.Describe(a.cfg.Health.Rise)}
	case !a.tracker.Healthy():
		v = health.Verdict{Reason: "unhealthy: " + a.tracker.Reason()}
	}
	old := a.verdict.Swap(&v)
	if old != nil && *old != v {
		a.log.Info("check endpoint changed", "ok", v.OK, "reason", v.Reason)
	}
	a.met.healthy.Set(b2f(a.tracker.Healthy()))
	a.met.serving.Set(b2f(v.OK))
	a.met.maintenance.Set(b2f(a.maint.InMaintenance()))
	if !a.maint.Since.IsZero() {
		a.met.maintenanceEnd.Set(float64(a.maint.Since.UnixNano()) / 1e9)
	}
	last := a.tracker.Last()
	hs := HealthStatus{
		Service: a.cfg.Health.Service, Probe: a.probe.String(), State: a.tracker.State(), Reason: a.tracker.Reason(),
		Since: a.tracker.Since(), LastProbe: last.At, LastOK: last.OK, LastTook: last.Took,
	}
	if hs.State == health.Healthy && a.tracker.Passes() > 0 {
		hs.Reason = ""
	}
	a.mu.Lock()
	a.snap = snapshot{health: hs, maint: a.maint}
	a.mu.Unlock()
}

func (a *App) currentVerdict() health.Verdict {
	if v := a.verdict.Load(); v != nil {
		return *v
	}
	return health.Verdict{Reason: "starting"}
}

func (a *App) report() hbproto.AgentReport {
	v := a.currentVerdict()
	st := hbproto.StateUp
	switch {
	case a.maint.InMaintenance():
		st = hbproto.StateMaintenance
	case !a.tracker.Healthy():
		st = hbproto.StateDown
	}
	a.mu.Lock()
	h := a.host
	a.mu.Unlock()
	// Cut at a rune boundary, invalid UTF-8 replaced: a probe's output
	// must not make the report unencodable.
	reason := hbproto.TruncateString(v.Reason, hbproto.MaxString)
	svcReason := hbproto.TruncateString(a.tracker.Reason(), hbproto.MaxString)
	return hbproto.AgentReport{
		Node: h.Node, RealIP: h.RealIP, State: st, Reason: reason,
		Services: []hbproto.ServiceHealth{{Service: a.cfg.Health.Service, Healthy: a.tracker.Healthy(), Reason: svcReason}},
	}
}

func (a *App) syncCheckFile() {
	if a.cfg.Check.Mode != config.CheckFile {
		return
	}
	v := a.currentVerdict()
	f := health.File{Path: a.cfg.Check.File}
	changed, err := f.Set(v.OK)
	if err != nil {
		a.log.Error("check file", "path", f.Path, "err", err)
		return
	}
	if changed {
		a.log.Info("check file updated", "path", f.Path, "present", v.OK)
	}
}

func (a *App) stopServers() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	a.mu.Lock()
	servers := []*http.Server{a.checkSrv, a.metSrv}
	a.mu.Unlock()
	for _, s := range servers {
		if s != nil {
			_ = s.Shutdown(ctx)
		}
	}
	a.dbg.Stop()
}

func (a *App) onCommand(ctx context.Context, c command) cmdResult {
	switch c.op {
	case OpMaintenanceOn, OpMaintenanceOff:
		var ev maintenance.Event = maintenance.On{Reason: c.reason}
		if c.op == OpMaintenanceOff {
			ev = maintenance.Off{}
		}
		next, acts := a.maint.Step(a.clock.Now(), ev, a.cfg.Health.Rise)
		for _, act := range acts {
			if act, ok := act.(maintenance.Persist); ok {
				if err := a.store.Save(act.Flag); err != nil {
					// Nothing switched: a switch that a restart would
					// forget must not take effect.
					a.log.Error("maintenance switch refused: it cannot be persisted", "op", c.op, "path", a.store.Path(), "err", err)
					return cmdResult{state: a.maint, err: fmt.Errorf("%w; nothing changed: maintenance is still %s", err, a.maint.Mode)}
				}
			}
		}
		prev := a.maint
		a.maint = next
		for _, act := range acts {
			switch act.(type) {
			case maintenance.Announce:
				a.announce()
			case maintenance.ProbeNow:
				a.runner.ProbeNow()
			}
		}
		if prev.Mode != next.Mode || prev.Reason != next.Reason {
			a.log.Info("maintenance switched", "from", prev.Mode, "to", next.Mode, "reason", next.Reason)
		}
		return cmdResult{state: a.maint}
	case OpReload:
		return cmdResult{state: a.maint, err: a.reload(ctx)}
	}
	return cmdResult{state: a.maint, err: fmt.Errorf("unknown command %q", c.op)}
}

// reload re-reads the configuration; an invalid one keeps the running one.
func (a *App) reload(ctx context.Context) error {
	a.notify.Reloading()
	defer func() { a.notify.Ready(a.statusLine()) }()
	cfg, err := config.Load(a.cfg.File)
	if err != nil {
		a.log.Error("reload: invalid configuration, keeping the running one", "err", err)
		return fmt.Errorf("invalid configuration, keeping the running one: %w", err)
	}
	nl, err := a.edges.OpenNetlink()
	if err != nil {
		return err
	}
	host, err := Resolve(cfg, nl)
	nl.Close()
	if err != nil {
		a.log.Error("reload: keeping the running configuration", "err", err)
		return fmt.Errorf("keeping the running configuration: %w", err)
	}
	key, key6, insecure, err := loadKeys(cfg, a.log)
	if err != nil {
		a.log.Error("reload: keeping the running configuration", "err", err)
		return fmt.Errorf("keeping the running configuration: %w", err)
	}
	old := a.cfg
	if cfg.StateDir != old.StateDir || cfg.RuntimeDir != old.RuntimeDir {
		a.log.Warn("reload: state_dir and runtime_dir changes take effect at the next restart")
		cfg.StateDir, cfg.RuntimeDir = old.StateDir, old.RuntimeDir
	}
	// What can fail last: the new listeners are bound while the old ones
	// still serve, so that a port in use changes nothing.
	checkMove, metMove, err := a.prepareListeners(old, cfg)
	if err != nil {
		a.log.Error("reload: keeping the running configuration", "err", err)
		return fmt.Errorf("keeping the running configuration: %w", err)
	}
	dbgMove, err := a.prepareDebug(cfg, a.log)
	if err != nil {
		checkMove.Abort()
		metMove.Abort()
		a.log.Error("reload: keeping the running configuration", "err", err)
		return fmt.Errorf("keeping the running configuration: %w", err)
	}
	// From here on the new configuration is applied.
	a.setCheckHandler(cfg)
	checkMove.Commit()
	metMove.Commit()
	dbgMove.Commit()
	a.mu.Lock()
	if checkWant(cfg) == "" {
		a.checkSrv, a.checkAddr = nil, ""
	}
	if cfg.Metrics.Listen == "" {
		a.metSrv, a.metAddr = nil, ""
	}
	a.mu.Unlock()
	if old.Check.Mode == config.CheckFile && (cfg.Check.Mode != config.CheckFile || cfg.Check.File != old.Check.File) {
		_, _ = health.File{Path: old.Check.File}.Set(false)
	}
	if a.level != nil {
		if lv, err := parseLevel(cfg.Log.Level); err == nil {
			a.level.Set(lv)
		}
	}
	a.mu.Lock()
	a.cfg, a.host, a.insecure = cfg, host, insecure
	a.mu.Unlock()
	if err := a.vips.SetVIPs(cfg.VIPs); err != nil {
		a.log.Error("reload: vips", "err", err)
	}
	a.guard.Update(guardSettings(cfg, host))
	a.hb.Update(hbSettings(cfg, host, key, key6))
	if !reflect.DeepEqual(cfg.Health, old.Health) {
		a.probeStop()
		if err := a.setProbe(cfg); err != nil {
			return err
		}
		a.startRunner(ctx)
	}
	if err := a.writeApplied(cfg); err != nil {
		a.log.Warn("cannot record what was applied", "err", err)
	}
	a.announce()
	a.log.Info("configuration reloaded", "path", cfg.File)
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

// statusLine is the one-line summary for systemd's STATUS=.
func (a *App) statusLine() string {
	v := a.currentVerdict()
	state := "serving"
	if !v.OK {
		state = "not serving (" + v.Reason + ")"
	}
	vipsOK, nv := 0, 0
	if a.vips != nil {
		for _, s := range a.vips.Status() {
			nv++
			if s.Present {
				vipsOK++
			}
		}
	}
	arp := "arp off"
	if a.guard != nil {
		st := a.guard.Status()
		switch {
		case st.LastError != "":
			arp = "arp ERROR"
		case (st.Mode == "nftables" || st.Mode == "both") && !st.TableOK:
			arp = "arp table MISSING"
		case st.Mode != "off":
			arp = "arp ok (" + st.Mode + ")"
		}
	}
	dirs := ""
	if a.hb != nil {
		views := a.hb.Views()
		fresh := 0
		for _, v := range views {
			if time.Since(v.LastReply) < 3*a.cfg.Heartbeat.Interval+time.Second {
				fresh++
			}
		}
		if len(views) > 0 {
			dirs = fmt.Sprintf(", %d/%d directors answering", fresh, len(views))
		}
		if a.hb.Stats().Disabled && len(views) > 0 {
			dirs = ", heartbeats DISABLED (insecure)"
		}
	}
	return fmt.Sprintf("%s; %d/%d VIPs; %s%s", state, vipsOK, nv, arp, dirs)
}

func (a *App) refreshStatus() {
	line := a.statusLine()
	if line != a.statusLn {
		a.statusLn = line
		a.notify.Status(line)
	}
}
