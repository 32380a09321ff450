package loadgen

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// synthetic builds a report from (start ms, class) pairs.
func synthetic(base time.Time, end time.Duration, events ...any) *Report {
	var recs []record
	for i := 0; i < len(events); i += 2 {
		recs = append(recs, record{
			start: int64(time.Duration(events[i].(int)) * time.Millisecond),
			lat:   int64(time.Millisecond),
			class: events[i+1].(Class),
			conn:  uint32(i),
		})
	}
	return buildReport("x:1", base, base.Add(end), recs, []string{""})
}

func TestOutage(t *testing.T) {
	base := time.Now()
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name   string
		rep    *Report
		event  int
		want   Outage
		wantAt time.Duration
	}{
		{
			name: "no failures", event: 100,
			rep:  synthetic(base, time.Second, 0, OK, 100, OK, 200, OK),
			want: Outage{Event: at(100)},
		},
		{
			name: "failures before the event only", event: 300,
			rep:  synthetic(base, time.Second, 100, Refused, 200, Timeout, 300, OK, 400, OK),
			want: Outage{Event: at(300)},
		},
		{
			// Out of order on purpose: buildReport sorts by start. A
			// success in the middle of the outage does not end it.
			name: "outage with a flap", event: 250,
			rep: synthetic(base, time.Second,
				200, OK, 300, Timeout, 400, Refused, 500, OK, 600, Reset, 650, Aborted, 700, OK, 800, OK, 100, OK),
			want: Outage{Event: at(250), Failures: 3, FirstFailure: at(300), LastFailure: at(600), Recovered: at(700), Duration: 450 * time.Millisecond},
		},
		{
			name: "not recovered", event: 0,
			rep:  synthetic(base, 900*time.Millisecond, 0, OK, 500, WrongServer, 600, HTTPStatus, 700, Aborted),
			want: Outage{Event: at(0), Failures: 2, FirstFailure: at(500), LastFailure: at(600), Duration: 900 * time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.rep.Outage(at(tt.event))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Outage (-want +got):\n%s", diff)
			}
			if d := tt.rep.OutageAfter(at(tt.event)); d != tt.want.Duration {
				t.Errorf("OutageAfter = %v, want %v", d, tt.want.Duration)
			}
		})
	}
}

func TestBuildReport(t *testing.T) {
	base := time.Now()
	recs := []record{
		{start: 3e6, lat: 2e6, class: OK, kind: NewConn, server: 1, conn: 1, status: 200},
		{start: 1e6, lat: 4e6, class: OK, kind: KeepAliveConn, server: 2, conn: 2, status: 200},
		{start: 2e6, lat: 1e6, class: OK, kind: KeepAliveConn, server: 2, conn: 2, status: 200},
		{start: 4e6, lat: 1e6, class: WrongServer, kind: KeepAliveConn, server: 3, conn: 3, status: 200},
		{start: 5e6, lat: 1e6, class: HTTPStatus, kind: NewConn, server: 1, conn: 4, status: 503},
		{start: 6e6, lat: 1e6, class: Aborted, kind: IdleConn, conn: 5},
	}
	rep := buildReport("x:1", base, base.Add(time.Second), recs, []string{"", "rs1", "rs2", "rs9"})
	got := struct {
		Sent, OK, Failed, Aborted int
		PerServer, WrongServers   map[string]int
		Statuses                  map[int]int
		ByKind                    map[Kind]KindCounts
		Latency                   Latency
		First, Last               time.Duration
	}{rep.Sent, rep.OK, rep.Failed, rep.Aborted, rep.PerServer, rep.WrongServers, rep.Statuses, rep.ByKind, rep.Latency,
		rep.FirstFailure.Sub(base), rep.LastFailure.Sub(base)}
	want := got
	want.Sent, want.OK, want.Failed, want.Aborted = 6, 3, 2, 1
	want.PerServer = map[string]int{"rs1": 1, "rs2": 2}
	want.WrongServers = map[string]int{"rs9": 1}
	want.Statuses = map[int]int{503: 1}
	want.ByKind = map[Kind]KindCounts{
		NewConn:       {Sent: 2, OK: 1, Failed: 1, Dials: 2},
		KeepAliveConn: {Sent: 3, OK: 2, Failed: 1, Dials: 2},
		IdleConn:      {Sent: 1, Dials: 1},
	}
	want.Latency = Latency{N: 3, P50: 2 * time.Millisecond, P90: 4 * time.Millisecond, P99: 4 * time.Millisecond, Max: 4 * time.Millisecond, Mean: 7 * time.Millisecond / 3}
	want.First, want.Last = 4*time.Millisecond, 5*time.Millisecond
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if res := rep.Results(); res[0].Server != "rs2" || !res[0].Start.Equal(base.Add(time.Millisecond)) {
		t.Errorf("first result %+v, want rs2 at +1ms", res[0])
	}
	w := rep.Window(base.Add(2*time.Millisecond), base.Add(5*time.Millisecond))
	if w.Sent != 3 || w.OK != 2 || w.Failed != 1 {
		t.Errorf("window [2ms,5ms): sent %d ok %d failed %d, want 3 2 1", w.Sent, w.OK, w.Failed)
	}
	s := rep.String()
	for _, want := range []string{"6 requests", "rs2", "rs9 (wrong)", "status 503: 1", "p50 2ms", "failures: first at +4ms, last at +5ms"} {
		if !containsLine(s, want) {
			t.Errorf("String() lacks %q:\n%s", want, s)
		}
	}
}

func containsLine(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
