package config

import (
	"flag"
	"github.com/tandemlb/tandem/shared/testutil"
	"net/netip"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// cmpModel compares models exactly (positions included).
var cmpModel = []cmp.Option{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

// cmpNoPos compares models ignoring positions, Format, Files (and their
// hash) and Warnings.
var cmpNoPos = append([]cmp.Option{
	cmpopts.IgnoreTypes(Pos{}),
	cmpopts.IgnoreFields(Config{}, "Format", "Files", "FilesHash", "Warnings"),
	cmpopts.EquateEmpty(),
}, cmpModel...)

// golden compares got with testdata/<name>.golden, or rewrites it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testutil.Golden(t, name, got, *update)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// errLines returns the lines of an error, or nil.
func errLines(err error) []string {
	if err == nil {
		return nil
	}
	if l, ok := err.(ErrorList); ok {
		out := make([]string, len(l))
		for i, e := range l {
			out[i] = e.Error()
		}
		return out
	}
	return []string{err.Error()}
}
