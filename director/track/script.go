package track

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tandemlb/tandem/director/script"
	"github.com/tandemlb/tandem/shared/clock"
)

// DefaultScriptInterval is keepalived's vrrp_script interval default.
const DefaultScriptInterval = time.Second

// ScriptConfig is one vrrp_script block.
type ScriptConfig struct {
	Name string
	// Command is the script line, split into arguments as keepalived does
	// (see [script.SplitCommand]) and executed directly, without a shell.
	Command string
	// Interval between runs; 0 means 1 s.
	Interval time.Duration
	// Timeout after which a run is killed and counts as failed; 0 means
	// the interval (keepalived: "default = interval").
	Timeout time.Duration
	// Rise and Fall are the consecutive successes (failures) needed to
	// become OK (failed); 0 means 1.
	Rise, Fall int
	// User and Group run the script under that identity (resolved with
	// os/user at each run). Group empty means the user's primary group;
	// both empty means the director's own identity.
	User, Group string
	// InitFail starts the script failed (keepalived init_fail); otherwise
	// it starts pending and one success is enough to become OK.
	InitFail bool
}

func (c ScriptConfig) withDefaults() ScriptConfig {
	if c.Interval <= 0 {
		c.Interval = DefaultScriptInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = c.Interval
	}
	c.Rise = max(c.Rise, 1)
	c.Fall = max(c.Fall, 1)
	return c
}

// scriptState is keepalived's per-script rise/fall counter
// (vrrp_scheduler.c, vrrp_script_child_thread), without I/O. result runs
// from 0 to rise+fall-1; the script is OK when result ≥ rise.
type scriptState struct {
	rise, fall int
	result     int
	pending    bool
}

func newScriptState(rise, fall int, initFail bool) *scriptState {
	s := &scriptState{rise: max(rise, 1), fall: max(fall, 1)}
	if initFail {
		s.result = 0
	} else {
		// keepalived: "one success is enough"; the first failure fails.
		s.result = s.rise - 1
		s.pending = true
	}
	return s
}

func (s *scriptState) ok() bool { return !s.pending && s.result >= s.rise }

// observe records one run and reports whether the verdict changed.
func (s *scriptState) observe(success bool) (changed bool) {
	top := s.rise + s.fall - 1
	if success {
		switch {
		case s.result < s.rise-1:
			s.result++
		case s.result != top:
			changed = s.result < s.rise || s.pending
			s.result = top
		default:
			changed = s.pending
		}
	} else {
		if s.result > s.rise {
			s.result--
		} else {
			changed = s.result == s.rise || s.pending
			s.result = 0
		}
	}
	s.pending = false
	return changed
}

// Command is one script run for an [Executor].
type Command struct {
	Args        []string // Args[0] is a path or a name looked up in PATH
	User, Group string
	Timeout     time.Duration
}

// ExecResult is the outcome of one run.
type ExecResult struct {
	// ExitStatus is the exit code, -1 when the process did not exit by
	// itself (killed, or never started).
	ExitStatus int
	// Err is set when the script could not be run at all (not found, not
	// executable, unknown user); the run counts as failed.
	Err error
	// TimedOut is set when the run was killed after Command.Timeout.
	TimedOut bool
	// Stderr holds the start of the script's standard error (bounded).
	Stderr string
}

// Executor runs a script to completion or timeout. It must honour ctx:
// when ctx is done, the run is killed and Exec returns.
type Executor interface {
	Exec(ctx context.Context, c Command) ExecResult
}

// Script runs one vrrp_script on its interval.
type Script struct {
	cfg     ScriptConfig // with defaults
	args    []string
	argErr  error
	exec    Executor
	clock   clock.Clock
	report  func(Update)
	log     *slog.Logger
	state   *scriptState
	skipped int
	runOnce sync.Once
}

// NewScript returns the runner of one script. report is called from Run's
// goroutine after every run. A nil exec is [OSExecutor], a nil clock the
// system clock, a nil log discards. It does no I/O and starts nothing.
func NewScript(cfg ScriptConfig, exec Executor, clk clock.Clock, log *slog.Logger, report func(Update)) *Script {
	cfg = cfg.withDefaults()
	if exec == nil {
		exec = OSExecutor{}
	}
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	args, err := script.SplitCommand(cfg.Command)
	return &Script{
		cfg: cfg, args: args, argErr: err, exec: exec, clock: clk,
		report: report, log: log.With("script", cfg.Name),
		state: newScriptState(cfg.Rise, cfg.Fall, cfg.InitFail),
	}
}

// ErrAlreadyRunning is returned by a second call to a Run method.
var ErrAlreadyRunning = errors.New("track: already running")

// Run runs the script at once and then every Interval until ctx is done,
// and returns ctx's error. A run still going when the next one is due
// makes that one skipped (counted in Update.Skipped), so two runs of the
// script never overlap. On cancel it waits for the run in flight, which
// the Executor kills. It may be called once.
func (s *Script) Run(ctx context.Context) error {
	first := false
	s.runOnce.Do(func() { first = true })
	if !first {
		return ErrAlreadyRunning
	}
	type done struct {
		res     ExecResult
		started time.Time
	}
	results := make(chan done, 1)
	running := false
	t := s.clock.NewTimer(0)
	for {
		select {
		case <-ctx.Done():
			t.Stop()
			if running {
				<-results
			}
			return ctx.Err()
		case <-t.C():
			t = s.clock.NewTimer(s.cfg.Interval)
			if running {
				s.skipped++
				s.log.Warn("script still running, run skipped", "skipped", s.skipped)
				continue
			}
			running = true
			started := s.clock.Now()
			go func() {
				results <- done{s.runOnceExec(ctx), started}
			}()
		case d := <-results:
			running = false
			if ctx.Err() != nil {
				t.Stop()
				return ctx.Err()
			}
			now := s.clock.Now()
			u := s.observe(d.res)
			u.At, u.Duration = now, now.Sub(d.started)
			if s.report != nil {
				s.report(u)
			}
		}
	}
}

func (s *Script) runOnceExec(ctx context.Context) ExecResult {
	if s.argErr != nil {
		return ExecResult{ExitStatus: -1, Err: fmt.Errorf("command %q: %w", s.cfg.Command, s.argErr)}
	}
	return s.exec.Exec(ctx, Command{Args: s.args, User: s.cfg.User, Group: s.cfg.Group, Timeout: s.cfg.Timeout})
}

// observe feeds one result to the rise/fall state and builds its Update.
func (s *Script) observe(r ExecResult) Update {
	success := r.Err == nil && !r.TimedOut && r.ExitStatus == 0
	changed := s.state.observe(success)
	u := Update{
		Kind: KindScript, Name: s.cfg.Name, OK: s.state.ok(), Changed: changed,
		ExitStatus: r.ExitStatus, Skipped: s.skipped,
	}
	switch {
	case r.Err != nil:
		u.Reason = r.Err.Error()
	case r.TimedOut:
		u.Reason = fmt.Sprintf("timeout after %s", s.cfg.Timeout)
	case r.ExitStatus == 0:
		u.Reason = "exited with status 0"
	case r.ExitStatus > 0:
		u.Reason = fmt.Sprintf("exited with status %d", r.ExitStatus)
	default:
		u.Reason = "killed"
	}
	if r.Stderr != "" && !success {
		u.Reason += ": " + r.Stderr
	}
	if changed {
		s.log.Info("script state changed", "ok", u.OK, "reason", u.Reason)
	}
	return u
}
