package kadiff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tandemlb/tandem/director/vrrp"
)

// Frame is one packet record of a pcap file.
type Frame struct {
	TS       time.Time
	LinkType uint32
	Data     []byte
}

// Link types this reader decodes.
const (
	LinkEthernet  = 1   // DLT_EN10MB
	LinkLinuxSLL  = 113 // DLT_LINUX_SLL
	LinkLinuxSLL2 = 276 // DLT_LINUX_SLL2
)

// ErrPcap is wrapped by ReadPcap's errors.
var ErrPcap = errors.New("pcap")

// ReadPcap reads a classic pcap file (microsecond or nanosecond
// timestamps, either byte order). A file cut short after the last whole
// record (tcpdump killed while writing) is not an error.
func ReadPcap(b []byte) ([]Frame, error) {
	if len(b) < 24 {
		return nil, fmt.Errorf("%w: %d bytes, no global header", ErrPcap, len(b))
	}
	var bo binary.ByteOrder
	nano := false
	switch m := binary.LittleEndian.Uint32(b); m {
	case 0xa1b2c3d4:
		bo = binary.LittleEndian
	case 0xa1b23c4d:
		bo, nano = binary.LittleEndian, true
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	case 0x4d3cb2a1:
		bo, nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("%w: bad magic 0x%08x", ErrPcap, m)
	}
	link := bo.Uint32(b[20:24])
	var out []Frame
	for off := 24; off+16 <= len(b); {
		sec, frac := bo.Uint32(b[off:]), bo.Uint32(b[off+4:])
		incl := int(bo.Uint32(b[off+8:]))
		off += 16
		if incl < 0 || off+incl > len(b) {
			break // truncated last record
		}
		ns := int64(frac)
		if !nano {
			ns *= 1000
		}
		out = append(out, Frame{TS: time.Unix(int64(sec), ns), LinkType: link, Data: b[off : off+incl]})
		off += incl
	}
	return out, nil
}

// Advert is a VRRP advert seen on the wire.
type Advert struct {
	TS       time.Time
	SrcMAC   net.HardwareAddr // nil unless Ethernet
	Src, Dst netip.Addr
	TTL      uint8 // IPv4 TTL or IPv6 hop limit
	TOS      uint8 // IPv4 TOS or IPv6 traffic class
	Proto    uint8 // 112 (VRRP) or 51 (AH)
	Packet   *vrrp.Packet
	Err      error // why the payload did not decode
}

// DecodeFrame extracts a VRRP advert (IP protocol 112, or 51 for
// keepalived's AH authentication) from a frame; ok is false for any other
// packet.
func DecodeFrame(f Frame) (a Advert, ok bool) {
	a.TS = f.TS
	d := f.Data
	var etype uint16
	switch f.LinkType {
	case LinkEthernet:
		if len(d) < 14 {
			return a, false
		}
		a.SrcMAC = net.HardwareAddr(append([]byte(nil), d[6:12]...))
		etype, d = binary.BigEndian.Uint16(d[12:14]), d[14:]
		for etype == 0x8100 || etype == 0x88a8 {
			if len(d) < 4 {
				return a, false
			}
			etype, d = binary.BigEndian.Uint16(d[2:4]), d[4:]
		}
	case LinkLinuxSLL:
		if len(d) < 16 {
			return a, false
		}
		etype, d = binary.BigEndian.Uint16(d[14:16]), d[16:]
	case LinkLinuxSLL2:
		if len(d) < 20 {
			return a, false
		}
		etype, d = binary.BigEndian.Uint16(d[0:2]), d[20:]
	default:
		return a, false
	}
	var payload []byte
	switch etype {
	case 0x0800:
		if len(d) < 20 || d[0]>>4 != 4 {
			return a, false
		}
		ihl := int(d[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(d[2:4]))
		if ihl < 20 || total < ihl || len(d) < total {
			return a, false
		}
		a.TOS, a.TTL, a.Proto = d[1], d[8], d[9]
		a.Src = netip.AddrFrom4([4]byte(d[12:16]))
		a.Dst = netip.AddrFrom4([4]byte(d[16:20]))
		payload = d[ihl:total]
	case 0x86dd:
		if len(d) < 40 || d[0]>>4 != 6 {
			return a, false
		}
		plen := int(binary.BigEndian.Uint16(d[4:6]))
		if len(d) < 40+plen {
			return a, false
		}
		a.TOS = uint8(binary.BigEndian.Uint16(d[0:2]) >> 4)
		a.Proto, a.TTL = d[6], d[7]
		a.Src = netip.AddrFrom16([16]byte(d[8:24]))
		a.Dst = netip.AddrFrom16([16]byte(d[24:40]))
		payload = d[40 : 40+plen]
	default:
		return a, false
	}
	switch a.Proto {
	case vrrp.Protocol:
	case 51: // AH: next header, length in 32-bit words minus 2
		if len(payload) < 12 || payload[0] != vrrp.Protocol {
			a.Err = fmt.Errorf("AH without VRRP inside")
			return a, true
		}
		n := (int(payload[1]) + 2) * 4
		if n > len(payload) {
			a.Err = fmt.Errorf("AH header longer than the packet")
			return a, true
		}
		payload = payload[n:]
	default:
		return a, false
	}
	p, err := vrrp.Decode(payload, a.Src, a.Dst)
	if err != nil {
		a.Err = err
		return a, true
	}
	a.Packet = p
	return a, true
}

// Line is the advert as one comparable line: version, VRID, priority,
// interval, authentication, addresses, source and destination, TTL and
// TOS, source MAC. An undecodable payload gives its error instead.
func (a Advert) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s > %s", a.Src, a.Dst)
	if a.Proto == 51 {
		b.WriteString(" AH")
	}
	fmt.Fprintf(&b, " ttl %d tos 0x%02x", a.TTL, a.TOS)
	if a.SrcMAC != nil {
		fmt.Fprintf(&b, " mac %s", a.SrcMAC)
	}
	if a.Packet == nil {
		fmt.Fprintf(&b, " undecodable: %v", a.Err)
		return b.String()
	}
	p := a.Packet
	fmt.Fprintf(&b, " v%d vrid %d prio %d", p.Version, p.VRID, p.Priority)
	if p.Version == vrrp.Version2 {
		fmt.Fprintf(&b, " int %ds", p.AdverInt)
		switch p.AuthType {
		case vrrp.AuthNone:
		case vrrp.AuthPassword:
			fmt.Fprintf(&b, " auth PASS %q", strings.TrimRight(string(p.AuthData[:]), "\x00"))
		default:
			b.WriteString(" auth " + strconv.Itoa(int(p.AuthType)))
		}
	} else {
		fmt.Fprintf(&b, " int %dcs", p.MaxAdverInt)
	}
	addrs := make([]string, len(p.Addresses))
	for i, x := range p.Addresses {
		addrs[i] = x.String()
	}
	fmt.Fprintf(&b, " addrs [%s]", strings.Join(addrs, " "))
	return b.String()
}
