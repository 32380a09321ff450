package vmtest

import "testing"

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
