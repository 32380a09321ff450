package lvs_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/lvs/lvstest"
)

// maglev is a service as BGP mode wants it: mh with mh-fallback
// (FlagSched1) and mh-port (FlagSched2).
var maglev = lvs.Service{Protocol: lvs.TCP, Addr: vip, Port: 80, Scheduler: "mh", Flags: lvs.FlagSched1 | lvs.FlagSched2}

// TestMaglevFlagsReachTheClient: the scheduler flags are in what the
// client is asked to create, a change of flags is a service update (not a
// delete and re-add), and the table the kernel reports back (with its
// hashed flag) is adopted as is.
func TestMaglevFlagsReachTheClient(t *testing.T) {
	ctx := context.Background()
	f := &lvstest.Fake{}
	r := lvs.NewReconciler(f, lvs.Options{})
	if _, err := r.Apply(ctx, desired(lvs.ServiceSpec{Service: maglev, Destinations: []lvs.Destination{d(rs1, 1)}})); err != nil {
		t.Fatal(err)
	}
	calls(t, f, []string{
		"NewService TCP 192.0.2.100:80 sched=mh flags=0x18 timeout=0",
		"NewDestination TCP 192.0.2.100:80 192.0.2.101:80 weight=1 DR",
	})
	if _, err := r.Apply(ctx, desired(lvs.ServiceSpec{Service: maglev, Destinations: []lvs.Destination{d(rs1, 1)}})); err != nil {
		t.Fatal(err)
	}
	calls(t, f, nil)

	noPort := maglev
	noPort.Flags = lvs.FlagSched1
	res, err := r.Apply(ctx, desired(lvs.ServiceSpec{Service: noPort, Destinations: []lvs.Destination{d(rs1, 1)}}))
	if err != nil {
		t.Fatal(err)
	}
	calls(t, f, []string{"UpdateService TCP 192.0.2.100:80 sched=mh flags=0x8 timeout=0"})
	if len(res.Applied) != 1 || res.Applied[0].Detail != "flags 0x18 -> 0x8" {
		t.Errorf("applied %v, want one update with detail \"flags 0x18 -> 0x8\"", res.Applied)
	}
}

// TestMaglevDestinationsAddedInOneOrder: the kernel's mh table depends on
// the order of the service's destination list (ip_vs_mh_populate gives
// contested slots to the destination met first), and each new destination
// goes to the head of that list. So every director adds the destinations
// of a service in one order, address then port, whatever order the
// configuration or the pool lists them in: two directors starting from an
// empty table build the same list, hence the same Maglev table.
func TestMaglevDestinationsAddedInOneOrder(t *testing.T) {
	ctx := context.Background()
	a6 := netip.MustParseAddr("192.0.2.6")
	a50 := netip.MustParseAddr("192.0.2.50")
	dp := func(a netip.Addr, port uint16) lvs.Destination {
		return lvs.Destination{Addr: a, Port: port, Weight: 1}
	}
	orders := [][]lvs.Destination{
		{dp(a50, 80), dp(a6, 8080), dp(rs1, 80), dp(a6, 80)},
		{dp(a6, 80), dp(rs1, 80), dp(a50, 80), dp(a6, 8080)},
	}
	var got [][]string
	for _, dests := range orders {
		f := &lvstest.Fake{}
		if _, err := lvs.NewReconciler(f, lvs.Options{}).Apply(ctx, desired(lvs.ServiceSpec{Service: maglev, Destinations: dests})); err != nil {
			t.Fatal(err)
		}
		got = append(got, f.CallStrings())
	}
	want := []string{
		"NewService TCP 192.0.2.100:80 sched=mh flags=0x18 timeout=0",
		"NewDestination TCP 192.0.2.100:80 192.0.2.6:80 weight=1 DR",
		"NewDestination TCP 192.0.2.100:80 192.0.2.6:8080 weight=1 DR",
		"NewDestination TCP 192.0.2.100:80 192.0.2.50:80 weight=1 DR",
		"NewDestination TCP 192.0.2.100:80 192.0.2.101:80 weight=1 DR",
	}
	for i, g := range got {
		if len(g) != len(want) {
			t.Fatalf("order %d: calls %q, want %q", i, g, want)
		}
		for j := range want {
			if g[j] != want[j] {
				t.Errorf("order %d: call %d is %q, want %q", i, j, g[j], want[j])
			}
		}
	}
}
