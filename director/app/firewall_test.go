package app

import (
	"strings"
	"testing"

	"github.com/google/nftables/expr"
)

// Expressions as nft(8) compiles them (nft --debug=netlink).
var (
	// ip protocol vrrp
	ipProtoVRRP = []expr.Any{
		&expr.Payload{Base: expr.PayloadBaseNetworkHeader, Offset: 9, Len: 1, DestRegister: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{112}},
	}
	// meta l4proto tcp
	l4TCP = []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{6}},
	}
	// iifname "lo"
	iifLo = []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte("lo\x00")},
	}
	accept = &expr.Verdict{Kind: expr.VerdictAccept}
	drop   = &expr.Verdict{Kind: expr.VerdictDrop}
)

func rule(h uint64, parts ...any) FirewallRule {
	var es []expr.Any
	for _, p := range parts {
		switch p := p.(type) {
		case []expr.Any:
			es = append(es, p...)
		case expr.Any:
			es = append(es, p)
		}
	}
	return ruleOf(h, es)
}

func TestVRRPFindings(t *testing.T) {
	tests := []struct {
		name   string
		chains []FirewallChain
		want   string // substring of the only finding; "" for none
	}{
		{"no firewall", nil, ""},
		{"accept all policy", []FirewallChain{{Table: "inet filter", Name: "input", Base: true}}, ""},
		{"policy drop, vrrp accepted", []FirewallChain{{Table: "inet filter", Name: "input", Base: true, PolicyDrop: true,
			Rules: []FirewallRule{rule(1, iifLo, accept), rule(2, ipProtoVRRP, &expr.Counter{}, accept)}}}, ""},
		{"policy drop, only tcp accepted", []FirewallChain{{Table: "inet filter", Name: "input", Base: true, PolicyDrop: true,
			Rules: []FirewallRule{rule(1, iifLo, accept), rule(2, l4TCP, accept)}}}, "policy drop and no rule accepts VRRP"},
		{"explicit drop of protocol 112", []FirewallChain{{Table: "ip filter", Name: "INPUT", Base: true,
			Rules: []FirewallRule{rule(7, ipProtoVRRP, drop)}}}, "rule handle 7 drops VRRP"},
		{"reject everything", []FirewallChain{{Table: "ip filter", Name: "INPUT", Base: true,
			Rules: []FirewallRule{rule(3, &expr.Reject{})}}}, "rule handle 3 rejects VRRP"},
		{"drop in a jumped-to chain", []FirewallChain{
			{Table: "inet fw", Name: "input", Base: true, Rules: []FirewallRule{rule(1, &expr.Verdict{Kind: expr.VerdictJump, Chain: "noise"})}},
			{Table: "inet fw", Name: "noise", Rules: []FirewallRule{rule(4, ipProtoVRRP, drop)}},
		}, "chain noise rule handle 4 (from rule handle 1) drops VRRP"},
		{"accept before the drop", []FirewallChain{{Table: "ip filter", Name: "INPUT", Base: true,
			Rules: []FirewallRule{rule(1, ipProtoVRRP, accept), rule(2, drop)}}}, ""},
		{"output chains do not count", []FirewallChain{{Table: "ip filter", Name: "OUTPUT", PolicyDrop: true}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := vrrpFindings(tt.chains)
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("findings %q, want none", got)
			case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
				t.Errorf("findings %q, want one with %q", got, tt.want)
			}
		})
	}
}
