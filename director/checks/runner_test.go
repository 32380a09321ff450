package checks_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tandemlb/tandem/director/checks"
	"github.com/tandemlb/tandem/shared/clock/clocktest"
)

var errDown = errors.New("status 503, want 200")

// scripted is a probe whose outcomes are given in advance (nil = pass).
type scripted struct {
	mu       sync.Mutex
	outcomes []error
	calls    int
}

func (s *scripted) Name() string { return "HTTP_GET" }

func (s *scripted) Probe(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if len(s.outcomes) == 0 {
		return nil
	}
	err := s.outcomes[0]
	s.outcomes = s.outcomes[1:]
	return err
}

// TestSchedule walks a checker through keepalived's schedule with a manual
// clock: each attempt's verdict and the wait armed after it.
func TestSchedule(t *testing.T) {
	type attempt struct {
		err      error
		up       bool
		changed  bool
		failures int
		next     time.Duration
		reason   string
	}
	tests := []struct {
		name     string
		settings checks.Settings
		attempts []attempt
	}{
		{
			name:     "retry 2: down after 3 consecutive failures, each retry after delay_before_retry",
			settings: checks.Settings{DelayLoop: 10 * time.Second, Retry: 2, DelayBeforeRetry: 3 * time.Second},
			attempts: []attempt{
				{nil, true, true, 0, 10 * time.Second, "HTTP_GET succeeded"},
				{errDown, true, false, 1, 3 * time.Second, "HTTP_GET failed (retry 1 of 2 follows): status 503, want 200"},
				{errDown, true, false, 2, 3 * time.Second, "HTTP_GET failed (retry 2 of 2 follows): status 503, want 200"},
				{errDown, false, true, 3, 10 * time.Second, "HTTP_GET failed 3 times: status 503, want 200"},
				// Still down: retries again, changes nothing.
				{errDown, false, false, 4, 3 * time.Second, "HTTP_GET failed (retry 1 of 2 follows): status 503, want 200"},
				// One success is enough.
				{nil, true, true, 0, 10 * time.Second, "HTTP_GET succeeded"},
			},
		},
		{
			name:     "defaults: retry 1, delay_before_retry 1s, delay_loop 60s",
			settings: checks.Settings{},
			attempts: []attempt{
				{errDown, true, false, 1, time.Second, "HTTP_GET failed (retry 1 of 1 follows): status 503, want 200"},
				// Up all along (no alpha): as in keepalived, not a change.
				{nil, true, false, 0, time.Minute, "HTTP_GET succeeded"},
				{errDown, true, false, 1, time.Second, "HTTP_GET failed (retry 1 of 1 follows): status 503, want 200"},
				{errDown, false, true, 2, time.Minute, "HTTP_GET failed 2 times: status 503, want 200"},
			},
		},
		{
			name:     "retry 0 and alpha: down at once, up at the first success",
			settings: checks.Settings{DelayLoop: 5 * time.Second, Retry: checks.NoRetry, Alpha: true},
			attempts: []attempt{
				{errDown, false, true, 1, 5 * time.Second, "HTTP_GET failed: status 503, want 200"},
				{errDown, false, false, 2, 5 * time.Second, "HTTP_GET failed 2 times: status 503, want 200"},
				{nil, true, true, 0, 5 * time.Second, "HTTP_GET succeeded"},
				{errDown, false, true, 1, 5 * time.Second, "HTTP_GET failed: status 503, want 200"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &scripted{}
			for _, a := range tt.attempts {
				p.outcomes = append(p.outcomes, a.err)
			}
			clk := clocktest.New(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
			results := make(chan checks.Result, 16)
			rs := netip.MustParseAddrPort("192.0.2.101:80")
			c := checks.NewChecker(rs, p, tt.settings, clk, func(r checks.Result) { results <- r })
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()

			wait := armed(t, clk)
			if wait != 0 {
				t.Fatalf("first attempt armed after %s, want at once (no warmup)", wait)
			}
			for i, a := range tt.attempts {
				r := result(t, results)
				want := checks.Result{Server: rs, Checker: "HTTP_GET", Err: a.err, Up: a.up, Changed: a.changed, Failures: a.failures, Reason: a.reason, Next: a.next}
				if diff := cmp.Diff(want, r, cmpopts.IgnoreFields(checks.Result{}, "At"), cmpopts.EquateErrors(), cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
					t.Fatalf("attempt %d (-want +got)\n%s", i, diff)
				}
				if got := armed(t, clk); got != a.next {
					t.Fatalf("after attempt %d armed %s, want %s", i, got, a.next)
				}
				if i < len(tt.attempts)-1 {
					clk.Advance(a.next)
				}
			}
			cancel()
			if err := waitErr(t, done); !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		})
	}
}

func TestTriggerProbesNow(t *testing.T) {
	p := &scripted{}
	clk := clocktest.New(time.Unix(0, 0))
	results := make(chan checks.Result, 4)
	c := checks.NewChecker(netip.MustParseAddrPort("192.0.2.101:80"), p, checks.Settings{DelayLoop: time.Hour}, clk, func(r checks.Result) { results <- r })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	armed(t, clk)
	result(t, results)
	if got := armed(t, clk); got != time.Hour {
		t.Fatalf("armed %s", got)
	}
	c.Trigger()
	if r := result(t, results); !r.Up || r.Changed {
		t.Errorf("triggered attempt: %+v", r)
	}
	if got := armed(t, clk); got != time.Hour {
		t.Fatalf("after trigger armed %s", got)
	}
	if err := c.Run(ctx); !errors.Is(err, checks.ErrAlreadyRunning) {
		t.Errorf("second Run = %v", err)
	}
	cancel()
	waitErr(t, done)
	if p.calls != 2 {
		t.Errorf("probed %d times, want 2", p.calls)
	}
}

func TestWarmupDelaysFirstAttempt(t *testing.T) {
	clk := clocktest.New(time.Unix(0, 0))
	c := checks.NewChecker(netip.MustParseAddrPort("192.0.2.101:80"), &scripted{}, checks.Settings{Warmup: 10 * time.Second}, clk, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	if d := armed(t, clk); d < 0 || d >= 10*time.Second {
		t.Errorf("warmup delay %s outside [0, 10s)", d)
	}
	cancel()
	waitErr(t, done)
}

const patience = 5 * time.Second

func armed(t *testing.T, clk *clocktest.Clock) time.Duration {
	t.Helper()
	select {
	case d := <-clk.Armed:
		return d
	case <-time.After(patience):
		t.Fatal("checker did not arm its timer")
	}
	return 0
}

func result(t *testing.T, ch <-chan checks.Result) checks.Result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(patience):
		t.Fatal("no result")
	}
	return checks.Result{}
}

func waitErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(patience):
		t.Fatal("Run did not return")
	}
	return nil
}

