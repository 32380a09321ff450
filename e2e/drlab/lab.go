package drlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"
	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Lab addresses: one /24 on one bridge; traffic never leaves the lab's
// namespaces.
const (
	VIP        = "10.99.0.100"
	ClientIP   = "10.99.0.10"
	DirectorIP = "10.99.0.2"
	RS1IP      = "10.99.0.11"
	RS2IP      = "10.99.0.12"
	Port       = 80
)

// Host names.
const (
	Client   = "client"
	Director = "director"
	RS1      = "rs1"
	RS2      = "rs2"
)

// RealServers returns the real servers' host names.
func RealServers() []string { return []string{RS1, RS2} }

// Options configure the lab.
type Options struct {
	// ArpTable installs the nftables arp table on the real servers. Without
	// it they keep the default arp_ignore=0/arp_announce=0.
	ArpTable bool
	// Scheduler is the IPVS scheduler; "lc" if empty.
	Scheduler string
	// NoIPVS skips the IPVS service (for kernels without ip_vs, e.g. the
	// netns level on the host): the director then only holds the VIP.
	NoIPVS bool
}

// Lab is a running DR lab.
type Lab struct {
	// Net is the underlying namespace lab.
	Net *netlab.Lab
	// VIP is the virtual IP.
	VIP net.IP
	// MACs maps each host name to its eth0 hardware address.
	MACs map[string]net.HardwareAddr

	opts   Options
	client *http.Client
}

// New builds the lab. With a non-nil tb everything is torn down by
// tb.Cleanup; otherwise call Close.
func New(tb testing.TB, opts Options) (*Lab, error) {
	if opts.Scheduler == "" {
		opts.Scheduler = "lc"
	}
	if !opts.NoIPVS {
		if err := checkIPVS(); err != nil {
			return nil, err
		}
	}
	rsSysctls := map[string]string{
		// The seed's bare setup: the kernel defaults, stated explicitly so
		// the host's own settings never leak in.
		"net.ipv4.conf.all.arp_ignore":       "0",
		"net.ipv4.conf.all.arp_announce":     "0",
		"net.ipv4.conf.default.arp_ignore":   "0",
		"net.ipv4.conf.default.arp_announce": "0",
		"net.ipv4.conf.eth0.arp_ignore":      "0",
		"net.ipv4.conf.eth0.arp_announce":    "0",
		"net.ipv4.conf.all.rp_filter":        "0",
		"net.ipv4.conf.eth0.rp_filter":       "0",
	}
	spec := netlab.Spec{Hosts: []netlab.HostSpec{
		{Name: Client, Addr: ClientIP + "/24"},
		{Name: Director, Addr: DirectorIP + "/24"},
		{Name: RS1, Addr: RS1IP + "/24", Sysctls: rsSysctls},
		{Name: RS2, Addr: RS2IP + "/24", Sysctls: rsSysctls},
	}}
	nl, err := netlab.New(tb, spec)
	if err != nil {
		return nil, err
	}
	l := &Lab{Net: nl, VIP: net.ParseIP(VIP).To4(), MACs: map[string]net.HardwareAddr{}, opts: opts}
	if err := l.setup(); err != nil {
		if tb == nil {
			_ = nl.Close()
		}
		return nil, fmt.Errorf("dr lab %s: %w", nl.Tag(), err)
	}
	l.client = nl.HTTPClient(Client, 3*time.Second)
	return l, nil
}

// Close tears the lab down.
func (l *Lab) Close() error { return l.Net.Close() }

// checkIPVS fails clearly when the kernel has no ip_vs: moby/ipvs would
// otherwise turn every call into a silent no-op.
func checkIPVS() error {
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		return fmt.Errorf("ip_vs is not available in this kernel (no /proc/net/ip_vs): run in the VM (make test-vm): %w", err)
	}
	return nil
}

func (l *Lab) setup() error {
	for _, h := range []string{Client, Director, RS1, RS2} {
		mac, err := l.Net.MAC(h, "eth0")
		if err != nil {
			return err
		}
		l.MACs[h] = mac
	}
	vip32 := &net.IPNet{IP: l.VIP, Mask: net.CIDRMask(32, 32)}

	// Director: the VIP on eth0, so ARP for it is answered and IPVS sees it
	// as local.
	dnl, err := l.Net.Netlink(Director)
	if err != nil {
		return err
	}
	eth0, err := dnl.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("director eth0: %w", err)
	}
	if err := dnl.AddrReplace(eth0, &netlink.Addr{IPNet: vip32}); err != nil {
		return fmt.Errorf("director: VIP %s on eth0: %w", l.VIP, err)
	}

	for _, rs := range RealServers() {
		if err := l.setupRealServer(rs, vip32); err != nil {
			return err
		}
	}
	if l.opts.NoIPVS {
		return nil
	}
	return l.setupIPVS()
}

