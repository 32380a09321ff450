package health

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"github.com/tandemlb/tandem/shared/atomicfile"
)

// Verdict is what the check endpoint says.
type Verdict struct {
	// OK is true while the application is healthy and the host is not in
	// maintenance.
	OK bool `json:"ok"`
	// Reason is a one-line explanation when not OK.
	Reason string `json:"reason,omitempty"`
}

// Handler serves the check path: 200 "OK" while the verdict is OK, 503 and
// the reason otherwise; GET and HEAD only; other paths are 404.
func Handler(path string, verdict func() Verdict) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		v := verdict()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if v.OK {
			w.WriteHeader(http.StatusOK)
			fmt.Fprint(w, "OK\n")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "%s\n", oneLine(v.Reason))
	})
}

func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
	if s == "" {
		s = "unavailable"
	}
	return s
}

// File keeps a check file present while the verdict is OK and absent
// otherwise.
type File struct {
	// Path is the check file, e.g. /var/www/html/check.txt.
	Path string
}

// Set makes the file match ok: it writes "OK\n" through a temporary file,
// fsync and rename, or removes it. It is cheap when nothing changes.
func (f File) Set(ok bool) (changed bool, err error) {
	_, statErr := os.Stat(f.Path)
	exists := statErr == nil
	if ok == exists {
		return false, nil
	}
	if !ok {
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("check file: remove %s: %w", f.Path, err)
		}
		return true, nil
	}
	return true, writeAtomic(f.Path, []byte("OK\n"), 0o644)
}

// Exists reports whether the file is there.
func (f File) Exists() bool {
	_, err := os.Stat(f.Path)
	return err == nil
}

// writeAtomic writes the check file (shared/atomicfile).
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	if err := atomicfile.Write(path, data, mode); err != nil {
		return fmt.Errorf("check file %s: %w", path, err)
	}
	return nil
}
