package monitoring

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// A small PromQL scanner: not a parser, only what the checks need from an
// expression of the rules, the dashboard or a series of the rules' tests:
// the metric selectors (name and matcher labels), the labels of by,
// without, on, ignoring, group_left and group_right, and the functions.
// Grafana's variables ($var, ${var}, $__rate_interval) are opaque tokens.

// selector is one metric selector: name{label="…", …}.
type selector struct {
	Name   string
	Labels []string
}

// promqlRefs is what an expression names.
type promqlRefs struct {
	Selectors []selector
	Grouping  []string // by/without/on/ignoring/group_left/group_right labels
	Functions []string
}

// promqlFunctions are Prometheus 2.x's functions and aggregation operators.
var promqlFunctions = map[string]bool{}

func init() {
	for _, f := range strings.Fields(`
		abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time
		ceil changes clamp clamp_max clamp_min cos cosh count_over_time day_of_month
		day_of_week day_of_year days_in_month deg delta deriv exp floor
		histogram_count histogram_fraction histogram_quantile histogram_sum
		holt_winters hour idelta increase irate label_join label_replace
		last_over_time ln log10 log2 max_over_time min_over_time minute month pi
		predict_linear present_over_time quantile_over_time rad rate resets round
		scalar sgn sin sinh sort sort_desc sqrt stddev_over_time stdvar_over_time
		sum_over_time tan tanh time timestamp vector year
		sum min max avg group stddev stdvar count count_values bottomk topk quantile
		start end`) {
		promqlFunctions[f] = true
	}
}

// aggregators may have their by or without clause before the parentheses.
var aggregators = map[string]bool{"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true}

// grouping keywords take a label list in parentheses.
var groupingKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// otherKeywords are identifiers that are neither metrics nor functions.
var otherKeywords = map[string]bool{"bool": true, "offset": true, "and": true, "or": true, "unless": true, "atan2": true, "inf": true, "nan": true}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }

// scanner walks an expression.
type scanner struct {
	s string
	i int
}

func (sc *scanner) skipSpace() {
	for sc.i < len(sc.s) && strings.IndexByte(" \t\r\n", sc.s[sc.i]) >= 0 {
		sc.i++
	}
}

// peek is the next byte after spaces, or 0 at the end.
func (sc *scanner) peek() byte {
	sc.skipSpace()
	if sc.i >= len(sc.s) {
		return 0
	}
	return sc.s[sc.i]
}

// peekIdent is the identifier at sc.i, not consumed.
func (sc *scanner) peekIdent() string {
	i := sc.i
	id := sc.ident()
	sc.i = i
	return id
}

func (sc *scanner) ident() string {
	start := sc.i
	for sc.i < len(sc.s) && isIdentChar(sc.s[sc.i]) {
		sc.i++
	}
	return sc.s[start:sc.i]
}

// str skips a quoted string starting at sc.i and returns its raw content.
func (sc *scanner) str() (string, error) {
	q := sc.s[sc.i]
	start := sc.i
	sc.i++
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		switch {
		case c == '\\' && q != '`':
			sc.i += 2
			continue
		case c == q:
			sc.i++
			return sc.s[start+1 : sc.i-1], nil
		}
		sc.i++
	}
	return "", fmt.Errorf("unterminated string at %d", start)
}

// variable skips a Grafana variable: $name or ${name…}.
func (sc *scanner) variable() error {
	start := sc.i
	sc.i++
	if sc.i < len(sc.s) && sc.s[sc.i] == '{' {
		end := strings.IndexByte(sc.s[sc.i:], '}')
		if end < 0 {
			return fmt.Errorf("unterminated ${ at %d", start)
		}
		sc.i += end + 1
		return nil
	}
	if sc.ident() == "" {
		return fmt.Errorf("lone $ at %d", start)
	}
	return nil
}

// number skips a number or a duration: 2, 0.5, 1e-3, 0x1f, 5m, 1h30m.
func (sc *scanner) number() {
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		switch {
		case isIdentChar(c) || c == '.':
			sc.i++
		case (c == '+' || c == '-') && (sc.s[sc.i-1] == 'e' || sc.s[sc.i-1] == 'E') && !strings.HasPrefix(strings.ToLower(sc.s[:sc.i]), "0x"):
			sc.i++
		default:
			return
		}
	}
}

