package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tandemlb/tandem/director/agents"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/metrics"
	"github.com/tandemlb/tandem/director/peerwatch"
	"github.com/tandemlb/tandem/director/pool"
	"github.com/tandemlb/tandem/director/track"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/director/witness"
	"github.com/tandemlb/tandem/shared/clock"
	"github.com/tandemlb/tandem/shared/ctlsock"
	"github.com/tandemlb/tandem/shared/logging"
	"github.com/tandemlb/tandem/shared/sdnotify"
	"github.com/tandemlb/tandem/shared/version"
)

// maxBatch bounds the events the main loop takes before it flushes.
const maxBatch = 256

// DefaultPollInterval is how often the IPVS connection counters of the
// services with a server draining are read (one service each), to end
// the drain once its connections are gone. Nothing is read when nothing
// drains.
const DefaultPollInterval = 200 * time.Millisecond

// DefaultResyncInterval is how often the whole IPVS table is read to
// find drift from the desired state (Options.ResyncInterval). IPVS sends
// no change events, and only a failed operation or someone else's edit
// (ipvsadm) makes the table differ; every write of the director reads the
// service it writes.
const DefaultResyncInterval = 5 * time.Minute

// IPVS is the kernel's IPVS as the director uses it: the table and the
// connection-sync daemons. *lvs.Kernel is the real one.
type IPVS interface {
	lvs.Client
	StartDaemon(state lvs.DaemonState, iface string, syncID uint8) error
	StopDaemon(state lvs.DaemonState) error
	Daemons() ([]lvs.Daemon, error)
	Close() error
}

// VRRPDriver is one running VRRP instance; *vrrp.Driver is the real one.
// Inject takes the fast-failover hooks (vrrp.PeerDead, vrrp.Witness).
type VRRPDriver interface {
	Run(ctx context.Context) error
	Status() vrrp.Status
	Inject(ctx context.Context, ev vrrp.Event) error
}

// Options are the daemon's inputs besides the configuration. Only Log is
// required; the rest have working defaults, and tests replace the kernel
// edges.
type Options struct {
	// Log is the logger.
	Log *slog.Logger
	// LogLevel, if set, follows the configuration's logging.level on
	// reload, unless LevelFromFlag.
	LogLevel *slog.LevelVar
	// LevelFromFlag: the level was given on the command line and wins.
	LevelFromFlag bool
	// Notifier talks to systemd; nil means sdnotify.New.
	Notifier sdnotify.Notifier
	// Socket overrides the configuration's control socket.
	Socket string
	// InsecureHeartbeat starts without a usable heartbeat key (loudly).
	InsecureHeartbeat bool
	// StateDir holds the persisted state; empty means $STATE_DIRECTORY or
	// DefaultStateDir.
	StateDir string
	// OpenIPVS opens the kernel's IPVS; nil means lvs.Open in the current
	// network namespace.
	OpenIPVS func(log *slog.Logger) (IPVS, error)
	// NewVRRP builds a VRRP driver; nil means vrrp.NewDriver.
	NewVRRP func(cfg vrrp.InstanceConfig, opts vrrp.Options) (VRRPDriver, error)
	// SysctlRoot replaces /proc/sys for the IPVS sysctls (tests).
	SysctlRoot string
	// PollInterval is how often the counters of the services with a
	// server draining are read, and the VIPs kept from a previous run
	// looked at (0: DefaultPollInterval).
	PollInterval time.Duration
	// ResyncInterval is the safety read of the whole IPVS table (drift
	// from the desired state: a failed operation, someone else's edit),
	// in the background; 0 means DefaultResyncInterval. It is stretched so
	// that the read takes at most 0.1 % of the time.
	ResyncInterval time.Duration
	// HostChecks turns on the start-up warnings about the host (ip_forward,
	// the VRRP firewall, keepalived); nil means on.
	HostChecks *bool
	// Clock times the main loop (pool deadlines, the IPVS poll, the
	// once-a-second work, the watchdog) and dates what the director sees;
	// nil means the system clock.
	Clock clock.Clock
	// Loader reads the configuration on reload; the caller that read the
	// first one passes the same Loader, so that a reload of a big
	// keepalived.conf parses only the blocks that changed. nil: a fresh
	// one (the first reload then parses everything).
	Loader *config.Loader
	// Mailer sends the e-mail alerts (smtp_alert); nil means a mail.Queue
	// over plain SMTP.
	Mailer Mailer
	// TrackExec runs the vrrp_script trackers, TrackClock times them and
	// ProcFS is what vrrp_track_process scans; nil means the real ones
	// (track.OSExecutor, Clock, /proc).
	TrackExec  track.Executor
	TrackClock clock.Clock
	ProcFS     track.ProcFS
	// Links watches the track_interface lines that have a weight; nil
	// means netlink in the current namespace.
	Links vrrp.LinkWatcher
	// Static applies static_ipaddress, static_routes and static_rules; nil
	// means netlink in the current namespace.
	Static StaticNet
	// Interfaces answers whether an interface exists and its addresses,
	// Firewall reads the ruleset for the VRRP warning, Host the other
	// start-up checks (scheduler modules, a keepalived running); nil
	// means the host's (edges.go).
	Interfaces Interfaces
	Firewall   Firewall
	Host       HostInfo
	// HandOver sends the connection table to the peer's backup sync
	// daemon when an instance releases MASTER; nil means the kernel's
	// (edges.go).
	HandOver ConnHandOver
	// SyncHandOverGrace is how long a new MASTER keeps its backup sync
	// daemon to receive the old master's table; 0 means 3 s.
	SyncHandOverGrace time.Duration
	// ForgetAgentsAfter is how long an agent silent stays in the table
	// (status, metrics) before it is forgotten; 0 means 10 minutes
	// (benchmarks shorten it).
	ForgetAgentsAfter time.Duration

	// BGPSpeaker builds the BGP speaker of BGP mode (a bgp block); nil
	// means GoBGP in the tandem-bgp-speaker process (speakerproc.NewRemote).
	BGPSpeaker BGPSpeakerFunc

	// adjust, if set, changes the configuration given to New and each one
	// a reload reads (tests: a keepalived.conf cannot name its heartbeat
	// key file, port or metrics).
	adjust func(*config.Config)
}

