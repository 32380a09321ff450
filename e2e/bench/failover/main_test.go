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
