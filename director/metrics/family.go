package metrics

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// The large families (per destination, per check, per agent: up to tens
// of thousands of series at the design size) are GaugeFamily,
// CounterFamily and HistogramFamily rather than client_golang's vectors.
// They keep the vectors' methods that director/app uses (WithLabelValues,
// DeleteLabelValues, DeletePartialMatch, Reset), and the text of their
// series, built once after each change (frame): the scrape (Handler)
// writes them itself.
// They are prometheus.Collectors too, for what lists or compares the
// families through client_golang (tests, e2e/monitoring); the daemon's
// registry does not hold them.

// fastFamily is a family Handler writes itself: a Collector too (for the
// tests and e2e/monitoring, which list and compare the families through
// client_golang).
type fastFamily interface {
	prometheus.Collector
	// snapshot takes what the scrape writes, before anything is written:
	// the series list (values are read as they are written), the
	// kernel's counters.
	snapshot() textSnapshot
}

// textSnapshot is a family ready to be written.
type textSnapshot interface{ writeText(w *textWriter) }

func (t *table) snapshot() textSnapshot { return t.current() }

// series is one label set of a family: its label values (in the
// exposition's order, valid UTF-8) and its value.
type series struct {
	values []string
	// bits is a gauge's value (math.Float64bits) or a counter's count.
	bits atomic.Uint64
	hist *histData
	// gone is set when the series is deleted (under the table's lock).
	gone bool
}

// histData is a histogram's counts: one per bucket, +Inf last
// (non-cumulative), and the sum (math.Float64bits).
type histData struct {
	counts []atomic.Uint64
	sum    atomic.Uint64
}

// table is the series of one family, by label values.
type table struct {
	meta
	// argOrder maps the exposition's label order onto WithLabelValues'
	// order: values[i] = lvs[argOrder[i]].
	argOrder []int
	// bounds and les are a histogram's upper bounds and their le="…"
	// text.
	bounds []float64
	les    []string
	desc   *prometheus.Desc

	mu    sync.RWMutex
	byKey map[string]*series
	// order is the series in the order they were created, deleted ones
	// included (gone of them) until it is compacted.
	order []*series
	gone  int
	gen   uint64 // bumped by every creation and deletion
	// frame is what a scrape writes, as of generation frame.gen: rebuilt
	// by the first scrape after a change.
	frame atomic.Pointer[frame]
}

// frame is a family's series in the order they were created, with their
// exposition text one after another: a scrape reads the text in the
// order of memory (and each series' value from the series). At the
// design size the order of the label values (client_golang's) visits
// memory out of order and costs three times as much; the text format
// does not ask for an order.
type frame struct {
	t    *table
	gen  uint64
	list []*series
	// text holds list[i]'s text up to ends[i]: `name{labels} ` for gauges
	// and counters, `labels` (no braces) for histograms.
	text []byte
	ends []int
}

func (f *frame) writeText(w *textWriter) { f.t.writeText(w, f) }

func newTable(name, help string, k kind, labels []string, bounds []float64) *table {
	t := &table{meta: newMeta(name, help, k, labels), byKey: map[string]*series{}}
	for _, n := range t.labels {
		t.argOrder = append(t.argOrder, slices.Index(labels, n))
	}
	if k == kindHistogram {
		t.bounds = slices.Clone(bounds)
		for _, b := range bounds {
			t.les = append(t.les, `le="`+string(appendFloat(nil, b))+`"`)
		}
		t.les = append(t.les, `le="+Inf"`)
	}
	t.desc = prometheus.NewDesc(name, help, t.labels, nil)
	return t
}

// key is the map key of a label set: each value preceded by its length,
// so that no two label sets share one. buf is scratch space.
func key(buf []byte, lvs []string) []byte {
	for _, v := range lvs {
		buf = binary.AppendUvarint(buf, uint64(len(v)))
		buf = append(buf, v...)
	}
	return buf
}

func (t *table) arityError(n int) error {
	return fmt.Errorf("%s: %d label values for %d labels (%s)", t.name, n, len(t.labels), strings.Join(t.labels, ", "))
}