// App is one running director.
type App struct {
	log    *slog.Logger
	opts   Options
	notify sdnotify.Notifier
	met    *metrics.Metrics
	now    func() time.Time
	start  time.Time
	socket string
	state  string // state directory

	// Owned by the main loop.
	cfg       *config.Config
	ipvs      IPVS
	ipvsErr   error
	rec       *lvs.Reconciler
	services  []*service
	byKey     map[string]*service
	byIP      map[netip.Addr][]*service
	instances []*instance
	agentsTab map[netip.Addr]*agentInfo
	drains    map[netip.AddrPort]string
	syncd     syncState
	checkGen  uint64
	// The background whole-table read (fullPoll): its own handle, one at
	// a time, when the last one ended and how long it took.
	pollIPVS     IPVS
	fullPolling  bool
	fullPollAt   time.Time
	fullPollTook time.Duration
	// The main loop's timed work (nextWake): when the draining services
	// and the kept VIPs were last looked at; the agents by when each is
	// next looked at (heartbeat.go), the agents gauge's counts (set:
	// the gauge shows them).
	drainedAt      time.Time
	keptAt         time.Time
	agentsQ        agentQueue
	agentsBatch    []*agentInfo
	agentCounts    map[string]int
	agentCountsSet bool
	// agentsChanged are the agents whose view changed (markAgent);
	// heardOf replaces the listener's Heard (tests; nil: a.hb's).
	agentsChanged []*agentInfo
	heardOf       func(netip.Addr) (agents.Heard, bool)
	strays        strayCount // the agents of no real server (strayAgents)
	applyRetry    applyRetry
	// The systemd watchdog: its period (a quarter of WatchdogSec; 0: off)
	// and the last ping.
	watchdogEvery time.Duration
	watchdogAt    time.Time
	warnings      []string

	hb         *agents.Server
	hbStop     context.CancelFunc
	hbDone     chan struct{}
	hbKey      []byte
	hbInsecure bool
	hbDisabled string
	// hbMissing: a keepalived.conf and no heartbeat key file, so the
	// agent listener is off (heartbeatKey).
	hbMissing bool
	// hbGone is the warning kept while the key file of the running
	// listener is gone (heartbeatKeyNews).
	hbGone  string
	metSrv  *http.Server
	dbg     debugEndpoint // debug.pprof (listeners.go)
	witness *witness.Board
	// vrrpDrops is the one limiter of every VRRP instance's drop logs: a
	// packet every instance's socket sees is logged once per interval.
	vrrpDrops *logging.Limiter
	pw        *peerwatch.Watcher
	pwStop    context.CancelFunc
	pwDone    chan struct{}
	pwKey     string // peerwatchKey of the running watcher (fastfailover.go)
	mailer    Mailer

	reloads       int
	lastReload    time.Time
	lastReloadErr string
	statusLn      string
	statusBase    string // statusLn but its agents part (statusLine)
	node          string
	pendingAcks   []chan struct{}
	stateLoaded   bool
	stopping      bool

	events      chan event
	cmds        chan command
	vrrpChanged chan struct{}
	view        atomic.Pointer[replyView]
	viewStale   bool // what refreshView shows may have changed (markView)
	starting    bool // setup before the first reconciliation: no gauges yet
	reloadTimes reloadTimes
	ready       chan struct{}
	// wakes counts the main loop's iterations (tests and benchmarks: what
	// an idle director costs).
	wakes atomic.Uint64

	// Tracking (tracking.go), sync groups (syncgroups.go) and the static
	// entries (static.go); owned by the main loop.
	trackBox        *trackBox
	trackers        map[trackID]*tracker
	trackOrder      []trackID
	linkTracker     *tracker
	linkNames       []string
	links           map[string]linkState
	linkStop        context.CancelFunc
	linkDone        chan struct{}
	securityChanged bool
	groups          []*syncGroup
	static          StaticNet
	staticClose     func()
	staticIn        staticSet
	staticErr       error
	// fo is what the connection hand-over of a release reads, from the
	// drivers' goroutines (failover.go).
	fo failoverState
	// bgp is BGP mode (bgp.go); nil in VRRP mode.
	bgp *bgpMode

	runCtx context.Context
	wg     sync.WaitGroup
}

