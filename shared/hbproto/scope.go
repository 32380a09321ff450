package hbproto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
)

// Key scopes (docs/heartbeat.md, "Key scopes"). The cluster secret is the
// directors' key file; it never leaves the directors. Every other key is
// derived from it with HMAC-SHA256 and written as 64 lowercase hex digits,
// so a derived key is itself a valid key file (LoadKey).
const (
	// agentKeyLabel starts the derivation input of an agent key; the real
	// server's address (family byte, then 4 or 16 bytes) follows it.
	agentKeyLabel = "tandem heartbeat v1 agent key\x00"
	// directorKeyLabel is the derivation input of the directors-only key
	// (fast-failover probes between directors).
	directorKeyLabel = "tandem heartbeat v1 director key\x00"
)

// DeriveAgentKey returns the key of the agent whose real server address is
// ip: hex(HMAC-SHA256(secret, "tandem heartbeat v1 agent key\x00" || addr)),
// addr being the wire encoding of ip (family 4 or 6, then its bytes; an
// IPv4-mapped IPv6 address counts as IPv4). With it an agent can speak for
// ip only: the director derives the same key from the datagram's source
// address and checks that the report's real_ip is that address.
func DeriveAgentKey(secret []byte, ip netip.Addr) []byte {
	ip = ip.Unmap()
	in := []byte(agentKeyLabel)
	if ip.Is4() {
		b := ip.As4()
		in = append(append(in, 4), b[:]...)
	} else {
		b := ip.As16()
		in = append(append(in, 6), b[:]...)
	}
	return derive(secret, in)
}

// DeriveDirectorKey returns the directors-only key that seals the
// fast-failover probes between directors. Real servers never hold it.
func DeriveDirectorKey(secret []byte) []byte {
	return derive(secret, []byte(directorKeyLabel))
}

func derive(secret, in []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(in)
	sum := m.Sum(nil)
	out := make([]byte, hex.EncodedLen(len(sum)))
	hex.Encode(out, sum)
	return out
}
