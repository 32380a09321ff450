package ops

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture Tandem runs on).
const userHZ = 100

// ProcSample is what /proc says about one process at one moment.
type ProcSample struct {
	Ticks  uint64 // utime + stime, in 1/userHZ s
	RSSKiB int    // VmRSS
}

// ReadProc reads /proc/PID/stat and /proc/PID/status under root ("/proc").
func ReadProc(root string, pid int) (ProcSample, error) {
	var s ProcSample
	dir := filepath.Join(root, strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return s, err
	}
	if s.Ticks, _, err = parseStat(stat); err != nil {
		return s, fmt.Errorf("pid %d: %w", pid, err)
	}
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return s, err
	}
	s.RSSKiB, err = parseRSS(status)
	if err != nil {
		return s, fmt.Errorf("pid %d: %w", pid, err)
	}
	return s, nil
}

// parseStat returns utime+stime and the parent's pid of a /proc/PID/stat
// line. The command name may hold spaces and parentheses: the fields start
// after the last ')'.
func parseStat(b []byte) (ticks uint64, ppid int, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("stat: no ')' in %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("stat: %d fields after the name", len(f))
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, 0, fmt.Errorf("stat: ppid: %w", err)
	}
	u, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("stat: utime: %w", err)
	}
	st, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("stat: stime: %w", err)
	}
	return u + st, ppid, nil
}

// parseRSS returns VmRSS in KiB from /proc/PID/status (0 for a kernel
// thread or zombie, which have none).
func parseRSS(b []byte) (int, error) {
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("status: VmRSS %q", v)
			}
			return strconv.Atoi(f[0])
		}
	}
	return 0, nil
}

// Trees returns, for each pid, pid and its descendants, from one scan of
// /proc under root.
func Trees(root string, pids ...int) [][]int {
	children := map[int][]int{}
	if ents, err := os.ReadDir(root); err == nil {
		for _, e := range ents {
			p, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile(filepath.Join(root, e.Name(), "stat"))
			if err != nil {
				continue
			}
			if _, pp, err := parseStat(b); err == nil {
				children[pp] = append(children[pp], p)
			}
		}
	}
	out := make([][]int, len(pids))
	for i, pid := range pids {
		t := []int{pid}
		for j := 0; j < len(t); j++ {
			t = append(t, children[t[j]]...)
		}
		out[i] = t
	}
	return out
}

// Usage is a process tree's cost over a window.
type Usage struct {
	Procs  int
	RSSKiB int     // summed VmRSS at the end of the window
	CPUPct float64 // (utime+stime) over the window ÷ the window, 100 = one CPU
}

// Measure samples the trees of pids (each a root whose descendants count
// too) at the start and the end of window and returns each tree's usage.
// Descendants are looked up at the start; a process that exits during the
// window is an error.
func Measure(ctx context.Context, root string, window time.Duration, pids ...int) ([]Usage, error) {
	trees := Trees(root, pids...)
	before := make([]uint64, len(pids))
	for i := range pids {
		for _, q := range trees[i] {
			s, err := ReadProc(root, q)
			if err != nil {
				return nil, err
			}
			before[i] += s.Ticks
		}
	}
	start := time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(window):
	}
	out := make([]Usage, len(pids))
	for i := range pids {
		var ticks uint64
		u := Usage{Procs: len(trees[i])}
		for _, q := range trees[i] {
			s, err := ReadProc(root, q)
			if err != nil {
				return nil, fmt.Errorf("process %d gone during the window: %w", q, err)
			}
			ticks += s.Ticks
			u.RSSKiB += s.RSSKiB
		}
		el := time.Since(start).Seconds()
		u.CPUPct = float64(ticks-before[i]) / userHZ / el * 100
		out[i] = u
	}
	return out, nil
}
