package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Protocol is the IP protocol number of VRRP.
const Protocol = 112

// Multicast groups VRRP advertisements are sent to (RFC 5798 §5.1.1.2 and
// §5.1.2.2).
var (
	MulticastGroup4 = netip.MustParseAddr("224.0.0.18")
	MulticastGroup6 = netip.MustParseAddr("ff02::12")
)

// Version numbers carried in the first nibble of a VRRP packet.
const (
	Version2 = 2 // RFC 3768
	Version3 = 3 // RFC 5798
)

// TypeAdvertisement is the only VRRP packet type (RFC 5798 §5.2.2).
const TypeAdvertisement = 1

// Authentication types of VRRP version 2 (RFC 3768 §5.3.6; RFC 2338 for
// simple text). Version 3 has no authentication.
const (
	AuthNone     = 0 // no authentication
	AuthPassword = 1 // simple text password, keepalived's "auth_type PASS"
	AuthAH       = 2 // IPsec AH; not supported (it is not even protocol 112)
)

// Priorities with a meaning of their own.
const (
	PriorityStop  = 0   // the master is leaving: backups take over in Skew_Time
	PriorityOwner = 255 // the address owner
)

const headerLen = 8
const authLen = 8

// Packet is one VRRP advertisement.
type Packet struct {
	// Version is 2 (RFC 3768) or 3 (RFC 5798).
	Version uint8
	// Type is the packet type; only TypeAdvertisement exists.
	Type uint8
	// VRID is the virtual router identifier, 1 to 255.
	VRID uint8
	// Priority is the sender's priority: 0 means it stops being master,
	// 255 means it owns the addresses.
	Priority uint8
	// CountIPAddrs is the number of addresses. Decode sets it; Marshal
	// writes len(Addresses) and refuses a different non-zero value.
	CountIPAddrs uint8
	// AuthType is the version 2 authentication type (AuthNone or
	// AuthPassword). Always 0 in version 3.
	AuthType uint8
	// AdverInt is the version 2 advertisement interval in seconds.
	AdverInt uint8
	// MaxAdverInt is the version 3 advertisement interval in centiseconds
	// (12 bits).
	MaxAdverInt uint16
	// Checksum is the checksum as received. Marshal computes its own.
	Checksum uint16
	// Addresses are the virtual addresses: IPv4 for version 2 and for
	// version 3 over IPv4, IPv6 for version 3 over IPv6.
	Addresses []netip.Addr
	// AuthData is the version 2 authentication data: for AuthPassword the
	// password, zero-padded to 8 bytes.
	AuthData [8]byte
}

// Errors that Decode wraps in a *DecodeError; test with errors.Is.
var (
	ErrTruncated = errors.New("packet too short")
	ErrLength    = errors.New("length does not match the address count")
	ErrVersion   = errors.New("unsupported version")
	ErrType      = errors.New("not an advertisement")
	ErrChecksum  = errors.New("bad checksum")
	ErrFamily    = errors.New("address family mismatch")
	ErrAuthType  = errors.New("unsupported authentication type")
	ErrVRID      = errors.New("virtual router id 0 is reserved")
	ErrInterval  = errors.New("advertisement interval is zero")
)

// DecodeError is a packet Decode refused: who sent it, which field is wrong
// and why.
type DecodeError struct {
	Peer  netip.Addr // source address of the packet
	Field string     // the offending field, e.g. "checksum"
	Err   error      // one of the Err* sentinels, possibly wrapped with detail
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("vrrp: from %s: field %q: %v", e.Peer, e.Field, e.Err)
}

// Unwrap returns the underlying sentinel.
func (e *DecodeError) Unwrap() error { return e.Err }

func decodeErr(peer netip.Addr, field string, err error, format string, args ...any) error {
	if format != "" {
		err = fmt.Errorf("%w: "+format, append([]any{err}, args...)...)
	}
	return &DecodeError{Peer: peer, Field: field, Err: err}
}

