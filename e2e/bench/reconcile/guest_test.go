package reconcile

// Guest side of the benchmark: runs inside the QEMU guest (testutil.InVM),
// started by TestVMBenchReconcile. Every run gets a fresh named network
// namespace; the processes under test run in it through `ip netns exec`.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/e2e/bench/benchutil"
	"github.com/tandemlb/tandem/shared/testutil"
)

// Bounds and poll intervals.
const (
	waitBound  = 120 * time.Second     // any single wait
	pollEvery  = 20 * time.Millisecond // table counts while starting
	weightPoll = 5 * time.Millisecond  // one-service reads after SIGHUP
	settle     = 10 * time.Second      // for the table to match after a weight change
	stopBound  = 120 * time.Second     // SIGTERM until exit
	killWait   = 10 * time.Second      // SIGKILL until reaped
	readyBound = 120 * time.Second     // READY=1 after start or reload
	cmdBound   = 120 * time.Second     // ipvsadm-restore, ipvsadm -e
	nsCmdBound = 30 * time.Second      // ip netns add/del, link setup
	defaultRun = 3                     // runs without TANDEM_BENCH_RUNS
	maxRuns    = 50                    // a sanity bound
	logTail    = 3000                  // bytes of a daemon's log shown on failure
	nsPrefix   = "rbench-"             // namespace names
	notifyBuf  = 4096                  // sd_notify datagram buffer
	netnsDir   = "/run/netns"
)

// TestGuestBenchReconcile is the benchmark itself. It prints one BENCH line
// per sample and a BENCHMETA line; TestVMBenchReconcile turns them into the
// table.
func TestGuestBenchReconcile(t *testing.T) {
	testutil.InVM(t)
	director := testutil.Bin(t, "tandem-director")
	tools := map[string]string{}
	for _, name := range []string{"ip", "keepalived", "ipvsadm", "ipvsadm-restore"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("%s is needed (scripts/deps.sh installs it): %v", name, err)
		}
		tools[name] = p
	}
	b := &bench{t: t, sc: Default, ch: Default.OneWeight(), dir: t.TempDir(), director: director, tools: tools}
	b.write("keepalived.conf", b.sc.Keepalived(nil))
	b.write("keepalived-changed.conf", b.sc.Keepalived(&b.ch))
	b.write("rules", b.sc.IpvsadmRules())

	runs := benchutil.EnvRuns(t, defaultRun, maxRuns)
	meta := b.meta(runs)
	for r := 1; r <= runs; r++ {
		for _, impl := range []struct {
			name string
			fn   func(t *testing.T, run int)
		}{
			{ImplKeepalived, b.runKeepalived},
			{ImplTandem, b.runTandem},
			{ImplIpvsadm, b.runIpvsadm},
			{ImplLibrary, b.runLibrary},
		} {
			if !t.Run(fmt.Sprintf("%s-%d", impl.name, r), func(t *testing.T) { impl.fn(t, r) }) {
				t.Fatalf("%s run %d failed: the benchmark stops", impl.name, r)
			}
		}
	}
	b.mu.Lock()
	meta.CountCost, meta.ReadCost = medianOf(b.countCosts), medianOf(b.readCosts)
	b.mu.Unlock()
	fmt.Println(MetaLine(meta))
}

func medianOf(v []float64) string {
	if len(v) == 0 {
		return "—"
	}
	return benchutil.Seconds(benchutil.Median(v))
}

type bench struct {
	t        *testing.T
	sc       Scenario
	ch       Change
	dir      string
	director string
	tools    map[string]string

	mu         sync.Mutex
	countCosts []float64 // seconds per count of a complete table
	readCosts  []float64 // seconds per netlink read of a complete table
}

