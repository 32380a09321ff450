package errlist

import (
	"errors"
	"io"
	"testing"
)

type list []error

func (l list) Error() string   { return Text(l) }
func (l list) Unwrap() []error { return Unwrap(l) }

func TestList(t *testing.T) {
	if err := Err(list(nil)); err != nil {
		t.Fatalf("Err(empty) = %v, want nil", err)
	}
	err := Err(list{errors.New("a:1: x"), io.EOF})
	if err == nil || err.Error() != "a:1: x\nEOF" {
		t.Fatalf("Err = %q", err)
	}
	if !errors.Is(err, io.EOF) {
		t.Errorf("errors.Is(list, io.EOF) = false")
	}
}
