// Package witness implements the witness rule of docs/ha.md: the backend
// agents heartbeat every director, and each report says what the agent last
// heard from each director (its name, role and reply age, the hbproto
// witness field). A backup director that stops hearing its master (VRRP
// Master_Down timer, or the peerwatch probe) asks the agents and, when at
// least Quorum of them heard the master, as MASTER, after the moment the
// backup should last have heard it, concludes that the director-to-director
// path is broken, not the master, and does not take the VIPs (it feeds
// vrrp.Witness{MasterAlive: true} to its instances).
//
// Table is the pure rule: Observe(now, report) and Verdict(now, query), no
// clock, no I/O. Board wraps it for concurrent use and tells waiters when a
// report arrives.
package witness