func (b *bench) write(name, content string) {
	b.t.Helper()
	if err := os.WriteFile(filepath.Join(b.dir, name), []byte(content), 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bench) path(name string) string { return filepath.Join(b.dir, name) }

// emit prints one sample.
func emit(t *testing.T, impl, step string, run int, d time.Duration, note string) {
	t.Helper()
	fmt.Println(SampleLine(Sample{Impl: impl, Step: step, Run: run, Seconds: d.Seconds(), Note: note}))
	t.Logf("%-12s %-7s run %d: %v %s", impl, step, run, d.Round(time.Microsecond), note)
}

func (b *bench) meta(runs int) Meta {
	t := b.t
	m := Meta{Services: b.sc.Services, Dests: b.sc.Dests, Runs: runs, GuestCPUs: runtime.NumCPU(),
		PollEvery: pollEvery.String(), WeightPoll: weightPoll.String(),
		GuestKernel: benchutil.KernelRelease(), GuestMemMB: benchutil.GuestMemMB()}
	m.Keepalived = benchutil.FirstLine(t, b.tools["keepalived"], "--version")
	m.Ipvsadm = benchutil.FirstLine(t, b.tools["ipvsadm"], "--version")
	m.Tandem = strings.TrimPrefix(benchutil.FirstLine(t, b.director, "--version"), "tandem-director version ")
	if k, err := lvs.Open("", nil); err == nil {
		if info, err := k.Info(); err == nil {
			m.IPVS = info.Version
		}
		k.Close()
	}
	m.Changed = fmt.Sprintf("%s of %s", netip.AddrPortFrom(RS(b.ch.Dest), rsPort), b.sc.Service(b.ch.Service).Key())
	return m
}

// --- network namespaces ---

// newNS creates the named namespace NAME with lo up and a dummy interface
// carrying RSGateway; it is deleted when t ends (after the processes
// started later, whose cleanups run first).
func (b *bench) newNS(t *testing.T, name string) string {
	t.Helper()
	ip := b.tools["ip"]
	run := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), nsCmdBound)
		defer cancel()
		if out, err := exec.CommandContext(ctx, ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), nsCmdBound)
		defer cancel()
		// Empty the table first (keepalived leaves entries when its
		// checker is killed, tandem-director keeps them by design): IPVS
		// services of a dying namespace stay in the kernel's global hash
		// table, and /proc/net/ip_vs of every other namespace then loses
		// entries (its seq_file position counts them, its resume skips
		// them: seen here, 1,000 services read as 755 while another
		// namespace held 300).
		if out, err := exec.CommandContext(ctx, ip, "netns", "exec", name, b.tools["ipvsadm"], "-C").CombinedOutput(); err != nil {
			t.Errorf("ipvsadm -C in %s: %v\n%s", name, err, out)
		}
		if out, err := exec.CommandContext(ctx, ip, "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	run("-n", name, "link", "set", "lo", "up")
	run("-n", name, "link", "add", "dummy0", "type", "dummy")
	run("-n", name, "addr", "add", RSGateway, "dev", "dummy0")
	run("-n", name, "link", "set", "dummy0", "up")
	return filepath.Join(netnsDir, name)
}

// waitComplete counts the table every pollEvery until it has every
// service and destination, and returns the time from start to the end of
// that count. exited, when it fires, ends the wait with an error. The
// loop is the benchmark's clock, not testutil.WaitFor: the report states
// its interval (Meta.PollEvery).
func (b *bench) waitComplete(c *Counter, start time.Time, exited <-chan struct{}, what string) (time.Duration, error) {
	wantS, wantD := b.sc.Services, b.sc.Services*b.sc.Dests
	deadline := start.Add(waitBound)
	for {
		before := time.Now()
		gotS, gotD, err := c.Count()
		at := time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", what, err)
		}
		if gotS == wantS && gotD == wantD {
			b.mu.Lock()
			b.countCosts = append(b.countCosts, time.Since(before).Seconds())
			b.mu.Unlock()
			return at, nil
		}
		if gotS > wantS || gotD > wantD {
			return 0, fmt.Errorf("%s: the table has %d services and %d destinations, more than %d and %d", what, gotS, gotD, wantS, wantD)
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: after %v the table has %d of %d services and %d of %d destinations", what, waitBound, gotS, wantS, gotD, wantD)
		}
		select {
		case <-exited:
			return 0, fmt.Errorf("%s: the process exited with %d of %d services and %d of %d destinations in the table", what, gotS, wantS, gotD, wantD)
		case <-time.After(pollEvery):
		}
	}
}

