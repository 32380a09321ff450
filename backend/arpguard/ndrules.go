package arpguard

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Netfilter IPv6 hook numbers (include/uapi/linux/netfilter.h).
var (
	hookIP6In  = nftables.ChainHookInput  // NF_INET_LOCAL_IN
	hookIP6Out = nftables.ChainHookOutput // NF_INET_LOCAL_OUT
)

// ICMPv6 neighbour discovery (RFC 4861 §4.3, §4.4): the type byte at
// offset 0 of the ICMPv6 header and the 16-byte target address at offset 8.
const (
	icmpv6NS        = 135
	icmpv6NA        = 136
	offICMPv6Type   = 0
	offICMPv6Target = 8
)

// v6 returns the IPv6 VIPs.
func (s Spec) v6() []netip.Addr {
	var out []netip.Addr
	for _, v := range s.VIPs {
		if v.Is6() && !v.Is4In6() {
			out = append(out, v)
		}
	}
	return out
}

// ndTable is the ip6 table of the same name that carries the neighbour
// discovery rules; it exists only while the spec has an IPv6 VIP.
func (s Spec) ndTable() *nftables.Table {
	return &nftables.Table{Name: s.Table, Family: nftables.TableFamilyIPv6}
}

func (s Spec) ndChains(t *nftables.Table) (in, out *nftables.Chain) {
	accept := nftables.ChainPolicyAccept
	in = &nftables.Chain{
		Name: ChainIn, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: hookIP6In, Priority: nftables.ChainPriorityFilter, Policy: &accept,
	}
	out = &nftables.Chain{
		Name: ChainOut, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: hookIP6Out, Priority: nftables.ChainPriorityFilter, Policy: &accept,
	}
	return in, out
}

// ndMatch matches "icmpv6 type T @th,64,128 VIP" as nft 1.0.6 encodes it
// (newer nft prints the payload as "icmpv6 taddr VIP").
func ndMatch(typ byte, vip netip.Addr) []expr.Any {
	return []expr.Any{
		// meta load l4proto => reg 1
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		// cmp eq reg 1 0x3a (ipv6-icmp)
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
		// payload load 1b @ transport header + 0 => reg 1 (ICMPv6 type)
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: offICMPv6Type, Len: 1},
		// cmp eq reg 1 T
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{typ}},
		// payload load 16b @ transport header + 8 => reg 1 (ND target)
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: offICMPv6Target, Len: 16},
		// cmp eq reg 1 VIP
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: vip.AsSlice()},
		&expr.Counter{},
		// immediate reg 0 drop
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

// ndRules are the rules of the ip6 table: drop neighbour solicitations
// for a VIP coming in, and neighbour advertisements for a VIP going out.
// The kernel alone never answers for an address on lo from another
// interface; these cover what it does answer for on request (proxy_ndp
// with forwarding and a proxy entry), and anything sending an NA for the
// VIP from this host (docs/operator-guide.md, "IPv6 and dual stack").
func (s Spec) ndRules() []wantRule {
	var out []wantRule
	for _, v := range s.v6() {
		out = append(out, wantRule{ChainIn, v, fmt.Sprintf("tandem-backend: never answer neighbour solicitations for VIP %s", v), ndMatch(icmpv6NS, v)})
	}
	for _, v := range s.v6() {
		out = append(out, wantRule{ChainOut, v, fmt.Sprintf("tandem-backend: never advertise VIP %s", v), ndMatch(icmpv6NA, v)})
	}
	return out
}
