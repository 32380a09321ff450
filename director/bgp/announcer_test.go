package bgp

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var (
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	vip4  = netip.MustParseAddr("192.0.2.10")
	vip6  = netip.MustParseAddr("2001:db8::10")
	peerA = netip.MustParseAddr("198.51.100.1")
	p4    = netip.MustParsePrefix("192.0.2.10/32")
)

// step is one event at t0+at and the actions it must return, as their
// String (reasons included), and the deadline after it.
type step struct {
	at   time.Duration
	ev   Event
	want []string
	next time.Duration // -1: no deadline
}

// ready brings vip4 and vip6 to announced with one session up.
var ready = []step{
	{ev: Session{Peer: peerA, Up: true}, next: -1},
	{ev: Fingerprint{Agreed: true}, next: -1},
	{ev: Service{VIP: vip4, Programmed: true}, next: -1},
	{ev: Service{VIP: vip6, Programmed: true}, next: -1},
	{ev: Quorum{VIP: vip6, Up: true}, want: []string{"announce 2001:db8::10/128 65000:7 (service programmed, quorum up)"}, next: -1},
	{ev: Quorum{VIP: vip4, Up: true}, want: []string{"announce 192.0.2.10/32 65000:7 (service programmed, quorum up)"}, next: -1},
}

