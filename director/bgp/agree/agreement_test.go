package agree

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	t0    = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	vip1  = netip.MustParseAddr("192.0.2.100")
	vip2  = netip.MustParseAddr("192.0.2.200")
	lb2   = netip.MustParseAddr("10.0.0.12")
	lb3   = netip.MustParseAddr("10.0.0.13")
	web   = key("TCP 192.0.2.100:80")
	dns   = key("UDP 192.0.2.100:53")
	other = key("TCP 192.0.2.200:80")
)

func svc(k Key, fp uint64, announcing bool) Service {
	return Service{Key: k, Fingerprint: fp, HasFingerprint: true, Announcing: announcing}
}

func msg(node string, ss ...Service) *Message {
	return &Message{Session: 1, Node: node, Services: ss}
}

// heard is one report: from peer, at t0+at.
type heard struct {
	peer netip.Addr
	at   time.Duration
	m    *Message
}

func TestGates(t *testing.T) {
	own := []Service{svc(web, 0xa, false), svc(dns, 0xb, false), svc(other, 0xc, false)}
	for _, tt := range []struct {
		name  string
		peers []netip.Addr
		own   []Service
		heard []heard
		now   time.Duration
		want  []Gate
	}{
		{
			name: "no peer configured: open at once",
			own:  own,
			want: []Gate{{vip1, true, "no other director configured"}, {vip2, true, "no other director configured"}},
		},
		{
			name:  "start: waiting for a peer not heard yet",
			peers: []netip.Addr{lb2},
			own:   own,
			now:   2 * time.Second,
			want: []Gate{{vip1, false, "start: waiting up to 3s to hear 10.0.0.12"},
				{vip2, false, "start: waiting up to 3s to hear 10.0.0.12"}},
		},
		{
			name:  "lone director: open after the grace",
			peers: []netip.Addr{lb2, lb3},
			own:   own,
			now:   3 * time.Second,
			want: []Gate{{vip1, true, "no director announcing it heard within 3s"},
				{vip2, true, "no director announcing it heard within 3s"}},
		},
		{
			name:  "every peer heard, none announcing: open before the grace",
			peers: []netip.Addr{lb2},
			own:   own,
			heard: []heard{{lb2, 0, msg("lb2", svc(web, 0xff, false), svc(dns, 0xb, false))}},
			now:   time.Second,
			want: []Gate{{vip1, true, "no director announcing it heard within 3s"},
				{vip2, true, "no director announcing it heard within 3s"}},
		},
		{
			name:  "joining: same table as the announcing peer",
			peers: []netip.Addr{lb2},
			own:   own,
			heard: []heard{{lb2, 0, msg("lb2", svc(web, 0xa, true), svc(dns, 0xb, true))}},
			now:   time.Second,
			want: []Gate{{vip1, true, "agrees with lb2 (10.0.0.12)"},
				{vip2, true, "no director announcing it heard within 3s"}},
		},
		{
			name:  "joining: a fingerprint differs",
			peers: []netip.Addr{lb2},
			own:   own,
			heard: []heard{{lb2, 0, msg("lb2", svc(web, 0xa, true), svc(dns, 0xbb, true))}},
			now:   10 * time.Second / 10,
			want: []Gate{{vip1, false, "differs from lb2 (10.0.0.12), which announces it: UDP 192.0.2.100:53: fingerprint 00000000000000bb there, 000000000000000b here"},
				{vip2, true, "no director announcing it heard within 3s"}},
		},
		{
			name:  "joining: a service missing there",
			peers: []netip.Addr{lb2},
			own:   own,
			heard: []heard{{lb2, 0, msg("lb2", svc(web, 0xa, true))}},
			want:  []Gate{{vip1, false, "differs from lb2 (10.0.0.12), which announces it: UDP 192.0.2.100:53: not a service there"}, {vip2, true, "no director announcing it heard within 3s"}},
		},
		{
			name:  "joining: a service missing here",
			peers: []netip.Addr{lb2},
			own:   []Service{svc(web, 0xa, false), svc(other, 0xc, false)},
			heard: []heard{{lb2, 0, msg("lb2", svc(web, 0xa, true), svc(dns, 0xb, true))}},
			want:  []Gate{{vip1, false, "differs from lb2 (10.0.0.12), which announces it: UDP 192.0.2.100:53: not a service here"}, {vip2, true, "no director announcing it heard within 3s"}},
		},
		{
			name:  "our fingerprint not taken yet",
			peers: []netip.Addr{lb2},
			own:   []Service{{Key: web}, svc(dns, 0xb, false), svc(other, 0xc, false)},
			heard: []heard{{lb2, 0, msg("lb2", svc(web, 0xa, true), svc(dns, 0xb, true))}},
			want:  []Gate{{vip1, false, "differs from lb2 (10.0.0.12), which announces it: TCP 192.0.2.100:80: no fingerprint here yet (not written to IPVS)"}, {vip2, true, "no director announcing it heard within 3s"}},
		},
		{
			name:  "two announcing peers: both must agree",
			peers: []netip.Addr{lb2, lb3},
			own:   own,
			heard: []heard{
				{lb2, 0, msg("lb2", svc(web, 0xa, true), svc(dns, 0xb, true), svc(other, 0xc, true))},
				{lb3, 0, msg("lb3", svc(web, 0xa, true), svc(dns, 0xb, true), svc(other, 0xd, true))},
			},
			want: []Gate{{vip1, true, "agrees with lb2 (10.0.0.12), lb3 (10.0.0.13)"},
				{vip2, false, "differs from lb3 (10.0.0.13), which announces it: TCP 192.0.2.200:80: fingerprint 000000000000000d there, 000000000000000c here"}},
		},
		{
			name:  "a differing peer gone stale no longer counts",
			peers: []netip.Addr{lb2, lb3},
			own:   own,
			heard: []heard{
				{lb2, 5 * time.Second, msg("lb2", svc(web, 0xa, true), svc(dns, 0xb, true))},
				{lb3, 0, msg("lb3", svc(web, 0xf, true), svc(dns, 0xb, true))},
			},
			now: 5*time.Second + time.Millisecond, // lb3 last heard 5 s ago, more than 3 s
			want: []Gate{{vip1, true, "agrees with lb2 (10.0.0.12)"},
				{vip2, true, "no director announcing it heard within 3s"}},
		},
		{
			name:  "every announcing peer stale: open (never dark forever)",
			peers: []netip.Addr{lb2},
			own:   own,
			heard: []heard{{lb2, 0, msg("lb2", svc(web, 0xf, true), svc(dns, 0xb, true))}},
			now:   3*time.Second + time.Nanosecond,
			want: []Gate{{vip1, true, "no director announcing it heard within 3s"},
				{vip2, true, "no director announcing it heard within 3s"}},
		},
		{
			name:  "at the staleness bound it still counts",
			peers: []netip.Addr{lb2},
			own:   own,
			heard: []heard{{lb2, 0, msg("lb2", svc(web, 0xf, true), svc(dns, 0xb, true))}},
			now:   3 * time.Second,
			want: []Gate{{vip1, false, "differs from lb2 (10.0.0.12), which announces it: TCP 192.0.2.100:80: fingerprint 000000000000000f there, 000000000000000a here"},
				{vip2, true, "no director announcing it heard within 3s"}},
		},
		{
			name:  "an older report does not replace a newer one",
			peers: []netip.Addr{lb2},
			own:   own,
			heard: []heard{
				{lb2, 2 * time.Second, msg("lb2", svc(web, 0xa, true), svc(dns, 0xb, true))},
				{lb2, time.Second, msg("lb2", svc(web, 0xf, true), svc(dns, 0xb, true))},
			},
			now: 2 * time.Second,
			want: []Gate{{vip1, true, "agrees with lb2 (10.0.0.12)"},
				{vip2, true, "no director announcing it heard within 3s"}},
		},
		{
			name:  "a non-peer's report is ignored",
			peers: []netip.Addr{lb2},
			own:   own,
			heard: []heard{{lb3, 0, msg("lb3", svc(web, 0xf, true))}},
			now:   3 * time.Second,
			want: []Gate{{vip1, true, "no director announcing it heard within 3s"},
				{vip2, true, "no director announcing it heard within 3s"}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAgreement(Config{}, t0, tt.peers)
			a.SetOwn([]netip.Addr{vip2, vip1}, tt.own)
			for _, h := range tt.heard {
				a.Heard(h.peer, t0.Add(h.at), h.m)
			}
			if diff := cmp.Diff(tt.want, a.Gates(t0.Add(tt.now)), netipEq); diff != "" {
				t.Errorf("gates (-want +got)\n%s", diff)
			}
		})
	}
}

