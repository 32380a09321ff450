package strictyaml

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tandemlb/tandem/shared/errlist"
)

// MaxErrors bounds how many errors a Reader collects; one more entry says
// that the rest were left out.
const MaxErrors = 100

// Error is one problem in a YAML file. Its text is
// `file:line: key "a.b[2].c": message`, without the line when it is
// unknown and without the key when the problem is about the whole
// document.
type Error struct {
	// File is the file name as given to NewReader.
	File string
	// Line is the 1-based line; 0 when the error is about the whole file.
	Line int
	// Column is the 1-based column; 0 when unknown. It is not part of the
	// text, which names the line and the key.
	Column int
	// Key is the dotted key path ("heartbeat.key_file", "vips[1]");
	// empty for the document itself.
	Key string
	// Err says what is wrong.
	Err error
}

// Error returns `file:line: key "k": message`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Message())
	return b.String()
}

// Message returns the text without the position: `key "k": message`.
func (e *Error) Message() string {
	if e.Key == "" {
		return fmt.Sprint(e.Err)
	}
	return fmt.Sprintf("key %q: %v", e.Key, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Errors are all the problems found in one file, sorted by line. Its text
// has one Error per line.
type Errors []*Error

// Error returns the errors one per line.
func (l Errors) Error() string { return errlist.Text(l) }

// Unwrap returns the errors, so that errors.Is and errors.As look at each.
func (l Errors) Unwrap() []error { return errlist.Unwrap(l) }

// Err returns l as an error, or nil if l is empty.
func (l Errors) Err() error { return errlist.Err(l) }

// sorted returns a copy of l sorted by line and column, in the order found
// within a position; the "too many errors" entry stays last.
func (l Errors) sorted() Errors {
	out := slices.Clone(l)
	n := min(len(out), MaxErrors)
	slices.SortStableFunc(out[:n], func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return out
}
