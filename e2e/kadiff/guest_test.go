package kadiff

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/shared/testutil"
)

// defaultParallel is how many files run at once, each as two runs (one per
// daemon) in labs of their own; TANDEM_KADIFF_PARALLEL overrides it.
const defaultParallel = 5

// stagger spaces the starts of the first wave of files.
const stagger = 1500 * time.Millisecond

// Verdicts of one file.
const (
	verdictSame      = "same"
	verdictDifferent = "different"
	verdictSkipped   = "skipped"
	verdictError     = "error"
)

// fileResult is the outcome of one corpus file.
type fileResult struct {
	name    string
	verdict string
	reason  string // why skipped, or the test's own error
	diffs   []Difference
	k, t    runOut
}

// TestGuestKeepalivedDiff runs every corpus file with keepalived 2.2.7 and
// with tandem-director, each in a fresh lab, and compares what they
// program. Differences must be exactly knownDiffs. Inside the guest only
// (TestVMKeepalivedDiff starts it); TANDEM_KADIFF_FILES, a regular
// expression over the file names, runs only those (the known-difference
// check then covers only them).
func TestGuestKeepalivedDiff(t *testing.T) {
	testutil.InVM(t)
	start := time.Now()
	root := os.Getenv("TANDEM_KADIFF_ROOT")
	tl := tools{director: os.Getenv("TANDEM_KADIFF_DIRECTOR")}
	if root == "" || tl.director == "" {
		t.Fatal("TANDEM_KADIFF_ROOT and TANDEM_KADIFF_DIRECTOR must be set (TestVMKeepalivedDiff sets them)")
	}
	for _, p := range []struct {
		dst  *string
		name string
	}{{&tl.keepalived, "keepalived"}, {&tl.ipvsadm, "ipvsadm"}, {&tl.ip, "ip"}, {&tl.nft, "nft"}, {&tl.tcpdump, "tcpdump"}, {&tl.sh, "sh"}} {
		path, err := exec.LookPath(p.name)
		if err != nil {
			t.Fatalf("%s is needed (scripts/deps.sh installs it): %v", p.name, err)
		}
		*p.dst = path
	}
	files, err := Corpus(root)
	if err != nil {
		t.Fatal(err)
	}
	if sel := os.Getenv("TANDEM_KADIFF_FILES"); sel != "" {
		re, err := regexp.Compile(sel)
		if err != nil {
			t.Fatalf("TANDEM_KADIFF_FILES: %v", err)
		}
		files = slices.DeleteFunc(files, func(f string) bool { return !re.MatchString(Name(f)) })
	}
	par := defaultParallel
	if s := os.Getenv("TANDEM_KADIFF_PARALLEL"); s != "" {
		if par, err = strconv.Atoi(s); err != nil || par < 1 || par > 32 {
			t.Fatalf("TANDEM_KADIFF_PARALLEL=%q: want 1..32", s)
		}
	}
	t.Logf("%d files, %d at a time; %s", len(files), par, firstLine(tl.keepalived, "--version"))

	work := t.TempDir()
	results := make([]fileResult, len(files))
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if i < par {
				// Spread the first wave: labs and daemon starts all at
				// once starve each other under TCG.
				testutil.Settle(time.Duration(i) * stagger)
			}
			dir, err := os.MkdirTemp(work, "f")
			if err != nil {
				results[i] = fileResult{name: Name(f), verdict: verdictError, reason: err.Error()}
				return
			}
			r := diffFile(tl, f, dir)
			results[i] = r
			t.Log(summaryLine(r))
		})
	}
	wg.Wait()

	counts := map[string]int{}
	for _, r := range results {
		counts[r.verdict]++
		if r.verdict == verdictError {
			t.Errorf("%s: %s", r.name, r.reason)
		}
	}
	checkKnown(t, results)
	t.Logf("TOTAL %d files: %d same, %d different, %d skipped, %d errors; %v",
		len(results), counts[verdictSame], counts[verdictDifferent], counts[verdictSkipped], counts[verdictError],
		time.Since(start).Round(time.Second))
}

