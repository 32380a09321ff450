package track

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandemlb/tandem/shared/clock"
)

// DefaultProcessInterval is how often a Process rescans /proc.
const DefaultProcessInterval = time.Second

// NoProcesses is the Quorum / QuorumMax value for keepalived's 0 (the
// zero value means the default).
const NoProcesses = -1

// ParamMatch says how a process's arguments are compared with
// ProcessConfig.Params (keepalived param_match).
type ParamMatch int

// Parameter matching modes.
const (
	// ParamMatchDefault is exact when Params are given, else no check.
	ParamMatchDefault ParamMatch = iota
	// ParamMatchExact: the arguments are exactly Params.
	ParamMatchExact
	// ParamMatchPartial: the first len(Params) arguments are Params;
	// more may follow.
	ParamMatchPartial
	// ParamMatchInitial: as partial, but the last of Params need only be
	// a prefix of that argument.
	ParamMatchInitial
)

// ProcessConfig is one vrrp_track_process block.
//
// Matching follows keepalived (core/track_process.c): without Params,
// ParamMatch or FullCommand, Process is compared exactly with the
// process name in /proc/PID/stat (the comm, at most 15 bytes); otherwise
// it is compared exactly with the first word of /proc/PID/cmdline (the
// full path as started) and Params with the following words. Zombies are
// not counted. The match is exact, not a pattern: "ssh" does not match
// sshd.
//
// keepalived follows fork, exec and exit events from the kernel's process
// connector; this implementation rescans /proc every Interval, which
// needs no privilege and cannot lose events, at the cost of up to
// Interval of latency. As a rescan cannot tell a fork from an exec,
// ForkDelay applies to every gain of quorum and TermDelay to every loss.
type ProcessConfig struct {
	Name    string
	Process string
	Params  []string
	// ParamMatch: see the constants; keepalived's param_match.
	ParamMatch  ParamMatch
	FullCommand bool
	// Quorum is the minimum count for OK; 0 means 1, NoProcesses means 0.
	Quorum int
	// QuorumMax is the maximum count for OK; 0 means unlimited,
	// NoProcesses means 0 (OK only while no process matches).
	QuorumMax int
	// Delay sets ForkDelay and TermDelay where they are 0 (keepalived
	// delay). ForkDelay: quorum must hold that long before the tracker
	// is OK again; TermDelay: quorum must be lost that long before it
	// fails.
	Delay, ForkDelay, TermDelay time.Duration
	// Interval between scans; 0 means 1 s.
	Interval time.Duration
}

func (c ProcessConfig) withDefaults() ProcessConfig {
	switch {
	case c.Quorum == NoProcesses:
		c.Quorum = 0
	case c.Quorum <= 0:
		c.Quorum = 1
		if c.QuorumMax == NoProcesses {
			c.Quorum = 0
		}
	}
	switch {
	case c.QuorumMax == NoProcesses:
		c.QuorumMax = 0
	case c.QuorumMax <= 0:
		c.QuorumMax = int(^uint(0) >> 1)
	}
	if c.ForkDelay <= 0 {
		c.ForkDelay = max(c.Delay, 0)
	}
	if c.TermDelay <= 0 {
		c.TermDelay = max(c.Delay, 0)
	}
	if c.Interval <= 0 {
		c.Interval = DefaultProcessInterval
	}
	return c
}

func (c ProcessConfig) useCmdline() bool {
	return c.FullCommand || len(c.Params) > 0 || c.ParamMatch != ParamMatchDefault
}

// Matches reports whether p counts for this tracker.
func (c ProcessConfig) Matches(p Proc) bool {
	if p.Zombie {
		return false
	}
	if !c.useCmdline() {
		return p.Comm == c.Process
	}
	if len(p.Cmdline) == 0 || p.Cmdline[0] != c.Process {
		return false
	}
	if len(c.Params) == 0 && c.ParamMatch == ParamMatchDefault {
		return true
	}
	got, want := p.Cmdline[1:], c.Params
	switch c.ParamMatch {
	case ParamMatchPartial:
		return len(got) >= len(want) && slices.Equal(got[:len(want)], want)
	case ParamMatchInitial:
		n := len(want)
		if n == 0 {
			return true
		}
		return len(got) >= n && slices.Equal(got[:n-1], want[:n-1]) && strings.HasPrefix(got[n-1], want[n-1])
	}
	return slices.Equal(got, want)
}

// Proc is one process as a ProcFS sees it.
type Proc struct {
	PID    int
	Comm   string // /proc/PID/stat's name field
	Zombie bool   // state Z or X
	// Cmdline is /proc/PID/cmdline split at NULs, read only when asked.
	Cmdline []string
}

// ProcFS lists processes. The real one is OSProcFS; tests use
// tracktest.ProcFS.
type ProcFS interface {
	Scan(withCmdline bool) ([]Proc, error)
}

// Bounds of OSProcFS's reads.
const (
	statLimit    = 512
	cmdlineLimit = 4096
)

// OSProcFS reads /proc (or Root), with bounded reads of each process's
// stat and cmdline. Processes that vanish during the scan are skipped.
type OSProcFS struct {
	Root string // "" means /proc
}

