package vmtest

import (
	"testing"

	"github.com/tandemlb/tandem/shared/testutil"
)

// TestVMLvs boots the guest once and runs director/lvs's guest-only tests
// (reconciler, adoption, batching, sync daemon, the kernel's counters and
// connection table, 1,000×10 timings) against
// the real ip_vs kernel.
func TestVMLvs(t *testing.T) {
	testutil.VM(t)
	RunGuestTests(t, GuestRun{
		Package: "./director/lvs",
		Run:     "^TestVM",
		Want: []string{"TestVMApplyAdoptUpdate", "TestVMForeignServiceUntouched", "TestVMKernelErrors",
			"TestVMOpenNetnsPath", "TestVMSyncDaemon", "TestVMBatchErrors", "TestVMReconcile1000x10",
			"TestVMKernelStats", "TestVMSyncHandover"},
	})
}
