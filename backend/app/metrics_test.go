package app

import (
	"reflect"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

// Collectors names every collector field of Metrics (the registry aside),
// each set: a metric added to the struct and not to Collectors would be
// neither registered nor seen by e2e/monitoring.
func TestMetricsCollectors(t *testing.T) {
	m := NewMetrics()
	var fields []string
	collector := reflect.TypeFor[prometheus.Collector]()
	for f := range reflect.TypeFor[Metrics]().Fields() {
		if f.Name != "Registry" && f.Type.Implements(collector) {
			fields = append(fields, f.Name)
		}
	}
	var names []string
	for name, c := range m.Collectors() {
		names = append(names, name)
		if reflect.ValueOf(c).IsNil() {
			t.Errorf("collector %s is nil", name)
		}
	}
	slices.Sort(fields)
	slices.Sort(names)
	if diff := cmp.Diff(fields, names); diff != "" {
		t.Errorf("Collectors (-fields +names)\n%s", diff)
	}
}
