package lvs

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Protocol is the transport protocol of an address/port virtual service.
type Protocol uint16

// Protocols IPVS balances (the IANA protocol numbers the kernel uses).
const (
	TCP  Protocol = 6
	UDP  Protocol = 17
	SCTP Protocol = 132
)

// String returns the protocol's name as ipvsadm prints it.
func (p Protocol) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	case SCTP:
		return "SCTP"
	}
	return "proto-" + strconv.Itoa(int(p))
}

// Forward is a destination's packet-forwarding method. The zero value is
// direct routing, Tandem's default.
type Forward uint8

// Forwarding methods (ipvsadm -g, -m, -i).
const (
	// DR is direct routing (LVS-DR, "gatewaying"): only the destination MAC
	// is rewritten; replies go from the real server straight to the client.
	DR Forward = iota
	// NAT is masquerading: the director rewrites addresses both ways and
	// needs ip_forward.
	NAT
	// Tunnel is IP-in-IP encapsulation.
	Tunnel
	// Local is what the kernel reports for a destination whose address is
	// local to the director, whatever method was asked for. It is never
	// sent to the kernel, and an actual Local matches any desired method.
	Local
)

// String returns the method's name as keepalived's lb_kind spells it.
func (f Forward) String() string {
	switch f {
	case DR:
		return "DR"
	case NAT:
		return "NAT"
	case Tunnel:
		return "TUN"
	case Local:
		return "Local"
	}
	return "forward-" + strconv.Itoa(int(f))
}

// Kernel connection-flag values for the forwarding methods
// (IP_VS_CONN_F_MASQ, _LOCALNODE, _TUNNEL, _DROUTE).
const (
	connFlagMasq   = 0
	connFlagLocal  = 1
	connFlagTunnel = 2
	connFlagDR     = 3
	connFwdMask    = 7
)

func (f Forward) connFlags() uint32 {
	switch f {
	case NAT:
		return connFlagMasq
	case Tunnel:
		return connFlagTunnel
	case Local:
		return connFlagLocal
	}
	return connFlagDR
}

func forwardFromConnFlags(flags uint32) Forward {
	switch flags & connFwdMask {
	case connFlagMasq:
		return NAT
	case connFlagLocal:
		return Local
	case connFlagTunnel:
		return Tunnel
	}
	return DR
}

// ServiceFlags are the IPVS service flags (IP_VS_SVC_F_*) Tandem sets.
type ServiceFlags uint32

// Service flags. The kernel's internal "hashed" flag (0x2) is never part of
// a desired or reported service.
const (
	// FlagPersistent makes the service persistent (keepalived
	// persistence_timeout, ipvsadm -p).
	FlagPersistent ServiceFlags = 0x0001
	// FlagOnePacket schedules each UDP datagram on its own (ipvsadm -O).
	FlagOnePacket ServiceFlags = 0x0004
	// FlagSched1, FlagSched2 and FlagSched3 are scheduler-specific
	// (sh-fallback, sh-port, and the mh equivalents).
	FlagSched1 ServiceFlags = 0x0008
	FlagSched2 ServiceFlags = 0x0010
	FlagSched3 ServiceFlags = 0x0020

	flagHashed   ServiceFlags = 0x0002
	knownFlags                = FlagPersistent | FlagOnePacket | FlagSched1 | FlagSched2 | FlagSched3
	defaultSched              = "wlc"
)

// Service is one IPVS virtual service: an address, protocol and port, or a
// firewall mark.
type Service struct {
	// Protocol, Addr and Port identify an address service. Protocol and
	// Port are ignored for a firewall-mark service.
	Protocol Protocol
	// Addr is the virtual IP. For a firewall-mark service only its family
	// counts (an invalid Addr means IPv4).
	Addr netip.Addr
	Port uint16
	// FWMark, when not zero, makes this a firewall-mark service.
	FWMark uint32
	// Scheduler is the IPVS scheduler name (rr, wrr, lc, wlc, sh, mh, ...).
	// Empty means wlc, as with ipvsadm.
	Scheduler string
	// Flags holds FlagPersistent and friends.
	Flags ServiceFlags
	// Timeout is the persistence timeout in seconds (keepalived
	// persistence_timeout); meaningful with FlagPersistent.
	Timeout uint32
	// Netmask is the persistence granularity as a prefix length (keepalived
	// persistence_granularity, ipvsadm -M). Zero means the full address
	// (32 or 128).
	Netmask int
}

