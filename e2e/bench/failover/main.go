// Command failover is `make bench-failover`: it measures how long clients
// lose a VIP when the VRRP master stops cleanly (SIGTERM: priority-0
// advert) or dies (SIGKILL with its network cut, as a dead machine), for
// keepalived 2.2.7 and Tandem pairs and both mixed pairs, in one netns
// topology (a client and two directors on a bridge), and prints a table of
// medians (docs/benchmarks-failover.md).
//
// The metric: from the event to the start of the first request through the
// VIP that the new master answers (a request every 10 ms, each a new TCP
// connection with a 200 ms timeout, so no SYN retransmission counts). It is
// a benchmark, not a pass/fail timing test: it exits non-zero only when a
// scenario fails (the VIP never comes back, or both directors hold it).
//
// -json FILE also writes the results and, for the first run of each pair
// and event, that run over time (requests answered and failed per 50 ms,
// who held the VIP; series.go): docs/data/failover-bench.json, which
// e2e/cmd/plots draws for docs/benchmarks.md.
//
// Run as root. Tandem is `director/vrrp` + `director/peerwatch` in a
// harness (this binary re-executed); -binary adds two pairs of the real
// daemon: with the keepalived.conf (plain VRRP) and with the native file
// and fast_failover on (the probe, as the harness).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// pair is a master and a backup implementation.
type pair struct{ master, backup string }

func (p pair) String() string { return p.master + " → " + p.backup }

// Events.
const (
	evStop  = "clean stop (SIGTERM)"
	evCrash = "crash (SIGKILL + cable cut)"
)

type result struct {
	pair   pair
	event  string
	times  []time.Duration
	failed []string
	series *series // the first run over time, with -json
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == harnessArg {
		os.Exit(harnessMain(os.Args[2]))
	}
	runs := flag.Int("runs", 5, "runs per pair and event")
	out := flag.String("out", "", "also write the report (markdown) to this file")
	interval := flag.Duration("interval", 50*time.Millisecond, "Tandem peer probe interval")
	mult := flag.Int("mult", 3, "Tandem peer probe detect multiplier")
	binary := flag.String("binary", "", "bin/tandem-director: add pairs of the real daemon (plain VRRP, fast_failover) if its `run` works")
	only := flag.String("pairs", "", "comma-separated subset of pairs, e.g. tandem-tandem,keepalived-keepalived")
	jsonOut := flag.String("json", "", "also write the results and, for the first run of each pair and event, the requests and the VIP's holder over time (JSON) to this file")
	flag.Parse()
	if err := run(*runs, *out, *jsonOut, *interval, *mult, *binary, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench-failover:", err)
		os.Exit(1)
	}
}

func run(runs int, out, jsonOut string, interval time.Duration, mult int, binary, only string) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces)")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-failover-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key := make([]byte, 32)
	rand.Read(key)
	b := &bench{dir: dir, self: self, keyHex: hex.EncodeToString(key), interval: interval, mult: mult,
		logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05.000 ")+f+"\n", a...) }}
	pairs := []pair{
		{implKeepalived, implKeepalived},
		{implTandem, implTandem},
		{implKeepalived, implTandem},
		{implTandem, implKeepalived},
	}
	if binary != "" {
		if ok, why := binaryUsable(binary, dir); ok {
			b.binary = binary
			b.binaryArgs = binaryArgsFor(binary)
			pairs = append(pairs, pair{implBinary, implBinary}, pair{implBinaryFF, implBinaryFF})
		} else {
			b.logf("not benchmarking %s: %s", binary, why)
		}
	}
	if only != "" {
		var keep []pair
		for _, p := range pairs {
			if slices.Contains(strings.Split(only, ","), p.master+"-"+p.backup) {
				keep = append(keep, p)
			}
		}
		pairs = keep
	}
	if _, err := newBench(b); err != nil {
		return err
	}
	defer b.lab.Close()
	mon := b.startMonitor()
	defer mon.close()

	var results []*result
	failed := false
	for _, p := range pairs {
		for _, ev := range []string{evStop, evCrash} {
			r := &result{pair: p, event: ev}
			results = append(results, r)
			if err := b.scenario(mon, r, runs, jsonOut != ""); err != nil {
				r.failed = append(r.failed, err.Error())
			}
			if len(r.failed) > 0 {
				failed = true
				b.logf("FAILED %s, %s: %s", p, ev, strings.Join(r.failed, "; "))
			}
		}
	}
	report := render(results, runs, interval, mult)
	fmt.Print(report.table)
	if out != "" {
		if err := os.WriteFile(out, []byte(report.markdown), 0o644); err != nil {
			return err
		}
	}
	if jsonOut != "" {
		if err := writeJSON(jsonOut, results, runs, interval, mult); err != nil {
			return err
		}
	}
	if failed {
		return errors.New("a scenario failed (see above)")
	}
	return nil
}

