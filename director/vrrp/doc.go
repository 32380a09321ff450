// Package vrrp implements the Virtual Router Redundancy Protocol for
// tandem-director: version 2 as described in RFC 3768 (with the simple-text
// "PASS" authentication keepalived still offers) and version 3 as described
// in RFC 5798 (IPv4 and IPv6, centisecond advertisement intervals).
//
// The package has three layers:
//
//   - a codec (codec.go): Packet, Marshal and a strict Decode whose errors
//     name the peer and the field;
//   - a pure state machine (machine.go): Machine.Step(now, event) returns the
//     actions to perform; it owns its deadlines (NextDeadline) and never
//     reads the clock or touches the network;
//   - a driver (driver.go, conn.go, vip.go, garp.go, notify.go): raw IP
//     protocol 112 sockets, VIPs through netlink, gratuitous ARP, notify
//     scripts, counters and a Status snapshot.
//
// It is wire-compatible with keepalived 2.2.7: a Tandem director and a
// keepalived can be the two peers of one virtual router. docs/vrrp.md lists
// the supported keepalived keywords and the differences.
package vrrp
