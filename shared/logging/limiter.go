package logging

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Defaults of Limiter.
const (
	// DefaultLimitInterval is the shortest time between two lines of one
	// key.
	DefaultLimitInterval = 10 * time.Second
	// DefaultLimitKeys bounds the keys a Limiter remembers; keys beyond it
	// share one more, the overflow key.
	DefaultLimitKeys = 64
	// KeySuppressed is the attribute that counts the lines a Limiter
	// suppressed since the previous line of the same key.
	KeySuppressed = "suppressed"
	// overflowKey is the key of every key beyond the bound.
	overflowKey = "\x00overflow"
)

// Limiter rate-limits log lines on a path that an attacker can drive (a
// datagram dropped): at most one line per key (a drop reason) per
// interval; the lines suppressed meanwhile are counted and reported in the
// next line of that key (KeySuppressed). The number of keys is bounded. The
// clock is injected. Safe for concurrent use; one Limiter can be shared by
// several senders of the same lines (the VRRP instances of one socket
// family) so that one event is logged once.
type Limiter struct {
	interval time.Duration
	maxKeys  int
	now      func() time.Time

	mu   sync.Mutex
	keys map[string]*limitEntry
}

type limitEntry struct {
	last       time.Time
	suppressed uint64
}

// NewLimiter returns a limiter allowing one line per key per interval
// (DefaultLimitInterval when <= 0), with now as its clock (time.Now when
// nil).
func NewLimiter(interval time.Duration, now func() time.Time) *Limiter {
	if interval <= 0 {
		interval = DefaultLimitInterval
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{interval: interval, maxKeys: DefaultLimitKeys, now: now, keys: map[string]*limitEntry{}}
}

// Allow reports whether a line for key may be written now and, if so, how
// many lines of that key were suppressed since the last one written.
func (l *Limiter) Allow(key string) (ok bool, suppressed uint64) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[key]
	if e == nil {
		if len(l.keys) >= l.maxKeys {
			l.prune(now)
		}
		if len(l.keys) >= l.maxKeys {
			key = overflowKey
			e = l.keys[key]
		}
		if e == nil {
			l.keys[key] = &limitEntry{last: now}
			return true, 0
		}
	}
	if now.Sub(e.last) < l.interval {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}

// prune forgets the keys that have nothing to report: last line older than
// the interval and nothing suppressed since.
func (l *Limiter) prune(now time.Time) {
	for k, e := range l.keys {
		if e.suppressed == 0 && now.Sub(e.last) >= l.interval {
			delete(l.keys, k)
		}
	}
}

// Log writes msg with args at level to log when Allow(key) lets it, with
// KeySuppressed when lines were suppressed; it reports whether it wrote.
func (l *Limiter) Log(log *slog.Logger, level slog.Level, key, msg string, args ...any) bool {
	ok, n := l.Allow(key)
	if !ok {
		return false
	}
	if n > 0 {
		args = append(args, KeySuppressed, n)
	}
	log.Log(context.Background(), level, msg, args...)
	return true
}