// event is an input of the main loop from another goroutine.
type event interface{ isEvent() }

// New returns the daemon for cfg (as config.Load returned it). It does no
// I/O.
func New(cfg *config.Config, opts Options) *App {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	n := opts.Notifier
	if n == nil {
		n = sdnotify.New(opts.Log)
	}
	opts.Clock = clock.Or(opts.Clock)
	if opts.TrackClock == nil {
		opts.TrackClock = opts.Clock
	}
	now := opts.Clock.Now
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = DefaultResyncInterval
	}
	if opts.Loader == nil {
		opts.Loader = &config.Loader{}
	}
	if opts.Interfaces == nil {
		opts.Interfaces = hostInterfaces{}
	}
	if opts.Firewall == nil {
		opts.Firewall = nftFirewall{}
	}
	if opts.Host == nil {
		opts.Host = osHost{}
	}
	if opts.HandOver == nil {
		opts.HandOver = kernelHandOver{}
	}
	if opts.SyncHandOverGrace == 0 {
		opts.SyncHandOverGrace = syncHandOverGrace
	}
	if opts.ForgetAgentsAfter <= 0 {
		opts.ForgetAgentsAfter = forgetAgentAfter
	}
	if opts.adjust != nil {
		opts.adjust(cfg)
	}
	// A configuration that names no control socket gets the default of
	// its network namespace, found by Run (it reads /proc).
	sock := opts.Socket
	if sock == "" && namesSocket(cfg) {
		sock = cfg.ControlSocket
	}
	a := &App{
		log: opts.Log, opts: opts, notify: n, met: metrics.New(), now: now, socket: sock,
		state:       stateDir(opts.StateDir),
		cfg:         cfg,
		byKey:       map[string]*service{},
		byIP:        map[netip.Addr][]*service{},
		agentsTab:   map[netip.Addr]*agentInfo{},
		agentCounts: newAgentCounts(),
		drains:      map[netip.AddrPort]string{},
		events:      make(chan event, 1024),
		cmds:        make(chan command),
		vrrpChanged: make(chan struct{}, 1),
		ready:       make(chan struct{}),
		witness:     newWitnessBoard(),
		vrrpDrops:   logging.NewLimiter(0, now),
		trackBox:    newTrackBox(),
		trackers:    map[trackID]*tracker{},
		linkTracker: &tracker{id: trackID{kind: track.KindInterface}},
		links:       map[string]linkState{},
	}
	a.met.Info.WithLabelValues(version.Version).Set(1)
	a.node = cfg.NodeName()
	a.view.Store(&replyView{node: a.node})
	return a
}

