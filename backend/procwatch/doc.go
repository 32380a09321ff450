// Package procwatch is the kernel edge of the agent's process watch
// (backend/health's ProcessWatch): the application's pidfile read with
// bounds, and a pidfd (pidfd_open(2), Linux 5.3) of the process it names,
// which becomes readable the moment the process exits. The wait is on
// Go's poller (no thread blocked) and ends with a context. pidfd_open
// needs no privilege: any process visible in the agent's PID namespace
// can be watched.
package procwatch
