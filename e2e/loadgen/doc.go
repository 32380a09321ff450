// Package loadgen is the test-bed's HTTP load generator: the traffic every
// acceptance scenario and the demo send to the VIP.
//
// A Generator sends HTTP/1.1 GETs to one target at a fixed rate (open loop:
// request i is due at start + i/Rate, whatever happened to earlier ones)
// for a fixed duration, never more than a hard cap of requests. The
// requests are split between two kinds of connection in a fixed, exact
// ratio:
//
//   - NewConn: one request per TCP connection, sent with "Connection: close".
//     The client waits for the server's FIN before closing, so TIME_WAIT
//     stays on the server and a long run does not exhaust the client's
//     ephemeral ports.
//   - KeepAliveConn: a fixed pool of persistent connections, each sending
//     its requests one after the other. A connection that fails is closed and
//     the next request on that slot dials again (KindCounts.Dials).
//
// Idle connections (IdleConn, Config.Idle) are a third kind, outside the
// rate: each is opened once and sends a request every Every, for
// connection-sync tests in which a connection must survive a director
// failover.
//
// The client is a minimal HTTP/1.1 implementation over a net.Conn obtained
// from an injectable DialFunc (e2e/netlab's Lab.DialContext puts it inside a
// network namespace; tests use loopback). Unlike net/http it never retries a
// request on a fresh connection behind the caller's back, so a reset of a
// persistent connection is seen and counted.
//
// Every request ends in exactly one Class: OK, Refused (ECONNREFUSED),
// Reset (ECONNRESET, EPIPE, the connection closed before a whole response),
// Timeout (the dial or the response missed the per-request deadline),
// WrongServer (the server named itself with a name outside the expected
// set), HTTPStatus (not 2xx), Other, or Aborted (cut off because the run's
// context was cancelled; not a failure). Servers name themselves in an
// X-Server header or, without it, in the first line of the body. The set
// of expected names can change during a run (Generator.SetExpected).
//
// A run reports live through Config.OnSnapshot (one Snapshot per interval:
// OK per server, failures per class, in flight) and returns a Report:
// totals, per-class, per-server and per-kind counts, latency percentiles,
// the first and last failure, a String table, and OutageAfter, which
// measures from the recorded timestamps how long the service failed after
// an event. Probe sends one request every 10 ms after an event and returns
// the first success.
//
// All timestamps of a result are the time its request started (before the
// dial for a new connection). Every loop is bounded in time and count, and
// Run returns only after every goroutine it started has ended.
package loadgen
