package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// A figure block in a page of docs/ is
//
//	<!-- figure NAME (…) -->
//	<!-- /figure -->
//
// fillFigures puts between the two lines the image docs/img/NAME.png and
// its caption when that PNG exists, and nothing when it does not, so that
// a page never shows a missing image and shows the figure as soon as
// `make docs` has drawn it. Everything outside the blocks is left as it is.

const (
	figureOpen  = "<!-- figure "
	figureClose = "<!-- /figure -->"
)

// figure is the text around one PNG.
type figure struct {
	alt     string
	caption string // one Markdown paragraph
}

// figures are the PNGs the pages show through a figure block
// (docs/benchmarks.md is generated: e2e/bench/cmd/summary writes its own).
var figures = map[string]figure{
	"drain-connections": {
		alt: "Active connections per real server during a drain",
		caption: "*A drain under load in the lab (the Prom1 scenario; data: `docs/data/drain-connections.json`, " +
			"the lab's Prometheus, drawn by `make docs`): active connections per destination of the first director, " +
			"`tandem_director_destination_active_connections`, scraped every second. rs1 goes into maintenance: its " +
			"weight goes to 0 at once, its keep-alive connections end as their clients close them, none is cut. Then " +
			"rs2 too, the sorry server takes the new connections, and both come back.*",
	},
	"failover-lab": {
		alt: "Requests per second through the VIP and each director's VRRP state during a failover",
		caption: "*A failover under load in the lab (the Prom1 scenario; data: `docs/data/failover-rps.json` and " +
			"`failover-state.json`, drawn by `make docs`). The master's tracked interface goes down: it enters FAULT " +
			"and the other director becomes MASTER. Then that one's too: no master, nothing is answered. Then both " +
			"come back. Top: the load generator's requests answered and failed per second through the VIP (the " +
			"director has no per-service request counter). Bottom: each director's `tandem_director_vrrp_state` " +
			"as Prometheus scraped it.*",
	},
	"failover-bench-crash": {
		alt: "Requests through the VIP and the VIP's holder when the master crashes: keepalived beside Tandem",
		caption: "*One crash run of the failover benchmark (`make bench-failover`; data: " +
			"`docs/data/failover-bench.json`): the master d1 is frozen, cut off and killed at t = 0. Top: requests " +
			"through the VIP per 50 ms (one every 10 ms, so 100/s when all are answered; failed = no answer within " +
			"200 ms; the ripple around 100/s is the client's 10 ms timer against the bucket edges). Bottom: which " +
			"director holds the VIP. Left, keepalived: the backup waits Master_Down_Interval " +
			"(2.6 to 3.6 s) from the last advert it heard. Right, tandem-director with `fast_failover`: the backup " +
			"takes over once the peer probe has missed its multiplier of probes.*",
	},
}

// fillFigures rewrites the figure blocks of every docs/*.md; a page with
// no change is not written.
func fillFigures(docs string, log *slog.Logger) error {
	pages, err := filepath.Glob(filepath.Join(docs, "*.md"))
	if err != nil {
		return err
	}
	var errs []error
	for _, page := range pages {
		old, err := os.ReadFile(page)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		exists := func(name string) bool {
			_, err := os.Stat(filepath.Join(docs, "img", name+".png"))
			return err == nil
		}
		updated, shown, err := fill(page, old, exists)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !bytes.Equal(old, updated) {
			if err := os.WriteFile(page, updated, 0o644); err != nil {
				errs = append(errs, err)
				continue
			}
			log.Info("figures updated", "page", page, "shown", strings.Join(shown, ", "))
		}
	}
	return errors.Join(errs...)
}

// fill returns page (named name, for errors) with every figure block
// filled, and the figures it shows.
func fill(name string, page []byte, exists func(figure string) bool) ([]byte, []string, error) {
	lines := strings.SplitAfter(string(page), "\n")
	var out strings.Builder
	var shown []string
	open := 0 // the line of the block being skipped, 1-based; 0 outside one
	for i, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, figureOpen):
			if open > 0 {
				return nil, nil, fmt.Errorf("%s:%d: figure block inside the one of line %d", name, i+1, open)
			}
			fields := strings.Fields(strings.TrimSuffix(strings.TrimPrefix(t, figureOpen), "-->"))
			if len(fields) == 0 {
				return nil, nil, fmt.Errorf("%s:%d: figure block without a name", name, i+1)
			}
			fig := strings.TrimSuffix(fields[0], ":")
			f, ok := figures[fig]
			if !ok {
				return nil, nil, fmt.Errorf("%s:%d: figure %q: no such figure (e2e/cmd/plots/figures.go)", name, i+1, fig)
			}
			open = i + 1
			out.WriteString(l)
			if exists(fig) {
				fmt.Fprintf(&out, "\n![%s](img/%s.png)\n\n%s\n\n", f.alt, fig, wrap(f.caption, 76))
				shown = append(shown, fig)
			}
		case t == figureClose:
			if open == 0 {
				return nil, nil, fmt.Errorf("%s:%d: %s without its opening line", name, i+1, figureClose)
			}
			open = 0
			out.WriteString(l)
		case open == 0:
			out.WriteString(l)
		}
	}
	if open > 0 {
		return nil, nil, fmt.Errorf("%s:%d: figure block not closed (%s)", name, open, figureClose)
	}
	return []byte(out.String()), shown, nil
}

// wrap breaks text into lines of at most width bytes at spaces (a longer
// word stays whole), as the hand-written paragraphs of the pages are.
func wrap(text string, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(text) {
		switch {
		case n == 0:
		case n+1+len(w) > width:
			b.WriteByte('\n')
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
