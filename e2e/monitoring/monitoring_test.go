package monitoring

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tandemlb/tandem/shared/testutil"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite docs/monitoring.md's metric table from the daemons' registries")

const (
	rulesFile     = "packaging/monitoring/tandem-alerts.yml"
	ruleTestsFile = "packaging/monitoring/tandem-alerts_test.yml"
	dashboardFile = "packaging/monitoring/tandem-dashboard.json"
	docFile       = "docs/monitoring.md"
)

// runPromtool runs promtool (testutil.Promtool) in packaging/monitoring;
// a failure names promtool's version.
func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	script := testutil.Promtool(t)
	cmd := exec.Command(script, args...)
	cmd.Dir = filepath.Join(testutil.ModuleRoot(t), "packaging", "monitoring")
	out, err := cmd.CombinedOutput()
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
	if err != nil {
		version, _ := exec.Command(script, "--version").CombinedOutput()
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, bytes.TrimSpace(version))
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	runPromtool(t, "check", "rules", filepath.Base(rulesFile))
}

func TestPromtoolTestRules(t *testing.T) {
	runPromtool(t, "test", "rules", filepath.Base(ruleTestsFile))
}

// Prometheus's rule file format (the part the checks read).
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// promtool's unit test file format (the part the checks read).
type ruleTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name        string `yaml:"name"`
		InputSeries []struct {
			Series string `yaml:"series"`
		} `yaml:"input_series"`
		AlertRuleTests []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels map[string]string `yaml:"exp_labels"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML(t *testing.T, rel string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.ModuleRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

func newChecker(t *testing.T) checker {
	t.Helper()
	return checker{fams: familyIndex(t)}
}

var severities = []string{"critical", "warning", "info"}

// alertNames reads the rules and returns the alerts' names in file order.
func alertNames(t *testing.T) []string {
	t.Helper()
	var rf ruleFile
	readYAML(t, rulesFile, &rf)
	var names []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
		}
	}
	return names
}

// TestAlertRules: every rule is an alert with a severity, a summary and a
// description; its expression names only metrics and labels the daemons
// expose, and its annotations only labels its metrics have.
func TestAlertRules(t *testing.T) {
	var rf ruleFile
	readYAML(t, rulesFile, &rf)
	c := newChecker(t)
	seen := map[string]bool{}
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			n++
			name := r.Alert
			if name == "" {
				t.Errorf("group %s: a rule that is not an alert (record %q): the file ships alerts only", g.Name, r.Record)
				continue
			}
			if seen[name] {
				t.Errorf("%s: defined twice", name)
			}
			seen[name] = true
			if !strings.HasPrefix(name, "Tandem") {
				t.Errorf("%s: alert names start with Tandem", name)
			}
			if !slices.Contains(severities, r.Labels["severity"]) {
				t.Errorf("%s: severity %q, want one of %v", name, r.Labels["severity"], severities)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", name, a)
				}
			}
			used, problems := c.check(r.Expr)
			for _, p := range problems {
				t.Errorf("%s: expr: %s", name, p)
			}
			labels := map[string]bool{}
			for _, f := range used {
				for _, l := range allowed(f) {
					labels[l] = true
				}
			}
			for a, text := range r.Annotations {
				for _, m := range templateLabelRe.FindAllStringSubmatch(text, -1) {
					if !labels[m[1]] {
						t.Errorf("%s: annotation %s reads $labels.%s, which none of its metrics has", name, a, m[1])
					}
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("%s: %d rules", rulesFile, n)
	}
}

// TestAlertRuleTests: the promtool tests cover every alert, each firing in
// one case and quiet in another, and feed only series the daemons expose
// (names and labels as Prometheus stores them).
func TestAlertRuleTests(t *testing.T) {
	var tf ruleTestFile
	readYAML(t, ruleTestsFile, &tf)
	if !slices.Equal(tf.RuleFiles, []string{filepath.Base(rulesFile)}) {
		t.Errorf("rule_files %v, want [%s]", tf.RuleFiles, filepath.Base(rulesFile))
	}
	alerts := alertNames(t)
	fires, quiet := map[string]int{}, map[string]int{}
	c := newChecker(t)
	for _, tc := range tf.Tests {
		if tc.Name == "" {
			t.Errorf("a test without a name")
		}
		for _, s := range tc.InputSeries {
			r, err := parsePromQL(s.Series)
			if err != nil || len(r.Selectors) != 1 || len(r.Functions) != 0 {
				t.Errorf("%s: input series %q is not one selector (%v)", tc.Name, s.Series, err)
				continue
			}
			for _, p := range mustOK(c.check(s.Series)) {
				t.Errorf("%s: input series %s", tc.Name, p)
			}
		}
		for _, at := range tc.AlertRuleTests {
			if !slices.Contains(alerts, at.Alertname) {
				t.Errorf("%s: alert %s is not in %s", tc.Name, at.Alertname, rulesFile)
			}
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname]++
			} else {
				quiet[at.Alertname]++
			}
		}
	}
	for _, a := range alerts {
		if fires[a] == 0 {
			t.Errorf("%s: no test where it fires", a)
		}
		if quiet[a] == 0 {
			t.Errorf("%s: no test where it stays quiet", a)
		}
	}
}

func mustOK(_ []family, problems []string) []string { return problems }

// dashboard is the part of Grafana's dashboard JSON the checks read.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasourceRef  `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

