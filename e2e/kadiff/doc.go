// Package kadiff is the keepalived-vs-Tandem differential test: every
// keepalived.conf of the corpus (director/config/testdata/corpus/real,
// keepalived's own samples, docs/examples, director/config/testdata) is run
// by keepalived 2.2.7 and by tandem-director, each in a fresh network
// namespace of the ip_vs guest, and what each one programs is compared:
// IPVS services and destinations, addresses, links, routes, rules, the
// firewall ruleset and the VRRP adverts on the wire.
//
// TestVMKeepalivedDiff (host, `make test-vm`) builds tandem-director and
// this package's test binary and boots the guest once;
// TestGuestKeepalivedDiff runs inside it. The differences it finds must be
// exactly those listed in knownDiffs (known_test.go): an unexpected one and
// a listed one that no longer occurs both fail the test.
//
// The non-test files hold the pure parts: the network plan built from a
// file (plan.go), the pcap reader and VRRP advert decoding (pcap.go) and
// the normalisation and comparison of the captured state (snapshot.go).
package kadiff
