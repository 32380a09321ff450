package app_test

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/arp"

	"github.com/tandemlb/tandem/backend/arpguard"
	"github.com/tandemlb/tandem/backend/vip"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// ownARPSender makes the real server resolve the client while sending from
// the VIP, and returns the sender IP of the ARP request the client sees.
func ownARPSender(t *testing.T, r *rig, cli *arp.Client) netip.Addr {
	t.Helper()
	if _, err := r.lab.Exec("rs", "ip", "neigh", "flush", "all"); err != nil {
		t.Fatal(err)
	}
	err := r.lab.Do("rs", func() error {
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(vipAddr, 0)),
			net.UDPAddrFromAddrPort(netip.AddrPortFrom(clientIP, 9)))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("x"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cli.SetReadDeadline(time.Now().Add(2 * time.Second))
	for i := 0; i < 100; i++ {
		p, _, err := cli.Read()
		if err != nil {
			t.Fatalf("no ARP request from the real server: %v", err)
		}
		if p.Operation == arp.OperationRequest && p.TargetIP == clientIP {
			return p.SenderIP
		}
	}
	t.Fatal("no ARP request from the real server")
	return netip.Addr{}
}

// TestNetnsAgentARP proves the ARP guard on the wire: before the agent, the
// real server (VIP on lo, kernel defaults) answers ARP for the VIP and sends
// ARP with the VIP as sender; with the agent only the director answers and
// the real server's own requests carry its real IP.
func TestNetnsAgentARP(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.startApp()
	dirMAC, err := r.lab.MAC("director", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	cli := arpClient(t, r.lab, "client")

	// Control: the seed's failure mode, without the agent.
	if _, err := r.lab.Exec("rs", "ip", "addr", "add", "192.0.2.100/32", "dev", "lo"); err != nil {
		t.Fatal(err)
	}
	if macs := whoHas(t, cli, vipAddr, 500*time.Millisecond); len(macs) != 2 {
		t.Fatalf("control: %v answered for the VIP, want the director and the real server", macs)
	}
	if got := ownARPSender(t, r, cli); got != vipAddr {
		t.Fatalf("control: real server's ARP sender %s, want the VIP (kernel default)", got)
	}

	r.startAgent()
	for i := 0; i < 3; i++ {
		macs := whoHas(t, cli, vipAddr, 500*time.Millisecond)
		if len(macs) != 1 || !macs[dirMAC.String()] {
			t.Fatalf("with the agent: %v answered for the VIP, want only the director %s", macs, dirMAC)
		}
	}
	if got := ownARPSender(t, r, cli); got != rsIP {
		t.Fatalf("with the agent: real server's ARP sender %s, want its real IP %s", got, rsIP)
	}
	out, err := r.cli("status")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if !strings.Contains(out, "table arp tandem_backend present") || !strings.Contains(out, "192.0.2.100 present") {
		t.Fatalf("status:\n%s", out)
	}
	t.Logf("status:\n%s", out)
}

// TestNetnsAgentRepairAndRestart: VIP or table removed by hand are back
// within 1 s; a restart of the agent never leaves them missing.
func TestNetnsAgentRepairAndRestart(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.startApp()
	r.startAgent()
	h, err := r.lab.Netlink("rs")
	if err != nil {
		t.Fatal(err)
	}
	ns, err := r.lab.NsHandle("rs")
	if err != nil {
		t.Fatal(err)
	}
	nft := arpguard.NFT{NetNS: int(ns)}
	// The agent resolves the same real IP: ask it.
	spec := arpguard.Spec{Table: "tandem_backend", VIPs: []netip.Addr{vipAddr}, RealIP: rsIP}
	vipOK := func() bool {
		have, err := vip.List(h, []netip.Addr{vipAddr})
		return err == nil && have[vipAddr]
	}
	tableOK := func() bool {
		st, err := nft.Check(spec)
		return err == nil && st.Problem == ""
	}
	waitFor := func(what string, ok func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		testutil.Eventually(t, time.Second, ok, "%s: not back", what)
		return time.Since(start)
	}
	if !vipOK() || !tableOK() {
		t.Fatal("VIP or table missing after READY")
	}

	for i := 0; i < 3; i++ {
		lo, _ := h.LinkByName("lo")
		if err := h.AddrDel(lo, vip.Addr(vipAddr)); err != nil {
			t.Fatal(err)
		}
		t.Logf("VIP deleted by hand: back after %s", waitFor("VIP", vipOK))
	}
	for _, cmd := range [][]string{{"nft", "flush", "ruleset"}, {"nft", "delete", "table", "arp", "tandem_backend"}, {"nft", "flush", "chain", "arp", "tandem_backend", "in"}} {
		if _, err := r.lab.Exec("rs", cmd...); err != nil {
			t.Fatal(err)
		}
		t.Logf("%q: table back after %s", strings.Join(cmd, " "), waitFor(strings.Join(cmd, " "), tableOK))
	}
	// The guard counts a repair after it has checked the table again: the
	// table can be seen whole a moment before the counter moves.
	var m string
	countersOK := func() bool {
		m = r.metrics()
		return strings.Contains(m, `tandem_backend_vip_repairs_total{vip="192.0.2.100"} 3`) && strings.Contains(m, "tandem_backend_arp_table_repairs_total 3")
	}
	if !testutil.WaitFor(2*time.Second, countersOK) {
		t.Fatalf("repair counters missing from metrics:\n%s", grepLines(m, "repairs"))
	}
	if !strings.Contains(r.agent.Output(), "vip was removed from lo by someone else") {
		t.Fatal("no warning logged for the removed VIP")
	}

	// Restart: poll VIP and table every 2 ms throughout.
	var polls, misses atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			polls.Add(1)
			if !vipOK() || !tableOK() {
				misses.Add(1)
			}
			testutil.Settle(2 * time.Millisecond) // the sampling period
		}
	}()
	r.stopAgent()
	testutil.Settle(300 * time.Millisecond) // agent down: everything must stay
	r.startAgent()
	testutil.Settle(100 * time.Millisecond) // and keep sampling the new agent's first moments
	close(stop)
	<-done
	if misses.Load() != 0 {
		t.Fatalf("VIP or table missing in %d of %d polls during the restart", misses.Load(), polls.Load())
	}
	t.Logf("restart: VIP and table present in all %d polls", polls.Load())
	if code, body := r.check(); code != 200 {
		t.Fatalf("after restart: %d %q", code, body)
	}
}

