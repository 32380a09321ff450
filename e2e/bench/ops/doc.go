// Package ops is the operations and resources benchmark (`make bench-ops`;
// the results go to docs/benchmarks-ops.md and docs/benchmarks-ops.json):
// in the single-director DR lab (client, director, two real servers running
// e2e/prodlab's web app, a sorry server), keepalived 2.2.7 with the seed's
// keepalived.conf against tandem-director reading the same file with
// tandem-backend on the real servers:
//
//   - drain: taking rs1 out of rotation on purpose under bounded load
//     (e2e/loadgen). Tandem: `tandem-backend maintenance on`; keepalived:
//     the seed's way, the check file removed so that HTTP_GET /check.txt
//     fails. Time until rs1's IPVS weight is 0 (or rs1 is gone), read over
//     netlink every 5 ms, and the failed requests.
//   - unhealthy: the web app on rs1 killed. Time until rs1 is out of IPVS
//     and the failed requests; Tandem through its agent's probe, keepalived
//     through HTTP_GET.
//   - resources: RSS and CPU (/proc/PID/status VmRSS, /proc/PID/stat utime
//     and stime over a fixed window) of keepalived and of tandem-director
//     and tandem-backend idle, and of tandem-director answering 1,000
//     simulated agents at one report per second each (HBLoad).
//
// It needs ip_vs, so it runs in the QEMU guest: TestVMBenchOps (host side,
// only with TANDEM_BENCH=1 and TANDEM_TEST_VM=1) builds this package's test
// binary, boots the guest once and runs TestGuestBenchOps in it, which
// prints one BENCH line per sample; the host test collects them, prints the
// table and rewrites the two documents.
//
// A scenario that goes wrong fails the benchmark; timings are reported,
// not asserted. Wrong is: rs1 never out; a failed request where none may
// fail (a Tandem drain; an unhealthy run from 1 s after rs1 is out until
// the load stops, 4 s after it); fewer than 20 requests ended in that
// span, where the check would be empty; a heartbeat-load run with a bad
// reply or answered too little (hbMinReplies). The reply floors follow the
// measured rows of docs/benchmarks-ops.md. With agents of no configured
// real server the director answered every report (85,000 of 85,000): a
// run must have at least 99 % answered. With agents that are its real
// servers the director saturates the guest's CPU (about 117 %) and
// answered 24,857 of 85,000: a run must have at least one reply, and the
// guest log prints the share answered.
package ops
