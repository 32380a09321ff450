package lvs

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
)

// fingerprintVersion is the first byte hashed: a change of what
// Fingerprint covers changes every fingerprint, so directors of two
// versions never agree by accident.
const fingerprintVersion = 1

// Fingerprint identifies what decides which real server the kernel picks
// for a new flow of a service: the scheduler, the service flags
// (mh-fallback, mh-port, persistence, one-packet) and the destinations
// with their weights. Two directors that show the same fingerprint for a
// service ask the kernel for the same thing; for the mh scheduler that
// is the same Maglev table, hence the same real server for a flow
// whichever director the router picks (BGP mode, issue 18).
//
// It is 16 hex digits: the first 64 bits of a SHA-256 over those values
// in one canonical form (scheduler wlc when empty, IPv4 addresses
// unmapped, destinations sorted by address then port), so the order in
// which the destinations are listed does not count. The forwarding method
// and the thresholds do not count: they do not change the choice.
//
// A destination at weight 0 counts, with weight 0: it is not absent for
// mh. The kernel keeps each destination's last non-zero weight
// (last_weight) and builds the Maglev table from it, so a quiesced
// destination keeps its slots; weight 0 only makes it unavailable at
// lookup, where mh-fallback walks on to another slot (ip_vs_mh.c). A
// director that deleted the destination builds another table and picks
// other servers for some flows than one that set it to 0: their
// fingerprints differ.
//
// What it cannot see: the kernel's table also depends on the order in
// which the destinations were added (each goes to the head of the list,
// which the table fills by turns) and on the last non-zero weight of a
// destination now at 0. [Plan] adds in one sorted order, so directors
// that started from an empty table agree; a destination added later to a
// running service goes to the head of that director's list, where a
// director started afterwards has it in sorted place.
func Fingerprint(svc Service, dests []Destination) string {
	n := svc.normalized()
	sorted := slices.Clone(dests)
	slices.SortFunc(sorted, func(a, b Destination) int { return a.addrPort().Compare(b.addrPort()) })
	b := make([]byte, 0, 16+len(n.Scheduler)+len(sorted)*22)
	b = append(b, fingerprintVersion, byte(len(n.Scheduler)))
	b = append(b, n.Scheduler...)
	b = binary.BigEndian.AppendUint32(b, uint32(n.Flags))
	b = binary.BigEndian.AppendUint32(b, uint32(len(sorted)))
	for _, d := range sorted {
		a := d.Addr.Unmap()
		if a.Is4() {
			b = append(b, 4)
		} else {
			b = append(b, 6)
		}
		a16 := a.As16()
		b = append(b, a16[:]...)
		b = binary.BigEndian.AppendUint16(b, d.Port)
		b = binary.BigEndian.AppendUint32(b, uint32(max(d.Weight, 0)))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Fingerprint is [Fingerprint] of the spec's service and destinations.
func (sp ServiceSpec) Fingerprint() string { return Fingerprint(sp.Service, sp.Destinations) }

// StateFingerprint is [Fingerprint] of a service as the kernel reports
// it: what the kernel holds now, to compare with the desired one.
func StateFingerprint(st ServiceState) string {
	dests := make([]Destination, len(st.Destinations))
	for i, d := range st.Destinations {
		dests[i] = d.Destination
	}
	return Fingerprint(st.Service, dests)
}
