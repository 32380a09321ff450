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
package heartbeat
