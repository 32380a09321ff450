package track

import "time"

// Update is what a tracker reports: one per script run, and one per change
// of a process count or file value. The app keeps the latest Update of
// each tracked object and maps it onto an [Input] for [Effective].
type Update struct {
	Kind Kind
	Name string
	At   time.Time
	// OK is the tracker's verdict after this observation: script OK
	// (after rise/fall), process quorum held (after the delays). For a
	// file it is true when the file could be read or was absent (the
	// value is then 0); a file's effect is in Value.
	OK bool
	// Pending is true while a script has no verdict yet (see
	// [Input.Pending]).
	Pending bool
	// Changed is true when OK (or, for a file, Value) differs from the
	// previous report, and for the first verdict of a script.
	Changed bool
	// Reason is a one-line explanation for logs: "exited with status 1",
	// "timeout after 2s", "cannot execute /x.sh: permission denied",
	// "3 processes, quorum 1..2".
	Reason string

	// Script: the exit status of this run (-1 when the script did not
	// exit by itself), how long it ran, and how many runs have been
	// skipped since the start because the previous one was still running.
	ExitStatus int
	Duration   time.Duration
	Skipped    int

	// Process: the number of matching processes in this scan.
	Count int

	// File: the value now in effect.
	Value int64
}
