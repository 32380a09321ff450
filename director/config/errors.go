package config

import (
	"fmt"
	"strconv"

	"github.com/tandemlb/tandem/shared/errlist"
)

// Pos is a position in a configuration file: the file name as it was given
// to the reader (or resolved from an include) and a 1-based line number.
// The zero Pos means "no position" (a model built in Go, not read).
type Pos struct {
	File string
	Line int
}

// String formats p as "file:line", "file" when the line is unknown, or ""
// for the zero Pos.
func (p Pos) String() string {
	switch {
	case p.File == "" && p.Line == 0:
		return ""
	case p.Line == 0:
		return p.File
	default:
		return p.File + ":" + strconv.Itoa(p.Line)
	}
}

// IsValid reports whether p names a file.
func (p Pos) IsValid() bool { return p.File != "" }

// Error is one configuration problem at a position. Its text is
// "file:line: message"; messages about a keyword read `keyword "x": ...`
// (keepalived.conf and the model) or `key "x": ...` (native YAML).
type Error struct {
	Pos Pos
	// Msg is the message without the position.
	Msg string
	// Err is the underlying error, if any (for example a file that could
	// not be read); Unwrap returns it.
	Err error
}

// Error returns "file:line: message".
func (e *Error) Error() string {
	if p := e.Pos.String(); p != "" {
		return p + ": " + e.Msg
	}
	return e.Msg
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// maxErrors bounds how many errors a reader or Validate collects; one more
// entry says that the rest were left out.
const maxErrors = 100

// ErrorList is a list of positioned errors, in the order they were found
// (file order for the readers). Its Error text has one "file:line: message"
// line per error, which is what `tandem-director check-config` prints.
type ErrorList []*Error

// Error returns the errors one per line.
func (l ErrorList) Error() string { return errlist.Text(l) }

// Unwrap returns the errors, so that errors.Is and errors.As look at each.
func (l ErrorList) Unwrap() []error { return errlist.Unwrap(l) }

// Err returns l as an error, or nil if l is empty.
func (l ErrorList) Err() error { return errlist.Err(l) }

// add appends an error at pos, unless the list is full.
func (l *ErrorList) add(pos Pos, format string, args ...any) {
	switch {
	case len(*l) < maxErrors:
		*l = append(*l, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
	case len(*l) == maxErrors:
		*l = append(*l, &Error{Pos: pos, Msg: "too many errors; the rest are not shown"})
	}
}

// full reports whether no more errors will be recorded.
func (l ErrorList) full() bool { return len(l) > maxErrors }