// Metrics returns the daemon's metrics (tests).
func (a *App) Metrics() *metrics.Metrics { return a.met }

// Ready is closed once the daemon is ready (after the first IPVS
// reconciliation, with the control socket up).
func (a *App) Ready() <-chan struct{} { return a.ready }

// HeartbeatAddr is the heartbeat listener's address, nil without one.
// Call it after Ready.
func (a *App) HeartbeatAddr() net.Addr {
	if v := a.view.Load(); v != nil && v.hbAddr != nil {
		return v.hbAddr
	}
	return nil
}

func (a *App) hostChecks() bool { return a.opts.HostChecks == nil || *a.opts.HostChecks }

// Run starts everything, signals READY, and runs the main loop until ctx
// ends (SIGTERM); then it stops cleanly and returns nil. SIGHUP reloads.
// An error means the director could not start (or its control socket
// failed).
func (a *App) Run(ctx context.Context) (err error) {
	a.start = a.now()
	a.beginStart()
	if a.socket == "" {
		a.socket = DefaultControlSocket()
	}
	runCtx, cancel := context.WithCancel(context.Background())
	a.runCtx = runCtx
	defer func() {
		cancel()
		a.wg.Wait()
		if a.ipvs != nil {
			a.ipvs.Close()
		}
		if a.pollIPVS != nil && a.pollIPVS != a.ipvs {
			a.pollIPVS.Close()
		}
	}()
	a.log.Info("starting", "version", version.Version, "config", a.configPath(), "format", string(a.cfg.Format),
		"node", a.cfg.NodeName(), "vrrp_instances", len(a.cfg.VRRP), "services", len(a.cfg.Services), "socket", a.socket)

	// Another director answering on the control socket refuses this one
	// before anything touches the host (a stale socket is replaced).
	if err := socketFree(a.socket); err != nil {
		return err
	}
	if err := a.setup(); err != nil {
		a.teardown()
		return err
	}
	ctl := ctlsock.NewServer(a.socket, a.handle, a.log)
	ctlErr := make(chan error, 1)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctlErr <- ctl.Run(runCtx)
	}()
	// Ready means the CLI can reach us: wait for the socket (a failure
	// is handled below, where ctlErr is read).
	select {
	case <-ctl.Listening():
	case err := <-ctlErr:
		ctlErr <- err
	}

	a.reloadTimes.mark("control_socket")
	a.onVRRP()
	a.agentGauges()
	line := a.statusLine()
	a.statusLn = line
	a.notify.Ready(line)
	a.reloadTimes.mark("status")
	a.log.Info("ready", append([]any{"status", line}, a.reloadTimes.attrs()...)...)
	close(a.ready)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	clk := a.opts.Clock
	if iv, on := sdnotify.WatchdogInterval(); on {
		a.watchdogEvery, a.watchdogAt = max(iv/2, 100*time.Millisecond), a.now()
	}
	alarm := clock.NewAlarm(clk)
	defer alarm.Stop()
	done := ctx.Done()
	for {
		select {
		case <-done:
			if a.bgpBeginStop() {
				done = nil // BGP mode: serve until the VIPs are withdrawn (bgpStopped)
				break
			}
			a.teardown()
			return nil
		case err := <-ctlErr:
			a.teardown()
			return fmt.Errorf("control socket %s: %w", a.socket, err)
		case <-hup:
			a.log.Info("SIGHUP: reloading the configuration")
			_, _ = a.reload()
		case ev := <-a.events:
			a.onEvent(ev)
			// Take what else is queued before flushing: under a burst of
			// heartbeats the view is rebuilt once per batch, not once per
			// report (at 1,000 agents a rebuild walks every destination).
			for n := 1; n < maxBatch; n++ {
				select {
				case ev := <-a.events:
					a.onEvent(ev)
					continue
				default:
				}
				break
			}
		case c := <-a.cmds:
			c.reply <- a.onCommand(c)
		case <-a.vrrpChanged:
			a.onVRRP()
		case <-a.trackBox.wake:
			a.onTrack()
		case <-alarm.At(a.nextWake()):
			a.onAlarm()
		case <-a.bgpWatch():
			a.onBGPPeers()
		}
		a.wakes.Add(1)
		a.flush()
		if a.bgpStopped() {
			a.teardown()
			return nil
		}
	}
}