// weighted is a probe whose attempts carry the weights given in advance.
type weighted struct {
	mu       sync.Mutex
	outcomes []weightOutcome
}

type weightOutcome struct {
	w   int
	set bool
	err error
}

func (w *weighted) Name() string                    { return "MISC_CHECK" }
func (w *weighted) Probe(ctx context.Context) error { _, _, err := w.ProbeWeight(ctx); return err }
func (w *weighted) ProbeWeight(context.Context) (int, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	o := w.outcomes[0]
	w.outcomes = w.outcomes[1:]
	return o.w, o.set, o.err
}

// TestWeights: weighted attempts report their weight, WeightChanged only
// when it moves, and again after the checker was down.
func TestWeights(t *testing.T) {
	p := &weighted{outcomes: []weightOutcome{
		{w: 10, set: true}, {w: 10, set: true}, {w: 20, set: true},
		{w: 99, set: true, err: errDown}, // a failure carries no weight
		{w: 20, set: true},               // same weight as before the failure
		{err: errDown},                   // down (retry 0)
		{w: 20, set: true},               // back up: reported again
		{},                               // passes without a weight
	}}
	type got struct {
		up, weightSet, weightChanged bool
		weight                       int
	}
	want := []got{
		{true, true, true, 10}, {true, true, false, 10}, {true, true, true, 20},
		{false, false, false, 0}, {true, true, true, 20}, {false, false, false, 0},
		{true, true, true, 20}, {true, false, false, 0},
	}
	// Named keeps the weights.
	probe := checks.Named(p, "MISC_CHECK#2")
	if _, ok := probe.(checks.WeightedProbe); !ok {
		t.Fatal("Named lost WeightedProbe")
	}
	clk := clocktest.New(time.Unix(0, 0))
	results := make(chan checks.Result, 16)
	c := checks.NewChecker(netip.MustParseAddrPort("192.0.2.101:80"), probe, checks.Settings{DelayLoop: time.Second, Retry: checks.NoRetry}, clk, func(r checks.Result) { results <- r })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for i, w := range want {
		armed(t, clk)
		if i > 0 {
			clk.Advance(time.Second)
		}
		r := result(t, results)
		g := got{r.Up, r.WeightSet, r.WeightChanged, r.Weight}
		if g != w {
			t.Errorf("attempt %d: %+v, want %+v", i, g, w)
		}
		if r.Checker != "MISC_CHECK#2" {
			t.Errorf("checker %q", r.Checker)
		}
	}
	cancel()
	waitErr(t, done)
}