// counter opens a Counter in the namespace, closed when t ends.
func (b *bench) counter(t *testing.T, nsPath string) *Counter {
	t.Helper()
	c, err := OpenCounter(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if s, d, err := c.Count(); err != nil || s+d != 0 {
		t.Fatalf("the new namespace's table: %d services, %d destinations, %v", s, d, err)
	}
	return c
}

// checkTable compares the whole table, read over netlink, with the
// expected one, retrying for up to within (a reload may still be
// finishing).
func (b *bench) checkTable(nsPath string, ch *Change, within time.Duration) error {
	want := b.sc.Expected(ch)
	k, err := lvs.Open(nsPath, nil)
	if err != nil {
		return err
	}
	defer k.Close()
	var diff string
	var readErr error
	testutil.WaitFor(within, func() bool {
		before := time.Now()
		states, err := k.Services()
		cost := time.Since(before)
		if err != nil {
			readErr = err
			return true
		}
		diff = Diff(want, TableOf(states))
		if diff == "" {
			b.mu.Lock()
			b.readCosts = append(b.readCosts, cost.Seconds())
			b.mu.Unlock()
			return true
		}
		return false
	})
	if readErr != nil {
		return readErr
	}
	if diff != "" {
		return fmt.Errorf("the table differs from the expected one: %s", diff)
	}
	return nil
}

// entries counts the services and destinations in the table over netlink.
func entries(nsPath string) (services, dests int, err error) {
	k, err := lvs.Open(nsPath, nil)
	if err != nil {
		return 0, 0, err
	}
	defer k.Close()
	states, err := k.Services()
	if err != nil {
		return 0, 0, err
	}
	s, d := TableOf(states).Entries()
	return s, d, nil
}

// waitWeight reads the changed service over netlink every weightPoll until
// the changed destination has the new weight; the time is from start.
// The loop is the benchmark's clock, not testutil.WaitFor: the report
// states its interval (Meta.WeightPoll).
func (b *bench) waitWeight(k *lvs.Kernel, start time.Time, exited <-chan struct{}) (time.Duration, error) {
	svc := b.sc.Service(b.ch.Service)
	rs := RS(b.ch.Dest)
	deadline := start.Add(waitBound)
	last := "not read"
	for {
		st, err := k.Service(svc)
		at := time.Since(start)
		if err != nil {
			last = err.Error()
		} else {
			last = "destination missing"
			for _, d := range st.Destinations {
				if d.Addr == rs {
					if d.Weight == b.ch.Weight {
						return at, nil
					}
					last = fmt.Sprintf("weight %d", d.Weight)
				}
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("after %v %s of %s: %s, want weight %d", waitBound, rs, svc.Key(), last, b.ch.Weight)
		}
		select {
		case <-exited:
			return 0, fmt.Errorf("the process exited before the weight changed (%s)", last)
		case <-time.After(weightPoll):
		}
	}
}

// --- processes ---

type proc struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error // after exited
}

// start runs argv in the namespace through `ip netns exec`, its output to
// a log file. It is stopped (SIGTERM, then SIGKILL) and reaped when t
// ends, before the namespace is deleted.
func (b *bench) start(t *testing.T, ns, logName string, env []string, argv ...string) *proc {
	t.Helper()
	logPath := b.path(logName)
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(b.tools["ip"], append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", strings.Join(argv, " "), err)
	}
	p := &proc{cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if _, err := p.stop(killWait); err != nil {
			t.Errorf("%s: %v", argv[0], err)
		}
	})
	return p
}

