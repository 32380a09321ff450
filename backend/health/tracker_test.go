package health

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTrackerRiseFall(t *testing.T) {
	type step struct {
		ok      bool
		changed bool
		state   State
	}
	tests := []struct {
		name       string
		rise, fall int
		steps      []step
	}{
		{"first pass decides", 2, 3, []step{{true, true, Healthy}}},
		{"first failure decides", 2, 3, []step{{false, true, Unhealthy}}},
		{"fall after 3 failures", 2, 3, []step{
			{true, true, Healthy}, {false, false, Healthy}, {false, false, Healthy}, {false, true, Unhealthy},
		}},
		{"a pass resets the fall count", 2, 3, []step{
			{true, true, Healthy}, {false, false, Healthy}, {false, false, Healthy}, {true, false, Healthy},
			{false, false, Healthy}, {false, false, Healthy}, {false, true, Unhealthy},
		}},
		{"rise after 2 passes", 2, 3, []step{
			{false, true, Unhealthy}, {true, false, Unhealthy}, {true, true, Healthy},
		}},
		{"a failure resets the rise count", 2, 3, []step{
			{false, true, Unhealthy}, {true, false, Unhealthy}, {false, false, Unhealthy}, {true, false, Unhealthy}, {true, true, Healthy},
		}},
		{"rise 1 fall 1", 1, 1, []step{
			{true, true, Healthy}, {false, true, Unhealthy}, {true, true, Healthy},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(tt.rise, tt.fall)
			now := time.Unix(1000, 0)
			var got, want []step
			for i, s := range tt.steps {
				at := now.Add(time.Duration(i) * time.Second)
				changed := tr.Observe(Result{OK: s.ok, Reason: "refused", At: at})
				got = append(got, step{s.ok, changed, tr.State()})
				want = append(want, s)
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(step{})); diff != "" {
				t.Fatalf("steps (-want +got)\n%s", diff)
			}
		})
	}
}

func TestTrackerReason(t *testing.T) {
	tr := NewTracker(2, 3)
	if got := tr.Reason(); got != "not probed yet" {
		t.Fatalf("Reason = %q", got)
	}
	tr.Observe(Result{OK: false, Reason: "connection refused"})
	tr.Observe(Result{OK: true})
	if got, want := tr.Reason(), "connection refused (1/2 passes to rise)"; got != want {
		t.Fatalf("Reason = %q, want %q", got, want)
	}
	tr.Observe(Result{OK: true})
	tr.Observe(Result{OK: false, Reason: "timeout"})
	if got, want := tr.Reason(), "failing 1/3: timeout"; got != want {
		t.Fatalf("Reason = %q, want %q", got, want)
	}
}