// TestNetnsAgentHealthAndMaintenance: the check endpoint follows the
// application with fall/rise; maintenance on is a 503 and a maintenance
// heartbeat within 100 ms, persists across a restart, and off waits for the
// probe.
func TestNetnsAgentHealthAndMaintenance(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.startApp()
	r.startAgent()
	r.waitCheck(200, time.Second)
	r.fd.waitState(hbproto.StateUp, 3*time.Second)

	r.stopApp()
	d := r.waitCheck(503, fall*healthInterval+500*time.Millisecond)
	t.Logf("application stopped: 503 after %s (fall %d × interval %s = %s)", d, fall, healthInterval, fall*healthInterval)
	if code, body := r.check(); !strings.Contains(body, "unhealthy") {
		t.Fatalf("503 body: %d %q", code, body)
	}
	r.fd.waitState(hbproto.StateDown, time.Second)
	r.startApp()
	d = r.waitCheck(200, rise*healthInterval+500*time.Millisecond)
	t.Logf("application started: 200 after %s (rise %d × interval %s)", d, rise, healthInterval)
	if d < (rise-1)*healthInterval-20*time.Millisecond {
		t.Fatalf("200 after only %s: rise not applied", d)
	}
	r.fd.waitState(hbproto.StateUp, time.Second)

	// maintenance on: heartbeat interval is 2 s, so a report within 100 ms
	// is the immediate one.
	r.fd.drain()
	start := time.Now()
	out, err := r.cli("maintenance", "on", "--reason", "deploy v2")
	if err != nil {
		t.Fatalf("maintenance on: %v\n%s", err, out)
	}
	rep := r.fd.waitState(hbproto.StateMaintenance, time.Second)
	lat := rep.at.Sub(start)
	t.Logf("maintenance on: heartbeat at the director %s after the CLI started (CLI took %s)", lat, time.Since(start))
	if lat > 100*time.Millisecond {
		t.Fatalf("maintenance heartbeat after %s, want <= 100ms", lat)
	}
	if rep.msg.Agent.Reason != "maintenance: deploy v2" || rep.msg.Agent.Node != "web1" || rep.msg.Agent.RealIP != rsIP {
		t.Fatalf("report = %+v", rep.msg.Agent)
	}
	if code, body := r.check(); code != 503 || body != "maintenance: deploy v2\n" {
		t.Fatalf("/check.txt in maintenance: %d %q", code, body)
	}

	// Persisted across a restart.
	r.stopAgent()
	r.fd.drain()
	r.startAgent()
	if code, _ := r.check(); code != 503 {
		t.Fatalf("after restart in maintenance: %d", code)
	}
	rep = r.fd.waitState(hbproto.StateMaintenance, 3*time.Second)
	out, err = r.cli("maintenance", "status")
	if err != nil || !strings.Contains(out, "deploy v2") {
		t.Fatalf("maintenance status after restart: %v\n%s", err, out)
	}

	// Off returns to service only after `rise` passes.
	start = time.Now()
	out, err = r.cli("maintenance", "off")
	if err != nil {
		t.Fatalf("maintenance off: %v\n%s", err, out)
	}
	if code, body := r.check(); code != 503 || !strings.Contains(body, "leaving maintenance") {
		// The probe may already have passed rise times if the CLI was slow.
		if time.Since(start) < (rise-1)*healthInterval {
			t.Fatalf("right after off: %d %q", code, body)
		}
	}
	d = r.waitCheck(200, rise*healthInterval+time.Second)
	t.Logf("maintenance off: 200 after %s", d)
	r.fd.waitState(hbproto.StateUp, time.Second)
}

