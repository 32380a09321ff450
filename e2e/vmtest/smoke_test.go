package vmtest

import (
	"testing"

	"github.com/tandemlb/tandem/shared/testutil"
)

// TestVMSmoke builds e2e/guest's test binary, boots the ip_vs guest once,
// runs the guest tests inside and fails unless each of them passed.
func TestVMSmoke(t *testing.T) {
	testutil.VM(t)
	RunGuestTests(t, GuestRun{
		Package: "./e2e/guest",
		Run:     "^TestGuest",
		Want:    []string{"TestGuestDR", "TestGuestDRWithoutArpTable"},
	})
}
