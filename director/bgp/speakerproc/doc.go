// Package speakerproc runs the BGP speaker in a process of its own,
// tandem-bgp-speaker, so that GoBGP (its gRPC, protobuf and their init
// work) is never linked into tandem-director.
//
//   - [Remote] (remote.go) is the director's bgp.Speaker: it starts the
//     process, sends it requests and reads its replies and peer states;
//     when the process dies it reports the peers down, starts it again
//     after a backoff (1 s doubling to 30 s) and replays the
//     configuration and the announced routes.
//   - [Serve] (serve.go) is the process's side, on a bgp.Speaker the
//     process's main builds (gobgp.Speaker).
//   - wire.go is the protocol on the process's stdin and stdout: a 4-byte
//     length then JSON, one message at most [MaxMsg]. The peers'
//     passwords travel only there, never on a command line or in the
//     environment. The process ends when its stdin ends: the director has
//     gone, and the routers drop its routes (CEASE).
//   - relog.go: the process logs JSON lines to its stderr, which the
//     director re-logs through its own logger, each line bounded.
package speakerproc
