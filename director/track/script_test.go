package track

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestScriptState(t *testing.T) {
	type step struct {
		success bool
		ok      bool
		changed bool
	}
	tests := []struct {
		name       string
		rise, fall int
		initFail   bool
		steps      []step
	}{
		{"default: one success is enough", 1, 1, false, []step{{true, true, true}, {true, true, false}, {false, false, true}, {false, false, false}, {true, true, true}}},
		{"pending: first failure fails", 3, 3, false, []step{{false, false, true}, {true, false, false}, {true, false, false}, {true, true, true}}},
		{"pending: first success is enough even with rise 3", 3, 2, false, []step{{true, true, true}, {false, true, false}, {false, false, true}}},
		{"init_fail needs rise successes", 2, 1, true, []step{{true, false, false}, {true, true, true}}},
		{"init_fail failure is no change", 2, 1, true, []step{{false, false, false}}},
		{"fall counts consecutive failures", 1, 3, false, []step{{true, true, true}, {false, true, false}, {false, true, false}, {true, true, false}, {false, true, false}, {false, true, false}, {false, false, true}}},
		{"rise counts consecutive successes", 3, 1, true, []step{{true, false, false}, {true, false, false}, {false, false, false}, {true, false, false}, {true, false, false}, {true, true, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScriptState(tt.rise, tt.fall, tt.initFail)
			var got, want []step
			for _, st := range tt.steps {
				ch := s.observe(st.success)
				got = append(got, step{st.success, s.ok(), ch})
				want = append(want, st)
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(step{})); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
