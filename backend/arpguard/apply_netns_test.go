package arpguard

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/shared/testutil"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// nft runs nft(8) in the test's netns (the calling thread is locked into it).
func nft(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("nft", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

const wantRuleset = `table arp tandem_backend {
	chain in {
		type filter hook input priority filter; policy accept;
		arp hlen 6 arp plen 4 arp daddr ip 192.0.2.100 counter packets 0 bytes 0 drop comment "tandem-backend: never answer ARP for VIP 192.0.2.100"
		arp hlen 6 arp plen 4 arp daddr ip 192.0.2.101 counter packets 0 bytes 0 drop comment "tandem-backend: never answer ARP for VIP 192.0.2.101"
	}

	chain out {
		type filter hook output priority filter; policy accept;
		arp hlen 6 arp plen 4 arp saddr ip 192.0.2.100 counter packets 0 bytes 0 arp saddr ip set 192.0.2.11 comment "tandem-backend: send ARP for VIP 192.0.2.100 with sender 192.0.2.11"
		arp hlen 6 arp plen 4 arp saddr ip 192.0.2.101 counter packets 0 bytes 0 arp saddr ip set 192.0.2.11 comment "tandem-backend: send ARP for VIP 192.0.2.101 with sender 192.0.2.11"
	}
}
`

// wantNDRuleset is the ip6 table of testSpec as nft 1.0.6 (Debian 12)
// prints it; newer nft prints the payload as "icmpv6 taddr 2001:db8::100".
const wantNDRuleset = `table ip6 tandem_backend {
	chain in {
		type filter hook input priority filter; policy accept;
		icmpv6 type nd-neighbor-solicit @th,64,128 0x20010db8000000000000000000000100 counter packets 0 bytes 0 drop comment "tandem-backend: never answer neighbour solicitations for VIP 2001:db8::100"
	}

	chain out {
		type filter hook output priority filter; policy accept;
		icmpv6 type nd-neighbor-advert @th,64,128 0x20010db8000000000000000000000100 counter packets 0 bytes 0 drop comment "tandem-backend: never advertise VIP 2001:db8::100"
	}
}
`

// ndView normalises nft's two spellings of the ND target so that the
// comparison holds on nft 1.0.6 and later.
func ndView(s string) string {
	return strings.ReplaceAll(s, "icmpv6 taddr 2001:db8::100", "@th,64,128 0x20010db8000000000000000000000100")
}

func TestNetnsApplyMatchesNft(t *testing.T) {
	testutil.Netns(t)
	ns := testutil.NewNetNS(t)
	k := NFT{NetNS: int(ns)}
	// A foreign table that must survive everything we do.
	nft(t, "add", "table", "arp", "other")
	nft(t, "add", "chain", "arp", "other", "c", "{ type filter hook input priority 10; }")

	st, err := k.Check(testSpec)
	if err != nil || st.Present || st.Problem != "table missing" {
		t.Fatalf("Check before apply = %+v, %v", st, err)
	}
	for i := 0; i < 2; i++ { // idempotent
		if err := k.Apply(testSpec); err != nil {
			t.Fatal(err)
		}
	}
	got := nft(t, "list", "table", "arp", "tandem_backend")
	if diff := cmp.Diff(wantRuleset, got); diff != "" {
		t.Fatalf("nft list (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff(wantNDRuleset, ndView(nft(t, "list", "table", "ip6", "tandem_backend"))); diff != "" {
		t.Fatalf("nft list table ip6 (-want +got)\n%s", diff)
	}
	st, err = k.Check(testSpec)
	if err != nil || !st.Present || st.Problem != "" || len(st.Counters) != 6 {
		t.Fatalf("Check after apply = %+v, %v", st, err)
	}
	// Edits of the ip6 table are detected too.
	nft(t, "flush", "chain", "ip6", "tandem_backend", "out")
	if st, _ := k.Check(testSpec); !strings.HasPrefix(st.Problem, "table ip6: ") {
		t.Fatalf("flushed ip6 chain: problem %q", st.Problem)
	}
	if err := k.Apply(testSpec); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(nft(t, "list", "ruleset"), "table arp other") {
		t.Fatal("foreign table gone")
	}
	// Edits are detected.
	nft(t, "add", "rule", "arp", "tandem_backend", "in", "counter")
	if st, _ := k.Check(testSpec); st.Problem == "" {
		t.Fatal("extra rule not detected")
	}
	nft(t, "flush", "chain", "arp", "tandem_backend", "out")
	if st, _ := k.Check(testSpec); st.Problem == "" {
		t.Fatal("flushed chain not detected")
	}
	if err := k.Remove("tandem_backend"); err != nil {
		t.Fatal(err)
	}
	if err := k.Remove("tandem_backend"); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if out := nft(t, "list", "ruleset"); strings.Contains(out, "tandem_backend") || !strings.Contains(out, "table arp other") {
		t.Fatalf("after Remove:\n%s", out)
	}
}

// TestNetnsApplyIPv4OnlyDropsNDTable: a spec that lost its IPv6 VIPs (a
// reload) leaves no ip6 table behind, and one that never had any creates
// none.
func TestNetnsApplyIPv4OnlyDropsNDTable(t *testing.T) {
	testutil.Netns(t)
	ns := testutil.NewNetNS(t)
	k := NFT{NetNS: int(ns)}
	v4 := testSpec
	v4.VIPs = []netip.Addr{netip.MustParseAddr("192.0.2.100")}
	if err := k.Apply(v4); err != nil {
		t.Fatal(err)
	}
	if out := nft(t, "list", "ruleset"); strings.Contains(out, "table ip6") {
		t.Fatalf("IPv4-only spec created an ip6 table:\n%s", out)
	}
	if err := k.Apply(testSpec); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(nft(t, "list", "ruleset"), "table ip6 tandem_backend") {
		t.Fatal("no ip6 table with an IPv6 VIP")
	}
	if err := k.Apply(v4); err != nil {
		t.Fatal(err)
	}
	if out := nft(t, "list", "ruleset"); strings.Contains(out, "table ip6") || !strings.Contains(out, "table arp tandem_backend") {
		t.Fatalf("after the IPv6 VIP left:\n%s", out)
	}
	if st, err := k.Check(v4); err != nil || st.Problem != "" {
		t.Fatalf("Check = %+v, %v", st, err)
	}
}

func TestNetnsGuardRepairs(t *testing.T) {
	testutil.Netns(t)
	ns := testutil.NewNetNS(t)
	k := NFT{NetNS: int(ns)}
	repaired := make(chan string, 10)
	g := New(k, ProcSys{}, quiet(), Settings{NFTables: true, Spec: testSpec},
		Options{Resync: 10 * time.Second, OnRepair: func(p string) { repaired <- p }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, WatchNFT(int(ns))) }()
	defer func() { cancel(); <-done }()

	waitOK := func(what string) time.Duration {
		t.Helper()
		start := time.Now()
		testutil.Eventually(t, time.Second, func() bool {
			st, err := k.Check(testSpec)
			return err == nil && st.Problem == ""
		}, "%s: table not back", what)
		return time.Since(start)
	}
	waitOK("start")
	// The resync is 10 s here: repairs within 1 s prove the event path.
	for _, breakIt := range [][]string{
		{"flush", "ruleset"},
		{"delete", "table", "arp", "tandem_backend"},
		{"flush", "table", "arp", "tandem_backend"},
		{"add", "table", "arp", "tandem_backend", "{ flags dormant; }"},
		{"delete", "table", "ip6", "tandem_backend"},
	} {
		testutil.Settle(20 * time.Millisecond) // let any previous repair settle
		nft(t, breakIt...)
		d := waitOK(strings.Join(breakIt, " "))
		t.Logf("%q: table back after %s", strings.Join(breakIt, " "), d)
		select {
		case <-repaired:
		case <-time.After(time.Second):
			t.Fatalf("%q: no repair reported", breakIt)
		}
	}
	if st := g.Status(); !st.TableOK || st.Repairs < 5 {
		t.Fatalf("status = %+v", st)
	}
}

func TestNetnsGuardSysctl(t *testing.T) {
	testutil.Netns(t)
	ns := testutil.NewNetNS(t)
	out, err := exec.Command("ip", "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link add: %v %s", err, out)
	}
	k := NFT{NetNS: int(ns)}
	g := New(k, ProcSys{}, quiet(), Settings{Sysctl: true, Interface: "veth-a", Spec: testSpec}, Options{})
	if _, err := g.Ensure(); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"arp_ignore": "1", "arp_announce": "2"} {
		got, err := ProcSys{}.Get("net/ipv4/conf/veth-a/" + key)
		if err != nil || got != want {
			t.Fatalf("%s = %q, %v; want %s", key, got, err, want)
		}
	}
	if st := g.Status(); !st.SysctlOK || st.TablePresent {
		t.Fatalf("status = %+v (sysctl mode must not create the table)", st)
	}
}
