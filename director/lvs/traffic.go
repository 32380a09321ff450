package lvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The traffic counters with the kernel's 64-bit attributes: moby/ipvs reads
// IPVS_SVC_ATTR_STATS and IPVS_DEST_ATTR_STATS only, whose connection and
// packet counters are 32 bits wide and wrap at 2^32 (a Prometheus counter
// would see a reset: a director forwarding a million packets a second
// wraps in 72 minutes). Since Linux 4.1 the kernel also sends
// IPVS_*_ATTR_STATS64 (struct ip_vs_stats64), every counter 64 bits wide.

// The kernel's numbers (include/uapi/linux/ip_vs.h) beside batch.go's.
const (
	cmdGetService = 4
	cmdGetDest    = 8

	svcAttrStats64     = 12 // nested IPVS_STATS_ATTR_*, u64 each
	destAttrActive     = 7  // u32
	destAttrInactive   = 8  // u32
	destAttrStats64    = 12 // nested, as svcAttrStats64
	statsAttrConns     = 1
	statsAttrInPkts    = 2
	statsAttrOutPkts   = 3
	statsAttrInBytes   = 4
	statsAttrOutBytes  = 5
	statsAttrCPS       = 6
	statsAttrInPPS     = 7
	statsAttrOutPPS    = 8
	statsAttrInBPS     = 9
	statsAttrOutBPS    = 10
	maxTrafficServices = 1 << 16 // a dump larger than this is refused
)

// TrafficReader reads the table's counters 64 bits wide. *Kernel is one;
// the recording fake is not (ReadTraffic falls back to Services).
type TrafficReader interface {
	// Traffic returns every service with its destinations, each with
	// the fields that identify it (the service's protocol, address,
	// port, firewall mark; the destination's address and port), the
	// destination's weight, forwarding method and active and inactive
	// connections, and the 64-bit counters. Scheduler, flags, timeouts
	// and thresholds are not read.
	Traffic() ([]ServiceState, error)
}

// ReadTraffic reads c's counters: Traffic when c is a TrafficReader, else
// Services.
func ReadTraffic(c Client) ([]ServiceState, error) {
	if t, ok := c.(TrafficReader); ok {
		return t.Traffic()
	}
	return c.Services()
}

var _ TrafficReader = (*Kernel)(nil)

// Traffic implements [TrafficReader]: one dump of the services, then one
// dump of destinations per service, on the generic netlink socket.
func (k *Kernel) Traffic() ([]ServiceState, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	msgs, err := k.gc.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmdGetService, Version: ipvsGenlVersion},
	}, k.family, netlink.Request|netlink.Dump)
	if err != nil {
		return nil, fmt.Errorf("ipvs: list services (64-bit counters): %w", err)
	}
	if len(msgs) > maxTrafficServices {
		return nil, fmt.Errorf("ipvs: list services (64-bit counters): %d services, at most %d", len(msgs), maxTrafficServices)
	}
	out := make([]ServiceState, 0, len(msgs))
	for _, m := range msgs {
		st, err := decodeTrafficService(m.Data)
		if err != nil {
			return nil, err
		}
		dm, err := k.gc.Execute(genetlink.Message{
			Header: genetlink.Header{Command: cmdGetDest, Version: ipvsGenlVersion},
			Data:   serviceIdentity(st.Service),
		}, k.family, netlink.Request|netlink.Dump)
		if errors.Is(err, syscall.ESRCH) || errors.Is(err, syscall.ENOENT) {
			continue // deleted since the dump
		}
		if err != nil {
			return nil, fmt.Errorf("ipvs: list destinations of %s (64-bit counters): %w", st.Service.Key(), err)
		}
		st.Destinations = make([]DestinationState, 0, len(dm))
		for _, m := range dm {
			d, err := decodeTrafficDest(m.Data, st.Service)
			if err != nil {
				return nil, fmt.Errorf("ipvs: destination of %s: %w", st.Service.Key(), err)
			}
			st.Destinations = append(st.Destinations, d)
		}
		out = append(out, st)
	}
	return out, nil
}

// serviceIdentity is IPVS_CMD_ATTR_SERVICE with what names s to the
// kernel: the family and either the firewall mark or the protocol,
// address and port.
func serviceIdentity(s Service) []byte {
	b := appendServiceKey(attrHeader(nil, cmdAttrService|unix.NLA_F_NESTED, 0), s)
	binary.NativeEndian.PutUint16(b, uint16(len(b)))
	return b
}

// nested returns the payload of the first attribute of type typ in b
// (NLA_F_NESTED ignored).
func nested(b []byte, typ uint16) ([]byte, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nil, err
	}
	for ad.Next() {
		if ad.Type() == typ {
			return ad.Bytes(), nil
		}
	}
	if err := ad.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("no attribute %d", typ)
}

// inetAddr reads an IPVS address attribute (union nf_inet_addr: 16 bytes,
// the first 4 for IPv4; or exactly 4 or 16) of family af.
func inetAddr(b []byte, af uint16) (netip.Addr, bool) {
	switch {
	case af == unix.AF_INET && len(b) >= 4:
		return netip.AddrFrom4([4]byte(b[:4])), true
	case af == unix.AF_INET6 && len(b) >= 16:
		return netip.AddrFrom16([16]byte(b[:16])), true
	}
	return netip.Addr{}, false
}

