// Package bgp is tandem-director's BGP mode: the VIPs announced as /32
// and /128 routes to the routers (RFC 4271, RFC 4760 for IPv6), withdrawn
// gracefully with the GRACEFUL_SHUTDOWN community of RFC 8326 first.
//
// Two halves, as elsewhere in the director:
//   - [Announcer] (announcer.go) is the pure policy: events in (a VIP's
//     IPVS service programmed, its quorum; the director draining itself,
//     stopping, its IPVS fingerprint agreed with the others'; the BGP
//     sessions), actions out ([Announce], [Withdraw]) and its next
//     deadline. No I/O, no goroutines, no clock reads.
//   - [Speaker] (speaker.go) is the BGP edge: gobgp.Speaker
//     (director/bgp/gobgp) runs GoBGP as a library, export only (every
//     received route rejected, the number a peer may send bounded, no
//     listening port unless configured), in a process of its own,
//     tandem-bgp-speaker, that the director drives through
//     speakerproc.Remote (director/bgp/speakerproc); bgptest.Speaker is
//     the recording fake. This package imports nothing of GoBGP: linked
//     into the director, GoBGP's code and descriptors cost every director
//     some 12 MiB of RSS, BGP mode or not.
package bgp
