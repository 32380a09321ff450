package prodlab

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// ndSetting is one kernel setting a real server may have while it holds
// an IPv6 VIP on lo.
type ndSetting struct {
	name string
	// sysctls are written on rs1 before the VIP exists, for each of the
	// interfaces "all", "default", "lo" and "eth0" where the key has
	// %s (net.ipv6.conf.%s.accept_dad).
	sysctls map[string]string
	// preAdd puts the VIP on lo before the agent starts (with flags).
	preAdd      bool
	preAddFlags int
	// proxy adds a proxy neighbour entry for the VIP on eth0.
	proxy bool
	// arpMode is the agent's arp_mode (nftables when empty).
	arpMode string
	// during runs once the agent holds the VIP, inside the capture.
	during func(t *testing.T, l *ndLab)
	// leaks is true for the control case: the kernel answers and nothing
	// guards it, so the capture must show it (the capture can see a leak).
	leaks bool
}

// ndLab is the neighbour discovery lab: a client, a "director" (dir, with
// a permanent neighbour entry VIP6 -> rs1 as IPVS DR forwarding needs) and
// a real server rs1 running tandem-backend with VIP6 on lo.
type ndLab struct {
	net              *netlab.Lab
	dir              string
	bin              string
	conf             string
	rsMAC, clientMAC string
	agent            *netlab.Process
}

func ndSysctls(kv map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range kv {
		if !strings.Contains(k, "%s") {
			out[k] = v
			continue
		}
		for _, ifc := range []string{"all", "default", "lo", "eth0"} {
			out[fmt.Sprintf(k, ifc)] = v
		}
	}
	return out
}

// TestNetnsV6NeighbourDiscovery proves from a capture of the whole LAN
// that a real server running tandem-backend with an IPv6 VIP on lo never
// answers a neighbour solicitation for the VIP (multicast or unicast),
// never sends an NA for it, an RA or a redirect, and never uses the VIP as
// the source of its own neighbour discovery, on every setting below; and
// that the one setting where the kernel does answer (proxy_ndp with
// forwarding and a proxy entry) is covered by the agent's ip6 table, by
// showing that the same setting without the table leaks.
func TestNetnsV6NeighbourDiscovery(t *testing.T) {
	testutil.Netns(t)
	bin := os.Getenv("TANDEM_BIN")
	if bin == "" {
		t.Skip("TANDEM_BIN (the directory of the built binaries, `make build`) is not set")
	}
	all := "net.ipv6.conf.%s."
	settings := []ndSetting{
		{name: "default"},
		{name: "accept_dad=0", sysctls: map[string]string{all + "accept_dad": "0"}},
		{name: "accept_dad=1", sysctls: map[string]string{all + "accept_dad": "1"}},
		{name: "accept_dad=2", sysctls: map[string]string{all + "accept_dad": "2"}},
		{name: "optimistic_dad", sysctls: map[string]string{all + "optimistic_dad": "1", all + "use_optimistic": "1"}},
		{name: "enhanced_dad=0 dad_transmits=3", sysctls: map[string]string{all + "enhanced_dad": "0", all + "dad_transmits": "3"}},
		{name: "VIP pre-added nodad", preAdd: true, preAddFlags: unix.IFA_F_NODAD},
		{name: "VIP pre-added with DAD", preAdd: true, sysctls: map[string]string{all + "accept_dad": "1"}},
		{name: "VIP pre-added optimistic", preAdd: true, preAddFlags: unix.IFA_F_OPTIMISTIC, sysctls: map[string]string{all + "optimistic_dad": "1"}},
		{name: "ndisc_notify, eth0 and lo bounced", sysctls: map[string]string{all + "ndisc_notify": "1"}, during: bounce},
		{name: "agent restarted, VIP re-added", during: restartAgent},
		{name: "forwarding=1", sysctls: map[string]string{all + "forwarding": "1"}},
		{name: "proxy_ndp without forwarding", sysctls: map[string]string{all + "proxy_ndp": "1"}, proxy: true},
		{name: "proxy_ndp forwarding proxy entry", sysctls: map[string]string{all + "forwarding": "1", all + "proxy_ndp": "1"}, proxy: true},
		{name: "proxy_ndp forwarding proxy entry, no table (control)", sysctls: map[string]string{all + "forwarding": "1", all + "proxy_ndp": "1"}, proxy: true, arpMode: "sysctl", leaks: true},
	}
	for _, s := range settings {
		t.Run(strings.NewReplacer(" ", "_", ",", "").Replace(s.name), func(t *testing.T) { runNDSetting(t, bin, s) })
	}
}

