// Package netlab builds throw-away network labs out of Linux network
// namespaces for tests, on the host (the netns test level) and inside the
// ip_vs guest (the VM level).
//
// A Lab is described by a Spec: every host is a named network namespace
// whose interfaces are veth pairs plugged into bridges ("segments"). The
// bridges live in a namespace of their own, so nothing ever touches the
// machine's real interfaces. All namespace names carry a per-lab random tag,
// so parallel or leftover labs never clash, and Close always tears everything
// down: it kills the processes the lab started (by PID), waits for them and
// deletes the namespaces. With a testing.TB, New registers Close with
// tb.Cleanup.
//
// Code runs inside a host in three ways:
//   - Exec and Start run a command whose process is forked from an OS thread
//     that has entered the host's namespace;
//   - Do runs Go code on a locked OS thread inside the namespace;
//   - Netlink, DialContext, Listen and HTTPClient give namespace-bound handles
//     and sockets usable from any goroutine.
//
// Creating namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
package netlab
