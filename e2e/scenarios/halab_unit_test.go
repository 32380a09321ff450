package scenarios

import (
	"slices"
	"testing"
)

// TestVIPHolders: a hand-over between the reads of one sample never shows
// as two holders; a real overlap does.
func TestVIPHolders(t *testing.T) {
	tests := []struct {
		name  string
		reads []bool // dir1, dir2, dir1 again
		want  []string
	}{
		{"dir1 alone", []bool{true, false, true}, []string{"dir1"}},
		{"dir2 alone", []bool{false, true, false}, []string{"dir2"}},
		{"dir1 released after its first read, dir2 took over before its read", []bool{true, true, false}, []string{"dir2"}},
		{"dir2 took over, dir1 took it back", []bool{false, true, true}, []string{"dir2"}},
		{"overlap", []bool{true, true, true}, []string{"dir1", "dir2"}},
		{"none", []bool{false, false, false}, nil},
	}
	for _, tt := range tests {
		i := 0
		got := vipHolders(func(string) bool { r := tt.reads[i]; i++; return r })
		if !slices.Equal(got, tt.want) || i != 3 {
			t.Errorf("%s: %v after %d reads, want %v", tt.name, got, i, tt.want)
		}
	}
}