// get returns the series of lvs (in WithLabelValues' order), created if
// new. Finding it takes the read lock only.
func (t *table) get(lvs []string) (*series, error) {
	if len(lvs) != len(t.labels) {
		return nil, t.arityError(len(lvs))
	}
	if s := t.lookup(lvs); s != nil {
		return s, nil
	}
	var buf [128]byte
	k := key(buf[:0], lvs)
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.byKey[string(k)]; s != nil {
		return s, nil
	}
	s := &series{values: make([]string, len(lvs))}
	for i, j := range t.argOrder {
		// client_golang refuses invalid UTF-8; the text format cannot
		// carry it.
		s.values[i] = strings.ToValidUTF8(lvs[j], "\uFFFD")
	}
	if t.kind == kindHistogram {
		s.hist = &histData{counts: make([]atomic.Uint64, len(t.bounds)+1)}
	}
	t.byKey[string(k)] = s
	t.order = append(t.order, s)
	t.gen++
	return s, nil
}

// lookup is the series of lvs (of the table's arity), nil when there is
// none; it creates nothing.
func (t *table) lookup(lvs []string) *series {
	var buf [128]byte
	k := key(buf[:0], lvs)
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byKey[string(k)]
}

func (t *table) must(lvs []string) *series {
	s, err := t.get(lvs)
	if err != nil {
		panic(err)
	}
	return s
}

// remove deletes the series of map key k; the caller holds the lock.
func (t *table) remove(k string, s *series) {
	delete(t.byKey, k)
	s.gone = true
	t.gone++
	t.gen++
	if t.gone > len(t.order)/2 {
		t.order = slices.DeleteFunc(t.order, func(s *series) bool { return s.gone })
		t.gone = 0
	}
}

// deleteValues removes the series of lvs; false if there is none.
func (t *table) deleteValues(lvs []string) bool {
	if len(lvs) != len(t.labels) {
		return false
	}
	var buf [128]byte
	k := key(buf[:0], lvs)
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.byKey[string(k)]
	if !ok {
		return false
	}
	t.remove(string(k), s)
	return true
}

// deletePartial removes every series whose labels include labels; a label
// name the family does not have matches nothing.
func (t *table) deletePartial(labels map[string]string) int {
	type match struct {
		i int
		v string
	}
	var ms []match
	for n, v := range labels {
		i := slices.Index(t.labels, n)
		if i < 0 {
			return 0
		}
		ms = append(ms, match{i, v})
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
next:
	for k, s := range t.byKey {
		for _, m := range ms {
			if s.values[m.i] != m.v {
				continue next
			}
		}
		t.remove(k, s)
		n++
	}
	return n
}

func (t *table) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.order {
		s.gone = true
	}
	clear(t.byKey)
	t.order, t.gone = nil, 0
	t.gen++
}

// current returns the frame of the family as it is now. After a change,
// the list is copied under the read lock and the text built outside it:
// a scrape holds the lock for the copy of a slice of pointers at most,
// and never while it writes.
func (t *table) current() *frame {
	t.mu.RLock()
	gen := t.gen
	if f := t.frame.Load(); f != nil && f.gen == gen {
		t.mu.RUnlock()
		return f
	}
	list := make([]*series, 0, len(t.order)-t.gone)
	for _, s := range t.order {
		if !s.gone {
			list = append(list, s)
		}
	}
	t.mu.RUnlock()
	f := &frame{t: t, gen: gen, list: list, ends: make([]int, len(list))}
	for i, s := range list {
		if t.kind != kindHistogram {
			f.text = append(f.text, t.name...)
			if len(t.labels) > 0 {
				f.text = append(f.text, '{')
			}
		}
		f.text = appendLabels(f.text, t.labels, s.values)
		if t.kind != kindHistogram {
			if len(t.labels) > 0 {
				f.text = append(f.text, '}')
			}
			f.text = append(f.text, ' ')
		}
		f.ends[i] = len(f.text)
	}
	f.text = slices.Clip(f.text)
	t.mu.RLock()
	if t.gen == gen {
		t.frame.Store(f)
	}
	t.mu.RUnlock()
	return f
}

// writeText writes the family (nothing when it has no series). The
// values are read as the writing goes, atomically, without a lock.
func (t *table) writeText(w *textWriter, f *frame) {
	if len(f.list) == 0 {
		return
	}
	w.b = append(w.b, t.head...)
	start := 0
	for i, s := range f.list {
		if w.failed() {
			return
		}
		text := f.text[start:f.ends[i]]
		start = f.ends[i]
		switch t.kind {
		case kindGauge:
			w.b = append(w.b, text...)
			w.b = appendFloat(w.b, math.Float64frombits(s.bits.Load()))
			w.b = append(w.b, '\n')
		case kindCounter:
			w.b = append(w.b, text...)
			w.b = appendUint(w.b, s.bits.Load())
			w.b = append(w.b, '\n')
		case kindHistogram:
			t.writeHistogram(w, text, s)
		}
		w.maybeFlush()
	}
}

