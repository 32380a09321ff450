package promlab

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Job is one scrape job of the lab's Prometheus: its targets, each a
// host:port whose /metrics is scraped over HTTP, all with the same extra
// labels.
type Job struct {
	// Name is job_name: the `job` label of every series scraped.
	Name string
	// Targets are host:port addresses (IP literals in a lab).
	Targets []string
	// Labels are added to every target's series (e.g. cluster).
	Labels map[string]string
	// TargetLabels are added to one target's series, by target, after
	// Labels (e.g. director: dir1).
	TargetLabels map[string]map[string]string
}

// Defaults of a [Config] field left zero.
const (
	DefaultInterval     = time.Second
	DefaultRetention    = time.Hour
	DefaultReadyTimeout = 60 * time.Second
)

// Config describes one Prometheus of the lab: what Start writes into
// prometheus.yml, its flags, and how it is run and reached.
type Config struct {
	// Binary is the prometheus executable (Binary gives the path of
	// scripts/prometheus.sh).
	Binary string
	// Dir is the working directory: Start writes prometheus.yml there and
	// keeps the TSDB in Dir/data. It must exist and be writable.
	Dir string
	// Listen is --web.listen-address, an IP literal and a port: the API
	// the harness queries.
	Listen string
	// ScrapeInterval and EvalInterval are the global scrape and rule
	// evaluation intervals (the scrape timeout is the scrape interval);
	// DefaultInterval when zero.
	ScrapeInterval, EvalInterval time.Duration
	// Retention is --storage.tsdb.retention.time; DefaultRetention when
	// zero.
	Retention time.Duration
	// Jobs are the scrape jobs.
	Jobs []Job
	// RuleFiles are the paths of the rule files to load (absolute, or
	// relative to Dir).
	RuleFiles []string
	// Env is added to the process's environment through /usr/bin/env
	// (e.g. GOMAXPROCS=1 in a small guest).
	Env []string
	// Start runs argv; nil runs it as a child of this process (StartLocal).
	// A lab passes a start in one of its namespaces.
	Start func(argv []string) (Process, error)
	// Client reaches Listen; nil is an http.Client with a 10 s timeout. A
	// lab passes one that dials from a namespace.
	Client HTTPDoer
	// ReadyTimeout bounds the wait for /-/ready; DefaultReadyTimeout when
	// zero.
	ReadyTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.ScrapeInterval == 0 {
		c.ScrapeInterval = DefaultInterval
	}
	if c.EvalInterval == 0 {
		c.EvalInterval = DefaultInterval
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
}

// validate checks what Prometheus would refuse later, or what would make
// the YAML Start writes mean something else.
func (c *Config) validate() error {
	var errs []error
	if c.Binary == "" {
		errs = append(errs, errors.New("promlab: no binary"))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("promlab: no working directory"))
	}
	if _, err := hostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("promlab: listen: %w", err))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"scrape interval", c.ScrapeInterval}, {"evaluation interval", c.EvalInterval}, {"retention", c.Retention}} {
		if d.v < time.Millisecond || d.v%time.Millisecond != 0 {
			errs = append(errs, fmt.Errorf("promlab: %s %v: want a positive whole number of milliseconds", d.name, d.v))
		}
	}
	seen := map[string]bool{}
	for i, j := range c.Jobs {
		if !labelValueOK(j.Name) || j.Name == "" {
			errs = append(errs, fmt.Errorf("promlab: job %d: name %q: want printable ASCII without quotes or backslashes", i, j.Name))
		}
		if seen[j.Name] {
			errs = append(errs, fmt.Errorf("promlab: job %q: twice", j.Name))
		}
		seen[j.Name] = true
		if len(j.Targets) == 0 {
			errs = append(errs, fmt.Errorf("promlab: job %q: no target", j.Name))
		}
		for _, t := range j.Targets {
			if _, err := hostPort(t); err != nil {
				errs = append(errs, fmt.Errorf("promlab: job %q: target: %w", j.Name, err))
			}
		}
		for k, v := range j.Labels {
			if !labelNameOK(k) || !labelValueOK(v) {
				errs = append(errs, fmt.Errorf("promlab: job %q: label %q=%q: want a Prometheus label name and printable ASCII", j.Name, k, v))
			}
		}
		for t, m := range j.TargetLabels {
			if !slices.Contains(j.Targets, t) {
				errs = append(errs, fmt.Errorf("promlab: job %q: labels for %q, not a target", j.Name, t))
			}
			for k, v := range m {
				if !labelNameOK(k) || !labelValueOK(v) {
					errs = append(errs, fmt.Errorf("promlab: job %q: target %s: label %q=%q: want a Prometheus label name and printable ASCII", j.Name, t, k, v))
				}
			}
		}
	}
	for _, f := range c.RuleFiles {
		if f == "" || !labelValueOK(f) {
			errs = append(errs, fmt.Errorf("promlab: rule file %q: want a path in printable ASCII without quotes or backslashes", f))
		}
	}
	return errors.Join(errs...)
}

// hostPort checks an "IP:port" address and returns it.
func hostPort(s string) (string, error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("%q: %w", s, err)
	}
	if net.ParseIP(h) == nil {
		return "", fmt.Errorf("%q: host %q is not an IP literal", s, h)
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: port %q: want 1 to 65535", s, p)
	}
	return s, nil
}

// labelValueOK accepts printable ASCII without the characters that YAML's
// double-quoted strings escape: what the lab's names and paths are.
func labelValueOK(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return false
		}
	}
	return true
}

