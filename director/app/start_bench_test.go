package app

import (
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/shared/testutil"
)

// bigNative is bigKeepalived's table in the native YAML format: n
// services × 10 real servers without checks, every weight 1.
func bigNative(n int) string {
	var b strings.Builder
	b.WriteString("version: 1\nnode: bench\nheartbeat:\n  enabled: false\nmetrics:\n  enabled: false\nvirtual_servers:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - address: 198.18.%d.%d:80\n    protocol: TCP\n    lvs_sched: wlc\n    real_servers:\n", i/250, i%250+1)
		for j := range 10 {
			fmt.Fprintf(&b, "      - address: 198.19.0.%d:80\n        weight: 1\n", j+1)
		}
	}
	return b.String()
}

// freeMetricsPort moves the metrics listener of a keepalived.conf (on by
// default, port 9480) to a free port.
func freeMetricsPort(c *config.Config) {
	if c.Metrics.Enabled {
		c.Metrics.Listen = "127.0.0.1:0"
	}
}

// phaseAttr is one duration attribute of a text log line: key=1.5ms.
var phaseAttr = regexp.MustCompile(`(?:^| )("[^"]+"|[a-z_]+)=([0-9.]+(?:ns|µs|ms|s))`)

// phaseTimes reads the durations of the log line whose msg is msg (the
// last one), by key.
func phaseTimes(tb testing.TB, log, msg string) map[string]time.Duration {
	tb.Helper()
	var line string
	for l := range strings.Lines(log) {
		if strings.Contains(l, " msg="+msg+" ") || strings.Contains(l, ` msg="`+msg+`" `) {
			line = l
		}
	}
	if line == "" {
		tb.Fatalf("no %q line in the log:\n%s", msg, log)
	}
	out := map[string]time.Duration{}
	for _, m := range phaseAttr.FindAllStringSubmatch(line, -1) {
		d, err := time.ParseDuration(m[2])
		if err != nil {
			tb.Fatalf("%s: %v", line, err)
		}
		out[strings.Trim(m[1], `"`)] = d
	}
	return out
}

// reportPhases reports each phase's mean per op (ms-NAME), and
// "ms-own": took less the kernel's phases (the fake's time here).
func reportPhases(b *testing.B, sums map[string]time.Duration, n int) {
	for k, d := range sums {
		b.ReportMetric(float64(d.Microseconds())/1000/float64(n), "ms-"+strings.ReplaceAll(k, " ", "_"))
	}
	own := sums["took"] - sums["kernel"] - sums["kernel_read"]
	b.ReportMetric(float64(own.Microseconds())/1000/float64(n), "ms-own")
}

// BenchmarkStart1000x10 is a cold start on 1,000 services × 10 real
// servers, on the fake kernel (empty table), logging at info as the
// daemon does: the harness's Load, New and Run until ready, then stop.
// Each phase of the start is reported from the "ready" line (ms-NAME),
// with ms-own the daemon's own time (took less the fake kernel's); the
// start writes 11,000 operations.
func BenchmarkStart1000x10(b *testing.B) {
	for _, f := range []struct {
		name string
		text string
	}{{"keepalived", bigKeepalived(1000, 1)}, {"native", bigNative(1000)}} {
		b.Run(f.name, func(b *testing.B) {
			sums := map[string]time.Duration{}
			n := 0
			for b.Loop() {
				// Each start on a heap without the last one's garbage, as
				// a new process would.
				b.StopTimer()
				runtime.GC()
				b.StartTimer()
				var logs testutil.SyncBuffer
				h := startWith(b, f.text, nil, func(o *Options) {
					o.InsecureHeartbeat = true
					o.adjust = freeMetricsPort
					o.Log = slog.New(slog.NewTextHandler(&logs, nil)) // info, the daemon's default
				})
				b.StopTimer()
				if ops := len(h.ipvs.CallStrings()); ops != 11000 {
					b.Fatalf("start wrote %d operations, want 11,000", ops)
				}
				for k, d := range phaseTimes(b, logs.String(), "ready") {
					sums[k] += d
				}
				n++
				if lines := strings.Count(logs.String(), "\n"); lines > 50 {
					b.Fatalf("start logged %d lines at info:\n%s", lines, logs.String())
				}
				h.stop()
				*h = harness{t: b} // the Cleanup's stop has nothing to do: let the daemon go
				b.StartTimer()
			}
			reportPhases(b, sums, n)
		})
	}
}

