package checks

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/tandemlb/tandem/shared/clock"
)

// Keepalived's scheduling defaults.
const (
	DefaultDelayLoop        = 60 * time.Second
	DefaultRetry            = 1
	DefaultDelayBeforeRetry = 1 * time.Second
)

// Settings are a checker's scheduling options.
type Settings struct {
	// DelayLoop is the interval between checks (keepalived delay_loop);
	// 0 means 60 s.
	DelayLoop time.Duration
	// Retry is how many times a failed check is retried before the
	// checker goes down (keepalived retry, formerly nb_get_retry). Use
	// NoRetry for 0; the zero value means the default, 1.
	Retry int
	// DelayBeforeRetry is the wait before each retry; 0 means 1 s.
	DelayBeforeRetry time.Duration
	// Warmup is the upper bound of a random delay before the first check
	// (keepalived warmup); 0 checks at once.
	Warmup time.Duration
	// Alpha starts the checker down (keepalived alpha); otherwise it
	// starts up.
	Alpha bool
}

// NoRetry is the Settings.Retry value for keepalived's "retry 0".
const NoRetry = -1

func (s Settings) withDefaults() Settings {
	if s.DelayLoop <= 0 {
		s.DelayLoop = DefaultDelayLoop
	}
	switch {
	case s.Retry == 0:
		s.Retry = DefaultRetry
	case s.Retry < 0:
		s.Retry = 0
	}
	if s.DelayBeforeRetry <= 0 {
		s.DelayBeforeRetry = DefaultDelayBeforeRetry
	}
	return s
}

// Result is one attempt and the checker's verdict after it.
type Result struct {
	Server  netip.AddrPort
	Checker string // Probe.Name()
	At      time.Time
	// Err is the attempt's failure, nil on success.
	Err error
	// Up is the checker's verdict after this attempt; Changed is true when
	// it differs from the verdict before (see the package doc for the
	// first attempt).
	Up      bool
	Changed bool
	// Failures counts consecutive failed attempts, this one included.
	Failures int
	// Reason is a one-line explanation for logs and the pool: "HTTP_GET
	// succeeded", "HTTP_GET failed 2 times: status 503, want 200",
	// "HTTP_GET failed (retry 1 of 1 follows): connect: connection
	// refused".
	Reason string
	// Next is the wait before the next attempt.
	Next time.Duration
	// WeightSet is true when this attempt passed and its probe asked for
	// a weight for the server (a [WeightedProbe]: MISC_CHECK with
	// misc_dynamic, FILE_CHECK with a weight); Weight is that weight,
	// absolute (never a delta, so nothing accumulates across attempts or
	// reloads). A failed attempt never sets a weight: the server keeps
	// the last one until the verdict goes down.
	WeightSet bool
	Weight    int
	// WeightChanged is true when WeightSet and Weight differs from the
	// weight of this checker's previous weighted attempt, or there was
	// none since the checker started or last went down. The pool needs
	// the result when Changed or WeightChanged.
	WeightChanged bool
}

// WeightedProbe is a [Probe] whose passing attempts may carry a weight
// for the server. A [Checker] calls ProbeWeight instead of Probe.
type WeightedProbe interface {
	Probe
	// ProbeWeight is Probe that also returns the weight asked for, with
	// set false when the attempt asks for none.
	ProbeWeight(ctx context.Context) (weight int, set bool, err error)
}

// Named returns p under another name (a second checker of the same kind
// on one server), keeping its weights when p is a [WeightedProbe].
func Named(p Probe, name string) Probe {
	if p.Name() == name {
		return p
	}
	if w, ok := p.(WeightedProbe); ok {
		return namedWeighted{p: w, name: name}
	}
	return named{p: p, name: name}
}

type named struct {
	p    Probe
	name string
}

func (n named) Name() string                    { return n.name }
func (n named) Probe(ctx context.Context) error { return n.p.Probe(ctx) }

type namedWeighted struct {
	p    WeightedProbe
	name string
}

func (n namedWeighted) Name() string                    { return n.name }
func (n namedWeighted) Probe(ctx context.Context) error { return n.p.Probe(ctx) }
func (n namedWeighted) ProbeWeight(ctx context.Context) (int, bool, error) {
	return n.p.ProbeWeight(ctx)
}

// machine is keepalived's per-checker retry logic, without I/O.
type machine struct {
	s        Settings // with defaults
	up       bool
	hasRun   bool
	retryIt  int
	failures int
}

func newMachine(s Settings) *machine {
	s = s.withDefaults()
	return &machine{s: s, up: !s.Alpha}
}

