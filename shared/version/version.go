// Package version holds the build version, stamped by the linker from git
// (see the Makefile's LDFLAGS).
package version

// Version is set at build time with -ldflags "-X .../shared/version.Version=...".
var Version = "dev"
