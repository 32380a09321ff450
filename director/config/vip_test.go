package config

import (
	"strings"
	"testing"
)

// TestParseVIPPreferredLft: preferred_lft 0 deprecates the address (never
// a source address), forever is the default, anything else is refused;
// String writes it back.
func TestParseVIPPreferredLft(t *testing.T) {
	for _, tt := range []struct {
		line       string
		deprecated bool
		err        string
	}{
		{"2001:db8:99::100/64 dev eth0 preferred_lft 0", true, ""},
		{"2001:db8:99::100/64 preferred_lft forever", false, ""},
		{"2001:db8:99::100/64", false, ""},
		{"2001:db8:99::100/64 preferred_lft 300", false, "only 0"},
		{"2001:db8:99::100/64 preferred_lft 0 preferred_lft 0", false, "given twice"},
	} {
		v, m := parseVIP(strings.Fields(tt.line))
		if tt.err != "" {
			if !strings.Contains(m, tt.err) {
				t.Errorf("%q: %q, want an error with %q", tt.line, m, tt.err)
			}
			continue
		}
		if m != "" || v.Deprecated != tt.deprecated {
			t.Errorf("%q: deprecated %v, %q; want %v", tt.line, v.Deprecated, m, tt.deprecated)
		}
		back, m := parseVIP(strings.Fields(v.String()))
		if m != "" || back.Deprecated != v.Deprecated {
			t.Errorf("%q: String %q reads back as %+v, %q", tt.line, v.String(), back, m)
		}
	}
}
