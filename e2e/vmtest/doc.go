// Package vmtest holds the host-side VM tests (the VM level, `make
// test-vm`): each builds a guest test binary on the host, boots the ip_vs
// guest once through package vm, runs the binary inside and fails unless
// every expected guest test passed.
package vmtest
