package cli_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv4"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The peer lab: lb1 (the master, priority 150) and lb2 (the backup, the
// seed's priority 100) on one bridge, each in its own namespace, running
// vrrpOnly (the seed's vrrp_instance) and nothing else. keepalived is run
// as e2e/bench/failover runs it; the events are the benchmark's.
const (
	keepalivedBin = "/usr/sbin/keepalived"
	peerAdvertInt = time.Second // vrrpOnly's advert_int
	peerSample    = 10 * time.Millisecond
	peerAfter     = 500 * time.Millisecond // sampling after the takeover
)

var (
	peerVIP    = netip.MustParseAddr("192.0.2.100")
	peerMaster = netip.MustParseAddr("192.0.2.2") // lb1
	vrrpGroup  = net.IPv4(224, 0, 0, 18)
)

// Implementations and events.
const (
	implKA     = "keepalived"
	implTandem = "tandem"
	evStop     = "clean stop (SIGTERM)"
	evKill     = "crash (SIGKILL + link down)"
)

type peerCase struct{ master, backup string }

func (c peerCase) String() string { return c.master + " → " + c.backup }

// peerResult is one case and event.
type peerResult struct {
	took    time.Duration // event → first sample with the VIP on the backup
	samples int           // samples taken while both daemons ran
	both    int           // samples where both live hosts held the VIP
	lost    int           // samples after the takeover without the VIP on the backup
	err     error
}

// TestNetnsKeepalivedPeerNoKey: the seed's vrrp_instance in a
// keepalived.conf, with no other file (no heartbeat key, no --socket), runs
// as the peer of a real keepalived 2.2.7. For keepalived ⇄ keepalived (the
// baseline), keepalived master with a tandem-director backup and the
// reverse, the master is stopped cleanly (SIGTERM) or crashes (its process
// group frozen, its switch port cut, then SIGKILL, as e2e/bench/failover
// does: a killed daemon leaves its VIP on a live host). The event is timed
// right after one of the master's adverts reaches the backup, so that a
// crash always costs a whole Master_Down_Interval and the implementations
// compare without the advert phase's second of noise. Asserted:
//   - every Tandem takeover is within one advert interval (1 s) of
//     keepalived's own for the same event;
//   - zero samples (every 10 ms, netlink in each namespace) in which both
//     live hosts hold the VIP, with no tolerance around the handover: a
//     clean stop deletes the VIP right after the priority-0 advert and the
//     backup adds it Skew_Time (0.61 s) later; a crashed master is dead
//     (link down) from the event on, so its leftover VIP does not count;
//   - the backup keeps the VIP after it took it;
//   - each tandem-director started keyless (the one warning of the missing
//     key, even when this host has /etc/tandem/heartbeat.key: it is hidden
//     then) and on the control socket derived from its namespace.
//
// The six case/event runs each get a lab of their own and run at once.
func TestNetnsKeepalivedPeerNoKey(t *testing.T) {
	testutil.Netns(t)
	bin := testutil.Bin(t, "tandem-director")
	if _, err := os.Stat(keepalivedBin); err != nil {
		t.Fatalf("keepalived is needed (apt-get install keepalived): %v", err)
	}
	hide := ""
	if _, err := os.Stat(config.DefaultHeartbeatKeyFile); err == nil {
		hide = filepath.Dir(config.DefaultHeartbeatKeyFile)
		t.Logf("%s exists on this host: each tandem-director runs in a private mount namespace with an empty tmpfs on %s",
			config.DefaultHeartbeatKeyFile, hide)
	} else {
		t.Logf("%s: %v (the directors start as on a fresh host)", config.DefaultHeartbeatKeyFile, err)
	}
	dir := t.TempDir()

	cases := []peerCase{{implKA, implKA}, {implKA, implTandem}, {implTandem, implKA}}
	events := []string{evStop, evKill}
	results := map[peerCase]map[string]*peerResult{}
	var wg sync.WaitGroup
	for ci, c := range cases {
		results[c] = map[string]*peerResult{}
		for ei, ev := range events {
			r := &peerResult{}
			results[c][ev] = r
			run := &peerRun{bin: bin, hide: hide, dir: filepath.Join(dir, fmt.Sprintf("%d%d", ci, ei)), c: c, ev: ev}
			wg.Go(func() {
				*r = run.run()
			})
		}
	}
	wg.Wait()

	var tb strings.Builder
	tw := tabwriter.NewWriter(&tb, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "master → backup\t%s\t%s\ttwo owners\n", evStop, evKill)
	for _, c := range cases {
		fmt.Fprintf(tw, "%s", c)
		samples, both := 0, 0
		for _, ev := range events {
			r, ref := results[c][ev], results[cases[0]][ev]
			samples, both = samples+r.samples, both+r.both
			switch {
			case r.err != nil:
				fmt.Fprintf(tw, "\tFAILED")
				t.Errorf("%s, %s: %v", c, ev, r.err)
				continue
			case c == cases[0]:
				fmt.Fprintf(tw, "\t%.3f s", r.took.Seconds())
			case ref.err != nil:
				fmt.Fprintf(tw, "\t%.3f s (no baseline)", r.took.Seconds())
			default:
				d := r.took - ref.took
				fmt.Fprintf(tw, "\t%.3f s (%+.3f)", r.took.Seconds(), d.Seconds())
				if d.Abs() > peerAdvertInt {
					t.Errorf("%s, %s: takeover in %v, keepalived's own %v: more than one advert interval (%v) apart",
						c, ev, r.took.Round(time.Millisecond), ref.took.Round(time.Millisecond), peerAdvertInt)
				}
			}
			if r.both > 0 {
				t.Errorf("%s, %s: both hosts held the VIP in %d of %d samples", c, ev, r.both, r.samples)
			}
			if r.lost > 0 {
				t.Errorf("%s, %s: the backup lacked the VIP in %d samples after taking it", c, ev, r.lost)
			}
		}
		fmt.Fprintf(tw, "\t%d/%d samples\n", both, samples)
	}
	tw.Flush()
	t.Logf("takeover (event → VIP on the backup, sampled every %v; Tandem's difference to keepalived's in brackets):\n%s", peerSample, tb.String())
}