// stop sends SIGTERM (unless it has exited) and waits up to bound, then
// SIGKILLs it and waits again. It returns the time until it exited.
func (p *proc) stop(bound time.Duration) (time.Duration, error) {
	start := time.Now()
	select {
	case <-p.exited:
		return 0, nil
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return 0, fmt.Errorf("SIGTERM pid %d: %w", p.cmd.Process.Pid, err)
	}
	select {
	case <-p.exited:
		return time.Since(start), nil
	case <-time.After(bound):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
		return 0, fmt.Errorf("pid %d still running %v after SIGTERM: killed", p.cmd.Process.Pid, bound)
	case <-time.After(killWait):
		return 0, fmt.Errorf("pid %d survives SIGKILL", p.cmd.Process.Pid)
	}
}

func (p *proc) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	if len(b) > logTail {
		b = append([]byte("..."), b[len(b)-logTail:]...)
	}
	return string(b)
}

// stopAndReport stops p, emits the stop sample with the entries left in
// the table, and fails t if it could not be stopped or exited badly.
func (b *bench) stopAndReport(t *testing.T, p *proc, impl string, run int, nsPath string) {
	t.Helper()
	d, err := p.stop(stopBound)
	if err != nil {
		t.Fatalf("%s: stop: %v\n--- log ---\n%s", impl, err, p.tail())
	}
	if p.err != nil {
		t.Errorf("%s exited with %v after SIGTERM\n--- log ---\n%s", impl, p.err, p.tail())
	}
	s, dd, err := entries(nsPath)
	if err != nil {
		t.Fatalf("%s: reading the table after the stop: %v", impl, err)
	}
	sample := Sample{Impl: impl, Step: StepStop, Run: run, Seconds: d.Seconds(), Left: &[2]int{s, dd}}
	fmt.Println(SampleLine(sample))
	t.Logf("%-12s %-7s run %d: %v, %d services and %d destinations left", impl, StepStop, run, d.Round(time.Microsecond), s, dd)
}

// --- the four implementations ---

func (b *bench) runKeepalived(t *testing.T, run int) {
	name := fmt.Sprintf("%skeepalived-%d", nsPrefix, run)
	nsPath := b.newNS(t, name)
	conf := b.path(fmt.Sprintf("keepalived-%d.conf", run))
	b.copyConf(t, conf, "keepalived.conf")
	c := b.counter(t, nsPath)
	start := time.Now()
	p := b.start(t, name, fmt.Sprintf("keepalived-%d.log", run), nil,
		b.tools["keepalived"], "-n", "-l", "-C", "-f", conf,
		"-p", b.path(fmt.Sprintf("keepalived-%d.pid", run)), "-c", b.path(fmt.Sprintf("checkers-%d.pid", run)))
	d, err := b.waitComplete(c, start, p.exited, "keepalived start")
	if err != nil {
		t.Fatalf("%v\n--- keepalived log ---\n%s", err, p.tail())
	}
	emit(t, ImplKeepalived, StepStart, run, d, "")
	if err := b.checkTable(nsPath, nil, settle); err != nil {
		t.Fatalf("keepalived start: %v", err)
	}

	b.weightViaSIGHUP(t, p, ImplKeepalived, run, nsPath, conf, nil)
	b.stopAndReport(t, p, ImplKeepalived, run, nsPath)
}

