package scenarios

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/testutil"
)

// vrrpCapture is every VRRP advert (IP protocol 112) seen in a namespace.
type vrrpCapture struct {
	mu      sync.Mutex
	adverts []vrrpSeen
	conn    net.PacketConn
	done    chan struct{}
}

type vrrpSeen struct {
	at       time.Time
	from     string
	priority int
}

// captureVRRP opens a raw IP-proto-112 socket in host's namespace and
// records every advert until the returned function is called.
func (l *haLab) captureVRRP(host string) (*vrrpCapture, func()) {
	l.t.Helper()
	c := &vrrpCapture{done: make(chan struct{})}
	if err := l.Net.Do(host, func() error {
		pc, err := net.ListenPacket("ip4:112", "0.0.0.0")
		c.conn = pc
		return err
	}); err != nil {
		l.t.Fatalf("VRRP capture in %s: %v", host, err)
	}
	go func() {
		defer close(c.done)
		buf := make([]byte, 1500)
		for range 1_000_000 {
			n, from, err := c.conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 3 {
				continue
			}
			c.mu.Lock()
			c.adverts = append(c.adverts, vrrpSeen{at: time.Now(), from: from.String(), priority: int(buf[2])})
			c.mu.Unlock()
		}
	}()
	return c, func() { c.conn.Close(); <-c.done }
}

func (c *vrrpCapture) seen() []vrrpSeen {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]vrrpSeen(nil), c.adverts...)
}

var priorityLine = regexp.MustCompile(`(?m)^(\s+)priority: \d+$`)

// setPriority rewrites the first instance priority of director name's
// native YAML.
func (l *haLab) setPriority(name string, prio int) {
	l.t.Helper()
	path := l.ConfigPath(name)
	b, err := os.ReadFile(path)
	if err != nil {
		l.t.Fatal(err)
	}
	loc := priorityLine.FindSubmatchIndex(b)
	if loc == nil {
		l.t.Fatalf("no priority line in %s:\n%s", path, b)
	}
	line := fmt.Sprintf("%spriority: %d", b[loc[2]:loc[3]], prio)
	out := append(append(append([]byte(nil), b[:loc[0]]...), line...), b[loc[1]:]...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// reloadDirector runs `tandem-director reload` on name's control socket
// and returns how long it took.
func (l *haLab) reloadDirector(name string, args ...string) (time.Duration, string) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	argv := append([]string{"reload", "--socket", filepath.Join(l.Dir, name+".sock")}, args...)
	t0 := time.Now()
	out, err := exec.CommandContext(ctx, l.DirectorBin, argv...).CombinedOutput()
	took := time.Since(t0)
	if err != nil {
		l.t.Fatalf("reload %s: %v\n%s", name, err, out)
	}
	return took, string(out)
}

// TestGuestScenarioReload2PriorityOnly (issue 16, item 1): under load, the
// master's priority is changed (it stays the highest) and the master is
// reloaded through its control socket. The VIP never leaves dir1 (sampled
// every 5 ms), no request fails, no priority-0 advert is seen on the
// segment (captured in dir2's namespace), and each reload returns within
// 1 s. Before the fix the master stopped its instance (priority 0), dir2
// held the VIP ~2.9 s and dir1 preempted it back.
func TestGuestScenarioReload2PriorityOnly(t *testing.T) {
	l := newHALab(t)
	cfg := haMixed(14 * time.Second)
	cfg.Target.Timeout = 3 * time.Second
	wait := l.load(cfg)
	capture, stopCapture := l.captureVRRP("dir2")
	testutil.Settle(3 * time.Second) // load and adverts before the reloads
	stop := l.sampleVIP(5 * time.Millisecond)
	testutil.Settle(200 * time.Millisecond) // samples before the first reload

	// The seed's priority is 100 on both: dir1 goes to 150, then down to
	// 140 (still above dir2's 100), each by a reload.
	_, plan := l.reloadDirectorPlan("dir1", 150)
	t.Logf("dry run before 100 → 150:\n%s", plan)
	var tooks []time.Duration
	for _, prio := range []int{150, 140} {
		l.setPriority("dir1", prio)
		took, out := l.reloadDirector("dir1")
		tooks = append(tooks, took)
		t.Logf("MEASURED reload of dir1 to priority %d took %s: %s", prio, haMs(took), out)
		testutil.Settle(3 * time.Second) // load, samples and adverts at the new priority
	}
	samples := stop()
	rep := wait()
	stopCapture()

	for _, took := range tooks {
		if took >= time.Second {
			t.Errorf("a reload took %s, want < 1s", haMs(took))
		}
	}
	bad := 0
	for _, s := range samples {
		if !s.holds("dir1") || len(s.holders) != 1 {
			bad++
			if bad <= 10 {
				t.Errorf("VIP holders at %s: want dir1 only", s)
			}
		}
	}
	t.Logf("MEASURED %d VIP samples, %d without dir1 alone", len(samples), bad)
	adverts := capture.seen()
	zero := 0
	for _, a := range adverts {
		if a.priority == 0 {
			zero++
			t.Errorf("priority-0 advert from %s at %s", a.from, a.at.Format("15:04:05.000"))
		}
	}
	t.Logf("MEASURED %d VRRP adverts captured on dir2's side, %d with priority 0", len(adverts), zero)
	if len(adverts) == 0 {
		t.Error("no VRRP advert captured: the capture did not work")
	}
	if rep.Failed != 0 {
		haLogFailures(t, rep, time.Time{}, "reload")
		t.Errorf("%d failed requests of %d, want 0", rep.Failed, rep.Sent)
	}
	if m, _ := l.Roles(); m != "dir1" {
		t.Errorf("master after the reloads: %q, want dir1", m)
	}
}

// reloadDirectorPlan writes prio into name's config and prints the dry
// run, then puts the file back: it applies nothing.
func (l *haLab) reloadDirectorPlan(name string, prio int) (time.Duration, string) {
	l.t.Helper()
	path := l.ConfigPath(name)
	orig, err := os.ReadFile(path)
	if err != nil {
		l.t.Fatal(err)
	}
	l.setPriority(name, prio)
	defer os.WriteFile(path, orig, 0o644)
	return l.reloadDirector(name, "--dry-run")
}
