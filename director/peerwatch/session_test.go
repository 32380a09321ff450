package peerwatch

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tandemlb/tandem/shared/hbproto"
)

var (
	t0       = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	peerAddr = netip.MustParseAddrPort("10.9.0.2:7481")
	roles    = []InstanceRole{{VRID: 51, Family: 4, Role: hbproto.RoleMaster, Priority: 150}}
)

const (
	local  = uint64(0x1111)
	remote = uint64(0x2222)
)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// probe from the peer: 20 ms × 3 once up.
func probe(st SessionState, your uint64) Received {
	iv := 20 * time.Millisecond
	if st != StateUp {
		iv = time.Second
	}
	return Received{From: peerAddr, Probe: &Probe{State: st, DetectMult: 3, TxInterval: iv, Session: remote, YourSession: your, Name: "lb1", Instances: roles}}
}

func send(st SessionState, d Diag, your uint64) Send {
	iv := 20 * time.Millisecond
	if st != StateUp {
		iv = time.Second
	}
	return Send{State: st, Diag: d, YourSession: your, TxInterval: iv, DetectMult: 3}
}

var peer1 = Peer{Name: "lb1", Session: remote, Addr: peerAddr, Instances: roles, TxInterval: 20 * time.Millisecond, DetectMult: 3}

type step struct {
	ms    int
	ev    Event
	want  []Action
	state SessionState
	next  int // NextDeadline in ms; -1: none
}

func runSteps(t *testing.T, steps []step) {
	t.Helper()
	s := NewSession(Config{TxInterval: 20 * time.Millisecond, DetectMult: 3}, local)
	for i, st := range steps {
		got := s.Step(at(st.ms), st.ev)
		if diff := cmp.Diff(st.want, got, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(Peer{}, "LastHeard"),
			cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
			t.Fatalf("step %d (%T at %dms): actions (-want +got)\n%s", i, st.ev, st.ms, diff)
		}
		if s.State() != st.state {
			t.Fatalf("step %d: state %v, want %v", i, s.State(), st.state)
		}
		want := time.Time{}
		if st.next >= 0 {
			want = at(st.next)
		}
		if !s.NextDeadline().Equal(want) {
			t.Fatalf("step %d: next deadline %v, want %v", i, s.NextDeadline().Sub(t0), want.Sub(t0))
		}
	}
}

// up brings the session up at 0..10 ms: we start, the peer is Down, then
// Init, and we are Up with detection at 10 + 60 ms.
func up() []step {
	slow := peer1
	slow.TxInterval = time.Second
	return []step{
		{0, Start{}, []Action{send(StateDown, DiagNone, 0)}, StateDown, 1000},
		{5, probe(StateDown, 0), []Action{send(StateInit, DiagNone, remote)}, StateInit, 1005},
		{10, probe(StateUp, local), []Action{PeerUp{Peer: peer1}, send(StateUp, DiagNone, remote)}, StateUp, 30},
		{30, TimerFired{}, []Action{send(StateUp, DiagNone, remote)}, StateUp, 50},
	}
}