func (l *Lab) setupRealServer(rs string, vip32 *net.IPNet) error {
	nl, err := l.Net.Netlink(rs)
	if err != nil {
		return err
	}
	lo, err := nl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("%s lo: %w", rs, err)
	}
	if err := nl.AddrReplace(lo, &netlink.Addr{IPNet: vip32, Scope: int(netlink.SCOPE_HOST)}); err != nil {
		return fmt.Errorf("%s: VIP %s/32 on lo: %w", rs, l.VIP, err)
	}
	if l.opts.ArpTable {
		ns, err := l.Net.NsHandle(rs)
		if err != nil {
			return err
		}
		if err := ApplyArpTable(ns, l.VIP, l.Net.Addr(rs)); err != nil {
			return fmt.Errorf("%s: %w", rs, err)
		}
	}
	ln, err := l.Net.Listen(rs, "tcp4", fmt.Sprintf("0.0.0.0:%d", Port))
	if err != nil {
		return err
	}
	name := rs
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, name+"\n")
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	l.Net.OnClose(func() error {
		if err := srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%s http server: %w", rs, err)
		}
		return nil
	})
	return nil
}

// Service returns the IPVS service the lab configures.
func (l *Lab) Service() *ipvs.Service {
	return &ipvs.Service{
		AddressFamily: syscall.AF_INET,
		Protocol:      syscall.IPPROTO_TCP,
		Address:       l.VIP,
		Port:          Port,
		SchedName:     l.opts.Scheduler,
		// 0xffffffff for IPv4: moby/ipvs byte-swaps anything else.
		Netmask: 0xffffffff,
	}
}

func (l *Lab) setupIPVS() error {
	h, err := ipvs.New(l.Net.NetnsPath(Director))
	if err != nil {
		return fmt.Errorf("ipvs handle in the director's netns: %w", err)
	}
	defer h.Close()
	svc := l.Service()
	if err := h.NewService(svc); err != nil {
		return fmt.Errorf("ipvs service %s:%d %s: %w", l.VIP, Port, svc.SchedName, err)
	}
	for _, rs := range RealServers() {
		d := &ipvs.Destination{
			AddressFamily:   syscall.AF_INET,
			Address:         l.Net.Addr(rs),
			Port:            Port,
			Weight:          1,
			ConnectionFlags: ipvs.ConnectionFlagDirectRoute,
		}
		if err := h.NewDestination(svc, d); err != nil {
			return fmt.Errorf("ipvs destination %s (%s): %w", d.Address, rs, err)
		}
	}
	// Read back: an ip_vs-less kernel would have accepted everything.
	svcs, err := h.GetServices()
	if err != nil {
		return fmt.Errorf("ipvs read back: %w", err)
	}
	if len(svcs) != 1 {
		return fmt.Errorf("ipvs read back: %d services in the director's netns, want 1", len(svcs))
	}
	return nil
}

// Stats returns the IPVS counters of each destination (by real-server
// name) from the director's namespace.
func (l *Lab) Stats() (map[string]ipvs.DstStats, error) {
	h, err := ipvs.New(l.Net.NetnsPath(Director))
	if err != nil {
		return nil, fmt.Errorf("ipvs handle: %w", err)
	}
	defer h.Close()
	dsts, err := h.GetDestinations(l.Service())
	if err != nil {
		return nil, fmt.Errorf("ipvs destinations: %w", err)
	}
	out := map[string]ipvs.DstStats{}
	for _, d := range dsts {
		for _, rs := range RealServers() {
			if d.Address.Equal(l.Net.Addr(rs)) {
				out[rs] = d.Stats
			}
		}
	}
	return out, nil
}

