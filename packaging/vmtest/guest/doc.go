// Package guest holds the guest side of the package install tests: tests
// that run inside the QEMU guest booted with systemd as PID 1 (e2e/vm with
// Options.Systemd) and install, exercise, upgrade and purge the real .deb
// packages with apt. packaging/vmtest builds them and boots the guest; they
// skip anywhere else.
//
// The guest is a copy of the host's root under a tmpfs overlay, so apt,
// dpkg, nft, ip, ipvsadm and nsenter are the host's, and nothing reaches the
// host. Environment: TANDEM_DIST and TANDEM_PREV_DIST are directories with
// a VERSION file and the packages of the current and of a previous
// (lower-versioned) build.
package guest
