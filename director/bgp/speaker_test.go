package bgp

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/clock/clocktest"
)

func TestSpeakerConfigValidate(t *testing.T) {
	peer := PeerConfig{Addr: netip.MustParseAddr("192.0.2.1"), AS: 65000}
	ok := SpeakerConfig{LocalAS: 65001, RouterID: netip.MustParseAddr("10.0.0.1"), Peers: []PeerConfig{peer}}
	tests := []struct {
		name string
		edit func(*SpeakerConfig)
		want string
	}{
		{"ok", func(*SpeakerConfig) {}, ""},
		{"local AS", func(c *SpeakerConfig) { c.LocalAS = 0 }, "local AS 0"},
		{"router ID v6", func(c *SpeakerConfig) { c.RouterID = netip.MustParseAddr("::1") }, "router ID ::1"},
		{"no peer", func(c *SpeakerConfig) { c.Peers = nil }, "0 peers"},
		{"twice", func(c *SpeakerConfig) { c.Peers = []PeerConfig{peer, peer} }, "configured twice"},
		{"peer AS", func(c *SpeakerConfig) { c.Peers[0].AS = 0 }, "AS 0"},
		{"hold time", func(c *SpeakerConfig) { c.Peers[0].HoldTime = time.Second }, "hold time 1s"},
		{"mapped", func(c *SpeakerConfig) { c.Peers[0].Addr = netip.MustParseAddr("::ffff:192.0.2.1") }, "not a usable address"},
		{"password", func(c *SpeakerConfig) { c.Peers[0].Password = strings.Repeat("x", 81) }, "longer than 80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			c.Peers = append([]PeerConfig(nil), ok.Peers...)
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPathRejectsNonHostRoutes(t *testing.T) {
	g := &GoBGP{}
	for _, p := range []string{"192.0.2.0/24", "2001:db8::/64", "::ffff:192.0.2.1/128"} {
		if _, err := g.path(netip.MustParsePrefix(p), nil, false); err == nil {
			t.Errorf("path(%s): no error", p)
		}
	}
}

// TestLimitHandler: GoBGP's records below Warn are dropped, the others
// pass within the budget, and the next record that passes counts the
// dropped ones.
func TestLimitHandler(t *testing.T) {
	var buf bytes.Buffer
	clk := clocktest.New(time.Unix(1000, 0))
	log := slog.New(newLimitHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), clk)).With("component", "gobgp")
	log.Info("info is dropped")
	for range gobgpLogBurst + 5 {
		log.Warn("peer says")
	}
	if n := strings.Count(buf.String(), "peer says"); n != gobgpLogBurst {
		t.Fatalf("%d lines passed, want the burst %d:\n%s", n, gobgpLogBurst, buf.String())
	}
	if strings.Contains(buf.String(), "info is dropped") {
		t.Error("an Info record passed")
	}
	clk.Advance(2 * gobgpLogInterval)
	buf.Reset()
	log.Error("after")
	log.Error("after")
	log.Error("after") // no token left
	if got := buf.String(); strings.Count(got, "after") != 2 || !strings.Contains(got, "gobgp_lines_dropped=5") || !strings.Contains(got, "component=gobgp") {
		t.Errorf("after the refill:\n%s", got)
	}
}
