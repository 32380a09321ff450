package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// plot is one PNG of docs/img, drawn by a gnuplot script of docs/plots
// from files of docs/data.
type plot struct {
	name   string   // docs/img/NAME.png
	script string   // docs/plots/SCRIPT.gp
	inputs []string // docs/data/…
	from   string   // what writes the inputs, for the message when one is missing
	// prepare reads the inputs (by name), writes the script's TSV files
	// into dir and returns its variables.
	prepare func(in map[string][]byte, dir string) ([]gpVar, error)
}

// gpVar is a gnuplot variable given with -e: a string or a number.
type gpVar struct {
	name  string
	value string
	str   bool
}

func str(name, v string) gpVar { return gpVar{name: name, value: v, str: true} }
func number(name string, v float64) gpVar {
	return gpVar{name: name, value: strconv.FormatFloat(v, 'g', -1, 64)}
}

// skipError is a plot that cannot be drawn from the data there is (a run
// missing from a file): skipped with the reason, not a failure.
type skipError struct{ reason string }

func (e skipError) Error() string { return e.reason }

const (
	promSource  = "the lab's Prometheus: the VM scenario saves its range queries with TANDEM_PLOT_DATA=DIR"
	benchSource = "make bench-failover (bin/bench-failover -json)"
)

// plots is every figure `make docs` draws.
var plots = []plot{
	{name: "drain-connections", script: "drain-connections", inputs: []string{"drain-connections.json"}, from: promSource, prepare: prepareDrain},
	{name: "failover-lab", script: "failover-lab", inputs: []string{"failover-rps.json", "failover-state.json"}, from: promSource, prepare: prepareFailoverLab},
	{name: "failover-bench-crash", script: "failover-bench", inputs: []string{"failover-bench.json"}, from: benchSource, prepare: prepareBench("crash")},
	{name: "failover-bench-stop", script: "failover-bench", inputs: []string{"failover-bench.json"}, from: benchSource, prepare: prepareBench("stop")},
}

// writeFile creates dir/name with what write writes and returns its path.
func writeFile(dir, name string, write func(io.Writer) error) (string, error) {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, b.Bytes(), 0o644)
}

// sortByLegend orders series and their legends by legend, so that a real
// server keeps its colour from one rendering to the next.
func sortByLegend(ss []Series, names []string) {
	idx := make([]int, len(ss))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return names[idx[a]] < names[idx[b]] })
	s2, n2 := make([]Series, len(ss)), make([]string, len(ss))
	for i, j := range idx {
		s2[i], n2[i] = ss[j], names[j]
	}
	copy(ss, s2)
	copy(names, n2)
}

// span is the first and last time of the series.
func span(ss ...[]Series) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, x := range s {
			if n := len(x.Points); n > 0 {
				lo, hi = min(lo, x.Points[0].T), max(hi, x.Points[n-1].T)
			}
		}
	}
	return lo, hi
}

func prepareDrain(in map[string][]byte, dir string) ([]gpVar, error) {
	const file = "drain-connections.json"
	ss, err := parseMatrix(file, in[file])
	if err != nil {
		return nil, err
	}
	names := legends(ss, "connections")
	sortByLegend(ss, names)
	t0, t1 := span(ss)
	data, err := writeFile(dir, "drain.tsv", func(w io.Writer) error { return wideTSV(w, names, t0, ss) })
	if err != nil {
		return nil, err
	}
	return []gpVar{str("data", data), number("n", float64(len(ss))), number("xmax", t1-t0)}, nil
}

