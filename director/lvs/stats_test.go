package lvs

import (
	"encoding/json"
	"testing"
)

// TestStatsJSON pins the JSON field names of Stats: status --json and the
// metrics read them.
func TestStatsJSON(t *testing.T) {
	b, err := json.Marshal(Stats{Conns: 1, PktsIn: 2, PktsOut: 3, BytesIn: 4, BytesOut: 5, CPS: 6, PPSIn: 7, PPSOut: 8, BPSIn: 9, BPSOut: 10})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"conns":1,"pkts_in":2,"pkts_out":3,"bytes_in":4,"bytes_out":5,"cps":6,"pps_in":7,"pps_out":8,"bps_in":9,"bps_out":10}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}
