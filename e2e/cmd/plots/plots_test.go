package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/shared/testutil"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseMatrix(t *testing.T) {
	ss, err := parseMatrix("drain-connections.json", readTestdata(t, "drain-connections.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 3 {
		t.Fatalf("%d series, want 3", len(ss))
	}
	if ss[1].Labels["rs"] != "10.99.1.12:80" || len(ss[1].Points) != 12 {
		t.Errorf("series 1: %v, %d points", ss[1].Labels, len(ss[1].Points))
	}
	if got, want := ss[1].Points[1], (Point{T: 1733580001.5, V: 7}); got != want {
		t.Errorf("point: %+v, want %+v", got, want)
	}

	// Prometheus writes NaN and infinities as strings.
	ss, err = parseMatrix("x", []byte(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"NaN"],[2,"+Inf"],[3.5,"-2e3"]]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if p := ss[0].Points; !math.IsNaN(p[0].V) || !math.IsInf(p[1].V, 1) || p[2] != (Point{3.5, -2000}) {
		t.Errorf("points %+v", p)
	}

	many := `{"status":"success","data":{"resultType":"matrix","result":[` +
		strings.Repeat(`{"metric":{},"values":[]},`, maxSeries) + `{"metric":{},"values":[]}]}}`
	for _, tt := range []struct{ body, want string }{
		{`{"status":"error","errorType":"bad_data","error":"parse error"}`, `f.json: status "error" (bad_data: parse error)`},
		{`{"status":"success","data":{"resultType":"vector","result":[]}}`, `f.json: data.resultType "vector", want "matrix"`},
		{`{"status":"success","data":{"resultType":"matrix","result":[]}}`, `f.json: data.result: no series`},
		{`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"2"],[1,"3"]]}]}}`, `f.json: data.result[0].values[1]: time 1 not after 1`},
		{`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,2]]}]}}`, `f.json: data.result[0].values[0]: value 2: not a string`},
		{`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}`, `f.json: data.result[0].values[0]: value "x": not a number`},
		{`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[["1","2"]]}]}}`, `f.json: data.result[0].values[0]: time "1": not a number`},
		{`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1]]}]}}`, `f.json: data.result[0].values[0]: [1]: want [time, "value"]`},
		{many, `f.json: data.result: 65 series, at most 64`},
		{`{"status":`, `f.json: unexpected end of JSON input`},
	} {
		_, err := parseMatrix("f.json", []byte(tt.body))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%.60s…: error %v, want %q", tt.body, err, tt.want)
		}
	}
	if _, err := parseMatrix("big.json", make([]byte, maxDataFileSize+1)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized body: %v", err)
	}
}