// peerRun is one case and event in a lab of its own.
type peerRun struct {
	bin  string
	hide string // directory hidden from tandem-director, "" for none
	dir  string
	c    peerCase
	ev   string

	lab *netlab.Lab
}

func (pr *peerRun) run() (res peerResult) {
	fail := func(err error) peerResult { res.err = err; return res }
	if err := os.MkdirAll(pr.dir, 0o755); err != nil {
		return fail(err)
	}
	lab, err := netlab.New(nil, netlab.Spec{Hosts: []netlab.HostSpec{
		{Name: "lb1", Addr: "192.0.2.2/24"},
		{Name: "lb2", Addr: "192.0.2.3/24"},
	}})
	if err != nil {
		return fail(err)
	}
	pr.lab = lab
	defer func() {
		if err := lab.Close(); err != nil && res.err == nil {
			res.err = fmt.Errorf("lab teardown: %w", err)
		}
	}()
	master := &peerNode{pr: pr, host: "lb1", impl: pr.c.master, prio: 150}
	backup := &peerNode{pr: pr, host: "lb2", impl: pr.c.backup, prio: 100}
	nl := map[string]*netlink.Handle{}
	for _, h := range []string{"lb1", "lb2", "sw"} {
		if nl[h], err = lab.Netlink(h); err != nil {
			return fail(err)
		}
	}

	// The master alone first: nopreempt, so it must be master before the
	// backup (whose Master_Down_Interval is only 0.2 s longer) starts.
	if err := master.start(); err != nil {
		return fail(err)
	}
	if err := waitUntil(8*time.Second, master, func() bool { return holdsVIP(nl["lb1"]) }); err != nil {
		return fail(fmt.Errorf("master never held the VIP: %w", err))
	}
	adverts, stopAdverts, err := watchAdverts(lab, "lb2", peerMaster)
	if err != nil {
		return fail(err)
	}
	defer stopAdverts()
	s := startSampler(nl["lb1"], nl["lb2"])
	defer s.close()
	if err := backup.start(); err != nil {
		return fail(err)
	}
	if err := backup.ready(); err != nil {
		return fail(err)
	}
	// Two adverts after the backup is up: it has heard the master.
	for range 2 {
		if _, err := nextAdvert(adverts); err != nil {
			return fail(err)
		}
	}
	for _, n := range []*peerNode{master, backup} {
		if err := n.exited(); err != nil {
			return fail(err)
		}
		if err := n.checkKeyless(); err != nil {
			return fail(err)
		}
	}

	// The event, right after an advert of the master reached lb2.
	if _, err := nextAdvert(adverts); err != nil {
		return fail(err)
	}
	t0 := time.Now()
	switch pr.ev {
	case evStop:
		err = master.p.Signal(syscall.SIGTERM)
	case evKill:
		s.dead(t0)
		master.signalAll(syscall.SIGSTOP)
		if err = linkDown(nl["sw"], "lb1-eth0"); err == nil {
			master.signalAll(syscall.SIGKILL)
		}
	}
	if err != nil {
		return fail(err)
	}
	var took time.Time
	testutil.WaitFor(time.Until(t0.Add(8*time.Second)), func() bool { took = s.firstHeld(t0); return !took.IsZero() })
	if took.IsZero() {
		return fail(fmt.Errorf("the backup did not take the VIP within 8s\n%s", backup.tail()))
	}
	testutil.Settle(peerAfter) // the sampler keeps watching both nodes after the takeover
	s.close()
	res.took = took.Sub(t0)
	res.samples, res.both, res.lost = s.count(took)
	if err := master.waitExit(5 * time.Second); err != nil {
		return fail(err)
	}
	if err := backup.exited(); err != nil {
		return fail(err)
	}
	if err := backup.p.Stop(5 * time.Second); err != nil {
		return fail(fmt.Errorf("%s: stop: %w", backup, err))
	}
	return res
}