// Scan implements ProcFS.
func (f OSProcFS) Scan(withCmdline bool) ([]Proc, error) {
	root := f.Root
	if root == "" {
		root = "/proc"
	}
	d, err := os.Open(root)
	if err != nil {
		return nil, fmt.Errorf("scan processes: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("scan processes: read %s: %w", root, err)
	}
	var out []Proc
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid <= 0 {
			continue
		}
		stat, err := readBounded(filepath.Join(root, n, "stat"), statLimit)
		if err != nil {
			continue
		}
		comm, state, ok := parseStat(stat)
		if !ok {
			continue
		}
		p := Proc{PID: pid, Comm: comm, Zombie: state == 'Z' || state == 'X'}
		if withCmdline {
			b, err := readBounded(filepath.Join(root, n, "cmdline"), cmdlineLimit)
			if err != nil {
				continue
			}
			p.Cmdline = splitCmdline(b)
		}
		out = append(out, p)
	}
	return out, nil
}

// parseStat returns the name and state of a /proc/PID/stat line: the
// name is between the first '(' and the last ')', the state follows.
func parseStat(b []byte) (comm string, state byte, ok bool) {
	i := bytes.IndexByte(b, '(')
	j := bytes.LastIndexByte(b, ')')
	if i < 0 || j < i || j+2 >= len(b) {
		return "", 0, false
	}
	return string(b[i+1 : j]), b[j+2], true
}

func splitCmdline(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// quorumState is the quorum verdict with keepalived's fork/terminate
// damping, without I/O.
type quorumState struct {
	lo, hi      int
	fork, term  time.Duration
	up, started bool
	pending     bool // a change to !up waits until deadline
	deadline    time.Time
}

func newQuorumState(c ProcessConfig) *quorumState {
	return &quorumState{lo: c.Quorum, hi: c.QuorumMax, fork: c.ForkDelay, term: c.TermDelay}
}

// observe records a count seen at now and reports whether the verdict
// changed. The first observation sets the verdict at once, as keepalived
// does at startup.
func (q *quorumState) observe(now time.Time, count int) (changed bool) {
	in := count >= q.lo && count <= q.hi
	if !q.started {
		q.started, q.up = true, in
		return true
	}
	if in == q.up {
		q.pending = false
		return false
	}
	delay := q.term
	if in {
		delay = q.fork
	}
	if !q.pending {
		if delay <= 0 {
			q.up = in
			return true
		}
		q.pending, q.deadline = true, now.Add(delay)
		return false
	}
	if !now.Before(q.deadline) {
		q.pending, q.up = false, in
		return true
	}
	return false
}

// wait returns how long until the pending change is due, if any.
func (q *quorumState) wait(now time.Time) (time.Duration, bool) {
	if !q.pending {
		return 0, false
	}
	return max(q.deadline.Sub(now), 0), true
}

// Process tracks one vrrp_track_process.
type Process struct {
	cfg     ProcessConfig // with defaults
	fs      ProcFS
	clock   clock.Clock
	log     *slog.Logger
	report  func(Update)
	q       *quorumState
	last    int
	runOnce sync.Once
}

// NewProcess returns the tracker of one vrrp_track_process. report is
// called from Run's goroutine on the first scan and whenever the count or
// the verdict changes. A nil fs is OSProcFS, a nil clock the system clock,
// a nil log discards. It does no I/O and starts nothing.
func NewProcess(cfg ProcessConfig, fs ProcFS, clk clock.Clock, log *slog.Logger, report func(Update)) *Process {
	cfg = cfg.withDefaults()
	if fs == nil {
		fs = OSProcFS{}
	}
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Process{cfg: cfg, fs: fs, clock: clk, log: log.With("process", cfg.Name), report: report, q: newQuorumState(cfg), last: -1}
}

// Run scans at once and then every Interval (sooner when a delay ends)
// until ctx is done, and returns ctx's error. A failed scan is logged and
// changes nothing. It may be called once.
func (p *Process) Run(ctx context.Context) error {
	first := false
	p.runOnce.Do(func() { first = true })
	if !first {
		return ErrAlreadyRunning
	}
	for {
		p.scan()
		now := p.clock.Now()
		d := p.cfg.Interval
		if w, ok := p.q.wait(now); ok {
			d = min(d, w)
		}
		t := p.clock.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C():
		}
	}
}

func (p *Process) scan() {
	procs, err := p.fs.Scan(p.cfg.useCmdline())
	if err != nil {
		p.log.Warn("process scan failed", "err", err)
		return
	}
	count := 0
	for _, pr := range procs {
		if p.cfg.Matches(pr) {
			count++
		}
	}
	now := p.clock.Now()
	changed := p.q.observe(now, count)
	if !changed && count == p.last {
		return
	}
	p.last = count
	u := Update{Kind: KindProcess, Name: p.cfg.Name, At: now, OK: p.q.up, Changed: changed, Count: count}
	u.Reason = fmt.Sprintf("%d matching, quorum %s", count, p.rangeText())
	if _, ok := p.q.wait(now); ok {
		u.Reason += ", change delayed"
	}
	if changed {
		p.log.Info("process quorum changed", "ok", u.OK, "count", count)
	}
	if p.report != nil {
		p.report(u)
	}
}

func (p *Process) rangeText() string {
	if p.cfg.QuorumMax == int(^uint(0)>>1) {
		return fmt.Sprintf("%d..", p.cfg.Quorum)
	}
	return fmt.Sprintf("%d..%d", p.cfg.Quorum, p.cfg.QuorumMax)
}
