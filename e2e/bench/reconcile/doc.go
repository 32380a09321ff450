// Package reconcile is the reconcile benchmark (`make bench`; the results
// go to docs/benchmarks-reconcile.md): how long it takes to load 1,000
// virtual services × 10 real servers into an empty IPVS table, and to apply
// one changed weight, with keepalived 2.2.7, with tandem-director and, for
// reference, with ipvsadm-restore / ipvsadm -e and Tandem's lvs library
// called in-process.
//
// It needs ip_vs, so it runs in the QEMU guest (package e2e/vm):
// TestVMBenchReconcile (host side, only with TANDEM_BENCH=1 and
// TANDEM_TEST_VM=1, so `make test-vm` skips it) builds this package's test
// binary, boots the guest once and runs TestGuestBenchReconcile inside it.
// The guest test does every run in a fresh named network namespace of its
// own, with the same generated configuration, and prints one BENCH line per
// sample; the host test collects them, prints the table of medians and
// rewrites the document.
//
// A run whose scenario fails (the entries never all appear, a wrong table,
// a weight that never shows) fails the benchmark; the timings themselves
// are reported, not asserted.
package reconcile