// setup brings everything up in the order traffic needs: IPVS adopted and
// reconciled first, then the sync daemon, VRRP, the checkers, and the
// listeners.
func (a *App) setup() error {
	cfg := a.cfg
	if err := Validate(cfg); err != nil {
		return err
	}
	a.reloadTimes.mark("check")
	if cfg.Heartbeat.Enabled {
		key, missing, err := a.heartbeatKey(cfg)
		if err != nil {
			return err
		}
		a.hbKey, a.hbInsecure, a.hbMissing = key, a.opts.InsecureHeartbeat, missing
		if missing {
			a.log.Warn(missingKeyWarning(cfg.Heartbeat.KeyFile), "path", cfg.Heartbeat.KeyFile)
		}
	}
	// The listeners before anything touches the host: a port in use fails
	// the start with nothing done.
	ls, err := a.bindListeners(cfg)
	if err != nil {
		return err
	}
	defer ls.close() // what was not handed over
	a.reloadTimes.mark("listeners")
	if err := a.openIPVS(cfg); err != nil {
		return err
	}
	a.hostWarnings(cfg)
	a.reloadTimes.mark("host")

	st, err := loadState(a.state)
	if err != nil {
		a.log.Warn("cannot read the saved state; starting without it", "path", a.state, "err", err)
	}
	a.stateLoaded = true
	for rs, reason := range st.Drains {
		if ap, err := netip.ParseAddrPort(rs); err == nil {
			a.drains[ap] = reason
		}
	}
	if a.rec != nil {
		for _, k := range st.Owned {
			a.rec.Own(lvs.ServiceKey(k))
		}
	}

	// The kernel first: pools are built and the table reconciled before
	// the per-destination metrics are made (at 1,000 × 10, making them
	// took longer than the reconciliation in a profile on the fake kernel).
	a.starting = true
	for i := range cfg.Services {
		if err := a.addService(cfg, &cfg.Services[i]); err != nil {
			return err
		}
	}
	a.indexServices()
	a.reloadTimes.mark("pools")
	if err := a.firstReconcile(); err != nil {
		return err
	}
	a.markReconcile()
	a.starting = false
	for _, s := range a.services {
		a.serviceGauges(s)
	}
	a.reloadTimes.mark("metrics")
	if err := a.startBGP(cfg); err != nil {
		return err
	}
	a.syncDaemons()
	a.startMail(cfg)
	a.logConfigWarnings(cfg)
	// Static entries first: keepalived keeps them whatever the VRRP state.
	a.applyStatic(staticOf(cfg.Static))
	// The trackers before the instances, so that their first verdicts are
	// injected before each driver starts.
	a.syncTrackers(cfg, true)
	a.awaitFirstReads()
	a.syncGroups(cfg)
	for i := range cfg.VRRP {
		if err := a.startInstance(&cfg.VRRP[i]); err != nil {
			return err
		}
	}
	a.reloadTimes.mark("vrrp")
	for _, s := range a.services {
		a.startServiceCheckers(s)
	}
	a.reloadTimes.mark("checkers")
	if err := a.startHeartbeatOn(cfg, ls.takeHB()); err != nil {
		return err
	}
	if err := a.startPeerwatch(cfg); err != nil {
		return err
	}
	if ln := ls.takeMetrics(); ln != nil {
		a.serveMetrics(ln)
	}
	a.serveDebug(ls)
	a.reloadTimes.mark("listeners")
	a.refreshView()
	a.reloadTimes.mark("view")
	return nil
}

// teardown stops everything; the IPVS entries stay unless remove_on_stop.
func (a *App) teardown() {
	a.stopping = true
	a.notify.Stopping()
	for _, s := range a.services {
		a.stopServiceCheckers(s)
	}
	pwDone := a.pwDone
	a.stopPeerwatch(false) // it says goodbye once the masters below released
	// The masters below hand their connections over as they release.
	a.refreshHandOver()
	for _, in := range a.instances {
		a.stopInstance(in)
	}
	a.stopGroups()
	a.stopTrackers()
	a.stopBGP()
	a.removeStatic()
	if pwDone != nil {
		<-pwDone
	}
	for _, s := range a.services {
		a.perform(s, s.pool.Shutdown(), false)
	}
	if a.rec != nil {
		if a.cfg.IPVS.RemoveOnStop {
			if _, err := a.rec.Shutdown(context.Background()); err != nil {
				a.log.Error("ipvs: removing the services on stop", "err", err)
			} else {
				a.log.Info("ipvs: services removed (ipvs.remove_on_stop)")
			}
		} else if len(a.services) > 0 {
			a.log.Info("ipvs: leaving the services in place; the next start adopts them")
		}
		a.stopSyncDaemons()
	}
	a.stopHeartbeat()
	a.stopMetrics()
	a.stopDebug()
	a.saveState()
	a.log.Info("stopped")
}