// TestNetnsAgentMaintenanceWait: --wait returns when the MASTER reports no
// weight and no active connections, and times out (non-zero, saying what is
// left) when it does not.
func TestNetnsAgentMaintenanceWait(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.startApp()
	r.fd.setReply(destReply(0, 3))
	r.startAgent()

	out, err := r.cli("maintenance", "on", "--wait", "--timeout", "1500ms")
	if err == nil {
		t.Fatalf("--wait with 3 active connections succeeded:\n%s", out)
	}
	if !strings.Contains(out, "timed out after 1.5s") || !strings.Contains(out, "3 active") {
		t.Fatalf("timeout message does not say what is left:\n%s", out)
	}
	t.Logf("timeout output:\n%s", out)

	go func() {
		// The connections stay for a while: --wait must wait for them.
		testutil.Settle(700 * time.Millisecond)
		r.fd.setReply(destReply(0, 0))
	}()
	start := time.Now()
	out, err = r.cli("maintenance", "on", "--wait", "--timeout", "10s")
	if err != nil {
		t.Fatalf("--wait: %v\n%s", err, out)
	}
	if !strings.Contains(out, "drained after") || time.Since(start) < 500*time.Millisecond {
		t.Fatalf("--wait returned too early or without saying so:\n%s", out)
	}
	t.Logf("--wait output:\n%s", out)
	st, err := r.cli("status")
	if err != nil || !strings.Contains(st, "lb1 192.0.2.2:7480: master") {
		t.Fatalf("status does not show the director: %v\n%s", err, st)
	}
}