// binaryUsable reports whether `BINARY run --help` works.
func binaryUsable(bin, dir string) (bool, string) {
	out, err := exec.Command(bin, "run", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--config") {
		return false, fmt.Sprintf("`run --help`: %v", err)
	}
	return true, ""
}

// binaryArgsFor adds the flags the daemon needs in the lab: no heartbeat
// key there.
func binaryArgsFor(bin string) []string {
	out, _ := exec.Command(bin, "run", "--help").CombinedOutput()
	var args []string
	if strings.Contains(string(out), "--insecure-heartbeat") {
		args = append(args, "--insecure-heartbeat")
	}
	return args
}

// scenario runs one pair through one event, runs times; with record, the
// first run is kept over time in r.series.
func (b *bench) scenario(mon *monitor, r *result, runs int, record bool) error {
	d1 := &node{b: b, host: "d1", impl: r.pair.master, prio: 150, addr: dirAddr["d1"]}
	d2 := &node{b: b, host: "d2", impl: r.pair.backup, prio: 100, addr: dirAddr["d2"]}
	b.logf("%s, %s: starting %v and %v", r.pair, r.event, d1, d2)
	mon.set(func(m *monitor) { m.tolerant, m.dead = true, map[string]bool{} })
	if err := d2.start(); err != nil {
		return err
	}
	defer func() { d2.stop() }()
	if err := d1.start(); err != nil {
		return err
	}
	defer func() {
		if d1.p != nil {
			select {
			case <-d1.p.Done():
			default:
				d1.stop()
			}
		}
	}()
	for i := 0; i < runs; i++ {
		if err := b.settle(d1, d2); err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		mon.take()
		var tr *trace
		if record && i == 0 {
			tr = &trace{}
		}
		mon.set(func(m *monitor) { m.tolerant, m.rec = false, tr })
		d, err := b.measure(mon, r.event, d1, d2, tr)
		mon.set(func(m *monitor) { m.rec = nil })
		bad := mon.take()
		if len(bad) > 0 {
			r.failed = append(r.failed, fmt.Sprintf("run %d: two masters: %s", i+1, strings.Join(bad, "; ")))
		}
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		b.logf("%s, %s, run %d: %v", r.pair, r.event, i+1, d.Round(time.Millisecond))
		r.times = append(r.times, d)
		if tr != nil {
			s := tr.toSeries(r.pair, r.event, d)
			r.series = &s
		}
		// Bring d1 back (a crashed one is "rebooted": leftover VIP gone,
		// cable back); it preempts d2 again.
		mon.set(func(m *monitor) { m.tolerant = true })
		if r.event == evCrash {
			if err := b.dropVIP("d1"); err != nil {
				return err
			}
			if err := b.plug("d1", true); err != nil {
				return err
			}
			mon.set(func(m *monitor) { m.dead = map[string]bool{} })
		}
		if err := d1.start(); err != nil {
			return err
		}
	}
	return nil
}

