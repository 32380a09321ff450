package app

import (
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tandemlb/tandem/backend/config"
	"github.com/tandemlb/tandem/backend/vip/viptest"
)

// flagged is a Netlink whose address dumps carry the kernel's address
// flags (temporary, deprecated, …) for some addresses, as a real dump does.
type flagged struct {
	*viptest.Fake
	flags map[netip.Addr]int
}

func (f flagged) AddrList(link netlink.Link, family int) ([]netlink.Addr, error) {
	addrs, err := f.Fake.AddrList(link, family)
	for i := range addrs {
		if ip, ok := netip.AddrFromSlice(addrs[i].IP); ok {
			addrs[i].Flags |= f.flags[ip.Unmap()]
		}
	}
	return addrs, err
}

// TestResolveIPv6: real_ip6 is the interface's one global IPv6 address
// that is neither temporary, deprecated, failed DAD nor a VIP; an explicit
// one must be on the interface; none or several is an error naming the
// key when an IPv6 director is listed (reports to it leave from it), and
// leaves real_ip6 unset otherwise.
func TestResolveIPv6(t *testing.T) {
	host := func(addrs ...string) flagged {
		nl := viptest.New()
		nl.AddLink("eth0")
		nl.AddAddr("eth0", "192.0.2.11/24")
		for _, a := range addrs {
			nl.AddAddr("eth0", a)
		}
		nl.AddDefaultRoute("eth0", netip.Addr{})
		return flagged{Fake: nl, flags: map[netip.Addr]int{
			netip.MustParseAddr("2001:db8::a1"): unix.IFA_F_TEMPORARY,
			netip.MustParseAddr("2001:db8::a2"): unix.IFA_F_DEPRECATED,
			netip.MustParseAddr("2001:db8::a3"): unix.IFA_F_DADFAILED,
		}}
	}
	ip := netip.MustParseAddr
	v4, v6 := ip("192.0.2.11"), ip("2001:db8::11")
	vips6 := []netip.Addr{testVIP4, testVIP6}
	dir6 := []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::2]:7480")}
	dir4 := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.2:7480")}
	tests := []struct {
		name    string
		nl      flagged
		cfg     config.Config
		want    netip.Addr
		wantErr string
	}{
		{"IPv4 only: not looked at", host("2001:db8::11/64", "2001:db8::12/64"), config.Config{VIPs: []netip.Addr{testVIP4}, Directors: dir4}, netip.Addr{}, ""},
		{"the one global address", host("2001:db8::11/64"), config.Config{VIPs: vips6}, v6, ""},
		{"temporary, deprecated and failed DAD skipped", host("2001:db8::a1/64", "2001:db8::11/64", "2001:db8::a2/64", "2001:db8::a3/64"), config.Config{VIPs: vips6, Directors: dir6}, v6, ""},
		{"a VIP left on the interface skipped", host("2001:db8::100/128", "2001:db8::11/64"), config.Config{VIPs: vips6, Directors: dir6}, v6, ""},
		{"explicit among several", host("2001:db8::11/64", "2001:db8::12/64"), config.Config{VIPs: vips6, Directors: dir6, RealIP6: ip("2001:db8::12")}, ip("2001:db8::12"), ""},
		{"explicit without IPv6 VIPs or directors", host("2001:db8::11/64"), config.Config{VIPs: []netip.Addr{testVIP4}, RealIP6: v6}, v6, ""},
		{"ambiguous, IPv6 director", host("2001:db8::11/64", "2001:db8::12/64"), config.Config{VIPs: vips6, Directors: dir6}, netip.Addr{},
			`backend.yaml: key "real_ip6": not set and eth0 has 2 global IPv6 addresses (2001:db8::11, 2001:db8::12): set real_ip6 to the one the directors know this server by`},
		{"ambiguous, IPv6 VIP only: unset", host("2001:db8::11/64", "2001:db8::12/64"), config.Config{VIPs: vips6, Directors: dir4}, netip.Addr{}, ""},
		{"none, IPv6 director", host(), config.Config{VIPs: vips6, Directors: dir6}, netip.Addr{},
			`backend.yaml: key "real_ip6": not set and eth0 has no global, non-temporary, non-deprecated IPv6 address: add one, or set real_ip6`},
		{"only a temporary one, IPv6 director", host("2001:db8::a1/64"), config.Config{VIPs: vips6, Directors: dir6}, netip.Addr{}, `eth0 has no global, non-temporary`},
		{"explicit elsewhere", host("2001:db8::11/64"), config.Config{VIPs: vips6, RealIP6: ip("2001:db8::99")}, netip.Addr{},
			`backend.yaml: key "real_ip6": 2001:db8::99 is not an address of eth0`},
		{"explicit is a VIP", host("2001:db8::100/128"), config.Config{VIPs: vips6, RealIP6: testVIP6}, netip.Addr{},
			`backend.yaml: key "real_ip6": 2001:db8::100 is also a VIP`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.File, tt.cfg.Node = "backend.yaml", "n"
			got, err := Resolve(&tt.cfg, tt.nl)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Host{Node: "n", Interface: "eth0", RealIP: v4, RealIP6: tt.want}
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
			if c := tt.nl.Calls(); len(c) != 0 {
				t.Errorf("Resolve changed the host: %q", c)
			}
		})
	}
}

// TestLoadKey6: key_file6 is read only when an IPv6 director is listed,
// under the same rules as key_file; without it the IPv6 identity uses
// key_file's key (nil here: the heartbeat agent falls back to Key).
func TestLoadKey6(t *testing.T) {
	good := strings.Repeat("6", 64) + "\n"
	dir6 := netip.MustParseAddrPort("[2001:db8::2]:7480")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	cfg := keyCfg(t, good, 0o600, false)
	cfg.Heartbeat.KeyFile6 = cfg.Heartbeat.KeyFile
	if k, _, err := LoadKey6(cfg, log); k != nil || err != nil {
		t.Errorf("no IPv6 director: key %q, err %v; want neither", k, err)
	}
	cfg.Directors = append(cfg.Directors, dir6)
	if k, insecure, err := LoadKey6(cfg, log); string(k) != strings.TrimSpace(good) || insecure || err != nil {
		t.Errorf("IPv6 director: key %q, insecure %v, err %v", k, insecure, err)
	}

	open := keyCfg(t, good, 0o644, false)
	open.Directors = append(open.Directors, dir6)
	open.Heartbeat.KeyFile6, open.Heartbeat.KeyFile = open.Heartbeat.KeyFile, cfg.Heartbeat.KeyFile
	if _, _, err := LoadKey6(open, log); err == nil || !strings.Contains(err.Error(), "0644") {
		t.Errorf("key_file6 readable by others: %v", err)
	}
	if _, _, _, err := loadKeys(open, log); err == nil || !strings.Contains(err.Error(), "heartbeat key "+open.Heartbeat.KeyFile6) {
		t.Errorf("loadKeys: %v, want the key_file6 error naming its path", err)
	}

	unset := keyCfg(t, good, 0o600, false)
	unset.Directors = append(unset.Directors, dir6)
	if k, _, err := LoadKey6(unset, log); k != nil || err != nil {
		t.Errorf("key_file6 unset: key %q, err %v; want neither (key_file serves both)", k, err)
	}
}
