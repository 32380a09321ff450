package script

import (
	"strings"
	"testing"
)

// TestSplitCommand: the cases of MISC_CHECK's misc_path and vrrp_script's
// script, one table.
func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{in: "/bin/check.sh", want: []string{"/bin/check.sh"}},
		{in: "/usr/bin/check", want: []string{"/usr/bin/check"}},
		{in: "  /bin/check.sh  a\tb ", want: []string{"/bin/check.sh", "a", "b"}},
		{in: "  killall -0   haproxy ", want: []string{"killall", "-0", "haproxy"}},
		{in: "x\fa\vb\r\nc", want: []string{"x", "a", "b", "c"}}, // every blank of keepalived's WHITE_SPACE
		{in: `/bin/check "a b" 'c d'`, want: []string{"/bin/check", "a b", "c d"}},
		{in: `/bin/sh -c 'test -e /run/x && exit 1'`, want: []string{"/bin/sh", "-c", "test -e /run/x && exit 1"}},
		{in: `x pre"quoted part"post`, want: []string{"x", "prequoted partpost"}},
		{in: `abcd" efg h jkl "mnop`, want: []string{"abcd efg h jkl mnop"}},
		{in: `abcd "efg h jkl" mnop`, want: []string{"abcd", "efg h jkl", "mnop"}},
		{in: `x 'it''s'`, want: []string{"x", "its"}},
		{in: `x "say \"hi\""`, want: []string{"x", `say "hi"`}},
		{in: `x 'a\'b'`, want: []string{"x", "a'b"}}, // keepalived escapes inside '' too
		{in: `x a\ b`, want: []string{"x", "a b"}},
		{in: `a\ b c\\d \"q\"`, want: []string{"a b", `c\d`, `"q"`}},
		{in: `x \t\n\x41\101\cA\E\q`, want: []string{"x", "\t\nAA\x01\x1bq"}},
		{in: `x\x41\101\t`, want: []string{"xAA\t"}},
		{in: `x \x4142 \xg`, want: []string{"x", "\x42", "xg"}}, // every hex digit read, the last two kept; \x without one is x
		{in: `x ""`, want: []string{"x", ""}},
		{in: `''`, want: []string{""}},
		{in: `x "unterminated`, err: "missing terminating \""},
		{in: `"open`, err: "missing terminating \""},
		{in: `x \`, err: "escape character at end"},
		{in: `end\`, err: "escape character at end"},
		{in: "   ", err: "empty command"},
		{in: "", err: "empty command"},
	}
	for _, tt := range tests {
		got, err := SplitCommand(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("SplitCommand(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || strings.Join(got, "\x00") != strings.Join(tt.want, "\x00") || len(got) != len(tt.want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{`/bin/x "a b" 'c'`, `\x41\101\c`, `"`, `a\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args, err := SplitCommand(s)
		if err == nil && len(args) == 0 {
			t.Fatal("no error and no words")
		}
	})
}