func (a *App) configPath() string {
	if len(a.cfg.Files) > 0 {
		return a.cfg.Files[0]
	}
	return ""
}

// warn logs a host problem and keeps it for status.
func (a *App) warn(msg string, args ...any) {
	a.log.Warn(msg, args...)
	if !slices.Contains(a.warnings, msg) {
		a.warnings = append(a.warnings, msg)
	}
}

// unwarn forgets a warning that no longer holds.
func (a *App) unwarn(msg string) {
	a.warnings = slices.DeleteFunc(a.warnings, func(w string) bool { return w == msg })
}

func (a *App) goRun(name string, f func() error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := f(); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error(name+" stopped", logging.KeyErr, err)
		}
	}()
}

// onEvent dispatches an event from another goroutine.
func (a *App) onEvent(ev event) {
	switch e := ev.(type) {
	case checkEvent:
		a.onCheck(e)
	case agentEvent:
		a.onAgent(e)
	case instanceDone:
		a.onInstanceDone(e)
	case fullPollDone:
		a.onFullPoll(e)
	}
}

// tick lets time pass in every pool (agent expiry, drain timeouts).
// The agents due were looked at before (agentsTick): their pools know of
// the reports the listener answered alone.
func (a *App) tick() {
	now := a.now()
	for _, s := range a.services {
		if d := s.pool.NextDeadline(); !d.IsZero() && !d.After(now) {
			a.perform(s, s.pool.Step(now, pool.TimerFired{}), false)
		}
	}
}

// What wakes the main loop: its events (the drivers' state changes,
// checker verdicts, agents' reports, tracker verdicts, control commands,
// SIGHUP, a whole-table read done) and one alarm, armed for the earliest of
// the deadlines below, each there only while something needs it
// (docs/director.md, "What wakes the director"). Nothing runs on a fixed
// period.
//
//   - a pool's deadline: an agent's report expiring, a drain timing out;
//   - the draining services' counters, every PollInterval while a server
//     drains (the drain ends when its active connections reach 0);
//   - the VIPs kept from a previous run, every PollInterval while an
//     instance keeps them (until it is MASTER or hears another master);
//   - the safety read of the whole table (resyncAt), in the background;
//   - an agent to look at: going silent, being forgotten, or its pools to
//     be told that it still reports (agentsAt);
//   - a retry: a service whose write failed (backing off), a sync daemon
//     that failed to start or stop, a failed VRRP instance, the end of a
//     new master's hand-over grace;
//   - the systemd watchdog (a quarter of WatchdogSec), pinged early by
//     any other alarm past half its period.

// nextWake is the earliest deadline of the main loop, zero if none.
func (a *App) nextWake() time.Time {
	var next time.Time
	at := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	at(a.nextDeadline())
	at(a.drainReadAt())
	at(a.keepersAt())
	at(a.resyncAt())
	at(a.agentsAt())
	at(a.applyRetry.at)
	at(a.retryAt())
	at(a.bgpDeadline())
	if a.watchdogEvery > 0 {
		at(a.watchdogAt.Add(a.watchdogEvery))
	}
	return next
}

// onAlarm does what is due at the main loop's alarm (nextWake). What came
// early changes nothing.
func (a *App) onAlarm() {
	now := a.now()
	due := func(t time.Time) bool { return !t.IsZero() && !t.After(now) }
	if due(a.agentsAt()) {
		a.agentsTick()
	}
	a.tick()
	if due(a.drainReadAt()) {
		a.pollDraining(now)
	}
	if due(a.keepersAt()) {
		a.keptAt = now
		a.checkKeepers()
	}
	if due(a.resyncAt()) {
		a.fullPoll()
	}
	if due(a.applyRetry.at) {
		a.retryApplies()
	}
	// The watchdog rides on any alarm past half its period, so that it
	// seldom wakes the loop by itself.
	if a.watchdogEvery > 0 && !now.Before(a.watchdogAt.Add(a.watchdogEvery/2)) {
		a.watchdogAt = now
		a.notify.Watchdog()
	}
	if due(a.retryAt()) {
		a.syncDaemons()
		a.restartFailedInstances()
	}
	a.bgpAlarm(now)
}

