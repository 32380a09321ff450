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
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// Bounds of one run.
const (
	snapBound    = 30 * time.Second // one snapshot
	tcpdumpReady = 15 * time.Second // tcpdump printing "listening on"
	stopBound    = 10 * time.Second // SIGTERM until the daemon exits
	dumpStop     = 5 * time.Second  // SIGTERM until tcpdump exits
	dadBound     = 5 * time.Second  // IPv6 link-local addresses leaving DAD
	readyBound   = 30 * time.Second // the daemon's ready line
	outputTail   = 1500             // bytes of a daemon's output kept
	hostName     = "d"              // the lab host the daemon runs on
)

// Implementations under test.
const (
	implKeepalived = "keepalived"
	implTandem     = "tandem"
)

// readyMarker is what each daemon prints once it runs: keepalived's VRRP
// child ends its start with "Startup complete", tandem-director logs
// msg=ready once IPVS is reconciled and before its instances start.
var readyMarker = map[string]string{implKeepalived: "Startup complete", implTandem: "msg=ready"}

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
	phases  []string // "name=duration" of each step, for the verbose log
}

// phase records the time since *last under name.
func (ro *runOut) phase(name string, last *time.Time) {
	now := time.Now()
	ro.phases = append(ro.phases, fmt.Sprintf("%s=%v", name, now.Sub(*last).Round(10*time.Millisecond)))
	*last = now
}

// ipBatch is what one `ip -o -batch` prints for a snapshot: addresses of
// both families, links, and the family's routes and rules.
const ipBatch = "addr show\nlink show\nroute show table all\nrule show\n"

// ipv6Batch adds the IPv6 routes and rules.
const ipv6Batch = "route show table all\nrule show\n"

// Line shapes of `ip -o` output, to sort one batch's lines into classes.
var (
	reLinkLine = regexp.MustCompile(`^\d+: [^ ]+: <`)
	reAddrLine = regexp.MustCompile(`^\d+: [^ ]+\s+inet6? `)
	reRuleLine = regexp.MustCompile(`^\d+:\s+(not )?(from|to|iif|oif|fwmark|lookup|l3mdev|uidrange|ipproto|sport|dport|tun_id|priority)\b`)
)

// classifyIP sorts the lines of an ip batch into classes; prefix is put
// before route and rule lines ("inet6 " for the IPv6 batch).
func classifyIP(out, prefix string, raw map[string][]string) {
	for _, l := range strings.Split(out, "\n") {
		// ip prints this about a veth whose peer namespace it cannot
		// name; it is not state.
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "Error: Peer netns reference is invalid") {
			continue
		}
		switch {
		case reLinkLine.MatchString(l):
			raw[ClassLink] = append(raw[ClassLink], l)
		case reAddrLine.MatchString(l):
			raw[ClassAddr] = append(raw[ClassAddr], l)
		case reRuleLine.MatchString(l):
			raw[ClassRule] = append(raw[ClassRule], prefix+l)
		default:
			raw[ClassRoute] = append(raw[ClassRoute], prefix+l)
		}
	}
}

// snapshot reads the state of the lab's daemon host: one ip batch (two
// with IPv6), and nft and ipvsadm only when the plan says the file can
// touch them. The IPVS table itself is read by firstTable.
func snapshot(lab *netlab.Lab, tl tools, plan Plan, dir, impl string) (Snapshot, error) {
	ctx, cancel := context.WithTimeout(context.Background(), snapBound)
	defer cancel()
	raw := map[string][]string{}
	run := func(argv ...string) (string, error) {
		out, err := lab.ExecContext(ctx, hostName, argv...)
		if err != nil {
			return "", fmt.Errorf("snapshot: %w", err)
		}
		return out, nil
	}
	// Without a family, addr and link show every family, route and rule
	// IPv4 only.
	batches := []struct{ family, script, prefix string }{{"", ipBatch, ""}}
	if plan.IPv6 {
		batches = append(batches, struct{ family, script, prefix string }{"-6", ipv6Batch, "inet6 "})
	}
	for i, b := range batches {
		f := filepath.Join(dir, fmt.Sprintf("%s-ip-batch-%d", impl, i))
		if err := os.WriteFile(f, []byte(b.script), 0o644); err != nil {
			return nil, err
		}
		args := []string{tl.ip, "-o", "-batch", f}
		if b.family != "" {
			args = []string{tl.ip, "-o", b.family, "-batch", f}
		}
		out, err := run(args...)
		if err != nil {
			return nil, err
		}
		classifyIP(out, b.prefix, raw)
	}
	if plan.Firewall {
		out, err := run(tl.nft, "list", "ruleset")
		if err != nil {
			return nil, err
		}
		raw[ClassFirewall] = strings.Split(out, "\n")
	}
	if plan.Syncd {
		out, err := run(tl.ipvsadm, "-Ln", "--daemon")
		if err != nil {
			return nil, err
		}
		raw[ClassSyncd] = strings.Split(out, "\n")
	}
	if plan.Timeouts {
		out, err := run(tl.ipvsadm, "-Ln", "--timeout")
		if err != nil {
			return nil, err
		}
		raw[ClassTimeout] = strings.Split(out, "\n")
	}
	fix := map[string]func(string) string{ClassAddr: NormAddr, ClassLink: NormLink, ClassRoute: NormRoute}
	s := Snapshot{}
	for c, ls := range raw {
		s[c] = Lines(strings.Join(ls, "\n"), fix[c])
	}
	return s, nil
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
	var tentative int
	var listErr error
	testutil.WaitFor(dadBound, func() bool {
		addrs, err := nl.AddrList(nil, netlink.FAMILY_V6)
		if errors.Is(err, netlink.ErrDumpInterrupted) {
			addrs = []netlink.Addr{{Flags: unix.IFA_F_TENTATIVE}} // raced a change: read again
		} else if err != nil {
			listErr = err
			return true
		}
		tentative = 0
		for _, a := range addrs {
			if a.Flags&unix.IFA_F_TENTATIVE != 0 {
				tentative++
			}
		}
		return tentative == 0
	})
	if listErr != nil {
		return fmt.Errorf("list IPv6 addresses: %w", listErr)
	}
	if tentative != 0 {
		return fmt.Errorf("%d IPv6 addresses still tentative after %v", tentative, dadBound)
	}
	return nil
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
	if os.Getenv("TANDEM_KADIFF_VERBOSE") == "2" {
		return strings.TrimSpace(s)
	}
	if len(s) > outputTail {
		s = "…" + s[len(s)-outputTail:]
	}
	return strings.TrimSpace(s)
}