// addrLen returns the size of one address for the family of src and dst,
// or 0 when they are not both IPv4 or both IPv6.
func addrLen(src, dst netip.Addr) int {
	src, dst = src.Unmap(), dst.Unmap()
	switch {
	case src.Is4() && dst.Is4():
		return 4
	case src.Is6() && dst.Is6():
		return 16
	}
	return 0
}

// Decode parses and validates the VRRP payload b of an IP packet from src to
// dst (the IP header already removed). It checks the version, the type, the
// lengths against the address count, the address family against the IP
// header, the checksum (with the pseudo-header for version 3), the
// authentication type of version 2, VRID and interval. It does not check
// anything that depends on configuration (VRID, password, VIP list): that is
// the receiver's job.
func Decode(b []byte, src, dst netip.Addr) (*Packet, error) {
	alen := addrLen(src, dst)
	if alen == 0 {
		return nil, decodeErr(src, "address family", ErrFamily, "source %s, destination %s", src, dst)
	}
	if len(b) < headerLen {
		return nil, decodeErr(src, "length", ErrTruncated, "%d bytes, need at least %d", len(b), headerLen)
	}
	p := &Packet{
		Version:      b[0] >> 4,
		Type:         b[0] & 0x0f,
		VRID:         b[1],
		Priority:     b[2],
		CountIPAddrs: b[3],
		Checksum:     binary.BigEndian.Uint16(b[6:8]),
	}
	switch p.Version {
	case Version2:
		if alen != 4 {
			return nil, decodeErr(src, "version", ErrFamily, "version 2 over IPv6 is not standard")
		}
	case Version3:
	default:
		return nil, decodeErr(src, "version", ErrVersion, "%d", p.Version)
	}
	if p.Type != TypeAdvertisement {
		return nil, decodeErr(src, "type", ErrType, "%d", p.Type)
	}
	want := headerLen + int(p.CountIPAddrs)*alen
	if p.Version == Version2 {
		want += authLen
	}
	if len(b) != want {
		return nil, decodeErr(src, "count ip addrs", ErrLength, "%d addresses need %d bytes, got %d", p.CountIPAddrs, want, len(b))
	}
	var sum uint32
	if p.Version == Version3 {
		sum = pseudoHeaderSum(src, dst, len(b))
	}
	if c := checksum(b, sum); c != 0 {
		return nil, decodeErr(src, "checksum", ErrChecksum, "0x%04x does not verify", p.Checksum)
	}
	if p.VRID == 0 {
		return nil, decodeErr(src, "vrid", ErrVRID, "")
	}
	if p.Version == Version2 {
		p.AuthType = b[4]
		p.AdverInt = b[5]
		if p.AuthType != AuthNone && p.AuthType != AuthPassword {
			return nil, decodeErr(src, "auth type", ErrAuthType, "%d", p.AuthType)
		}
		if p.AdverInt == 0 {
			return nil, decodeErr(src, "adver int", ErrInterval, "")
		}
		copy(p.AuthData[:], b[len(b)-authLen:])
	} else {
		// The 4 reserved bits are ignored on receipt (RFC 5798 §5.2.5).
		p.MaxAdverInt = binary.BigEndian.Uint16(b[4:6]) & 0x0fff
		if p.MaxAdverInt == 0 {
			return nil, decodeErr(src, "max adver int", ErrInterval, "")
		}
	}
	p.Addresses = make([]netip.Addr, p.CountIPAddrs)
	for i := range p.Addresses {
		off := headerLen + i*alen
		if alen == 4 {
			p.Addresses[i] = netip.AddrFrom4([4]byte(b[off : off+4]))
		} else {
			p.Addresses[i] = netip.AddrFrom16([16]byte(b[off : off+16]))
		}
	}
	return p, nil
}

