// Package agents is the director's side of the heartbeat protocol
// (docs/heartbeat.md, shared/hbproto): a UDP listener that authenticates
// each agent report, hands it to the application, and answers it at once
// with the director's VRRP role and what IPVS does to that agent's
// destinations (weight, configured weight, active and inactive
// connections, pool state).
//
// Bad datagrams cost as little as possible: hbproto checks the framing and
// the HMAC before it looks at the body; a rejected datagram is counted by
// reason, gets no answer, and is logged at most once per reason every
// LogEvery (with the number left unlogged), so that a flood cannot fill the
// journal.
//
// The socket is read and answered in batches (recvmmsg, sendmmsg: see
// batch.go): one goroutine blocks in a read that takes every datagram
// queued, up to [Batch], and the replies of the fast path leave in one
// write; under load the reads come at most once per [Linger]. The receive
// buffer asked for is [RcvBuf].
//
// [LoadKey] refuses to run without a usable key unless the operator asked
// for the insecure mode, which is logged loudly.
package agents
