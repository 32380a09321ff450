package scenarios

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/peerwatch"
	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/e2e/prodlab"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The attacker host of the security scenarios: on the LAN and on the
// directors' sync segment (where the fast failover probe runs).
const (
	malloryLAN  = "10.99.0.66"
	mallorySync = "10.99.1.66"
)

// Bounds of every flood (each stops at whichever comes first), and its
// pace: a burst every floodTick. Line rate in the TCG guest starves the
// guest itself (the web apps' probes time out), which tests QEMU, not
// Tandem; the line-rate floods run in network namespaces on the host
// (peerwatch's TestWatcherJunkFlood, vrrp's TestDriverDropLog).
const (
	floodFor   = 4 * time.Second
	floodCount = 20000
	floodBurst = 50
	floodTick  = 50 * time.Millisecond
)

// floodLoop calls send floodBurst times every floodTick, within the
// flood's bounds, and returns how many sends succeeded.
func floodLoop(send func(i int) bool) int {
	sent := 0
	end := time.Now().Add(floodFor)
	tick := time.NewTicker(floodTick)
	defer tick.Stop()
	for i := 0; i < floodCount && time.Now().Before(end); {
		for j := 0; j < floodBurst; j, i = j+1, i+1 {
			if send(i) {
				sent++
			}
		}
		<-tick.C
	}
	return sent
}

