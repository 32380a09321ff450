package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// figure is a PNG of docs/img, drawn by `make docs` (e2e/cmd/plots), that
// the page shows when it exists: never a reference to a missing image.
type figure struct{ name, alt, caption string }

// figureList is every figure the page can show, in order.
var figureList = []figure{
	{"failover-bench-crash", "Requests through the VIP and the VIP's holder when the master crashes, keepalived beside Tandem",
		"**Master crashed.** One run of each pair, its own (the table's medians are from [failover](benchmarks-failover.md)); " +
			"data: `docs/data/failover-bench.json`, written by `make bench-failover`. The master d1 is frozen, cut off and " +
			"killed at t = 0. Top: requests through the VIP per 50 ms (one every 10 ms, so 100/s when all are answered; " +
			"failed: no answer within 200 ms; the ripple around 100/s is the client's 10 ms timer against the bucket " +
			"edges). Bottom: which director holds the VIP."},
	{"failover-bench-stop", "Requests through the VIP and the VIP's holder when the master is stopped, keepalived beside Tandem",
		"**Master stopped (SIGTERM).** The same for a clean stop: keepalived's backup takes over after Skew_Time, " +
			"Tandem's at the goodbye of the peer probe."},
	{"drain-connections", "Active connections per real server during a drain",
		"**Drain.** Active connections per destination in the lab while rs1, then rs2 go into maintenance under " +
			"load, from the lab's Prometheus (data: `docs/data/drain-connections.json`): the drained server's " +
			"connections end as their clients close them, and the sorry server serves while both are out."},
}

// existingFigures returns the figures whose PNG is in docs/img.
func existingFigures(docs string) []figure {
	var out []figure
	for _, f := range figureList {
		if _, err := os.Stat(filepath.Join(docs, "img", f.name+".png")); err == nil {
			out = append(out, f)
		}
	}
	return out
}

// renderFigures is the page's "Figures" section, or "" without figures.
func renderFigures(figs []figure) string {
	if len(figs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("## Figures\n\n")
	for _, f := range figs {
		fmt.Fprintf(&b, "![%s](img/%s.png)\n\n%s\n\n", f.alt, f.name, f.caption)
	}
	return b.String()
}
