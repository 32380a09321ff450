// Package errlist is what the configuration readers' error lists share:
// the text (one error a line), Unwrap for errors.Is and errors.As, and nil
// for an empty list. director/config.ErrorList and strictyaml.Errors are
// lists of their own positioned errors built on it.
package errlist

import "strings"

// Text returns the errors' texts, one a line.
func Text[E error](l []E) string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the errors as []error, so that errors.Is and errors.As
// look at each.
func Unwrap[E error](l []E) []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// Err returns l as an error, or nil if l is empty (never a non-nil error
// holding an empty list).
func Err[L interface {
	~[]E
	error
}, E error](l L) error {
	if len(l) == 0 {
		return nil
	}
	return l
}
