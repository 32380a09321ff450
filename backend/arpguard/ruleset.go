package arpguard

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
)

// Chain names inside the table.
const (
	ChainIn  = "in"
	ChainOut = "out"
)

// ARP hook numbers (include/uapi/linux/netfilter_arp.h).
var (
	hookARPIn  = nftables.ChainHookRef(0) // NF_ARP_IN
	hookARPOut = nftables.ChainHookRef(1) // NF_ARP_OUT
)

// Offsets in the ARP header, Ethernet/IPv4 layout (RFC 826).
const (
	offHlenPlen = 4  // hardware address length (1 byte), protocol address length (1 byte)
	offSenderIP = 14 // 8 fixed bytes + 6 sender MAC
	offTargetIP = 24 // + 4 sender IP + 6 target MAC
)

// Spec is the wanted content of the table.
type Spec struct {
	// Table is the table name.
	Table string
	// VIPs are the VIPs: IPv4 ones get the arp table's rules, IPv6 ones
	// the ip6 table's (ndRules).
	VIPs []netip.Addr
	// RealIP is the IPv4 address written as sender instead of a VIP.
	RealIP netip.Addr
}

// Validate checks that the spec can be programmed.
func (s Spec) Validate() error {
	if s.Table == "" {
		return fmt.Errorf("arpguard: empty table name")
	}
	if !s.RealIP.Is4() {
		return fmt.Errorf("arpguard: real IP %v is not IPv4", s.RealIP)
	}
	return nil
}

func (s Spec) v4() []netip.Addr {
	var out []netip.Addr
	for _, v := range s.VIPs {
		if v.Is4() {
			out = append(out, v)
		}
	}
	return out
}

// wantRule is one rule as the checker compares it.
type wantRule struct {
	chain   string
	vip     netip.Addr
	comment string
	exprs   []expr.Any
}

func (s Spec) table() *nftables.Table {
	return &nftables.Table{Name: s.Table, Family: nftables.TableFamilyARP}
}

func (s Spec) chains(t *nftables.Table) (in, out *nftables.Chain) {
	accept := nftables.ChainPolicyAccept
	in = &nftables.Chain{
		Name: ChainIn, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: hookARPIn, Priority: nftables.ChainPriorityFilter, Policy: &accept,
	}
	out = &nftables.Chain{
		Name: ChainOut, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: hookARPOut, Priority: nftables.ChainPriorityFilter, Policy: &accept,
	}
	return in, out
}

// ethIPv4Guard matches "arp hlen 6 arp plen 4" as nft encodes it (one 2-byte
// load), so the fixed offsets below are right.
func ethIPv4Guard() []expr.Any {
	return []expr.Any{
		// payload load 2b @ network header + 4 => reg 1
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offHlenPlen, Len: 2},
		// cmp eq reg 1 0x0406 (hlen 6, plen 4)
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{6, 4}},
	}
}

func (s Spec) rules() []wantRule {
	var out []wantRule
	for _, v := range s.v4() {
		vb := v.AsSlice()
		in := append(ethIPv4Guard(),
			// payload load 4b @ network header + 24 => reg 1 (target IP)
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offTargetIP, Len: 4},
			// cmp eq reg 1 VIP
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: vb},
			&expr.Counter{},
			// immediate reg 0 drop
			&expr.Verdict{Kind: expr.VerdictDrop},
		)
		out = append(out, wantRule{ChainIn, v, fmt.Sprintf("tandem-backend: never answer ARP for VIP %s", v), in})
	}
	for _, v := range s.v4() {
		vb := v.AsSlice()
		outExprs := append(ethIPv4Guard(),
			// payload load 4b @ network header + 14 => reg 1 (sender IP)
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offSenderIP, Len: 4},
			// cmp eq reg 1 VIP
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: vb},
			&expr.Counter{},
			// immediate reg 1 RIP
			&expr.Immediate{Register: 1, Data: s.RealIP.AsSlice()},
			// payload write reg 1 => 4b @ network header + 14, no checksum
			&expr.Payload{
				OperationType: expr.PayloadWrite, SourceRegister: 1,
				Base: expr.PayloadBaseNetworkHeader, Offset: offSenderIP, Len: 4,
				CsumType: expr.CsumTypeNone,
			},
		)
		out = append(out, wantRule{ChainOut, v, fmt.Sprintf("tandem-backend: send ARP for VIP %s with sender %s", v, s.RealIP), outExprs})
	}
	return out
}

// Program buffers on c the atomic replacement of the table: add (so that
// the delete cannot fail), delete (drops whatever it held), add again, the
// two base chains and one rule per VIP and chain. With IPv6 VIPs the ip6
// table of the same name follows the same way (ndRules). Nothing is sent
// until c.Flush, which commits it as one transaction.
func Program(c *nftables.Conn, s Spec) {
	t := s.table()
	in, out := s.chains(t)
	programTable(c, t, in, out, s.rules())
	if len(s.v6()) > 0 {
		t6 := s.ndTable()
		in6, out6 := s.ndChains(t6)
		programTable(c, t6, in6, out6, s.ndRules())
	}
}

func programTable(c *nftables.Conn, t *nftables.Table, in, out *nftables.Chain, rules []wantRule) {
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	c.AddChain(in)
	c.AddChain(out)
	for _, r := range rules {
		ch := in
		if r.chain == ChainOut {
			ch = out
		}
		c.AddRule(&nftables.Rule{
			Table:    t,
			Chain:    ch,
			Exprs:    r.exprs,
			UserData: userdata.AppendString(nil, userdata.TypeComment, r.comment),
		})
	}
}

// ProgramRemove buffers on c the deletion of the table (add first, so that
// deleting an absent table is not an error).
func ProgramRemove(c *nftables.Conn, table string) {
	t := &nftables.Table{Name: table, Family: nftables.TableFamilyARP}
	c.AddTable(t)
	c.DelTable(t)
}

// ProgramRemoveND buffers on c the deletion of the ip6 table of the
// neighbour discovery rules (add first, as ProgramRemove).
func ProgramRemoveND(c *nftables.Conn, table string) {
	t := &nftables.Table{Name: table, Family: nftables.TableFamilyIPv6}
	c.AddTable(t)
	c.DelTable(t)
}
