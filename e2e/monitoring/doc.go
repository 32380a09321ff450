// Package monitoring tests what Tandem ships for Prometheus and Grafana
// (packaging/monitoring: the alert rules, their promtool unit tests and the
// dashboard) against the metrics the daemons really expose: what the
// director's /metrics handler serves (director/metrics.New, its Handler
// parsed back) and the agent's registry (backend/app.NewMetrics), built
// in-process, every family touched once so that each is listed with its
// type and labels. Every metric a rule, the dashboard or the rules'
// unit tests name must be one of them, and docs/monitoring.md's metric
// table is that list (go test ./e2e/monitoring -update rewrites it).
//
// promtool (check rules, test rules) comes from scripts/promtool.sh: a test
// that cannot get it skips saying why, and fails under CI=true.
package monitoring
