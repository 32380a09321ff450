// Package ctlsock is the root-only unix control socket both daemons serve
// for their command-line verbs (status, reload, drain, maintenance …).
//
// The protocol is one request per connection. The client sends one JSON
// Request followed by a newline and keeps its side open; the server answers
// with newline-delimited JSON: for a streaming op, zero or more
// {"line": …} objects, then always exactly one Response, which alone has
// the "ok" key. The server closes the connection after the Response. Closing
// the connection early cancels the handler's context.
//
// Access control is twofold: the socket file has mode 0600 (owner root) and
// the server checks the peer's uid with SO_PEERCRED and refuses anyone but
// root. The client refuses to run when not root (ErrNotRoot), so an operator
// gets a clear message instead of "permission denied".
package ctlsock
