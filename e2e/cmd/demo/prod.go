package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"

	"github.com/tandemlb/tandem/director/app"
	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/e2e/prodlab"
)

// Lab addresses (inside the lab's namespaces only).
const (
	vip     = "10.99.0.100"
	sorryIP = "10.99.0.99"
	rate    = 40 // requests per second from the client, each on a new connection
)

var (
	dirIPs = map[string]string{"dir1": "10.99.0.2", "dir2": "10.99.0.3"}
	rsIPs  = map[string]string{"rs1": "10.99.0.11", "rs2": "10.99.0.12"}
)

// seedConf is docs/examples/keepalived.conf with the lab's addresses: one
// segment, so the sync daemon runs on eth0 too; delay_loop 2 and
// connect_timeout 1 instead of 10 and 3 (the checks are the fallback: the
// agents report first).
const seedConf = `global_defs {
    notification_email {
        admin@example.com
    }
    notification_email_from keepalived@example.com
}

vrrp_instance VI0 {
    state BACKUP
    interface eth0
    virtual_router_id 100
    priority 100
    nopreempt
    advert_int 1
    lvs_sync_daemon_interface eth0
    authentication {
        auth_type PASS
        auth_pass password
    }
    virtual_ipaddress {
        10.99.0.100/24 dev eth0
    }
}

virtual_server 10.99.0.100 80 {
    delay_loop 2
    lb_algo lc
    lb_kind DR
    protocol TCP

    sorry_server 10.99.0.99 80

    real_server 10.99.0.11 80 {
        weight 1
        HTTP_GET {
            url {
              path /check.txt
              status_code 200
            }
            connect_timeout 1
        }
    }
    real_server 10.99.0.12 80 {
        weight 1
        HTTP_GET {
            url {
              path /check.txt
              status_code 200
            }
            connect_timeout 1
        }
    }
}
`

// overlay is appended to the native YAML that show-config made of seedConf:
// the keys the keepalived.conf reader has no place for.
const overlay = `node: %[1]s
heartbeat:
  key_file: %[2]s/heartbeat.key
control_socket: %[2]s/%[1]s.sock
fast_failover: {enabled: true, interval: 200ms, multiplier: 5}
`

const backendConf = `node: %[1]s
vips: [10.99.0.100]
interface: eth0
real_ip: %[2]s
directors: ["10.99.0.2", "10.99.0.3"]
heartbeat: {key_file: %[3]s/heartbeat.key, interval: 1s}
health:
  service: www
  type: http
  url: http://127.0.0.1:80/healthz
  interval: 300ms
  timeout: 300ms
  rise: 2
  fall: 2
check: {mode: file, file: %[4]s/check.txt}
arp_mode: nftables
state_dir: %[4]s/state
runtime_dir: %[4]s/run
metrics: {listen: "127.0.0.1:9481"}
`

// demo is the production lab: client, dir1, dir2, rs1, rs2, sorry.
type demo struct {
	out  io.Writer
	net  *netlab.Lab
	dir  string
	dbin string
	bbin string

	dirs   map[string]*netlab.Process
	ipvs   map[string]*ipvs.Handle
	apps   map[string]*prodlab.WebApp
	agents map[string]*netlab.Process
	rows   []row
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
	d := &demo{out: out, dirs: map[string]*netlab.Process{}, ipvs: map[string]*ipvs.Handle{},
		apps: map[string]*prodlab.WebApp{}, agents: map[string]*netlab.Process{},
		dbin: filepath.Join(bin, "tandem-director"), bbin: filepath.Join(bin, "tandem-backend")}
	for _, b := range []string{d.dbin, d.bbin} {
		if _, err := os.Stat(b); err != nil {
			return exitf("%v (run `make build` first)", err)
		}
	}
	tmp, err := os.MkdirTemp("", "tandem-demo-")
	if err != nil {
		return exitf("%v", err)
	}
	defer os.RemoveAll(tmp)
	d.dir = tmp
	if err := d.setUp(ctx); err != nil {
		d.teardown()
		return exitf("%v", err)
	}
	err = d.steps(ctx)
	failed := err != nil
	for _, r := range d.rows {
		failed = failed || !r.ok
	}
	if failed {
		for _, n := range []string{"dir1", "dir2", "dir1 (killed)", "dir2 (killed)", "rs1", "rs2"} {
			p := d.dirs[n]
			if p == nil {
				p = d.agents[n]
			}
			if p != nil {
				d.say("--- %s log (tail) ---\n%s", n, prodlab.Tail(p.Output(), 60))
			}
		}
	}
	d.teardown()
	if err != nil {
		d.say("demo aborted: %v", err)
		first, _, _ := strings.Cut(err.Error(), "\n")
		d.rows = append(d.rows, row{step: "demo aborted", held: "every step runs", numbers: first})
	}
	return d.summary(time.Since(start))
}

