package procwatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandemlb/tandem/shared/limitfile"
)

// MaxPidfile bounds the pidfile read: a PID and a newline, with room for
// whatever an application writes after it.
const MaxPidfile = 4096

// maxPID is the kernel's largest possible pid_max (PID_MAX_LIMIT, 2^22).
const maxPID = 1 << 22

var (
	// ErrNoProcess is a PID that names no process, or one that has
	// already exited (a zombie not yet reaped by its parent).
	ErrNoProcess = errors.New("no such process")
	// ErrBadPidfile is a pidfile whose first line is not a PID, or that
	// others than its owner and group may write.
	ErrBadPidfile = errors.New("bad pidfile")
)

// ReadPidfile returns the PID on the first line of the pidfile at path
// (surrounding blanks ignored). The file must be a regular file of at
// most MaxPidfile bytes that only its owner and group may write: a
// pidfile anyone can write would let anyone choose which process's exit
// takes the server out of rotation.
func ReadPidfile(path string) (int, error) {
	b, err := limitfile.Read(path, MaxPidfile)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if st.Mode().Perm()&0o002 != 0 {
		return 0, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: writable by others (mode %#o)", ErrBadPidfile, st.Mode().Perm())}
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	n, err := strconv.Atoi(string(bytes.TrimSpace(line)))
	if err != nil || n <= 0 || n >= maxPID {
		return 0, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: first line %q is not a PID", ErrBadPidfile, truncate(line, 32))}
	}
	return n, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// Process is a pidfd of one process.
type Process struct {
	pid int
	f   *os.File // the pidfd, registered with Go's poller
}

// Open returns a pidfd of the process pid. It fails with ErrNoProcess
// when there is no such process or it has already exited.
func Open(pid int) (*Process, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil, fmt.Errorf("process %d: %w", pid, ErrNoProcess)
	}
	if err != nil {
		return nil, fmt.Errorf("process %d: pidfd_open: %w", pid, err)
	}
	// Non-blocking, so that os.NewFile puts the pidfd on the poller
	// (O_NONBLOCK changes nothing else of a pidfd but waitid).
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("process %d: pidfd: %w", pid, err)
	}
	p := &Process{pid: pid, f: os.NewFile(uintptr(fd), "pidfd:"+strconv.Itoa(pid))}
	exited, err := p.exited()
	if err == nil && exited {
		err = fmt.Errorf("process %d: %w", pid, ErrNoProcess)
	}
	if err != nil {
		p.f.Close()
		return nil, err
	}
	return p, nil
}

// PID returns the watched process's ID.
func (p *Process) PID() int { return p.pid }

// exited polls the pidfd without waiting: readable means exited.
func (p *Process) exited() (bool, error) {
	rc, err := p.f.SyscallConn()
	if err != nil {
		return false, err
	}
	var exited bool
	var perr error
	err = rc.Control(func(fd uintptr) { exited, perr = pollExited(fd) })
	if err == nil {
		err = perr
	}
	return exited, err
}

func pollExited(fd uintptr) (bool, error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("poll pidfd: %w", err)
		}
		return n > 0 && fds[0].Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR) != 0, nil
	}
}

// Wait returns nil when the process has exited, ctx's error when ctx ends
// first, or another error when the pidfd cannot be waited on.
func (p *Process) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rc, err := p.f.SyscallConn()
	if err != nil {
		return err
	}
	if err := p.f.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("process %d: pidfd: %w", p.pid, err)
	}
	// A deadline in the past wakes the wait up when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = p.f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		var exited bool
		exited, perr = pollExited(fd)
		return exited || perr != nil
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("process %d: %w", p.pid, err)
	}
	return nil
}

// Close releases the pidfd (a Wait in progress returns an error).
func (p *Process) Close() error { return p.f.Close() }