// TestJoin walks a joining director on the manual clock: waiting at the
// start, refused while its table differs, open once it matches; the gate
// closing again later is the Announcer's business (it ignores it).
func TestJoin(t *testing.T) {
	a := NewAgreement(Config{}, t0, []netip.Addr{lb2})
	a.SetOwn([]netip.Addr{vip1}, []Service{svc(web, 0x1, false)})
	now := t0
	step := func(d time.Duration, want Gate) {
		t.Helper()
		now = now.Add(d)
		if diff := cmp.Diff([]Gate{want}, a.Gates(now), netipEq); diff != "" {
			t.Errorf("at +%v (-want +got)\n%s", now.Sub(t0), diff)
		}
	}
	step(0, Gate{vip1, false, "start: waiting up to 3s to hear 10.0.0.12"})
	if d := a.NextDeadline(now); !d.Equal(t0.Add(3 * time.Second)) {
		t.Errorf("deadline %v, want the end of the grace", d)
	}
	a.Heard(lb2, now, msg("lb2", svc(web, 0x2, true)))
	step(0, Gate{vip1, false, "differs from lb2 (10.0.0.12), which announces it: TCP 192.0.2.100:80: fingerprint 0000000000000002 there, 0000000000000001 here"})
	for range 5 { // lb2 keeps reporting each second: still closed past the grace
		a.Heard(lb2, now, msg("lb2", svc(web, 0x2, true)))
		step(time.Second, Gate{vip1, false, "differs from lb2 (10.0.0.12), which announces it: TCP 192.0.2.100:80: fingerprint 0000000000000002 there, 0000000000000001 here"})
	}
	if d := a.NextDeadline(now); !d.Equal(now.Add(2*time.Second + time.Nanosecond)) {
		t.Errorf("deadline %v, want lb2 going stale", d.Sub(t0))
	}
	a.SetOwn([]netip.Addr{vip1}, []Service{svc(web, 0x2, false)}) // the pool converged
	step(0, Gate{vip1, true, "agrees with lb2 (10.0.0.12)"})
	want := []PeerStatus{{Addr: lb2, Node: "lb2", Heard: now.Add(-time.Second), Fresh: true, Announcing: []netip.Addr{vip1}, Agree: true}}
	if diff := cmp.Diff(want, a.Peers(now), netipEq); diff != "" {
		t.Errorf("peers (-want +got)\n%s", diff)
	}
}