func TestSession(t *testing.T) {
	down := func(d Diag) PeerDown { return PeerDown{Peer: peer1, Diag: d} }
	tests := []struct {
		name  string
		steps []step
	}{
		{"handshake from Init", []step{
			{0, Start{}, []Action{send(StateDown, DiagNone, 0)}, StateDown, 1000},
			{5, probe(StateInit, local), []Action{PeerUp{Peer: func() Peer { p := peer1; p.TxInterval = time.Second; return p }()}, send(StateUp, DiagNone, remote)}, StateUp, 25},
		}},
		{"nothing before Start", []step{
			{0, probe(StateDown, 0), nil, StateDown, -1},
			{1, TimerFired{}, nil, StateDown, -1},
		}},
		{"crash: detection time expires, PeerDown, slow rate again", append(up(), []step{
			{45, probe(StateUp, local), nil, StateUp, 50},
			{50, TimerFired{}, []Action{send(StateUp, DiagNone, remote)}, StateUp, 70},
			{70, TimerFired{}, []Action{send(StateUp, DiagNone, remote)}, StateUp, 90},
			{90, TimerFired{}, []Action{send(StateUp, DiagNone, remote)}, StateUp, 105},
			{105, TimerFired{}, []Action{down(DiagDetectExpired)}, StateDown, 1105},
			{1105, TimerFired{}, []Action{send(StateDown, DiagDetectExpired, 0)}, StateDown, 2105},
		}...)},
		{"graceful: AdminDown released", append(up(), []step{
			{40, Received{From: peerAddr, Probe: &Probe{State: StateAdminDown, Diag: DiagReleased, DetectMult: 3, TxInterval: 20 * time.Millisecond, Session: remote, YourSession: local, Name: "lb1"}},
				[]Action{down(DiagReleased)}, StateDown, 1040},
		}...)},
		{"AdminDown for any other reason is disabled", append(up(), []step{
			{40, Received{From: peerAddr, Probe: &Probe{State: StateAdminDown, Diag: DiagNone, DetectMult: 3, TxInterval: 20 * time.Millisecond, Session: remote, Name: "lb1"}},
				[]Action{down(DiagDisabled)}, StateDown, 1040},
		}...)},
		{"peer says Down: it no longer hears us", append(up(), []step{
			{40, probe(StateDown, 0), []Action{PeerDown{Peer: func() Peer { p := peer1; p.TxInterval = time.Second; return p }(), Diag: DiagNeighborDown},
				send(StateDown, DiagNeighborDown, remote)}, StateDown, 1040},
			{41, probe(StateDown, 0), []Action{send(StateInit, DiagNeighborDown, remote)}, StateInit, 1041},
		}...)},
		{"peer restarted: new session while Up", append(up(), []step{
			{40, Received{From: peerAddr, Probe: &Probe{State: StateDown, DetectMult: 3, TxInterval: time.Second, Session: 0x3333, Name: "lb1"}},
				[]Action{down(DiagPeerRestarted), send(StateInit, DiagPeerRestarted, 0x3333)}, StateInit, 1040},
		}...)},
		{"an early TimerFired changes nothing", append(up(), []step{
			{40, TimerFired{}, nil, StateUp, 50},
			{50, TimerFired{}, []Action{send(StateUp, DiagNone, remote)}, StateUp, 70},
		}...)},
		{"our own probe and probes for an earlier run are ignored", append(up(), []step{
			{40, Received{From: peerAddr, Probe: &Probe{State: StateDown, DetectMult: 3, TxInterval: time.Second, Session: local, Name: "us"}}, nil, StateUp, 50},
			{41, probe(StateDown, 0x9999), nil, StateUp, 50},
		}...)},
		{"a probe that never comes Up: Init times out silently", []step{
			{0, Start{}, []Action{send(StateDown, DiagNone, 0)}, StateDown, 1000},
			{5, probe(StateDown, 0), []Action{send(StateInit, DiagNone, remote)}, StateInit, 1005},
			{1005, TimerFired{}, []Action{send(StateInit, DiagNone, remote)}, StateInit, 2005},
			{2005, TimerFired{}, []Action{send(StateInit, DiagNone, remote)}, StateInit, 3005},
			{3005, TimerFired{}, []Action{send(StateDown, DiagDetectExpired, 0)}, StateDown, 4005},
		}},
		{"Leave: one AdminDown probe, then nothing", append(up(), []step{
			{40, Leave{Diag: DiagReleased}, []Action{Send{State: StateAdminDown, Diag: DiagReleased, YourSession: remote, TxInterval: time.Second, DetectMult: 3}}, StateAdminDown, -1},
			{41, probe(StateUp, local), nil, StateAdminDown, -1},
			{100, TimerFired{}, nil, StateAdminDown, -1},
		}...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runSteps(t, tt.steps) })
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{TxInterval: 2 * time.Second, DetectMult: 1000}.WithDefaults()
	if c.SlowInterval != 2*time.Second || c.DetectMult != 255 {
		t.Errorf("WithDefaults = %+v", c)
	}
	if d := (Config{}).WithDefaults(); d.TxInterval != DefaultTxInterval || d.DetectMult != DefaultDetectMult || d.SlowInterval != DefaultSlowInterval {
		t.Errorf("zero WithDefaults = %+v", d)
	}
}