func (d *demo) setUp(ctx context.Context) error {
	rsSysctls := map[string]string{"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.eth0.rp_filter": "0"}
	hosts := []netlab.HostSpec{
		{Name: "client", Addr: "10.99.0.10/24"},
		{Name: "dir1", Addr: dirIPs["dir1"] + "/24"},
		{Name: "dir2", Addr: dirIPs["dir2"] + "/24"},
		{Name: "rs1", Addr: rsIPs["rs1"] + "/24", Sysctls: rsSysctls},
		{Name: "rs2", Addr: rsIPs["rs2"] + "/24", Sysctls: rsSysctls},
		{Name: "sorry", Addr: sorryIP + "/24", Sysctls: rsSysctls},
	}
	nl, err := netlab.New(nil, netlab.Spec{Hosts: hosts})
	if err != nil {
		return err
	}
	d.net = nl
	d.say("Lab %s: one bridge, client 10.99.0.10, dir1 %s, dir2 %s, rs1 %s, rs2 %s, sorry %s; VIP %s:80.",
		nl.Tag(), dirIPs["dir1"], dirIPs["dir2"], rsIPs["rs1"], rsIPs["rs2"], sorryIP, vip)
	if err := os.WriteFile(filepath.Join(d.dir, "heartbeat.key"), []byte("tandem demo key 0123456789abcdef0123\n"), 0o600); err != nil {
		return err
	}
	for _, name := range []string{"dir1", "dir2"} {
		h, err := ipvs.New(nl.NetnsPath(name))
		if err != nil {
			return fmt.Errorf("ipvs in %s: %w", name, err)
		}
		d.ipvs[name] = h
	}
	if err := prodlab.StartSorryServer(nl, "sorry", net.ParseIP(vip), net.ParseIP(sorryIP)); err != nil {
		return err
	}
	d.say("The sorry server answers \"sorry\" on the VIP (VIP on lo, nft arp table).")
	for _, rs := range []string{"rs1", "rs2"} {
		a, err := prodlab.NewWebApp(nl, rs, filepath.Join(d.dir, rs))
		if err != nil {
			return err
		}
		d.apps[rs] = a
		if err := a.Start(); err != nil {
			return err
		}
		if err := d.startAgent(ctx, rs); err != nil {
			return err
		}
	}
	d.say("rs1 and rs2 run a small web app (/ names the server, /healthz, /check.txt) and tandem-backend:")
	d.say("   VIP on lo, nft arp table, health probe every 300 ms, heartbeats to both directors.")

	seed := filepath.Join(d.dir, "keepalived.conf")
	if err := os.WriteFile(seed, []byte(seedConf), 0o644); err != nil {
		return err
	}
	native, err := exec.CommandContext(ctx, d.dbin, "show-config", seed).Output()
	if err != nil {
		return fmt.Errorf("show-config: %w", err)
	}
	d.say("Both directors get the seed's keepalived.conf (state BACKUP, nopreempt, priority 100, sorry_server,")
	d.say("   lc, DR, HTTP_GET /check.txt) with the lab's addresses. fast_failover exists only in native YAML,")
	d.say("   so `tandem-director show-config keepalived.conf` turns it into native YAML and the demo adds")
	d.say("   node, heartbeat key, control socket and fast_failover {enabled, 200ms x 5}.")
	for _, name := range []string{"dir1", "dir2"} {
		conf := filepath.Join(d.dir, name+".yaml")
		text := string(native) + fmt.Sprintf(overlay, name, d.dir)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			return err
		}
		if err := d.startDirector(ctx, name); err != nil {
			return err
		}
		if name == "dir1" {
			if _, err := d.waitMaster(15 * time.Second); err != nil {
				return err
			}
		}
	}
	if err := d.waitProbeUp(15 * time.Second); err != nil {
		return err
	}
	for _, name := range []string{"dir1", "dir2"} {
		if _, err := d.waitIPVS(name, "both real servers in", 20*time.Second, func(m map[string]ipvs.Destination) bool {
			return weight(m, rsIPs["rs1"]) == 1 && weight(m, rsIPs["rs2"]) == 1 && len(m) == 2
		}); err != nil {
			return err
		}
	}
	m, b := d.roles()
	d.say("%s is MASTER (it holds the VIP), %s is BACKUP; the fast failover session between them is up.", m, b)
	d.say("Both directors hold the IPVS rules, as keepalived does. ipvsadm -Ln on %s:", b)
	if o, err := d.net.Exec(b, "ipvsadm", "-Ln"); err == nil {
		d.say("%s", indent(o))
	}
	return nil
}

