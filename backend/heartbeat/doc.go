// Package heartbeat is the agent's side of the Tandem heartbeat protocol
// (docs/heartbeat.md, shared/hbproto): it sends an authenticated report to
// every configured director at a fixed interval and at once whenever the
// report changes, and it keeps what each director answers (VRRP role, and
// for this server's destinations the weight and connection counts), which
// `status` shows and `maintenance on --wait` waits on.
//
// Replies are accepted only from a configured director's address and port,
// only after the MAC, time window and replay checks of hbproto.Opener, and
// only the destinations whose address is this server's real IP are kept.
// Everything rejected is counted by reason.
//
// A dual-stack agent has two identities (docs/heartbeat.md, "Dual
// stack"): it reports to the IPv4 directors from its IPv4 real IP, sealed
// with that address's key, and to the IPv6 directors from its IPv6 real
// IP, sealed with that one's, on a socket per family bound to the address.
//
// The agent is also a witness for the directors (docs/ha.md): every report
// carries, for each director that has replied, its name, its role and the
// age of its last reply. A reply with report_now (a backup director that
// lost its peer) makes the agent report to every director at once and, for
// RequestHold, relay each other director's next reply to the requester by
// one more report, so the requester learns within a round trip whether the
// master still answers.
package heartbeat
