package main

import (
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	for _, tt := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{ms(5), 5 * time.Millisecond},
		{ms(9, 1, 5), 5 * time.Millisecond},
		{ms(4, 1, 3, 2), 2500 * time.Microsecond},
	} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestRecovered(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int, by string) probe {
		return probe{start: t0.Add(time.Duration(ms) * time.Millisecond), by: by}
	}
	// Out of order, as probes finish; d1 before the event, failures, d1
	// answering after the event (it had not stopped yet) do not count.
	ps := []probe{at(-10, "d1"), at(20, ""), at(5, "d1"), at(40, "d2"), at(30, "d2"), at(50, "d2"), at(-20, "d2")}
	got, ok := recovered(ps, t0, "d2")
	if !ok || !got.Equal(t0.Add(30*time.Millisecond)) {
		t.Errorf("recovered = %v %v, want +30ms", got.Sub(t0), ok)
	}
	if _, ok := recovered(ps[:3], t0, "d2"); ok {
		t.Error("recovered without any d2 answer")
	}
}

func TestRender(t *testing.T) {
	rs := []*result{
		{pair: pair{implKeepalived, implKeepalived}, event: evStop, times: []time.Duration{600 * time.Millisecond, 620 * time.Millisecond, 610 * time.Millisecond}},
		{pair: pair{implTandem, implTandem}, event: evStop, times: []time.Duration{6 * time.Millisecond, 61 * time.Millisecond, 70 * time.Millisecond}},
		{pair: pair{implTandem, implTandem}, event: evCrash, times: []time.Duration{100 * time.Millisecond}, failed: []string{"run 2: two masters"}},
	}
	r := render(rs, 3, 50*time.Millisecond, 3)
	for _, want := range []string{
		"keepalived → keepalived  clean stop (SIGTERM)", "0.610 s", "1.00×",
		"0.061 s", "0.10×", "goal ≤ 50ms missed",
		"FAILED: run 2: two masters", "1/3",
	} {
		if !strings.Contains(r.table, want) {
			t.Errorf("table lacks %q:\n%s", want, r.table)
		}
	}
	if !strings.Contains(r.markdown, "| tandem → tandem | clean stop (SIGTERM) | 0.061 s | 0.006 s | 0.070 s | 0.10× | 3/3 | ok (goal ≤ 50ms missed) |") {
		t.Errorf("markdown row:\n%s", r.markdown)
	}
}

func TestToSeries(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tr := &trace{t0: t0}
	// A request every 10 ms from -620 ms to +170 ms: d1 answers before
	// the event, nobody from 0 to 100 ms, d2 from 100 ms on.
	for ms := -620; ms < 180; ms += 10 {
		by := "d1"
		switch {
		case ms >= 100:
			by = "d2"
		case ms >= 0:
			by = ""
		}
		tr.probes = append(tr.probes, probe{start: at(ms), by: by})
	}
	// The monitor: d1 holds until 0, nobody until 95 ms, then d2.
	for ms := -630; ms < 200; ms += 10 {
		tr.samples = append(tr.samples, sample{at: at(ms), d1: ms < 0, d2: ms >= 95})
	}
	s := tr.toSeries(pair{implKeepalived, implTandem}, evCrash, 100*time.Millisecond)
	if s.Event != "crash" || s.Master != implKeepalived || s.Backup != implTandem || s.Failover != 0.1 || s.Bucket != 0.05 {
		t.Errorf("header %+v", s)
	}
	// -500 ms (seriesFrom) to 150 ms: the bucket [150, 200) lacks the
	// requests at 180 and 190 ms, so it is not full.
	if len(s.Requests) != 13 || s.Requests[0].T != -0.5 || s.Requests[12].T != 0.1 {
		t.Fatalf("buckets %+v", s.Requests)
	}
	for _, b := range s.Requests {
		want := bucket{T: b.T}
		switch {
		case b.T < 0:
			want.AnsweredD1 = 5
		case b.T < 0.1:
			want.Failed = 5
		default:
			want.AnsweredD2 = 5
		}
		if b != want {
			t.Errorf("bucket %+v, want %+v", b, want)
		}
	}
	want := []holder{{T: -0.5, D1: true}, {T: 0}, {T: 0.1, D2: true}}
	if len(s.Holders) != len(want) {
		t.Fatalf("holders %+v, want %+v", s.Holders, want)
	}
	for i := range want {
		if s.Holders[i] != want[i] {
			t.Errorf("holder %d: %+v, want %+v", i, s.Holders[i], want[i])
		}
	}
	if got := (&trace{t0: t0}).toSeries(pair{}, evStop, 0); got.Event != "stop" || got.Requests != nil || got.Holders != nil {
		t.Errorf("empty trace: %+v", got)
	}
}
