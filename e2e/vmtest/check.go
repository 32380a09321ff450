package vmtest

import (
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

var resultLine = regexp.MustCompile(`(?m)^--- (PASS|FAIL|SKIP): (\S+)`)

// CheckGuestTests verifies a guest test binary's -test.v output: exit
// status 0, each wanted test reported PASS, nothing skipped or failed.
func CheckGuestTests(output string, exitCode int, want []string) error {
	return CheckGuestRuns(output, exitCode, want, 1)
}

// CheckGuestRuns is CheckGuestTests for a binary run with -test.count=n:
// each wanted test must report PASS n times, and one FAIL or SKIP in any
// run is the test's result.
func CheckGuestRuns(output string, exitCode int, want []string, n int) error {
	got, passes := map[string]string{}, map[string]int{}
	for _, m := range resultLine.FindAllStringSubmatch(output, -1) {
		if m[1] == "PASS" {
			passes[m[2]]++
		}
		if got[m[2]] == "" || got[m[2]] == "PASS" {
			got[m[2]] = m[1]
		}
	}
	var problems []string
	if exitCode != 0 {
		problems = append(problems, "guest test binary exited with status "+strconv.Itoa(exitCode))
	}
	for _, name := range want {
		switch got[name] {
		case "PASS":
			if passes[name] < n {
				problems = append(problems, name+" passed "+strconv.Itoa(passes[name])+" of "+strconv.Itoa(n)+" runs")
			}
		case "":
			problems = append(problems, name+" did not run")
		default:
			problems = append(problems, name+": "+got[name])
		}
	}
	var others []string
	for name, r := range got {
		if r != "PASS" && !slices.Contains(want, name) {
			others = append(others, name+": "+r)
		}
	}
	sort.Strings(others)
	problems = append(problems, others...)
	if len(problems) > 0 {
		return &guestError{problems: problems, digest: failureDigest(output)}
	}
	return nil
}

// Digest limits: the summary error is what survives when a CI log is cut,
// so it repeats, for each failed test, the last few test-log lines of that
// test (where t.Errorf/t.Fatalf land), each cut to a readable length.
const (
	digestLines   = 8
	digestLineLen = 300
)

var (
	runLine     = regexp.MustCompile(`^=== (RUN|CONT)\s+(\S+)`)
	testLogLine = regexp.MustCompile(`^\s+\w+_test\.go:\d+: `)
)

// failureDigest returns, for every test reported FAIL in output, its last
// digestLines lines that come from the test itself (file_test.go:N:),
// lines reporting load progress excepted.
func failureDigest(output string) []string {
	lines := map[string][]string{}
	var failed []string
	cur := ""
	for _, l := range strings.Split(output, "\n") {
		if m := runLine.FindStringSubmatch(l); m != nil {
			cur = m[2]
			continue
		}
		if m := resultLine.FindStringSubmatch(strings.TrimLeft(l, " ")); m != nil {
			if m[1] == "FAIL" {
				failed = append(failed, m[2])
			}
			continue
		}
		if cur == "" || !testLogLine.MatchString(l) || strings.Contains(l, "| total ok ") {
			continue
		}
		l = strings.TrimSpace(l)
		if len(l) > digestLineLen {
			l = l[:digestLineLen] + "…"
		}
		lines[cur] = append(lines[cur], l)
	}
	var out []string
	for _, name := range failed {
		ls := lines[name]
		ls = ls[max(0, len(ls)-digestLines):]
		for _, l := range ls {
			out = append(out, name+": "+l)
		}
	}
	return out
}

type guestError struct{ problems, digest []string }

func (e *guestError) Error() string {
	s := "guest tests: " + strings.Join(e.problems, "; ")
	if len(e.digest) > 0 {
		s += "\nlast test-log lines of each failed test:\n  " + strings.Join(e.digest, "\n  ")
	}
	return s
}
