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
	got := map[string]string{}
	for _, m := range resultLine.FindAllStringSubmatch(output, -1) {
		got[m[2]] = m[1]
	}
	var problems []string
	if exitCode != 0 {
		problems = append(problems, "guest test binary exited with status "+strconv.Itoa(exitCode))
	}
	for _, name := range want {
		switch got[name] {
		case "PASS":
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
		return &guestError{problems}
	}
	return nil
}

type guestError struct{ problems []string }

func (e *guestError) Error() string { return "guest tests: " + strings.Join(e.problems, "; ") }
