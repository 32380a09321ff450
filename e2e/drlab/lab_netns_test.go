package drlab_test

import (
	"context"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tandemlb/tandem/e2e/drlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestNetnsDRLabArp checks the ARP half of the lab on this kernel (no
// ip_vs needed): with the nft arp table only the director answers ARP for
// the VIP; without it the real servers answer too.
func TestNetnsDRLabArp(t *testing.T) {
	testutil.Netns(t)
	ctx := context.Background()
	t.Run("ArpTable", func(t *testing.T) {
		lab, err := drlab.New(t, drlab.Options{ArpTable: true, NoIPVS: true})
		if err != nil {
			t.Fatal(err)
		}
		got, err := lab.Net.Exec(drlab.RS1, "nft", "list", "table", "arp", drlab.ArpTableName)
		if err != nil {
			t.Fatal(err)
		}
		want := drlab.ArpTableText(net.ParseIP(drlab.VIP), net.ParseIP(drlab.RS1IP))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("nft list table on rs1 (-want +got):\n%s", diff)
		}
		replies, out, err := lab.Arping(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]int{drlab.Director: 3}, replies); diff != "" {
			t.Errorf("arping replies by host (-want +got):\n%s\n%s", diff, out)
		}
	})
	t.Run("WithoutArpTable", func(t *testing.T) {
		lab, err := drlab.New(t, drlab.Options{NoIPVS: true})
		if err != nil {
			t.Fatal(err)
		}
		replies, out, err := lab.Arping(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("arping replies by host: %v", replies)
		if replies[drlab.RS1] == 0 || replies[drlab.RS2] == 0 {
			t.Errorf("want both real servers answering ARP for the VIP without the arp table, got %v\n%s", replies, out)
		}
	})
}