func runNDSetting(t *testing.T, bin string, s ndSetting) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rsSys := map[string]string{"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.eth0.rp_filter": "0"}
	nl, err := netlab.New(t, netlab.Spec{EnableIPv6: true, Hosts: []netlab.HostSpec{
		{Name: "client", Addr: ClientIP + "/24", Sysctls: map[string]string{"net.ipv6.neigh.eth0.delay_first_probe_time": "0"}},
		{Name: "dir", Addr: DirIPs["dir1"] + "/24"},
		{Name: "rs1", Addr: RSIPs["rs1"] + "/24", Sysctls: rsSys},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for host, ip := range map[string]string{"client": ClientIP6, "dir": DirIPs6["dir1"], "rs1": RSIPs6["rs1"]} {
		if err := AddAddr6(nl, host, ip); err != nil {
			t.Fatal(err)
		}
	}
	// A short directory: the control socket's path must fit sun_path.
	dir, err := os.MkdirTemp("", "nd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l := &ndLab{net: nl, dir: dir, bin: filepath.Join(bin, "tandem-backend")}
	mac := func(host string) string {
		m, err := nl.MAC(host, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		return m.String()
	}
	l.rsMAC, l.clientMAC = mac("rs1"), mac("client")
	for k, v := range ndSysctls(s.sysctls) {
		if err := nl.Sysctl("rs1", k, v); err != nil {
			t.Fatalf("rs1: %s=%s: %v", k, v, err)
		}
	}
	h, err := nl.Netlink("rs1")
	if err != nil {
		t.Fatal(err)
	}
	vip := &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(VIP6), Mask: net.CIDRMask(128, 128)}, Flags: s.preAddFlags, Scope: int(netlink.SCOPE_HOST)}
	if s.preAdd {
		lo, _ := h.LinkByName("lo")
		if err := h.AddrAdd(lo, vip); err != nil {
			t.Fatalf("pre-add the VIP: %v", err)
		}
	}
	if s.proxy {
		eth0, _ := h.LinkByName("eth0")
		if err := h.NeighAdd(&netlink.Neigh{LinkIndex: eth0.Attrs().Index, Family: netlink.FAMILY_V6, Flags: netlink.NTF_PROXY, IP: net.ParseIP(VIP6)}); err != nil {
			t.Fatalf("proxy entry: %v", err)
		}
	}
	// The "director" forwards to rs1 by MAC, as IPVS DR does.
	if _, err := nl.Exec("dir", "ip", "-6", "neigh", "replace", VIP6, "lladdr", l.rsMAC, "dev", "eth0", "nud", "permanent"); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeys(filepath.Join(l.dir, "secret"), []byte(PairSecret), map[string]string{"rs1": RSIPs["rs1"]}, l.dir); err != nil {
		t.Fatal(err)
	}
	l.conf = filepath.Join(l.dir, "backend.yaml")
	bc := BackendConf{Node: "rs1", RealIP: RSIPs["rs1"], Directors: []string{DirIPs["dir1"]}, KeyFile: AgentKeyFile(l.dir, "rs1"),
		Dir: filepath.Join(l.dir, "rs1"), VIPs: []string{VIP, VIP6}, ARPMode: s.arpMode}
	if err := os.MkdirAll(bc.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.conf, []byte(bc.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	capt, err := StartNDCapture(ctx, nl, "")
	if err != nil {
		t.Fatal(err)
	}
	l.startAgent(t)
	if s.during != nil {
		s.during(t, l)
	}
	l.waitVIP(t)

	// 1. The client resolves the VIP: multicast solicitations.
	l.send(t, "client", VIP6)
	// 2. The client holds a stale entry VIP -> rs1 (a cache from before a
	// takeover, say): unicast solicitations straight to rs1's MAC.
	if _, err := nl.Exec("client", "ip", "-6", "neigh", "replace", VIP6, "lladdr", l.rsMAC, "dev", "eth0", "nud", "stale"); err != nil {
		t.Fatal(err)
	}
	l.send(t, "client", VIP6)
	// 3. The director sends to the VIP at rs1's MAC: rs1 answers from the
	// VIP (port unreachable) and resolves the director itself.
	l.send(t, "dir", VIP6)
	// The window for answers: the kernel's proxy delay is at most 0.8 s
	// and the client's unicast probes are 1 s apart.
	testutil.Settle(2500 * time.Millisecond)

	pk, err := capt.Stop(ctx, "client", DirIPs6["dir1"])
	if err != nil {
		t.Fatal(err)
	}
	clientNS := NDCount(pk, l.clientMAC, "NS", VIP6)
	rsNS := NDCount(pk, l.rsMAC, "NS", "")
	leaks := NDLeaks(pk, []string{l.rsMAC}, []string{VIP6, VIP})
	select {
	case <-l.agent.Done():
		t.Fatalf("the agent exited during the test:\n%s", Tail(l.agent.Output(), 20))
	default:
	}
	neigh, _ := nl.Exec("client", "ip", "-6", "neigh", "show", VIP6, "dev", "eth0")
	t.Logf("%s: %d ICMPv6 packets; client NS for the VIP %d; rs1 NS %d; NA for the VIP from rs1 %d; leaks %d; client's entry: %s",
		s.name, len(pk), clientNS, rsNS, NDCount(pk, l.rsMAC, "NA", VIP6), len(leaks), strings.TrimSpace(neigh))
	if clientNS < 2 && !s.leaks || clientNS < 1 {
		t.Fatalf("the client sent %d solicitations for the VIP, want at least 2 (multicast and unicast): the test did not ask\n%s", clientNS, capt.Output())
	}
	if rsNS < 1 {
		t.Fatalf("rs1 sent no solicitation of its own: the source-address check did not run\n%s", capt.Output())
	}
	if s.leaks {
		if len(leaks) == 0 || !strings.Contains(neigh, l.rsMAC) {
			t.Fatalf("control: the kernel's proxy answer was not seen (leaks %d, client entry %q): the capture cannot be trusted\n%s", len(leaks), neigh, capt.Output())
		}
		return
	}
	if len(leaks) > 0 {
		var b strings.Builder
		for _, p := range leaks {
			b.WriteString(p.Line + "\n")
		}
		t.Fatalf("rs1 leaked the VIP on the LAN:\n%s\nagent log:\n%s", b.String(), Tail(l.agent.Output(), 20))
	}
	if strings.Contains(neigh, "REACHABLE") {
		t.Fatalf("the client's entry for the VIP became reachable: %s", neigh)
	}
}

// startAgent starts tandem-backend on rs1 and waits for READY.
func (l *ndLab) startAgent(t *testing.T) {
	t.Helper()
	p, err := l.net.Start("rs1", l.bin, "run", "--config", l.conf)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitOutput(ctx, "msg=ready"); err != nil {
		t.Fatalf("agent not ready: %v\n%s", err, Tail(p.Output(), 30))
	}
	l.agent = p
}

// waitVIP waits until VIP6 is on rs1's lo and usable (not tentative).
func (l *ndLab) waitVIP(t *testing.T) {
	t.Helper()
	h, err := l.net.Netlink("rs1")
	if err != nil {
		t.Fatal(err)
	}
	if !testutil.WaitFor(10*time.Second, func() bool { return HasAddrOn(h, "lo", VIP6) }) {
		out, _ := l.net.Exec("rs1", "ip", "addr", "show", "dev", "lo")
		t.Fatalf("VIP6 not on rs1's lo after 10 s:\n%s\nagent log:\n%s", out, Tail(l.agent.Output(), 20))
	}
}

// send sends one UDP datagram from host to [to]:SentinelPort+1 (nothing
// listens: rs1 answers port unreachable from the VIP).
func (l *ndLab) send(t *testing.T, host, to string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := l.net.DialContext(host)(ctx, "udp6", fmt.Sprintf("[%s]:%d", to, SentinelPort+1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("nd probe")); err != nil {
		t.Fatal(err)
	}
}

// bounce takes eth0 and lo down and up (a cable pulled, networking
// restarted): with ndisc_notify the kernel sends unsolicited NAs for the
// addresses of the interface coming up. The agent puts the VIP back on lo.
func bounce(t *testing.T, l *ndLab) {
	l.waitVIP(t)
	h, err := l.net.Netlink("rs1")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"eth0", "lo"} {
		lk, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetDown(lk); err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(lk); err != nil {
			t.Fatal(err)
		}
	}
	// eth0's own IPv6 address went with the link: put it back (nodad).
	if err := AddAddr6(l.net, "rs1", RSIPs6["rs1"]); err != nil {
		t.Fatal(err)
	}
}

// restartAgent stops the agent (the VIP stays, as on a package upgrade),
// removes the VIP by hand and starts the agent again, which re-adds it.
func restartAgent(t *testing.T, l *ndLab) {
	l.waitVIP(t)
	if err := l.agent.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-l.agent.Done()
	h, err := l.net.Netlink("rs1")
	if err != nil {
		t.Fatal(err)
	}
	if !HasAddrOn(h, "lo", VIP6) {
		t.Fatal("the agent's stop removed the VIP")
	}
	lo, _ := h.LinkByName("lo")
	a, _ := netlink.ParseAddr(VIP6 + "/128")
	if err := h.AddrDel(lo, a); err != nil {
		t.Fatal(err)
	}
	l.startAgent(t)
}
