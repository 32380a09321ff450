package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/tandemlb/tandem/e2e/bench/benchutil"
)

// The JSON report (-json; docs/data/failover-bench.json, which
// e2e/cmd/plots draws): the table's numbers and, for the first run of each
// pair and event, that run as the client saw it: the requests through the
// VIP per bucket and every change of the director holding the VIP.

// seriesBucket is the width of a bucket of requests: five requests at one
// every 10 ms, so 100 requests/s when all are answered.
const seriesBucket = 50 * time.Millisecond

// seriesFrom is how far before the event a series starts.
const seriesFrom = -500 * time.Millisecond

// The JSON's types are benchutil's (e2e/cmd/plots reads the same file).
type (
	jsonReport = benchutil.FailoverReport
	jsonResult = benchutil.FailoverResult
	series     = benchutil.FailoverSeries
	bucket     = benchutil.FailoverBucket
	holder     = benchutil.FailoverHolder
)

// eventKey is the JSON's name of an event.
func eventKey(ev string) string {
	if ev == evCrash {
		return "crash"
	}
	return "stop"
}

// trace is what one run records: the event's time, every request and the
// monitor's samples of who held the VIP.
type trace struct {
	t0      time.Time
	probes  []probe
	samples []sample
}

type sample struct {
	at     time.Time
	d1, d2 bool
}

// toSeries buckets a trace from seriesFrom (or the first full bucket after
// the first request) to the last full bucket of requests.
func (tr *trace) toSeries(p pair, ev string, took time.Duration) series {
	s := series{Master: p.master, Backup: p.backup, Event: eventKey(ev), Failover: took.Seconds(), Bucket: seriesBucket.Seconds()}
	if len(tr.probes) == 0 {
		return s
	}
	first, last := tr.probes[0].start, tr.probes[0].start
	for _, q := range tr.probes {
		if q.start.Before(first) {
			first = q.start
		}
		if q.start.After(last) {
			last = q.start
		}
	}
	// Buckets k×width from the event; only full ones: the prober ran
	// through all of [lo, hi).
	ceilDiv := func(d time.Duration) int64 {
		k := int64(d / seriesBucket)
		if d > time.Duration(k)*seriesBucket {
			k++
		}
		return k
	}
	floorDiv := func(d time.Duration) int64 {
		k := int64(d / seriesBucket)
		if d < time.Duration(k)*seriesBucket {
			k--
		}
		return k
	}
	lo := max(ceilDiv(first.Sub(tr.t0)), ceilDiv(seriesFrom))
	hi := floorDiv(last.Sub(tr.t0) + probeEvery)
	if hi <= lo {
		return s
	}
	s.Requests = make([]bucket, hi-lo)
	for i := range s.Requests {
		s.Requests[i].T = (time.Duration(lo+int64(i)) * seriesBucket).Seconds()
	}
	for _, q := range tr.probes {
		k := floorDiv(q.start.Sub(tr.t0))
		if k < lo || k >= hi {
			continue
		}
		b := &s.Requests[k-lo]
		switch q.by {
		case "d1":
			b.AnsweredD1++
		case "d2":
			b.AnsweredD2++
		case "":
			b.Failed++
		}
	}
	from := tr.t0.Add(time.Duration(lo) * seriesBucket)
	to := tr.t0.Add(time.Duration(hi) * seriesBucket)
	var prev *sample
	for i := range tr.samples {
		x := &tr.samples[i]
		if x.at.After(to) {
			break
		}
		if x.at.Before(from) {
			prev = x
			continue
		}
		if prev != nil && len(s.Holders) == 0 && !x.at.Equal(from) {
			s.Holders = append(s.Holders, holder{T: from.Sub(tr.t0).Seconds(), D1: prev.d1, D2: prev.d2})
		}
		if n := len(s.Holders); n == 0 || s.Holders[n-1].D1 != x.d1 || s.Holders[n-1].D2 != x.d2 {
			s.Holders = append(s.Holders, holder{T: x.at.Sub(tr.t0).Seconds(), D1: x.d1, D2: x.d2})
		}
		prev = x
	}
	return s
}

// writeJSON writes the report to path.
func writeJSON(path string, rs []*result, runs int, interval time.Duration, mult int) error {
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	kv, _ := exec.Command("/usr/sbin/keepalived", "--version").CombinedOutput()
	rep := jsonReport{Date: time.Now().UTC().Format(time.RFC3339), Kernel: strings.TrimSpace(string(kernel)),
		Keepalived:    strings.SplitN(strings.TrimSpace(string(kv)), "\n", 2)[0],
		ProbeInterval: interval.Seconds(), ProbeMult: mult, Runs: runs, Results: []jsonResult{}, Series: []series{}}
	for _, r := range rs {
		jr := jsonResult{Master: r.pair.master, Backup: r.pair.backup, Event: eventKey(r.event), Seconds: []float64{}, Failed: r.failed}
		for _, d := range r.times {
			jr.Seconds = append(jr.Seconds, d.Seconds())
		}
		rep.Results = append(rep.Results, jr)
		if r.series != nil {
			rep.Series = append(rep.Series, *r.series)
		}
	}
	b, err := json.MarshalIndent(rep, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
