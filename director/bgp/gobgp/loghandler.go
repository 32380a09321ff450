package gobgp

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tandemlb/tandem/shared/clock"
)

// The budget of GoBGP's own log lines: a burst, then one a second. GoBGP
// logs what a peer makes it log (a malformed message, a reset); a peer
// must not be able to flood the journal.
const (
	gobgpLogBurst    = 20
	gobgpLogInterval = time.Second
)

// limitHandler passes GoBGP's records at Warn and above to the director's
// handler, within a token bucket shared by all its clones; it counts what
// it drops and says so in the next record it passes.
type limitHandler struct {
	next  slog.Handler
	state *limitState
}

type limitState struct {
	mu      sync.Mutex
	clock   clock.Clock
	tokens  int
	last    time.Time
	dropped int
}

func newLimitHandler(next slog.Handler, clk clock.Clock) *limitHandler {
	return &limitHandler{next: next, state: &limitState{clock: clock.Or(clk), tokens: gobgpLogBurst}}
}

func (h *limitHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.next.Enabled(ctx, l)
}

// take spends a token; it returns false when there is none, and else the
// number of records dropped since the last one passed.
func (s *limitState) take() (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	if s.last.IsZero() {
		s.last = now
	}
	if n := int(now.Sub(s.last) / gobgpLogInterval); n > 0 {
		s.tokens = min(gobgpLogBurst, s.tokens+n)
		s.last = s.last.Add(time.Duration(n) * gobgpLogInterval)
	}
	if s.tokens == 0 {
		s.dropped++
		return false, 0
	}
	s.tokens--
	d := s.dropped
	s.dropped = 0
	return true, d
}

func (h *limitHandler) Handle(ctx context.Context, r slog.Record) error {
	ok, dropped := h.state.take()
	if !ok {
		return nil
	}
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("gobgp_lines_dropped", dropped))
	}
	return h.next.Handle(ctx, r)
}

func (h *limitHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &limitHandler{next: h.next.WithAttrs(as), state: h.state}
}

func (h *limitHandler) WithGroup(name string) slog.Handler {
	return &limitHandler{next: h.next.WithGroup(name), state: h.state}
}
