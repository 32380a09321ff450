package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tandemlb/tandem/backend/config"
	"github.com/tandemlb/tandem/backend/health"
	"github.com/tandemlb/tandem/backend/maintenance"
	"github.com/tandemlb/tandem/backend/vip"
	"github.com/tandemlb/tandem/shared/atomicfile"
	"github.com/tandemlb/tandem/shared/ctlsock"
	"github.com/tandemlb/tandem/shared/version"
)

// handle serves the control socket.
func (a *App) handle(ctx context.Context, req ctlsock.Request) (any, error) {
	switch req.Op {
	case OpStatus:
		return a.Status(), nil
	case OpMaintenance:
		return a.Status().Maintenance, nil
	case OpMaintenanceOn:
		var args MaintenanceOnArgs
		if err := req.DecodeArgs(&args); err != nil {
			return nil, err
		}
		if len(args.Reason) > 200 {
			return nil, errors.New("reason longer than 200 bytes")
		}
		return a.command(ctx, command{op: req.Op, reason: args.Reason})
	case OpMaintenanceOff, OpReload:
		return a.command(ctx, command{op: req.Op})
	case OpMaintenanceWait:
		var args WaitArgs
		if err := req.DecodeArgs(&args); err != nil {
			return nil, err
		}
		if args.Timeout <= 0 {
			args.Timeout = 5 * time.Minute
		}
		return a.waitStream(args.Timeout), nil
	}
	return nil, fmt.Errorf("unknown operation %q", req.Op)
}

