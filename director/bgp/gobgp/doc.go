// Package gobgp is the real bgp.Speaker: GoBGP used as a library, export
// only. It runs in the tandem-bgp-speaker process
// (director/cmd/tandem-bgp-speaker), never in tandem-director itself,
// which reaches it through director/bgp/speakerproc.
package gobgp
