// Package peerwatch is Tandem's fast peer-failure detection between two
// Tandem directors (docs/ha.md): a BFD-like probe (RFC 5880 asynchronous
// mode, simplified) over UDP on the sync interface, or the VRRP interface
// when there is none, authenticated with the heartbeat key.
//
//   - probe.go: the wire format (magic "TP"), Sealer and Opener; the
//     envelope (HMAC-SHA256 tag, time window, per-session replay rule) is
//     the heartbeat's, hbproto.Envelope.
//   - session.go: Session, the pure detector: Step(now, ev) []Action with
//     Start, Received, TimerFired and Leave; PeerUp and PeerDown out.
//   - watcher.go: Watcher, the driver: the socket, our VRRP roles in every
//     probe, and the verdicts: on PeerDown of a peer that was MASTER of an
//     instance we back up, vrrp.PeerDead (after the witness rule of package
//     witness, if agents are there); on the peer's goodbye (it stopped and
//     released its VIPs) vrrp.PeerDead at once. It also feeds the witness
//     level (vrrp.Witness) to every instance.
//
// A keepalived peer never answers the probe, so the session never comes up
// and nothing changes for it: plain VRRP.
package peerwatch