// matchers reads {l op "v", …} from sc.i (at '{') and returns the labels.
func (sc *scanner) matchers() ([]string, map[string]string, error) {
	start := sc.i
	sc.i++
	var labels []string
	eq := map[string]string{}
	for {
		switch sc.peek() {
		case '}':
			sc.i++
			return labels, eq, nil
		case ',':
			sc.i++
			continue
		case 0:
			return nil, nil, fmt.Errorf("unterminated { at %d", start)
		}
		if !isIdentStart(sc.s[sc.i]) {
			return nil, nil, fmt.Errorf("label name expected at %d in %q", sc.i, sc.s[start:])
		}
		name := sc.ident()
		sc.skipSpace()
		op := ""
		for _, o := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(sc.s[sc.i:], o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil, nil, fmt.Errorf("matcher operator expected after %q at %d", name, sc.i)
		}
		sc.i += len(op)
		if c := sc.peek(); c != '"' && c != '\'' && c != '`' {
			return nil, nil, fmt.Errorf("string expected after %s%s at %d", name, op, sc.i)
		}
		v, err := sc.str()
		if err != nil {
			return nil, nil, err
		}
		labels = append(labels, name)
		if op == "=" {
			eq[name] = v
		}
	}
}

// labelList reads ( a, b, … ) from sc.i (at '(').
func (sc *scanner) labelList() ([]string, error) {
	start := sc.i
	sc.i++
	var out []string
	for {
		switch c := sc.peek(); {
		case c == ')':
			sc.i++
			return out, nil
		case c == ',':
			sc.i++
		case c != 0 && isIdentStart(c):
			out = append(out, sc.ident())
		default:
			return nil, fmt.Errorf("label list at %d: unexpected %q", start, sc.s[start:min(len(sc.s), sc.i+1)])
		}
	}
}

// parsePromQL scans one expression.
func parsePromQL(expr string) (promqlRefs, error) {
	var r promqlRefs
	sc := &scanner{s: expr}
	for {
		c := sc.peek()
		switch {
		case c == 0:
			return r, nil
		case c == '"' || c == '\'' || c == '`':
			if _, err := sc.str(); err != nil {
				return r, err
			}
		case c == '$':
			if err := sc.variable(); err != nil {
				return r, err
			}
		case c == '[':
			end := strings.IndexByte(sc.s[sc.i:], ']')
			if end < 0 {
				return r, fmt.Errorf("unterminated [ at %d", sc.i)
			}
			sc.i += end + 1
		case c == '{':
			// A selector without a name outside: its name is __name__="…".
			labels, eq, err := sc.matchers()
			if err != nil {
				return r, err
			}
			name, ok := eq["__name__"]
			if !ok {
				return r, fmt.Errorf("selector without a metric name: %q", expr)
			}
			r.Selectors = append(r.Selectors, selector{Name: name, Labels: slices.DeleteFunc(labels, func(l string) bool { return l == "__name__" })})
		case '0' <= c && c <= '9' || c == '.' && sc.i+1 < len(sc.s) && '0' <= sc.s[sc.i+1] && sc.s[sc.i+1] <= '9':
			sc.number()
		case isIdentStart(c):
			start := sc.i
			id := sc.ident()
			next := sc.peek()
			switch {
			case groupingKeywords[id]:
				if next == '(' {
					ls, err := sc.labelList()
					if err != nil {
						return r, err
					}
					r.Grouping = append(r.Grouping, ls...)
				} else if id != "group_left" && id != "group_right" {
					return r, fmt.Errorf("%s without a label list at %d", id, start)
				}
			case otherKeywords[strings.ToLower(id)]:
			case aggregators[id] && (sc.peekIdent() == "by" || sc.peekIdent() == "without"):
				r.Functions = append(r.Functions, id)
			case next == '(':
				if !promqlFunctions[id] {
					return r, fmt.Errorf("unknown function %s at %d", id, start)
				}
				r.Functions = append(r.Functions, id)
			case strings.Contains(id, ":"):
				return r, fmt.Errorf("%s: recording rule names are not used here", id)
			default:
				s := selector{Name: id}
				if next == '{' {
					labels, _, err := sc.matchers()
					if err != nil {
						return r, err
					}
					s.Labels = labels
				}
				r.Selectors = append(r.Selectors, s)
			}
		default:
			sc.i++ // operators, parentheses, commas, @
		}
	}
}