func TestAnnouncer(t *testing.T) {
	cfg := Config{GracefulShutdownWait: 5 * time.Second, Communities: []Community{65000<<16 | 7}}
	tests := []struct {
		name  string
		cfg   *Config
		steps []step
		done  bool
	}{
		{name: "announced only with service, quorum and the gate", steps: []step{
			{ev: Quorum{VIP: vip4, Up: true}, next: -1},
			{ev: Service{VIP: vip4, Programmed: true}, next: -1}, // gate closed
			{ev: Fingerprint{Agreed: true}, want: []string{"announce 192.0.2.10/32 65000:7 (service programmed, quorum up)"}, next: -1},
		}},
		{name: "quorum lost: graceful shutdown, then the withdrawal at the deadline", steps: append(ready[:len(ready):len(ready)],
			step{at: time.Second, ev: Quorum{VIP: vip4, Up: false},
				want: []string{"announce 192.0.2.10/32 65000:7 65535:0 (graceful shutdown: quorum down, withdrawal in 5s)"}, next: 6 * time.Second},
			step{at: 5 * time.Second, ev: TimerFired{}, next: 6 * time.Second}, // early: nothing
			step{at: 6 * time.Second, ev: TimerFired{}, want: []string{"withdraw 192.0.2.10/32 (quorum down, graceful shutdown wait over)"}, next: -1},
		)},
		{name: "quorum back during the wait: announced again without the community", steps: append(ready[:len(ready):len(ready)],
			step{at: time.Second, ev: Quorum{VIP: vip4, Up: false},
				want: []string{"announce 192.0.2.10/32 65000:7 65535:0 (graceful shutdown: quorum down, withdrawal in 5s)"}, next: 6 * time.Second},
			step{at: 2 * time.Second, ev: Quorum{VIP: vip4, Up: true}, want: []string{"announce 192.0.2.10/32 65000:7 (graceful shutdown cancelled)"}, next: -1},
		)},
		{name: "gate closed after joining withdraws nothing", steps: append(ready[:len(ready):len(ready)],
			step{ev: Fingerprint{Agreed: false}, next: -1},
			step{at: time.Second, ev: Quorum{VIP: vip4, Up: false},
				want: []string{"announce 192.0.2.10/32 65000:7 65535:0 (graceful shutdown: quorum down, withdrawal in 5s)"}, next: 6 * time.Second},
			// a VIP still shutting down is announced: the gate does not hold it
			step{at: 2 * time.Second, ev: Quorum{VIP: vip4, Up: true}, want: []string{"announce 192.0.2.10/32 65000:7 (graceful shutdown cancelled)"}, next: -1},
			step{at: 3 * time.Second, ev: Quorum{VIP: vip4, Up: false},
				want: []string{"announce 192.0.2.10/32 65000:7 65535:0 (graceful shutdown: quorum down, withdrawal in 5s)"}, next: 8 * time.Second},
			step{at: 8 * time.Second, ev: TimerFired{}, want: []string{"withdraw 192.0.2.10/32 (quorum down, graceful shutdown wait over)"}, next: -1},
			// once withdrawn, it waits for the gate
			step{at: 9 * time.Second, ev: Quorum{VIP: vip4, Up: true}, next: -1},
			step{at: 10 * time.Second, ev: Fingerprint{Agreed: true}, want: []string{"announce 192.0.2.10/32 65000:7 (service programmed, quorum up)"}, next: -1},
		)},
		{name: "gate per VIP: each opens its own, the global one all", steps: []step{
			{ev: Service{VIP: vip4, Programmed: true}, next: -1},
			{ev: Quorum{VIP: vip4, Up: true}, next: -1},
			{ev: Service{VIP: vip6, Programmed: true}, next: -1},
			{ev: Quorum{VIP: vip6, Up: true}, next: -1},
			{ev: Fingerprint{VIP: vip6, Agreed: true}, want: []string{"announce 2001:db8::10/128 65000:7 (service programmed, quorum up)"}, next: -1},
			{ev: Fingerprint{VIP: vip6, Agreed: false}, next: -1}, // closing withdraws nothing
			{ev: Fingerprint{VIP: vip4, Agreed: false}, next: -1},
			{ev: Fingerprint{Agreed: true}, want: []string{"announce 192.0.2.10/32 65000:7 (service programmed, quorum up)"}, next: -1},
		}},
		{name: "service gone: withdrawn at once", steps: append(ready[:len(ready):len(ready)],
			step{ev: Service{VIP: vip6, Programmed: false}, want: []string{"withdraw 2001:db8::10/128 (IPVS service not programmed)"}, next: -1},
		)},
		{name: "service gone during the wait: withdrawn at once", steps: append(ready[:len(ready):len(ready)],
			step{ev: Quorum{VIP: vip6, Up: false},
				want: []string{"announce 2001:db8::10/128 65000:7 65535:0 (graceful shutdown: quorum down, withdrawal in 5s)"}, next: 5 * time.Second},
			step{at: time.Second, ev: Service{VIP: vip6, Programmed: false}, want: []string{"withdraw 2001:db8::10/128 (IPVS service not programmed)"}, next: -1},
		)},
		{name: "drain --self and back", steps: append(ready[:len(ready):len(ready)],
			step{ev: DrainSelf{On: true}, want: []string{
				"announce 192.0.2.10/32 65000:7 65535:0 (graceful shutdown: drain --self, withdrawal in 5s)",
				"announce 2001:db8::10/128 65000:7 65535:0 (graceful shutdown: drain --self, withdrawal in 5s)",
			}, next: 5 * time.Second},
			step{at: 5 * time.Second, ev: TimerFired{}, want: []string{
				"withdraw 192.0.2.10/32 (drain --self, graceful shutdown wait over)",
				"withdraw 2001:db8::10/128 (drain --self, graceful shutdown wait over)",
			}, next: -1},
			step{at: 6 * time.Second, ev: DrainSelf{On: false}, want: []string{
				"announce 192.0.2.10/32 65000:7 (service programmed, quorum up)",
				"announce 2001:db8::10/128 65000:7 (service programmed, quorum up)",
			}, next: -1},
		)},
		{name: "no session: no wait", steps: append(ready[:len(ready):len(ready)],
			step{ev: Session{Peer: peerA, Up: false}, next: -1},
			step{ev: Quorum{VIP: vip4, Up: false}, want: []string{"withdraw 192.0.2.10/32 (quorum down, no BGP session established)"}, next: -1},
		)},
		{name: "session lost during the wait: withdrawn at once", steps: append(ready[:len(ready):len(ready)],
			step{ev: Quorum{VIP: vip4, Up: false},
				want: []string{"announce 192.0.2.10/32 65000:7 65535:0 (graceful shutdown: quorum down, withdrawal in 5s)"}, next: 5 * time.Second},
			step{at: time.Second, ev: Session{Peer: peerA, Up: false}, want: []string{"withdraw 192.0.2.10/32 (quorum down, no BGP session established)"}, next: -1},
		)},
		{name: "wait 0: withdrawn at once", cfg: &Config{}, steps: []step{
			{ev: Session{Peer: peerA, Up: true}, next: -1},
			{ev: Fingerprint{Agreed: true}, next: -1},
			{ev: Service{VIP: vip4, Programmed: true}, next: -1},
			{ev: Quorum{VIP: vip4, Up: true}, want: []string{"announce 192.0.2.10/32 (service programmed, quorum up)"}, next: -1},
			{ev: Quorum{VIP: vip4, Up: false}, want: []string{"withdraw 192.0.2.10/32 (quorum down, graceful shutdown wait 0)"}, next: -1},
		}},
		{name: "removed: withdrawn at once and forgotten", steps: append(ready[:len(ready):len(ready)],
			step{ev: Remove{VIP: vip4}, want: []string{"withdraw 192.0.2.10/32 (removed from the configuration)"}, next: -1},
			step{ev: Remove{VIP: vip4}, next: -1},
		)},
		{name: "stop: graceful, then done", done: true, steps: append(ready[:len(ready):len(ready)],
			step{at: time.Second, ev: Stop{}, want: []string{
				"announce 192.0.2.10/32 65000:7 65535:0 (graceful shutdown: stopping, withdrawal in 5s)",
				"announce 2001:db8::10/128 65000:7 65535:0 (graceful shutdown: stopping, withdrawal in 5s)",
			}, next: 6 * time.Second},
			step{at: 2 * time.Second, ev: DrainSelf{On: false}, next: 6 * time.Second}, // nothing brings it back
			step{at: 6 * time.Second, ev: TimerFired{}, want: []string{
				"withdraw 192.0.2.10/32 (stopping, graceful shutdown wait over)",
				"withdraw 2001:db8::10/128 (stopping, graceful shutdown wait over)",
			}, next: -1},
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			if tt.cfg != nil {
				c = *tt.cfg
			}
			a, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				var got []string
				for _, act := range a.Step(t0.Add(s.at), s.ev) {
					got = append(got, act.String())
				}
				if diff := cmp.Diff(s.want, got); diff != "" {
					t.Fatalf("step %d %T%+v: actions (-want +got)\n%s", i, s.ev, s.ev, diff)
				}
				want := time.Time{}
				if s.next >= 0 {
					want = t0.Add(s.next)
				}
				if got := a.NextDeadline(); !got.Equal(want) {
					t.Fatalf("step %d %T%+v: next deadline %v, want %v", i, s.ev, s.ev, got, want)
				}
			}
			if got := a.Done(); got != tt.done {
				t.Errorf("Done() = %v, want %v", got, tt.done)
			}
		})
	}
}