// TestGuestScenarioSec1Attacker: an attacker on the lab's LAN, first
// holding rs1's agent key (a compromised real server), then without any
// key, while the client's load runs. With rs1's key it cannot drain rs2
// (a report for rs2 from rs1's address, or from its own, or spoofed from
// rs2's), cannot make the backup take over (probes sealed with it, from a
// new session), and cannot veto a takeover beyond witness_max_veto. Without
// a key, floods of junk at the heartbeat, probe and VRRP ports cause no
// takeover, no drain, and a bounded number of log lines. Through all but
// the last phase (which kills the master) no request fails.
func TestGuestScenarioSec1Attacker(t *testing.T) {
	l := newHALabOpts(t, func(o *prodlab.PairOptions) {
		// A short veto bound, so that phase 4 sees it end (the default is
		// 30 s, docs/ha.md).
		o.FastFailover = "{enabled: true, interval: 200ms, multiplier: 5, witness_max_veto: 3s}"
		o.ExtraHosts = append(o.ExtraHosts, netlab.HostSpec{Name: "mallory", Addr: malloryLAN + "/24",
			Links: []netlab.LinkSpec{{Name: "eth1", Segment: "sync", Addrs: []string{mallorySync + "/24"}}}})
	})
	rs1Key := readKey(t, prodlab.AgentKeyFile(l.Dir, "rs1"))
	rs1, rs2 := netip.MustParseAddr(prodlab.RSIPs["rs1"]), netip.MustParseAddr(prodlab.RSIPs["rs2"])
	dirs := []netip.Addr{netip.MustParseAddr(prodlab.DirIPs["dir1"]), netip.MustParseAddr(prodlab.DirIPs["dir2"])}

	wait := l.load(haMixed(30 * time.Second))
	stopVIP := l.sampleVIP(20 * time.Millisecond)
	weights, _ := sampleEvery(t, 50*time.Millisecond, func() [2]int {
		d1, d2 := l.Dests("dir1"), l.Dests("dir2")
		return [2]int{prodlab.Weight(d1, prodlab.RSIPs["rs2"]), prodlab.Weight(d2, prodlab.RSIPs["rs2"])}
	})
	testutil.Settle(2 * time.Second) // load and samples before the attack
	before := map[string]int{"dir1": lines(l.Process("dir1").Output()), "dir2": lines(l.Process("dir2").Output())}

	// 1. rs1's key: "rs2 is in maintenance", from rs1's own address, from
	// the attacker's, and spoofed from rs2's.
	forged := func(node string, ip netip.Addr) []byte {
		sid, _ := hbproto.NewSessionID()
		b, err := hbproto.NewSealer(rs1Key, sid).SealAgent(time.Now(), &hbproto.AgentReport{
			Node: node, RealIP: ip, State: hbproto.StateMaintenance, Reason: "forged by the attacker"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	report := forged("rs2", rs2)
	sent := 0
	for _, d := range dirs {
		dst := netip.AddrPortFrom(d, hbproto.DefaultPort)
		sent += sendUDP(t, l.Net, "rs1", rs1, dst, report, 20)
		sent += sendUDP(t, l.Net, "mallory", netip.MustParseAddr(malloryLAN), dst, report, 20)
		sent += sendSpoofed(t, l.Net, "mallory", rs2, dst, report, 20)
	}
	testutil.Settle(3 * time.Second) // the forgeries have had their chance to drain rs2
	for _, n := range prodlab.Directors {
		st, err := l.Status(n)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("MEASURED phase 1: %d forged reports for rs2 sent; %s's heartbeat drops: %v", sent, n, st.Heartbeat.Dropped)
		for _, a := range st.Agents {
			if a.RealIP == rs2.String() && a.State != "up" {
				t.Errorf("%s: rs2's agent state %q after forged reports, want up", n, a.State)
			}
		}
	}

	// 2. rs1's key: probes from a new session to the backup, as a
	// restarted dir1 would send them, from the attacker's sync address and
	// spoofed from dir1's.
	sid, _ := hbproto.NewSessionID()
	probe, err := peerwatch.NewSealer(rs1Key, sid).Seal(time.Now(), peerwatch.Probe{
		State: peerwatch.StateDown, DetectMult: 3, TxInterval: 100 * time.Millisecond, Name: "dir1"})
	if err != nil {
		t.Fatal(err)
	}
	dir2Probe := netip.AddrPortFrom(netip.MustParseAddr(prodlab.SyncIPs["dir2"]), peerwatch.DefaultPort)
	sent = sendUDP(t, l.Net, "mallory", netip.MustParseAddr(mallorySync), dir2Probe, probe, 20)
	sent += sendSpoofed(t, l.Net, "mallory", netip.MustParseAddr(prodlab.SyncIPs["dir1"]), dir2Probe, probe, 20)
	testutil.Settle(2 * time.Second) // the forged probes have had their chance to move the VIP
	if m, b := l.Roles(); m != "dir1" || b != "dir2" {
		t.Errorf("after %d forged probes: master %q, backup %q; want dir1, dir2", sent, m, b)
	}

	// 3. No key: a sustained flood of junk at the heartbeat port of both
	// directors, the backup's probe port, and VRRP (IP protocol 112).
	junk := bytes.Repeat([]byte{0x54, 0x48, 1, 1, 0xff}, 40)
	// The sockets are opened here, not in the floods' goroutines: a
	// failure to open one stops the test (t.Fatal) from its own goroutine.
	hbConn := udpIn(t, l.Net, "mallory", netip.MustParseAddr(malloryLAN))
	probeConn := udpIn(t, l.Net, "mallory", netip.MustParseAddr(mallorySync))
	vrrpFD := rawIn(t, l.Net, "mallory", 112)
	var nHB, nProbe, nVRRP int
	done := make(chan struct{}, 3)
	go func() {
		nHB = floodUDP(hbConn, []netip.AddrPort{
			netip.AddrPortFrom(dirs[0], hbproto.DefaultPort), netip.AddrPortFrom(dirs[1], hbproto.DefaultPort)}, junk)
		done <- struct{}{}
	}()
	go func() {
		nProbe = floodUDP(probeConn, []netip.AddrPort{dir2Probe}, junk)
		done <- struct{}{}
	}()
	go func() {
		nVRRP = floodVRRP(t, vrrpFD, dirs, junk)
		done <- struct{}{}
	}()
	for range 3 {
		<-done
	}
	testutil.Settle(2 * time.Second) // the floods' aftermath: logs and roles after them
	for _, n := range prodlab.Directors {
		added := lines(l.Process(n).Output()) - before[n]
		t.Logf("MEASURED phases 1-3: %s logged %d lines (floods: %d heartbeat, %d probe, %d VRRP datagrams)", n, added, nHB, nProbe, nVRRP)
		// The directors log at debug level here (control requests
		// included); the bound is on what the attack adds: one line per
		// reason per interval, not one per datagram.
		if added > 400 {
			t.Errorf("%s logged %d lines during the attack", n, added)
		}
	}
	if m, b := l.Roles(); m != "dir1" || b != "dir2" {
		t.Errorf("after the floods: master %q, backup %q; want dir1, dir2", m, b)
	}
	undisturbed(t, "the attack", wait(), stopVIP(), weights(), "rs2's weight in dir1, dir2")

	// 4. rs1's key vouches for a dead master: the backup takes over
	// within witness_max_veto of its own detection, not never.
	stopVouch := make(chan struct{})
	vouched := make(chan int, 1)
	vouch := udpIn(t, l.Net, "rs1", rs1)
	go func() {
		n := 0
		defer vouch.Close()
		sid, _ := hbproto.NewSessionID()
		s := hbproto.NewSealer(rs1Key, sid)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for n < 2000 {
			b, err := s.SealAgent(time.Now(), &hbproto.AgentReport{Node: "rs1", RealIP: rs1, State: hbproto.StateUp,
				Seen: []hbproto.DirectorSeen{{Director: "dir1", Role: hbproto.RoleMaster}}})
			if err == nil {
				vouch.WriteTo(b, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dirs[1], hbproto.DefaultPort)))
				n++
			}
			select {
			case <-stopVouch:
				vouched <- n
				return
			case <-tick.C:
			}
		}
		vouched <- n
	}()
	testutil.Settle(time.Second) // the forged reports vouch for dir1 a while before the kill
	killed := time.Now()
	if err := l.Process("dir1").Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	l.Forget("dir1")
	took := time.Duration(-1)
	testutil.WaitFor(time.Until(killed.Add(20*time.Second)), func() bool {
		if l.HasVIP("dir2") {
			took = time.Since(killed)
			return true
		}
		return false
	})
	close(stopVouch)
	n := <-vouched
	st, _ := l.Status("dir2")
	vetoes := uint64(0)
	if st.FastFailover != nil {
		vetoes = st.FastFailover.Vetoes
	}
	t.Logf("MEASURED phase 4: dir1 killed while rs1's key vouched for it (%d reports): dir2 held the VIP after %v; vetoes %d",
		n, took.Round(time.Millisecond), vetoes)
	// Detection 1 s (200 ms x 5), the veto bound, plain VRRP's own
	// Master_Down_Interval as the outer limit, and TCG's slack.
	if took < 0 || took > 10*time.Second {
		t.Errorf("dir2 took over after %v with a forged witness, want within the veto bound", took)
	}
}

func readKey(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

func lines(s string) int { return strings.Count(s, "\n") }

// udpIn opens a UDP socket in host's namespace bound to src.
func udpIn(t *testing.T, lab *netlab.Lab, host string, src netip.Addr) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := lab.Do(host, func() (err error) {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)))
		if err != nil {
			return err
		}
		raw, err := c.SyscallConn()
		if err != nil {
			return err
		}
		// TTL 255, as a neighbour on the link sends it: the directors'
		// TTL check is not what stops these.
		var serr error
		if err := raw.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TTL, 255)
		}); err != nil {
			return err
		}
		return serr
	}); err != nil {
		t.Fatal(err)
	}
	return c
}