func TestParsePromQL(t *testing.T) {
	for _, tc := range []struct {
		expr      string
		selectors []selector
		grouping  []string
		functions []string
		err       string
	}{
		{expr: `up`, selectors: []selector{{Name: "up"}}},
		{
			expr:      `sum by (cluster, vrrp_instance) (tandem_director_vrrp_state == bool 2) == 0`,
			selectors: []selector{{Name: "tandem_director_vrrp_state"}},
			grouping:  []string{"cluster", "vrrp_instance"}, functions: []string{"sum"},
		},
		{
			expr:      `increase(tandem_director_heartbeats_total{result=~"mac|stale", instance="a:1"}[10m]) > 0`,
			selectors: []selector{{Name: "tandem_director_heartbeats_total", Labels: []string{"result", "instance"}}},
			functions: []string{"increase"},
		},
		{
			expr:      `count by (cluster, service, rs) (x_total{a="}{,"}) < on (cluster) group_left () count by (cluster) (y)`,
			selectors: []selector{{Name: "x_total", Labels: []string{"a"}}, {Name: "y"}},
			grouping:  []string{"cluster", "service", "rs", "cluster", "cluster"}, functions: []string{"count", "count"},
		},
		{
			expr:      `sum without (le) (rate(h_bucket{job=~"$job"}[$__rate_interval] offset 1h)) * 1e-3 + 0x1f`,
			selectors: []selector{{Name: "h_bucket", Labels: []string{"job"}}},
			grouping:  []string{"le"}, functions: []string{"sum", "rate"},
		},
		{
			expr:      `time() - m{instance=~"${agent:regex}"} > 12 * 3600 and on(instance) n unless o`,
			selectors: []selector{{Name: "m", Labels: []string{"instance"}}, {Name: "n"}, {Name: "o"}},
			grouping:  []string{"instance"}, functions: []string{"time"},
		},
		{expr: `{__name__="a", b="c"}`, selectors: []selector{{Name: "a", Labels: []string{"b"}}}},
		{expr: `max_over_time(a[1h:5m]) @ end()`, selectors: []selector{{Name: "a"}}, functions: []string{"max_over_time", "end"}},
		{expr: `summ(a)`, err: "unknown function summ"},
		{expr: `a{b}`, err: "matcher operator expected"},
		{expr: `a{b="c"`, err: "unterminated"},
		{expr: `{b="c"}`, err: "without a metric name"},
		{expr: `sum by a`, err: "without a label list"},
		{expr: `job:up:sum`, err: "recording rule"},
	} {
		r, err := parsePromQL(tc.expr)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.expr, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if !slices.EqualFunc(r.Selectors, tc.selectors, func(a, b selector) bool { return a.Name == b.Name && slices.Equal(a.Labels, b.Labels) }) {
			t.Errorf("%s: selectors %v, want %v", tc.expr, r.Selectors, tc.selectors)
		}
		if !slices.Equal(r.Grouping, tc.grouping) {
			t.Errorf("%s: grouping %v, want %v", tc.expr, r.Grouping, tc.grouping)
		}
		if !slices.Equal(r.Functions, tc.functions) {
			t.Errorf("%s: functions %v, want %v", tc.expr, r.Functions, tc.functions)
		}
	}
}

// checker checks expressions against the real families.
type checker struct {
	fams map[string]family
}

// optionalTargetLabels are target labels an operator may add to the
// scrape configuration and that the rules group by (docs/monitoring.md):
// cluster names one director pair.
var optionalTargetLabels = []string{"cluster"}

// prometheusSeries are the series Prometheus itself makes for each target.
var prometheusSeries = map[string]family{
	"up": {Daemon: "prometheus", Name: "up", Type: "gauge"},
}

