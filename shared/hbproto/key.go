package hbproto

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"syscall"
)

// LoadKey reads the shared heartbeat key from path. The key is the file's
// bytes with trailing ASCII whitespace removed. It refuses a file that group
// or others may access (any bit of 0077), naming the mode found, a file
// owned by anyone but root or the running user (who could rewrite it), a file
// larger than MaxKeyFileSize, and a key shorter than MinKeySize bytes.
func LoadKey(path string) ([]byte, error) {
	// O_NONBLOCK: a FIFO in the key's place must not hang the start; it
	// is refused below as not a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("heartbeat key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("heartbeat key %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("heartbeat key %s: not a regular file (%v)", path, fi.Mode().Type())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("heartbeat key %s: owned by uid %d, not by root or this process (uid %d); run chown root: %s", path, st.Uid, os.Geteuid(), path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("heartbeat key %s: mode %04o lets group or others access it; run chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("heartbeat key %s: %w", path, err)
	}
	if len(b) > MaxKeyFileSize {
		return nil, fmt.Errorf("heartbeat key %s: larger than %d bytes", path, MaxKeyFileSize)
	}
	key := bytes.TrimRight(b, " \t\r\n")
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("heartbeat key %s: %d bytes, need at least %d (e.g. openssl rand -hex 32 > %s)", path, len(key), MinKeySize, path)
	}
	return key, nil
}