// peerNode is one daemon of a peerRun.
type peerNode struct {
	pr   *peerRun
	host string
	impl string
	prio int
	p    *netlab.Process
}

func (n *peerNode) String() string { return fmt.Sprintf("%s on %s", n.impl, n.host) }

func (n *peerNode) base() string { return filepath.Join(n.pr.dir, n.host+"-"+n.impl) }

// conf is vrrpOnly with the node's priority.
func (n *peerNode) conf() (string, error) {
	c := fmt.Sprintf(vrrpOnly, n.host)
	if strings.Count(c, "priority 100\n") != 1 {
		return "", errors.New("vrrpOnly: no single `priority 100`")
	}
	return strings.Replace(c, "priority 100\n", fmt.Sprintf("priority %d\n", n.prio), 1), nil
}

func (n *peerNode) start() error {
	c, err := n.conf()
	if err != nil {
		return err
	}
	conf := n.base() + ".conf"
	if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
		return err
	}
	var argv []string
	switch n.impl {
	case implKA:
		argv = []string{keepalivedBin, "-n", "-l", "-P", "-D", "-f", conf,
			"-p", n.base() + ".pid", "-r", n.base() + ".vrrp.pid", "-c", n.base() + ".chk.pid"}
	case implTandem:
		// Nothing but --config. A key at the default path is hidden by an
		// empty tmpfs in a mount namespace of the director's own.
		argv = []string{n.pr.bin, "run", "--config", conf}
		if n.pr.hide != "" {
			argv = append([]string{"unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
				`mount -t tmpfs -o size=64k,mode=0755 tandem-nokey "$0" && exec "$@"`, n.pr.hide}, argv...)
		}
	}
	n.p, err = n.pr.lab.Start(n.host, argv...)
	return err
}

// ready waits until the daemon is up as a backup.
func (n *peerNode) ready() error {
	want := map[string]string{implKA: "Entering BACKUP STATE", implTandem: "msg=ready"}[n.impl]
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	return n.p.WaitOutput(ctx, want)
}

// checkKeyless: a tandem-director said once that it runs without the key,
// and listens on its namespace's default control socket.
func (n *peerNode) checkKeyless() error {
	if n.impl != implTandem {
		return nil
	}
	var fi syscall.Stat_t
	if err := syscall.Stat(n.pr.lab.NetnsPath(n.host), &fi); err != nil {
		return err
	}
	out := n.p.Output()
	sock := fmt.Sprintf("/run/tandem-director/director-netns-%d.sock", fi.Ino)
	if k := strings.Count(out, "the agent heartbeat listener is OFF"); k != 1 ||
		!strings.Contains(out, "heartbeat key "+config.DefaultHeartbeatKeyFile+" does not exist") {
		return fmt.Errorf("%s: %d warnings of the missing key %s, want 1:\n%s", n, k, config.DefaultHeartbeatKeyFile, out)
	}
	if !strings.Contains(out, "socket="+sock) {
		return fmt.Errorf("%s: not on %s:\n%s", n, sock, out)
	}
	return nil
}

// signalAll signals the process group and keepalived's VRRP child (by its
// pid file, in case it left the group).
func (n *peerNode) signalAll(sig syscall.Signal) {
	syscall.Kill(-n.p.Pid(), sig)
	if n.impl != implKA {
		return
	}
	if b, err := os.ReadFile(n.base() + ".vrrp.pid"); err == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 1 {
			syscall.Kill(pid, sig)
		}
	}
}

