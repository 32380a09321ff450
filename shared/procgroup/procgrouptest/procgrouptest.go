// Package procgrouptest checks, in tests, that a process group is gone.
package procgrouptest

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// groupLive lists the processes of group pgid that are not zombies (a
// killed orphan stays a zombie until init reaps it).
func groupLive(pgid int) []string {
	var live []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		i := strings.LastIndexByte(string(b), ')')
		if err != nil || i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:])) // state ppid pgrp …
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			live = append(live, e.Name()+" "+string(b[:i+1]))
		}
	}
	return live
}

// WaitGroupGone waits (at most 5 s) until kill(-pgid, 0) is ESRCH, and
// says what is left otherwise.
func WaitGroupGone(t testing.TB, pgid int) {
	t.Helper()
	if pgid <= 0 {
		t.Fatalf("no process group id (%d)", pgid)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := unix.Kill(-pgid, 0)
		if errors.Is(err, unix.ESRCH) {
			t.Logf("process group %d gone %s after the run", pgid, time.Since(deadline.Add(-5*time.Second)).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			if live := groupLive(pgid); len(live) > 0 {
				t.Fatalf("process group %d still has running processes after 5s: %v", pgid, live)
			}
			// Only zombies: killed, waiting for init to reap them.
			t.Logf("process group %d: only zombies left (kill -0: %v)", pgid, err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Running reports whether process pid exists and is not a zombie.
func Running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	i := strings.LastIndexByte(string(b), ')')
	return err == nil && i > 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}