func (b *bench) runTandem(t *testing.T, run int) {
	name := fmt.Sprintf("%standem-%d", nsPrefix, run)
	nsPath := b.newNS(t, name)
	conf := b.path(fmt.Sprintf("tandem-%d.conf", run))
	b.copyConf(t, conf, "keepalived.conf")
	state := b.path(fmt.Sprintf("tandem-state-%d", run))
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	notify := newNotifyListener(t, b.path(fmt.Sprintf("notify-%d.sock", run)))
	c := b.counter(t, nsPath)
	start := time.Now()
	p := b.start(t, name, fmt.Sprintf("tandem-%d.log", run),
		[]string{"NOTIFY_SOCKET=" + notify.path, "STATE_DIRECTORY=" + state},
		b.director, "run", "--config", conf, "--socket", b.path(fmt.Sprintf("tandem-%d.sock", run)), "--insecure-heartbeat")
	d, err := b.waitComplete(c, start, p.exited, "tandem-director start")
	if err != nil {
		t.Fatalf("%v\n--- tandem-director log ---\n%s", err, p.tail())
	}
	emit(t, ImplTandem, StepStart, run, d, "")
	// SIGHUP before the daemon handles it would kill it: wait for READY=1.
	ready, err := notify.wait("READY=1", start, p.exited)
	if err != nil {
		t.Fatalf("tandem-director: %v\n--- log ---\n%s", err, p.tail())
	}
	emit(t, ImplTandemReady, StepStart, run, ready, "")
	if err := b.checkTable(nsPath, nil, settle); err != nil {
		t.Fatalf("tandem-director start: %v", err)
	}

	b.weightViaSIGHUP(t, p, ImplTandem, run, nsPath, conf, notify)
	b.stopAndReport(t, p, ImplTandem, run, nsPath)
	if run == 1 {
		for _, line := range logDigest(p.log, start) {
			fmt.Println(LogLine(strings.ReplaceAll(line, b.dir+"/", "")))
		}
	}
}

// logDigest shows a slog text log with each line's time relative to
// start, the per-real-server lines counted instead of shown.
func logDigest(path string, start time.Time) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	skipped := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		rel := "?"
		if ts, rest, ok := strings.Cut(line, " "); ok && strings.HasPrefix(ts, "time=") {
			if at, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(ts, "time=")); err == nil {
				rel = at.Sub(start).Round(time.Millisecond).String()
				line = rest
			}
		}
		if _, msg, ok := strings.Cut(line, "msg="); ok && strings.HasPrefix(msg, `"real server state changed"`) {
			skipped["real server state changed"]++
			continue
		}
		if len(line) > 240 {
			line = line[:240] + "..."
		}
		out = append(out, fmt.Sprintf("%9s %s", rel, line))
	}
	for msg, n := range skipped {
		out = append(out, fmt.Sprintf("          (%d lines %q not shown)", n, msg))
	}
	if len(out) > 80 {
		out = append(out[:40], append([]string{"          ..."}, out[len(out)-40:]...)...)
	}
	return out
}