// ServiceKey names a service the way ipvsadm shows it: "TCP 192.0.2.100:80",
// "UDP [2001:db8::1]:53", "FWM 1" or "FWM 1 IPv6".
type ServiceKey string

func (s Service) ipv6() bool { return s.Addr.Is6() && !s.Addr.Is4In6() }

// Key returns the service's identity in the kernel.
func (s Service) Key() ServiceKey {
	if s.FWMark != 0 {
		if s.ipv6() {
			return ServiceKey(fmt.Sprintf("FWM %d IPv6", s.FWMark))
		}
		return ServiceKey(fmt.Sprintf("FWM %d", s.FWMark))
	}
	return ServiceKey(s.Protocol.String() + " " + netip.AddrPortFrom(s.Addr, s.Port).String())
}

// String returns the service key.
func (s Service) String() string { return string(s.Key()) }

// maxPrefix is 32 for an IPv4 service, 128 for IPv6.
func (s Service) maxPrefix() int {
	if s.ipv6() {
		return 128
	}
	return 32
}

// normalized returns s with the defaults spelled out, in the form the kernel
// reports it: scheduler wlc, full netmask, IPv4 addresses unmapped, the
// address and port of a firewall-mark service cleared.
func (s Service) normalized() Service {
	if s.Scheduler == "" {
		s.Scheduler = defaultSched
	}
	s.Addr = s.Addr.Unmap()
	if s.Netmask == 0 {
		s.Netmask = s.maxPrefix()
	}
	s.Flags &^= flagHashed
	if s.FWMark != 0 {
		if s.ipv6() {
			s.Addr = netip.IPv6Unspecified()
		} else {
			s.Addr = netip.Addr{}
		}
		s.Protocol = 0
		s.Port = 0
	}
	return s
}

// Validate reports what is wrong with a desired service.
func (s Service) Validate() error {
	var errs []error
	if s.FWMark == 0 {
		if !s.Addr.IsValid() {
			errs = append(errs, errors.New("no virtual address"))
		}
		switch s.Protocol {
		case TCP, UDP, SCTP:
		default:
			errs = append(errs, fmt.Errorf("protocol %d is not TCP, UDP or SCTP", s.Protocol))
		}
	}
	if s.Netmask < 0 || s.Netmask > s.maxPrefix() {
		errs = append(errs, fmt.Errorf("persistence netmask /%d out of range 0-%d", s.Netmask, s.maxPrefix()))
	}
	if s.Flags&^knownFlags != 0 {
		errs = append(errs, fmt.Errorf("unknown service flags %#x", uint32(s.Flags&^knownFlags)))
	}
	if strings.ContainsAny(s.Scheduler, " /\x00") || len(s.Scheduler) > 15 {
		errs = append(errs, fmt.Errorf("scheduler name %q is not valid", s.Scheduler))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("service %s: %w", s.Key(), err)
	}
	return nil
}

// Destination is one real server of a service.
type Destination struct {
	Addr netip.Addr
	// Port is the real server's port; it may be 0 for a firewall-mark
	// service (connections keep their destination port).
	Port uint16
	// Weight is the scheduling weight; 0 quiesces the destination:
	// established connections continue, new ones go elsewhere.
	Weight int
	// Forward is the forwarding method; the zero value is DR.
	Forward Forward
	// UpperThreshold and LowerThreshold are the connection thresholds
	// (keepalived uthreshold/lthreshold); 0 means none.
	UpperThreshold uint32
	LowerThreshold uint32
}

// Key returns "addr:port", the destination's identity within its service.
func (d Destination) Key() string { return d.addrPort().String() }

func (d Destination) addrPort() netip.AddrPort { return netip.AddrPortFrom(d.Addr.Unmap(), d.Port) }

// String returns the destination key.
func (d Destination) String() string { return d.Key() }

// Validate reports what is wrong with a desired destination.
func (d Destination) Validate() error {
	switch {
	case !d.Addr.IsValid():
		return errors.New("destination has no address")
	case d.Weight < 0 || d.Weight > 65535:
		return fmt.Errorf("destination %s: weight %d out of range 0-65535", d.Key(), d.Weight)
	case d.Forward > Tunnel:
		return fmt.Errorf("destination %s: forwarding method %s cannot be requested", d.Key(), d.Forward)
	}
	return nil
}