func (d *demo) teardown() {
	for _, h := range d.ipvs {
		h.Close()
	}
	if d.net != nil {
		for _, a := range d.apps {
			a.Stop()
		}
		if err := d.net.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "demo: teardown: %v\n", err)
		}
	}
}

func (d *demo) startDirector(ctx context.Context, name string) error {
	conf := filepath.Join(d.dir, name+".yaml")
	p, err := d.net.Start(name, "/usr/bin/env", "STATE_DIRECTORY="+filepath.Join(d.dir, name+"-state"),
		d.dbin, "run", "--config", conf)
	if err != nil {
		return err
	}
	d.dirs[name] = p
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.WaitOutput(c, "msg=ready"); err != nil {
		return fmt.Errorf("%s not ready: %w\n%s", name, err, prodlab.Tail(p.Output(), 30))
	}
	return nil
}

func (d *demo) startAgent(ctx context.Context, rs string) error {
	dir := filepath.Join(d.dir, rs)
	cfg := filepath.Join(dir, "backend.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(backendConf, rs, rsIPs[rs], d.dir, dir)), 0o644); err != nil {
		return err
	}
	p, err := d.net.Start(rs, d.bbin, "run", "--config", cfg)
	if err != nil {
		return err
	}
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.WaitOutput(c, "msg=ready"); err != nil {
		return fmt.Errorf("agent on %s not ready: %w\n%s", rs, err, prodlab.Tail(p.Output(), 30))
	}
	d.agents[rs] = p
	return nil
}

func (d *demo) backend(ctx context.Context, rs string, args ...string) (string, error) {
	cfg := filepath.Join(d.dir, rs, "backend.yaml")
	out, err := exec.CommandContext(ctx, d.bbin, append([]string{"--config", cfg}, args...)...).CombinedOutput()
	return string(out), err
}

func (d *demo) status(name string) (app.Status, error) {
	var st app.Status
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, d.dbin, "status", "--json", "--socket", filepath.Join(d.dir, name+".sock")).Output()
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(out, &st)
	return st, err
}

// roles returns the master and the backup ("" when unknown).
func (d *demo) roles() (master, backup string) {
	for _, n := range []string{"dir1", "dir2"} {
		if d.dirs[n] == nil {
			continue
		}
		st, err := d.status(n)
		if err != nil {
			continue
		}
		switch st.Role {
		case "master":
			master = n
		case "backup":
			backup = n
		}
	}
	return master, backup
}

