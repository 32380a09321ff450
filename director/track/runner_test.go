package track_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tandemlb/tandem/director/track"
	"github.com/tandemlb/tandem/director/track/tracktest"
	"github.com/tandemlb/tandem/shared/clock/clocktest"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// waitArmed waits for the code under test to arm a timer of d.
func waitArmed(t *testing.T, c *clocktest.Clock, d time.Duration) {
	t.Helper()
	select {
	case got := <-c.Armed:
		if got != d {
			t.Fatalf("timer armed for %v, want %v", got, d)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no timer of %v armed", d)
	}
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received")
	}
	var zero T
	return zero
}

func TestScriptRunner(t *testing.T) {
	clock := clocktest.New(t0)
	ex := tracktest.NewExecutor()
	updates := make(chan track.Update, 16)
	s := track.NewScript(track.ScriptConfig{Name: "chk", Command: "/usr/bin/check 'a b'", Interval: 2 * time.Second, Fall: 2, User: "u"},
		ex, clock, nil, func(u track.Update) { updates <- u })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	ignore := cmpopts.IgnoreFields(track.Update{}, "At")
	// First run at once.
	waitArmed(t, clock, 0)
	waitArmed(t, clock, 2*time.Second)
	c := recv(t, ex.Started)
	if diff := cmp.Diff(track.Command{Args: []string{"/usr/bin/check", "a b"}, User: "u", Timeout: 2 * time.Second}, c); diff != "" {
		t.Fatalf("command (-want +got)\n%s", diff)
	}
	clock.Advance(500 * time.Millisecond)
	ex.Push(track.ExecResult{ExitStatus: 0})
	want := track.Update{Kind: track.KindScript, Name: "chk", OK: true, Changed: true, Reason: "exited with status 0", Duration: 500 * time.Millisecond}
	if diff := cmp.Diff(want, recv(t, updates), ignore); diff != "" {
		t.Fatalf("first update (-want +got)\n%s", diff)
	}

	// Second run hangs past the next tick: that tick is skipped.
	clock.Advance(1500 * time.Millisecond)
	waitArmed(t, clock, 2*time.Second)
	recv(t, ex.Started)
	clock.Advance(2 * time.Second)
	waitArmed(t, clock, 2*time.Second)
	select {
	case c := <-ex.Started:
		t.Fatalf("a second run started while one was going: %+v", c)
	default:
	}
	ex.Push(track.ExecResult{ExitStatus: 3, Stderr: "boom"})
	want = track.Update{Kind: track.KindScript, Name: "chk", OK: true, Reason: "exited with status 3: boom", ExitStatus: 3, Duration: 2 * time.Second, Skipped: 1}
	if diff := cmp.Diff(want, recv(t, updates), ignore); diff != "" {
		t.Fatalf("second update (-want +got)\n%s", diff)
	}

	// Third run times out: second consecutive failure, fall 2 reached.
	clock.Advance(2 * time.Second)
	waitArmed(t, clock, 2*time.Second)
	recv(t, ex.Started)
	ex.Push(track.ExecResult{ExitStatus: -1, TimedOut: true})
	want = track.Update{Kind: track.KindScript, Name: "chk", OK: false, Changed: true, Reason: "timeout after 2s", ExitStatus: -1, Skipped: 1}
	if diff := cmp.Diff(want, recv(t, updates), ignore); diff != "" {
		t.Fatalf("third update (-want +got)\n%s", diff)
	}

	cancel()
	if err := recv(t, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	if err := s.Run(context.Background()); !errors.Is(err, track.ErrAlreadyRunning) {
		t.Fatalf("second Run returned %v", err)
	}
}

func TestScriptBadCommandFails(t *testing.T) {
	clock := clocktest.New(t0)
	updates := make(chan track.Update, 4)
	s := track.NewScript(track.ScriptConfig{Name: "bad", Command: `"unterminated`}, tracktest.NewExecutor(), clock, nil, func(u track.Update) { updates <- u })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	u := recv(t, updates)
	if u.OK || !u.Changed || u.Reason != `command "\"unterminated": missing terminating "` {
		t.Fatalf("update %+v, want a failure naming the command", u)
	}
}