// TestNetnsAgentRejectsForgedReplies: replies with a wrong key, replayed
// replies and replies from elsewhere are dropped and counted by reason.
func TestNetnsAgentRejectsForgedReplies(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.startApp()
	r.fd.setReply(destReply(1, 0))
	r.startAgent()
	r.fd.waitState(hbproto.StateUp, 3*time.Second)
	var from *net.UDPAddr
	var last []byte
	testutil.Eventually(t, 3*time.Second, func() bool {
		r.fd.mu.Lock()
		from, last = r.fd.lastFrom, r.fd.lastReply
		r.fd.mu.Unlock()
		return last != nil
	}, "the fake director never replied")
	// Let the agent take the genuine reply first, so that the copies sent
	// next are replays of one it has already accepted.
	testutil.Settle(100 * time.Millisecond)
	// Replay the last genuine reply twice, then forge one with another key.
	r.fd.conn.WriteToUDP(last, from)
	r.fd.conn.WriteToUDP(last, from)
	forged, _ := hbproto.NewSealer([]byte("not the cluster key, but long enough"), 99).SealDirector(time.Now(), destReply(0, 0))
	r.fd.conn.WriteToUDP(forged, from)
	truncated := last[:20]
	r.fd.conn.WriteToUDP(truncated, from)

	want := []string{
		`tandem_backend_heartbeat_replies_rejected_total{reason="replay"} 2`,
		`tandem_backend_heartbeat_replies_rejected_total{reason="mac"} 1`,
		`tandem_backend_heartbeat_replies_rejected_total{reason="truncated"} 1`,
	}
	var m string
	testutil.WaitFor(2*time.Second, func() bool {
		m = r.metrics()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(m, w)
		}
		return ok
	})
	for _, w := range want {
		if !strings.Contains(m, w) {
			t.Fatalf("metrics lack %s:\n%s", w, grepLines(m, "rejected"))
		}
	}
	// The forged reply (weight 0) did not change the view.
	st, err := r.cli("status", "--json")
	if err != nil || !strings.Contains(st, `"weight": 1`) {
		t.Fatalf("status after forged reply: %v\n%s", err, st)
	}
}