// writeHistogram writes one histogram series: the cumulative buckets,
// the sum, the count (the +Inf bucket's, read with the buckets).
func (t *table) writeHistogram(w *textWriter, labels []byte, s *series) {
	var cum uint64
	for i := range s.hist.counts {
		cum += s.hist.counts[i].Load()
		w.b = append(w.b, t.name...)
		w.b = append(w.b, "_bucket{"...)
		if len(labels) > 0 {
			w.b = append(w.b, labels...)
			w.b = append(w.b, ',')
		}
		w.b = append(w.b, t.les[i]...)
		w.b = append(w.b, "} "...)
		w.b = appendUint(w.b, cum)
		w.b = append(w.b, '\n')
	}
	for _, part := range [...]string{"_sum", "_count"} {
		w.b = append(w.b, t.name...)
		w.b = append(w.b, part...)
		if len(labels) > 0 {
			w.b = append(w.b, '{')
			w.b = append(w.b, labels...)
			w.b = append(w.b, '}')
		}
		w.b = append(w.b, ' ')
		if part == "_sum" {
			w.b = appendFloat(w.b, math.Float64frombits(s.hist.sum.Load()))
		} else {
			w.b = appendUint(w.b, cum)
		}
		w.b = append(w.b, '\n')
	}
}

// Describe implements prometheus.Collector.
func (t *table) Describe(ch chan<- *prometheus.Desc) { ch <- t.desc }

// Collect implements prometheus.Collector: the same series and values as
// writeText, through client_golang.
func (t *table) Collect(ch chan<- prometheus.Metric) {
	for _, s := range t.current().list {
		switch t.kind {
		case kindGauge:
			ch <- prometheus.MustNewConstMetric(t.desc, prometheus.GaugeValue, math.Float64frombits(s.bits.Load()), s.values...)
		case kindCounter:
			ch <- prometheus.MustNewConstMetric(t.desc, prometheus.CounterValue, float64(s.bits.Load()), s.values...)
		case kindHistogram:
			buckets := make(map[float64]uint64, len(t.bounds))
			var cum uint64
			for i, b := range t.bounds {
				cum += s.hist.counts[i].Load()
				buckets[b] = cum
			}
			cum += s.hist.counts[len(t.bounds)].Load()
			ch <- prometheus.MustNewConstHistogram(t.desc, cum, math.Float64frombits(s.hist.sum.Load()), buckets, s.values...)
		}
	}
}

func appendUint(b []byte, v uint64) []byte { return strconv.AppendUint(b, v, 10) }

// GaugeFamily is a gauge family whose series are written by Handler.
type GaugeFamily struct{ t *table }

// Gauge is one series of a GaugeFamily.
type Gauge struct{ s *series }

// Set sets the gauge's value.
func (g Gauge) Set(v float64) { g.s.bits.Store(math.Float64bits(v)) }

// Value is the gauge's value.
func (g Gauge) Value() float64 { return math.Float64frombits(g.s.bits.Load()) }

func newGaugeFamily(name, help string, labels ...string) *GaugeFamily {
	return &GaugeFamily{newTable(name, help, kindGauge, labels, nil)}
}

// WithLabelValues returns the series of the label values (in the order of
// the family's labels), created if new. It panics on a wrong number of
// values, as client_golang's vectors do.
func (f *GaugeFamily) WithLabelValues(lvs ...string) Gauge { return Gauge{f.t.must(lvs)} }

// Existing returns the gauge of lvs if its series exists, creating
// nothing: for a reader that refreshes the values of series another owns
// (the scrape's kernel read, the active connections the main loop
// creates and deletes).
func (f *GaugeFamily) Existing(lvs ...string) (Gauge, bool) {
	if len(lvs) != len(f.t.labels) {
		return Gauge{}, false
	}
	s := f.t.lookup(lvs)
	return Gauge{s}, s != nil
}

// GetMetricWithLabelValues is WithLabelValues with an error instead of a
// panic.
func (f *GaugeFamily) GetMetricWithLabelValues(lvs ...string) (Gauge, error) {
	s, err := f.t.get(lvs)
	return Gauge{s}, err
}

// DeleteLabelValues removes the series of the label values; false if
// there is none.
func (f *GaugeFamily) DeleteLabelValues(lvs ...string) bool { return f.t.deleteValues(lvs) }

// DeletePartialMatch removes every series whose labels include labels and
// returns how many.
func (f *GaugeFamily) DeletePartialMatch(labels map[string]string) int {
	return f.t.deletePartial(labels)
}