// settle waits until d1 holds the VIP and answers, d2 does not, and (two
// Tandem directors) their probe session is up.
func (b *bench) settle(d1, d2 *node) error {
	deadline := time.Now().Add(stableBy)
	for ok := 0; ok < 5; {
		if time.Now().After(deadline) {
			return fmt.Errorf("roles never settled (d1 holds %v, d2 holds %v)\n%s\n%s", b.holds("d1"), b.holds("d2"),
				tail(d1.p.Output(), 1500), tail(d2.p.Output(), 1500))
		}
		for _, n := range []*node{d1, d2} {
			if err := n.exited(); err != nil {
				return err
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		by := b.get(ctx)
		cancel()
		probeUp := !probes(d1.impl) || !probes(d2.impl) || strings.Contains(d1.p.Output(), "peer probe up")
		if b.holds("d1") && !b.holds("d2") && by == "d1" && probeUp {
			ok++
		} else {
			ok = 0
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// measure performs the event on d1 and returns the time until d2 serves
// the VIP; tr, if not nil, gets the event's time and every request.
func (b *bench) measure(mon *monitor, event string, d1, d2 *node, tr *trace) (time.Duration, error) {
	p := b.startProber()
	// A random phase against the master's advert timer: a crash lands
	// anywhere within advert_int, as a real one would.
	time.Sleep(baseline + time.Duration(mrand.Int64N(int64(time.Second))))
	t0 := time.Now()
	if tr != nil {
		tr.t0 = t0
	}
	switch event {
	case evStop:
		if err := d1.p.Signal(syscall.SIGTERM); err != nil {
			p.finish()
			return 0, err
		}
	case evCrash:
		d1.freeze()
		mon.set(func(m *monitor) { m.dead["d1"] = true })
		if err := b.plug("d1", false); err != nil {
			p.finish()
			return 0, err
		}
		if err := d1.kill(); err != nil {
			p.finish()
			return 0, err
		}
	}
	var at time.Time
	for deadline := t0.Add(recoverBy); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var ok bool
		if at, ok = recovered(p.snapshot(), t0, "d2"); ok {
			break
		}
	}
	if at.IsZero() {
		p.finish()
		return 0, fmt.Errorf("%w within %v\n%s", errNoRecovery, recoverBy, tail(d2.p.Output(), 1500))
	}
	time.Sleep(afterwards)
	ps := p.finish()
	if tr != nil {
		tr.probes = ps
	}
	if event == evStop {
		if err := d1.wait(10 * time.Second); err != nil {
			return 0, err
		}
	}
	// After recovery, every request must be answered by d2.
	for _, q := range ps {
		if q.start.After(at) && q.start.Before(at.Add(afterwards-probeTimeout)) && q.by != "d2" {
			return 0, fmt.Errorf("request at +%v after recovery answered by %q", q.start.Sub(at).Round(time.Millisecond), q.by)
		}
	}
	return at.Sub(t0), d2.exited()
}

type rendered struct{ table, markdown string }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

// render prints the table: per pair and event the median, min and max, and
// the ratio to keepalived → keepalived for the same event.
func render(rs []*result, runs int, interval time.Duration, mult int) rendered {
	ref := map[string]time.Duration{}
	for _, r := range rs {
		if r.pair == (pair{implKeepalived, implKeepalived}) && len(r.times) > 0 {
			ref[r.event] = median(r.times)
		}
	}
	goal := map[string]time.Duration{evStop: 50 * time.Millisecond, evCrash: 350 * time.Millisecond}
	var tb strings.Builder
	tw := tabwriter.NewWriter(&tb, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "master → backup\tevent\tmedian\tmin\tmax\tvs keepalived\truns\tresult")
	var md strings.Builder
	md.WriteString("| master → backup | event | median | min | max | vs keepalived | runs | result |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		res := "ok"
		if len(r.failed) > 0 {
			res = "FAILED: " + strings.Join(r.failed, "; ")
		}
		m, lo, hi, ratio := "-", "-", "-", "-"
		if len(r.times) > 0 {
			med := median(r.times)
			m, lo, hi = secs(med), secs(slices.Min(r.times)), secs(slices.Max(r.times))
			if k := ref[r.event]; k > 0 {
				ratio = fmt.Sprintf("%.2f×", med.Seconds()/k.Seconds())
			}
			if (r.pair == pair{implTandem, implTandem} || r.pair == pair{implBinaryFF, implBinaryFF}) && res == "ok" {
				if med <= goal[r.event] {
					res = fmt.Sprintf("ok (goal ≤ %v met)", goal[r.event])
				} else {
					res = fmt.Sprintf("ok (goal ≤ %v missed)", goal[r.event])
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", r.pair, r.event, m, lo, hi, ratio, len(r.times), runs, res)
		fmt.Fprintf(&md, "| %s | %s | %s | %s | %s | %s | %d/%d | %s |\n", r.pair, r.event, m, lo, hi, ratio, len(r.times), runs, res)
	}
	tw.Flush()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	kv, _ := exec.Command("/usr/sbin/keepalived", "--version").CombinedOutput()
	kvs := strings.SplitN(strings.TrimSpace(string(kv)), "\n", 2)[0]
	head := fmt.Sprintf("bench-failover %s: kernel %s, %s; advert_int 1, VRRPv2, master priority 150, backup 100; "+
		"Tandem probe %v × %d; %d runs each; time from the event to the first request the new master answers\n\n",
		time.Now().UTC().Format("2006-01-02 15:04Z"), strings.TrimSpace(string(kernel)), kvs, interval, mult, runs)
	return rendered{table: head + tb.String(), markdown: docHead + "## Results\n\n" + head + md.String() + docTail}
}

// The static parts of docs/benchmarks-failover.md.
const docHead = `# Failover benchmark

Generated by ` + "`make bench-failover`" + ` (e2e/bench/failover); rerun it rather than
editing the table. Design and rules: docs/ha.md.

## Method

- One netns lab: a client (10.99.0.10) and two directors d1 (10.99.0.1,
  priority 150) and d2 (10.99.0.2, priority 100) on one bridge in a
  namespace of its own. One VRRPv2 instance, VRID 51, ` + "`advert_int 1`" + `, PASS
  authentication, VIP 10.99.0.100/24 on eth0. Each director's namespace
  runs a small HTTP server on 0.0.0.0:80 that answers its name, so
  whoever holds the VIP serves it (no IPVS needed on this kernel).
- The client sends a request through the VIP every 10 ms, each on a new TCP
  connection with a 200 ms timeout (no SYN retransmission fits in it).
- Events on the master d1, at a random phase of its advert timer:
  **clean stop** = SIGTERM (keepalived and Tandem release the VIP and send a
  priority-0 advert; Tandem also says goodbye on the peer probe);
  **crash** = the whole process group frozen, its switch port cut, then
  SIGKILL: a dead machine (a killed daemon alone leaves the VIP on a live
  host, which goes on answering).
- Metric: from the event to the start of the first request the new master
  (d2) answers; after it, every request must be answered by d2. A scenario
  fails if the VIP does not come back within 10 s or if both directors ever
  hold the VIP (polled every 10 ms; 150 ms of overlap are allowed only while
  the restarted d1 preempts d2 between runs). Median of the runs.
- Implementations: ` + "`keepalived`" + ` is /usr/sbin/keepalived (` + "`-n -l -P -D`" + `, own
  pid files); ` + "`tandem`" + ` is director/vrrp with director/peerwatch (probe on eth0,
  peer found by broadcast), run by the benchmark binary re-executed as a
  harness; ` + "`tandem-bin`" + ` is ` + "`bin/tandem-director run`" + ` with the same keepalived.conf
  (plain VRRP: keepalived.conf cannot turn the probe on); ` + "`tandem-bin-ff`" + ` is
  ` + "`bin/tandem-director run`" + ` with the same instance in a native file, a heartbeat
  key and ` + "`fast_failover`" + ` on at the benchmark's probe interval (no agents, so
  the witness rule has no input).

`

const docTail = `
## Reading it

- keepalived → keepalived, crash: the backup waits Master_Down_Interval
  (3 × 1 s + Skew_Time 0.609 s = 3.609 s) from the last advert it heard; the
  crash falls anywhere in the master's advert interval, so 2.6–3.6 s.
  Clean stop: Skew_Time, 0.61 s.
- tandem → tandem: crash = the probe's detection time (interval ×
  multiplier) after the last probe heard, then PeerDead; clean stop = the
  goodbye right after the priority-0 advert, then PeerDead at once. The
  rest is the new master's gratuitous ARP reaching the client.
- Mixed pairs: a keepalived peer never answers the probe, so the Tandem side
  runs plain VRRP and the numbers are keepalived's.
- The probe interval is a flag: with the config's default 100 ms × 3
  (` + "`bin/bench-failover -interval 100ms -pairs tandem-tandem`" + `), tandem → tandem
  measured 0.278 s (0.231–0.303 s) for a crash and 9 ms for a clean stop
  (2026-11-26, 5 runs).
- No backend agents in this lab, so the witness rule (docs/ha.md) never
  waits; with agents, a crash costs WitnessWait (100 ms by default) more.
- tandem-bin is the real daemon with the keepalived.conf: plain VRRP, like
  keepalived's numbers. tandem-bin-ff is the real daemon with fast_failover:
  it should match tandem → tandem (the same packages, wired by
  director/app).
`
