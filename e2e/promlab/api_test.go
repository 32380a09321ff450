package promlab

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseVector(t *testing.T) {
	body := `{"status":"success","data":{"resultType":"vector","result":[` +
		`{"metric":{"__name__":"up","job":"tandem-director","instance":"10.99.0.2:9480"},"value":[1700000000.123,"1"]},` +
		`{"metric":{"job":"x"},"value":[1700000001,"NaN"]}]}}`
	got, err := ParseVector([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Value != 1 || got[0].Metric["instance"] != "10.99.0.2:9480" ||
		!got[0].Time.Equal(time.UnixMilli(1700000000123)) || !math.IsNaN(got[1].Value) {
		t.Errorf("ParseVector: %+v", got)
	}
}

func TestParseMatrix(t *testing.T) {
	body := `{"status":"success","data":{"resultType":"matrix","result":[` +
		`{"metric":{"rs":"10.99.0.11:80"},"values":[[1700000000,"4"],[1700000001,"0"],[1700000002,"+Inf"]]}]}}`
	got, err := ParseMatrix([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []Series{{Metric: map[string]string{"rs": "10.99.0.11:80"}, Points: []Point{
		{time.Unix(1700000000, 0), 4}, {time.Unix(1700000001, 0), 0}, {time.Unix(1700000002, 0), posInf},
	}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseMatrix (-want +got):\n%s", diff)
	}
	if s := Select(got, map[string]string{"rs": "10.99.0.11:80"}); len(s) != 1 || len(Select(got, map[string]string{"rs": "x"})) != 0 {
		t.Errorf("Select: %+v", s)
	}
	if diff := cmp.Diff([]float64{4, 0, posInf}, got[0].Values()); diff != "" {
		t.Errorf("Values (-want +got):\n%s", diff)
	}
}

var posInf = math.Inf(1)

func TestParseAlerts(t *testing.T) {
	body := `{"status":"success","data":{"alerts":[` +
		`{"labels":{"alertname":"TandemNoVRRPMaster","severity":"critical","vrrp_instance":"VI0"},"annotations":{"summary":"s"},"state":"firing","activeAt":"2024-01-02T03:04:05.5Z","value":"0e+00"},` +
		`{"labels":{"alertname":"TandemVRRPFault","instance":"10.99.0.2:9480"},"annotations":{},"state":"pending","activeAt":"2024-01-02T03:04:06Z","value":"3e+00"},` +
		`{"labels":{"alertname":"TandemVRRPFault","instance":"10.99.0.3:9480"},"annotations":{},"state":"firing","activeAt":"2024-01-02T03:04:06Z","value":"3e+00"}]}}`
	got, err := ParseAlerts([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Name != "TandemNoVRRPMaster" || got[0].State != Firing || got[0].Labels["vrrp_instance"] != "VI0" ||
		got[0].Annotations["summary"] != "s" || !got[0].ActiveAt.Equal(time.Date(2024, 1, 2, 3, 4, 5, 5e8, time.UTC)) || got[0].Value != "0e+00" {
		t.Errorf("ParseAlerts: %+v", got)
	}
	if n := Find(got, "TandemVRRPFault", Firing); len(n) != 1 || n[0].Labels["instance"] != "10.99.0.3:9480" {
		t.Errorf("Find firing TandemVRRPFault: %+v", n)
	}
	if n := Find(got, "TandemVRRPFault", ""); len(n) != 2 {
		t.Errorf("Find TandemVRRPFault in any state: %d alerts, want 2", len(n))
	}
	if diff := cmp.Diff([]string{"TandemNoVRRPMaster", "TandemVRRPFault"}, Names(got, Firing)); diff != "" {
		t.Errorf("Names firing (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"TandemVRRPFault"}, Names(got, Pending)); diff != "" {
		t.Errorf("Names pending (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
		parse            func([]byte) error
	}{
		{"not JSON", `<html>`, "answer:", vec},
		{"error status", `{"status":"error","errorType":"bad_data","error":"parse error"}`, `status "error": bad_data: parse error`, vec},
		{"no data", `{"status":"success"}`, "no data", vec},
		{"matrix for a vector", `{"status":"success","data":{"resultType":"matrix","result":[]}}`, `resultType "matrix", want "vector"`, vec},
		{"vector for a matrix", `{"status":"success","data":{"resultType":"vector","result":[]}}`, `resultType "vector", want "matrix"`, mat},
		{"three elements", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2",3]}]}}`, "3 elements", vec},
		{"value not a string", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}}`, "sample: value", vec},
		{"value not a number", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}`, "sample: value", mat},
		{"time not a number", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[["1","2"]]}]}}`, "sample: time", mat},
		{"unknown alert state", `{"status":"success","data":{"alerts":[{"labels":{"alertname":"A"},"state":"inactive"}]}}`, `alert "A": state "inactive"`, alr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parse([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}

func vec(b []byte) error { _, err := ParseVector(b); return err }
func mat(b []byte) error { _, err := ParseMatrix(b); return err }
func alr(b []byte) error { _, err := ParseAlerts(b); return err }

func TestUnixString(t *testing.T) {
	if got := unixString(time.UnixMilli(1700000000123)); got != "1700000000.123" {
		t.Errorf("unixString: %s", got)
	}
}