// nextDeadline is the earliest pool deadline, zero if none.
func (a *App) nextDeadline() time.Time {
	var next time.Time
	for _, s := range a.services {
		if d := s.pool.NextDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	return next
}

// keepersAt is when to look again whether an instance may release the VIPs
// it kept from a previous run (checkKeepers), zero if none keeps any.
func (a *App) keepersAt() time.Time {
	for _, in := range a.instances {
		if in.keeper != nil && in.drv != nil && in.keeper.isKeeping() {
			return a.keptAt.Add(a.opts.PollInterval)
		}
	}
	return time.Time{}
}

// retryAt is the earliest retry: the sync daemons (a failure, the end of a
// hand-over grace) and the failed VRRP instances; zero if none.
func (a *App) retryAt() time.Time {
	next := a.syncd.wakeAt
	for _, in := range a.instances {
		if in.err == nil || in.cancel != nil {
			continue
		}
		if t := in.failedAt.Add(restartAfter); next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next
}

// agentsAt is when the next agent is due to be looked at (agentsTick),
// zero if none.
func (a *App) agentsAt() time.Time {
	a.agentsQ.fit(a.deadAfter(), a.opts.ForgetAgentsAfter)
	return a.agentsQ.next()
}

// agentsTick looks at the agents due (lookAtAgent), and at those due
// within a quarter of dead_after in the same wake-up; then the agents
// gauge. Each is queued again at its next due, unless forgotten.
func (a *App) agentsTick() {
	now := a.now()
	a.agentsQ.fit(a.deadAfter(), a.opts.ForgetAgentsAfter)
	batch := a.agentsQ.popDue(now.Add(a.agentsQ.dead/agentSlack), a.agentsBatch[:0])
	for i, ag := range batch {
		if a.lookAtAgent(ag, now) {
			a.agentsQ.set(ag, ag.due)
		}
		batch[i] = nil
	}
	a.agentsBatch = batch[:0]
	a.agentGauges()
}

// deadAfter is how long an agent stays fresh after its last report
// (heartbeat.dead_after).
func (a *App) deadAfter() time.Duration {
	if d := a.cfg.Heartbeat.DeadAfter; d > 0 {
		return d
	}
	return config.DefaultHeartbeatDeadAfter * config.DefaultHeartbeatInterval
}

// notifyStatus sends the systemd status line if it changed (it is computed when
// what it shows may have changed: see flush).
func (a *App) notifyStatus() {
	if line := a.statusLine(); line != a.statusLn {
		a.statusLn = line
		a.notify.Status(line)
	}
}

// flush reconciles the services the last event changed and refreshes what
// agents are told.
func (a *App) flush() {
	for _, s := range a.services {
		if !s.dirty {
			continue
		}
		a.applyService(s)
		a.bgpMark()
		if s.freshConns {
			s.freshConns = false
			a.readConnsNow(s)
		}
		// A drain that starts while none runs is first read PollInterval
		// after its weight 0, as later ones are within PollInterval: a
		// connection still in its handshake is counted active by then.
		if now := a.now(); s.draining() && !now.Before(a.drainReadAt()) {
			a.drainedAt = now
		}
	}
	// The view, the status line and the agents' gauges are rebuilt only
	// when something they show may have changed (markView): at 1,000
	// services × 10 it costs milliseconds, and the loop runs on every
	// event.
	switch {
	case a.viewStale:
		a.notifyStatus()
		a.agentGauges()
		a.refreshView()
	case len(a.agentsChanged) > 0: // agents only: no walk of every service
		a.agentGauges()
		a.refreshAgents()
	default:
		a.releaseAcks() // the view is current: the replies may go
	}
	a.endRetryRound()
	a.bgpFlush()
}

// markView says that what agents are told may have changed: pool states,
// weights, connections, the role, the agent table (see refreshView).
func (a *App) markView() { a.viewStale = true }

// statusLine is the one-line summary for systemd's STATUS=.
func (a *App) statusLine() string {
	role := a.role().String()
	var vr string
	for _, in := range a.instances {
		if vr != "" {
			vr += ", "
		}
		vr += in.cfg.Name + " " + in.state.String()
		if in.err != nil {
			vr += " (FAILED)"
		}
	}
	if vr == "" {
		vr = "no VRRP"
	}
	up, total := 0, 0
	sorry := 0
	for _, s := range a.services {
		st := s.pool.Status()
		for _, ss := range st.Servers {
			total++
			if ss.State == pool.Up {
				up++
			}
		}
		if st.SorryIn {
			sorry++
		}
	}
	line := fmt.Sprintf("%s (%s); %d services, %d/%d real servers up", role, vr, len(a.services), up, total)
	if sorry > 0 {
		line += fmt.Sprintf(", %d on the sorry server", sorry)
	}
	if a.ipvsErr != nil && len(a.services) == 0 && a.cfg.ConnSync != nil {
		line += "; IPVS unavailable"
	}
	a.statusBase = line
	return line + a.agentsStatus()
}

func (a *App) saveState() {
	if err := a.writeState(a.drains); err != nil {
		a.log.Warn("cannot save the state (drains and owned services are forgotten at the next start)", "path", a.state, "err", err)
	}
}

// namesSocket reports whether cfg names its own control socket; the
// default path counts as none (a keepalived.conf never names one).
func namesSocket(cfg *config.Config) bool {
	return cfg != nil && cfg.ControlSocket != "" && cfg.ControlSocket != config.DefaultControlSocket
}

// ControlSocket is the control socket of a director running cfg (nil: no
// configuration could be read) when --socket does not say: the one cfg
// names, else DefaultControlSocket. The daemon and the CLI verbs derive it
// the same way.
func ControlSocket(cfg *config.Config) string {
	if namesSocket(cfg) {
		return cfg.ControlSocket
	}
	return DefaultControlSocket()
}

// DefaultControlSocket is the control socket of a director whose
// configuration names none: config.DefaultControlSocket in the host's
// network namespace (or when that cannot be told), and
// /run/tandem-director/director-netns-INODE.sock in any other, INODE being
// the namespace's inode (`ls -iL /proc/self/ns/net`, `lsns -t net`), so
// that directors in two namespaces of one host keep apart, and a CLI verb
// run in the same namespace (`ip netns exec NS tandem-director status`)
// finds its daemon.
func DefaultControlSocket() string {
	return netnsSocket(nsInode("/proc/self/ns/net"), hostNetnsInode)
}

// initNetInode is the inode of the host's network namespace since Linux
// 6.15 (PROC_NET_INIT_INO); older kernels number it like any other, from
// 0xF0000000 up, so it is never another namespace's.
const initNetInode = 0xEFFFFFF9

// netnsSocket is DefaultControlSocket with the inode readers of this
// process's network namespace and of the host's.
func netnsSocket(self, host func() (uint64, error)) string {
	s, err := self()
	if err != nil || s == initNetInode {
		return config.DefaultControlSocket
	}
	h, err := host()
	if err != nil || h == s {
		return config.DefaultControlSocket
	}
	return filepath.Join(filepath.Dir(config.DefaultControlSocket), fmt.Sprintf("director-netns-%d.sock", s))
}

// nsInode returns a reader of the inode of the namespace file at path.
func nsInode(path string) func() (uint64, error) {
	return func() (uint64, error) {
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			return 0, err
		}
		return st.Ino, nil
	}
}

// hostNetnsInode is the inode of the host's network namespace: PID 1's,
// else, when PID 1 cannot be read (a hardened PID 1, a VM's agent),
// kthreadd's (PID 2): kernel threads live in the host's namespace. A PID 2
// of another name (a PID namespace) is not taken.
func hostNetnsInode() (uint64, error) {
	ino, err := nsInode("/proc/1/ns/net")()
	if err == nil {
		return ino, nil
	}
	if b, cerr := os.ReadFile("/proc/2/comm"); cerr != nil || strings.TrimSpace(string(b)) != "kthreadd" {
		return 0, err
	}
	return nsInode("/proc/2/ns/net")()
}

// socketFree refuses a control socket a live daemon answers on, naming
// the path and how to choose another. An absent path is free, and so is
// a stale socket (the connection is refused): the control server replaces
// it.
func socketFree(path string) error {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil
	}
	c.Close()
	return fmt.Errorf("control socket %s: another tandem-director is running and answers on it; "+
		"stop it, or give this one its own socket with --socket PATH (or control_socket: PATH in a native file)", path)
}
