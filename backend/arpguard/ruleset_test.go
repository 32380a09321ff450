package arpguard

import (
	"encoding/hex"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var testSpec = Spec{
	Table:  "tandem_backend",
	VIPs:   []netip.Addr{netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("2001:db8::100"), netip.MustParseAddr("192.0.2.101")},
	RealIP: netip.MustParseAddr("192.0.2.11"),
}

// record returns the netlink messages that fn buffers and Flush sends.
func record(t *testing.T, fn func(c *nftables.Conn)) []netlink.Message {
	t.Helper()
	var got []netlink.Message
	c, err := nftables.New(nftables.WithTestDial(func(req []netlink.Message) ([]netlink.Message, error) {
		got = append(got, req...)
		acks := make([]netlink.Message, 0, len(req))
		for _, m := range req {
			if m.Header.Flags&netlink.Acknowledge != 0 {
				acks = append(acks, netlink.Message{
					Header: netlink.Header{Length: 4, Type: netlink.Error, Sequence: m.Header.Sequence, PID: m.Header.PID},
					Data:   []byte{0, 0, 0, 0},
				})
			}
		}
		return acks, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	fn(c)
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	return got
}

var msgNames = map[int]string{
	unix.NFT_MSG_NEWTABLE: "NEWTABLE", unix.NFT_MSG_DELTABLE: "DELTABLE",
	unix.NFT_MSG_NEWCHAIN: "NEWCHAIN", unix.NFT_MSG_NEWRULE: "NEWRULE",
}

// dump renders messages as the golden text: one message per block, its
// type and flags, then the payload in hex, 32 bytes a line.
func dump(msgs []netlink.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		typ := int(m.Header.Type)
		name := fmt.Sprintf("type %#x", typ)
		switch {
		case typ == unix.NFNL_MSG_BATCH_BEGIN:
			name = "BATCH_BEGIN"
		case typ == unix.NFNL_MSG_BATCH_END:
			name = "BATCH_END"
		case typ>>8 == unix.NFNL_SUBSYS_NFTABLES:
			if n, ok := msgNames[typ&0xff]; ok {
				name = n
			}
		}
		fmt.Fprintf(&b, "%s flags=%#x\n", name, uint16(m.Header.Flags))
		h := hex.EncodeToString(m.Data)
		for len(h) > 64 {
			fmt.Fprintf(&b, "  %s\n", h[:64])
			h = h[64:]
		}
		if h != "" {
			fmt.Fprintf(&b, "  %s\n", h)
		}
	}
	return b.String()
}

func golden(t *testing.T, got string) {
	t.Helper()
	path := filepath.Join("testdata", t.Name()+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Fatalf("netlink messages differ from %s (-want +got)\n%s", path, diff)
	}
}

// TestProgramGolden pins the exact netlink messages of the table. The
// expected nft view of these bytes (checked against the kernel by
// TestNetnsApplyMatchesNft) is:
//
//	table arp tandem_backend {
//		chain in {
//			type filter hook input priority filter; policy accept;
//			arp hlen 6 arp plen 4 arp daddr ip 192.0.2.100 counter packets 0 bytes 0 drop comment "..."
//			arp hlen 6 arp plen 4 arp daddr ip 192.0.2.101 counter packets 0 bytes 0 drop comment "..."
//		}
//		chain out {
//			type filter hook output priority filter; policy accept;
//			arp hlen 6 arp plen 4 arp saddr ip 192.0.2.100 counter packets 0 bytes 0 arp saddr ip set 192.0.2.11 comment "..."
//			arp hlen 6 arp plen 4 arp saddr ip 192.0.2.101 counter packets 0 bytes 0 arp saddr ip set 192.0.2.11 comment "..."
//		}
//	}
//	table ip6 tandem_backend {
//		chain in {
//			type filter hook input priority filter; policy accept;
//			icmpv6 type nd-neighbor-solicit @th,64,128 0x20010db8000000000000000000000100 counter packets 0 bytes 0 drop comment "..."
//		}
//		chain out {
//			type filter hook output priority filter; policy accept;
//			icmpv6 type nd-neighbor-advert @th,64,128 0x20010db8000000000000000000000100 counter packets 0 bytes 0 drop comment "..."
//		}
//	}
//
// (nft 1.0.6 prints the target as a raw payload; newer nft prints
// "icmpv6 taddr 2001:db8::100".)
func TestProgramGolden(t *testing.T) {
	msgs := record(t, func(c *nftables.Conn) { Program(c, testSpec) })
	// batch begin; arp: 3 table ops, 2 chains, 4 rules; ip6: 3 table ops,
	// 2 chains, 2 rules; batch end.
	if len(msgs) != 18 {
		t.Fatalf("got %d messages, want 18:\n%s", len(msgs), dump(msgs))
	}
	golden(t, dump(msgs))
}

// TestProgramIPv4OnlyGolden pins that a spec without IPv6 VIPs programs
// the arp table alone, byte for byte as before the ip6 table existed.
func TestProgramIPv4OnlyGolden(t *testing.T) {
	s := testSpec
	s.VIPs = []netip.Addr{netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("192.0.2.101")}
	msgs := record(t, func(c *nftables.Conn) { Program(c, s) })
	if len(msgs) != 11 {
		t.Fatalf("got %d messages, want 11:\n%s", len(msgs), dump(msgs))
	}
	golden(t, dump(msgs))
}

func TestProgramRemoveNDGolden(t *testing.T) {
	golden(t, dump(record(t, func(c *nftables.Conn) { ProgramRemoveND(c, "tandem_backend") })))
}

func TestNDRules(t *testing.T) {
	var got []string
	for _, r := range testSpec.ndRules() {
		got = append(got, r.chain+" "+r.vip.String()+" "+r.comment)
	}
	want := []string{
		"in 2001:db8::100 tandem-backend: never answer neighbour solicitations for VIP 2001:db8::100",
		"out 2001:db8::100 tandem-backend: never advertise VIP 2001:db8::100",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("nd rules (-want +got)\n%s", diff)
	}
}

func TestProgramRemoveGolden(t *testing.T) {
	golden(t, dump(record(t, func(c *nftables.Conn) { ProgramRemove(c, "tandem_backend") })))
}

func TestSpecValidate(t *testing.T) {
	if err := (Spec{Table: "t", RealIP: netip.MustParseAddr("2001:db8::1")}).Validate(); err == nil {
		t.Fatal("IPv6 real IP accepted")
	}
	if err := (Spec{RealIP: netip.MustParseAddr("192.0.2.1")}).Validate(); err == nil {
		t.Fatal("empty table accepted")
	}
}

func TestRulesOnlyIPv4(t *testing.T) {
	var got []string
	for _, r := range testSpec.rules() {
		got = append(got, r.chain+" "+r.vip.String())
	}
	want := []string{"in 192.0.2.100", "in 192.0.2.101", "out 192.0.2.100", "out 192.0.2.101"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("rules (-want +got)\n%s", diff)
	}
}
