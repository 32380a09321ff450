package loadgen

import (
	"fmt"
	"strings"
	"time"
)

// Snapshot is one interval of a run, for live reporting. Requests count in
// the interval in which they ended; Sent and Skipped in the one in which
// they were due.
type Snapshot struct {
	// Seq numbers the snapshots from 1.
	Seq int
	// At is when the snapshot was taken; Elapsed is At minus the run's
	// start.
	At      time.Time
	Elapsed time.Duration
	// Final marks the last snapshot, taken when the run is over; its
	// interval is usually shorter.
	Final bool
	// OK counts the OK answers per server in the interval.
	OK map[string]int
	// Failures counts the failures per class in the interval.
	Failures map[Class]int
	// Sent and Skipped count the requests sent and skipped in the interval.
	Sent, Skipped int
	// InFlight is the number of requests in flight at At.
	InFlight int
	// TotalOK and TotalFailed count OK and failed requests since the start.
	TotalOK, TotalFailed int
}

// Failed returns the number of failures in the interval.
func (s Snapshot) Failed() int {
	n := 0
	for _, v := range s.Failures {
		n += v
	}
	return n
}

// String returns a one-line summary, e.g.
// "t=3.0s ok rs1=50 rs2=50 | failed 2 (timeout=2) | in flight 3 | total ok 300 failed 2".
func (s Snapshot) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "t=%.1fs ok", s.Elapsed.Seconds())
	if len(s.OK) == 0 {
		b.WriteString(" 0")
	}
	for _, name := range sortedKeys(s.OK) {
		fmt.Fprintf(&b, " %s=%d", quoteEmpty(name), s.OK[name])
	}
	fmt.Fprintf(&b, " | failed %d", s.Failed())
	if s.Failed() > 0 {
		var parts []string
		for _, c := range Classes() {
			if n := s.Failures[c]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s=%d", c, n))
			}
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, " "))
	}
	if s.Skipped > 0 {
		fmt.Fprintf(&b, " | skipped %d", s.Skipped)
	}
	fmt.Fprintf(&b, " | in flight %d | total ok %d failed %d", s.InFlight, s.TotalOK, s.TotalFailed)
	return b.String()
}
