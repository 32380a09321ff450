package checks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// ValueSource gives the current value of a keepalived track_file. One
// source serves every FILE_CHECK (and VRRP instance) that tracks the same
// track_file: it is director-wide state, not a checker's.
type ValueSource interface {
	// Value returns the file's current value; an error fails the check.
	Value() (int64, error)
}

// TrackFile is the [ValueSource] of one track_file, read as keepalived
// 2.2 reads it (track_file.c): at most 127 bytes, a C integer (strtol
// base 0: leading blanks, a sign, 0x hex or 0 octal), no digits meaning
// 0; a file that is missing, unreadable or empty is 0 (a deleted file
// counts as 0 in keepalived too); a number outside
// [-2147483648, 2147483648] is ignored and the previous value kept. It
// re-reads the file on each Value (keepalived re-reads on inotify), so a
// FILE_CHECK sees a change at its next attempt. Safe for concurrent use.
type TrackFile struct {
	// Path is the file (keepalived's file "...").
	Path string

	mu   sync.Mutex
	last int64
}

// NewTrackFile returns the source of the track_file at path.
func NewTrackFile(path string) *TrackFile { return &TrackFile{Path: path} }

// Value reads the file.
func (f *TrackFile) Value() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := readTrackFile(f.Path)
	if ok {
		f.last = v
	}
	return f.last, nil
}

// readTrackFile returns the file's value, ok false for an invalid
// number (to be ignored).
func readTrackFile(path string) (int64, bool) {
	// O_NONBLOCK: a FIFO put there must not hang the checker.
	fd, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return 0, true
	}
	defer fd.Close()
	buf := make([]byte, 127)
	n, err := io.ReadAtLeast(fd, buf, 1)
	if n == 0 || (err != nil && !errors.Is(err, io.ErrUnexpectedEOF)) {
		return 0, true
	}
	v, ok := strtol(string(buf[:n]))
	if !ok || v < math.MinInt32 || v > math.MaxInt32+1 {
		return 0, false
	}
	return v, true
}

// strtol is C's strtol(s, NULL, 0) on 64 bits: ok is false on overflow.
func strtol(s string) (int64, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base := 10
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && hexDigit(s[2]) >= 0:
		base, s = 16, s[2:]
	case len(s) > 0 && s[0] == '0':
		base = 8
	}
	end := 0
	for end < len(s) {
		d := hexDigit(s[end])
		if d < 0 || d >= base {
			break
		}
		end++
	}
	if end == 0 {
		return 0, true
	}
	u, err := strconv.ParseUint(s[:end], base, 64)
	if err != nil || (!neg && u > math.MaxInt64) || (neg && u > 1<<63) {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}

func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// FileCheck is keepalived 2.2's FILE_CHECK { track_file NAME; weight W
// [reverse] }. With weight 0 it is a switch: a non-zero value fails, 0
// passes (reversed: 0 fails). With another weight the value times the
// weight (negated with reverse) is added to the server's configured
// weight: the check passes with that weight (clamped at 0), unless the
// product is at most -2147483648, keepalived's fault value, which fails.
//
// keepalived reacts to the file at once (inotify); this probe reads it
// at each attempt, so the checker should run it often (a delay_loop of a
// second or so) with retry 0. FILE_CHECK has no connection options.
type FileCheck struct {
	// Source is the track_file's value, shared by every check of that
	// track_file (see [TrackFile]).
	Source ValueSource
	// File names the track_file in messages.
	File string
	// Weight is the FILE_CHECK's weight, or when it sets none (or 0, as
	// keepalived reads it) the track_file's weight, itself 1 by default.
	Weight int
	// Reverse is the weight's reverse flag.
	Reverse bool
	// ConfiguredWeight is the real server's configured weight.
	ConfiguredWeight int
}

// Name returns "FILE_CHECK".
func (FileCheck) Name() string { return "FILE_CHECK" }

// Probe reads the value.
func (f FileCheck) Probe(ctx context.Context) error {
	_, _, err := f.ProbeWeight(ctx)
	return err
}

// ProbeWeight reads the value and returns the weight it gives.
func (f FileCheck) ProbeWeight(context.Context) (int, bool, error) {
	if f.Source == nil {
		return 0, false, errors.New("no track_file configured")
	}
	v, err := f.Source.Value()
	if err != nil {
		return 0, false, fmt.Errorf("track_file %s: %w", f.File, err)
	}
	if f.Weight == 0 {
		if (v != 0) != f.Reverse {
			return 0, false, fmt.Errorf("track_file %s value %d", f.File, v)
		}
		return 0, false, nil
	}
	d := v * int64(f.Weight) // |v| ≤ 2^31 and |weight| < 2^31: no overflow
	if f.Reverse {
		d = -d
	}
	d = max(min(d, math.MaxInt32), math.MinInt32)
	if d <= math.MinInt32 {
		return 0, false, fmt.Errorf("track_file %s value %d × weight %d is the fault value", f.File, v, f.Weight)
	}
	w := max(int64(f.ConfiguredWeight)+d, 0)
	return int(min(w, math.MaxInt32)), true, nil
}
