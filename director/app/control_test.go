package app

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/director/agents"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/shared/hbproto"
)

// TestStatusStats: status with StatusArgs.Stats carries the counters IPVS
// reports for the service and each real server in it; without the flag
// the answer has none and no "stats" key.
func TestStatusStats(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), func(_ string, f *fakeIPVS) { f.Load(loaded(1)) })
	key := lvs.ServiceKey("TCP 192.0.2.100:80")
	svcStats := lvs.Stats{Conns: 30, PktsIn: 300, BytesIn: 30000, CPS: 3, PPSIn: 30, BPSIn: 3000}
	rs1 := lvs.Stats{Conns: 20, PktsIn: 200, PktsOut: 1, BytesIn: 20000, BytesOut: 2, CPS: 2, PPSIn: 20, PPSOut: 3, BPSIn: 2000, BPSOut: 4}
	if err := h.ipvs.SetServiceStats(key, svcStats); err != nil {
		t.Fatal(err)
	}
	if err := h.ipvs.SetDestStats(key, "192.0.2.11:80", rs1); err != nil {
		t.Fatal(err)
	}

	var plain map[string]any
	if err := h.call(control.OpStatus, nil, &plain); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(plain); strings.Contains(string(b), `"stats`) {
		t.Errorf("plain status has counters: %s", b)
	}

	before := time.Now()
	var st control.Status
	if err := h.call(control.OpStatus, control.StatusArgs{Stats: true}, &st); err != nil {
		t.Fatal(err)
	}
	if st.StatsAt.Before(before.Add(-time.Second)) {
		t.Errorf("stats_at %v, want about now", st.StatsAt)
	}
	svc := st.Services[0]
	if diff := cmp.Diff(control.Stats(svcStats), deref(svc.Stats)); diff != "" {
		t.Errorf("service counters (-want +got)\n%s", diff)
	}
	byAddr := map[string]*control.Stats{}
	for _, r := range svc.RealServers {
		byAddr[r.Addr] = r.Stats
	}
	if diff := cmp.Diff(control.Stats(rs1), deref(byAddr["192.0.2.11:80"])); diff != "" {
		t.Errorf("192.0.2.11:80 counters (-want +got)\n%s", diff)
	}
	if s := byAddr["192.0.2.12:80"]; s == nil || *s != (control.Stats{}) {
		t.Errorf("192.0.2.12:80 counters %+v, want zero (in IPVS, no traffic)", s)
	}
	if svc.SorryStats != nil {
		t.Errorf("sorry counters %+v while the sorry server is out", svc.SorryStats)
	}
	if st.Peers != nil {
		t.Errorf("peers %+v, not asked for", st.Peers)
	}
}

func deref(s *control.Stats) control.Stats {
	if s == nil {
		return control.Stats{Conns: 1<<64 - 1} // never a real value: the diff shows it missing
	}
	return *s
}

