package loadgen

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is one request's outcome.
type Result struct {
	// Start is when the request started (before the dial, for a request
	// that opened its connection).
	Start time.Time
	// Latency runs from Start to the end of the answer, or to the error.
	Latency time.Duration
	// Class is the outcome.
	Class Class
	// Kind is the kind of connection the request used.
	Kind Kind
	// Server is the name the answer carried ("" without an answer).
	Server string
	// Status is the HTTP status (0 without an answer).
	Status int
	// Conn identifies the connection within the run; requests that share
	// a persistent connection share it. Every dial takes a new one.
	Conn uint32
}

// KindCounts are the counts of one kind of connection.
type KindCounts struct {
	// Sent counts the requests sent (Aborted included).
	Sent int
	// OK and Failed count the requests that ended OK and in failure.
	OK, Failed int
	// Dials counts connection attempts: one per NewConn request; for
	// KeepAliveConn and IdleConn, more dials than pooled connections means
	// some broke.
	Dials int
}

// Latency summarises the latency of the OK requests (nearest-rank
// percentiles).
type Latency struct {
	// N is the number of requests summarised.
	N int
	// P50, P90 and P99 are percentiles; Max the largest; Mean the average.
	P50, P90, P99, Max, Mean time.Duration
}

// Report is the outcome of a run (or of part of one: Where, Window).
type Report struct {
	// Target is the address the requests went to.
	Target string
	// Start and End bound the run.
	Start, End time.Time
	// Sent counts the requests sent: OK + Failed + Aborted.
	Sent int
	// OK, Failed and Aborted count the requests by outcome.
	OK, Failed, Aborted int
	// Skipped counts requests that were due but not sent because the
	// in-flight bound or the keep-alive pool was full. Only the report of a
	// whole run has it.
	Skipped int
	// ByClass counts the requests of every class (zeros included).
	ByClass map[Class]int
	// PerServer counts OK answers per server name.
	PerServer map[string]int
	// WrongServers counts WrongServer answers per name ("" for none).
	WrongServers map[string]int
	// Statuses counts HTTPStatus answers per status code.
	Statuses map[int]int
	// ByKind holds the counts of every kind of connection.
	ByKind map[Kind]KindCounts
	// Latency summarises the OK requests.
	Latency Latency
	// FirstFailure and LastFailure are the start times of the first and
	// the last failed request; zero without failures.
	FirstFailure, LastFailure time.Time
	// Errors holds the first few error messages of each failure class.
	// Only the report of a whole run has it.
	Errors map[Class][]string

	base  time.Time
	recs  []record // sorted by start
	names []string
}