func (d *demo) waitMaster(limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if m, _ := d.roles(); m != "" {
			return m, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("no MASTER director after %v", limit)
}

func (d *demo) waitProbeUp(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		m, b := d.roles()
		if m != "" && b != "" {
			s1, e1 := d.status(m)
			s2, e2 := d.status(b)
			if e1 == nil && e2 == nil && s1.FastFailover != nil && s2.FastFailover != nil &&
				s1.FastFailover.Session == "up" && s2.FastFailover.Session == "up" {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("no MASTER/BACKUP pair with the fast failover session up after %v", limit)
}

func (d *demo) dests(name string) map[string]ipvs.Destination {
	svc := &ipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: net.ParseIP(vip).To4(), Port: 80, Netmask: 0xffffffff}
	ds, err := d.ipvs[name].GetDestinations(svc)
	if err != nil {
		return nil
	}
	out := map[string]ipvs.Destination{}
	for _, x := range ds {
		out[x.Address.String()] = *x
	}
	return out
}

// weight is the destination's weight, -1 when absent.
func weight(m map[string]ipvs.Destination, ip string) int {
	if x, ok := m[ip]; ok {
		return x.Weight
	}
	return -1
}

// waitIPVS polls a director's IPVS table every 10 ms until cond holds.
func (d *demo) waitIPVS(name, what string, limit time.Duration, cond func(map[string]ipvs.Destination) bool) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for {
		if m := d.dests(name); m != nil && cond(m) {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			o, _ := d.net.Exec(name, "ipvsadm", "-Ln")
			return time.Time{}, fmt.Errorf("%s on %s: not within %v; ipvsadm -Ln:\n%s", what, name, limit, o)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// load runs traffic from the client for dur, printing a line per second,
// while act runs; it returns the report once both are done.
func (d *demo) load(ctx context.Context, dur time.Duration, act func() error) (*loadgen.Report, error) {
	g, err := loadgen.New(loadgen.Config{
		Target:      loadgen.Target{Addr: vip + ":80", Dial: d.net.DialContext("client"), Timeout: 2 * time.Second},
		Rate:        rate,
		Duration:    dur,
		MaxRequests: int(rate*dur.Seconds()) + 100,
		Interval:    time.Second,
		OnSnapshot: func(s loadgen.Snapshot) {
			if s.Final {
				return
			}
			fmt.Fprintf(d.out, "   t=%4.1fs  served/s: rs1 %3d  rs2 %3d  sorry %3d  | failed %3d | totals ok %5d failed %4d\n",
				s.Elapsed.Seconds(), s.OK["rs1"], s.OK["rs2"], s.OK["sorry"], s.Failed(), s.TotalOK, s.TotalFailed)
		},
	})
	if err != nil {
		return nil, err
	}
	type res struct {
		rep *loadgen.Report
		err error
	}
	done := make(chan res, 1)
	go func() {
		rep, err := g.Run(ctx)
		done <- res{rep, err}
	}()
	var actErr error
	if act != nil {
		actErr = act()
	}
	r := <-done
	if r.err != nil {
		return r.rep, r.err
	}
	return r.rep, actErr
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
		o, err := d.backend(c, "rs1", "maintenance", "on", "--wait", "--timeout", "20s", "--reason", "demo")
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
		if o, err := d.backend(ctx, "rs1", "maintenance", "off"); err != nil {
			return fmt.Errorf("maintenance off: %v\n%s", err, o)
		}
		m, _ := d.roles()
		if m == "" {
			return errors.New("no master")
		}
		backAt, err = d.waitIPVS(m, "rs1 back at weight 1", 10*time.Second, func(x map[string]ipvs.Destination) bool { return weight(x, rsIPs["rs1"]) == 1 })
		return err
	})
	if err != nil {
		return err
	}
	later := rep.Window(backAt.Add(500*time.Millisecond), rep.End).PerServer["rs1"]
	d.record("3 rs1 back", rep.Failed == 0 && later > 0, "rs1 at weight 1 and answering, 0 failures",
		fmt.Sprintf("weight 1 after %s, rs1 answered %d after, failed %d", ms(backAt.Sub(offAt)), later, rep.Failed))

	// 4. Failover.
	master, backup := d.roles()
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
		if err := d.dirs[master].Signal(syscall.SIGKILL); err != nil {
			return err
		}
		if err := d.linkSet(master, false); err != nil {
			return err
		}
		// A probe on new connections, 300 ms each, every 20 ms: the
		// first one answered marks when service was back.
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var perr error
		probe, perr = loadgen.Probe(pctx, loadgen.ProbeConfig{
			Target:      loadgen.Target{Addr: vip + ":80", Dial: d.net.DialContext("client"), Timeout: 300 * time.Millisecond},
			Interval:    20 * time.Millisecond,
			MaxDuration: 10 * time.Second,
		}, killed)
		if perr != nil {
			return fmt.Errorf("probe after the kill: %w", perr)
		}
		<-d.dirs[master].Done()
		d.dirs[master+" (killed)"] = d.dirs[master]
		d.dirs[master] = nil
		deadline := time.Now().Add(6 * time.Second)
		for time.Now().Before(deadline) {
			if d.hasVIP(backup) {
				tookVIP = time.Now()
				return nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		return fmt.Errorf("%s did not take the VIP within 6 s:\n%s", backup, prodlab.Tail(d.dirs[backup].Output(), 30))
	})
	if err != nil {
		return err
	}
	st, _ := d.status(backup)
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
		d.apps["rs1"].Stop()
		var err error
		outAt, err = d.waitIPVS(backup, "rs1 out", 10*time.Second, func(x map[string]ipvs.Destination) bool { return weight(x, rsIPs["rs1"]) <= 0 })
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
		d.apps["rs2"].Stop()
		var err error
		sorryIn, err = d.waitIPVS(backup, "only the sorry server", 10*time.Second, func(x map[string]ipvs.Destination) bool {
			return weight(x, sorryIP) >= 0 && weight(x, rsIPs["rs1"]) <= 0 && weight(x, rsIPs["rs2"]) <= 0
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
			if err := d.apps[rs].Start(); err != nil {
				return err
			}
		}
		var err error
		restored, err = d.waitIPVS(backup, "both real servers back, sorry out", 10*time.Second, func(x map[string]ipvs.Destination) bool {
			return weight(x, rsIPs["rs1"]) == 1 && weight(x, rsIPs["rs2"]) == 1 && weight(x, sorryIP) <= 0
		})
		if err != nil {
			return err
		}
		if err := d.delVIP(master); err != nil {
			return err
		}
		if err := d.linkSet(master, true); err != nil {
			return err
		}
		return d.startDirector(ctx, master)
	})
	if err != nil {
		return err
	}
	if err := d.waitProbeUp(10 * time.Second); err != nil {
		return err
	}
	m2, b2 := d.roles()
	fin := rep.Window(restored.Add(500*time.Millisecond), rep.End)
	d.record("7 everything restored", fin.Failed == 0 && fin.PerServer["rs1"] > 0 && fin.PerServer["rs2"] > 0 && fin.PerServer["sorry"] == 0 && m2 == backup && b2 == master,
		"rs1 and rs2 answer, sorry server out, two directors again",
		fmt.Sprintf("after %s: rs1 %d, rs2 %d, sorry %d, failed %d; %s MASTER, %s BACKUP", ms(restored.Sub(rep.Start)), fin.PerServer["rs1"], fin.PerServer["rs2"], fin.PerServer["sorry"], fin.Failed, m2, b2))
	return nil
}

func lastAfter(r *loadgen.Report, t time.Time) string {
	if r.LastFailure.IsZero() {
		return "none"
	}
	return ms(r.LastFailure.Sub(t))
}

// hasVIP reports whether host holds the VIP on eth0.
func (d *demo) hasVIP(host string) bool {
	h, err := d.net.Netlink(host)
	if err != nil {
		return false
	}
	l, err := h.LinkByName("eth0")
	if err != nil {
		return false
	}
	addrs, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if a.IP.String() == vip {
			return true
		}
	}
	return false
}

// linkSet takes a host's eth0 down or up (the "machine" leaves or returns).
func (d *demo) linkSet(host string, up bool) error {
	h, err := d.net.Netlink(host)
	if err != nil {
		return err
	}
	l, err := h.LinkByName("eth0")
	if err != nil {
		return err
	}
	if up {
		return h.LinkSetUp(l)
	}
	return h.LinkSetDown(l)
}

// delVIP removes the VIP a killed director left on eth0 (a rebooted machine
// would not have it).
func (d *demo) delVIP(host string) error {
	h, err := d.net.Netlink(host)
	if err != nil {
		return err
	}
	l, err := h.LinkByName("eth0")
	if err != nil {
		return err
	}
	a, _ := netlink.ParseAddr(vip + "/24")
	if err := h.AddrDel(l, a); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
		return fmt.Errorf("remove the VIP from %s: %w", host, err)
	}
	return nil
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
	ok := len(d.rows) == 7
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
