package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/moby/ipvs"

	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/e2e/prodlab"
)

// Lab addresses (inside the lab's namespaces only).
const (
	vip     = prodlab.VIP
	sorryIP = prodlab.SorryIP
	rate    = 40 // requests per second from the client, each on a new connection
)

var (
	dirIPs = prodlab.DirIPs
	rsIPs  = prodlab.RSIPs
)

// demo is the production lab (e2e/prodlab.Pair: client, dir1, dir2, rs1,
// rs2, sorry) and the summary rows.
type demo struct {
	out  io.Writer
	p    *prodlab.Pair
	rows []row
}

// row is one line of the summary table.
type row struct {
	step, held, numbers string
	ok                  bool
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, format+"\n", args...)
}

func (d *demo) narrate(n int, title string, lines ...string) {
	d.say("")
	d.say("── Step %d: %s", n, title)
	for _, l := range lines {
		d.say("   %s", l)
	}
}

func (d *demo) record(step string, ok bool, held, numbers string) {
	d.rows = append(d.rows, row{step: step, held: held, numbers: numbers, ok: ok})
	verdict := "HELD"
	if !ok {
		verdict = "FAILED"
	}
	d.say("   => %s: %s (%s)", verdict, held, numbers)
}

// runProd builds the lab and walks through the steps; bin holds the binaries.
func runProd(ctx context.Context, out io.Writer, bin string) int {
	start := time.Now()
	d := &demo{out: out}
	tmp, err := os.MkdirTemp("", "tandem-demo-")
	if err != nil {
		return exitf("%v", err)
	}
	defer os.RemoveAll(tmp)
	if err := d.setUp(ctx, bin, tmp); err != nil {
		d.teardown()
		return exitf("%v", err)
	}
	err = d.steps(ctx)
	failed := err != nil
	for _, r := range d.rows {
		failed = failed || !r.ok
	}
	if failed {
		d.say("%s", strings.TrimRight(d.p.Logs(60), "\n"))
	}
	d.teardown()
	if err != nil {
		d.say("demo aborted: %v", err)
		first, _, _ := strings.Cut(err.Error(), "\n")
		d.rows = append(d.rows, row{step: "demo aborted", held: "every step runs", numbers: first})
	}
	return d.summary(time.Since(start))
}

func (d *demo) setUp(ctx context.Context, bin, dir string) error {
	p, err := prodlab.NewPair(nil, prodlab.PairOptions{Bin: bin, Dir: dir, Family: prodlab.FamilyDual})
	d.p = p
	if err != nil {
		return err
	}
	d.say("Lab %s: one bridge, client 10.99.0.10, dir1 %s, dir2 %s, rs1 %s, rs2 %s, sorry %s; VIP %s:80.",
		p.Net.Tag(), dirIPs["dir1"], dirIPs["dir2"], rsIPs["rs1"], rsIPs["rs2"], sorryIP, vip)
	d.say("Dual stack: every host also has its address in %s/%d (dir1 %s, rs1 %s, ...); the same service",
		"2001:db8:99::", prodlab.Prefix6Len, prodlab.DirIPs6["dir1"], prodlab.RSIPs6["rs1"])
	d.say("   answers on the IPv6 VIP [%s]:80 too (step 8).", prodlab.VIP6)
	if err := p.StartSorry(); err != nil {
		return err
	}
	d.say("The sorry server answers \"sorry\" on the VIP (VIP on lo, nft arp table).")
	if err := p.StartRealServers(ctx); err != nil {
		return err
	}
	d.say("rs1 and rs2 run a small web app (/ names the server, /healthz, /check.txt) and tandem-backend:")
	d.say("   VIP on lo, nft arp table, health probe every 300 ms, heartbeats to both directors.")
	if err := p.WriteDirectorConfigs(ctx); err != nil {
		return err
	}
	d.say("Both directors get the seed's keepalived.conf (state BACKUP, nopreempt, priority 100, sorry_server,")
	d.say("   lc, DR, HTTP_GET /check.txt) with the lab's addresses. fast_failover exists only in native YAML,")
	d.say("   so `tandem-director show-config keepalived.conf` turns it into native YAML and the demo adds")
	d.say("   node, heartbeat key, control socket and fast_failover {enabled, 200ms x 5}. For IPv6 the file")
	d.say("   has what an operator adds: vrrp_instance VI6 (VRRP v3, native_ipv6, the IPv6 VIP), its")
	d.say("   virtual_server with the servers' IPv6 addresses, and vrrp_sync_group VG_WWW { VI0 VI6 }.")
	if err := p.StartDirectors(ctx); err != nil {
		return err
	}
	m, b := p.Roles()
	d.say("%s is MASTER (it holds the VIP), %s is BACKUP; the fast failover session between them is up.", m, b)
	d.say("Both directors hold the IPVS rules, as keepalived does. ipvsadm -Ln on %s:", b)
	if o, err := p.Net.Exec(b, "ipvsadm", "-Ln"); err == nil {
		d.say("%s", indent(o))
	}
	return nil
}