// diffFile runs both daemons on one file.
func diffFile(tl tools, file, dir string) fileResult {
	r := fileResult{name: Name(file)}
	text, err := os.ReadFile(file)
	if err != nil {
		r.verdict, r.reason = verdictError, err.Error()
		return r
	}
	var plan Plan
	if cfg, err := config.Load(file); err == nil {
		plan = PlanFromConfig(cfg, text)
	} else {
		plan = PlanFromText(text)
	}
	// Both daemons at once, each in a lab of its own built from the same
	// plan.
	var kerr, terr error
	var both sync.WaitGroup
	both.Go(func() { r.k, kerr = runOne(tl, implKeepalived, file, plan, dir) })
	both.Go(func() { r.t, terr = runOne(tl, implTandem, file, plan, dir) })
	both.Wait()
	if kerr != nil {
		r.verdict, r.reason = verdictError, "keepalived run: "+kerr.Error()
		return r
	}
	switch {
	case r.k.exited:
		r.verdict, r.reason = verdictSkipped, "keepalived exits at once: "+lastLines(r.k.output, 3)
		return r
	case r.k.snap.Empty():
		r.verdict, r.reason = verdictSkipped, "keepalived programs nothing: "+why(r.k.output)
		return r
	}
	if terr != nil {
		r.verdict, r.reason = verdictError, "tandem-director run: "+terr.Error()
		return r
	}
	if r.t.exited {
		r.verdict = verdictDifferent
		r.diffs = []Difference{{Class: ClassRefused, OnlyTandem: []string{lastLines(r.t.output, 3)}}}
		return r
	}
	r.diffs = Compare(r.k.snap, r.t.snap)
	r.verdict = verdictSame
	if len(r.diffs) > 0 {
		r.verdict = verdictDifferent
	}
	return r
}

// summaryLine is the one line printed per file.
func summaryLine(r fileResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "FILE %-70s %-9s (keepalived %v, tandem %v)", r.name, r.verdict,
		r.k.elapsed.Round(100*time.Millisecond), r.t.elapsed.Round(100*time.Millisecond))
	if r.reason != "" {
		fmt.Fprintf(&b, " %s", r.reason)
	}
	for _, d := range r.diffs {
		fmt.Fprintf(&b, "\n    %s", d)
	}
	if os.Getenv("TANDEM_KADIFF_VERBOSE") != "" {
		for _, x := range []struct {
			impl string
			ro   runOut
		}{{implKeepalived, r.k}, {implTandem, r.t}} {
			fmt.Fprintf(&b, "\n  %s phases: %s", x.impl, strings.Join(x.ro.phases, " "))
			for _, d := range r.diffs {
				for _, l := range x.ro.snap[d.Class] {
					fmt.Fprintf(&b, "\n  %s %s: %s", x.impl, d.Class, l)
				}
			}
			fmt.Fprintf(&b, "\n  %s output: %s", x.impl, strings.ReplaceAll(x.ro.output, "\n", "\n    | "))
		}
	}
	return b.String()
}

// reWhy finds keepalived's log lines that say why it did nothing.
var reWhy = regexp.MustCompile(`(?i)fault|fail|error|disabl|not found|invalid|unknown|exit|timed? ?out`)

// reStamp is keepalived's time stamp at the start of a log line.
var reStamp = regexp.MustCompile(`^\w{3} \w{3}\s+\d+ [\d:]+ \d{4}: `)

// why returns the last three lines of keepalived's output that explain
// why it programmed nothing (else its last lines).
func why(out string) string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if reWhy.MatchString(l) {
			ls = append(ls, strings.TrimSpace(reStamp.ReplaceAllString(l, "")))
		}
	}
	if len(ls) == 0 {
		return lastLines(out, 3)
	}
	return lastLines(strings.Join(slices.Compact(ls), "\n"), 3)
}

// lastLines returns the last n non-empty lines of s, joined by " | ".
func lastLines(s string, n int) string {
	var ls []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ls = append(ls, l)
		}
	}
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, " | ")
}

// firstLine is the first line of a command's output.
func firstLine(argv ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return l
}

// partialRun reports whether TANDEM_KADIFF_FILES selected a subset.
func partialRun() bool { return os.Getenv("TANDEM_KADIFF_FILES") != "" }