// queryString is a template variable's query: a string, or Grafana 10's
// object {"query": "…"}.
func queryString(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var o struct {
		Query string `json:"query"`
	}
	err := json.Unmarshal(raw, &o)
	return o.Query, err
}

var labelValuesRe = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)

// checkVariableQuery checks a Prometheus template query: label_values(expr,
// label) or query_result(expr).
func checkVariableQuery(c checker, q string) []string {
	if m := labelValuesRe.FindStringSubmatch(q); m != nil {
		used, problems := c.check(m[1])
		var labels []string
		for _, f := range used {
			labels = append(labels, allowed(f)...)
		}
		if len(used) > 0 && !slices.Contains(labels, m[2]) {
			problems = append(problems, fmt.Sprintf("label_values: label %s is not on %s", m[2], m[1]))
		}
		return problems
	}
	if inner, ok := strings.CutPrefix(strings.TrimSpace(q), "query_result("); ok {
		return mustOK(c.check(strings.TrimSuffix(strings.TrimSpace(inner), ")")))
	}
	return []string{fmt.Sprintf("query %q: only label_values(expr, label) and query_result(expr) are checked", q)}
}

func flatten(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatten(p.Panels)...)
	}
	return out
}

// TestDashboard: the dashboard is Grafana JSON of schema 39 with a
// Prometheus datasource variable that every query uses, and every metric
// and label of its queries and template variables exists.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testutil.ModuleRoot(t), dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d, want 39 or later", d.SchemaVersion)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("title %q, uid %q: both are needed for an import that can be repeated", d.Title, d.UID)
	}
	c := newChecker(t)
	dsVar := ""
	for _, v := range d.Templating.List {
		q, err := queryString(v.Query)
		if err != nil {
			t.Errorf("variable %s: query: %v", v.Name, err)
			continue
		}
		switch v.Type {
		case "datasource":
			if q != "prometheus" {
				t.Errorf("datasource variable %s is of type %q, want prometheus", v.Name, q)
			}
			dsVar = v.Name
		case "query":
			if v.Datasource == nil || v.Datasource.UID != "${"+dsVar+"}" {
				t.Errorf("variable %s: datasource %+v, want the datasource variable (declared before it)", v.Name, v.Datasource)
			}
			for _, p := range checkVariableQuery(c, q) {
				t.Errorf("variable %s: %s", v.Name, p)
			}
		}
	}
	if dsVar == "" {
		t.Fatal("no datasource variable of type prometheus")
	}
	ids := map[int]string{}
	used := map[string]bool{}
	exprs := 0
	for _, p := range flatten(d.Panels) {
		if p.Title == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
		}
		ids[p.ID] = p.Title
		if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("panel %q: no gridPos", p.Title)
		}
		if p.Type == "row" || p.Type == "text" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${"+dsVar+"}" {
			t.Errorf("panel %q: datasource %+v, want uid ${%s}", p.Title, p.Datasource, dsVar)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %q: refId %q missing or repeated", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if tg.Datasource != nil && tg.Datasource.UID != "${"+dsVar+"}" {
				t.Errorf("panel %q query %s: datasource %+v", p.Title, tg.RefID, tg.Datasource)
			}
			exprs++
			fams, problems := c.check(tg.Expr)
			for _, pr := range problems {
				t.Errorf("panel %q query %s: %s", p.Title, tg.RefID, pr)
			}
			for _, f := range fams {
				used[f.Name] = true
			}
		}
	}
	if exprs == 0 {
		t.Fatal("no query in the dashboard")
	}
	// What the dashboard is for: these families each have a panel.
	for _, name := range []string{
		"tandem_director_vrrp_state", "tandem_director_vrrp_transitions_total",
		"tandem_director_destination_state", "tandem_director_destination_active_connections",
		"tandem_director_destination_inactive_connections", "tandem_director_destination_weight",
		"tandem_director_check_up", "tandem_director_heartbeats_total",
		"tandem_backend_director_last_reply_seconds", "tandem_backend_heartbeat_replies_rejected_total",
		"tandem_director_service_quorum_up", "tandem_director_service_sorry_active",
		"tandem_director_bgp_session_up", "tandem_director_bgp_vip_announced",
		"tandem_director_bgp_fingerprint_agree", "tandem_director_ipvs_service_fingerprint_info",
	} {
		if !used[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}

// Markers of the generated metric table in docs/monitoring.md.
const (
	tableBegin = "<!-- metric table: generated by `go test ./e2e/monitoring -update` from the daemons' registries; do not edit -->"
	tableEnd   = "<!-- end of the metric table -->"
)

// metricTable renders the own families of both daemons as Markdown.
func metricTable(fams []family) string {
	var b strings.Builder
	b.WriteString(tableBegin + "\n")
	daemon := ""
	for _, f := range fams {
		if !f.Own() {
			continue
		}
		if f.Daemon != daemon {
			daemon = f.Daemon
			fmt.Fprintf(&b, "\n**%s**\n\n| metric | type | labels | meaning |\n|---|---|---|---|\n", daemon)
		}
		var labels []string
		for _, l := range f.Labels {
			if slices.Contains(targetLabels, l) {
				labels = append(labels, fmt.Sprintf("`%s` (stored as `exported_%s`)", l, l))
			} else {
				labels = append(labels, "`"+l+"`")
			}
		}
		if len(labels) == 0 {
			labels = []string{"(none)"}
		}
		help := strings.ReplaceAll(f.Help, "|", `\|`)
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.Name, f.Type, strings.Join(labels, ", "), help)
	}
	b.WriteString("\n" + tableEnd)
	return b.String()
}

// TestMetricsDoc: docs/monitoring.md's metric table is the real list
// (-update rewrites it), and the page has a section for every alert.
func TestMetricsDoc(t *testing.T) {
	path := filepath.Join(testutil.ModuleRoot(t), docFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, tableBegin), strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: the markers of the metric table are missing:\n%s\n%s", docFile, tableBegin, tableEnd)
	}
	want := metricTable(realFamilies(t))
	got := doc[i : j+len(tableEnd)]
	if got != want {
		if *update {
			doc = doc[:i] + want + doc[j+len(tableEnd):]
			if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: metric table rewritten", docFile)
		} else {
			t.Errorf("%s: the metric table differs from the daemons' registries; run go test ./e2e/monitoring -update\n--- want:\n%s", docFile, want)
		}
	}
	alerts := alertNames(t)
	for _, a := range alerts {
		if !strings.Contains(doc, "\n### "+a+"\n") {
			t.Errorf("%s: no section \"### %s\"", docFile, a)
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^### (Tandem\w+)$`).FindAllStringSubmatch(doc, -1) {
		if !slices.Contains(alerts, m[1]) {
			t.Errorf("%s: section %s names no alert of %s", docFile, m[1], rulesFile)
		}
	}
}