// labelNameOK is Prometheus's label name syntax, without the reserved
// "__" prefix.
func labelNameOK(s string) bool {
	if s == "" || strings.HasPrefix(s, "__") {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// promDuration writes d as Prometheus's duration syntax (milliseconds).
func promDuration(d time.Duration) string {
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// YAML is the prometheus.yml of c (defaults applied): the global
// intervals, the rule files and one static scrape config per job. Every
// string is double-quoted; validate has refused what would need escaping.
func (c Config) YAML() []byte {
	c.setDefaults()
	var b strings.Builder
	b.WriteString("# Written by e2e/promlab for one test; not a production configuration.\n")
	fmt.Fprintf(&b, "global:\n  scrape_interval: %[1]s\n  scrape_timeout: %[1]s\n  evaluation_interval: %[2]s\n",
		promDuration(c.ScrapeInterval), promDuration(c.EvalInterval))
	if len(c.RuleFiles) > 0 {
		b.WriteString("rule_files:\n")
		for _, f := range c.RuleFiles {
			fmt.Fprintf(&b, "  - %q\n", f)
		}
	}
	b.WriteString("scrape_configs:\n")
	if len(c.Jobs) == 0 {
		b.WriteString("  []\n")
	}
	for _, j := range c.Jobs {
		fmt.Fprintf(&b, "  - job_name: %q\n    static_configs:\n", j.Name)
		// The targets without labels of their own share one group; each
		// other target has its own.
		var plain []string
		for _, t := range j.Targets {
			if len(j.TargetLabels[t]) == 0 {
				plain = append(plain, t)
			}
		}
		if len(plain) > 0 {
			staticGroup(&b, plain, j.Labels)
		}
		for _, t := range j.Targets {
			if m := j.TargetLabels[t]; len(m) > 0 {
				labels := maps.Clone(j.Labels)
				if labels == nil {
					labels = map[string]string{}
				}
				maps.Copy(labels, m)
				staticGroup(&b, []string{t}, labels)
			}
		}
	}
	return []byte(b.String())
}

// staticGroup writes one static_configs entry.
func staticGroup(b *strings.Builder, targets []string, labels map[string]string) {
	b.WriteString("      - targets:\n")
	for _, t := range targets {
		fmt.Fprintf(b, "          - %q\n", t)
	}
	if len(labels) > 0 {
		b.WriteString("        labels:\n")
		for _, k := range slices.Sorted(maps.Keys(labels)) {
			fmt.Fprintf(b, "          %s: %q\n", k, labels[k])
		}
	}
}

// Args are the prometheus flags of c (defaults applied), after the
// binary's path.
func (c Config) Args() []string {
	c.setDefaults()
	return []string{
		"--config.file=" + c.configPath(),
		"--storage.tsdb.path=" + c.dataPath(),
		"--storage.tsdb.retention.time=" + promDuration(c.Retention),
		"--web.listen-address=" + c.Listen,
		"--log.level=warn",
	}
}

func (c Config) configPath() string { return strings.TrimRight(c.Dir, "/") + "/prometheus.yml" }
func (c Config) dataPath() string   { return strings.TrimRight(c.Dir, "/") + "/data" }

// WithFor returns the rule file text rules with the `for` of every
// alerting rule that has one set to d, and the names of those alerts in
// order. Only those values change, in place: every other byte of the file
// (expressions, labels, comments, rules without `for`, recording rules)
// is kept as it was. A lab loads the shipped rules this way when their
// `for` (up to hours) is longer than the scenario.
func WithFor(rules []byte, d time.Duration) ([]byte, []string, error) {
	if d < 0 || d%time.Millisecond != 0 {
		return nil, nil, fmt.Errorf("promlab: for %v: want a whole number of milliseconds, at least 0", d)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(rules, &doc); err != nil {
		return nil, nil, fmt.Errorf("promlab: rules: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil, errors.New("promlab: rules: want a mapping with groups")
	}
	groups := mapValue(doc.Content[0], "groups")
	if groups == nil || groups.Kind != yaml.SequenceNode {
		return nil, nil, errors.New("promlab: rules: no groups list")
	}
	lines := strings.SplitAfter(string(rules), "\n")
	value := promDuration(d)
	var changed []string
	for gi, g := range groups.Content {
		rs := mapValue(g, "rules")
		if g.Kind != yaml.MappingNode || rs == nil || rs.Kind != yaml.SequenceNode {
			return nil, nil, fmt.Errorf("promlab: rules: line %d: group %d: no rules list", g.Line, gi)
		}
		for _, r := range rs.Content {
			if r.Kind != yaml.MappingNode {
				return nil, nil, fmt.Errorf("promlab: rules: line %d: a rule is not a mapping", r.Line)
			}
			alert, f := mapValue(r, "alert"), mapValue(r, "for")
			if alert == nil || f == nil {
				continue
			}
			// A plain scalar is the one form of `for` changed in place
			// (Column counts characters: the check also refuses a line
			// where they are not bytes).
			i, col := f.Line-1, f.Column-1
			if f.Kind != yaml.ScalarNode || f.Style != 0 || i < 0 || i >= len(lines) || col < 0 ||
				!strings.HasPrefix(lines[i][min(col, len(lines[i])):], f.Value) {
				return nil, nil, fmt.Errorf("promlab: rules: line %d: alert %q: for is not a plain value", f.Line, alert.Value)
			}
			lines[i] = lines[i][:col] + value + lines[i][col+len(f.Value):]
			changed = append(changed, alert.Value)
		}
	}
	return []byte(strings.Join(lines, "")), changed, nil
}

// mapValue is the value node of key in mapping m, nil if absent.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