func prepareFailoverLab(in map[string][]byte, dir string) ([]gpVar, error) {
	const rpsFile, stateFile = "failover-rps.json", "failover-state.json"
	rps, err := parseMatrix(rpsFile, in[rpsFile])
	if err != nil {
		return nil, err
	}
	state, err := parseMatrix(stateFile, in[stateFile])
	if err != nil {
		return nil, err
	}
	rpsNames := legends(rps, "requests/s through the VIP")
	for i, n := range rpsNames {
		if n == "ok" { // the scenario's load generator: result="ok" or "failed"
			rpsNames[i] = "answered"
		}
	}
	sortByLegend(rps, rpsNames)
	dirNames := legends(state, "director")
	sortByLegend(state, dirNames)
	t0, t1 := span(rps, state)
	rpsPath, err := writeFile(dir, "rps.tsv", func(w io.Writer) error { return wideTSV(w, rpsNames, t0, rps) })
	if err != nil {
		return nil, err
	}
	roles := rolesFromState(state, dirNames, t0)
	rolesPath, err := writeFile(dir, "roles.tsv", func(w io.Writer) error { return rolesTSV(w, roles) })
	if err != nil {
		return nil, err
	}
	has := map[int]float64{}
	for _, r := range roles {
		switch r.state {
		case stateBackup, stateMaster, stateFault:
			has[r.state] = 1
		default:
			has[0] = 1
		}
	}
	return []gpVar{str("rps", rpsPath), number("n", float64(len(rps))), str("roles", rolesPath),
		number("ndir", float64(len(state))), number("xmax", t1-t0+step(state)),
		number("has_backup", has[stateBackup]), number("has_fault", has[stateFault]), number("has_other", has[0])}, nil
}

// Implementations in the benchmark's JSON (e2e/bench/failover/nodes.go).
const (
	benchKeepalived = "keepalived"
	benchTandem     = "tandem"        // director/vrrp + director/peerwatch in a harness
	benchBinaryFF   = "tandem-bin-ff" // tandem-director run with fast_failover
)

// eventTitle is the figure's title per event.
var eventTitle = map[string]string{
	"crash": "The master d1 crashes at t = 0 (frozen, cable cut, SIGKILL)",
	"stop":  "The master d1 is stopped at t = 0 (SIGTERM)",
}

// prepareBench draws keepalived → keepalived beside Tandem → Tandem (the
// real daemon with fast_failover when the file has it, else the harness)
// for one event.
func prepareBench(event string) func(in map[string][]byte, dir string) ([]gpVar, error) {
	return func(in map[string][]byte, dir string) ([]gpVar, error) {
		const file = "failover-bench.json"
		r, err := parseBench(file, in[file])
		if err != nil {
			return nil, err
		}
		ka := findRun(r, benchKeepalived, benchKeepalived, event)
		td, tdTitle := findRun(r, benchBinaryFF, benchBinaryFF, event), "tandem-director, fast_failover"
		if td == nil {
			td, tdTitle = findRun(r, benchTandem, benchTandem, event), "Tandem (director/vrrp + peerwatch)"
		}
		if ka == nil || td == nil {
			return nil, skipError{fmt.Sprintf("%s has no %s run of keepalived → keepalived and of %s or %s (bench-failover -pairs left them out?)",
				file, event, benchBinaryFF, benchTandem)}
		}
		tdTitle += fmt.Sprintf(" %s × %d", strconv.FormatFloat(r.ProbeInterval*1000, 'g', -1, 64)+" ms", r.ProbeMult)
		vars := []gpVar{
			str("title", eventTitle[event]),
			str("ka_title", cleanText(firstWords(r.Keepalived, 2))),
			str("ka_sub", fmt.Sprintf("served again after %.3f s", ka.Failover)),
			str("td_title", tdTitle),
			str("td_sub", fmt.Sprintf("served again after %.3f s", td.Failover)),
			number("xmin", min(ka.Requests[0].T, td.Requests[0].T)),
			number("xmax", max(seriesEnd(ka), seriesEnd(td))),
		}
		for _, x := range []struct {
			prefix string
			s      *benchSeries
		}{{"ka", ka}, {"td", td}} {
			req, err := writeFile(dir, x.prefix+"-requests.tsv", func(w io.Writer) error { return requestsTSV(w, x.s) })
			if err != nil {
				return nil, err
			}
			roles, err := writeFile(dir, x.prefix+"-roles.tsv", func(w io.Writer) error {
				return rolesTSV(w, rolesFromHolders(x.s, "d1 (master)", "d2 (backup)"))
			})
			if err != nil {
				return nil, err
			}
			vars = append(vars, str(x.prefix+"_req", req), str(x.prefix+"_roles", roles))
		}
		return vars, nil
	}
}

// firstWords is the first n words of s ("Keepalived v2.2.7 (01/16,2022)"
// → "Keepalived v2.2.7"), or "keepalived" when s is empty.
func firstWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return "keepalived"
	}
	return strings.Join(f[:min(n, len(f))], " ")
}
