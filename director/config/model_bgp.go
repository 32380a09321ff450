package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// BGP is tandem-director's BGP mode (native `bgp`; none in
// keepalived.conf): its VIPs on lo, announced as /32 and /128 routes to
// the routers, export only. A VIP is either BGP's or a VRRP instance's,
// never both.
type BGP struct {
	// LocalAS is this director's AS number.
	LocalAS uint32
	// RouterID is the BGP identifier, an IPv4 address.
	RouterID netip.Addr
	// ListenPort is the port to accept sessions on; 0 (the default) opens
	// no listening socket: the director connects to its peers.
	ListenPort int
	// GracefulShutdownWait is how long a VIP stays announced with the
	// GRACEFUL_SHUTDOWN community (RFC 8326) before its withdrawal.
	GracefulShutdownWait time.Duration
	// Communities are the standard communities (AS<<16 | value) added to
	// every announcement.
	Communities []uint32
	// VIPs are the announced addresses; empty means the address of every
	// virtual_server (fwmark services have none).
	VIPs []BGPVIP
	// Peers are the routers.
	Peers []BGPPeer
	// Directors are the other directors of the tier (not this one): with
	// them, a VIP is first announced only when this director's IPVS
	// fingerprints match those of every director announcing it
	// (director/bgp/agree). Empty: no agreement, a VIP is announced once
	// its own services are programmed.
	Directors []BGPDirector
	// AgreementPort is the UDP port of the agreement (default 7482), the
	// same on every director; AgreementAddress the local address it is
	// bound to and sent from (invalid: every address, the kernel picks
	// the source).
	AgreementPort    int
	AgreementAddress netip.Addr
	Pos              Pos
}

// BGPDirector is one address of bgp.directors.
type BGPDirector struct {
	Addr netip.Addr
	Pos  Pos
}

// BGPVIP is one address of bgp.vips.
type BGPVIP struct {
	Addr netip.Addr
	Pos  Pos
}

// BGPPeer is one router.
type BGPPeer struct {
	// Address is the router's address; a session carries the VIPs of its
	// family.
	Address netip.Addr
	// AS is the router's AS number.
	AS uint32
	// Port is the router's BGP port (default 179).
	Port int
	// PasswordFile holds the TCP MD5 signature key (RFC 2385); empty for
	// none. The file is read when the speaker starts.
	PasswordFile string
	// HoldTime is the proposed hold time (default 90 s); keepalives go at
	// a third of it.
	HoldTime time.Duration
	// MultihopTTL is the TTL of an eBGP multihop session; 0 for a directly
	// connected router.
	MultihopTTL int
	// MaxPrefixes bounds the routes the router may send (all rejected;
	// the session is closed beyond it), per address family.
	MaxPrefixes int
	Pos         Pos
}

// The BGP defaults and bounds.
const (
	DefaultBGPGracefulShutdownWait = 5 * time.Second
	MaxBGPGracefulShutdownWait     = 10 * time.Minute
	DefaultBGPPort                 = 179
	DefaultBGPHoldTime             = 90 * time.Second
	MinBGPHoldTime                 = 3 * time.Second
	MaxBGPHoldTime                 = 65535 * time.Second
	DefaultBGPMaxPrefixes          = 1000
	MaxBGPMaxPrefixes              = 1000000
	MaxBGPPeers                    = 64
	MaxBGPCommunities              = 32
	MaxBGPVIPs                     = 4096
	MaxBGPDirectors                = 64
	DefaultBGPAgreementPort        = 7482
)

// The agreement's datagram (director/bgp/agree, wire.go): one datagram of
// at most MaxBGPAgreementBytes, a header and the node name, then one entry
// per service of an announced VIP; agree's tests check that these sizes
// are its own.
const (
	MaxBGPAgreementBytes = 1400
	bgpAgreementHeader   = 28 + 1 + 2 + 32 // header, name length, count, tag
	bgpAgreementEntry4   = 17
	bgpAgreementEntry6   = 29
)

// BGPAgreementBytes is the size of this director's agreement datagram:
// the node name and the services of the announced VIPs.
func (c *Config) BGPAgreementBytes() int {
	n := bgpAgreementHeader + len(c.NodeName())
	for i := range c.Services {
		s := &c.Services[i]
		if !c.Announces(s) {
			continue
		}
		if s.Addr.Addr().Is4() {
			n += bgpAgreementEntry4
		} else {
			n += bgpAgreementEntry6
		}
	}
	return n
}

// msgASN checks an AS number: 1..4294967294 without AS_TRANS (23456) and
// the reserved 65535.
func msgASN(n int) string {
	switch {
	case n < 1 || n > 4294967294:
		return fmt.Sprintf("%d is out of range 1..4294967294", n)
	case n == 23456:
		return "23456 is AS_TRANS (RFC 6793), not an AS number"
	case n == 65535:
		return "65535 is reserved (RFC 7300)"
	}
	return ""
}

