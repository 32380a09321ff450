package guest

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/drlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// requests is how many HTTP requests each scenario sends.
const requests = 20

// TestGuestDR is the foundation DR scenario: IPVS (moby/ipvs, lc, two Route
// destinations) on the director, VIP on lo plus the nft arp table on the
// real servers. Every request succeeds, both real servers answer, replies
// bypass the director, and only the director answers ARP for the VIP.
func TestGuestDR(t *testing.T) {
	testutil.InVM(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lab, err := drlab.New(t, drlab.Options{ArpTable: true})
	if err != nil {
		t.Fatal(err)
	}

	checkIPVSAdm(t, lab)

	capture, err := lab.StartCapture(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tally := lab.Requests(ctx, requests)
	sum, err := capture.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("requests: %v, failed %d", tally.Served, tally.Failed)
	t.Logf("director capture: %s", sum)
	if tally.Failed != 0 || tally.Total() != requests {
		t.Errorf("%d of %d requests failed: %v", tally.Failed, tally.Total(), tally.Errors)
	}
	for _, rs := range drlab.RealServers() {
		if tally.Served[rs] == 0 {
			t.Errorf("%s answered no request; served: %v", rs, tally.Served)
		}
		if sum.Forwarded[rs] == 0 {
			t.Errorf("the director forwarded nothing to %s's MAC", rs)
		}
	}
	if sum.DirectorReplies != 0 {
		t.Errorf("the director sent %d packets from the VIP: replies did not bypass it\n%s",
			sum.DirectorReplies, strings.Join(sum.Lines, "\n"))
	}
	if sum.ClientSYNs != requests {
		t.Errorf("the director saw %d client SYNs, want %d (every connection through the director); tcpdump: %s\n%s",
			sum.ClientSYNs, requests, sum.Counters, strings.Join(sum.Lines, "\n"))
	}
	if stats, err := lab.SettledStats(ctx, requests); err != nil {
		t.Error(err)
	} else {
		var conns uint32
		for _, rs := range drlab.RealServers() {
			t.Logf("ipvs counters %s: connections %d, packets in %d, packets out %d", rs, stats[rs].Connections, stats[rs].PacketsIn, stats[rs].PacketsOut)
			conns += stats[rs].Connections
			if stats[rs].PacketsOut != 0 {
				t.Errorf("ipvs counted %d outgoing packets for %s: in DR the director never sees replies", stats[rs].PacketsOut, rs)
			}
		}
		if conns != requests {
			t.Errorf("ipvs counted %d connections, want %d", conns, requests)
		}
	}

	replies, out, err := lab.Arping(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("arping %s from client: replies by host %v", drlab.VIP, replies)
	if len(replies) != 1 || replies[drlab.Director] == 0 {
		t.Errorf("want ARP replies for the VIP from the director only, got %v\n%s", replies, out)
	}
	mac, state, err := lab.ClientNeighbor()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("client neighbour %s: %s %s (%s)", drlab.VIP, mac, state, lab.HostOf(mac.String()))
	if mac.String() != lab.MACs[drlab.Director].String() {
		t.Errorf("client's neighbour entry for the VIP is %s (%s), want the director's %s",
			mac, lab.HostOf(mac.String()), lab.MACs[drlab.Director])
	}
}

// TestGuestDRWithoutArpTable is the negative control: the same lab with
// the real servers left at the default arp sysctls and no arp table. The
// seed's "works sometimes" failure must show: real servers answer ARP for
// the VIP, the client's neighbour entry ends up with a real server's MAC
// and requests bypass the director. The test passes when it does.
func TestGuestDRWithoutArpTable(t *testing.T) {
	testutil.InVM(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lab, err := drlab.New(t, drlab.Options{ArpTable: false})
	if err != nil {
		t.Fatal(err)
	}
	capture, err := lab.StartCapture(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tally := lab.Requests(ctx, requests)
	sum, err := capture.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mac, state, err := lab.ClientNeighbor()
	if err != nil {
		t.Fatal(err)
	}
	replies, out, err := lab.Arping(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("requests: %v, failed %d", tally.Served, tally.Failed)
	t.Logf("director capture: %s", sum)
	t.Logf("client neighbour %s after the requests: %s %s (%s)", drlab.VIP, mac, state, lab.HostOf(mac.String()))
	t.Logf("arping %s from client: replies by host %v", drlab.VIP, replies)

	rsAnswersARP := replies[drlab.RS1]+replies[drlab.RS2] > 0
	neighOnRS := lab.HostOf(mac.String()) == drlab.RS1 || lab.HostOf(mac.String()) == drlab.RS2
	bypassed := requests - sum.ClientSYNs
	if !rsAnswersARP {
		t.Errorf("failure mode not shown: only %v answered ARP for the VIP\n%s", replies, out)
	}
	if !neighOnRS && bypassed == 0 {
		t.Errorf("failure mode not shown: the client kept the director's MAC and all %d connections went through the director", requests)
	}
	if t.Failed() {
		return
	}
	t.Logf("failure mode demonstrated: real servers answer ARP for the VIP; client's VIP entry on %s; %d of %d connections bypassed the director",
		lab.HostOf(mac.String()), bypassed, requests)
}

var (
	ipvsService = regexp.MustCompile(`(?m)^TCP\s+` + regexp.QuoteMeta(drlab.VIP) + `:80\s+lc\b`)
	ipvsRoute   = regexp.MustCompile(`(?m)^\s+->\s+(10\.99\.0\.\d+):80\s+Route\s+1\b`)
)

// checkIPVSAdm compares moby/ipvs's configuration with the reference
// tool's view.
func checkIPVSAdm(t *testing.T, lab *drlab.Lab) {
	t.Helper()
	out, err := lab.IPVSAdm()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ipvsadm -Ln on the director:\n%s", out)
	if !ipvsService.MatchString(out) {
		t.Errorf("ipvsadm -Ln: no service TCP %s:80 lc", drlab.VIP)
	}
	got := map[string]bool{}
	for _, m := range ipvsRoute.FindAllStringSubmatch(out, -1) {
		got[m[1]] = true
	}
	if len(got) != 2 || !got[drlab.RS1IP] || !got[drlab.RS2IP] {
		t.Errorf("ipvsadm -Ln: Route destinations %v, want %s and %s", got, drlab.RS1IP, drlab.RS2IP)
	}
}
