// Package agree is the IPVS fingerprint agreement of BGP mode between the
// directors of a tier (issue 18, docs/director.md "BGP mode",
// docs/scale-out.md "A director joining"): a director announces a VIP for
// the first time only when its IPVS table for every service of that VIP
// picks the same real servers as the directors already announcing it, so
// that a flow the routers move to it lands on the same real server.
//
// Three parts, as elsewhere in the director:
//   - wire.go: the datagram (magic "TA"): "I am node N; per service of my
//     announced VIPs (VIP:port/proto) its fingerprint (lvs.Fingerprint, 8
//     bytes) and whether I announce the VIP", at most MaxDatagram (1,400)
//     bytes; Sealer and Opener wrap it in the heartbeat's authenticated
//     envelope (hbproto.Envelope: HMAC-SHA256 with the directors' key,
//     time window, replay rule per sender and session).
//   - agreement.go: Agreement, the pure rule: own fingerprints and the
//     peers' reports (with their receive time) in, a gate per VIP (open or
//     not, and why) and each peer's status out; an injected time, no I/O.
//   - driver.go: Driver, the UDP socket: our message to every peer each
//     interval and at once on a change; the peers' messages bounded (one
//     datagram, a token bucket per peer, configured peers only),
//     authenticated and kept for the Agreement; drops counted by reason,
//     logged at most once a minute per reason.
package agree
