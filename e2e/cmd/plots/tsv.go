package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The gnuplot input: tab-separated, times in seconds from the start of
// the plot, NaN where there is no value (gnuplot breaks the line there).

// num formats a value for gnuplot: at most 6 significant digits, NaN for
// NaN and ±Inf.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// secs formats a time in seconds to the millisecond.
func secs(t float64) string { return strconv.FormatFloat(t, 'f', 3, 64) }

// wideTSV writes one row per time any series has and one column per
// series: "t_s", then the header's names.
func wideTSV(w io.Writer, header []string, t0 float64, ss []Series) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("t_s\t" + strings.Join(header, "\t") + "\n")
	var times []float64
	for _, s := range ss {
		for _, p := range s.Points {
			times = append(times, p.T)
		}
	}
	slices.Sort(times)
	times = slices.Compact(times)
	next := make([]int, len(ss)) // per series, the first point not yet written
	for _, t := range times {
		bw.WriteString(secs(t - t0))
		for i, s := range ss {
			v := math.NaN()
			if k := next[i]; k < len(s.Points) && s.Points[k].T == t {
				v = s.Points[k].V
				next[i]++
			}
			bw.WriteString("\t" + num(v))
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// VRRP states as tandem_director_vrrp_state has them
// (director/metrics/doc.go): 0 init, 1 backup, 2 master, 3 fault, 4 stop.
const (
	stateBackup = 1
	stateMaster = 2
	stateFault  = 3
)

// role is a director in one state from start for length seconds, drawn on
// the row level (1 at the bottom) named name.
type role struct {
	level         int
	start, length float64
	name          string
	state         int
}

// rolesTSV writes "level start length name state" rows.
func rolesTSV(w io.Writer, rs []role) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("level\tstart_s\tlength_s\tdirector\tstate\n")
	for _, r := range rs {
		fmt.Fprintf(bw, "%d\t%s\t%s\t%s\t%d\n", r.level, secs(r.start), secs(r.length), r.name, r.state)
	}
	return bw.Flush()
}

// step is the smallest time between two points of a series: the range
// query's step; 1 s when no series has two points.
func step(ss []Series) float64 {
	st := math.Inf(1)
	for _, s := range ss {
		for k := 1; k < len(s.Points); k++ {
			st = min(st, s.Points[k].T-s.Points[k-1].T)
		}
	}
	if math.IsInf(st, 1) {
		return 1
	}
	return st
}

// rolesFromState turns tandem_director_vrrp_state series, one per
// director (names[i], drawn top to bottom), into intervals: a sample
// holds until the next one, or for one step when the next one is more
// than 1.5 steps away (the series has a gap: the director or the scrape
// was down). NaN samples are gaps.
func rolesFromState(ss []Series, names []string, t0 float64) []role {
	st := step(ss)
	var out []role
	for i, s := range ss {
		level := len(ss) - i
		for k, p := range s.Points {
			if math.IsNaN(p.V) {
				continue
			}
			end := p.T + st
			if k+1 < len(s.Points) && s.Points[k+1].T-p.T <= 1.5*st {
				end = s.Points[k+1].T
			}
			state := int(p.V)
			if n := len(out); n > 0 && out[n-1].level == level && out[n-1].state == state &&
				math.Abs(out[n-1].start+out[n-1].length-(p.T-t0)) < 1e-9 {
				out[n-1].length = end - t0 - out[n-1].start
				continue
			}
			out = append(out, role{level: level, start: p.T - t0, length: end - p.T, name: names[i], state: state})
		}
	}
	return out
}

// requestsTSV writes a bench run's buckets as rates: "t_s answered_d1
// answered_d2 failed" in requests per second, and a last row at the end
// of the last bucket (gnuplot's steps draw each value from its time to
// the next row's).
func requestsTSV(w io.Writer, s *benchSeries) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("t_s\td1 answered\td2 answered\tfailed\n")
	row := func(t float64, b benchBucket) {
		fmt.Fprintf(bw, "%s\t%s\t%s\t%s\n", secs(t), num(float64(b.AnsweredD1)/s.Bucket),
			num(float64(b.AnsweredD2)/s.Bucket), num(float64(b.Failed)/s.Bucket))
	}
	for _, b := range s.Requests {
		row(b.T, b)
	}
	if n := len(s.Requests); n > 0 {
		row(s.Requests[n-1].T+s.Bucket, s.Requests[n-1])
	}
	return bw.Flush()
}

// end is the end of a run's last bucket.
func seriesEnd(s *benchSeries) float64 {
	if len(s.Requests) == 0 {
		return 0
	}
	return s.Requests[len(s.Requests)-1].T + s.Bucket
}

// rolesFromHolders turns a bench run's holders into intervals on two
// rows, d1 (the master before the event) above d2: MASTER while the
// director holds the VIP, else BACKUP (for a crashed d1: no VIP, dead).
func rolesFromHolders(s *benchSeries, d1, d2 string) []role {
	var out []role
	end := seriesEnd(s)
	for _, dir := range []struct {
		level int
		name  string
		holds func(benchHolder) bool
	}{
		{2, d1, func(h benchHolder) bool { return h.D1 }},
		{1, d2, func(h benchHolder) bool { return h.D2 }},
	} {
		for k, h := range s.Holders {
			if h.T >= end {
				break
			}
			to := end
			if k+1 < len(s.Holders) {
				to = min(end, s.Holders[k+1].T)
			}
			state := stateBackup
			if dir.holds(h) {
				state = stateMaster
			}
			if n := len(out); n > 0 && out[n-1].level == dir.level && out[n-1].state == state {
				out[n-1].length = to - out[n-1].start
				continue
			}
			out = append(out, role{level: dir.level, start: h.T, length: to - h.T, name: dir.name, state: state})
		}
	}
	return out
}
