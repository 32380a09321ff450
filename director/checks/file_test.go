package checks

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStrtol(t *testing.T) {
	tests := []struct {
		in string
		v  int64
		ok bool
	}{
		{"0", 0, true}, {"12\n", 12, true}, {"  -7 trailing", -7, true}, {"+5", 5, true},
		{"0x1F", 31, true}, {"010", 8, true}, {"08", 0, true}, {"0x", 0, true},
		{"abc", 0, true}, {"", 0, true},
		{"9223372036854775807", math.MaxInt64, true}, {"-9223372036854775808", math.MinInt64, true},
		{"9223372036854775808", 0, false},
	}
	for _, tt := range tests {
		if v, ok := strtol(tt.in); v != tt.v || ok != tt.ok {
			t.Errorf("strtol(%q) = %d, %v; want %d, %v", tt.in, v, ok, tt.v, tt.ok)
		}
	}
}

func TestTrackFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "weight")
	f := NewTrackFile(path)
	read := func(content string) int64 {
		t.Helper()
		if content != "-" {
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		v, err := f.Value()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v, _ := f.Value(); v != 0 {
		t.Errorf("missing file = %d, want 0", v)
	}
	if v := read("5\n"); v != 5 {
		t.Errorf("5 = %d", v)
	}
	if v := read("99999999999"); v != 5 {
		t.Errorf("out of range = %d, want the previous 5", v)
	}
	if v := read("2147483648"); v != 2147483648 {
		t.Errorf("2^31 = %d (keepalived accepts it)", v)
	}
	if v := read(""); v != 0 {
		t.Errorf("empty = %d, want 0", v)
	}
	if v := read(strings.Repeat(" ", 200) + "7"); v != 0 {
		t.Errorf("value after 127 bytes = %d, want 0 (not read)", v)
	}
	os.Remove(path)
	if v := read("-"); v != 0 {
		t.Errorf("deleted = %d, want 0", v)
	}
}

type fixedValue int64

func (v fixedValue) Value() (int64, error) { return int64(v), nil }

func TestFileCheck(t *testing.T) {
	tests := []struct {
		name      string
		check     FileCheck
		want      string
		weight    int
		weightSet bool
	}{
		{name: "weight 0: zero passes", check: FileCheck{Source: fixedValue(0)}},
		{name: "weight 0: non-zero fails", check: FileCheck{Source: fixedValue(3), File: "maint"}, want: "track_file maint value 3"},
		{name: "weight 0 reversed: zero fails", check: FileCheck{Source: fixedValue(0), Reverse: true}, want: "value 0"},
		{name: "weight 0 reversed: non-zero passes", check: FileCheck{Source: fixedValue(1), Reverse: true}},
		{name: "weight adds to the configured weight", check: FileCheck{Source: fixedValue(3), Weight: 2, ConfiguredWeight: 10}, weight: 16, weightSet: true},
		{name: "reverse subtracts", check: FileCheck{Source: fixedValue(3), Weight: 2, Reverse: true, ConfiguredWeight: 10}, weight: 4, weightSet: true},
		{name: "clamped at 0", check: FileCheck{Source: fixedValue(-100), Weight: 1, ConfiguredWeight: 10}, weight: 0, weightSet: true},
		{name: "fault value", check: FileCheck{Source: fixedValue(math.MinInt32), Weight: 1}, want: "fault value"},
		{name: "no source", check: FileCheck{}, want: "no track_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, set, err := tt.check.ProbeWeight(context.Background())
			if tt.want == "" && err != nil {
				t.Fatalf("ProbeWeight = %v, want success", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("ProbeWeight = %v, want %q", err, tt.want)
			}
			if w != tt.weight || set != tt.weightSet {
				t.Errorf("weight %d set %v, want %d %v", w, set, tt.weight, tt.weightSet)
			}
		})
	}
}
