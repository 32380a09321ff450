package kadiff

// One run of one daemon on one file, inside the guest: a fresh lab built
// from the file's Plan, a baseline snapshot, tcpdump on the VRRP
// interfaces, the daemon for Settle + Window, a second snapshot, the
// daemon stopped, IPVS emptied, the lab deleted.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tandemlb/tandem/e2e/netlab"
)

// Bounds of one run.
const (
	snapBound    = 30 * time.Second // one snapshot script
	tcpdumpReady = 15 * time.Second // tcpdump printing "listening on"
	stopBound    = 10 * time.Second // SIGTERM until the daemon exits
	dumpStop     = 5 * time.Second  // SIGTERM until tcpdump exits
	dadBound     = 5 * time.Second  // IPv6 link-local addresses leaving DAD
	outputTail   = 1500             // bytes of a daemon's output kept
	hostName     = "d"              // the lab host the daemon runs on
)

// Implementations under test.
const (
	implKeepalived = "keepalived"
	implTandem     = "tandem"
)

// tools are the programs a run needs, resolved once.
type tools struct {
	keepalived, director, ipvsadm, ip, nft, tcpdump, sh string
}

// runOut is what one run gives.
type runOut struct {
	snap    Snapshot // delta from the baseline; adverts whole
	exited  bool     // the daemon exited before the capture
	output  string   // tail of the daemon's output
	elapsed time.Duration
}

// snapScript prints every class after a marker line; ip -6 only with
// IPv6.
func snapScript(tl tools, ipv6 bool) string {
	parts := []struct{ class, cmd string }{
		{ClassIPVS, tl.ipvsadm + " -Sn"},
		{ClassSyncd, tl.ipvsadm + " -Ln --daemon"},
		{ClassTimeout, tl.ipvsadm + " -Ln --timeout"},
		{ClassAddr, tl.ip + " -o addr"},
		{ClassLink, tl.ip + " -o link"},
		{ClassRoute, tl.ip + " -4 route show table all"},
		{ClassRule, tl.ip + " -4 rule"},
		{ClassFirewall, tl.nft + " list ruleset"},
	}
	if ipv6 {
		parts = append(parts,
			struct{ class, cmd string }{ClassRoute, tl.ip + " -6 route show table all | sed 's/^/inet6 /'"},
			struct{ class, cmd string }{ClassRule, tl.ip + " -6 rule | sed 's/^/inet6 /'"})
	}
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "echo '@@ %s'; %s 2>&1; ", p.class, p.cmd)
	}
	return b.String()
}

// parseSnap splits snapScript's output into a Snapshot.
func parseSnap(out string) Snapshot {
	raw := map[string]*strings.Builder{}
	var cur *strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if c, ok := strings.CutPrefix(l, "@@ "); ok {
			if raw[c] == nil {
				raw[c] = &strings.Builder{}
			}
			cur = raw[c]
			continue
		}
		if cur != nil {
			cur.WriteString(l + "\n")
		}
	}
	fix := map[string]func(string) string{ClassAddr: NormAddr, ClassLink: NormLink, ClassRoute: NormRoute}
	s := Snapshot{}
	for c, b := range raw {
		s[c] = Lines(b.String(), fix[c])
	}
	return s
}

func snapshot(lab *netlab.Lab, tl tools, ipv6 bool) (Snapshot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), snapBound)
	defer cancel()
	out, err := lab.ExecContext(ctx, hostName, tl.sh, "-c", snapScript(tl, ipv6))
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return parseSnap(out), nil
}

// buildLab creates the plan's namespace: the daemon's host with one veth
// per link, each into a bridge of its own in the lab's switch namespace.
func buildLab(plan Plan) (*netlab.Lab, error) {
	h := netlab.HostSpec{Name: hostName}
	for i, l := range plan.Links {
		ls := netlab.LinkSpec{Name: l.Name, Segment: fmt.Sprintf("s%d", i)}
		for _, a := range l.Addrs {
			ls.Addrs = append(ls.Addrs, a.String())
		}
		h.Links = append(h.Links, ls)
	}
	for _, r := range plan.Routes {
		h.Routes = append(h.Routes, netlab.RouteSpec{Dst: r.Dst.String(), Dev: r.Dev})
	}
	lab, err := netlab.New(nil, netlab.Spec{Hosts: []netlab.HostSpec{h}, EnableIPv6: plan.IPv6})
	if err != nil {
		return nil, err
	}
	nl, err := lab.Netlink(hostName)
	if err != nil {
		return lab, err
	}
	mac, _ := net.ParseMAC(NeighbourMAC)
	for _, n := range plan.Neighbours {
		lk, err := nl.LinkByName(n.Dev)
		if err != nil {
			return lab, fmt.Errorf("neighbour %s: %w", n.Addr, err)
		}
		fam := netlink.FAMILY_V4
		if n.Addr.Is6() {
			fam = netlink.FAMILY_V6
		}
		err = nl.NeighSet(&netlink.Neigh{LinkIndex: lk.Attrs().Index, Family: fam, State: netlink.NUD_PERMANENT,
			IP: net.IP(n.Addr.AsSlice()), HardwareAddr: mac})
		if err != nil {
			return lab, fmt.Errorf("neighbour %s dev %s: %w", n.Addr, n.Dev, err)
		}
	}
	if plan.IPv6 {
		if err := waitDAD(nl); err != nil {
			return lab, err
		}
	}
	return lab, nil
}