// TestNetnsAgentBadInput: bad key files stop the start, the insecure option
// is loud, the CLI refuses non-root users and explains a missing daemon.
func TestNetnsAgentBadInput(t *testing.T) {
	r := newRig(t, rigOpts{noDirector: true})

	run := func(what string) string {
		t.Helper()
		p, err := r.lab.Start("rs", r.bin, "run", "--config", r.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.Done():
		case <-time.After(10 * time.Second):
			p.Stop(time.Second)
			t.Fatalf("%s: the agent started", what)
		}
		if p.Wait() == nil {
			t.Fatalf("%s: exit status 0", what)
		}
		return p.Output()
	}
	if err := os.Chmod(r.keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := run("world-readable key"); !strings.Contains(out, "0644") || !strings.Contains(out, "heartbeat.insecure") {
		t.Fatalf("world-readable key: output does not explain:\n%s", out)
	}
	if err := os.Remove(r.keyPath); err != nil {
		t.Fatal(err)
	}
	if out := run("missing key"); !strings.Contains(out, "no such file") {
		t.Fatalf("missing key: output does not explain:\n%s", out)
	}
	h, _ := r.lab.Netlink("rs")
	if have, _ := vip.List(h, []netip.Addr{vipAddr}); have[vipAddr] {
		t.Fatal("a refused start put the VIP on lo")
	}

	// Insecure: starts, loudly.
	r.writeConfig("")
	cfg, _ := os.ReadFile(r.cfgPath)
	os.WriteFile(r.cfgPath, []byte(strings.Replace(string(cfg), "interval: 2s}", "interval: 2s, insecure: true}", 1)), 0o644)
	r.startApp()
	r.startAgent()
	if !strings.Contains(r.agent.Output(), "INSECURE") {
		t.Fatalf("insecure start not loud:\n%s", r.agent.Output())
	}

	// A non-root CLI is refused with a clear message.
	cmd := exec.Command(r.bin, "--socket", r.sock, "status")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "must be run as root") {
		t.Fatalf("non-root status: %v\n%s", err, out)
	}
	r.stopAgent()

	// No daemon: said clearly.
	out2, err := r.cli("status")
	if err == nil || !strings.Contains(out2, "daemon is not running") {
		t.Fatalf("status without daemon: %v\n%s", err, out2)
	}
	// Malformed configuration.
	os.WriteFile(r.cfgPath, []byte("vips: [192.0.2.100]\nhealth:\n  type: tcp\n  adress: 127.0.0.1:80\n"), 0o644)
	out2, err = r.cli("check-config", r.cfgPath)
	if err == nil || !strings.Contains(out2, `backend.yaml:4: key "health.adress": unknown key`) {
		t.Fatalf("check-config of a bad file: %v\n%s", err, out2)
	}

	// cleanup removes what the agent left in place.
	r.writeConfig("")
	if _, err := r.lab.Exec("rs", r.bin, "--config", r.cfgPath, "--socket", r.sock, "cleanup"); err != nil {
		t.Fatal(err)
	}
	if have, _ := vip.List(h, []netip.Addr{vipAddr}); have[vipAddr] {
		t.Fatal("cleanup left the VIP")
	}
	if out, _ := r.lab.Exec("rs", "nft", "list", "ruleset"); strings.Contains(out, "tandem_backend") {
		t.Fatalf("cleanup left the table:\n%s", out)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestNetnsAgentSystemdAndReload: READY=1 only once VIP, ARP table and check
// endpoint are in place; WATCHDOG=1 pings; SIGHUP applies a valid file and
// keeps the running configuration when the new one is invalid.
func TestNetnsAgentSystemdAndReload(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.startApp()
	notifyPath := r.dir + "/notify.sock"
	nconn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nconn.Close()
	p, err := r.lab.Start("rs", "/usr/bin/env", "NOTIFY_SOCKET="+notifyPath, "WATCHDOG_USEC=300000",
		r.bin, "run", "--config", r.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	r.agent = p
	h, _ := r.lab.Netlink("rs")
	ns, _ := r.lab.NsHandle("rs")
	spec := arpguard.Spec{Table: "tandem_backend", VIPs: []netip.Addr{vipAddr}, RealIP: rsIP}
	next := func(limit time.Duration) string {
		t.Helper()
		buf := make([]byte, 4096)
		nconn.SetReadDeadline(time.Now().Add(limit))
		n, err := nconn.Read(buf)
		if err != nil {
			t.Fatalf("no sd_notify message: %v\n%s", err, p.Output())
		}
		return string(buf[:n])
	}
	var msgs []string
	for i := 0; i < 10; i++ {
		m := next(10 * time.Second)
		msgs = append(msgs, m)
		if strings.Contains(m, "READY=1") {
			// At READY, everything must already be in place.
			have, _ := vip.List(h, []netip.Addr{vipAddr})
			st, err := (arpguard.NFT{NetNS: int(ns)}).Check(spec)
			code, _ := r.check()
			if !have[vipAddr] || err != nil || st.Problem != "" || code != 200 {
				t.Fatalf("READY before everything was in place: vip %v, table %+v %v, check %d", have, st, err, code)
			}
			break
		}
	}
	if !strings.Contains(strings.Join(msgs, "|"), "STATUS=serving; 1/1 VIPs") {
		t.Fatalf("no STATUS line with READY: %q", msgs)
	}
	wd := 0
	for i := 0; i < 20 && wd < 2; i++ {
		if strings.Contains(next(time.Second), "WATCHDOG=1") {
			wd++
		}
	}
	if wd < 2 {
		t.Fatal("no WATCHDOG=1 pings with WATCHDOG_USEC=300000")
	}

	// A valid reload: a second VIP.
	r.writeConfig("")
	cfg, _ := os.ReadFile(r.cfgPath)
	os.WriteFile(r.cfgPath, []byte(strings.Replace(string(cfg), "vips: [192.0.2.100]", "vips: [192.0.2.100, 192.0.2.101]", 1)), 0o644)
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	v2 := netip.MustParseAddr("192.0.2.101")
	ok := testutil.WaitFor(time.Second, func() bool {
		have, _ := vip.List(h, []netip.Addr{v2})
		return have[v2]
	})
	if !ok {
		t.Fatalf("reload did not add the second VIP:\n%s", p.Output())
	}
	sawReloading := false
	for i := 0; i < 20; i++ {
		m := next(time.Second)
		if strings.Contains(m, "RELOADING=1") {
			sawReloading = true
		}
		if sawReloading && strings.Contains(m, "READY=1") {
			break
		}
	}
	if !sawReloading {
		t.Fatal("no RELOADING=1 on SIGHUP")
	}

	// An invalid file is refused; the agent keeps running with the old one.
	os.WriteFile(r.cfgPath, []byte("vips: [192.0.2.300]\n"), 0o644)
	p.Signal(syscall.SIGHUP)
	ctx, cancel := contextWithTimeout(2 * time.Second)
	defer cancel()
	if err := p.WaitOutput(ctx, "invalid configuration, keeping the running one"); err != nil {
		t.Fatalf("invalid reload not logged: %v\n%s", err, p.Output())
	}
	if code, _ := r.check(); code != 200 {
		t.Fatalf("after an invalid reload: check %d", code)
	}
	have, _ := vip.List(h, []netip.Addr{vipAddr, v2})
	if !have[vipAddr] || !have[v2] {
		t.Fatalf("after an invalid reload: VIPs %v", have)
	}
	r.writeConfig("")
	r.stopAgent()
}

// TestNetnsAgentCheckFileAndDoctor: file mode keeps the docroot's check file
// in step with health and maintenance (as a keepalived HTTP_GET against the
// web server would see it); doctor passes on a healthy agent and explains a
// missing table and VIP when the agent is stopped.
func TestNetnsAgentCheckFileAndDoctor(t *testing.T) {
	docroot := t.TempDir()
	checkFile := docroot + "/check.txt"
	r := newRig(t, rigOpts{check: "check: {mode: file, file: " + checkFile + "}"})
	r.fd.setReply(destReply(1, 0))
	r.startApp()
	r.startAgent()
	exists := func() bool { _, err := os.Stat(checkFile); return err == nil }
	waitFile := func(want bool, limit time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		testutil.Eventually(t, limit, func() bool { return exists() == want }, "check file present=%v not reached", want)
		return time.Since(start)
	}
	if !exists() {
		t.Fatal("check file absent at READY with a healthy application")
	}
	b, _ := os.ReadFile(checkFile)
	if string(b) != "OK\n" {
		t.Fatalf("check file content %q", b)
	}
	if out, err := r.cli("maintenance", "on"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if exists() {
		t.Fatal("check file still present right after maintenance on")
	}
	if out, err := r.cli("maintenance", "off"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("maintenance off: check file back after %s", waitFile(true, rise*healthInterval+time.Second))
	r.stopApp()
	t.Logf("application stopped: check file gone after %s", waitFile(false, fall*healthInterval+500*time.Millisecond))
	r.startApp()
	waitFile(true, rise*healthInterval+500*time.Millisecond)
	os.Remove(checkFile) // a deploy wiping the docroot
	t.Logf("check file removed by hand: back after %s", waitFile(true, 2*time.Second))

	out, err := r.lab.Exec("rs", r.bin, "--config", r.cfgPath, "--socket", r.sock, "doctor")
	if err != nil {
		t.Fatalf("doctor on a healthy agent: %v\n%s", err, out)
	}
	t.Logf("doctor:\n%s", out)
	r.stopAgent()
	r.lab.Exec("rs", "nft", "flush", "ruleset")
	r.lab.Exec("rs", "ip", "addr", "del", "192.0.2.100/32", "dev", "lo")
	out, err = r.lab.Exec("rs", r.bin, "--config", r.cfgPath, "--socket", r.sock, "doctor")
	if err == nil {
		t.Fatalf("doctor found nothing wrong:\n%s", out)
	}
	for _, want := range []string{"daemon is not running", "192.0.2.100 is NOT on lo", "table missing", "ok    application"} {
		if !strings.Contains(out, want) {
			t.Fatalf("doctor output lacks %q:\n%s", want, out)
		}
	}
}

// TestNetnsAgentListenerGone: the application's listener destroyed (what
// the kernel does when the process dies) makes the agent report down at
// once, long before its probe (every 10 s, fall 3) could; the return needs
// the probe's rise passes.
func TestNetnsAgentListenerGone(t *testing.T) {
	r := newRig(t, rigOpts{interval: 10 * time.Second})
	r.startApp()
	r.startAgent()
	r.fd.waitState(hbproto.StateUp, 3*time.Second)
	r.fd.drain()
	start := time.Now()
	r.stopApp()
	rep := r.fd.waitState(hbproto.StateDown, 5*time.Second)
	t.Logf("listener closed: down report at the director after %s (the probe alone: up to fall %d × 10 s)", rep.at.Sub(start), fall)
	if !strings.Contains(rep.msg.Agent.Reason, "nothing listens on TCP port 8080") {
		t.Errorf("down reason %q, want the listener watch's", rep.msg.Agent.Reason)
	}
	if !strings.Contains(r.agent.Output(), "application's listener gone") {
		t.Errorf("no log line for the listener:\n%s", r.agent.Output())
	}
}
