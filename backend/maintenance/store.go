package maintenance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tandemlb/tandem/shared/atomicfile"
)

// FileName is the flag file's name in the state directory.
const FileName = "maintenance.json"

// Store persists the flag in a directory.
type Store struct {
	// Dir is the state directory; created (0755) when missing.
	Dir string
}

// Path returns the flag file's path.
func (s Store) Path() string { return filepath.Join(s.Dir, FileName) }

// Load reads the flag; a missing file means off.
func (s Store) Load() (Flag, error) {
	b, err := os.ReadFile(s.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return Flag{}, nil
	}
	if err != nil {
		return Flag{}, fmt.Errorf("maintenance: %w", err)
	}
	var f Flag
	if err := json.Unmarshal(b, &f); err != nil {
		return Flag{}, fmt.Errorf("maintenance: %s: %w", s.Path(), err)
	}
	return f, nil
}

// Save writes the flag atomically (temporary file, fsync, rename, fsync of
// the directory), so that a crash leaves either the old or the new flag. On
// any error (a full disk, a read-only state directory) the old file is left
// as it was, the temporary file is removed, and the error names the flag
// file and says what the OS refused.
func (s Store) Save(f Flag) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	err = os.MkdirAll(s.Dir, 0o755)
	if err == nil {
		err = atomicfile.Write(s.Path(), b, 0o600)
	}
	if err != nil {
		return fmt.Errorf("maintenance: cannot save the switch in %s: %w", s.Path(), err)
	}
	return nil
}
