package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tandemlb/tandem/e2e/bench/ops"
)

// table is one Markdown table: its header cells and rows of cells, with
// the Markdown emphasis and code marks removed.
type table struct {
	header []string
	rows   [][]string
}

// col is the index of the first header cell that contains name (case
// insensitive), or -1.
func (t table) col(name string) int {
	for i, h := range t.header {
		if strings.Contains(strings.ToLower(h), strings.ToLower(name)) {
			return i
		}
	}
	return -1
}

func cells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(strings.TrimSuffix(line, "|"), "|")
	parts := strings.Split(line, "|")
	for i, p := range parts {
		p = strings.ReplaceAll(p, "**", "")
		p = strings.ReplaceAll(p, "`", "")
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

var (
	separatorRe  = regexp.MustCompile(`^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$`)
	durRe        = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*(s|ms|µs|us)$`)
	dateRe       = regexp.MustCompile(`\b(20\d\d-\d\d-\d\d)\b`)
	kernelRe     = regexp.MustCompile(`kernel ([^,]+)`)
	hostRe       = regexp.MustCompile(`(?m)^- Date: [^.]*\. Host: ([^;]+);`)
	guestRe      = regexp.MustCompile(`(?m)^- Guest: Debian's kernel (\S+) under QEMU, accel \**([A-Za-z]+)`)
	keepalivedRe = regexp.MustCompile(`(?i)^keepalived v?([0-9]+(?:\.[0-9]+)+)`)
)

// tables finds every table of a Markdown text.
func tables(md string) []table {
	var out []table
	lines := strings.Split(md, "\n")
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(strings.TrimSpace(lines[i]), "|") || !separatorRe.MatchString(strings.TrimSpace(lines[i+1])) {
			continue
		}
		t := table{header: cells(lines[i])}
		j := i + 2
		for ; j < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[j]), "|"); j++ {
			t.rows = append(t.rows, cells(lines[j]))
		}
		out = append(out, t)
		i = j - 1
	}
	return out
}

// seconds reads "0.622 s", "509 ms", "733 µs".
func seconds(s string) (float64, error) {
	m := durRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("not a duration: %q", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	switch m[2] {
	case "ms":
		v /= 1e3
	case "µs", "us":
		v /= 1e6
	}
	return v, nil
}

// Value is one headline number with its range.
type Value struct {
	Median, Min, Max float64
	OK               bool
}

// Source is what the summary took from one detailed page.
type Source struct {
	Page, Date, Machine string
}

func firstDate(md string) string {
	if m := dateRe.FindString(md); m != "" {
		return m
	}
	return "unknown date"
}

// Failover holds the failover page's headline rows.
type Failover struct {
	Src                      Source
	KAClean, KACrash         Value
	TandemClean, TandemCrash Value
	TandemLabel              string // the pair the Tandem numbers come from
}

// parseFailover reads the results table of docs/benchmarks-failover.md:
// keepalived → keepalived and the real daemon with fast_failover
// (tandem-bin-ff; tandem-bin when that row is missing).
func parseFailover(md string) (Failover, error) {
	f := Failover{Src: Source{Page: "benchmarks-failover.md", Date: firstDate(md)}}
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "bench-failover ") {
			if m := kernelRe.FindStringSubmatch(line); m != nil {
				f.Src.Machine = "host kernel " + m[1] + " (network namespaces)"
			}
			break
		}
	}
	for _, t := range tables(md) {
		pair, event, med, lo, hi := t.col("master"), t.col("event"), t.col("median"), t.col("min"), t.col("max")
		if pair < 0 || event < 0 || med < 0 {
			continue
		}
		get := func(r []string) Value {
			var v Value
			var err error
			if v.Median, err = seconds(r[med]); err != nil {
				return Value{}
			}
			v.Min, v.Max = v.Median, v.Median
			if lo >= 0 && hi >= 0 && lo != hi {
				v.Min, _ = seconds(r[lo])
				v.Max, _ = seconds(r[hi])
			}
			v.OK = true
			return v
		}
		for _, want := range []string{"tandem-bin-ff → tandem-bin-ff", "tandem-bin → tandem-bin"} {
			for _, r := range t.rows {
				if len(r) <= med || r[pair] != want || f.TandemLabel != "" && f.TandemLabel != want {
					continue
				}
				if strings.Contains(r[event], "clean") {
					f.TandemClean = get(r)
				} else if strings.Contains(r[event], "crash") {
					f.TandemCrash = get(r)
				}
			}
			if f.TandemClean.OK || f.TandemCrash.OK {
				f.TandemLabel = want
				break
			}
		}
		for _, r := range t.rows {
			if len(r) <= med || r[pair] != "keepalived → keepalived" {
				continue
			}
			if strings.Contains(r[event], "clean") {
				f.KAClean = get(r)
			} else if strings.Contains(r[event], "crash") {
				f.KACrash = get(r)
			}
		}
	}
	if !f.KAClean.OK || !f.KACrash.OK || !f.TandemClean.OK || !f.TandemCrash.OK {
		return f, fmt.Errorf("benchmarks-failover.md: keepalived or Tandem clean stop / crash rows not found")
	}
	return f, nil
}