// waitDAD waits until no IPv6 address is tentative, so that both daemons
// start with usable link-local addresses.
func waitDAD(nl *netlink.Handle) error {
	deadline := time.Now().Add(dadBound)
	for {
		addrs, err := nl.AddrList(nil, netlink.FAMILY_V6)
		if err != nil {
			return fmt.Errorf("list IPv6 addresses: %w", err)
		}
		tentative := 0
		for _, a := range addrs {
			if a.Flags&unix.IFA_F_TENTATIVE != 0 {
				tentative++
			}
		}
		if tentative == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d IPv6 addresses still tentative after %v", tentative, dadBound)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// daemonArgv is the command line of impl on file, its state in dir.
func daemonArgv(tl tools, impl, file, dir string) []string {
	if impl == implKeepalived {
		return []string{tl.keepalived, "-n", "-l", "-D", "-f", file,
			"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"), "-c", filepath.Join(dir, "checkers.pid")}
	}
	return []string{tl.director, "run", "--config", file, "--socket", filepath.Join(dir, "ctl.sock")}
}

func tail(s string) string {
	if len(s) > outputTail {
		s = "…" + s[len(s)-outputTail:]
	}
	return strings.TrimSpace(s)
}

// runOne runs impl on file in a fresh lab and returns what it programmed.
func runOne(tl tools, impl, file string, plan Plan, dir string) (ro runOut, err error) {
	start := time.Now()
	defer func() { ro.elapsed = time.Since(start) }()
	lab, err := buildLab(plan)
	if lab != nil {
		defer func() {
			if cerr := lab.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("lab teardown: %w", cerr))
			}
		}()
	}
	if err != nil {
		return ro, fmt.Errorf("lab: %w", err)
	}
	base, err := snapshot(lab, tl, plan.IPv6)
	if err != nil {
		return ro, fmt.Errorf("baseline %w", err)
	}
	// IPVS entries of a dying namespace upset every other namespace's
	// listing (see e2e/bench/reconcile): empty the table and stop the
	// sync daemons before the lab goes.
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), snapBound)
		defer cancel()
		script := tl.ipvsadm + " -C; " + tl.ipvsadm + " --stop-daemon master 2>/dev/null; " + tl.ipvsadm + " --stop-daemon backup 2>/dev/null; true"
		if out, cerr := lab.ExecContext(ctx, hostName, tl.sh, "-c", script); cerr != nil {
			err = errors.Join(err, fmt.Errorf("ipvsadm -C: %w\n%s", cerr, out))
		}
	}()

	// tcpdump on every VRRP interface, ready before the daemon starts.
	var dumps []*netlab.Process
	var pcaps []string
	for _, ifc := range plan.Capture {
		pc := filepath.Join(dir, impl+"-"+ifc+".pcap")
		p, err := lab.Start(hostName, tl.tcpdump, "-i", ifc, "-n", "-p", "-U", "--immediate-mode", "-Z", "root",
			"-w", pc, "ip proto 112 or ip proto 51 or ip6 proto 112")
		if err != nil {
			return ro, err
		}
		dumps = append(dumps, p)
		pcaps = append(pcaps, pc)
	}
	for _, p := range dumps {
		ctx, cancel := context.WithTimeout(context.Background(), tcpdumpReady)
		err := p.WaitOutput(ctx, "listening on")
		cancel()
		if err != nil {
			return ro, fmt.Errorf("tcpdump: %w", err)
		}
	}

	t0 := time.Now()
	d, err := lab.Start(hostName, daemonArgv(tl, impl, file, dir)...)
	if err != nil {
		return ro, err
	}
	from, to := t0.Add(plan.Settle), t0.Add(plan.Settle+plan.Window)
	timer := time.NewTimer(time.Until(to))
	select {
	case <-d.Done():
		ro.exited = true
	case <-timer.C:
	}
	timer.Stop()
	var after Snapshot
	if !ro.exited {
		if after, err = snapshot(lab, tl, plan.IPv6); err != nil {
			return ro, err
		}
	}
	// Stop the daemon (SIGTERM, bounded, then SIGKILL to its group) and
	// the captures.
	if err := d.Signal(syscall.SIGTERM); err != nil {
		return ro, err
	}
	select {
	case <-d.Done():
	case <-time.After(stopBound):
		_ = d.Stop(0)
	}
	ro.output = tail(d.Output())
	for _, p := range dumps {
		_ = p.Stop(dumpStop)
	}
	if ro.exited {
		return ro, nil
	}
	ro.snap = Delta(base, after)
	var adverts []string
	for i, pc := range pcaps {
		b, err := os.ReadFile(pc)
		if err != nil {
			return ro, fmt.Errorf("capture on %s: %w", plan.Capture[i], err)
		}
		frames, err := ReadPcap(b)
		if err != nil {
			return ro, fmt.Errorf("capture on %s: %w", plan.Capture[i], err)
		}
		for _, f := range frames {
			if f.TS.Before(from) || f.TS.After(to) {
				continue
			}
			if a, ok := DecodeFrame(f); ok {
				adverts = append(adverts, plan.Capture[i]+": "+a.Line())
			}
		}
	}
	ro.snap[ClassAdvert] = Lines(strings.Join(adverts, "\n"), nil)
	return ro, nil
}