// BenchmarkReloadPhases1000x10 is BenchmarkReloadOneWeight (one weight
// changed, SIGHUP's reload, 1,000 × 10 on the fake kernel) with each
// phase of the reload reported from its "configuration reloaded" line
// (ms-NAME; ms-own: took less the fake kernel's time).
func BenchmarkReloadPhases1000x10(b *testing.B) {
	for _, f := range []struct {
		name string
		text func(w int) string
	}{{"keepalived", func(w int) string { return bigKeepalived(1000, w) }}} {
		b.Run(f.name, func(b *testing.B) {
			var logs testutil.SyncBuffer
			h := startWith(b, f.text(1), nil, func(o *Options) {
				o.InsecureHeartbeat = true
				o.adjust = freeMetricsPort
				o.Log = slog.New(slog.NewTextHandler(&logs, nil))
			})
			texts := [2]string{f.text(1), f.text(2)}
			sums := map[string]time.Duration{}
			n, w := 0, 1
			for b.Loop() {
				b.StopTimer()
				w = 3 - w
				h.write(texts[w-1])
				calls := len(h.ipvs.CallStrings())
				b.StartTimer()
				if err := h.call("reload", nil, nil); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if got := h.ipvs.CallStrings()[calls:]; len(got) != 1 {
					b.Fatalf("reload wrote %q, want one operation", got)
				}
				for k, d := range phaseTimes(b, logs.String(), "configuration reloaded") {
					sums[k] += d
				}
				n++
				b.StartTimer()
			}
			b.StopTimer()
			reportPhases(b, sums, n)
			h.stop()
		})
	}
}

// TestReloadLogAccounts: the phases of the reload's log line add up to
// its took (each is rounded to the microsecond).
func TestReloadLogAccounts(t *testing.T) {
	var logs testutil.SyncBuffer
	h := startWith(t, bigKeepalived(20, 1), nil, func(o *Options) {
		o.InsecureHeartbeat = true
		o.adjust = freeMetricsPort
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	})
	for _, tc := range []struct{ msg, text string }{
		{"ready", ""},
		{"configuration reloaded", bigKeepalived(20, 2)},
	} {
		if tc.text != "" {
			h.reload(tc.text)
		}
		ph := phaseTimes(t, logs.String(), tc.msg)
		var sum time.Duration
		for k, d := range ph {
			if k != "took" {
				sum += d
			}
		}
		took, ok := ph["took"]
		if !ok || len(ph) < 8 {
			t.Fatalf("%s: phases %v", tc.msg, ph)
		}
		if diff := (took - sum).Abs(); diff > time.Duration(len(ph))*time.Microsecond {
			t.Errorf("%s: phases add up to %v, took %v: %v", tc.msg, sum, took, ph)
		}
	}
}

// BenchmarkVirtualServersHash1000x10 is config_virtual_servers_info's
// hash of 1,000 services × 10 real servers (every start and reload).
func BenchmarkVirtualServersHash1000x10(b *testing.B) {
	cfg, err := config.Parse("bench.conf", []byte(bigKeepalived(1000, 1)))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		virtualServersHash(cfg)
	}
}

// TestReloadLogsNoLinePerDestination: a reload that replaces every real
// server of 20 services (200 added, 200 draining out) logs nothing per
// destination at info: the per-service line names them.
func TestReloadLogsNoLinePerDestination(t *testing.T) {
	conf := func(third int) string {
		var b strings.Builder
		b.WriteString("global_defs {\n    router_id bench\n}\n")
		for i := range 20 {
			fmt.Fprintf(&b, "virtual_server 198.18.0.%d 80 {\n    lb_kind DR\n    protocol TCP\n", i+1)
			for j := range 10 {
				fmt.Fprintf(&b, "    real_server 198.19.%d.%d 80 {\n        weight 1\n    }\n", third, j+1)
			}
			b.WriteString("}\n")
		}
		return b.String()
	}
	var logs testutil.SyncBuffer
	h := startWith(t, conf(0), nil, func(o *Options) {
		o.InsecureHeartbeat = true
		o.adjust = freeMetricsPort
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	})
	h.reload(conf(1))
	svcs, err := h.ipvs.Services()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs {
		added := 0
		for _, d := range s.Destinations {
			switch {
			case d.Addr.As4()[2] == 1 && d.Weight == 1:
				added++
			case d.Addr.As4()[2] == 0 && d.Weight != 0:
				t.Fatalf("after the reload %s has %s at weight %d, want it draining (0)", s.Service.Key(), d.Key(), d.Weight)
			}
		}
		if added != 10 {
			t.Fatalf("after the reload %s has %d of the new destinations, want 10", s.Service.Key(), added)
		}
	}
	var perDest []string
	for l := range strings.Lines(logs.String()) { // up to the reload's end
		if strings.Contains(l, "level=INFO") && strings.Contains(l, " rs=") {
			perDest = append(perDest, l)
		}
		if strings.Contains(l, `msg="configuration reloaded"`) {
			break
		}
	}
	if len(perDest) > 0 {
		t.Errorf("%d lines per destination at info, first %s", len(perDest), perDest[0])
	}
	if n := strings.Count(logs.String(), `msg="reload: virtual service changed"`); n != 20 {
		t.Errorf("%d lines \"virtual service changed\", want 20 (one per service)", n)
	}
}