// runOne runs impl on file in a fresh lab and returns what it programmed.
func runOne(tl tools, impl, file string, plan Plan, dir string) (ro runOut, err error) {
	start := time.Now()
	last := start
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
	ro.phase("lab", &last)
	base, err := snapshot(lab, tl, plan, dir, impl)
	if err != nil {
		return ro, fmt.Errorf("baseline %w", err)
	}
	ro.phase("baseline", &last)
	// IPVS entries of a dying namespace upset every other namespace's
	// listing (see e2e/bench/reconcile): empty the table and stop the
	// sync daemons before the lab goes.
	defer func() {
		var script []string
		if plan.IPVS {
			script = append(script, tl.ipvsadm+" -C")
		}
		if plan.Syncd {
			script = append(script, tl.ipvsadm+" --stop-daemon master 2>/dev/null", tl.ipvsadm+" --stop-daemon backup 2>/dev/null")
		}
		if len(script) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), snapBound)
		defer cancel()
		if out, cerr := lab.ExecContext(ctx, hostName, tl.sh, "-c", strings.Join(script, "; ")+"; true"); cerr != nil {
			err = errors.Join(err, fmt.Errorf("ipvsadm -C: %w\n%s", cerr, out))
		}
		ro.phase("ipvsadm-C", &last)
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
	ro.phase("tcpdump", &last)

	d, err := lab.Start(hostName, daemonArgv(tl, impl, file, dir)...)
	if err != nil {
		return ro, err
	}
	// Settle counts from the daemon's own "ready" line: under TCG, with
	// other runs beside it, a daemon may take seconds to start.
	readyAt := make(chan time.Time, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), readyBound)
		defer cancel()
		_ = d.WaitOutput(ctx, readyMarker[impl])
		readyAt <- time.Now()
	}()
	var ipvs []string
	if plan.IPVS {
		// The table as first programmed, before any health check could
		// conclude: keepalived starts each checker after a random warmup
		// of up to delay_loop, so what the checks do later is not
		// comparable at a fixed time.
		if ipvs, err = firstTable(lab, tl, d, time.Now().Add(readyBound)); err != nil {
			return ro, err
		}
		ro.phase("ipvs", &last)
	}
	t0 := time.Now()
	if len(plan.Capture) > 0 {
		t0 = <-readyAt
		ro.phase("ready", &last)
	}
	from, to := t0.Add(plan.Settle), t0.Add(plan.Settle+plan.Window)
	timer := time.NewTimer(time.Until(to))
	select {
	case <-d.Done():
		ro.exited = true
	case <-timer.C:
	}
	timer.Stop()
	ro.phase("wait", &last)
	var after Snapshot
	if !ro.exited {
		if after, err = snapshot(lab, tl, plan, dir, impl); err != nil {
			return ro, err
		}
		if plan.IPVS {
			after[ClassIPVS] = ipvs
		}
		ro.phase("snapshot", &last)
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
	ro.phase("stop", &last)
	for _, p := range dumps {
		_ = p.Stop(dumpStop)
	}
	ro.phase("tcpdump-stop", &last)
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

// Polling of the first table.
const (
	tablePoll = 150 * time.Millisecond
	// tableStable is how many further identical reads make a table
	// stable: under load a daemon can pause between its service and its
	// destination batches for longer than one poll.
	tableStable = 3
)

// firstTable polls ipvsadm -Sn until it reads the same non-empty table
// tableStable+1 times in a row, the daemon exits or until passes; it returns the last
// read (empty when the daemon never programmed anything).
func firstTable(lab *netlab.Lab, tl tools, d *netlab.Process, until time.Time) ([]string, error) {
	var prev []string
	same := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), snapBound)
		out, err := lab.ExecContext(ctx, hostName, tl.ipvsadm, "-Sn")
		cancel()
		if err != nil {
			return nil, fmt.Errorf("ipvsadm -Sn: %w", err)
		}
		cur := Lines(out, nil)
		if len(cur) > 0 && slices.Equal(cur, prev) {
			same++
		} else {
			same = 0
		}
		if same == tableStable {
			return cur, nil
		}
		prev = cur
		select {
		case <-d.Done():
			return prev, nil
		case <-time.After(tablePoll):
		}
		if time.Now().After(until) {
			return prev, nil
		}
	}
}
