package drlab

import (
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
)

// ArpTableName is the name of the nftables arp table the lab installs on
// real servers.
const ArpTableName = "drlab"

// ARP header offsets (network base) and the values of an Ethernet/IPv4 ARP.
const (
	arpOffHlen     = 4
	arpOffPlen     = 5
	arpOffSenderIP = 14
	arpOffTargetIP = 24
)

// ArpTableText is how `nft list table arp drlab` prints the table that
// ApplyArpTable installs, for the given VIP and real IP.
func ArpTableText(vip, rip net.IP) string {
	return fmt.Sprintf(`table arp %s {
	chain in {
		type filter hook input priority filter; policy accept;
		arp hlen 6 arp plen 4 arp daddr ip %s drop
	}

	chain out {
		type filter hook output priority filter; policy accept;
		arp hlen 6 arp plen 4 arp saddr ip %s arp saddr ip set %s
	}
}
`, ArpTableName, vip, vip, rip)
}

// ApplyArpTable installs, in one atomic batch in the namespace ns, the arp
// table that keeps a real server from answering or announcing the VIP:
//
//	in:  ARP whose target IP is the VIP is dropped;
//	out: ARP whose sender IP is the VIP gets the real IP as sender instead.
//
// The hooks are given as ChainHookRef(0) (ARP input) and ChainHookRef(1)
// (ARP output): ChainHookInput would silently become ARP output.
func ApplyArpTable(ns netns.NsHandle, vip, rip net.IP) error {
	vip4, rip4 := vip.To4(), rip.To4()
	if vip4 == nil || rip4 == nil {
		return fmt.Errorf("arp table: VIP %s and real IP %s must be IPv4", vip, rip)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("arp table: nftables conn: %w", err)
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyARP, Name: ArpTableName})
	in := c.AddChain(&nftables.Chain{
		Name: "in", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookRef(0), Priority: nftables.ChainPriorityFilter,
	})
	out := c.AddChain(&nftables.Chain{
		Name: "out", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookRef(1), Priority: nftables.ChainPriorityFilter,
	})
	guard := func() []expr.Any {
		return []expr.Any{
			// arp hlen 6
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: arpOffHlen, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{6}},
			// arp plen 4
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: arpOffPlen, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{4}},
		}
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: in, Exprs: append(guard(),
		// arp daddr ip VIP drop
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: arpOffTargetIP, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(vip4)},
		&expr.Verdict{Kind: expr.VerdictDrop},
	)})
	c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: append(guard(),
		// arp saddr ip VIP
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: arpOffSenderIP, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(vip4)},
		// arp saddr ip set RIP
		&expr.Immediate{Register: 1, Data: []byte(rip4)},
		&expr.Payload{
			OperationType: expr.PayloadWrite, SourceRegister: 1,
			Base: expr.PayloadBaseNetworkHeader, Offset: arpOffSenderIP, Len: 4,
			CsumType: expr.CsumTypeNone,
		},
	)})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("arp table for VIP %s (real IP %s): %w", vip, rip, err)
	}
	return nil
}
