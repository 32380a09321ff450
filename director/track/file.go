package track

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/tandemlb/tandem/shared/clock"
	"golang.org/x/sys/unix"
)

// DefaultFileInterval is how often a File re-reads its file besides the
// inotify events.
const DefaultFileInterval = 5 * time.Second

// fileReadLimit is what keepalived reads of a track file (a 128-byte
// buffer with its terminating NUL).
const fileReadLimit = 127

// FileConfig is one track_file (vrrp_track_file) block. Its weight
// (default 1 in keepalived) belongs to the Input the app builds.
type FileConfig struct {
	Name string
	Path string
	// InitFile, when set, is written to the file by [File.Init] if the
	// file does not exist, or always with Overwrite (keepalived init_file
	// VALUE [overwrite]).
	InitFile  *int
	Overwrite bool
	// Interval between re-reads besides inotify events; 0 means 5 s.
	Interval time.Duration
}

// ParseFileValue reads a track file's content as keepalived does (strtol
// with base 0): leading white space, an optional sign, then a 0x hex, 0
// octal or decimal number, whatever follows ignored. Content without a
// number, and an empty file, are 0. ok is false when the number does not
// fit in 32 bits; keepalived then ignores the read and keeps the previous
// value.
func ParseFileValue(b []byte) (v int64, ok bool) {
	i := 0
	for i < len(b) && (b[i] == ' ' || (b[i] >= '\t' && b[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	base := int64(10)
	if i < len(b) && b[i] == '0' {
		base = 8
		if i+2 < len(b) && (b[i+1] == 'x' || b[i+1] == 'X') && digitVal(b[i+2]) < 16 {
			base = 16
			i += 2
		}
	}
	var n int64
	over := false
	for ; i < len(b); i++ {
		d := int64(digitVal(b[i]))
		if d >= base {
			break
		}
		if n > (math.MaxInt64-d)/base {
			over = true
			continue
		}
		n = n*base + d
	}
	if neg {
		n = -n
	}
	if over || n > math.MaxInt32 || n < math.MinInt32 {
		return 0, false
	}
	return n, true
}

func digitVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return 99
}

// File tracks one track_file.
type File struct {
	cfg     FileConfig
	clock   clock.Clock
	log     *slog.Logger
	report  func(Update)
	value   int64
	started bool
	runOnce sync.Once
}

// NewFile returns the tracker of one track_file. report is called from
// Run's goroutine with the first value and on every change. A nil clock
// is the system clock, a nil log discards. It does no I/O and starts
// nothing.
func NewFile(cfg FileConfig, clk clock.Clock, log *slog.Logger, report func(Update)) *File {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultFileInterval
	}
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &File{cfg: cfg, clock: clk, log: log.With("track_file", cfg.Name), report: report}
}

// Init applies init_file: it writes InitFile's value and a newline to the
// file when the file does not exist, or when Overwrite is set and it is a
// regular file. Call it at startup, not on reload (keepalived does not
// overwrite on reload). Without InitFile it does nothing.
func (f *File) Init() error {
	if f.cfg.InitFile == nil {
		return nil
	}
	st, err := os.Stat(f.cfg.Path)
	switch {
	case err == nil && !f.cfg.Overwrite:
		return nil
	case err == nil && !st.Mode().IsRegular():
		return fmt.Errorf("track_file %s: init %s: not a regular file", f.cfg.Name, f.cfg.Path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("track_file %s: init: %w", f.cfg.Name, err)
	}
	if err := os.WriteFile(f.cfg.Path, []byte(strconv.Itoa(*f.cfg.InitFile)+"\n"), 0o644); err != nil {
		return fmt.Errorf("track_file %s: init: %w", f.cfg.Name, err)
	}
	return nil
}

// read returns the file's value with keepalived's rules: missing or
// unreadable file 0, content as ParseFileValue; ok false keeps the last.
func (f *File) read() (v int64, ok bool, reason string) {
	fh, err := os.Open(f.cfg.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, true, "file absent, value 0"
		}
		return 0, true, fmt.Sprintf("cannot read, value 0: %v", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, fileReadLimit))
	if err != nil {
		return 0, true, fmt.Sprintf("cannot read, value 0: %v", err)
	}
	v, ok = ParseFileValue(b)
	if !ok {
		return 0, false, fmt.Sprintf("number out of range in %q, ignored", string(b))
	}
	return v, true, fmt.Sprintf("value %d", v)
}

func (f *File) check() {
	v, ok, reason := f.read()
	if !ok {
		f.log.Warn("track file ignored", "path", f.cfg.Path, "reason", reason)
		return
	}
	if f.started && v == f.value {
		return
	}
	f.started, f.value = true, v
	f.log.Info("track file value", "path", f.cfg.Path, "value", v)
	if f.report != nil {
		f.report(Update{Kind: KindFile, Name: f.cfg.Name, At: f.clock.Now(), OK: true, Changed: true, Reason: reason, Value: v})
	}
}

// Run reads the file at once, then whenever inotify reports a write,
// move or delete in its directory, and every Interval, until ctx is done;
// it returns ctx's error. Without inotify (or when the directory cannot
// be watched) it only re-reads on the interval. It may be called once.
func (f *File) Run(ctx context.Context) error {
	first := false
	f.runOnce.Do(func() { first = true })
	if !first {
		return ErrAlreadyRunning
	}
	wake := make(chan struct{}, 1)
	stop, err := f.watch(wake)
	if err != nil {
		f.log.Warn("track file not watched, polling only", "path", f.cfg.Path, "err", err)
	} else {
		defer stop()
	}
	for {
		f.check()
		t := f.clock.NewTimer(f.cfg.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C():
		case <-wake:
			t.Stop()
		}
	}
}

// watch starts an inotify watch of the file's directory; events for the
// file's name signal wake. stop closes it and waits for its goroutine.
func (f *File) watch(wake chan<- struct{}) (stop func(), err error) {
	dir, name := filepath.Split(filepath.Clean(f.cfg.Path))
	if dir == "" {
		dir = "."
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CLOSE_WRITE|unix.IN_DELETE|unix.IN_MOVE); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify watch %s: %w", dir, err)
	}
	// A non-blocking fd goes to the runtime poller, so Close unblocks Read.
	file := os.NewFile(uintptr(fd), "inotify")
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
		for {
			n, err := file.Read(buf)
			if err != nil {
				return
			}
			if eventsName(buf[:n], name) {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}
	}()
	return func() { file.Close(); <-done }, nil
}

// eventsName reports whether one of the inotify events in b is about
// name (and not a directory).
func eventsName(b []byte, name string) bool {
	for off := 0; off+unix.SizeofInotifyEvent <= len(b); {
		// struct inotify_event: wd int32, mask, cookie, len uint32, name.
		mask := binary.NativeEndian.Uint32(b[off+4:])
		l := int(binary.NativeEndian.Uint32(b[off+12:]))
		start := off + unix.SizeofInotifyEvent
		end := min(start+l, len(b))
		n := string(trimNUL(b[start:end]))
		if mask&unix.IN_ISDIR == 0 && n == name {
			return true
		}
		off = start + l
	}
	return false
}

func trimNUL(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}
