package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tandemlb/tandem/e2e/bench/benchutil"
)

// benchReport is docs/data/failover-bench.json as e2e/bench/failover
// writes it (-json), in the types both share (e2e/bench/benchutil).
// Unknown fields are an error.
type (
	benchReport = benchutil.FailoverReport
	benchSeries = benchutil.FailoverSeries
	benchBucket = benchutil.FailoverBucket
	benchHolder = benchutil.FailoverHolder
)

// parseBench reads and checks the report: at most maxSeries runs of at
// most maxPoints buckets and holders each, times in order, a bucket width
// of 1 ms to 10 s.
func parseBench(name string, body []byte) (*benchReport, error) {
	if len(body) > maxDataFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxDataFileSize)
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	var r benchReport
	if err := d.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(r.Series) > maxSeries {
		return nil, fmt.Errorf("%s: series: %d runs, at most %d", name, len(r.Series), maxSeries)
	}
	for i, s := range r.Series {
		field := fmt.Sprintf("series[%d]", i)
		if s.Event != "crash" && s.Event != "stop" {
			return nil, fmt.Errorf("%s: %s.event %q, want crash or stop", name, field, s.Event)
		}
		if s.Bucket < 0.001 || s.Bucket > 10 {
			return nil, fmt.Errorf("%s: %s.bucket_s %v, want 0.001 to 10", name, field, s.Bucket)
		}
		if len(s.Requests) > maxPoints || len(s.Holders) > maxPoints {
			return nil, fmt.Errorf("%s: %s: more than %d buckets or holders", name, field, maxPoints)
		}
		for j := 1; j < len(s.Requests); j++ {
			if s.Requests[j].T <= s.Requests[j-1].T {
				return nil, fmt.Errorf("%s: %s.requests[%d].t %v not after %v", name, field, j, s.Requests[j].T, s.Requests[j-1].T)
			}
		}
		for j := 1; j < len(s.Holders); j++ {
			if s.Holders[j].T < s.Holders[j-1].T {
				return nil, fmt.Errorf("%s: %s.holders[%d].t %v before %v", name, field, j, s.Holders[j].T, s.Holders[j-1].T)
			}
		}
	}
	return &r, nil
}

// run returns the series of one pair and event, or nil.
func findRun(r *benchReport, master, backup, event string) *benchSeries {
	for i := range r.Series {
		s := &r.Series[i]
		if s.Master == master && s.Backup == backup && s.Event == event && len(s.Requests) > 0 {
			return s
		}
	}
	return nil
}
