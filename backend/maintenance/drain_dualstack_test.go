package maintenance

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/shared/hbproto"
)

// TestEvaluateDrainDualStack: a director listed by its IPv4 and its IPv6
// address reports the IPv4 and the IPv6 real servers separately. While it
// is MASTER, the drain waits for both of its addresses: the IPv4 answer
// alone, drained, does not end the wait before the IPv6 one has come.
func TestEvaluateDrainDualStack(t *testing.T) {
	since := at(10)
	dest := func(addr string, active uint32) []hbproto.DestinationStatus {
		return []hbproto.DestinationStatus{{Service: "TCP 192.0.2.100:80", Addr: netip.MustParseAddrPort(addr),
			ConfiguredWeight: 1, ActiveConns: active, Pool: hbproto.PoolDraining}}
	}
	v4 := DirectorView{Addr: "192.0.2.2:7480", Name: "lb1", Role: hbproto.RoleMaster, LastReply: at(11), Destinations: dest("192.0.2.11:80", 0)}
	v6 := DirectorView{Addr: "[2001:db8::2]:7480", Name: "lb1", Role: hbproto.RoleMaster, LastReply: at(9), Destinations: dest("[2001:db8::11]:80", 2)}
	backup6 := DirectorView{Addr: "[2001:db8::3]:7480", Name: "lb2", Role: hbproto.RoleBackup, LastReply: at(9)}

	st := EvaluateDrain([]DirectorView{v4, v6, backup6}, since)
	want := DrainStatus{
		Summary: "waiting: 1 address(es) of a MASTER director have not answered since maintenance began",
		Lines: []string{
			"lb1 (192.0.2.2:7480): master, TCP 192.0.2.100:80 -> 192.0.2.11:80: weight 0, 0 active, 0 inactive: drained",
			"lb1 ([2001:db8::2]:7480): no reply since maintenance began, MASTER on its other address: waiting",
			"lb2 ([2001:db8::3]:7480): no reply since maintenance began",
		},
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Fatalf("IPv6 address silent (-want +got)\n%s", diff)
	}
	v6.LastReply = at(11)
	if st := EvaluateDrain([]DirectorView{v4, v6, backup6}, since); st.Done {
		t.Fatalf("done with 2 active IPv6 connections: %s", st)
	}
	v6.Destinations = dest("[2001:db8::11]:80", 0)
	if st := EvaluateDrain([]DirectorView{v4, v6, backup6}, since); !st.Done {
		t.Fatalf("both addresses drained, not done: %s", st)
	}
}
