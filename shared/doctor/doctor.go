// Package doctor is the findings report both daemons' `doctor` commands
// print: one aligned line per check, and a count of failures for the exit
// status.
package doctor

import (
	"fmt"
	"io"
)

// Levels of a finding.
const (
	OK   = "ok"
	Warn = "WARN"
	Fail = "FAIL"
)

// Finding is one doctor result.
type Finding struct {
	Level string // OK, Warn or Fail
	What  string // the subject, e.g. "vip" or "ip_vs"
	Text  string // what was found and, when wrong, what to do
}

// Report prints each finding as it is added and keeps them.
type Report struct {
	Out      io.Writer
	Width    int // width of the subject column; 12 if zero
	Findings []Finding
}

// Add records a finding and prints its line.
func (r *Report) Add(level, what, format string, args ...any) {
	f := Finding{level, what, fmt.Sprintf(format, args...)}
	r.Findings = append(r.Findings, f)
	w := r.Width
	if w == 0 {
		w = 12
	}
	fmt.Fprintf(r.Out, "%-4s  %-*s %s\n", f.Level, w, f.What+":", f.Text)
}

// Failed counts the findings at level Fail.
func (r *Report) Failed() int {
	n := 0
	for _, f := range r.Findings {
		if f.Level == Fail {
			n++
		}
	}
	return n
}
