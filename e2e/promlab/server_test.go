package promlab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// freeAddr is a loopback address with a port free a moment ago, for
// --web.listen-address (Prometheus reports no port it chose itself).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// exporter serves lab_switch, a gauge the test sets, in the text
// exposition format.
func exporter(t *testing.T, v *atomic.Int64) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# HELP lab_switch Set by the test.\n# TYPE lab_switch gauge\nlab_switch %d\n", v.Load())
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

const switchRules = `groups:
  - name: lab
    rules:
      - alert: LabSwitchOn
        expr: lab_switch == 1
        for: 1s
        labels:
          severity: test
        annotations:
          summary: "the switch of {{ $labels.instance }} is on"
`

// TestPrometheusFiresAndClears runs the real prometheus on loopback
// scraping an exporter of this test and evaluating one alert (for 1 s):
// the scraped value is queried, the alert goes pending or firing, then
// firing, when the value is 1 and is listed no more once it is back to 0,
// and query_range holds 0, 1, 0 in that order. Every wait is bounded.
func TestPrometheusFiresAndClears(t *testing.T) {
	bin := Binary(t)
	var sw atomic.Int64
	target := exporter(t, &sw)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(switchRules), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	s, err := Start(ctx, Config{
		Binary: bin, Dir: dir, Listen: freeAddr(t),
		Jobs: []Job{{Name: "lab", Targets: []string{target}, Labels: map[string]string{"cluster": "t"},
			TargetLabels: map[string]map[string]string{target: {"node": "exporter"}}}},
		RuleFiles: []string{"rules.yml"},
		Env:       []string{"GOMAXPROCS=1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", s.Output())
		}
	})
	t.Logf("prometheus ready after %v at %s", time.Since(start).Round(time.Millisecond), s.URL())

	value := func(expr string) (float64, bool) {
		v, err := s.Query(ctx, expr, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != 1 {
			return 0, false
		}
		return v[0].Value, true
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		v, ok := value(`up{job="lab"}`)
		return ok && v == 1
	}, "the exporter is not scraped (up == 1)")
	t.Logf("scraped after %v", time.Since(start).Round(time.Millisecond))
	v, err := s.Query(ctx, `lab_switch`, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 1 || v[0].Value != 0 || v[0].Metric["job"] != "lab" || v[0].Metric["cluster"] != "t" || v[0].Metric["node"] != "exporter" || v[0].Metric["instance"] != target {
		t.Fatalf("lab_switch: %+v, want one sample 0 with job lab, cluster t, node exporter, instance %s", v, target)
	}
	alerts := func() []Alert {
		a, err := s.Alerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if a := alerts(); len(a) != 0 {
		t.Fatalf("alerts with the switch off: %+v", a)
	}

	sw.Store(1)
	on := time.Now()
	var seen []string // the states the alert was seen in, each once, in order
	testutil.Eventually(t, 30*time.Second, func() bool {
		for _, a := range Find(alerts(), "LabSwitchOn", "") {
			if len(seen) == 0 || seen[len(seen)-1] != a.State {
				seen = append(seen, a.State)
			}
			if a.State == Firing {
				if a.Labels["severity"] != "test" || a.Annotations["summary"] != "the switch of "+target+" is on" || a.Value != "1e+00" || a.ActiveAt.IsZero() {
					t.Fatalf("firing alert: %+v", a)
				}
				return true
			}
		}
		return false
	}, "LabSwitchOn does not fire")
	t.Logf("MEASURED switch on -> LabSwitchOn firing: %v (for 1 s, scrape and evaluation every 1 s); states seen %v",
		time.Since(on).Round(time.Millisecond), seen)

	sw.Store(0)
	off := time.Now()
	testutil.Eventually(t, 30*time.Second, func() bool { return len(Find(alerts(), "LabSwitchOn", "")) == 0 },
		"LabSwitchOn still active with the switch off")
	t.Logf("MEASURED switch off -> LabSwitchOn inactive: %v", time.Since(off).Round(time.Millisecond))
	// One more scrape, so that the range ends on a 0 that was scraped.
	testutil.Settle(time.Second)

	r, err := s.QueryRange(ctx, `lab_switch`, start, time.Now(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(r.Raw, []byte(`{"status":"success","data":{"resultType":"matrix","result":[`)) {
		t.Errorf("query_range body: %.200s", r.Raw)
	}
	if len(r.Series) != 1 {
		t.Fatalf("query_range: %d series, want 1", len(r.Series))
	}
	var runs []float64 // the values with repeats folded: want 0, 1, 0
	for _, x := range r.Series[0].Values() {
		if len(runs) == 0 || runs[len(runs)-1] != x {
			runs = append(runs, x)
		}
	}
	if fmt.Sprint(runs) != "[0 1 0]" {
		t.Errorf("lab_switch over the test: %v, want [0 1 0]", r.Series[0].Values())
	}
	pts := r.Series[0].Points
	for i := 1; i < len(pts); i++ {
		if d := pts[i].Time.Sub(pts[i-1].Time); d != time.Second {
			t.Fatalf("points %d and %d are %v apart, want the 1 s step", i-1, i, d)
		}
	}

	if _, err := s.Query(ctx, `lab_switch{`, time.Time{}); err == nil || !strings.Contains(err.Error(), "bad_data") {
		t.Errorf("a query with a syntax error: %v, want Prometheus's bad_data", err)
	}
	stop := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("stopped in %v", time.Since(stop).Round(time.Millisecond))
	select {
	case <-s.proc.Done():
	default:
		t.Fatal("prometheus still running after Stop")
	}
	if _, err := s.Query(ctx, `up`, time.Time{}); err == nil {
		t.Error("a query after Stop was answered")
	}
}

// TestStartFailsWithOutput: a rule file Prometheus cannot load ends the
// process; Start says so with its output instead of waiting for ready.
func TestStartFailsWithOutput(t *testing.T) {
	bin := Binary(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, Config{Binary: bin, Dir: dir, Listen: freeAddr(t), RuleFiles: []string{"rules.yml"}})
	if err == nil {
		_ = s.Stop()
		t.Fatal("Start with a broken rule file: no error")
	}
	if !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "rules.yml") {
		t.Errorf("Start: %v\nwant the exit and prometheus's words about rules.yml", err)
	}
}

// TestStartLocalStop: a process that ignores SIGTERM is killed after the
// grace and Stop says so; one that exits on it is stopped without error.
func TestStartLocalStop(t *testing.T) {
	p, err := StartLocal([]string{"sh", "-c", "echo started; exec sleep 30"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return strings.Contains(p.Output(), "started") }, "no output")
	if err := p.Stop(5 * time.Second); err != nil {
		t.Errorf("stop of sleep: %v", err)
	}
	p, err = StartLocal([]string{"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return strings.Contains(p.Output(), "ready") }, "no output")
	err = p.Stop(200 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("stop of a process that ignores SIGTERM: %v, want killed", err)
	}
	if _, err := StartLocal([]string{filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("StartLocal of a missing program: no error")
	}
	var b boundedBuffer
	big := bytes.Repeat([]byte("x"), maxOutput+10)
	if n, _ := b.Write(big); n != len(big) || !strings.HasSuffix(b.String(), "[10 more bytes dropped]\n") {
		t.Errorf("bounded buffer: wrote %d, tail %q", n, b.String()[len(b.String())-40:])
	}
}

// TestNetnsPrometheusInLab runs Prometheus as a lab does: started in one
// namespace of a netlab (its Start), listening on that host's address,
// scraping an exporter in another namespace, its API reached through the
// lab's HTTP client for that host; then stopped with the lab's process.
func TestNetnsPrometheusInLab(t *testing.T) {
	testutil.Netns(t)
	bin := Binary(t)
	nl, err := netlab.New(t, netlab.Spec{Hosts: []netlab.HostSpec{
		{Name: "mon", Addr: "10.98.0.10/24"},
		{Name: "srv", Addr: "10.98.0.11/24"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := nl.Listen("srv", "tcp4", "10.98.0.11:9481")
	if err != nil {
		t.Fatal(err)
	}
	var sw atomic.Int64
	sw.Store(7)
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "# TYPE lab_switch gauge\nlab_switch %d\n", sw.Load())
		}))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, Config{
		Binary: bin, Dir: t.TempDir(), Listen: "10.98.0.10:9090",
		Jobs: []Job{{Name: "lab", Targets: []string{"10.98.0.11:9481"}}},
		Env:  []string{"GOMAXPROCS=1"},
		Start: func(argv []string) (Process, error) {
			p, err := nl.Start("mon", argv...)
			if err != nil {
				return nil, err
			}
			return p, nil
		},
		Client: nl.HTTPClient("mon", 10*time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	testutil.Eventually(t, 30*time.Second, func() bool {
		v, err := s.Query(ctx, `lab_switch{instance="10.98.0.11:9481"}`, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return len(v) == 1 && v[0].Value == 7
	}, "lab_switch from srv is not scraped")
	if err := s.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}

// TestShippedRulesFireAndClear loads the shipped rules
// (packaging/monitoring/tandem-alerts.yml) with WithFor's 2 s into the real
// Prometheus, which scrapes two stand-ins of directors (their metric names
// and labels, each target labelled with its director as the lab does):
// both in FAULT and a sorry server in service fire TandemNoVRRPMaster and
// TandemSorryServerInService; a master and no sorry server clear them.
// What the guest scenario relies on, checked here on loopback.
func TestShippedRulesFireAndClear(t *testing.T) {
	bin := Binary(t)
	orig, err := os.ReadFile(filepath.Join(testutil.ModuleRoot(t), "packaging", "monitoring", "tandem-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	rules, _, err := WithFor(orig, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tandem-alerts.yml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	type director struct{ state, sorry atomic.Int64 }
	var d1, d2 director
	d1.state.Store(2) // MASTER
	d2.state.Store(1) // BACKUP
	serve := func(d *director) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "# TYPE tandem_director_info gauge\ntandem_director_info{version=\"test\"} 1\n"+
				"# TYPE tandem_director_vrrp_state gauge\ntandem_director_vrrp_state{vrrp_instance=\"VI0\"} %d\n"+
				"# TYPE tandem_director_service_sorry_active gauge\ntandem_director_service_sorry_active{service=\"TCP 10.99.0.100:80\"} %d\n",
				d.state.Load(), d.sorry.Load())
		}))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	t1, t2 := serve(&d1), serve(&d2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, Config{
		Binary: bin, Dir: dir, Listen: freeAddr(t),
		Jobs: []Job{{Name: "tandem-director", Targets: []string{t1, t2},
			TargetLabels: map[string]map[string]string{t1: {"director": "dir1"}, t2: {"director": "dir2"}}}},
		RuleFiles: []string{"tandem-alerts.yml"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	alerts := func() []Alert {
		a, err := s.Alerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		v, err := s.Query(ctx, `count(tandem_director_vrrp_state)`, time.Time{})
		return err == nil && len(v) == 1 && v[0].Value == 2
	}, "both stand-ins are not scraped")
	testutil.Settle(3 * time.Second) // for (2 s) and an evaluation: nothing may be pending
	if a := alerts(); len(a) != 0 {
		t.Fatalf("alerts with a master and no sorry server: %+v", a)
	}

	d1.state.Store(3) // FAULT
	d2.state.Store(3)
	d2.sorry.Store(1)
	var firing []string
	testutil.Eventually(t, 30*time.Second, func() bool {
		a := alerts()
		firing = Names(a, Firing)
		nm := Find(a, "TandemNoVRRPMaster", Firing)
		ss := Find(a, "TandemSorryServerInService", Firing)
		return len(nm) == 1 && nm[0].Labels["vrrp_instance"] == "VI0" && len(ss) == 1 && ss[0].Labels["director"] == "dir2"
	}, "TandemNoVRRPMaster and TandemSorryServerInService (dir2) do not fire; firing: %v", firing)
	t.Logf("firing with both directors FAULT and dir2's sorry server in: %v", firing)

	d1.state.Store(2)
	d2.sorry.Store(0)
	testutil.Eventually(t, 30*time.Second, func() bool {
		a := alerts()
		return len(Find(a, "TandemNoVRRPMaster", "")) == 0 && len(Find(a, "TandemSorryServerInService", "")) == 0
	}, "TandemNoVRRPMaster or TandemSorryServerInService still active: %+v", firing)
}