// waitExit waits for the main process, then (bounded) for keepalived's
// VRRP child.
func (n *peerNode) waitExit(limit time.Duration) error {
	select {
	case <-n.p.Done():
	case <-time.After(limit):
		return fmt.Errorf("%s did not exit within %v\n%s", n, limit, n.tail())
	}
	if n.impl != implKA {
		return nil
	}
	b, err := os.ReadFile(n.base() + ".vrrp.pid")
	if err != nil {
		return nil // removed on a clean exit
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if !testutil.WaitFor(limit, func() bool { return pid <= 1 || syscall.Kill(pid, 0) != nil }) {
		return fmt.Errorf("%s: VRRP child %d still there after %v", n, pid, limit)
	}
	return nil
}

func (n *peerNode) exited() error {
	select {
	case <-n.p.Done():
		return fmt.Errorf("%s exited: %v\n%s", n, n.p.Wait(), n.tail())
	default:
		return nil
	}
}

func (n *peerNode) tail() string {
	out := n.p.Output()
	if len(out) > 3000 {
		out = "…" + out[len(out)-3000:]
	}
	return n.String() + ":\n" + out
}

// waitUntil polls cond every 10 ms for up to limit, failing early if n exits.
func waitUntil(limit time.Duration, n *peerNode, cond func() bool) error {
	var err error
	held := testutil.WaitFor(limit, func() bool {
		if cond() {
			return true
		}
		err = n.exited()
		return err != nil
	})
	if err != nil {
		return err
	}
	if !held {
		return fmt.Errorf("not within %v\n%s", limit, n.tail())
	}
	return nil
}

func holdsVIP(nl *netlink.Handle) bool {
	link, err := nl.LinkByName("eth0")
	if err != nil {
		return false
	}
	addrs, err := nl.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == peerVIP {
			return true
		}
	}
	return false
}

// linkDown cuts a host off the bridge: its switch port goes down.
func linkDown(sw *netlink.Handle, name string) error {
	l, err := sw.LinkByName(name)
	if err != nil {
		return err
	}
	return sw.LinkSetDown(l)
}

// watchAdverts reports the arrival time of every VRRP advert with a
// non-zero priority that host receives from src, dropping what nobody
// reads.
func watchAdverts(lab *netlab.Lab, host string, src netip.Addr) (<-chan time.Time, func(), error) {
	var pc net.PacketConn
	err := lab.Do(host, func() error {
		var err error
		if pc, err = net.ListenPacket("ip4:112", "0.0.0.0"); err != nil {
			return err
		}
		ifi, err := net.InterfaceByName("eth0")
		if err == nil {
			err = ipv4.NewPacketConn(pc).JoinGroup(ifi, &net.IPAddr{IP: vrrpGroup})
		}
		if err != nil {
			pc.Close()
		}
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("advert watch on %s: %w", host, err)
	}
	ch := make(chan time.Time, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			k, from, err := pc.ReadFrom(buf) // the IPv4 header is stripped
			if err != nil {
				return
			}
			at := time.Now()
			a, ok := from.(*net.IPAddr)
			if !ok || k < 3 || buf[2] == 0 || !a.IP.Equal(src.AsSlice()) {
				continue
			}
			select {
			case ch <- at:
			default:
			}
		}
	}()
	var once sync.Once
	return ch, func() { once.Do(func() { pc.Close(); <-done }) }, nil
}

// nextAdvert drops the adverts already heard and waits for the next one.
func nextAdvert(ch <-chan time.Time) (time.Time, error) {
	for drained := false; !drained; {
		select {
		case <-ch:
		default:
			drained = true
		}
	}
	select {
	case at := <-ch:
		return at, nil
	case <-time.After(2 * peerAdvertInt):
		return time.Time{}, fmt.Errorf("no advert from the master within %v", 2*peerAdvertInt)
	}
}

// sampler asks each namespace for the VIP every 10 ms.
type sampler struct {
	mu      sync.Mutex
	samples []ownerSample
	deadAt  time.Time // lb1 is dead (cut off) from then on
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

type ownerSample struct {
	at       time.Time
	lb1, lb2 bool
}

func startSampler(lb1, lb2 *netlink.Handle) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(peerSample)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			v := ownerSample{at: time.Now(), lb1: holdsVIP(lb1), lb2: holdsVIP(lb2)}
			s.mu.Lock()
			s.samples = append(s.samples, v)
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *sampler) close() { s.once.Do(func() { close(s.stop); <-s.done }) }

func (s *sampler) dead(at time.Time) { s.mu.Lock(); s.deadAt = at; s.mu.Unlock() }

// firstHeld is the time of the first sample at or after t0 in which lb2
// holds the VIP, zero if none yet.
func (s *sampler) firstHeld(t0 time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.samples {
		if v.lb2 && !v.at.Before(t0) {
			return v.at
		}
	}
	return time.Time{}
}

// count returns the number of samples, those with two live owners, and
// those from took on in which lb2 lacks the VIP.
func (s *sampler) count(took time.Time) (samples, both, lost int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.samples {
		lb1Live := s.deadAt.IsZero() || v.at.Before(s.deadAt)
		if v.lb1 && v.lb2 && lb1Live {
			both++
		}
		if !v.at.Before(took) && !v.lb2 {
			lost++
		}
	}
	return len(s.samples), both, lost
}