// ServiceSpec is the desired state of one service: the service and all of
// its destinations. A destination that is absent is removed.
type ServiceSpec struct {
	Service      Service
	Destinations []Destination
}

// Validate checks the service and its destinations, including duplicates.
func (sp ServiceSpec) Validate() error {
	if err := sp.Service.Validate(); err != nil {
		return err
	}
	// Duplicates by addrPort (Key is its text); a short list is searched,
	// a long one goes through a map.
	var small [16]netip.AddrPort
	seenList := small[:0]
	var seenMap map[netip.AddrPort]bool
	if len(sp.Destinations) > len(small) {
		seenMap = make(map[netip.AddrPort]bool, len(sp.Destinations))
	}
	seen := func(ap netip.AddrPort) bool {
		if seenMap != nil {
			dup := seenMap[ap]
			seenMap[ap] = true
			return dup
		}
		if slices.Contains(seenList, ap) {
			return true
		}
		seenList = append(seenList, ap)
		return false
	}
	var errs []error
	for _, d := range sp.Destinations {
		if err := d.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if d.Addr.Unmap().Is4() == sp.Service.ipv6() {
			errs = append(errs, fmt.Errorf("destination %s: address family differs from the service's", d.Key()))
			continue
		}
		if seen(d.addrPort()) {
			errs = append(errs, fmt.Errorf("destination %s listed twice", d.Key()))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("service %s: %w", sp.Service.Key(), err)
	}
	return nil
}

// Desired is the complete desired state of the services one director owns,
// keyed by [Service.Key].
type Desired map[ServiceKey]ServiceSpec

// Add puts spec under its service's key.
func (d Desired) Add(spec ServiceSpec) { d[spec.Service.Key()] = spec }

// Validate checks every spec and that each is filed under its own key.
func (d Desired) Validate() error {
	var errs []error
	for k, sp := range d {
		if sp.Service.Key() != k {
			errs = append(errs, fmt.Errorf("service %s filed under key %q", sp.Service.Key(), k))
			continue
		}
		if err := sp.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ServiceState is a service as the kernel reports it.
type ServiceState struct {
	Service      Service
	Destinations []DestinationState
	// Stats are the service's traffic counters: the sum over its
	// destinations, including those already removed.
	Stats Stats
}

// Stats are the kernel's traffic counters of a service or destination
// (struct ip_vs_stats_user; ipvsadm -Ln --stats and --rate).
//
// The totals count since the service or destination was added; in DR mode
// the director sees only client-to-server packets, so PktsOut and BytesOut
// (and their rates) stay 0. The rates are the kernel's estimates, averaged
// over about the last 2 seconds, per second.
//
// Services and Service read them through moby/ipvs, which reads the
// kernel's IPVS_*_ATTR_STATS: Conns, PktsIn, PktsOut and the rates 32 bits
// wide, wrapping at 2^32 (packets at 1 Mpps: after 71 minutes). What shows
// counters (metrics, `status --stats`) reads them with ReadTraffic:
// IPVS_*_ATTR_STATS64, every counter 64 bits wide.
type Stats struct {
	Conns    uint64 `json:"conns"`     // connections scheduled
	PktsIn   uint64 `json:"pkts_in"`   // packets client→server
	PktsOut  uint64 `json:"pkts_out"`  // packets server→client
	BytesIn  uint64 `json:"bytes_in"`  // bytes client→server
	BytesOut uint64 `json:"bytes_out"` // bytes server→client
	CPS      uint64 `json:"cps"`       // connections per second
	PPSIn    uint64 `json:"pps_in"`    // packets per second in
	PPSOut   uint64 `json:"pps_out"`   // packets per second out
	BPSIn    uint64 `json:"bps_in"`    // bytes per second in
	BPSOut   uint64 `json:"bps_out"`   // bytes per second out
}

// DestinationState is a destination as the kernel reports it, with its
// connection counters.
type DestinationState struct {
	Destination
	// ActiveConns counts connections in ESTABLISHED state; InactiveConns
	// all others (SYN_RECV, FIN_WAIT, TIME_WAIT, ...). In DR mode the
	// director sees only client→server packets, so a finished connection
	// stays inactive until its IPVS timeout.
	ActiveConns   int
	InactiveConns int
	// Stats are the destination's traffic counters.
	Stats Stats
}