func (b *bench) copyConf(t *testing.T, dst, src string) {
	t.Helper()
	data, err := os.ReadFile(b.path(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// weightViaSIGHUP rewrites the daemon's file with the changed weight,
// sends SIGHUP and times until the kernel shows the weight. With a notify
// listener it also times the READY=1 that ends the reload.
func (b *bench) weightViaSIGHUP(t *testing.T, p *proc, impl string, run int, nsPath, conf string, notify *notifyListener) {
	t.Helper()
	k, err := lvs.Open(nsPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	b.copyConf(t, conf, "keepalived-changed.conf")
	if notify != nil {
		notify.drain()
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP: %v", err)
	}
	d, err := b.waitWeight(k, start, p.exited)
	if err != nil {
		t.Fatalf("%s weight change: %v\n--- log ---\n%s", impl, err, p.tail())
	}
	emit(t, impl, StepWeight, run, d, "")
	if notify != nil {
		ready, err := notify.wait("READY=1", start, p.exited)
		if err != nil {
			t.Fatalf("%s reload: %v\n--- log ---\n%s", impl, err, p.tail())
		}
		emit(t, ImplTandemReady, StepWeight, run, ready, "")
	}
	if err := b.checkTable(nsPath, &b.ch, settle); err != nil {
		t.Fatalf("%s after the weight change: %v", impl, err)
	}
}

func (b *bench) runIpvsadm(t *testing.T, run int) {
	name := fmt.Sprintf("%sipvsadm-%d", nsPrefix, run)
	nsPath := b.newNS(t, name)
	rules, err := os.ReadFile(b.path("rules"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.tools["ip"], "netns", "exec", name, b.tools["ipvsadm-restore"])
	cmd.Stdin = bytes.NewReader(rules)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		t.Fatalf("ipvsadm-restore: %v\n%s", err, out)
	}
	emit(t, ImplIpvsadm, StepStart, run, d, "")
	if err := b.checkTable(nsPath, nil, 0); err != nil {
		t.Fatalf("after ipvsadm-restore: %v", err)
	}

	cmd = exec.CommandContext(ctx, b.tools["ip"], append([]string{"netns", "exec", name, b.tools["ipvsadm"]}, b.sc.IpvsadmEdit(b.ch)...)...)
	start = time.Now()
	out, err = cmd.CombinedOutput()
	d = time.Since(start)
	if err != nil {
		t.Fatalf("ipvsadm -e: %v\n%s", err, out)
	}
	emit(t, ImplIpvsadm, StepWeight, run, d, "")
	if err := b.checkTable(nsPath, &b.ch, 0); err != nil {
		t.Fatalf("after ipvsadm -e: %v", err)
	}
}

func (b *bench) runLibrary(t *testing.T, run int) {
	name := fmt.Sprintf("%slibrary-%d", nsPrefix, run)
	nsPath := b.newNS(t, name)
	k, err := lvs.Open(nsPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	r := lvs.NewReconciler(k, lvs.Options{})
	ctx := context.Background()
	desired := b.sc.Desired(nil)
	start := time.Now()
	res, err := r.Apply(ctx, desired)
	d := time.Since(start)
	if err != nil {
		t.Fatalf("Reconciler.Apply: %v", err)
	}
	emit(t, ImplLibrary, StepStart, run, d, fmt.Sprintf("%d operations", len(res.Applied)))
	if err := b.checkTable(nsPath, nil, 0); err != nil {
		t.Fatalf("after Reconciler.Apply: %v", err)
	}

	spec := b.sc.Spec(&b.ch, b.ch.Service)
	start = time.Now()
	res, err = r.ApplyService(ctx, spec)
	d = time.Since(start)
	if err != nil {
		t.Fatalf("Reconciler.ApplyService: %v", err)
	}
	emit(t, ImplLibrary, StepWeight, run, d, fmt.Sprintf("%d operation", len(res.Applied)))
	if err := b.checkTable(nsPath, &b.ch, 0); err != nil {
		t.Fatalf("after Reconciler.ApplyService: %v", err)
	}
}

// --- sd_notify ---

type notifyMsg struct {
	at   time.Time
	text string
}

// notifyListener is a NOTIFY_SOCKET: every datagram with its arrival time.
type notifyListener struct {
	path string
	msgs chan notifyMsg
}

func newNotifyListener(t *testing.T, path string) *notifyListener {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifyListener{path: path, msgs: make(chan notifyMsg, 256)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, notifyBuf)
		for {
			m, err := conn.Read(buf)
			if err != nil {
				return
			}
			select {
			case n.msgs <- notifyMsg{time.Now(), string(buf[:m])}:
			default: // nobody is reading; drop
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return n
}

// drain forgets the messages received so far.
func (n *notifyListener) drain() {
	for {
		select {
		case <-n.msgs:
		default:
			return
		}
	}
}

// wait returns the time from start to the first message with a line
// equal to want.
func (n *notifyListener) wait(want string, start time.Time, exited <-chan struct{}) (time.Duration, error) {
	timeout := time.After(readyBound)
	for {
		select {
		case m := <-n.msgs:
			if slices.Contains(strings.Split(m.text, "\n"), want) {
				return m.at.Sub(start), nil
			}
		case <-exited:
			return 0, fmt.Errorf("exited before sending %s", want)
		case <-timeout:
			return 0, fmt.Errorf("no %s within %v", want, readyBound)
		}
	}
}
