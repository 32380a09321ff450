package pool

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/shared/hbproto"
)

var addrPortEq = cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })

// The actions are values a driver switches on by type: this table checks
// every field of them, not only what String shows.
func TestTypedActions(t *testing.T) {
	inhibit := http(rs2, 2)
	inhibit.InhibitOnFailure = true
	cfg := Config{Servers: []ServerConfig{http(rs1, 1), inhibit}, Sorry: sorry, SorryWeight: 3, DrainTimeout: 10 * time.Second}
	p, acts, err := New(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Action{
		QuorumGained{Weight: 3, Reason: "start: live weight 3 >= quorum 1"},
		Transition{Server: rs1, From: Initial, To: Up, Reason: "start"},
		Transition{Server: rs2, From: Initial, To: Up, Reason: "start"},
		SetDest{Server: rs1, Weight: 1, Present: true},
		SetDest{Server: rs2, Weight: 2, Present: true},
	}
	if diff := cmp.Diff(want, acts, addrPortEq); diff != "" {
		t.Fatalf("New (-want +got)\n%s", diff)
	}
	fail := "HTTP_GET failed 3 times: status 503, want 200"
	for i, s := range []struct {
		at   time.Duration
		ev   Event
		want []Action
	}{
		{time.Second, checkFail(rs1), []Action{
			Transition{Server: rs1, From: Up, To: Down, Reason: fail},
			SetDest{Server: rs1},
		}},
		{2 * time.Second, checkFail(rs2), []Action{
			Transition{Server: rs2, From: Up, To: Down, Reason: fail},
			QuorumLost{Weight: 0, Reason: "live weight 0 < quorum 1 - hysteresis 0"},
			SorryIn{Server: sorry, Weight: 3, Reason: "quorum lost"},
			SetDest{Server: rs2, Weight: 0, Present: true}, // inhibit_on_failure
		}},
		{3 * time.Second, AgentReport{Addr: rs1.Addr(), State: AgentDown, Reason: "app crashed"}, []Action{}},
		// The agent clears it while HTTP_GET still says down: recheck
		// first, then what the evaluation says.
		{4 * time.Second, AgentReport{Addr: rs1.Addr(), State: AgentUp}, []Action{
			Recheck{Server: rs1, Reason: "agent reports up again"},
		}},
		{5 * time.Second, checkOK(rs1), []Action{
			Transition{Server: rs1, From: Down, To: Up, Reason: "HTTP_GET succeeded"},
			QuorumGained{Weight: 1, Reason: "live weight 1 >= quorum 1 + hysteresis 0"},
			SetDest{Server: rs1, Weight: 1, Present: true},
			SorryOut{Server: sorry, Reason: "quorum gained"},
		}},
		{6 * time.Second, Drain{Server: rs1, Reason: "kernel"}, []Action{
			Transition{Server: rs1, From: Up, To: Draining, Reason: "operator drain: kernel"},
			QuorumLost{Weight: 0, Reason: "live weight 0 < quorum 1 - hysteresis 0"},
			SorryIn{Server: sorry, Weight: 3, Reason: "quorum lost"},
			SetDest{Server: rs1, Weight: 0, Present: true},
		}},
		{15 * time.Second, TimerFired{}, []Action{}},
		{16 * time.Second, TimerFired{}, []Action{
			Transition{Server: rs1, From: Draining, To: Drained, Reason: "operator drain: kernel; drain_timeout 10s elapsed with 0 active, 0 inactive connections"},
		}},
	} {
		got := p.Step(t0.Add(s.at), s.ev)
		if len(s.want) == 0 && len(got) == 0 {
			continue
		}
		if diff := cmp.Diff(s.want, got, addrPortEq); diff != "" {
			t.Fatalf("step %d (%T at +%s) (-want +got)\n%s", i, s.ev, s.at, diff)
		}
	}
	acts, err = p.Reconfigure(Config{Servers: []ServerConfig{inhibit}, Sorry: sorry, SorryWeight: 3}, t0.Add(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want = []Action{SetDest{Server: rs1, Removed: true, Reason: "removed from the configuration"}}
	if diff := cmp.Diff(want, acts, addrPortEq); diff != "" {
		t.Fatalf("Reconfigure (-want +got)\n%s", diff)
	}
}

func TestActionString(t *testing.T) {
	for _, tt := range []struct {
		a    Action
		want string
	}{
		{Transition{Server: rs1, From: Initial, To: Up, Reason: "start"}, "transition 192.0.2.101:80: new -> up (start)"},
		{QuorumLost{Weight: 2, Reason: "r"}, "quorum-lost (r)"},
		{QuorumGained{Weight: 2, Reason: "r"}, "quorum-gained (r)"},
		{SorryIn{Server: sorry, Weight: 1, Reason: "quorum lost"}, "sorry-in 192.0.2.99:80 weight 1 (quorum lost)"},
		{SetDest{Server: rs1, Weight: 0, Present: true}, "set-dest 192.0.2.101:80 weight 0"},
		{SetDest{Server: rs1, Removed: true, Reason: "gone"}, "set-dest 192.0.2.101:80 absent"},
		{SorryOut{Server: sorry, Reason: "quorum gained"}, "sorry-out 192.0.2.99:80 (quorum gained)"},
		{Recheck{Server: rs1, Reason: "r"}, "recheck 192.0.2.101:80 (r)"},
	} {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("%T.String() = %q, want %q", tt.a, got, tt.want)
		}
	}
}

// The pool's states travel in heartbeats as hbproto.PoolState numbers
// (director/app converts one into the other): they must stay equal.
func TestStatesAreTheHeartbeatNumbers(t *testing.T) {
	for _, tt := range []struct {
		s State
		h hbproto.PoolState
	}{
		{Up, hbproto.PoolUp},
		{Down, hbproto.PoolDown},
		{Draining, hbproto.PoolDraining},
		{Drained, hbproto.PoolDrained},
		{Maintenance, hbproto.PoolMaintenance},
	} {
		if hbproto.PoolState(tt.s) != tt.h || tt.s.String() != tt.h.String() {
			t.Errorf("%v (%d) is not %v (%d)", tt.s, tt.s, tt.h, tt.h)
		}
	}
	if Initial.String() != "new" {
		t.Errorf("Initial.String() = %q", Initial.String())
	}
}
