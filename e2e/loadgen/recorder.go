package loadgen

import (
	"sync"
	"time"
)

const (
	// maxNames bounds the distinct server names remembered; later names
	// are recorded as overflowName.
	maxNames     = 4096
	overflowName = "(too many names)"
	// maxSamples is how many error messages are kept per class.
	maxSamples = 5
)

// record is one result, compactly: a million of them take 32 MB.
type record struct {
	start  int64 // ns since the recorder's base
	lat    int64 // ns
	conn   uint32
	status uint16
	server uint16 // index into recorder.names; 0 is ""
	class  Class
	kind   Kind
}

// interval holds the counts of one snapshot interval.
type interval struct {
	ok       map[string]int
	failures map[Class]int
	sent     int
	skipped  int
}

// recorder collects results; safe for concurrent use.
type recorder struct {
	base time.Time

	mu      sync.Mutex
	recs    []record
	names   []string
	nameIdx map[string]uint16
	samples map[Class][]string
	skipped int
	okTotal int
	failed  int
	iv      interval
}

func newRecorder(base time.Time, capacity int) *recorder {
	r := &recorder{
		base:    base,
		recs:    make([]record, 0, capacity),
		names:   []string{""},
		nameIdx: map[string]uint16{"": 0},
		samples: map[Class][]string{},
	}
	r.iv = interval{ok: map[string]int{}, failures: map[Class]int{}}
	return r
}

// nameLocked returns the index of a server name, adding it if there is room.
func (r *recorder) nameLocked(name string) uint16 {
	if i, ok := r.nameIdx[name]; ok {
		return i
	}
	if len(r.names) >= maxNames {
		name = overflowName
		if i, ok := r.nameIdx[name]; ok {
			return i
		}
	}
	i := uint16(len(r.names))
	r.names = append(r.names, name)
	r.nameIdx[name] = i
	return i
}

// started counts a request sent in the current interval.
func (r *recorder) started() {
	r.mu.Lock()
	r.iv.sent++
	r.mu.Unlock()
}

// skip counts a request that was due but not sent.
func (r *recorder) skip() {
	r.mu.Lock()
	r.skipped++
	r.iv.skipped++
	r.mu.Unlock()
}

// add records one result; errMsg is kept as a sample for failures.
func (r *recorder) add(start, end time.Time, kind Kind, connID uint32, class Class, status int, server, errMsg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := record{
		start:  int64(start.Sub(r.base)),
		lat:    int64(end.Sub(start)),
		conn:   connID,
		status: uint16(min(max(status, 0), 65535)),
		server: r.nameLocked(server),
		class:  class,
		kind:   kind,
	}
	r.recs = append(r.recs, rec)
	switch {
	case class == OK:
		r.okTotal++
		r.iv.ok[server]++
	case class.Failed():
		r.failed++
		r.iv.failures[class]++
		if errMsg != "" && len(r.samples[class]) < maxSamples {
			r.samples[class] = append(r.samples[class], errMsg)
		}
	}
}

// takeInterval returns the current interval's counts and starts a new one.
func (r *recorder) takeInterval() (iv interval, okTotal, failed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	iv = r.iv
	r.iv = interval{ok: map[string]int{}, failures: map[Class]int{}}
	return iv, r.okTotal, r.failed
}

// report builds a Report of everything recorded so far.
func (r *recorder) report(target string, end time.Time) *Report {
	r.mu.Lock()
	recs := make([]record, len(r.recs))
	copy(recs, r.recs)
	names := make([]string, len(r.names))
	copy(names, r.names)
	samples := make(map[Class][]string, len(r.samples))
	for c, s := range r.samples {
		samples[c] = append([]string(nil), s...)
	}
	skipped := r.skipped
	r.mu.Unlock()
	rep := buildReport(target, r.base, end, recs, names)
	rep.Skipped = skipped
	rep.Errors = samples
	return rep
}