// Reset removes every series.
func (f *GaugeFamily) Reset() { f.t.reset() }

// Describe implements prometheus.Collector.
func (f *GaugeFamily) Describe(ch chan<- *prometheus.Desc) { f.t.Describe(ch) }

// Collect implements prometheus.Collector.
func (f *GaugeFamily) Collect(ch chan<- prometheus.Metric) { f.t.Collect(ch) }

// CounterFamily is a counter family whose series are written by Handler;
// a counter counts whole events.
type CounterFamily struct{ t *table }

// Counter is one series of a CounterFamily.
type Counter struct{ s *series }

// Inc adds one.
func (c Counter) Inc() { c.s.bits.Add(1) }

// Value is the count.
func (c Counter) Value() uint64 { return c.s.bits.Load() }

func newCounterFamily(name, help string, labels ...string) *CounterFamily {
	return &CounterFamily{newTable(name, help, kindCounter, labels, nil)}
}

// WithLabelValues returns the series of the label values, created if new
// (see GaugeFamily.WithLabelValues).
func (f *CounterFamily) WithLabelValues(lvs ...string) Counter { return Counter{f.t.must(lvs)} }

// GetMetricWithLabelValues is WithLabelValues with an error instead of a
// panic.
func (f *CounterFamily) GetMetricWithLabelValues(lvs ...string) (Counter, error) {
	s, err := f.t.get(lvs)
	return Counter{s}, err
}

// DeleteLabelValues removes the series of the label values; false if
// there is none.
func (f *CounterFamily) DeleteLabelValues(lvs ...string) bool { return f.t.deleteValues(lvs) }

// DeletePartialMatch removes every series whose labels include labels and
// returns how many.
func (f *CounterFamily) DeletePartialMatch(labels map[string]string) int {
	return f.t.deletePartial(labels)
}

// Reset removes every series.
func (f *CounterFamily) Reset() { f.t.reset() }

// Describe implements prometheus.Collector.
func (f *CounterFamily) Describe(ch chan<- *prometheus.Desc) { f.t.Describe(ch) }

// Collect implements prometheus.Collector.
func (f *CounterFamily) Collect(ch chan<- prometheus.Metric) { f.t.Collect(ch) }

// HistogramFamily is a histogram family whose series are written by
// Handler.
type HistogramFamily struct{ t *table }

// Histogram is one series of a HistogramFamily.
type Histogram struct {
	s      *series
	bounds []float64
}

// Observe counts v in its bucket (the first upper bound ≥ v) and adds it
// to the sum. NaN is ignored.
func (h Histogram) Observe(v float64) {
	if math.IsNaN(v) {
		return
	}
	h.s.hist.counts[sort.SearchFloat64s(h.bounds, v)].Add(1)
	for {
		old := h.s.hist.sum.Load()
		if h.s.hist.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func newHistogramFamily(name, help string, bounds []float64, labels ...string) *HistogramFamily {
	for _, l := range labels {
		if l == "le" {
			panic(name + `: a histogram's label named "le"`)
		}
	}
	if !slices.IsSorted(bounds) {
		panic(name + ": bounds not sorted")
	}
	return &HistogramFamily{newTable(name, help, kindHistogram, labels, bounds)}
}

// WithLabelValues returns the series of the label values, created if new
// (see GaugeFamily.WithLabelValues).
func (f *HistogramFamily) WithLabelValues(lvs ...string) Histogram {
	return Histogram{f.t.must(lvs), f.t.bounds}
}

// GetMetricWithLabelValues is WithLabelValues with an error instead of a
// panic.
func (f *HistogramFamily) GetMetricWithLabelValues(lvs ...string) (Histogram, error) {
	s, err := f.t.get(lvs)
	return Histogram{s, f.t.bounds}, err
}

// DeleteLabelValues removes the series of the label values; false if
// there is none.
func (f *HistogramFamily) DeleteLabelValues(lvs ...string) bool { return f.t.deleteValues(lvs) }

// DeletePartialMatch removes every series whose labels include labels and
// returns how many.
func (f *HistogramFamily) DeletePartialMatch(labels map[string]string) int {
	return f.t.deletePartial(labels)
}

// Reset removes every series.
func (f *HistogramFamily) Reset() { f.t.reset() }

// Describe implements prometheus.Collector.
func (f *HistogramFamily) Describe(ch chan<- *prometheus.Desc) { f.t.Describe(ch) }

// Collect implements prometheus.Collector.
func (f *HistogramFamily) Collect(ch chan<- prometheus.Metric) { f.t.Collect(ch) }