func (d *demo) teardown() {
	if d.p != nil {
		if err := d.p.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "demo: teardown: %v\n", err)
		}
	}
}

// load runs traffic from the client to the VIP for dur, printing a line
// per second, while act runs; it returns the report once both are done.
func (d *demo) load(ctx context.Context, dur time.Duration, act func() error) (*loadgen.Report, error) {
	reps, err := d.loadOn(ctx, dur, []target{{addr: vip + ":80", rate: rate}}, act)
	return reps[0], err
}

// target is one address of a load: label (printed before each line when
// not empty), "host:port" and requests per second.
type target struct {
	label, addr string
	rate        float64
}

// loadOn runs traffic from the client to each target for dur, printing a
// line per second and target, while act runs; it returns the reports (in
// the targets' order) once all are done.
func (d *demo) loadOn(ctx context.Context, dur time.Duration, targets []target, act func() error) ([]*loadgen.Report, error) {
	type res struct {
		rep *loadgen.Report
		err error
	}
	var dones []chan res
	for _, tg := range targets {
		prefix := ""
		if tg.label != "" {
			prefix = tg.label + " "
		}
		g, err := loadgen.New(loadgen.Config{
			Target:      loadgen.Target{Addr: tg.addr, Dial: d.p.Net.DialContext("client"), Timeout: 2 * time.Second},
			Rate:        tg.rate,
			Duration:    dur,
			MaxRequests: int(tg.rate*dur.Seconds()) + 100,
			Interval:    time.Second,
			OnSnapshot: func(s loadgen.Snapshot) {
				if s.Final {
					return
				}
				fmt.Fprintf(d.out, "   %st=%4.1fs  served/s: rs1 %3d  rs2 %3d  sorry %3d  | failed %3d | totals ok %5d failed %4d\n",
					prefix, s.Elapsed.Seconds(), s.OK["rs1"], s.OK["rs2"], s.OK["sorry"], s.Failed(), s.TotalOK, s.TotalFailed)
			},
		})
		if err != nil {
			return nil, err
		}
		done := make(chan res, 1)
		dones = append(dones, done)
		go func() {
			rep, err := g.Run(ctx)
			done <- res{rep, err}
		}()
	}
	var actErr error
	if act != nil {
		actErr = act()
	}
	reps := make([]*loadgen.Report, len(dones))
	var runErr error
	for i, done := range dones {
		r := <-done
		reps[i] = r.rep
		runErr = cmp.Or(runErr, r.err)
	}
	return reps, cmp.Or(runErr, actErr)
}

func ms(t time.Duration) string { return t.Round(time.Millisecond).String() }