func TestPeers(t *testing.T) {
	a := NewAgreement(Config{Stale: 2 * time.Second}, t0, []netip.Addr{lb3, lb2, lb2})
	a.SetOwn([]netip.Addr{vip1, vip2}, []Service{svc(web, 0xa, true), svc(other, 0xc, true)})
	a.Heard(lb2, t0, msg("lb2", svc(web, 0xa, true), svc(key("TCP 192.0.2.250:80"), 0x9, true)))
	now := t0.Add(time.Second)
	want := []PeerStatus{
		{Addr: lb2, Node: "lb2", Heard: t0, Fresh: true, Announcing: []netip.Addr{vip1, netip.MustParseAddr("192.0.2.250")}, Agree: true},
		{Addr: lb3, Disagree: "never heard"},
	}
	if diff := cmp.Diff(want, a.Peers(now), netipEq); diff != "" {
		t.Errorf("peers (-want +got)\n%s", diff)
	}
	a.Heard(lb3, t0, msg("lb3", svc(other, 0xd, false)))
	now = t0.Add(3 * time.Second)
	want = []PeerStatus{
		{Addr: lb2, Node: "lb2", Heard: t0, Announcing: []netip.Addr{vip1, netip.MustParseAddr("192.0.2.250")}, Disagree: "not heard for more than 2s"},
		{Addr: lb3, Node: "lb3", Heard: t0, Disagree: "not heard for more than 2s"},
	}
	if diff := cmp.Diff(want, a.Peers(now), netipEq); diff != "" {
		t.Errorf("stale peers (-want +got)\n%s", diff)
	}
	a.Heard(lb3, now, msg("lb3", svc(other, 0xd, false)))
	if got := a.Peers(now)[1]; got.Agree || got.Disagree != "TCP 192.0.2.200:80: fingerprint 000000000000000d there, 000000000000000c here" {
		t.Errorf("lb3: %+v", got)
	}
	a.SetPeers([]netip.Addr{lb3})
	if got := a.Peers(now); len(got) != 1 || got[0].Addr != lb3 || got[0].Node != "lb3" {
		t.Errorf("after SetPeers: %+v", got)
	}
}
