package logging

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type step struct {
	at         time.Duration
	key        string
	ok         bool
	suppressed uint64
}

func TestLimiterAllow(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := t0
	l := NewLimiter(time.Second, func() time.Time { return now })
	steps := []step{
		{0, "mac", true, 0},
		{10 * time.Millisecond, "mac", false, 0},
		{20 * time.Millisecond, "ttl", true, 0}, // keys are independent
		{500 * time.Millisecond, "mac", false, 0},
		{999 * time.Millisecond, "mac", false, 0},
		{time.Second, "mac", true, 3},
		{1500 * time.Millisecond, "ttl", true, 0},
		{1600 * time.Millisecond, "ttl", false, 0},
		{5 * time.Second, "ttl", true, 1},
		{5 * time.Second, "mac", true, 0},
	}
	var got []step
	for _, s := range steps {
		now = t0.Add(s.at)
		ok, n := l.Allow(s.key)
		got = append(got, step{s.at, s.key, ok, n})
	}
	if diff := cmp.Diff(steps, got, cmp.AllowUnexported(step{})); diff != "" {
		t.Errorf("Allow (-want +got)\n%s", diff)
	}
}

// TestLimiterKeysBounded: an attacker choosing the key (a reason built from
// input) cannot grow the table: keys beyond the bound share one line.
func TestLimiterKeysBounded(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLimiter(time.Second, func() time.Time { return now })
	lines := 0
	for i := range 10000 {
		if ok, _ := l.Allow(fmt.Sprintf("k%d", i)); ok {
			lines++
		}
	}
	if len(l.keys) > DefaultLimitKeys+1 {
		t.Errorf("%d keys, bound %d and the overflow key", len(l.keys), DefaultLimitKeys)
	}
	if lines != DefaultLimitKeys+1 {
		t.Errorf("%d lines for 10000 keys in one interval, want %d", lines, DefaultLimitKeys+1)
	}
	// Later, old keys with nothing suppressed make room again.
	now = now.Add(2 * time.Second)
	if ok, _ := l.Allow("fresh"); !ok {
		t.Error("a new key after the interval was suppressed")
	}
}

func TestLimiterLog(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLimiter(time.Second, func() time.Time { return now })
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	for i := range 1000 {
		now = time.Unix(0, 0).Add(time.Duration(i) * 5 * time.Millisecond) // 5 s in all
		l.Log(log, slog.LevelWarn, "mac", "probe dropped", "reason", "mac")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines for 1000 drops over 5s at one per second:\n%s", len(lines), buf.String())
	}
	if want := "level=WARN msg=\"probe dropped\" reason=mac suppressed=199"; lines[1] != want {
		t.Errorf("second line %q, want %q", lines[1], want)
	}
}