// Reconcile holds the reconcile page's headline rows.
type Reconcile struct {
	Src                    Source
	KAStart, TandemStart   Value
	KAWeight, TandemWeight Value
	StepStart              string
}

// parseRange reads "2.02 s – 2.40 s".
func parseRange(s string) (float64, float64, bool) {
	a, b, ok := strings.Cut(s, "–")
	if !ok {
		return 0, 0, false
	}
	lo, err1 := seconds(a)
	hi, err2 := seconds(b)
	return lo, hi, err1 == nil && err2 == nil
}

// parseReconcile reads the result table of docs/benchmarks-reconcile.md:
// the keepalived and tandem-director daemon rows of the start and the
// one-weight steps. A row with an empty step cell continues the step above.
func parseReconcile(md string) (Reconcile, error) {
	r := Reconcile{Src: Source{Page: "benchmarks-reconcile.md", Date: firstDate(md)}}
	if m := hostRe.FindStringSubmatch(md); m != nil {
		r.Src.Machine = m[1]
	}
	if m := guestRe.FindStringSubmatch(md); m != nil {
		r.Src.Machine += fmt.Sprintf("; guest %s under QEMU %s", m[1], strings.ToUpper(m[2]))
	}
	for _, t := range tables(md) {
		step, impl, med, rng := t.col("step"), t.col("implementation"), t.col("median"), t.col("min")
		if step < 0 || impl < 0 || med < 0 {
			continue
		}
		cur := ""
		for _, row := range t.rows {
			if len(row) <= max(step, impl, med) {
				continue
			}
			if row[step] != "" {
				cur = row[step]
			}
			v, err := seconds(row[med])
			if err != nil {
				continue
			}
			val := Value{Median: v, Min: v, Max: v, OK: true}
			if rng >= 0 && rng < len(row) {
				if lo, hi, ok := parseRange(row[rng]); ok {
					val.Min, val.Max = lo, hi
				}
			}
			isKA := strings.HasPrefix(row[impl], "keepalived")
			isTandem := strings.HasPrefix(row[impl], "tandem-director run") && strings.Contains(row[impl], "daemon")
			switch {
			case strings.HasPrefix(cur, "start"):
				if r.StepStart == "" {
					r.StepStart = cur
				}
				if isKA {
					r.KAStart = val
				} else if isTandem {
					r.TandemStart = val
				}
			case strings.Contains(cur, "weight"):
				if isKA {
					r.KAWeight = val
				} else if isTandem {
					r.TandemWeight = val
				}
			}
		}
	}
	if !r.KAStart.OK || !r.TandemStart.OK || !r.KAWeight.OK || !r.TandemWeight.OK {
		return r, fmt.Errorf("benchmarks-reconcile.md: keepalived or tandem-director start / weight rows not found")
	}
	return r, nil
}

// opsPage is docs/benchmarks-ops.json, written by e2e/bench/ops.
type opsPage struct{ ops.Results }

// parseOps reads docs/benchmarks-ops.json.
func parseOps(b []byte) (opsPage, error) {
	var o opsPage
	if err := json.Unmarshal(b, &o.Results); err != nil {
		return o, fmt.Errorf("benchmarks-ops.json: %w", err)
	}
	return o, nil
}

// timing is the row of (scenario, variant).
func (o opsPage) timing(sc, v string) (ops.TimingRow, error) {
	for _, t := range o.Timings {
		if t.Scenario == sc && t.Variant == v {
			return t, nil
		}
	}
	return ops.TimingRow{}, fmt.Errorf("benchmarks-ops.json: no %s row of %s", sc, v)
}

// resource is the row of (case, process).
func (o opsPage) resource(c, p string) (ops.ResourceRow, error) {
	for _, r := range o.Resources {
		if r.Case == c && r.Proc == p {
			return r, nil
		}
	}
	return ops.ResourceRow{}, fmt.Errorf("benchmarks-ops.json: no %s row of %s", c, p)
}

// keepalived is "keepalived 2.2.7", from the version the ops benchmark's
// guest reported (its first version line); "keepalived" without one.
func (o opsPage) keepalived() string {
	if len(o.Versions) > 0 {
		if m := keepalivedRe.FindStringSubmatch(o.Versions[0]); m != nil {
			return "keepalived " + m[1]
		}
	}
	return "keepalived"
}

// now is the clock (a test sets it).
var now = time.Now