// decodeTrafficService reads one message of a GET_SERVICE dump.
func decodeTrafficService(b []byte) (ServiceState, error) {
	attrs, err := nested(b, cmdAttrService)
	if err != nil {
		return ServiceState{}, fmt.Errorf("ipvs: service reply: %w", err)
	}
	ad, err := netlink.NewAttributeDecoder(attrs)
	if err != nil {
		return ServiceState{}, fmt.Errorf("ipvs: service reply: %w", err)
	}
	var (
		st   ServiceState
		af   uint16
		addr []byte
	)
	for ad.Next() {
		switch ad.Type() {
		case svcAttrAF:
			af = ad.Uint16()
		case svcAttrProtocol:
			st.Service.Protocol = Protocol(ad.Uint16())
		case svcAttrAddr:
			addr = ad.Bytes()
		case svcAttrPort:
			if p := ad.Bytes(); len(p) >= 2 {
				st.Service.Port = binary.BigEndian.Uint16(p)
			}
		case svcAttrFWMark:
			st.Service.FWMark = ad.Uint32()
		case svcAttrStats64:
			st.Stats, err = decodeStats64(ad.Bytes())
			if err != nil {
				return ServiceState{}, fmt.Errorf("ipvs: service reply: %w", err)
			}
		}
	}
	if err := ad.Err(); err != nil {
		return ServiceState{}, fmt.Errorf("ipvs: service reply: %w", err)
	}
	if af != unix.AF_INET && af != unix.AF_INET6 {
		return ServiceState{}, fmt.Errorf("ipvs: service reply: address family %d", af)
	}
	if st.Service.FWMark != 0 {
		if af == unix.AF_INET6 {
			st.Service.Addr = netip.IPv6Unspecified()
		}
		st.Service.Protocol, st.Service.Port = 0, 0
		return st, nil
	}
	a, ok := inetAddr(addr, af)
	if !ok {
		return ServiceState{}, fmt.Errorf("ipvs: service reply: address of %d bytes for family %d", len(addr), af)
	}
	st.Service.Addr = a
	return st, nil
}

// decodeTrafficDest reads one message of a GET_DEST dump of service s.
func decodeTrafficDest(b []byte, s Service) (DestinationState, error) {
	attrs, err := nested(b, cmdAttrDest)
	if err != nil {
		return DestinationState{}, err
	}
	ad, err := netlink.NewAttributeDecoder(attrs)
	if err != nil {
		return DestinationState{}, err
	}
	var (
		d    DestinationState
		addr []byte
	)
	af := uint16(unix.AF_INET)
	if s.ipv6() {
		af = unix.AF_INET6
	}
	for ad.Next() {
		switch ad.Type() {
		case destAttrAddr:
			addr = ad.Bytes()
		case destAttrPort:
			if p := ad.Bytes(); len(p) >= 2 {
				d.Port = binary.BigEndian.Uint16(p)
			}
		case destAttrFwd:
			d.Forward = forwardFromConnFlags(ad.Uint32())
		case destAttrWeight:
			d.Weight = int(int32(ad.Uint32()))
		case destAttrActive:
			d.ActiveConns = int(ad.Uint32())
		case destAttrInactive:
			d.InactiveConns = int(ad.Uint32())
		case destAttrAF:
			af = ad.Uint16()
		case destAttrStats64:
			if d.Stats, err = decodeStats64(ad.Bytes()); err != nil {
				return DestinationState{}, err
			}
		}
	}
	if err := ad.Err(); err != nil {
		return DestinationState{}, err
	}
	a, ok := inetAddr(addr, af)
	if !ok {
		return DestinationState{}, fmt.Errorf("address of %d bytes for family %d", len(addr), af)
	}
	d.Addr = a
	return d, nil
}

// decodeStats64 reads a nested struct ip_vs_stats64 (IPVS_STATS_ATTR_*,
// u64 each; the PAD attribute is skipped).
func decodeStats64(b []byte) (Stats, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return Stats{}, err
	}
	var s Stats
	for ad.Next() {
		var dst *uint64
		switch ad.Type() {
		case statsAttrConns:
			dst = &s.Conns
		case statsAttrInPkts:
			dst = &s.PktsIn
		case statsAttrOutPkts:
			dst = &s.PktsOut
		case statsAttrInBytes:
			dst = &s.BytesIn
		case statsAttrOutBytes:
			dst = &s.BytesOut
		case statsAttrCPS:
			dst = &s.CPS
		case statsAttrInPPS:
			dst = &s.PPSIn
		case statsAttrOutPPS:
			dst = &s.PPSOut
		case statsAttrInBPS:
			dst = &s.BPSIn
		case statsAttrOutBPS:
			dst = &s.BPSOut
		default:
			continue
		}
		*dst = ad.Uint64()
	}
	return s, ad.Err()
}