// family resolves an exposed series name: a family, or a histogram's or
// summary's _bucket, _sum or _count series.
func (c checker) family(name string) (family, bool) {
	if f, ok := c.fams[name]; ok {
		return f, true
	}
	if f, ok := prometheusSeries[name]; ok {
		return f, true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suf)
		if !ok {
			continue
		}
		if f, ok := c.fams[base]; ok && (f.Type == "histogram" || suf != "_bucket" && f.Type == "summary") {
			return f, true
		}
	}
	return family{}, false
}

// allowed is the label names a series of f has in Prometheus.
func allowed(f family) []string {
	out := append(f.StoredLabels(), optionalTargetLabels...)
	if f.Type == "histogram" {
		out = append(out, "le")
	}
	if f.Type == "summary" {
		out = append(out, "quantile")
	}
	return out
}

// check returns what is wrong with expr: unknown metrics, labels a
// selector's family does not have, grouping labels none of the
// expression's families has. It also returns the families used.
func (c checker) check(expr string) ([]family, []string) {
	r, err := parsePromQL(expr)
	if err != nil {
		return nil, []string{err.Error()}
	}
	var problems []string
	var used []family
	union := map[string]bool{}
	for _, s := range r.Selectors {
		f, ok := c.family(s.Name)
		if !ok {
			problems = append(problems, fmt.Sprintf("metric %s does not exist (neither daemon exposes it)", s.Name))
			continue
		}
		used = append(used, f)
		al := allowed(f)
		for _, l := range al {
			union[l] = true
		}
		for _, l := range s.Labels {
			if !slices.Contains(al, l) {
				problems = append(problems, fmt.Sprintf("%s has no label %s (it has %s)", s.Name, l, strings.Join(al, ", ")))
			}
		}
	}
	if len(r.Selectors) == 0 {
		problems = append(problems, "no metric in the expression")
	}
	for _, l := range r.Grouping {
		if !union[l] && len(used) > 0 {
			problems = append(problems, fmt.Sprintf("grouping label %s is on none of the expression's metrics", l))
		}
	}
	return used, problems
}

// templateLabelRe finds the labels an alert's annotation template reads.
var templateLabelRe = regexp.MustCompile(`\$labels\.([A-Za-z_][A-Za-z0-9_]*)`)

// TestChecker: what the checks of the rules and the dashboard refuse.
func TestChecker(t *testing.T) {
	c := newChecker(t)
	for expr, want := range map[string]string{
		`tandem_director_vrrp_state{vrrp_instance="VI_1", cluster="lb"} == 2`:                     "",
		`sum by (cluster, vrrp_instance) (tandem_director_vrrp_state)`:                            "",
		`up{job="tandem-director"} == 0`:                                                          "",
		`rate(go_gc_duration_seconds_count[5m])`:                                                  "",
		`tandem_director_vrrp_state{iname="VI_1"}`:                                                "has no label iname",
		`tandem_director_vrrp_master_total`:                                                       "metric tandem_director_vrrp_master_total does not exist",
		`sum by (vrrp_instance) (tandem_backend_vip_present)`:                                     "grouping label vrrp_instance is on none",
		`tandem_director_destination_state{destination="x"}`:                                      "has no label destination",
		`tandem_director_destination_state_bucket`:                                                "does not exist",
		`tandem_backend_director_destination_weight{rs="192.0.2.1:80"}`:                           "has no label rs",
		`increase(tandem_director_heartbeats_total{reason="mac"}[5m])`:                            "has no label reason",
		`count(tandem_director_info) by (version) > 1 unless on (exported_version) up`:            "grouping label exported_version",
		`label_replace(tandem_director_info, "v", "$1", "version", "(.*)")`:                       "",
		`histogram_quantile(0.9, sum by (le) (rate(go_gc_duration_seconds_bucket[5m])))`:          "does not exist",
		`tandem_director_reloads_total{result="error"} - tandem_director_reloads_total offset 1h`: "",
	} {
		_, problems := c.check(expr)
		got := strings.Join(problems, "; ")
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("%s: problems %q, want %q", expr, got, want)
		}
	}
}
