// Package guest holds the tests that run inside the ip_vs guest. They skip
// elsewhere (testutil.InVM says so); e2e/vmtest builds this package's test
// binary on the host and runs it in the VM.
//
// Test names start with TestGuest, not TestVM, so `make test-vm`'s -run 'VM'
// on the host does not select them; the host-side runner passes
// -test.run '^TestGuest' inside the guest.
package guest
