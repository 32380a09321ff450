// Package control is the API of tandem-director's control socket: the
// operations (status, drain, undrain, reload, reload-plan), their
// arguments and their results, as they travel as JSON through
// shared/ctlsock, and a client for them. The daemon (director/app)
// executes the operations; the CLI (director/cli) calls them. Field names
// and JSON tags are the wire format: a change here is a change of what
// `status --json` prints and what older CLIs read.
package control
