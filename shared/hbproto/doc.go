// Package hbproto implements the Tandem heartbeat protocol, version 1: the
// authenticated UDP messages an agent (tandem-backend) sends to every
// director and the replies a director sends back.
//
// The normative specification is docs/heartbeat.md. In short: a 32-byte
// fixed header (magic, version, type, body length, session id, sequence,
// timestamp), a length-prefixed binary body, and an HMAC-SHA256 tag over
// header and body. An [Opener] verifies the tag before it reads the body,
// then enforces a timestamp window and a per-session strictly increasing
// sequence number, with bounded memory.
//
// [Marshal], [Encode] and [Decode] are the pure codec (Decode does not
// verify the tag; it exists for tests and fuzzing). Daemons use [Sealer]
// and [Opener].
package hbproto
