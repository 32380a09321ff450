package vrrp

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/clock/clocktest"
	"github.com/tandemlb/tandem/shared/logging"
)

// TestDriverDropLog (issue 15): a flood of bad adverts logged one line per
// packet, and once per instance. Now: one line per reason per interval,
// with the suppressed count, and by one instance only.
func TestDriverDropLog(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	shared := logging.NewLimiter(time.Second, clk.Now)
	var drivers []*Driver
	for _, vrid := range []uint8{100, 101, 102} {
		cfg := fastCfg(func(c *InstanceConfig) { c.VRID = vrid })
		d, err := NewDriver(cfg, Options{Logger: log, Src: self, IfIndex: 2, Clock: clk, DropLog: shared})
		if err != nil {
			t.Fatal(err)
		}
		d.src = self
		drivers = append(drivers, d)
	}
	vip := netip.MustParseAddr("192.0.2.100")
	p := &Packet{Version: 3, Type: 1, VRID: 100, Priority: 150, MaxAdverInt: 100, Addresses: []netip.Addr{vip}}
	payload, err := p.Marshal(hiIP, MulticastGroup4)
	if err != nil {
		t.Fatal(err)
	}
	badTTL := Received{Payload: payload, Src: hiIP, Dst: MulticastGroup4, TTL: 64, IfIndex: 2}
	junk := Received{Payload: []byte{0x31}, Src: hiIP, Dst: MulticastGroup4, TTL: 255, IfIndex: 2} // too short for a VRID
	// 3 s of flood, 1000 packets of each kind per second; every driver's
	// socket sees every packet.
	for range 3000 {
		clk.Advance(time.Millisecond)
		for _, d := range drivers {
			d.check(badTTL)
			d.check(junk)
		}
	}
	out := buf.String()
	lines := strings.Count(out, "\n")
	t.Logf("%d log lines for 6000 bad packets seen by 3 instances:\n%s", lines, out)
	// ttl: 3 lines (one per second), by VRID 100 only; junk: 3 lines.
	if lines != 6 {
		t.Errorf("%d lines, want 6", lines)
	}
	if strings.Contains(out, "vrid=101") || strings.Contains(out, "vrid=102") {
		t.Errorf("an instance logged another VRID's packet:\n%s", out)
	}
	if !strings.Contains(out, "suppressed=") {
		t.Error("no suppressed count")
	}
	for _, d := range drivers {
		if st := d.Status(); st.Dropped[DropTTL] != 3000 {
			t.Errorf("vrid %d: dropped %v, want every packet counted", d.cfg.VRID, st.Dropped)
		}
	}
}
