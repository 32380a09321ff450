// Package promlab runs a real Prometheus for the test labs: Debian 12's
// prometheus 2.42 server (scripts/prometheus.sh unpacks it from the
// package, with promtool, in one fetch; the package is never installed)
// started by a test, bounded in time, against the lab's daemons.
//
// Start writes a prometheus.yml (static scrape jobs, rule files, global
// scrape and evaluation intervals of 1 s by default, the scrape timeout
// equal to the interval) into a directory of the test, keeps the TSDB
// in its data/ with a retention of 1 h, listens on the address given
// (--web.listen-address, an IP literal: loopback on the host, a lab
// address in a namespace) and returns once /-/ready answers. The caller
// chooses where it runs (Config.Start: a child of the test, or a process
// in one of the lab's namespaces) and how the API is reached
// (Config.Client). Server.Query, QueryRange and Alerts read
// /api/v1/query, /api/v1/query_range and /api/v1/alerts (answers read up
// to 16 MiB); QueryRange keeps the body as Prometheus sent it, for plots.
// Stop ends the process (SIGTERM, SIGKILL after 10 s).
//
// WithFor rewrites the `for` of every alerting rule of a rule file: a
// scenario that must see the shipped alerts (packaging/monitoring/
// tandem-alerts.yml, `for` from 30 s to 6 h) fire and clear within
// minutes loads their expressions unchanged with a short `for`.
//
// Binary gates the tests that need the binary as testutil.Promtool does
// for promtool: skipped when it cannot be had, failed under CI=true and
// inside the guest. The guest sees the host's root read-only, so the
// binary the host unpacked under /usr/local/lib/tandem-tools runs there
// too; TestVMScenarios fetches it before the boot and passes the module
// root in TANDEM_PROM_ROOT.
//
// The scenario that uses it is e2e/scenarios' TestGuestScenarioProm1Alerts
// (prometheus_test.go): Prometheus in the client's namespace scrapes both
// directors and both agents (each target labelled with its host: director
// or node); a drain, the sorry server and a failover to no master move the
// metrics and fire and clear TandemSorryServerInService and
// TandemNoVRRPMaster through the real rule evaluation.
//
// Plot data: with TANDEM_PLOT_DATA naming a directory on the host,
// TestVMScenarios passes it to the guest, which prints each file as one
// "tandem-plot-data NAME BASE64" line of its test log (the guest cannot
// write the host's files); the host writes them into that directory:
// drain-connections.json (dir1's active connections per real server),
// failover-rps.json (each director's rate of
// tandem_director_ipvs_service_connections_total over 3 s: connections,
// one per request, through the VIP) and failover-state.json (each
// director's tandem_director_vrrp_state), query_range answers as
// Prometheus sent them. Were the counter missing, failover-rps.json would
// hold the load generator's answers per second in the same matrix shape,
// with a "note" saying so.
package promlab
