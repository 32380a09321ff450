package loadgen_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/loadgen"
)

// TestMeasureRate measures the highest rate a run sustains against an
// in-process loopback server (which shares the CPUs), for new and for
// keep-alive connections. It only logs; it runs when
// TANDEM_LOADGEN_MEASURE=1 and takes about 15 s.
func TestMeasureRate(t *testing.T) {
	if os.Getenv("TANDEM_LOADGEN_MEASURE") == "" {
		t.Skip("measurement: set TANDEM_LOADGEN_MEASURE=1")
	}
	srv := nameServer(t, "rs1", false)
	for _, ratio := range []float64{0, 1} {
		for _, rate := range []float64{2000, 4000, 8000, 12000, 16000, 24000, 32000} {
			rep, err := loadgen.Run(context.Background(), loadgen.Config{
				Target:         loadgen.Target{Addr: srv.addr()},
				Rate:           rate,
				Duration:       time.Second,
				KeepAliveRatio: ratio,
				KeepAliveConns: 32,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("keep-alive %.0f%% rate %5.0f/s: sent %5d ok %5d failed %d skipped %5d in %v; p50 %v p99 %v max %v",
				ratio*100, rate, rep.Sent, rep.OK, rep.Failed, rep.Skipped, rep.End.Sub(rep.Start).Round(time.Millisecond),
				rep.Latency.P50, rep.Latency.P99, rep.Latency.Max)
			// Saturated: requests skipped or failed, latency queued up, or
			// the run overran.
			if rep.Skipped > rep.Sent/100 || rep.Failed > 0 || rep.Latency.P99 > 50*time.Millisecond ||
				rep.End.Sub(rep.Start) > 1100*time.Millisecond {
				break
			}
		}
	}
}
