// Package health probes the real application and exposes the verdict to the
// directors.
//
// A [Probe] is one HTTP GET (expected status), TCP connect or command run.
// A [Tracker] turns probe results into a healthy/unhealthy state with rise
// and fall counts, as keepalived and HAProxy do: the first result decides at
// once (so an agent restart does not hide a healthy application for
// rise × interval), after that `rise` consecutive passes make it healthy and
// `fall` consecutive failures unhealthy. The tracker is pure: results in,
// state out, no clock of its own.
//
// The verdict (healthy and not in maintenance) is exposed in one of two ways:
// [Handler] serves GET /check.txt (200 "OK" or 503 and a one-line reason),
// and [File] keeps a check file in the web server's docroot, present only
// while serving, so that a plain keepalived HTTP_GET of /check.txt against
// the web server works unchanged. File writes are atomic (write, fsync,
// rename).
package health