// sendUDP sends b n times from src in host to dst and returns how many
// went out.
func sendUDP(t *testing.T, lab *netlab.Lab, host string, src netip.Addr, dst netip.AddrPort, b []byte, n int) int {
	t.Helper()
	c := udpIn(t, lab, host, src)
	defer c.Close()
	sent := 0
	for range n {
		if _, err := c.WriteToUDPAddrPort(b, dst); err == nil {
			sent++
		}
		testutil.Settle(10 * time.Millisecond) // the sending pace
	}
	return sent
}

// floodUDP sends b round-robin to dsts through c (floodLoop), and closes
// c.
func floodUDP(c *net.UDPConn, dsts []netip.AddrPort, b []byte) int {
	defer c.Close()
	return floodLoop(func(i int) bool {
		_, err := c.WriteToUDPAddrPort(b, dsts[i%len(dsts)])
		return err == nil
	})
}

// rawIn opens a raw IPv4 socket in host's namespace: with IP_HDRINCL when
// proto is IPPROTO_RAW (the caller writes the IP header, any source), else
// for that protocol.
func rawIn(t *testing.T, lab *netlab.Lab, host string, proto int) int {
	t.Helper()
	fd := -1
	if err := lab.Do(host, func() (err error) {
		fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, proto)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	return fd
}

// sendSpoofed sends b n times to dst as UDP from src (an address that is
// not the attacker's), TTL 255, through a raw socket in host.
func sendSpoofed(t *testing.T, lab *netlab.Lab, host string, src netip.Addr, dst netip.AddrPort, b []byte, n int) int {
	t.Helper()
	fd := rawIn(t, lab, host, syscall.IPPROTO_RAW)
	pkt := ipv4UDP(src, netip.AddrPortFrom(src, 40000), dst, b)
	to := &syscall.SockaddrInet4{Addr: dst.Addr().As4()}
	sent := 0
	for range n {
		if err := syscall.Sendto(fd, pkt, 0, to); err == nil {
			sent++
		}
		testutil.Settle(10 * time.Millisecond) // the sending pace
	}
	return sent
}

// floodVRRP sends junk as IP protocol 112 to each director, round-robin
// (floodLoop), through fd (rawIn of protocol 112).
func floodVRRP(t *testing.T, fd int, dsts []netip.Addr, b []byte) int {
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, syscall.IP_TTL, 255); err != nil {
		t.Error(err)
	}
	return floodLoop(func(i int) bool {
		return syscall.Sendto(fd, b, 0, &syscall.SockaddrInet4{Addr: dsts[i%len(dsts)].As4()}) == nil
	})
}