// parseCommunity parses a standard community "as:value".
func parseCommunity(s string) (uint32, string) {
	a, b, ok := cutColon(s)
	if ok {
		hi, err1 := strconv.ParseUint(a, 10, 16)
		lo, err2 := strconv.ParseUint(b, 10, 16)
		if err1 == nil && err2 == nil {
			if hi == 65535 && lo == 0 {
				return 0, "65535:0 is GRACEFUL_SHUTDOWN, which the withdrawal adds itself"
			}
			return uint32(hi<<16 | lo), ""
		}
	}
	return 0, fmt.Sprintf("%q is not a community AS:VALUE (both 0..65535)", s)
}

func cutColon(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// FormatCommunity formats a standard community as "as:value".
func FormatCommunity(c uint32) string {
	return strconv.FormatUint(uint64(c>>16), 10) + ":" + strconv.FormatUint(uint64(c&0xFFFF), 10)
}

// Announces reports whether s's address is one of AnnouncedVIPs, without
// building that list (PoolConfig asks it for each service).
func (c *Config) Announces(s *VirtualService) bool {
	if c.BGP == nil || s.FWMark != 0 || !s.Addr.Addr().IsValid() {
		return false
	}
	if len(c.BGP.VIPs) == 0 {
		return true
	}
	for _, v := range c.BGP.VIPs {
		if v.Addr == s.Addr.Addr() {
			return true
		}
	}
	return false
}

// AnnouncedVIPs returns the addresses BGP announces: bgp.vips, or every
// virtual_server address when it is empty, each once, in file order. Nil
// without a bgp block.
func (c *Config) AnnouncedVIPs() []BGPVIP {
	if c.BGP == nil {
		return nil
	}
	if len(c.BGP.VIPs) > 0 {
		return c.BGP.VIPs
	}
	var out []BGPVIP
	seen := map[netip.Addr]bool{}
	for i := range c.Services {
		s := &c.Services[i]
		a := s.Addr.Addr()
		if s.FWMark != 0 || !a.IsValid() || seen[a] {
			continue
		}
		seen[a] = true
		out = append(out, BGPVIP{Addr: a, Pos: s.Pos})
	}
	return out
}

// bgp checks what crosses sections: an announced VIP held by a VRRP
// instance too, a bgp.vips address of no virtual_server, a VIP of a family
// no peer carries.
func (v *validator) bgp(c *Config) {
	b := c.BGP
	if b == nil {
		return
	}
	held := map[netip.Addr]string{}
	for i := range c.VRRP {
		in := &c.VRRP[i]
		for _, ip := range in.VirtualIPs {
			held[ip.Prefix.Addr()] = in.Name
		}
		for _, ip := range in.ExcludedVIPs {
			held[ip.Prefix.Addr()] = in.Name
		}
	}
	served := map[netip.Addr]bool{}
	for i := range c.Services {
		served[c.Services[i].Addr.Addr()] = true
	}
	fam := map[bool]bool{}
	for _, p := range b.Peers {
		fam[p.Address.Is4()] = true
	}
	for _, dr := range b.Directors {
		if dr.Addr == b.AgreementAddress {
			v.bad(dr.Pos, "bgp: director %s is bgp.agreement_address, this director's own address: list the other directors only", dr.Addr)
		}
	}
	if len(b.Directors) > 0 {
		if n := c.BGPAgreementBytes(); n > MaxBGPAgreementBytes {
			v.bad(b.Pos, "bgp: directors: the agreement message of this director (node %q and every service of the announced VIPs) is %d bytes, over one datagram of %d: at most about 74 IPv4 or 43 IPv6 services (name of 64 bytes); announce fewer VIPs here (bgp.vips) or drop bgp.directors", c.NodeName(), n, MaxBGPAgreementBytes)
		}
		if len(c.NodeName()) > 255 {
			v.bad(b.Pos, "bgp: directors: node name of %d bytes, at most 255 in the agreement message", len(c.NodeName()))
		}
	}
	vips := c.AnnouncedVIPs()
	if len(vips) == 0 {
		v.bad(b.Pos, "bgp: no VIP to announce: no bgp.vips and no virtual_server with an address")
	}
	for _, vip := range vips {
		if in, ok := held[vip.Addr]; ok {
			v.bad(vip.Pos, "bgp: VIP %s is also a VIP of vrrp_instance %q: a VIP is announced by BGP or held by VRRP, not both", vip.Addr, in)
		}
		if len(b.VIPs) > 0 && !served[vip.Addr] {
			v.bad(vip.Pos, "bgp: VIP %s is the address of no virtual_server: it would never be announced", vip.Addr)
		}
		if !fam[vip.Addr.Is4()] {
			f := "IPv6"
			if vip.Addr.Is4() {
				f = "IPv4"
			}
			v.bad(vip.Pos, "bgp: VIP %s is %s and no peer is: it would never be announced (a session carries the VIPs of its own family)", vip.Addr, f)
		}
	}
}
