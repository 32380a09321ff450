package kadiff

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// knownDiff is a difference between keepalived 2.2.7 and tandem-director
// that the test expects: on every compared file whose name matches Files,
// class Class differs, for Reason. The list must match what the test finds
// exactly: an unlisted difference fails the test, and so does a listed one
// that no longer occurs (fix the daemon, then delete the row).
type knownDiff struct {
	Files  string // regular expression over corpus file names
	Class  string // one of Classes, or ClassRefused
	Reason string
}

// knownDiffs are today's differences, grouped by cause.
var knownDiffs = []knownDiff{}

// checkKnown fails t unless the differences in results are exactly
// knownDiffs, and reports every difference grouped by its cause.
func checkKnown(t *testing.T, results []fileResult) {
	t.Helper()
	type key struct{ file, class string }
	found := map[key]Difference{}
	compared := map[string]bool{}
	for _, r := range results {
		if r.verdict == verdictSame || r.verdict == verdictDifferent {
			compared[r.name] = true
		}
		for _, d := range r.diffs {
			found[key{r.name, d.Class}] = d
		}
	}
	res := make([]*regexp.Regexp, len(knownDiffs))
	for i, k := range knownDiffs {
		re, err := regexp.Compile("^(?:" + k.Files + ")$")
		if err != nil {
			t.Fatalf("knownDiffs[%d] %q: %v", i, k.Files, err)
		}
		if !slices.Contains(Classes, k.Class) && k.Class != ClassRefused {
			t.Fatalf("knownDiffs[%d]: unknown class %q", i, k.Class)
		}
		res[i] = re
	}
	// Every found difference must be listed.
	explained := map[key]int{}
	var unexpected []string
	for k, d := range found {
		idx := -1
		for i, kd := range knownDiffs {
			if kd.Class == k.class && res[i].MatchString(k.file) {
				idx = i
				break
			}
		}
		if idx < 0 {
			unexpected = append(unexpected, fmt.Sprintf("%s %s", k.file, d))
			continue
		}
		explained[k] = idx
	}
	slices.Sort(unexpected)
	for _, u := range unexpected {
		t.Errorf("UNEXPECTED difference (add it to knownDiffs with its cause, or fix the daemon): %s", u)
	}
	// Every listed difference must occur on every compared file it names.
	for i, kd := range knownDiffs {
		n := 0
		for name := range compared {
			if !res[i].MatchString(name) {
				continue
			}
			if _, ok := found[key{name, kd.Class}]; !ok {
				t.Errorf("STALE knownDiffs[%d] (%s, %s): %s no longer differs there; delete or narrow the row", i, kd.Files, kd.Class, name)
				continue
			}
			n++
		}
		if n == 0 && len(compared) > 0 && !partialRun() {
			t.Errorf("STALE knownDiffs[%d] (%s, %s): matches no compared file", i, kd.Files, kd.Class)
		}
	}
	// The report, grouped by cause.
	var b strings.Builder
	for i, kd := range knownDiffs {
		fmt.Fprintf(&b, "\n== [%d] %s — %s", i, kd.Class, kd.Reason)
		var ks []key
		for k, idx := range explained {
			if idx == i {
				ks = append(ks, k)
			}
		}
		slices.SortFunc(ks, func(a, b key) int { return strings.Compare(a.file, b.file) })
		for _, k := range ks {
			fmt.Fprintf(&b, "\n  %s %s", k.file, found[k])
		}
	}
	if b.Len() > 0 {
		t.Logf("known differences, by cause:%s", b.String())
	}
}
