// Package track implements the trackers that change a VRRP instance's
// priority or put it in FAULT, with keepalived 2.2.7's semantics as
// described in keepalived.conf(5): vrrp_script (track_script),
// vrrp_track_process (track_process), track_file (vrrp_track_file) and the
// weight rules of track_interface.
//
// Each tracker runs on its own with an injected clock (shared/clock) and
// reports an [Update] through a callback; nothing here knows VRRP
// instances. The app keeps each object's latest Update, builds one
// [Input] per track_* line of an instance and calls [Effective], which is
// pure: it returns the effective priority and the reasons the instance
// must be in FAULT.
//
//   - [Script] runs a vrrp_script every interval through an [Executor]
//     ([OSExecutor]: no shell, own process group killed on timeout, never
//     two runs at once) and applies keepalived's rise/fall counting.
//     Unlike keepalived (issue #2126), a script that cannot be executed
//     counts as failed.
//   - [Process] counts the processes matching a vrrp_track_process over a
//     [ProcFS] and applies quorum, quorum_max and the fork/terminate
//     delays. It rescans /proc on an interval (default 1 s) instead of
//     listening to the kernel's process connector; see [ProcessConfig].
//   - [File] reads the integer in a track_file when inotify reports a
//     write, move or delete in its directory, and on an interval.
//
// Defaults are keepalived's: script interval 1 s, timeout = interval,
// rise 1, fall 1, weight 0 (a track_file's weight defaults to 1); process
// quorum 1, quorum_max unlimited.
package track