// SettledStats polls Stats until the destinations' connection counts add up
// to at least conns or ctx ends, and returns the last reading. The kernel
// (6.1) folds its per-CPU counters into what netlink reports only every two
// seconds, from the rate estimator's timer.
func (l *Lab) SettledStats(ctx context.Context, conns int) (map[string]ipvs.DstStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 6*time.Second)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		stats, err := l.Stats()
		if err != nil {
			return nil, err
		}
		var n uint32
		for _, s := range stats {
			n += s.Connections
		}
		if int(n) >= conns {
			return stats, nil
		}
		select {
		case <-ctx.Done():
			return stats, nil
		case <-tick.C:
		}
	}
}

// Get sends one HTTP request from the client to the VIP (a new TCP
// connection) and returns the name of the real server that answered.
func (l *Lab) Get(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d/", VIP, Port), nil)
	if err != nil {
		return "", fmt.Errorf("request: %w", err)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("GET VIP from client: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil {
		return "", fmt.Errorf("GET VIP from client: body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET VIP from client: status %s", resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}

// Tally counts answers per real server and failures.
type Tally struct {
	// Served maps a real server's name to the requests it answered.
	Served map[string]int
	// Failed counts requests without a good answer.
	Failed int
	// Errors holds the first few failures.
	Errors []string
}

// Total returns the number of requests tallied.
func (t Tally) Total() int {
	n := t.Failed
	for _, v := range t.Served {
		n += v
	}
	return n
}

func (t *Tally) add(server string, err error) {
	if t.Served == nil {
		t.Served = map[string]int{}
	}
	if err != nil {
		t.Failed++
		if len(t.Errors) < 5 {
			t.Errors = append(t.Errors, err.Error())
		}
		return
	}
	t.Served[server]++
}

// Requests sends n sequential requests (each bounded by the client's
// timeout) and tallies the answers.
func (l *Lab) Requests(ctx context.Context, n int) Tally {
	var t Tally
	for i := 0; i < n && ctx.Err() == nil; i++ {
		t.add(l.Get(ctx))
	}
	return t
}

// Traffic sends sequential requests, one every interval (back to back when
// a request takes longer), for d and at most maxRequests, calling report
// once per second with that second's tally and the running total.
func (l *Lab) Traffic(ctx context.Context, d, interval time.Duration, maxRequests int, report func(second int, last, total Tally)) Tally {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var total, last Tally
	start := time.Now()
	second := 1
	pace := time.NewTicker(interval)
	defer pace.Stop()
	for sent := 0; sent < maxRequests; sent++ {
		server, err := l.Get(ctx)
		if ctx.Err() != nil && err != nil {
			break // the deadline, not the lab, ended this request
		}
		total.add(server, err)
		last.add(server, err)
		if time.Since(start) >= time.Duration(second)*time.Second {
			report(second, last, total)
			second++
			last = Tally{}
		}
		select {
		case <-ctx.Done():
		case <-pace.C:
		}
		if ctx.Err() != nil {
			break
		}
	}
	if last.Total() > 0 {
		report(second, last, total)
	}
	return total
}

// ClientNeighbor returns the client's neighbour entry for the VIP: the MAC
// it sends VIP traffic to, and the NUD state name. A missing entry returns
// nil and "none".
func (l *Lab) ClientNeighbor() (net.HardwareAddr, string, error) {
	nl, err := l.Net.Netlink(Client)
	if err != nil {
		return nil, "", err
	}
	neighs, err := nl.NeighList(0, unix.AF_INET)
	if err != nil {
		return nil, "", fmt.Errorf("client neighbours: %w", err)
	}
	for _, n := range neighs {
		if n.IP.Equal(l.VIP) {
			return n.HardwareAddr, neighState(n.State), nil
		}
	}
	return nil, "none", nil
}

func neighState(s int) string {
	switch s {
	case netlink.NUD_INCOMPLETE:
		return "INCOMPLETE"
	case netlink.NUD_REACHABLE:
		return "REACHABLE"
	case netlink.NUD_STALE:
		return "STALE"
	case netlink.NUD_DELAY:
		return "DELAY"
	case netlink.NUD_PROBE:
		return "PROBE"
	case netlink.NUD_FAILED:
		return "FAILED"
	case netlink.NUD_NOARP:
		return "NOARP"
	case netlink.NUD_PERMANENT:
		return "PERMANENT"
	}
	return fmt.Sprintf("0x%x", s)
}

// HostOf returns the lab host owning mac, or mac itself.
func (l *Lab) HostOf(mac string) string {
	for h, m := range l.MACs {
		if strings.EqualFold(m.String(), mac) {
			return h
		}
	}
	return mac
}
