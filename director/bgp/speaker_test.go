package bgp

import (
	"net/netip"
	"strings"
	"testing"
	"time"
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