// Marshal encodes p as the payload of an IP packet from src to dst, computing
// the checksum: over the VRRP message alone for version 2, and with the IPv4
// or IPv6 pseudo-header for version 3 (RFC 5798 §5.2.8).
func (p *Packet) Marshal(src, dst netip.Addr) ([]byte, error) {
	alen := addrLen(src, dst)
	if alen == 0 {
		return nil, fmt.Errorf("vrrp: marshal: source %s and destination %s: %w", src, dst, ErrFamily)
	}
	if p.Version != Version2 && p.Version != Version3 {
		return nil, fmt.Errorf("vrrp: marshal: field \"version\": %w: %d", ErrVersion, p.Version)
	}
	if p.Version == Version2 && alen != 4 {
		return nil, fmt.Errorf("vrrp: marshal: field \"version\": %w: version 2 over IPv6", ErrFamily)
	}
	if p.Type != TypeAdvertisement {
		return nil, fmt.Errorf("vrrp: marshal: field \"type\": %w: %d", ErrType, p.Type)
	}
	if len(p.Addresses) > 255 {
		return nil, fmt.Errorf("vrrp: marshal: field \"count ip addrs\": %d addresses, at most 255", len(p.Addresses))
	}
	if p.CountIPAddrs != 0 && int(p.CountIPAddrs) != len(p.Addresses) {
		return nil, fmt.Errorf("vrrp: marshal: field \"count ip addrs\": %w: %d, but %d addresses", ErrLength, p.CountIPAddrs, len(p.Addresses))
	}
	if p.VRID == 0 {
		return nil, fmt.Errorf("vrrp: marshal: field \"vrid\": %w", ErrVRID)
	}
	n := headerLen + len(p.Addresses)*alen
	if p.Version == Version2 {
		n += authLen
	}
	b := make([]byte, n)
	b[0] = p.Version<<4 | TypeAdvertisement
	b[1] = p.VRID
	b[2] = p.Priority
	b[3] = uint8(len(p.Addresses))
	if p.Version == Version2 {
		if p.AdverInt == 0 {
			return nil, fmt.Errorf("vrrp: marshal: field \"adver int\": %w", ErrInterval)
		}
		if p.AuthType != AuthNone && p.AuthType != AuthPassword {
			return nil, fmt.Errorf("vrrp: marshal: field \"auth type\": %w: %d", ErrAuthType, p.AuthType)
		}
		b[4] = p.AuthType
		b[5] = p.AdverInt
		copy(b[n-authLen:], p.AuthData[:])
	} else {
		if p.MaxAdverInt == 0 || p.MaxAdverInt > 0x0fff {
			return nil, fmt.Errorf("vrrp: marshal: field \"max adver int\": %d centiseconds, want 1 to 4095", p.MaxAdverInt)
		}
		binary.BigEndian.PutUint16(b[4:6], p.MaxAdverInt)
	}
	for i, a := range p.Addresses {
		off := headerLen + i*alen
		switch {
		case alen == 4 && a.Unmap().Is4():
			a4 := a.Unmap().As4()
			copy(b[off:], a4[:])
		case alen == 16 && a.Is6():
			// An IPv4-mapped address stays as it came (::ffff:a.b.c.d):
			// a v3 advert over IPv6 carries 16-byte addresses only.
			a16 := a.As16()
			copy(b[off:], a16[:])
		default:
			return nil, fmt.Errorf("vrrp: marshal: field \"addresses\": %s: %w with the IP header", a, ErrFamily)
		}
	}
	var sum uint32
	if p.Version == Version3 {
		sum = pseudoHeaderSum(src, dst, n)
	}
	binary.BigEndian.PutUint16(b[6:8], checksum(b, sum))
	return b, nil
}

// pseudoHeaderSum returns the unfolded one's-complement sum of the IPv4
// (RFC 768 style) or IPv6 (RFC 8200 §8.1) pseudo-header for protocol 112.
func pseudoHeaderSum(src, dst netip.Addr, length int) uint32 {
	src, dst = src.Unmap(), dst.Unmap()
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
	}
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		add(s[:])
		add(d[:])
		sum += Protocol
		sum += uint32(length)
		return sum
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	sum += uint32(length>>16) + uint32(length&0xffff)
	sum += Protocol
	return sum
}

// checksum returns the Internet checksum (RFC 1071) of b, starting from the
// partial sum initial. Over a packet that carries its checksum it returns 0
// when the checksum verifies.
func checksum(b []byte, initial uint32) uint16 {
	sum := initial
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
