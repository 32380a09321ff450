package monitoring

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	backendapp "github.com/tandemlb/tandem/backend/app"
	"github.com/tandemlb/tandem/director/metrics"
	"github.com/tandemlb/tandem/shared/testutil"
)

// family is one metric family a daemon exposes on /metrics.
type family struct {
	Daemon string   // tandem-director or tandem-backend
	Name   string   // as exposed: tandem_director_vrrp_state, go_goroutines
	Type   string   // counter, gauge, histogram, summary, untyped
	Labels []string // the daemon's label names, sorted (no target labels)
	Help   string
}

// Own says whether the family is one of Tandem's (not the Go runtime's or
// the process collector's, which every client_golang program exposes).
func (f family) Own() bool { return strings.HasPrefix(f.Name, "tandem_") }

// targetLabels are the labels Prometheus attaches to every scraped series.
// A daemon's label of the same name is kept as exported_<name> (the
// default honor_labels: false); the daemons avoid these names (the
// director's VRRP label is vrrp_instance).
var targetLabels = []string{"instance", "job"}

// StoredLabels are the label names of the family's series as Prometheus
// stores them: the daemon's labels, renamed where they collide with a
// target label, plus the target labels.
func (f family) StoredLabels() []string {
	out := slices.Clone(targetLabels)
	for _, l := range f.Labels {
		if slices.Contains(targetLabels, l) {
			l = "exported_" + l
		}
		out = append(out, l)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// daemon is one daemon's metric set, built as the daemon builds it (the
// constructors director/app and backend/app call): what it serves on
// /metrics and its own collectors by name.
type daemon struct {
	name string
	// served gathers what the daemon's /metrics serves: the agent's
	// registry; the director's handler, whose answer is parsed (its large
	// families are written by hand, not held by its registry).
	served     prometheus.Gatherer
	collectors map[string]prometheus.Collector
}

// daemons are the director's metric set, then the agent's.
func daemons() ([]daemon, error) {
	d := metrics.New()
	// The families the director reads at scrape time (VRRP counters,
	// IPVS traffic, fast failover) exist only with a source: one made-up
	// series each.
	d.SetExampleSources()
	dc, err := directorCollectors(d)
	if err != nil {
		return nil, err
	}
	b := backendapp.NewMetrics()
	return []daemon{
		{"tandem-director", servedBy(d.Handler()), dc},
		{"tandem-backend", b.Registry, b.Collectors()},
	}, nil
}

// servedBy gathers the families h serves on GET /metrics, parsed from its
// text.
func servedBy(h http.Handler) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusOK {
			return nil, fmt.Errorf("GET /metrics: %d %s", rec.Code, rec.Body)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(rec.Body)
		if err != nil {
			return nil, fmt.Errorf("GET /metrics: %w", err)
		}
		out := slices.Collect(maps.Values(fams))
		slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
		return out, nil
	})
}

// directorCollectors returns every collector field of the director's
// metric struct (the registry aside), by field name. The director exports
// them for director/app to set; an unexported one is an error, as this
// test would not see the daemon's own collector.
func directorCollectors(m *metrics.Metrics) (map[string]prometheus.Collector, error) {
	v := reflect.ValueOf(m).Elem()
	collector := reflect.TypeFor[prometheus.Collector]()
	out := map[string]prometheus.Collector{}
	for sf := range v.Type().Fields() {
		if sf.Type == reflect.TypeFor[*prometheus.Registry]() || !sf.Type.Implements(collector) {
			continue // the registry is a collector of everything
		}
		if !sf.IsExported() {
			return nil, fmt.Errorf("%T.%s is an unexported collector: export it, as the others are", m, sf.Name)
		}
		f := v.FieldByIndex(sf.Index)
		if f.IsNil() {
			return nil, fmt.Errorf("%T.%s is nil", m, sf.Name)
		}
		out[sf.Name] = f.Interface().(prometheus.Collector)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%T has no collector field", m)
	}
	return out, nil
}

// touch creates one child of a vector (labels "x0", "x1", ...) so that the
// family shows in Gather; a collector without labels has nothing to touch.
// The number of labels is found by trying: the vector refuses any other.
func touch(c prometheus.Collector) error {
	m := reflect.ValueOf(c).MethodByName("GetMetricWithLabelValues")
	if !m.IsValid() {
		return nil
	}
	for n := 0; n <= 16; n++ {
		args := make([]reflect.Value, n)
		for i := range args {
			args[i] = reflect.ValueOf("x" + strconv.Itoa(i))
		}
		if out := m.Call(args); out[1].IsNil() {
			return nil
		}
	}
	return fmt.Errorf("%T: no label count up to 16 accepted", c)
}

// describeCount is the number of descriptors a collector describes.
func describeCount(c prometheus.Collector) int {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}

// gatherFamilies gathers g into families of daemon d.
func gatherFamilies(d string, g prometheus.Gatherer) ([]family, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, err
	}
	var out []family
	for _, mf := range mfs {
		f := family{Daemon: d, Name: mf.GetName(), Type: strings.ToLower(mf.GetType().String()), Help: mf.GetHelp()}
		if ms := mf.GetMetric(); len(ms) > 0 {
			for _, l := range ms[0].GetLabel() {
				f.Labels = append(f.Labels, l.GetName())
			}
		}
		slices.Sort(f.Labels)
		out = append(out, f)
	}
	return out, nil
}

var realOnce struct {
	sync.Once
	fams []family
	err  error
}

