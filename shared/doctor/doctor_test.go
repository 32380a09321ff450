package doctor

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReport(t *testing.T) {
	var b strings.Builder
	r := &Report{Out: &b}
	r.Add(OK, "vip", "%s on lo", "192.0.2.100")
	r.Add(Fail, "arp table", "missing")
	r.Add(Warn, "rp_filter", "strict")
	want := "ok    vip:         192.0.2.100 on lo\nFAIL  arp table:   missing\nWARN  rp_filter:   strict\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("output (-want +got)\n%s", diff)
	}
	if got := r.Failed(); got != 1 {
		t.Errorf("Failed() = %d, want 1", got)
	}
}
