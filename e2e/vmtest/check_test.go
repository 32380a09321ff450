package vmtest

import (
	"strings"
	"testing"
)

func TestCheckGuestTests(t *testing.T) {
	want := []string{"TestGuestA", "TestGuestB"}
	ok := "=== RUN   TestGuestA\n--- PASS: TestGuestA (1.00s)\n--- PASS: TestGuestB (2.00s)\nPASS\n"
	tests := []struct {
		name   string
		out    string
		code   int
		wantOK bool
	}{
		{"all pass", ok, 0, true},
		{"exit status", ok, 1, false},
		{"skipped", "--- PASS: TestGuestA (1.00s)\n--- SKIP: TestGuestB (0.00s)\n", 0, false},
		{"missing", "--- PASS: TestGuestA (1.00s)\n", 0, false},
		{"subtest failed", ok + "    --- FAIL: TestGuestA/x (0.00s)\n--- FAIL: TestGuestC (0.00s)\n", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckGuestTests(tt.out, tt.code, want)
			if (err == nil) != tt.wantOK {
				t.Fatalf("CheckGuestTests() = %v, want ok=%v", err, tt.wantOK)
			}
		})
	}
}

// TestCheckGuestRuns: with -test.count=n every run must pass; a failure in
// an early run is not hidden by later passes.
func TestCheckGuestRuns(t *testing.T) {
	want := []string{"TestGuestA"}
	pass, fail := "--- PASS: TestGuestA (1.00s)\n", "--- FAIL: TestGuestA (1.00s)\n"
	tests := []struct {
		name   string
		out    string
		wantOK bool
	}{
		{"three of three", pass + pass + pass, true},
		{"two of three", pass + pass, false},
		{"first failed", fail + pass + pass, false},
		{"last failed", pass + pass + fail, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckGuestRuns(tt.out, 0, want, 3); (err == nil) != tt.wantOK {
				t.Fatalf("CheckGuestRuns() = %v, want ok=%v", err, tt.wantOK)
			}
		})
	}
	// A test not asked for that failed in one run is named, though it
	// passed in the next.
	other := func(r string) string { return "--- " + r + ": TestGuestC (0.00s)\n" }
	err := CheckGuestRuns(pass+other("FAIL")+pass+other("PASS")+pass+other("PASS"), 1, want, 3)
	if err == nil || !strings.Contains(err.Error(), "TestGuestC: FAIL") {
		t.Errorf("CheckGuestRuns() = %v, want TestGuestC: FAIL named", err)
	}
}

// TestFailureDigest: the summary error repeats the failed test's own last
// log lines (its t.Errorf) and leaves out passing tests and load progress.
func TestFailureDigest(t *testing.T) {
	out := "=== RUN   TestGuestA\n" +
		"    a_test.go:10: MEASURED fine\n" +
		"--- PASS: TestGuestA (1.00s)\n" +
		"=== RUN   TestGuestB\n" +
		"    halab_test.go:73: load t=2.0s ok rs1=40 rs2=40 | failed 0 | in flight 0 | total ok 80 failed 0\n" +
		"    b_test.go:20: ipvsadm -Ln:\n" +
		"        TCP 10.99.0.100:80 lc\n" +
		"    b_test.go:30: sync daemon: <nil>\n" +
		"--- FAIL: TestGuestB (2.00s)\n"
	err := CheckGuestTests(out, 1, []string{"TestGuestA", "TestGuestB"})
	if err == nil {
		t.Fatal("no error")
	}
	want := "guest tests: guest test binary exited with status 1; TestGuestB: FAIL\n" +
		"last test-log lines of each failed test:\n" +
		"  TestGuestB: b_test.go:20: ipvsadm -Ln:\n" +
		"  TestGuestB: b_test.go:30: sync daemon: <nil>"
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
}