// realFamilies is every metric family both daemons expose, the
// director's then the agent's, each sorted by name: the families each
// daemon serves on /metrics once every vector of its metric struct has
// one child. It fails the test when a collector of the struct is not
// served, or describes a family that is still missing.
func realFamilies(t *testing.T) []family {
	t.Helper()
	realOnce.Do(func() { realOnce.fams, realOnce.err = buildFamilies() })
	if realOnce.err != nil {
		t.Fatal(realOnce.err)
	}
	return realOnce.fams
}

func buildFamilies() ([]family, error) {
	ds, err := daemons()
	if err != nil {
		return nil, err
	}
	var all []family
	for _, d := range ds {
		own := map[string]string{} // family name -> field
		for _, n := range slices.Sorted(maps.Keys(d.collectors)) {
			c := d.collectors[n]
			if err := touch(c); err != nil {
				return nil, fmt.Errorf("%s: field %s: %v", d.name, n, err)
			}
			// The collector alone, on a pedantic registry: what it
			// describes must be what it collects.
			r := prometheus.NewPedanticRegistry()
			if err := r.Register(c); err != nil {
				return nil, fmt.Errorf("%s: field %s: %v", d.name, n, err)
			}
			fs, err := gatherFamilies(d.name, r)
			if err != nil {
				return nil, fmt.Errorf("%s: field %s: %v", d.name, n, err)
			}
			if want := describeCount(c); len(fs) != want {
				return nil, fmt.Errorf("%s: field %s describes %d families, %d gathered after touching it", d.name, n, want, len(fs))
			}
			for _, f := range fs {
				own[f.Name] = n
			}
		}
		fams, err := gatherFamilies(d.name, d.served)
		if err != nil {
			return nil, fmt.Errorf("%s: gather: %v", d.name, err)
		}
		onRegistry := map[string]bool{}
		for _, f := range fams {
			onRegistry[f.Name] = true
		}
		for name, field := range own {
			if !onRegistry[name] {
				return nil, fmt.Errorf("%s: %s (field %s) is not on the daemon's /metrics", d.name, name, field)
			}
		}
		slices.SortFunc(fams, func(a, b family) int { return strings.Compare(a.Name, b.Name) })
		all = append(all, fams...)
	}
	return all, nil
}

// familyIndex maps each exposed name to its family.
func familyIndex(t *testing.T) map[string]family {
	t.Helper()
	idx := map[string]family{}
	for _, f := range realFamilies(t) {
		if g, dup := idx[f.Name]; dup && g.Daemon != f.Daemon && f.Own() {
			t.Fatalf("%s is exposed by both %s and %s", f.Name, g.Daemon, f.Daemon)
		}
		idx[f.Name] = f
	}
	return idx
}

// metricFiles are the only Go files of the daemons that may define
// metrics: realFamilies reads the structs they build. A file elsewhere that
// imports client_golang's prometheus package (other than promhttp, which
// serves a registry) defines metrics this test would not see.
var metricFiles = []string{"backend/app/metrics.go", "director/metrics/family.go", "director/metrics/metrics.go"}

func TestNoMetricsOutsideTheKnownFiles(t *testing.T) {
	root := testutil.ModuleRoot(t)
	fset := token.NewFileSet()
	var found []string
	for _, top := range []string{"director", "backend", "shared"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			for _, im := range f.Imports {
				path, _ := strconv.Unquote(im.Path.Value)
				if path == "github.com/prometheus/client_golang/prometheus" || path == "github.com/prometheus/client_golang/prometheus/promauto" {
					rel, _ := filepath.Rel(root, p)
					found = append(found, filepath.ToSlash(rel))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(found)
	if !slices.Equal(found, metricFiles) {
		t.Errorf("Go files that import client_golang's prometheus: %q, want %q.\n"+
			"A daemon's metrics are defined in those files only, as fields of the struct its constructor returns, "+
			"so that e2e/monitoring sees every family; move the new metric there (or teach daemons() about the new registry)", found, metricFiles)
	}
}

func TestRealFamilies(t *testing.T) {
	fams := realFamilies(t)
	own := map[string]int{}
	for _, f := range fams {
		if f.Own() {
			own[f.Daemon]++
			if !strings.HasPrefix(f.Name, strings.ReplaceAll(f.Daemon, "-", "_")+"_") {
				t.Errorf("%s of %s does not carry its daemon's prefix", f.Name, f.Daemon)
			}
			if f.Help == "" {
				t.Errorf("%s has no help text", f.Name)
			}
		}
		t.Logf("%s %s %s %v", f.Daemon, f.Type, f.Name, f.Labels)
	}
	// Anchors: families that must be there, each with its labels, so that
	// a broken reflection walk cannot return a short list.
	idx := familyIndex(t)
	for name, labels := range map[string][]string{
		"tandem_director_vrrp_state":                             {"vrrp_instance"},
		"tandem_director_destination_state":                      {"rs", "service"},
		"tandem_director_check_results_total":                    {"check", "result", "rs", "service"},
		"tandem_backend_director_destination_weight":             {"destination", "director", "service"},
		"tandem_backend_arp_guard_ok":                            nil,
		"tandem_backend_heartbeat_replies_rejected_total":        {"reason"},
		"tandem_director_info":                                   {"version"},
		"tandem_backend_director_destination_active_connections": {"destination", "director", "service"},
	} {
		f, ok := idx[name]
		if !ok {
			t.Errorf("%s is missing from the real list", name)
			continue
		}
		if !slices.Equal(f.Labels, labels) {
			t.Errorf("%s labels %v, want %v", name, f.Labels, labels)
		}
	}
	for d, n := range own {
		if n < 15 {
			t.Errorf("%s: only %d own families", d, n)
		}
	}
	if len(own) != 2 {
		t.Errorf("own families of %d daemons, want 2", len(own))
	}
}