func (d *demo) steps(ctx context.Context) error {
	// 1. Balanced.
	d.narrate(1, "traffic through the VIP",
		fmt.Sprintf("The client sends %d requests a second to the VIP, each on a new connection.", rate),
		"The master director spreads them over rs1 and rs2 (lc); replies go straight back (DR).")
	rep, err := d.load(ctx, 5*time.Second, nil)
	if err != nil {
		return err
	}
	n1, n2 := rep.PerServer["rs1"], rep.PerServer["rs2"]
	d.record("1 traffic on both", rep.Failed == 0 && n1 > 0 && n2 > 0, "both servers answer, 0 failures",
		fmt.Sprintf("rs1 %d, rs2 %d, failed %d", n1, n2, rep.Failed))

	// 2. Drain.
	d.narrate(2, "maintenance on rs1, with --wait",
		"An operator runs `tandem-backend maintenance on --wait` on rs1 to take it out for work.",
		"The agent tells both directors; the master sets rs1's weight to 0, lets its connections",
		"finish, and the command returns once rs1 is drained. No request should fail.")
	var began, drained time.Time
	var mout string
	rep, err = d.load(ctx, 7*time.Second, func() error {
		time.Sleep(1500 * time.Millisecond)
		began = time.Now()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		o, err := d.p.Backend(c, "rs1", "maintenance", "on", "--wait", "--timeout", "20s", "--reason", "demo")
		drained = time.Now()
		mout = o
		if err != nil {
			return fmt.Errorf("maintenance on --wait: %v\n%s", err, o)
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.say("%s", indent(strings.TrimSpace(mout)))
	after := rep.Window(drained.Add(500*time.Millisecond), rep.End).PerServer["rs1"]
	d.record("2 drain rs1 (maintenance on --wait)", rep.Failed == 0 && after == 0,
		"0 failed requests, rs1 gets nothing after --wait returned",
		fmt.Sprintf("--wait returned after %s, failed %d, rs1 after drain %d, rs2 %d", ms(drained.Sub(began)), rep.Failed, after, rep.PerServer["rs2"]))

	// 3. Back.
	d.narrate(3, "rs1 comes back",
		"`tandem-backend maintenance off` on rs1: it reports up again and gets its weight back.",
		"lc sends each new connection to the server with the fewest, counting the closed ones IPVS",
		"still remembers, so rs1 (none yet) takes nearly all new connections until it catches up.")
	var offAt, backAt time.Time
	rep, err = d.load(ctx, 5*time.Second, func() error {
		time.Sleep(500 * time.Millisecond)
		offAt = time.Now()
		if o, err := d.p.Backend(ctx, "rs1", "maintenance", "off"); err != nil {
			return fmt.Errorf("maintenance off: %v\n%s", err, o)
		}
		m, _ := d.p.Roles()
		if m == "" {
			return errors.New("no master")
		}
		backAt, err = d.p.WaitIPVS(m, "rs1 back at weight 1", 10*time.Second, func(x map[string]ipvs.Destination) bool { return prodlab.Weight(x, rsIPs["rs1"]) == 1 })
		return err
	})
	if err != nil {
		return err
	}
	later := rep.Window(backAt.Add(500*time.Millisecond), rep.End).PerServer["rs1"]
	d.record("3 rs1 back", rep.Failed == 0 && later > 0, "rs1 at weight 1 and answering, 0 failures",
		fmt.Sprintf("weight 1 after %s, rs1 answered %d after, failed %d", ms(backAt.Sub(offAt)), later, rep.Failed))

	// 4. Failover.
	master, backup := d.p.Roles()
	if master == "" || backup == "" {
		return fmt.Errorf("before failover: master %q backup %q", master, backup)
	}
	d.narrate(4, "the master director dies",
		fmt.Sprintf("%s is MASTER. The demo SIGKILLs its tandem-director and takes its eth0 down, like a", master),
		fmt.Sprintf("machine that lost power. %s misses the fast failover probes (200 ms x 5 = 1 s), asks the agents,", backup),
		"none has heard the master since, so it takes the VIP. Connections sent to the dead one wait",
		"for TCP to resend or fail. Held means: new connections are answered again within 3 s",
		"(plain VRRP alone waits 3.6 s to notice).")
	var killed, tookVIP time.Time
	var probe loadgen.ProbeResult
	d.say("   Waiting a moment, then: kill -9 tandem-director on %s; ip link set eth0 down on %s.", master, master)
	rep, err = d.load(ctx, 8*time.Second, func() error {
		time.Sleep(2 * time.Second)
		killed = time.Now()
		if err := d.p.Process(master).Signal(syscall.SIGKILL); err != nil {
			return err
		}
		if err := d.p.LinkSet(master, "eth0", false); err != nil {
			return err
		}
		// A probe on new connections, 300 ms each, every 20 ms: the
		// first one answered marks when service was back.
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var perr error
		probe, perr = loadgen.Probe(pctx, loadgen.ProbeConfig{
			Target:      loadgen.Target{Addr: vip + ":80", Dial: d.p.Net.DialContext("client"), Timeout: 300 * time.Millisecond},
			Interval:    20 * time.Millisecond,
			MaxDuration: 10 * time.Second,
		}, killed)
		if perr != nil {
			return fmt.Errorf("probe after the kill: %w", perr)
		}
		<-d.p.Process(master).Done()
		d.p.Forget(master)
		deadline := time.Now().Add(6 * time.Second)
		for time.Now().Before(deadline) {
			if d.p.HasVIP(backup) {
				tookVIP = time.Now()
				return nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		return fmt.Errorf("%s did not take the VIP within 6 s:\n%s", backup, prodlab.Tail(d.p.Process(backup).Output(), 30))
	})
	if err != nil {
		return err
	}
	st, _ := d.p.Status(backup)
	took := ""
	if st.FastFailover != nil {
		took = fmt.Sprintf(" (fast failover takeovers: %d)", st.FastFailover.Takeovers)
	}
	slow := rep.Window(killed.Add(-2*time.Second), killed.Add(2*time.Second)).Latency.Max
	d.say("   %s held the VIP %s after the kill%s; a probe of new connections got its first answer",
		backup, ms(tookVIP.Sub(killed)), took)
	d.say("   %s after the kill. The steady traffic: %d failed, the slowest request took %s (TCP resent",
		ms(probe.Recovery), rep.Failed, ms(slow))
	d.say("   the SYNs that went to the dead director).")
	d.record("4 master director killed", probe.Recovered && probe.Recovery <= 3*time.Second,
		"new connections answered again within 3 s",
		fmt.Sprintf("%s has the VIP after %s; probe answered after %s; load: %d failed, slowest %s", backup, ms(tookVIP.Sub(killed)), ms(probe.Recovery), rep.Failed, ms(slow)))

	// 5. App death.
	d.narrate(5, "the app on rs1 dies",
		"The web app on rs1 crashes (its listener closes). tandem-backend's probe fails twice in",
		"300 ms steps and it tells the directors at once. Connections to rs1 are refused until then:",
		"held means rs1 is out of IPVS within 1 s and no failure starts later than that.")
	var died, outAt time.Time
	rep, err = d.load(ctx, 5*time.Second, func() error {
		time.Sleep(1500 * time.Millisecond)
		died = time.Now()
		d.p.Apps["rs1"].Stop()
		var err error
		outAt, err = d.p.WaitIPVS(backup, "rs1 out", 10*time.Second, func(x map[string]ipvs.Destination) bool { return prodlab.Weight(x, rsIPs["rs1"]) <= 0 })
		return err
	})
	if err != nil {
		return err
	}
	tookOut := outAt.Sub(died)
	late := !rep.LastFailure.IsZero() && rep.LastFailure.Sub(died) > time.Second
	d.record("5 app on rs1 dies", tookOut <= time.Second && !late && rep.PerServer["rs2"] > 0,
		"rs1 out of IPVS within 1 s via its agent; failures only before that",
		fmt.Sprintf("out after %s; %d failed, the last sent %s after the crash", ms(tookOut), rep.Failed, lastAfter(rep, died)))

	// 6. All down.
	d.narrate(6, "all real servers down: the sorry server",
		"Now rs2's app dies too. With no real server left, the director puts the sorry server",
		"in the service: clients get \"sorry\" instead of an error. Until rs2's agent reports, its",
		"refused connections fail (reported, not hidden); held means none fails once the sorry server is in.")
	var allDown, sorryIn time.Time
	rep, err = d.load(ctx, 5*time.Second, func() error {
		time.Sleep(time.Second)
		allDown = time.Now()
		d.p.Apps["rs2"].Stop()
		var err error
		sorryIn, err = d.p.WaitIPVS(backup, "only the sorry server", 10*time.Second, func(x map[string]ipvs.Destination) bool {
			return prodlab.Weight(x, sorryIP) >= 0 && prodlab.Weight(x, rsIPs["rs1"]) <= 0 && prodlab.Weight(x, rsIPs["rs2"]) <= 0
		})
		return err
	})
	if err != nil {
		return err
	}
	sorry := rep.Window(sorryIn, rep.End)
	d.record("6 all down, sorry server", sorry.PerServer["sorry"] > 0 && sorry.Failed == 0,
		"the sorry server answers once it is in, no failure after",
		fmt.Sprintf("sorry in after %s, answered %d; %d failed, all before it was in", ms(sorryIn.Sub(allDown)), sorry.PerServer["sorry"], rep.Failed))

	// 7. Restore.
	d.narrate(7, "everything restored",
		"Both apps start again; the agents report them up and the sorry server leaves the service.",
		fmt.Sprintf("%s's machine comes back: link up, tandem-director started; it joins as BACKUP (nopreempt).", master))
	var restored time.Time
	rep, err = d.load(ctx, 6*time.Second, func() error {
		time.Sleep(500 * time.Millisecond)
		for _, rs := range []string{"rs1", "rs2"} {
			if err := d.p.Apps[rs].Start(); err != nil {
				return err
			}
		}
		var err error
		restored, err = d.p.WaitIPVS(backup, "both real servers back, sorry out", 10*time.Second, func(x map[string]ipvs.Destination) bool {
			return prodlab.Weight(x, rsIPs["rs1"]) == 1 && prodlab.Weight(x, rsIPs["rs2"]) == 1 && prodlab.Weight(x, sorryIP) <= 0
		})
		if err != nil {
			return err
		}
		if err := d.p.DelVIP(master); err != nil {
			return err
		}
		if err := d.p.LinkSet(master, "eth0", true); err != nil {
			return err
		}
		return d.p.StartDirector(ctx, master)
	})
	if err != nil {
		return err
	}
	if err := d.p.WaitProbeUp(10 * time.Second); err != nil {
		return err
	}
	m2, b2 := d.p.Roles()
	fin := rep.Window(restored.Add(500*time.Millisecond), rep.End)
	d.record("7 everything restored", fin.Failed == 0 && fin.PerServer["rs1"] > 0 && fin.PerServer["rs2"] > 0 && fin.PerServer["sorry"] == 0 && m2 == backup && b2 == master,
		"rs1 and rs2 answer, sorry server out, two directors again",
		fmt.Sprintf("after %s: rs1 %d, rs2 %d, sorry %d, failed %d; %s MASTER, %s BACKUP", ms(restored.Sub(rep.Start)), fin.PerServer["rs1"], fin.PerServer["rs2"], fin.PerServer["sorry"], fin.Failed, m2, b2))

	// 8. Dual stack.
	return d.dualStack(ctx)
}

func lastAfter(r *loadgen.Report, t time.Time) string {
	if r.LastFailure.IsZero() {
		return "none"
	}
	return ms(r.LastFailure.Sub(t))
}

func (d *demo) summary(wall time.Duration) int {
	d.say("")
	d.say("Summary")
	w1, w2 := len("step"), len("what held")
	for _, r := range d.rows {
		w1, w2 = max(w1, len(r.step)), max(w2, len(r.held))
	}
	line := strings.Repeat("-", w1+w2+14)
	d.say("%s", line)
	d.say("%-*s  %-6s  %-*s  %s", w1, "step", "result", w2, "what held", "numbers")
	d.say("%s", line)
	ok := len(d.rows) == steps
	for _, r := range d.rows {
		v := "OK"
		if !r.ok {
			v, ok = "FAILED", false
		}
		d.say("%-*s  %-6s  %-*s  %s", w1, r.step, v, w2, r.held, r.numbers)
	}
	d.say("%s", line)
	if ok {
		d.say("RESULT: OK, every step held (lab time %s)", wall.Round(100*time.Millisecond))
		return 0
	}
	d.say("RESULT: FAIL (lab time %s)", wall.Round(100*time.Millisecond))
	return 1
}
