// Package limitfile reads configuration files that an operator, or an
// include pattern, may point at the wrong thing: a FIFO (the read would
// block forever), /dev/zero or /dev/urandom (endless), a directory, or a
// file far larger than any configuration. [Read] opens without blocking,
// accepts only a regular file and reads at most a given number of bytes,
// so none of these can hang the daemon or grow its memory.
package limitfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

var (
	// ErrNotRegular is a path that is not a regular file: a directory,
	// a FIFO, a device or a socket (symbolic links are followed).
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge is a file larger than the limit given to [Read].
	ErrTooLarge = errors.New("file too large")
)

// Read returns the content of the regular file at path, at most max
// bytes. The error is an *fs.PathError naming path; its Err is the OS's,
// or wraps [ErrNotRegular] ("not a regular file (FIFO)") or [ErrTooLarge]
// ("larger than 4 MiB").
//
// The path is checked with stat before it is opened (a device is never
// opened), opened with O_NONBLOCK (a FIFO put there in between does not
// block the open), checked again with fstat on the open file, and read
// through a limit (a file that grows while it is read is still bounded).
func Read(path string, max int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := check(path, st, max); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err = f.Stat()
	if err != nil {
		return nil, err
	}
	if err := check(path, st, max); err != nil {
		return nil, err
	}
	// Read into a buffer of the file's size (io.ReadAll starts at 512
	// bytes and doubles: a 1 MB file was copied a dozen times).
	var buf bytes.Buffer
	buf.Grow(int(st.Size()) + bytes.MinRead)
	if _, err := buf.ReadFrom(io.LimitReader(f, max+1)); err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	b := buf.Bytes()
	if int64(len(b)) > max {
		return nil, &fs.PathError{Op: "read", Path: path, Err: sizeError(max)}
	}
	return b, nil
}

func check(path string, st fs.FileInfo, max int64) error {
	if !st.Mode().IsRegular() {
		return &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind(st.Mode()))}
	}
	if st.Size() > max {
		return &fs.PathError{Op: "read", Path: path, Err: sizeError(max)}
	}
	return nil
}

// sizeError is ErrTooLarge with the limit: "larger than 4 MiB".
type sizeError int64

func (e sizeError) Error() string { return "larger than " + Size(int64(e)) }

func (e sizeError) Is(target error) bool { return target == ErrTooLarge }

// Size writes a byte count the way limits are written in messages:
// "16 MiB", "64 KiB", "1000 bytes".
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// kind names a file type that is not regular.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	}
	return "type " + m.Type().String()
}