// verdict is the outcome of one observed attempt.
type verdict struct {
	up, changed bool
	retrying    bool // a retry is scheduled after DelayBeforeRetry
	next        time.Duration
}

// observe records one attempt (keepalived's tcp_epilog) and returns the
// verdict and the delay before the next attempt.
func (m *machine) observe(success bool) verdict {
	if success {
		m.failures = 0
	} else {
		m.failures++
	}
	var v verdict
	if success || m.retryIt >= m.s.Retry {
		v.next = m.s.DelayLoop
		m.retryIt = 0
		switch {
		case success && (!m.up || !m.hasRun):
			v.changed, m.up = true, true
		case !success && (m.up || !m.hasRun):
			v.changed, m.up = true, false
		}
	} else {
		v.next, v.retrying = m.s.DelayBeforeRetry, true
		m.retryIt++
	}
	m.hasRun = true
	v.up = m.up
	return v
}

// Checker runs one probe against one real server on keepalived's schedule.
type Checker struct {
	server   netip.AddrPort
	probe    Probe
	clock    clock.Clock
	report   func(Result)
	m        *machine
	rand     func(time.Duration) time.Duration
	trigger  chan struct{}
	runOnce  sync.Once
	settings Settings
	// lastWeight is the weight of the last weighted attempt; hasWeight
	// is false before one, and again once the verdict goes down.
	lastWeight int
	hasWeight  bool
}

// NewChecker returns a checker for server. report is called from Run's
// goroutine after every attempt. A nil clock is the system clock. It does
// no I/O and starts nothing.
func NewChecker(server netip.AddrPort, p Probe, s Settings, clk clock.Clock, report func(Result)) *Checker {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Checker{
		server:   server,
		probe:    p,
		clock:    clk,
		report:   report,
		m:        newMachine(s),
		rand:     func(d time.Duration) time.Duration { return rand.N(d) },
		trigger:  make(chan struct{}, 1),
		settings: s.withDefaults(),
	}
}

// Trigger asks for an attempt now instead of at the next scheduled time
// (the pool's Recheck). It never blocks; triggers made before the
// checker takes the pending one coalesce.
func (c *Checker) Trigger() {
	select {
	case c.trigger <- struct{}{}:
	default:
	}
}

// ErrAlreadyRunning is returned by a second call to Run.
var ErrAlreadyRunning = errors.New("checks: checker already running")

// Run checks until ctx is done and returns ctx's error. It may be called
// once.
func (c *Checker) Run(ctx context.Context) error {
	first := false
	c.runOnce.Do(func() { first = true })
	if !first {
		return ErrAlreadyRunning
	}
	delay := time.Duration(0)
	if c.settings.Warmup > 0 {
		delay = c.rand(c.settings.Warmup)
	}
	for {
		t := c.clock.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C():
		case <-c.trigger:
			t.Stop()
		}
		weight, set, err := c.attempt(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res := c.observe(c.clock.Now(), err)
		c.weigh(&res, weight, set)
		delay = res.Next
		if c.report != nil {
			c.report(res)
		}
	}
}

// attempt runs the probe once, with its weight when it has one.
func (c *Checker) attempt(ctx context.Context) (weight int, set bool, err error) {
	if w, ok := c.probe.(WeightedProbe); ok {
		weight, set, err = w.ProbeWeight(ctx)
		return weight, set && err == nil, err
	}
	return 0, false, c.probe.Probe(ctx)
}

// weigh adds the attempt's weight to r and remembers it.
func (c *Checker) weigh(r *Result, weight int, set bool) {
	if !r.Up {
		c.hasWeight = false
	}
	if !set {
		return
	}
	r.WeightSet, r.Weight = true, weight
	r.WeightChanged = !c.hasWeight || c.lastWeight != weight
	c.lastWeight, c.hasWeight = weight, true
}

func (c *Checker) observe(now time.Time, err error) Result {
	v := c.m.observe(err == nil)
	r := Result{
		Server: c.server, Checker: c.probe.Name(), At: now, Err: err,
		Up: v.up, Changed: v.changed, Failures: c.m.failures, Next: v.next,
	}
	name := c.probe.Name()
	switch {
	case err == nil:
		r.Reason = name + " succeeded"
	case v.retrying:
		r.Reason = fmt.Sprintf("%s failed (retry %d of %d follows): %v", name, c.m.retryIt, c.m.s.Retry, err)
	case r.Failures == 1:
		r.Reason = fmt.Sprintf("%s failed: %v", name, err)
	default:
		r.Reason = fmt.Sprintf("%s failed %d times: %v", name, r.Failures, err)
	}
	return r
}