// buildReport summarises recs (any order; sorted here, in place).
func buildReport(target string, base, end time.Time, recs []record, names []string) *Report {
	slices.SortStableFunc(recs, func(a, b record) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	r := &Report{
		Target: target, Start: base, End: end,
		ByClass: map[Class]int{}, PerServer: map[string]int{}, WrongServers: map[string]int{},
		Statuses: map[int]int{}, ByKind: map[Kind]KindCounts{},
		base: base, recs: recs, names: names,
	}
	for _, c := range Classes() {
		r.ByClass[c] = 0
	}
	conns := map[uint32]Kind{}
	var lats []time.Duration
	for _, rec := range recs {
		r.Sent++
		r.ByClass[rec.class]++
		kc := r.ByKind[rec.kind]
		kc.Sent++
		if _, seen := conns[rec.conn]; !seen {
			conns[rec.conn] = rec.kind
			kc.Dials++
		}
		switch {
		case rec.class == OK:
			r.OK++
			kc.OK++
			r.PerServer[names[rec.server]]++
			lats = append(lats, time.Duration(rec.lat))
		case rec.class == Aborted:
			r.Aborted++
		default:
			r.Failed++
			kc.Failed++
			at := base.Add(time.Duration(rec.start))
			if r.FirstFailure.IsZero() {
				r.FirstFailure = at
			}
			r.LastFailure = at
			switch rec.class {
			case WrongServer:
				r.WrongServers[names[rec.server]]++
			case HTTPStatus:
				r.Statuses[int(rec.status)]++
			}
		}
		r.ByKind[rec.kind] = kc
	}
	r.Latency = Summarise(lats)
	return r
}

// Summarise returns the latency summary of ds (sorted in place).
func Summarise(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Latency{
		N:    len(ds),
		P50:  Percentile(ds, 50),
		P90:  Percentile(ds, 90),
		P99:  Percentile(ds, 99),
		Max:  ds[len(ds)-1],
		Mean: sum / time.Duration(len(ds)),
	}
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, ascending durations: the smallest value with at least p% of the
// values at or below it. It returns 0 for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Results returns every result, in order of start.
func (r *Report) Results() []Result {
	out := make([]Result, len(r.recs))
	for i, rec := range r.recs {
		out[i] = r.result(rec)
	}
	return out
}

func (r *Report) result(rec record) Result {
	return Result{
		Start:   r.base.Add(time.Duration(rec.start)),
		Latency: time.Duration(rec.lat),
		Class:   rec.class,
		Kind:    rec.kind,
		Server:  r.names[rec.server],
		Status:  int(rec.status),
		Conn:    rec.conn,
	}
}

// Where returns the report of the results keep accepts (Skipped and
// Errors are not carried over).
func (r *Report) Where(keep func(Result) bool) *Report {
	var recs []record
	for _, rec := range r.recs {
		if keep(r.result(rec)) {
			recs = append(recs, rec)
		}
	}
	sub := buildReport(r.Target, r.base, r.End, recs, r.names)
	return sub
}

// Window returns the report of the requests started in [from, to).
func (r *Report) Window(from, to time.Time) *Report {
	return r.Where(func(res Result) bool { return !res.Start.Before(from) && res.Start.Before(to) })
}

// Outage describes the failures that followed an event.
type Outage struct {
	// Event is the time the outage is measured from.
	Event time.Time
	// Failures counts failed requests started at or after Event.
	Failures int
	// FirstFailure and LastFailure are the start times of the first and
	// the last of them; zero without failures.
	FirstFailure, LastFailure time.Time
	// Recovered is the start time of the first OK request started after
	// LastFailure; zero if there was none (Duration then runs to the end of
	// the run: a lower bound).
	Recovered time.Time
	// Duration is Recovered (or the end of the run) minus Event; 0 without
	// failures.
	Duration time.Duration
}

// Outage measures the failures that followed t: the time from t to the
// first success after the last failure started at or after t. Results are
// ordered by start time, so a request that timed out during the outage
// counts at the moment it was sent. Aborted requests are ignored.
func (r *Report) Outage(t time.Time) Outage {
	o := Outage{Event: t}
	from := sort.Search(len(r.recs), func(i int) bool {
		return !r.base.Add(time.Duration(r.recs[i].start)).Before(t)
	})
	last := -1
	for i := from; i < len(r.recs); i++ {
		if r.recs[i].class.Failed() {
			if last < 0 {
				o.FirstFailure = r.base.Add(time.Duration(r.recs[i].start))
			}
			o.Failures++
			last = i
		}
	}
	if last < 0 {
		return o
	}
	o.LastFailure = r.base.Add(time.Duration(r.recs[last].start))
	for i := last + 1; i < len(r.recs); i++ {
		if r.recs[i].class == OK {
			o.Recovered = r.base.Add(time.Duration(r.recs[i].start))
			o.Duration = o.Recovered.Sub(t)
			return o
		}
	}
	o.Duration = r.End.Sub(t)
	return o
}

// OutageAfter returns Outage(t).Duration: the time from t until requests
// succeeded again, 0 if none failed after t.
func (r *Report) OutageAfter(t time.Time) time.Duration { return r.Outage(t).Duration }

// Rate returns the requests sent per second over the run.
func (r *Report) Rate() float64 {
	d := r.End.Sub(r.Start).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(r.Sent) / d
}

// String returns a table of the report.
func (r *Report) String() string {
	var b strings.Builder
	d := r.End.Sub(r.Start)
	fmt.Fprintf(&b, "loadgen %s: %d requests in %v (%.1f/s): ok %d, failed %d, aborted %d, skipped %d\n",
		r.Target, r.Sent, d.Round(time.Millisecond), r.Rate(), r.OK, r.Failed, r.Aborted, r.Skipped)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tsent\tok\tfailed\tdials\t")
	for k := range Kind(numKinds) {
		kc := r.ByKind[k]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", k, kc.Sent, kc.OK, kc.Failed, kc.Dials)
	}
	fmt.Fprintln(tw, "class\tcount\t")
	for _, c := range Classes() {
		fmt.Fprintf(tw, "%s\t%d\t\n", c, r.ByClass[c])
	}
	fmt.Fprintln(tw, "server\tok\t")
	for _, name := range sortedKeys(r.PerServer) {
		fmt.Fprintf(tw, "%s\t%d\t\n", quoteEmpty(name), r.PerServer[name])
	}
	for _, name := range sortedKeys(r.WrongServers) {
		fmt.Fprintf(tw, "%s (wrong)\t%d\t\n", quoteEmpty(name), r.WrongServers[name])
	}
	tw.Flush()
	for _, code := range sortedKeys(r.Statuses) {
		fmt.Fprintf(&b, "status %d: %d\n", code, r.Statuses[code])
	}
	l := r.Latency
	fmt.Fprintf(&b, "latency (ok, n=%d): p50 %v  p90 %v  p99 %v  max %v  mean %v\n",
		l.N, round(l.P50), round(l.P90), round(l.P99), round(l.Max), round(l.Mean))
	if r.Failed > 0 {
		fmt.Fprintf(&b, "failures: first at +%v, last at +%v\n",
			r.FirstFailure.Sub(r.Start).Round(time.Millisecond), r.LastFailure.Sub(r.Start).Round(time.Millisecond))
	}
	for _, c := range Classes() {
		for _, e := range r.Errors[c] {
			fmt.Fprintf(&b, "%s: %s\n", c, e)
		}
	}
	return b.String()
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

func sortedKeys[K int | string, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
