package vrrp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"golang.org/x/net/ipv6"

	"github.com/tandemlb/tandem/shared/testutil"
)

// announcement is a gratuitous ARP or unsolicited NA a client saw.
type announcement struct {
	at  time.Time
	ip  netip.Addr
	mac string
}

// listener records the announcements for vip arriving at a host.
type listener struct {
	mu   sync.Mutex
	seen []announcement
}

func (l *listener) add(a announcement) {
	l.mu.Lock()
	l.seen = append(l.seen, a)
	l.mu.Unlock()
}

// count returns how many announcements of mac arrived in [from, to).
func (l *listener) count(mac net.HardwareAddr, from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, a := range l.seen {
		if a.mac == mac.String() && !a.at.Before(from) && a.at.Before(to) {
			n++
		}
	}
	return n
}

// listenARP records gratuitous ARPs (sender IP = target IP = vip) on h's eth0.
func listenARP(t *testing.T, h *host, vip netip.Addr) *listener {
	l := &listener{}
	var c *arp.Client
	err := inNetNS(h.nsh, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		p, err := packet.Listen(ifi, packet.Raw, int(ethernet.EtherTypeARP), nil)
		if err != nil {
			return err
		}
		c, err = arp.New(ifi, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			p, _, err := c.Read()
			if err != nil {
				if strings.Contains(err.Error(), "closed") {
					return
				}
				continue
			}
			if p.SenderIP == vip && p.TargetIP == vip {
				l.add(announcement{time.Now(), vip, p.SenderHardwareAddr.String()})
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return l
}

// listenNA records unsolicited neighbour advertisements for vip on h.
func listenNA(t *testing.T, h *host, vip netip.Addr) *listener {
	l := &listener{}
	var pc *ipv6.PacketConn
	err := inNetNS(h.nsh, func() error {
		c, err := net.ListenPacket("ip6:ipv6-icmp", "::")
		if err != nil {
			return err
		}
		pc = ipv6.NewPacketConn(c)
		var f ipv6.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv6.ICMPTypeNeighborAdvertisement)
		if err := pc.SetICMPFilter(&f); err != nil {
			return err
		}
		return pc.SetControlMessage(ipv6.FlagHopLimit, true)
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 1500)
		for {
			n, cm, _, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			if n < 32 || b[0] != 136 || cm == nil || cm.HopLimit != 255 {
				continue
			}
			target := netip.AddrFrom16([16]byte(b[8:24]))
			override := binary.BigEndian.Uint32(b[4:8])&(1<<29) != 0
			if target == vip && override && b[24] == 2 && b[25] == 1 {
				l.add(announcement{time.Now(), vip, net.HardwareAddr(b[26:32]).String()})
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return l
}

func TestNetnsKeepalivedUnicast(t *testing.T) {
	testutil.Netns(t)
	for _, v := range []int{2, 3} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			l := newLab(t, 2)
			hi := l.keepalived(0, spec{version: v, prio: 150, peer: l.hosts[1].addr})
			lo := l.tandem(1, spec{version: v, prio: 100, peer: l.hosts[0].addr})
			failover(t, vip4.Addr(), hi, lo, logOf(hi), logOf(lo))
		})
	}
}

var vip6 = netip.MustParsePrefix("2001:db8:9::100/64")

func TestNetnsIPv6(t *testing.T) {
	testutil.Netns(t)
	t.Run("tandem pair", func(t *testing.T) {
		l := newLab(t, 3)
		na := listenNA(t, l.hosts[2], vip6.Addr())
		hi := l.tandem(0, spec{version: 3, prio: 150, vip: vip6})
		lo := l.tandem(1, spec{version: 3, prio: 100, vip: vip6})
		start := time.Now()
		failover(t, vip6.Addr(), hi, lo, logOf(hi), logOf(lo))
		if n := na.count(l.hosts[1].mac, start, time.Now()); n < 5 {
			t.Errorf("client saw %d unsolicited NAs from the backup's MAC, want at least a burst of 5", n)
		}
	})
	t.Run("keepalived-master", func(t *testing.T) {
		l := newLab(t, 2)
		hi := l.keepalived(0, spec{version: 3, prio: 150, vip: vip6})
		lo := l.tandem(1, spec{version: 3, prio: 100, vip: vip6})
		failover(t, vip6.Addr(), hi, lo, logOf(hi), logOf(lo))
	})
	t.Run("tandem-master", func(t *testing.T) {
		l := newLab(t, 2)
		hi := l.tandem(0, spec{version: 3, prio: 150, vip: vip6})
		lo := l.keepalived(1, spec{version: 3, prio: 100, vip: vip6})
		failover(t, vip6.Addr(), hi, lo, logOf(hi), logOf(lo))
	})
}

// TestNetnsTrackInterface: a tracked interface going down sends the master
// to FAULT (VIP released, priority 0 sent), and back.
func TestNetnsTrackInterface(t *testing.T) {
	testutil.Netns(t)
	l := newLab(t, 2)
	sh(t, "ip", "-n", l.hosts[0].ns, "link", "add", "trk0", "type", "veth", "peer", "name", "trk1")
	sh(t, "ip", "-n", l.hosts[0].ns, "link", "set", "trk1", "up")
	sh(t, "ip", "-n", l.hosts[0].ns, "link", "set", "trk0", "up")
	hi := l.tandem(0, spec{version: 3, prio: 150, track: []string{"trk0"}})
	lo := l.tandem(1, spec{version: 3, prio: 100})
	defer func() {
		if t.Failed() {
			t.Log(logOf(hi)(), logOf(lo)())
		}
	}()
	m := newMonitor(t, l.hosts, vip4.Addr())
	m.setAlive(l.hosts[0], true)
	m.setAlive(l.hosts[1], true)
	hi.start(t)
	m.waitHolder(t, l.hosts[0], 10*time.Second, "hi alone")
	lo.start(t)
	m.holdFor(t, l.hosts[0], 1500*time.Millisecond, "lo joined")
	m.mark("track down")
	t0 := time.Now()
	sh(t, "ip", "-n", l.hosts[0].ns, "link", "set", "trk0", "down")
	m.waitHolder(t, l.hosts[1], 5*time.Second, "trk0 down on hi")
	record(t, "track_interface down on master -> backup", m.firstHeld(l.hosts[1], t0).Sub(t0))
	m.mark("track up, preempt")
	sh(t, "ip", "-n", l.hosts[0].ns, "link", "set", "trk0", "up")
	m.waitHolder(t, l.hosts[0], 8*time.Second, "trk0 up on hi: preempts")
	m.mark("end")
	lo.stop(t)
	hi.stop(t)
	m.close()
	m.check(t)
	b, _ := os.ReadFile(filepath.Join(l.dir, "notify-0.txt"))
	if !strings.Contains(string(b), "INSTANCE VI_1 FAULT 150") {
		t.Errorf("notify lacks FAULT:\n%s", b)
	}
	if !strings.Contains(hi.p.log(), "interface trk0 down") {
		t.Errorf("hi's log does not say why it left MASTER")
	}
}

// TestNetnsSplitBrain reproduces the seed's firewall trap: VRRP filtered on
// the backup (nft drop of protocol 112 on input) makes it a second master on
// the same link. The real master hears it and must re-announce the VIP with
// gratuitous ARP (once per ReannounceInterval, not on every advert); when
// the filter goes the lower-priority master must yield within one advert
// interval. Also checks the "no advertisement heard" warning and the GARP
// bursts on takeover.
func TestNetnsSplitBrain(t *testing.T) {
	testutil.Netns(t)
	l := newLab(t, 3)
	garp := listenARP(t, l.hosts[2], vip4.Addr())
	hi := l.tandem(0, spec{version: 2, prio: 150, garpDelay: time.Second})
	lo := l.tandem(1, spec{version: 2, prio: 100, garpDelay: time.Second})
	defer func() {
		if t.Failed() {
			t.Log(logOf(hi)(), logOf(lo)())
		}
	}()
	m := newMonitor(t, l.hosts[:2], vip4.Addr())
	m.setAlive(l.hosts[0], true)
	m.setAlive(l.hosts[1], true)
	t0 := time.Now()
	hi.start(t)
	at := m.waitHolder(t, l.hosts[0], 10*time.Second, "hi alone")
	lo.start(t)
	m.holdFor(t, l.hosts[0], 2500*time.Millisecond, "lo joined")
	// Takeover: a burst of 5 GARPs at once, and 5 more garp_master_delay
	// (1s here) later.
	if n := garp.count(l.hosts[0].mac, t0, at.Add(500*time.Millisecond)); n != 5 {
		t.Errorf("first burst: %d gratuitous ARPs from hi, want 5", n)
	}
	if n := garp.count(l.hosts[0].mac, at.Add(500*time.Millisecond), at.Add(2*time.Second)); n != 5 {
		t.Errorf("second burst: %d gratuitous ARPs from hi, want 5", n)
	}
	if !strings.Contains(hi.p.log(), "without having heard any advertisement") {
		t.Errorf("hi started alone but did not warn that it heard no advertisement")
	}

	m.mark("firewall")
	m.setAlive(l.hosts[1], false) // the second master is the fault under test
	sh(t, "ip", "netns", "exec", l.hosts[1].ns, "nft", "add table ip trap; add chain ip trap in { type filter hook input priority 0; }; add rule ip trap in ip protocol vrrp drop")
	testutil.Eventually(t, 6*time.Second, func() bool { return l.hosts[1].holds(vip4.Addr()) }, "the backup that hears no VRRP did not become master")
	loMaster := time.Now()
	testutil.Settle(2500 * time.Millisecond) // lo advertises ~3 times meanwhile
	if n := garp.count(l.hosts[0].mac, loMaster.Add(-100*time.Millisecond), time.Now()); n != 5 {
		t.Errorf("hi answered the second master with %d gratuitous ARPs in 2.5s, want one burst of 5", n)
	}
	if !strings.Contains(hi.p.log(), "another master at 10.9.0.2") {
		t.Errorf("hi did not log the second master")
	}

	m.mark("firewall fixed")
	healed := time.Now()
	sh(t, "ip", "netns", "exec", l.hosts[1].ns, "nft", "delete table ip trap")
	testutil.Eventually(t, 3*time.Second, func() bool { return !l.hosts[1].holds(vip4.Addr()) }, "the lower-priority master did not yield once it heard VRRP")
	record(t, "VRRP unfiltered -> second master yields", time.Since(healed))
	m.setAlive(l.hosts[1], true)
	m.holdFor(t, l.hosts[0], time.Second, "after the heal")
	m.mark("end")
	lo.stop(t)
	hi.stop(t)
	m.close()
	m.check(t)
}

// TestNetnsKeepalivedCapture captures keepalived's adverts afresh with
// tcpdump (testdata/capture.sh) and checks that Decode reads them as the
// goldens say, and that our encoder reproduces their bytes.
func TestNetnsKeepalivedCapture(t *testing.T) {
	testutil.Netns(t)
	dir := t.TempDir()
	sh(t, "bash", "testdata/capture.sh", dir)
	for _, g := range goldenAdverts {
		t.Run(g.name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, g.name+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			var hexLine string
			for _, line := range strings.Split(string(b), "\n") {
				if line != "" && !strings.HasPrefix(line, "#") {
					hexLine = line
				}
			}
			raw, err := hex.DecodeString(hexLine)
			if err != nil || len(raw) == 0 {
				t.Fatalf("capture %q: %v", hexLine, err)
			}
			ip := splitIP(t, raw)
			if ip.ttl != 255 || ip.tos != 0xc0 {
				t.Errorf("ttl %d tos %#x", ip.ttl, ip.tos)
			}
			got, err := Decode(ip.payload, ip.src, ip.dst)
			if err != nil {
				t.Fatal(err)
			}
			want := g.want
			want.Checksum = got.Checksum // IPv6 link-local source differs per run
			if diff := cmp.Diff(&want, got, cmpOptsPacket...); diff != "" {
				t.Errorf("Decode (-want +got)\n%s", diff)
			}
			out, err := got.Marshal(ip.src, ip.dst)
			if err != nil || !bytes.Equal(out, ip.payload) {
				t.Errorf("Marshal = % x, %v; keepalived sent % x", out, err, ip.payload)
			}
		})
	}
}