// TestFillStats: counters land by key, IPv4-mapped addresses included;
// the sorry server's only while it is in; a service IPVS lacks gets none.
func TestFillStats(t *testing.T) {
	st := control.Status{Services: []control.ServiceStatus{
		{Key: "TCP 192.0.2.100:80", Sorry: "192.0.2.99:80", SorryIn: true,
			RealServers: []control.RealServerStatus{{Addr: "192.0.2.11:80"}, {Addr: "[::ffff:192.0.2.12]:80"}, {Addr: "192.0.2.13:80"}}},
		{Key: "TCP 192.0.2.101:80", RealServers: []control.RealServerStatus{{Addr: "192.0.2.11:80"}}},
		{Key: "FWM 7", Sorry: "192.0.2.99:0", RealServers: []control.RealServerStatus{{Addr: "192.0.2.11:0"}}},
	}}
	keys := []lvs.ServiceKey{"TCP 192.0.2.100:80", "TCP 192.0.2.101:80", "FWM 7"}
	ip := netip.MustParseAddr
	states := []lvs.ServiceState{
		{Service: lvs.Service{Protocol: lvs.TCP, Addr: ip("192.0.2.100"), Port: 80}, Stats: lvs.Stats{Conns: 6},
			Destinations: []lvs.DestinationState{
				{Destination: lvs.Destination{Addr: ip("192.0.2.11"), Port: 80}, Stats: lvs.Stats{Conns: 1}},
				{Destination: lvs.Destination{Addr: ip("192.0.2.12"), Port: 80}, Stats: lvs.Stats{Conns: 2}},
				{Destination: lvs.Destination{Addr: ip("192.0.2.99"), Port: 80}, Stats: lvs.Stats{Conns: 3}},
			}},
		{Service: lvs.Service{FWMark: 7}, Stats: lvs.Stats{PktsIn: 9},
			Destinations: []lvs.DestinationState{
				{Destination: lvs.Destination{Addr: ip("192.0.2.11")}, Stats: lvs.Stats{PktsIn: 5}},
				{Destination: lvs.Destination{Addr: ip("192.0.2.99")}, Stats: lvs.Stats{PktsIn: 4}},
			}},
	}
	fillStats(&st, keys, states)
	s0, s1, s2 := st.Services[0], st.Services[1], st.Services[2]
	for _, c := range []struct {
		name string
		got  *control.Stats
		want *control.Stats
	}{
		{"service 0", s0.Stats, &control.Stats{Conns: 6}},
		{"rs 192.0.2.11", s0.RealServers[0].Stats, &control.Stats{Conns: 1}},
		{"rs mapped 192.0.2.12", s0.RealServers[1].Stats, &control.Stats{Conns: 2}},
		{"rs 192.0.2.13 not in IPVS", s0.RealServers[2].Stats, nil},
		{"sorry in", s0.SorryStats, &control.Stats{Conns: 3}},
		{"service 1 not in IPVS", s1.Stats, nil},
		{"its rs", s1.RealServers[0].Stats, nil},
		{"FWM 7", s2.Stats, &control.Stats{PktsIn: 9}},
		{"FWM 7 rs", s2.RealServers[0].Stats, &control.Stats{PktsIn: 5}},
		{"FWM 7 sorry out", s2.SorryStats, nil},
	} {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s (-want +got)\n%s", c.name, diff)
		}
	}
}

// TestStatusPeers: without fast_failover the peers' view has this
// director's instances with the peer unknown and no probe; an agent's
// report of the directors it hears is in it, timed on our clock.
func TestStatusPeers(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), nil)
	h.driver("VI0")
	at := time.Now()
	r := agents.Report{At: at, Agent: hbproto.AgentReport{Node: "rs1", RealIP: netip.MustParseAddr("192.0.2.11"), State: hbproto.StateUp,
		Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleBackup, Age: 250 * time.Millisecond}, {Director: "lb2", Role: hbproto.RoleMaster, Age: 40 * time.Millisecond}}}}
	h.report(r)

	var st control.Status
	if err := h.call(control.OpStatus, control.StatusArgs{Peers: true}, &st); err != nil {
		t.Fatal(err)
	}
	p := st.Peers
	if p == nil {
		t.Fatal("no peers view")
	}
	if p.Node != "lb1" || p.Probe != nil {
		t.Errorf("node %q probe %+v, want lb1 and no probe (fast_failover off)", p.Node, p.Probe)
	}
	wantInst := []control.PeerInstanceStatus{{Instance: "VI0", VRID: 100, Family: 4, State: "BACKUP", Priority: 100, PeerRole: "unknown"}}
	if diff := cmp.Diff(wantInst, p.Instances); diff != "" {
		t.Errorf("instances (-want +got)\n%s", diff)
	}
	if len(p.Agents) != 1 {
		t.Fatalf("agents %+v, want rs1", p.Agents)
	}
	ag := p.Agents[0]
	if ag.RealIP != "192.0.2.11" || ag.Node != "rs1" || !ag.Fresh || ag.LastSeen.Before(at.Add(-time.Second)) || ag.LastSeen.After(time.Now()) {
		t.Errorf("agent %+v", ag)
	}
	want := []control.DirectorHeardStatus{
		{Director: "lb1", Role: "backup", AgeMS: 250, Heard: ag.LastSeen.Add(-250 * time.Millisecond)},
		{Director: "lb2", Role: "master", AgeMS: 40, Heard: ag.LastSeen.Add(-40 * time.Millisecond)},
	}
	if diff := cmp.Diff(want, ag.Directors); diff != "" {
		t.Errorf("directors heard (-want +got)\n%s", diff)
	}
	if st.StatsAt != (time.Time{}) || st.Services[0].Stats != nil {
		t.Error("counters without asking for them")
	}
	// An unknown argument is refused, not ignored.
	if err := h.call(control.OpStatus, map[string]bool{"statz": true}, nil); err == nil || !strings.Contains(err.Error(), "statz") {
		t.Errorf("unknown status argument: %v", err)
	}
}