func TestAnnouncerActions(t *testing.T) {
	a, err := New(Config{GracefulShutdownWait: time.Second, Communities: []Community{65000<<16 | 1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range ready[:4] {
		a.Step(t0, ev.ev)
	}
	got := a.Step(t0, Quorum{VIP: vip4, Up: true})
	got = append(got, a.Step(t0, Quorum{VIP: vip4, Up: false})...)
	want := []Action{
		Announce{Prefix: p4, Communities: []Community{65000<<16 | 1}, Reason: "service programmed, quorum up"},
		Announce{Prefix: p4, Communities: []Community{65000<<16 | 1, GracefulShutdown}, GracefulShutdown: true, Reason: "quorum down, withdrawal in 1s"},
	}
	if diff := cmp.Diff(want, got, netipCmp); diff != "" {
		t.Fatalf("actions (-want +got)\n%s", diff)
	}
	// The actions own their slices: the Announcer's config is not shared.
	got[0].(Announce).Communities[0] = 1
	if got := a.Step(t0, Quorum{VIP: vip4, Up: true}); !cmp.Equal(got[0].(Announce).Communities, []Community{65000<<16 | 1}) {
		t.Fatalf("communities changed through an action: %v", got)
	}
	st := a.Status()
	wantSt := []VIPStatus{{VIP: vip4, State: Announced}, {VIP: vip6, State: Withdrawn, Why: "quorum down"}}
	if diff := cmp.Diff(wantSt, st, netipCmp); diff != "" {
		t.Fatalf("status (-want +got)\n%s", diff)
	}
}

var netipCmp = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{GracefulShutdownWait: -time.Second}, "negative"},
		{Config{Communities: []Community{GracefulShutdown}}, "65535:0"},
		{Config{Communities: make([]Community, MaxCommunities+1)}, "at most 32"},
		{Config{GracefulShutdownWait: time.Second, Communities: []Community{1}}, ""},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func TestCommunity(t *testing.T) {
	for _, s := range []string{"65535:0", "0:0", "65000:65535"} {
		c, err := ParseCommunity(s)
		if err != nil || c.String() != s {
			t.Errorf("ParseCommunity(%q) = %v, %v", s, c, err)
		}
	}
	if GracefulShutdown.String() != "65535:0" {
		t.Errorf("GracefulShutdown = %s", GracefulShutdown)
	}
	for _, s := range []string{"", "1", "65536:0", "1:65536", "-1:0", "a:b", "1:2:3"} {
		if _, err := ParseCommunity(s); err == nil {
			t.Errorf("ParseCommunity(%q): no error", s)
		}
	}
}
