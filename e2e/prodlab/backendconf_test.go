package prodlab

import (
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/backend/config"
)

// TestBackendConfParses: tandem-backend's own parser takes BackendConf's
// text with every knob set and with none, and reads back what was set.
func TestBackendConfParses(t *testing.T) {
	full := BackendConf{Node: "rs1", RealIP: RSIPs["rs1"], Directors: []string{DirIPs["dir1"], DirIPs["dir2"]}, KeyFile: "/k/heartbeat.key",
		HeartbeatInterval: 2 * time.Second, ProbeInterval: 300 * time.Millisecond, ProbeTimeout: 250 * time.Millisecond,
		ProbeRise: 3, ProbeFall: 4, Dir: "/d/rs1", LogLevel: "debug"}
	c, err := config.Parse("full.yaml", []byte(full.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, full)
	}
	if c.Node != "rs1" || c.RealIP.String() != RSIPs["rs1"] || len(c.Directors) != 2 || c.Directors[1].Addr().String() != DirIPs["dir2"] ||
		c.Heartbeat.KeyFile != "/k/heartbeat.key" || c.Heartbeat.Interval != 2*time.Second ||
		c.Health.Interval != 300*time.Millisecond || c.Health.Timeout != 250*time.Millisecond || c.Health.Rise != 3 || c.Health.Fall != 4 ||
		c.Check.File != "/d/rs1/check.txt" || c.StateDir != "/d/rs1/state" || c.RuntimeDir != "/d/rs1/run" || c.Log.Level != "debug" {
		t.Errorf("parsed %+v\nfrom\n%s", c, full)
	}

	bare := BackendConf{Node: "rs2", RealIP: RSIPs["rs2"], Directors: []string{DirIPs["dir1"]}, KeyFile: "/k/heartbeat.key", Dir: "/d/rs2"}
	s := bare.String()
	if _, err := config.Parse("bare.yaml", []byte(s)); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	for _, no := range []string{"interval", "timeout", "rise", "fall", "log:"} {
		if strings.Contains(s, no) {
			t.Errorf("%q without its knob:\n%s", no, s)
		}
	}
}

// TestBackendConfExtraVIPs: ExtraVIPs follow VIP in vips; without them
// vips is VIP alone.
func TestBackendConfExtraVIPs(t *testing.T) {
	b := BackendConf{Node: "rs1", RealIP: RSIPs["rs1"], Directors: []string{DirIPs["dir1"]}, KeyFile: "/k/heartbeat.key", Dir: "/d/rs1"}
	if s := b.String(); !strings.Contains(s, "\nvips: ["+VIP+"]\n") {
		t.Errorf("vips without ExtraVIPs:\n%s", s)
	}
	b.ExtraVIPs = []string{"10.99.0.101"}
	c, err := config.Parse("extra.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if len(c.VIPs) != 2 || c.VIPs[0].String() != VIP || c.VIPs[1].String() != "10.99.0.101" {
		t.Errorf("vips %v from\n%s", c.VIPs, b)
	}
}
