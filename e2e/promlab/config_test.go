package promlab

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/tandemlb/tandem/shared/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func labConfig() Config {
	return Config{
		Binary: "/usr/local/lib/tandem-tools/prometheus",
		Dir:    "/tmp/prom",
		Listen: "10.99.0.10:9090",
		Jobs: []Job{
			{Name: "tandem-director", Targets: []string{"10.99.0.2:9480", "10.99.0.3:9480"}, Labels: map[string]string{"cluster": "lab", "az": "a"}},
			{Name: "tandem-backend", Targets: []string{"10.99.0.11:9481", "10.99.0.12:9481", "10.99.0.13:9481"},
				TargetLabels: map[string]map[string]string{"10.99.0.12:9481": {"node": "rs2"}, "10.99.0.13:9481": {"node": "rs3", "az": "b"}}},
		},
		RuleFiles: []string{"rules.yml"},
	}
}

func TestYAMLGolden(t *testing.T) {
	c := labConfig()
	testutil.Golden(t, t.Name(), c.YAML(), *update)
	// The same text is what Prometheus reads: plain YAML with the fields
	// where Prometheus looks for them.
	var doc struct {
		Global struct {
			Scrape   string `yaml:"scrape_interval"`
			Timeout  string `yaml:"scrape_timeout"`
			Evaluate string `yaml:"evaluation_interval"`
		}
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			Job    string `yaml:"job_name"`
			Static []struct {
				Targets []string
				Labels  map[string]string
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	type group = struct {
		Targets []string
		Labels  map[string]string
	}
	if err := yaml.Unmarshal(c.YAML(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Global.Scrape != "1000ms" || doc.Global.Timeout != "1000ms" || doc.Global.Evaluate != "1000ms" {
		t.Errorf("global: %+v, want 1000ms each", doc.Global)
	}
	if len(doc.ScrapeConfigs) != 2 || doc.ScrapeConfigs[0].Job != "tandem-director" || doc.ScrapeConfigs[1].Job != "tandem-backend" {
		t.Fatalf("scrape_configs read back: %+v", doc.ScrapeConfigs)
	}
	if diff := cmp.Diff([]group{{Targets: []string{"10.99.0.2:9480", "10.99.0.3:9480"}, Labels: map[string]string{"cluster": "lab", "az": "a"}}},
		[]group(doc.ScrapeConfigs[0].Static)); diff != "" {
		t.Errorf("tandem-director's targets read back (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]group{{Targets: []string{"10.99.0.11:9481"}}, {Targets: []string{"10.99.0.12:9481"}, Labels: map[string]string{"node": "rs2"}},
		{Targets: []string{"10.99.0.13:9481"}, Labels: map[string]string{"node": "rs3", "az": "b"}}},
		[]group(doc.ScrapeConfigs[1].Static)); diff != "" {
		t.Errorf("tandem-backend's targets read back (-want +got):\n%s", diff)
	}
	if !cmp.Equal(doc.RuleFiles, []string{"rules.yml"}) {
		t.Errorf("rule_files read back: %q", doc.RuleFiles)
	}
}

func TestArgs(t *testing.T) {
	c := labConfig()
	c.Retention = 10 * time.Minute
	want := []string{
		"--config.file=/tmp/prom/prometheus.yml",
		"--storage.tsdb.path=/tmp/prom/data",
		"--storage.tsdb.retention.time=600000ms",
		"--web.listen-address=10.99.0.10:9090",
		"--log.level=warn",
	}
	if diff := cmp.Diff(want, c.Args()); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // a substring of the error; "" for none
	}{
		{"ok", func(*Config) {}, ""},
		{"no binary", func(c *Config) { c.Binary = "" }, "no binary"},
		{"listen not an IP", func(c *Config) { c.Listen = "localhost:9090" }, `host "localhost" is not an IP literal`},
		{"listen port", func(c *Config) { c.Listen = "127.0.0.1:0" }, `port "0"`},
		{"sub-millisecond interval", func(c *Config) { c.ScrapeInterval = 1500 * time.Microsecond }, "scrape interval 1.5ms"},
		{"job twice", func(c *Config) { c.Jobs[1].Name = c.Jobs[0].Name }, `job "tandem-director": twice`},
		{"job without targets", func(c *Config) { c.Jobs[1].Targets = nil }, `job "tandem-backend": no target`},
		{"quote in a job name", func(c *Config) { c.Jobs[0].Name = `a"b` }, "job 0: name"},
		{"bad target", func(c *Config) { c.Jobs[1].Targets = []string{"10.99.0.11"} }, `job "tandem-backend": target`},
		{"reserved label", func(c *Config) { c.Jobs[1].Labels = map[string]string{"__name__": "x"} }, `label "__name__"`},
		{"labels of no target", func(c *Config) { c.Jobs[1].TargetLabels["10.99.0.99:9481"] = map[string]string{"a": "b"} }, `labels for "10.99.0.99:9481", not a target`},
		{"bad target label", func(c *Config) { c.Jobs[1].TargetLabels["10.99.0.12:9481"]["1x"] = "b" }, `target 10.99.0.12:9481: label "1x"`},
		{"newline in a rule file", func(c *Config) { c.RuleFiles = []string{"a\nb"} }, "rule file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := labConfig()
			tc.edit(&c)
			c.setDefaults()
			err := c.validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("validate: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

const twoRules = `groups:
  - name: g
    rules:
      - alert: Slow
        expr: up == 0
        for: 6h
        labels:
          severity: info
      - alert: Instant
        expr: up == 2
      - record: job:up:sum
        expr: sum by (job) (up)
`

func TestWithFor(t *testing.T) {
	out, changed, err := WithFor([]byte(twoRules), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Slow"}, changed); diff != "" {
		t.Errorf("changed (-want +got):\n%s", diff)
	}
	if want := strings.Replace(twoRules, "for: 6h", "for: 3000ms", 1); string(out) != want {
		t.Errorf("rules:\n%s\nwant only Slow's for changed:\n%s", out, want)
	}
	for _, bad := range []string{"", "groups: 3\n", "groups:\n  - name: g\n", "- a\n", "groups:\n  - name: g\n    rules: [1]\n",
		"groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        for: \"5m\"\n", // quoted: not changed in place
	} {
		if _, _, err := WithFor([]byte(bad), time.Second); err == nil {
			t.Errorf("WithFor(%q): no error", bad)
		}
	}
	if _, _, err := WithFor([]byte(twoRules), -time.Second); err == nil {
		t.Error("WithFor with a negative for: no error")
	}
}

// TestWithForShippedRules shortens the shipped rules' for and has
// promtool check the result: the copy a scenario loads is valid and holds
// every alert of the original, each expression unchanged.
func TestWithForShippedRules(t *testing.T) {
	root := testutil.ModuleRoot(t)
	orig, err := os.ReadFile(filepath.Join(root, "packaging", "monitoring", "tandem-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	out, changed, err := WithFor(orig, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	exprs := func(b []byte) map[string]string {
		var f struct {
			Groups []struct {
				Rules []struct{ Alert, Expr, For string }
			}
		}
		if err := yaml.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				m[r.Alert] = r.Expr + " for " + r.For
			}
		}
		return m
	}
	before, after := exprs(orig), exprs(out)
	for _, name := range changed {
		b := before[name]
		before[name] = b[:strings.LastIndex(b, " for ")] + " for 3000ms"
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("alerts after WithFor (-want +got):\n%s", diff)
	}
	for _, name := range []string{"TandemNoVRRPMaster", "TandemSorryServerInService"} {
		if !strings.HasSuffix(after[name], " for 3000ms") {
			t.Errorf("%s: %q, want for 3000ms", name, after[name])
		}
	}
	path := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err := exec.Command(testutil.Promtool(t), "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, o)
	}
}
