package testutil

import (
	"context"
	"errors"
	"testing"
	"time"
)

type errorRecorder struct {
	testing.TB
	msgs []string
}

func (r *errorRecorder) Helper() {}
func (r *errorRecorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, format)
}

func TestRunning(t *testing.T) {
	r := Start(func(ctx context.Context) error { <-ctx.Done(); return nil })
	select {
	case <-r.Done():
		t.Fatal("Done before Stop")
	default:
	}
	rec := &errorRecorder{TB: t}
	r.Stop(rec, time.Second)
	if len(rec.msgs) != 0 || r.Err() != nil {
		t.Errorf("clean stop: %q, %v", rec.msgs, r.Err())
	}

	// A run that fails by itself: Done, Err, and Stop reports it.
	boom := errors.New("boom")
	r = Start(func(context.Context) error { return boom })
	<-r.Done()
	if r.Err() != boom {
		t.Errorf("Err = %v", r.Err())
	}
	rec = &errorRecorder{TB: t}
	r.Stop(rec, time.Second)
	if len(rec.msgs) != 1 {
		t.Errorf("Stop after an error reported %q", rec.msgs)
	}

	// A run that ignores its context: Stop gives up after the timeout.
	release := make(chan struct{})
	defer close(release)
	r = Start(func(context.Context) error { <-release; return nil })
	rec = &errorRecorder{TB: t}
	r.Stop(rec, 10*time.Millisecond)
	if len(rec.msgs) != 1 {
		t.Errorf("Stop of a stuck run reported %q", rec.msgs)
	}
}
