package track

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEffective(t *testing.T) {
	sc := func(w int, rev, ok bool) Input {
		return Input{Kind: KindScript, Name: "chk", Weight: w, Reverse: rev, OK: ok}
	}
	file := func(w int, rev bool, v int64) Input {
		return Input{Kind: KindFile, Name: "f", Weight: w, Reverse: rev, Value: v}
	}
	tests := []struct {
		name   string
		base   uint8
		in     []Input
		prio   uint8
		faults []string
	}{
		{"no trackers", 100, nil, 100, nil},
		{"weight 0 ok", 100, []Input{sc(0, false, true)}, 100, nil},
		{"weight 0 failed: FAULT", 100, []Input{sc(0, false, false)}, 100, []string{"script chk: failed"}},
		{"weight 0 reverse ok: FAULT", 100, []Input{sc(0, true, true)}, 100, []string{"script chk: succeeded (reverse)"}},
		{"weight 0 reverse failed", 100, []Input{sc(0, true, false)}, 100, nil},
		{"+w ok adds", 100, []Input{sc(10, false, true)}, 110, nil},
		{"+w failed nothing", 100, []Input{sc(10, false, false)}, 100, nil},
		{"-w ok nothing", 100, []Input{sc(-10, false, true)}, 100, nil},
		{"-w failed subtracts", 100, []Input{sc(-10, false, false)}, 90, nil},
		{"+w reverse ok subtracts", 100, []Input{sc(10, true, true)}, 90, nil},
		{"+w reverse failed nothing", 100, []Input{sc(10, true, false)}, 100, nil},
		{"-w reverse failed adds", 100, []Input{sc(-10, true, false)}, 110, nil},
		{"-w reverse ok nothing", 100, []Input{sc(-10, true, true)}, 100, nil},
		{"clamped to 254", 250, []Input{sc(10, false, true)}, 254, nil},
		{"clamped to 1", 5, []Input{sc(-10, false, false)}, 1, nil},
		{"script ±254 is ±253", 1, []Input{sc(254, false, true)}, 254, nil},
		{"script -254 is -253", 254, []Input{sc(-254, false, false)}, 1, nil},
		{"sum of several", 100, []Input{sc(10, false, true), {Kind: KindInterface, Name: "eth1", Weight: -20}, {Kind: KindProcess, Name: "haproxy", Weight: 5, OK: true}}, 95, nil},
		{"interface weight 0 down", 100, []Input{{Kind: KindInterface, Name: "eth1"}}, 100, []string{"interface eth1: down"}},
		{"process weight 0 quorum lost", 100, []Input{{Kind: KindProcess, Name: "haproxy"}}, 100, []string{"process haproxy: quorum lost"}},
		{"pending weight 0 holds FAULT", 100, []Input{{Kind: KindScript, Name: "chk", Pending: true}}, 100, []string{"script chk: no result yet"}},
		{"pending weighted adds nothing", 100, []Input{{Kind: KindScript, Name: "chk", Weight: -10, Pending: true}, {Kind: KindScript, Name: "up", Weight: 10, Pending: true, OK: true}}, 100, nil},
		{"owner keeps 255", 255, []Input{sc(-50, false, false)}, 255, nil},
		{"owner still faults on weight 0", 255, []Input{sc(0, false, false)}, 255, []string{"script chk: failed"}},
		{"file weight 0 value 0", 100, []Input{file(0, false, 0)}, 100, nil},
		{"file weight 0 nonzero: FAULT", 100, []Input{file(0, false, 3)}, 100, []string{"file f: value 3"}},
		{"file weight 0 reverse zero: FAULT", 100, []Input{file(0, true, 0)}, 100, []string{"file f: value 0 (reverse)"}},
		{"file weight 0 reverse nonzero", 100, []Input{file(0, true, -7)}, 100, nil},
		{"file value × weight", 100, []Input{file(2, false, 5)}, 110, nil},
		{"file negative value", 100, []Input{file(1, false, -30)}, 70, nil},
		{"file reverse", 100, []Input{file(2, true, 5)}, 90, nil},
		{"file -253 is not FAULT", 254, []Input{file(1, false, -253)}, 1, nil},
		{"file -254: FAULT", 100, []Input{file(1, false, -254)}, 100, []string{"file f: value -254 × weight 1 reaches -254"}},
		{"file product below -254: FAULT", 100, []Input{file(-254, false, 2)}, 100, []string{"file f: value 2 × weight -254 reaches -254"}},
		{"file big positive clamped to 253", 1, []Input{file(254, false, 1<<40)}, 254, nil},
		{"file owner weights ignored", 255, []Input{file(1, false, -10)}, 255, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prio, faults := Effective(tt.base, tt.in)
			if diff := cmp.Diff(tt.prio, prio); diff != "" {
				t.Errorf("priority (-want +got)\n%s", diff)
			}
			if diff := cmp.Diff(tt.faults, faults); diff != "" {
				t.Errorf("faults (-want +got)\n%s", diff)
			}
		})
	}
}