// ipv4UDP builds an IPv4 packet (TTL 255, no options) carrying a UDP
// datagram from src to dst with payload; the UDP checksum is left 0
// (allowed over IPv4), the kernel fills the IP checksum.
func ipv4UDP(srcIP netip.Addr, src, dst netip.AddrPort, payload []byte) []byte {
	p := make([]byte, 28+len(payload))
	p[0], p[8], p[9] = 0x45, 255, syscall.IPPROTO_UDP
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	s, d := srcIP.As4(), dst.Addr().As4()
	copy(p[12:16], s[:])
	copy(p[16:20], d[:])
	binary.BigEndian.PutUint16(p[20:], src.Port())
	binary.BigEndian.PutUint16(p[22:], dst.Port())
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	copy(p[28:], payload)
	return p
}

// TestGuestScenarioSec2KeyMigration: the documented rolling path from the
// single shared key to scoped keys (docs/heartbeat.md, "Key scopes"), under
// load. The lab starts as before scoped keys: every agent holds the
// cluster secret, the directors accept it (agent_keys both, the default)
// and warn. Then each agent gets its own key (`tandem-director keys
// derive`) and reloads; then each director, backup first, reloads with
// agent_keys: scoped. No request fails, the VIP stays on dir1, no real
// server leaves IPVS, every agent is heard by both directors at the end,
// and a report sealed with the cluster secret is refused.
func TestGuestScenarioSec2KeyMigration(t *testing.T) {
	l := newHALabOpts(t, func(o *prodlab.PairOptions) { o.LegacyAgentKeys = true })
	wait := l.load(haMixed(40 * time.Second))
	stopVIP := l.sampleVIP(20 * time.Millisecond)
	weights, _ := sampleEvery(t, 50*time.Millisecond, func() [2]int {
		d := l.Dests("dir1")
		return [2]int{prodlab.Weight(d, prodlab.RSIPs["rs1"]), prodlab.Weight(d, prodlab.RSIPs["rs2"])}
	})
	testutil.Settle(3 * time.Second) // load, samples and the directors' first reports
	for _, n := range prodlab.Directors {
		if !strings.Contains(l.Process(n).Output(), "agent still uses the cluster heartbeat key") {
			t.Errorf("%s did not warn about agents on the cluster key", n)
		}
	}
	heardSince := func(since time.Time) error {
		for _, n := range prodlab.Directors {
			st, err := l.Status(n)
			if err != nil {
				return err
			}
			heard := map[string]bool{}
			for _, a := range st.Agents {
				heard[a.RealIP] = a.Fresh && a.State == "up" && a.LastSeen.After(since)
			}
			for _, rs := range prodlab.RealServers {
				if !heard[prodlab.RSIPs[rs]] {
					return fmt.Errorf("%s has not heard %s since %s", n, rs, since.Format("15:04:05.000"))
				}
			}
		}
		return nil
	}
	waitHeard := func(what string, since time.Time) {
		t.Helper()
		var err error
		if testutil.WaitFor(10*time.Second, func() bool { err = heardSince(since); return err == nil }) {
			t.Logf("MEASURED %s: both agents heard by both directors %v later", what, time.Since(since).Round(time.Millisecond))
			return
		}
		t.Errorf("%s: %v", what, err)
	}

	// 1. Each agent: its own key, then a reload.
	secret := filepath.Join(l.Dir, "heartbeat.key")
	for _, rs := range prodlab.RealServers {
		out, err := exec.Command(l.DirectorBin, "keys", "derive", "--real-ip", prodlab.RSIPs[rs], "--key-file", secret,
			"--out", prodlab.AgentKeyFile(l.Dir, rs)).CombinedOutput()
		if err != nil {
			t.Fatalf("keys derive for %s: %v\n%s", rs, err, out)
		}
		at := time.Now()
		if err := l.Process(rs).Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitHeard(rs+" on its own key", at)
	}

	// 2. Each director, backup first: agent_keys scoped, then a reload.
	for _, n := range []string{"dir2", "dir1"} {
		conf, err := os.ReadFile(l.ConfigPath(n))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Replace(string(conf), "heartbeat:\n", "heartbeat:\n  agent_keys: scoped\n", 1)
		if text == string(conf) {
			t.Fatalf("%s: no heartbeat block in\n%s", n, conf)
		}
		if err := os.WriteFile(l.ConfigPath(n), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		at := time.Now()
		out, err := exec.Command(l.DirectorBin, "reload", "--socket", filepath.Join(l.Dir, n+".sock")).CombinedOutput()
		t.Logf("MEASURED %s reload with agent_keys scoped: %v: %s", n, time.Since(at).Round(time.Millisecond), strings.TrimSpace(string(out)))
		if err != nil {
			t.Fatalf("reload %s: %v", n, err)
		}
		waitHeard(n+" scoped", at)
	}

	// 3. The cluster secret no longer opens a report.
	before, err := l.Status("dir1")
	if err != nil {
		t.Fatal(err)
	}
	rs1 := netip.MustParseAddr(prodlab.RSIPs["rs1"])
	sid, _ := hbproto.NewSessionID()
	legacy, err := hbproto.NewSealer([]byte(prodlab.PairSecret), sid).SealAgent(time.Now(), &hbproto.AgentReport{
		Node: "rs1", RealIP: rs1, State: hbproto.StateMaintenance, Reason: "sealed with the retired cluster key"})
	if err != nil {
		t.Fatal(err)
	}
	sendUDP(t, l.Net, "rs1", rs1, netip.AddrPortFrom(netip.MustParseAddr(prodlab.DirIPs["dir1"]), hbproto.DefaultPort), legacy, 1)
	testutil.Settle(time.Second) // the director has had the report long enough to count it
	after, err := l.Status("dir1")
	if err != nil {
		t.Fatal(err)
	}
	if after.Heartbeat.Dropped["mac"] <= before.Heartbeat.Dropped["mac"] {
		t.Errorf("a report sealed with the cluster secret was not refused: drops %v -> %v", before.Heartbeat.Dropped, after.Heartbeat.Dropped)
	}

	rep := wait()
	t.Logf("MEASURED load across the migration: %d requests, %d failed", rep.Sent, rep.Failed)
	undisturbed(t, "the migration", rep, stopVIP(), weights(), "rs1, rs2 weights in dir1")
}

// undisturbed fails t if, during what, a request of rep failed, a VIP
// sample was not dir1 alone, or a weight sample (two weights, named by
// weightsOf) was not 1, 1; the first bad sample of each kind is reported.
func undisturbed(t *testing.T, what string, rep *loadgen.Report, vip []haVIPSample, weights [][2]int, weightsOf string) {
	t.Helper()
	if rep.Failed != 0 {
		t.Errorf("%d requests failed during %s: %v", rep.Failed, what, rep.Errors)
	}
	for _, s := range vip {
		if len(s.holders) != 1 || s.holders[0] != "dir1" {
			t.Errorf("VIP held by %v at %s during %s, want dir1 alone", s.holders, s.at.Format("15:04:05.000"), what)
			break
		}
	}
	for _, w := range weights {
		if w != [2]int{1, 1} {
			t.Errorf("%s went to %v during %s", weightsOf, w, what)
			break
		}
	}
}
