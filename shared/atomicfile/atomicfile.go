// Package atomicfile writes small state files so that a crash or a full
// disk leaves either the old or the new content, never a mix: a temporary
// file in the same directory, fsync, rename over the target, fsync of the
// directory. On any error the old file is left as it was and the temporary
// file is removed. The director's state.json, the agent's maintenance.json
// and its check file are written this way.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data, mode perm. The directory must exist. The
// error is the OS's (the caller names the file in its own words).
func Write(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