func (a *App) command(ctx context.Context, c command) (any, error) {
	c.reply = make(chan cmdResult, 1)
	select {
	case a.cmds <- c:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-c.reply:
		if r.err != nil {
			return nil, r.err
		}
		return a.Status().Maintenance, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// waitStream streams drain progress until every MASTER director reports
// this server drained, maintenance is switched off, or the timeout.
func (a *App) waitStream(timeout time.Duration) ctlsock.StreamFunc {
	return func(ctx context.Context, send func(any) error) error {
		a.mu.Lock()
		ndir := len(a.cfg.Directors)
		a.mu.Unlock()
		if ndir == 0 {
			return errors.New("no directors configured: nothing to wait for")
		}
		if a.hb.Stats().Disabled {
			return errors.New("heartbeats are disabled (no usable key): the directors' view is unknown")
		}
		deadline := a.clock.NewTimer(timeout)
		defer deadline.Stop()
		tick := a.clock.NewTicker(time.Second)
		defer tick.Stop()
		var last string
		for {
			a.mu.Lock()
			m := a.snap.maint
			a.mu.Unlock()
			if m.Mode != maintenance.Maintenance {
				return errors.New("maintenance is not on")
			}
			changed := a.hb.Changed()
			st := maintenance.EvaluateDrain(a.hb.Views(), m.Since)
			if s := st.String(); s != last || st.Done {
				last = s
				if err := send(st); err != nil {
					return err
				}
			}
			if st.Done {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-deadline.C():
				return fmt.Errorf("timed out after %s, still waiting: %s", timeout, strings.Join(append([]string{st.Summary}, st.Lines...), "; "))
			case <-changed:
			case <-tick.C():
				a.hb.Poke() // a report now gets a fresh reply
			}
		}
	}
}

// Status returns the daemon's state.
func (a *App) Status() Status {
	a.mu.Lock()
	cfg, host, insecure, snap, checkAddr := a.cfg, a.host, a.insecure, a.snap, a.checkAddr
	a.mu.Unlock()
	st := Status{
		Version: version.Version, PID: os.Getpid(), Started: a.start, Config: cfg.File, Host: host,
		Health:      snap.health,
		Maintenance: MaintenanceStatus{State: snap.maint, Description: snap.maint.Describe(cfg.Health.Rise)},
	}
	st.Check = CheckStatus{Verdict: a.currentVerdict(), Mode: string(cfg.Check.Mode)}
	switch cfg.Check.Mode {
	case config.CheckListen:
		st.Check.Where = "http://" + checkAddr + cfg.Check.Path
	case config.CheckFile:
		st.Check.Where = cfg.Check.File
		st.Check.FilePresent = health.File{Path: cfg.Check.File}.Exists()
	}
	if a.vips != nil {
		st.VIPs = a.vips.Status()
	}
	if a.guard != nil {
		a.guard.Refresh() // fresh counters
		st.ARP = a.guard.Status()
	}
	if a.hb != nil {
		st.Heartbeat = HeartbeatStatus{Stats: a.hb.Stats(), Interval: cfg.Heartbeat.Interval, Insecure: insecure}
		st.Directors = a.hb.Views()
	}
	return st
}

// Applied is what the daemon put on the host, recorded in the state dir so
// that cleanup finds it even when the configuration is gone.
type Applied struct {
	// VIPs were put on lo.
	VIPs []netip.Addr `json:"vips"`
	// NFTTable is the arp-family table name.
	NFTTable string `json:"nft_table,omitempty"`
	// CheckFile is the check file in file mode.
	CheckFile string `json:"check_file,omitempty"`
}

// AppliedFile is the record's name in the state dir.
const AppliedFile = "applied.json"

func (a *App) writeApplied(cfg *config.Config) error {
	path := filepath.Join(cfg.StateDir, AppliedFile)
	prev, _ := ReadApplied(cfg.StateDir)
	rec := Applied{VIPs: cfg.VIPs, NFTTable: cfg.NFTTable}
	if cfg.Check.Mode == config.CheckFile {
		rec.CheckFile = cfg.Check.File
	}
	// VIPs applied earlier but no longer configured were removed by SetVIPs
	// on reload; at start-up they are removed here.
	var stale []netip.Addr
	for _, v := range prev.VIPs {
		if !slices.Contains(cfg.VIPs, v) {
			stale = append(stale, v)
		}
	}
	if len(stale) > 0 && a.vips != nil {
		a.log.Info("removing VIPs applied by an earlier configuration", "vips", stale)
		if err := a.vips.Remove(stale); err != nil {
			a.log.Warn("removing old VIPs", "err", err)
		}
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}

// ReadApplied reads the record; a missing one is empty.
func ReadApplied(stateDir string) (Applied, error) {
	var rec Applied
	b, err := os.ReadFile(filepath.Join(stateDir, AppliedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return rec, nil
	}
	if err != nil {
		return rec, err
	}
	return rec, json.Unmarshal(b, &rec)
}

// CleanupReport says what Cleanup removed.
type CleanupReport struct {
	VIPs      []netip.Addr
	Table     string
	CheckFile string
}

// Cleanup removes everything the agent puts on the host: the VIPs on lo,
// the arp table and the check file, from the configuration (may be nil) and
// from the record in stateDir. It is for package purge; a running daemon
// would put everything back, so the caller checks that none runs.
func Cleanup(cfg *config.Config, stateDir string, log *slog.Logger) (CleanupReport, error) {
	return cleanup(cfg, stateDir, log, Edges{}.withDefaults(log))
}

func cleanup(cfg *config.Config, stateDir string, log *slog.Logger, e Edges) (CleanupReport, error) {
	var rep CleanupReport
	rec, err := ReadApplied(stateDir)
	if err != nil {
		log.Warn("cannot read the applied record", "err", err)
	}
	vips := slices.Clone(rec.VIPs)
	tables := []string{}
	if rec.NFTTable != "" {
		tables = append(tables, rec.NFTTable)
	}
	files := []string{}
	if rec.CheckFile != "" {
		files = append(files, rec.CheckFile)
	}
	if cfg != nil {
		for _, v := range cfg.VIPs {
			if !slices.Contains(vips, v) {
				vips = append(vips, v)
			}
		}
		if !slices.Contains(tables, cfg.NFTTable) {
			tables = append(tables, cfg.NFTTable)
		}
		if cfg.Check.Mode == config.CheckFile && !slices.Contains(files, cfg.Check.File) {
			files = append(files, cfg.Check.File)
		}
	}
	if len(tables) == 0 {
		tables = append(tables, config.DefaultTableName)
	}
	var errs []error
	nl, err := e.OpenNetlink()
	if err != nil {
		return rep, fmt.Errorf("netlink: %w", err)
	}
	defer nl.Close()
	present, err := vip.List(nl, vips)
	if err != nil {
		errs = append(errs, err)
	}
	if err := vip.Remove(nl, vips); err != nil {
		errs = append(errs, err)
	}
	for _, v := range vips {
		if present[v] {
			rep.VIPs = append(rep.VIPs, v)
		}
	}
	for _, t := range tables {
		if err := e.NFT.Remove(t); err != nil {
			errs = append(errs, err)
		} else {
			rep.Table = t
		}
	}
	for _, f := range files {
		err := os.Remove(f)
		if err == nil {
			rep.CheckFile = f
		} else if !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	_ = os.Remove(filepath.Join(stateDir, AppliedFile))
	return rep, errors.Join(errs...)
}
