package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/vishvananda/netlink"

	"github.com/tandemlb/tandem/backend/app"
	"github.com/tandemlb/tandem/backend/arpguard"
	"github.com/tandemlb/tandem/backend/config"
	"github.com/tandemlb/tandem/backend/health"
	"github.com/tandemlb/tandem/backend/vip"
	doctorpkg "github.com/tandemlb/tandem/shared/doctor"
	"github.com/tandemlb/tandem/shared/hbproto"
)

// doctor is the report the doctor command prints.
type doctor = doctorpkg.Report

func newDoctor(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Explain what is wrong: VIPs, ARP table, sysctls, key file, directors, the application",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := &doctor{Out: cmd.OutOrStdout()}
			runDoctor(cmd.Context(), g, d)
			if n := d.Failed(); n > 0 {
				return fmt.Errorf("doctor found %d problem(s)", n)
			}
			return nil
		},
	}
}

func readSysctl(path string) (int, error) {
	s, err := (arpguard.ProcSys{}).Get(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(s)
}

func runDoctor(ctx context.Context, g *globals, d *doctor) {
	cfg, err := config.Load(g.config)
	if err != nil {
		d.Add(doctorpkg.Fail, "config", "%v", err)
		return
	}
	d.Add(doctorpkg.OK, "config", "%s is valid", cfg.File)

	// The daemon.
	var st app.Status
	running := false
	if err := g.call(ctx, app.OpStatus, nil, &st); err != nil {
		d.Add(doctorpkg.Fail, "daemon", "%v", err)
	} else {
		running = true
		d.Add(doctorpkg.OK, "daemon", "running, pid %d, version %s", st.PID, st.Version)
	}

	nl, err := netlink.NewHandle()
	if err != nil {
		d.Add(doctorpkg.Fail, "netlink", "%v", err)
		return
	}
	defer nl.Close()
	host, err := app.Resolve(cfg, nl)
	if err != nil {
		d.Add(doctorpkg.Fail, "interface", "%v", err)
	} else {
		d.Add(doctorpkg.OK, "interface", "%s, real IP %s (ARP sender)", host.Interface, host.RealIP)
		switch {
		case host.RealIP6.IsValid():
			d.Add(doctorpkg.OK, "interface", "%s, real IPv6 %s (the IPv6 real servers' address; reports to IPv6 directors leave from it)", host.Interface, host.RealIP6)
		case cfg.HasIPv6VIPs():
			_, why := resolveIPv6(cfg, nl, host.Interface)
			d.Add(doctorpkg.Warn, "interface", "no real IPv6 address: reports speak for %s only; the IPv6 real servers follow the check endpoint alone (%v)", host.RealIP, why)
		}
	}

	// VIPs on lo, and not elsewhere.
	have, err := vip.List(nl, cfg.VIPs)
	if err != nil {
		d.Add(doctorpkg.Fail, "vips", "%v", err)
	} else {
		for _, v := range cfg.VIPs {
			if have[v] {
				d.Add(doctorpkg.OK, "vips", "%s is on lo", v)
			} else {
				d.Add(doctorpkg.Fail, "vips", "%s is NOT on lo: the kernel drops the director's packets for it (%s)", v,
					yesNo(running, "the daemon should restore it within a second; see its log", "start the daemon"))
			}
		}
		links, _ := nl.LinkList()
		for _, l := range links {
			if l.Attrs().Name == vip.Loopback {
				continue
			}
			addrs, _ := nl.AddrList(l, netlink.FAMILY_ALL)
			for _, a := range addrs {
				for _, v := range cfg.VIPs {
					if a.IP.Equal(net.IP(v.AsSlice())) {
						d.Add(doctorpkg.Warn, "vips", "%s is also on %s: remove it there (it belongs on lo only)", v, l.Attrs().Name)
					}
				}
			}
		}
	}

	// ARP.
	if cfg.ARPMode.UsesNFTables() && host.RealIP.IsValid() {
		ts, err := (arpguard.NFT{}).Check(arpguard.Spec{Table: cfg.NFTTable, VIPs: cfg.VIPs, RealIP: host.RealIP})
		switch {
		case err != nil:
			d.Add(doctorpkg.Fail, "arp table", "%v", err)
		case ts.Problem != "":
			d.Add(doctorpkg.Fail, "arp table", "table arp %s: %s: this host may answer ARP for a VIP and steal its traffic (`nft list table arp %s`)", cfg.NFTTable, ts.Problem, cfg.NFTTable)
		default:
			var cs []string
			for _, c := range ts.Counters {
				cs = append(cs, fmt.Sprintf("%s %s %d pkts", c.Chain, c.VIP, c.Packets))
			}
			d.Add(doctorpkg.OK, "arp table", "table arp %s as configured (%s)", cfg.NFTTable, strings.Join(cs, ", "))
		}
	}
	if host.Interface != "" {
		ign, _ := readSysctl("net/ipv4/conf/" + host.Interface + "/arp_ignore")
		ignAll, _ := readSysctl("net/ipv4/conf/all/arp_ignore")
		ann, _ := readSysctl("net/ipv4/conf/" + host.Interface + "/arp_announce")
		annAll, _ := readSysctl("net/ipv4/conf/all/arp_announce")
		ok := max(ign, ignAll) >= 1 && max(ann, annAll) == 2
		switch {
		case cfg.ARPMode.UsesSysctl() && !ok:
			d.Add(doctorpkg.Fail, "arp sysctls", "arp_ignore=%d arp_announce=%d on %s (all: %d/%d): want 1 and 2 (arp_mode %s)", ign, ann, host.Interface, ignAll, annAll, cfg.ARPMode)
		case !ok:
			d.Add(doctorpkg.OK, "arp sysctls", "arp_ignore=%d arp_announce=%d on %s: not needed with arp_mode nftables", ign, ann, host.Interface)
		default:
			d.Add(doctorpkg.OK, "arp sysctls", "arp_ignore=%d arp_announce=%d on %s", max(ign, ignAll), max(ann, annAll), host.Interface)
		}
		ndFindings(d, cfg.VIPs, readNDFacts(nl, cfg, host.Interface))
		rp, _ := readSysctl("net/ipv4/conf/" + host.Interface + "/rp_filter")
		rpAll, _ := readSysctl("net/ipv4/conf/all/rp_filter")
		eff := max(rp, rpAll)
		defIface := defaultRouteIface(nl)
		switch {
		case eff == 1 && defIface != "" && defIface != host.Interface:
			d.Add(doctorpkg.Fail, "rp_filter", "strict rp_filter (%d) on %s but the default route leaves via %s: packets for the VIP from clients are dropped; set net.ipv4.conf.%s.rp_filter=2",
				eff, host.Interface, defIface, host.Interface)
		default:
			d.Add(doctorpkg.OK, "rp_filter", "%d on %s (effective), default route via %s", eff, host.Interface, defIface)
		}
	}

	// Key files.
	if len(cfg.Directors) > 0 {
		keyFileFinding(d, cfg, cfg.Heartbeat.KeyFile)
	}
	if cfg.HasIPv6Directors() {
		if cfg.Heartbeat.KeyFile6 != "" {
			keyFileFinding(d, cfg, cfg.Heartbeat.KeyFile6)
		} else {
			d.Add(doctorpkg.Warn, "key file", "heartbeat.key_file6 is not set: %s also seals the reports to the IPv6 directors, which accept that only "+
				"from the legacy cluster key (agent_keys both or cluster); with derived keys run `tandem-director keys derive --real-ip %s --out FILE` "+
				"on a director and install FILE as heartbeat.key_file6, mode 0600", cfg.Heartbeat.KeyFile, host.RealIP6)
		}
	}

	// Directors.
	if running {
		now := time.Now()
		silentAfter := 3*cfg.Heartbeat.Interval + time.Second
		for _, v := range st.Directors {
			switch {
			case v.LastReply.IsZero():
				ip, keyKey := identityFor(v.Addr, host)
				d.Add(doctorpkg.Fail, "director", "%s has never answered: check its address, UDP port %d through firewalls, and this agent's key: "+
					"it must be the one the directors derive for this real IP (on a director: `tandem-director keys derive --real-ip %s --out FILE`, "+
					"then install FILE as heartbeat.%s, mode 0600); a director drops reports with another key without answering (rejected here: %v)",
					v.Addr, hbproto.DefaultPort, ip, keyKey, st.Heartbeat.Rejected)
			case now.Sub(v.LastReply) > silentAfter:
				d.Add(doctorpkg.Fail, "director", "%s (%s) is silent since %s", v.Addr, v.Name, now.Sub(v.LastReply).Truncate(time.Second))
			default:
				d.Add(doctorpkg.OK, "director", "%s (%s) answers, role %s", v.Addr, v.Name, v.RoleName)
			}
		}
		if st.Maintenance.InMaintenance() {
			d.Add(doctorpkg.Warn, "maintenance", "%s (since %s): no new traffic until `tandem-backend maintenance off`", st.Maintenance.Description, st.Maintenance.Since.Local().Format(time.DateTime))
		}
	}

	// The application.
	if p, err := health.New(cfg.Health); err != nil {
		d.Add(doctorpkg.Fail, "application", "%v", err)
	} else {
		res := health.NewRunner(p, cfg.Health.Interval, cfg.Health.Timeout).Once(ctx)
		if res.OK {
			d.Add(doctorpkg.OK, "application", "%s passes (%s)", p, res.Took.Truncate(time.Microsecond))
		} else {
			d.Add(doctorpkg.Fail, "application", "%s fails: %s", p, res.Reason)
		}
	}

	// The check endpoint as a director sees it.
	switch cfg.Check.Mode {
	case config.CheckListen:
		hostPort := cfg.Check.Listen
		h, port, _ := net.SplitHostPort(hostPort)
		if h == "" || h == "0.0.0.0" || h == "::" {
			h = host.RealIP.String()
			if !host.RealIP.IsValid() {
				h = "127.0.0.1"
			}
		}
		url := "http://" + net.JoinHostPort(h, port) + cfg.Check.Path
		code, body, err := httpGet(ctx, url)
		switch {
		case err != nil:
			d.Add(doctorpkg.Fail, "check", "%s: %v", url, err)
		case code == http.StatusOK:
			d.Add(doctorpkg.OK, "check", "%s: 200 OK", url)
		default:
			d.Add(doctorpkg.Warn, "check", "%s: %d %s", url, code, strings.TrimSpace(body))
		}
	case config.CheckFile:
		if (health.File{Path: cfg.Check.File}).Exists() {
			d.Add(doctorpkg.OK, "check", "%s is present", cfg.Check.File)
		} else {
			d.Add(doctorpkg.Warn, "check", "%s is absent: the directors see this server as down", cfg.Check.File)
		}
	}
}

// keyFileFinding checks one heartbeat key file.
func keyFileFinding(d *doctor, cfg *config.Config, path string) {
	if _, err := hbproto.LoadKey(path); err != nil {
		lvl := doctorpkg.Fail
		if cfg.Heartbeat.Insecure {
			lvl = doctorpkg.Warn
		}
		d.Add(lvl, "key file", "%v", err)
		return
	}
	d.Add(doctorpkg.OK, "key file", "%s is usable (0600, long enough)", path)
}

// identityFor is the identity that speaks to the director at addr (a
// view's "IP:port"): its real IP and the key of its key file, key_file
// for an IPv4 director, key_file6 for an IPv6 one.
func identityFor(addr string, host app.Host) (netip.Addr, string) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Addr().Unmap().Is4() {
		return host.RealIP, "key_file"
	}
	return host.RealIP6, "key_file6"
}

// resolveIPv6 says why the interface gives no IPv6 identity.
func resolveIPv6(cfg *config.Config, nl *netlink.Handle, iface string) (netip.Addr, error) {
	link, err := nl.LinkByName(iface)
	if err != nil {
		return netip.Addr{}, err
	}
	return app.ResolveIPv6(cfg, nl, link)
}

func defaultRouteIface(nl *netlink.Handle) string {
	routes, err := nl.RouteList(nil, netlink.FAMILY_V4)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return ""
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			if l, err := nl.LinkByIndex(r.LinkIndex); err == nil {
				return l.Attrs().Name
			}
		}
	}
	return ""
}

func httpGet(ctx context.Context, url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return resp.StatusCode, string(b), nil
}
