// Package scenarios holds the acceptance scenarios of tandem-director on a
// real ip_vs kernel: guest tests (TestGuestScenario*, gated by
// testutil.InVM) that each build a DR lab inside the QEMU guest, run the
// real bin/tandem-director with a keepalived.conf like the seed's and
// bin/tandem-backend on every real server in front of a small web app, and
// send bounded HTTP load from the client (e2e/loadgen), counting every
// failed request:
//
//  1. traffic is balanced by lc over both real servers and `ipvsadm -Ln`
//     equals the configuration;
//  2. `tandem-backend maintenance on --wait` on one server under load: weight
//     0 within 0.5 s, --wait returns once its connections end, 0 failures;
//  3. the app stops on one server: out within 1 s through its agent; on a
//     server without agent, within delay_loop + retry × delay_before_retry
//     through HTTP_GET alone;
//  4. both apps down: the sorry server answers; one back: sorry server out;
//  5. the director killed with SIGKILL and restarted under load: 0 failures,
//     the IPVS entries adopted (no operation), the VIP never gone;
//  6. a reload with a changed weight and an added server under load: 0
//     failures, only those two operations, VRRP untouched.
//
// The operational scenarios (ops_test.go), under mixed new and keep-alive
// load, every failure classified:
//
//   - Ops1: `tandem-director drain RIP:PORT`: weight 0 at once, drained once
//     the keep-alive connections it serves close, `undrain` back; 0 failures;
//   - Ops2: tandem-backend restarted (SIGTERM, SIGKILL, and a stop longer
//     than dead_after): VIP and arp table never touched, the server never
//     out (a long silence only makes the director forget the agent); 0
//     failures;
//   - Ops3: an agent upgrade as the .deb does it (new binary renamed over
//     the old, check-config, restart) to a build with another version stamp
//     (TestVMScenarios builds it); 0 failures, the new version runs;
//   - Ops4: a real server crashes (link down, app and agent killed): out
//     within HTTP_GET's bound, no failure after that;
//   - Ops5: the agent's arp table flushed or deleted on two servers: put
//     back within 1 s, 0 failures, no wrong host, every ARP for the VIP at
//     the client from the director; the exposure while the table is gone
//     is measured with arping.
//
// The high-availability scenarios (ha_test.go, halab_test.go) run
// e2e/prodlab.Pair: two directors (dir1 MASTER, dir2 BACKUP) from the seed's
// keepalived.conf with lvs_sync_daemon_interface eth1 on a segment of their
// own and fast_failover 200 ms x 5, two agents as witnesses:
//
//   - HA1: 20 long-lived keep-alive connections (a request every 100 ms);
//     the backup's IPVS connection table holds them (sync daemon) before
//     the master is SIGKILLed and its links go down; the takeover is timed;
//     0 connections broken, 0 failures, each on the same real server;
//   - HA2: the master stopped with SIGTERM (priority 0, goodbye): the gap
//     between release and takeover is timed; never two VIP holders; no
//     failure but at most 2 new connections reset whose handshake
//     straddled the switch (started from 500 ms before the release to the
//     takeover: dir2 cannot know a connection not yet synced);
//   - HA3: the director-to-director path cut (nftables in the backup) while
//     the agents hear both: the witness rule keeps the backup BACKUP; dir1
//     alone holds the VIP at every 50 ms sample for 6 s past the
//     Master_Down_Interval and after healing; 0 failures;
//   - HA4: the master's track_interface eth1 down for 1.5 s: FAULT, VIP
//     released, the backup takes over and keeps it (nopreempt); never two
//     holders, exactly one from the takeover on, no failure later than the
//     takeover + 500 ms (the detection window's are counted).
//
// The operator scenarios on the same pair:
//
//   - Failover1 (failover_test.go): `tandem-director failover` on the
//     master under load: the connection table handed to dir2's backup sync
//     daemon, the VIP on dir2 within one advert interval of dir1's
//     release, never two holders, dir1 BACKUP and yielding, 0 failed
//     requests; `failover --cancel` hands it back (its failures printed);
//   - Prom1 (prometheus_test.go): the real Prometheus in the pair's lab
//     fires and clears TandemSorryServerInService and TandemNoVRRPMaster;
//     query_range shows the drain and the failover.
//
// The IPv6 scenarios (ipv6_test.go, ipv6lab_test.go) run the pair with
// an IPv6 VIP (VRRP v3, [VIP6]:80 in DR, agents with real_ip6 and IPv6
// directors), a capture of all ICMPv6 on the LAN from start to end: no
// real server ever advertises or answers for the VIP:
//
//   - V6Drain: `maintenance on --wait` under IPv6 load, 0 failed;
//   - V6Failover: the master SIGKILLed and cut off: the VIP on dir2, new
//     connections answered within the fast-failover detection time + 1 s,
//     dir2's unsolicited NA captured and the client's neighbour entry on
//     dir2's MAC;
//   - V6DualStack: an IPv4 and an IPv6 VIP in one sync group, one drain
//     takes rs1 out of both services with 0 failed on either;
//   - V6AppDown: rs1's app crashes under IPv6 load: out of [VIP6]:80
//     within 1 s through its agent's listener watch, back after rise;
//   - V6Reload: rs1's weight edited and reloaded under IPv6 load: the new
//     weight within 5 s, VRRP not restarted, 0 failed.
//
// The tracking scenarios (track_test.go) run the same pair with a
// vrrp_script (kill -0 of a process in each director's namespace,
// interval 1, fall 2, rise 1, weight 0) tracked by VI0:
//
//   - Track1: the master's tracked process SIGKILLed under load: FAULT,
//     the VIP on dir2 (sampled every 10 ms) within interval × fall +
//     advert_int + 1 s slack and not before (fall − 1) × interval − 0.5 s;
//     never two holders; 0 failures from the move + 1 s; the process
//     back, dir1 BACKUP (rise 1) and the VIP stays on dir2;
//   - Track2: VI0 and VI1 (a second VIP, VRID 101, its own
//     virtual_server) in a vrrp_sync_group, load on both VIPs; the same
//     kill: both members FAULT on dir1 and MASTER on dir2, both VIPs of
//     both directors sampled every 10 ms: a director's members apart only
//     at the transition (one run of at most 5 samples per director), no
//     VIP ever on both; 0 failures on either VIP from the move + 1 s.
//
// The BGP scale-out scenarios (bgp_test.go) run e2e/prodlab.BGPLab: FRR's
// zebra and bgpd as the ECMP router between the client and three
// directors in BGP mode (mh with mh-fallback and mh-port, sloppy_tcp),
// two real servers whose agents report to all three; new connections plus
// 12 long-lived ones:
//
//   - BGP1: three next hops at the router, one fingerprint on the three;
//     each director schedules at least 20 % of the flows; `maintenance on
//     --wait` returns only when all three have rs1 at weight 0 with no
//     active connection, 0 failed; dir3 stopped cleanly (graceful
//     shutdown, then withdrawal) and started again with another weight:
//     not announced while its fingerprint differs (bgp.directors'
//     agreement), announced once a reload makes it equal; 0 failed, 0
//     established connections broken;
//   - BGP2: dir3 dies (link down, director and speaker SIGKILLed): its
//     next hop leaves the router within the hold time (3 s) + 3 s; no
//     established connection broken, no request started 500 ms after the
//     withdrawal fails.
//
// The host side (TestVMScenarios) builds the test binary, boots the guest
// once for all of them (e2e/vmtest.RunGuestTests) and requires each to pass;
// `make test-vm` runs it. Measured latencies are printed in the test log.
package scenarios