func TestLegends(t *testing.T) {
	s := func(kv ...string) Series {
		l := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
		return Series{Labels: l}
	}
	for _, tt := range []struct {
		name string
		in   []Series
		want []string
	}{
		{"one series: the fallback", []Series{s("__name__", "m", "rs", "a")}, []string{"fb"}},
		{"only rs differs", []Series{s("rs", "10.0.0.1:80", "job", "j"), s("rs", "10.0.0.2:80", "job", "j")}, []string{"10.0.0.1:80", "10.0.0.2:80"}},
		{"rs alone tells them apart", []Series{s("service", "A", "rs", "r1"), s("service", "B", "rs", "r2")}, []string{"r1", "r2"}},
		{"only service differs", []Series{s("service", "A", "rs", "r1"), s("service", "B", "rs", "r1")}, []string{"A", "B"}},
		{"rs and service", []Series{s("service", "A", "rs", "r1"), s("service", "B", "rs", "r1"), s("service", "A", "rs", "r2")},
			[]string{"rs=r1, service=A", "rs=r1, service=B", "rs=r2, service=A"}},
		{"director before instance", []Series{s("director", "dir1", "instance", "10.0.0.1:9130"), s("director", "dir2", "instance", "10.0.0.2:9130")}, []string{"dir1", "dir2"}},
		{"a label only one has", []Series{s("instance", "d1"), s("instance", "d1", "extra", "x")}, []string{"extra=", "extra=x"}},
		{"nothing differs", []Series{s("a", "1"), s("a", "1")}, []string{"fb 1", "fb 2"}},
		{"quotes and tabs removed", []Series{s("rs", "a'b\"c\\d\te"), s("rs", "x")}, []string{"a b c d e", "x"}},
		{"long cut on a rune", []Series{s("rs", strings.Repeat("é", 40)), s("rs", "x")}, []string{strings.Repeat("é", 30) + "…", "x"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, legends(tt.in, "fb")); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestWideTSV(t *testing.T) {
	ss := []Series{
		{Points: []Point{{100, 1}, {101, 2}, {102, math.Inf(1)}}},
		{Points: []Point{{101, 5.5}, {103, 1e-7}}},
	}
	var b bytes.Buffer
	if err := wideTSV(&b, []string{"a", "b"}, 100, ss); err != nil {
		t.Fatal(err)
	}
	want := "t_s\ta\tb\n0.000\t1\tNaN\n1.000\t2\t5.5\n2.000\tNaN\tNaN\n3.000\tNaN\t1e-07\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestRolesFromState(t *testing.T) {
	// A 1 s step. lb1: MASTER 0–2, no sample at 3 and 4 (down), BACKUP
	// from 5; lb2: BACKUP 0–2, MASTER from 3 (a NaN at 4 is a gap).
	ss := []Series{
		{Points: []Point{{10, 2}, {11, 2}, {12, 2}, {15, 1}, {16, 1}}},
		{Points: []Point{{10, 1}, {11, 1}, {12, 1}, {13, 2}, {14, math.NaN()}, {15, 2}, {16, 2}}},
	}
	got := rolesFromState(ss, []string{"lb1", "lb2"}, 10)
	want := []role{
		{level: 2, start: 0, length: 3, name: "lb1", state: stateMaster},
		{level: 2, start: 5, length: 2, name: "lb1", state: stateBackup},
		{level: 1, start: 0, length: 3, name: "lb2", state: stateBackup},
		{level: 1, start: 3, length: 1, name: "lb2", state: stateMaster},
		{level: 1, start: 5, length: 2, name: "lb2", state: stateMaster},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(role{})); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	var b bytes.Buffer
	if err := rolesTSV(&b, got[:1]); err != nil {
		t.Fatal(err)
	}
	if want := "level\tstart_s\tlength_s\tdirector\tstate\n2\t0.000\t3.000\tlb1\t2\n"; b.String() != want {
		t.Errorf("rolesTSV:\n%q, want\n%q", b.String(), want)
	}
}

func TestBenchSeries(t *testing.T) {
	r, err := parseBench("failover-bench.json", readTestdata(t, "failover-bench.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.ProbeMult != 3 || len(r.Series) != 3 || findRun(r, "keepalived", "keepalived", "stop") == nil || findRun(r, "tandem", "tandem", "crash") != nil {
		t.Fatalf("%+v", r)
	}
	s := &benchSeries{Bucket: 0.05,
		Requests: []benchBucket{{T: -0.1, AnsweredD1: 5}, {T: -0.05, AnsweredD1: 4, Failed: 1}, {T: 0, Failed: 5}, {T: 0.05, AnsweredD2: 5}},
		Holders:  []benchHolder{{T: -0.1, D1: true}, {T: 0.01}, {T: 0.04, D2: true}}}
	var b bytes.Buffer
	if err := requestsTSV(&b, s); err != nil {
		t.Fatal(err)
	}
	want := "t_s\td1 answered\td2 answered\tfailed\n" +
		"-0.100\t100\t0\t0\n-0.050\t80\t0\t20\n0.000\t0\t0\t100\n0.050\t0\t100\t0\n0.100\t0\t100\t0\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("requestsTSV (-want +got)\n%s", diff)
	}
	roles := rolesFromHolders(s, "d1", "d2")
	for i := range roles { // float sums: compare to the millisecond
		roles[i].start, roles[i].length = math.Round(roles[i].start*1000)/1000, math.Round(roles[i].length*1000)/1000
	}
	wantRoles := []role{
		{level: 2, start: -0.1, length: 0.11, name: "d1", state: stateMaster},
		{level: 2, start: 0.01, length: 0.09, name: "d1", state: stateBackup},
		{level: 1, start: -0.1, length: 0.14, name: "d2", state: stateBackup},
		{level: 1, start: 0.04, length: 0.06, name: "d2", state: stateMaster},
	}
	if diff := cmp.Diff(wantRoles, roles, cmp.AllowUnexported(role{})); diff != "" {
		t.Errorf("rolesFromHolders (-want +got)\n%s", diff)
	}

	for _, tt := range []struct{ body, want string }{
		{`{"series":[],"extra":1}`, `json: unknown field "extra"`},
		{`{"series":[{"event":"reboot","bucket_s":0.05}]}`, `series[0].event "reboot"`},
		{`{"series":[{"event":"crash","bucket_s":0}]}`, `series[0].bucket_s 0`},
		{`{"series":[{"event":"crash","bucket_s":0.05,"requests":[{"t":1},{"t":1}]}]}`, `series[0].requests[1].t 1 not after 1`},
		{`{"series":[{"event":"crash","bucket_s":0.05,"holders":[{"t":1},{"t":0}]}]}`, `series[0].holders[1].t 0 before 1`},
	} {
		if _, err := parseBench("b.json", []byte(tt.body)); err == nil || !strings.Contains(err.Error(), "b.json: "+tt.want) {
			t.Errorf("%s: error %v, want %q", tt.body, err, tt.want)
		}
	}
}

// TestBenchDataFile reads docs/data/failover-bench.json, when it is there,
// as make docs does: e2e/bench/failover's format and this reader agree.
func TestBenchDataFile(t *testing.T) {
	path := filepath.Join(testutil.ModuleRoot(t), "docs", "data", "failover-bench.json")
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		t.Skip("docs/data/failover-bench.json not there (make bench-failover writes it)")
	}
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseBench(path, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Series) == 0 {
		t.Error("no series")
	}
}

func TestFill(t *testing.T) {
	page := "# P\n\ntext\n<!-- figure drain-connections (make docs fills this) -->\nold content\n<!-- /figure -->\nafter\n"
	got, shown, err := fill("p.md", []byte(page), func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	want := "# P\n\ntext\n<!-- figure drain-connections (make docs fills this) -->\n\n![" + figures["drain-connections"].alt +
		"](img/drain-connections.png)\n\n" + wrap(figures["drain-connections"].caption, 76) + "\n\n<!-- /figure -->\nafter\n"
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]string{"drain-connections"}, shown); diff != "" {
		t.Errorf("shown (-want +got)\n%s", diff)
	}
	// Filling again changes nothing; without the PNG the block is empty.
	if again, _, _ := fill("p.md", got, func(string) bool { return true }); !bytes.Equal(again, got) {
		t.Errorf("second fill changed the page:\n%s", again)
	}
	empty, shown, err := fill("p.md", got, func(string) bool { return false })
	if err != nil || len(shown) != 0 {
		t.Fatal(err, shown)
	}
	if want := "# P\n\ntext\n<!-- figure drain-connections (make docs fills this) -->\n<!-- /figure -->\nafter\n"; string(empty) != want {
		t.Errorf("without the PNG:\n%s", empty)
	}

	for _, tt := range []struct{ page, want string }{
		{"a\n<!-- figure nosuch -->\n<!-- /figure -->\n", `p.md:2: figure "nosuch": no such figure`},
		{"<!-- figure drain-connections -->\n", `p.md:1: figure block not closed`},
		{"<!-- figure drain-connections -->\n<!-- figure failover-lab -->\n", `p.md:2: figure block inside the one of line 1`},
		{"x\n<!-- /figure -->\n", `p.md:2: <!-- /figure --> without its opening line`},
		{"<!-- figure -->\n", `p.md:1: figure block without a name`},
	} {
		if _, _, err := fill("p.md", []byte(tt.page), func(string) bool { return true }); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.page, err, tt.want)
		}
	}
}

func TestWrap(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
	}{
		{"", ""},
		{"a  b\nc", "a b c"},
		{"aaa bbb ccc", "aaa bbb\nccc"},
		{"aaaaaaaaaaaa b", "aaaaaaaaaaaa\nb"},
		{"aaaa bb", "aaaa bb"},
	} {
		if got := wrap(tt.in, 7); got != tt.want {
			t.Errorf("wrap(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
