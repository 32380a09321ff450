package benchutil

// The failover benchmark's JSON (`e2e/bench/failover -json`, kept as
// docs/data/failover-bench.json), written by the benchmark and read by
// e2e/cmd/plots for its figures: one definition for both.

// FailoverReport is the whole file.
type FailoverReport struct {
	Date          string           `json:"date"` // UTC, RFC 3339
	Kernel        string           `json:"kernel"`
	Keepalived    string           `json:"keepalived"`
	ProbeInterval float64          `json:"probe_interval_s"`
	ProbeMult     int              `json:"probe_mult"`
	Runs          int              `json:"runs"`
	Results       []FailoverResult `json:"results"`
	Series        []FailoverSeries `json:"series"`
}

// FailoverResult is one row of the table: every run's time.
type FailoverResult struct {
	Master  string    `json:"master"`
	Backup  string    `json:"backup"`
	Event   string    `json:"event"` // "stop" or "crash"
	Seconds []float64 `json:"seconds"`
	Failed  []string  `json:"failed,omitempty"`
}

// FailoverSeries is one run over time. Times are seconds from the event.
type FailoverSeries struct {
	Master   string           `json:"master"`
	Backup   string           `json:"backup"`
	Event    string           `json:"event"`      // "stop" or "crash"
	Failover float64          `json:"failover_s"` // this run's time, the table's metric
	Bucket   float64          `json:"bucket_s"`
	Requests []FailoverBucket `json:"requests"`
	Holders  []FailoverHolder `json:"holders"`
}

// FailoverBucket counts the requests started in [T, T+Bucket): answered
// by d1, by d2, or failed (no answer within the client's timeout).
type FailoverBucket struct {
	T          float64 `json:"t"`
	AnsweredD1 int     `json:"answered_d1"`
	AnsweredD2 int     `json:"answered_d2"`
	Failed     int     `json:"failed"`
}

// FailoverHolder is who holds the VIP from T on, until the next holder: a
// director cut off the network counts as not holding it.
type FailoverHolder struct {
	T  float64 `json:"t"`
	D1 bool    `json:"d1"`
	D2 bool    `json:"d2"`
}
