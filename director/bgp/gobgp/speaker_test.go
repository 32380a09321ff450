package gobgp

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/clock/clocktest"
)

func TestPathRejectsNonHostRoutes(t *testing.T) {
	g := &Speaker{}
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
