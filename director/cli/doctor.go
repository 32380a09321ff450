package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemlb/tandem/director/app"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/pool"
	doctorpkg "github.com/tandemlb/tandem/shared/doctor"
	"github.com/tandemlb/tandem/shared/hbproto"
)

// doctor is the report the doctor command prints.
type doctor = doctorpkg.Report

func newDoctor(g *globals) *cobra.Command {
	var sysRoot string
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Explain what is wrong: config, daemon, ip_vs and schedulers, IPVS sysctls, ip_forward, VRRP firewall, key, real servers",
		Long: `Check what the seed's hand-made recipe needed and explain each problem: the
configuration, the daemon and its role, the ip_vs module and the schedulers,
the IPVS sysctls (expire_nodest_conn, expire_quiescent_template,
conn_reuse_mode), ip_forward, whether the firewall lets VRRP (IP protocol 112)
in (an nftables DROP in the input path makes both directors MASTER), the
interfaces, the heartbeat key, a keepalived running beside, the real
servers the daemon sees down, and in BGP mode mh with mh-fallback,
sloppy_tcp, each VIP on lo, the BGP sessions and the announcements.
Exit 1 if anything FAILs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := &doctor{Out: cmd.OutOrStdout(), Width: 13}
			runDoctor(cmd.Context(), g, d, sysRoot)
			if n := d.Failed(); n > 0 {
				return fmt.Errorf("doctor found %d problem(s)", n)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&sysRoot, "proc-sys", "/proc/sys", "where the sysctls are read (tests)")
	_ = cmd.Flags().MarkHidden("proc-sys")
	return cmd
}

func readSys(root, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, strings.ReplaceAll(name, ".", "/")))
	return strings.TrimSpace(string(b)), err
}

func runDoctor(ctx context.Context, g *globals, d *doctor, sysRoot string) {
	cfg, err := loadChecked(g.config)
	if err != nil {
		d.Add(doctorpkg.Fail, "config", "%s", strings.ReplaceAll(err.Error(), "\n", "\n                    "))
		return
	}
	d.Add(doctorpkg.OK, "config", "%s is valid (%s; %d vrrp_instance, %d virtual_server)", g.config, cfg.Format, len(cfg.VRRP), len(cfg.Services))

	st, err := g.daemon().status(ctx, control.StatusArgs{})
	var running *control.Status // for the checks that read the daemon's view
	if err == nil {
		running = &st
	}
	if err != nil {
		d.Add(doctorpkg.Fail, "daemon", "%v", err)
	} else {
		d.Add(doctorpkg.OK, "daemon", "running, pid %d, version %s, role %s", st.PID, st.Version, st.Role)
		if st.LastReloadError != "" {
			d.Add(doctorpkg.Warn, "reload", "the last reload failed, the daemon runs an older configuration: %s", firstLine(st.LastReloadError))
		}
	}

	// ip_vs and the schedulers.
	if len(cfg.Services) > 0 {
		if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
			d.Add(doctorpkg.Fail, "ip_vs", "the ip_vs module is not loaded: `modprobe ip_vs` (the package lists it in /usr/lib/modules-load.d/tandem-director.conf); the daemon refuses to start without it")
		} else {
			d.Add(doctorpkg.OK, "ip_vs", "loaded")
		}
		seen := map[string]bool{}
		for _, s := range cfg.Services {
			if seen[s.Scheduler] {
				continue
			}
			seen[s.Scheduler] = true
			if err := lvs.CheckScheduler(s.Scheduler); err != nil {
				d.Add(doctorpkg.Fail, "scheduler", "%v", err)
			} else {
				d.Add(doctorpkg.OK, "scheduler", "ip_vs_%s available", s.Scheduler)
			}
		}
		doctorSysctls(d, cfg, sysRoot)
	} else {
		d.Add(doctorpkg.OK, "ip_vs", "not needed: no virtual_server (VRRP only)")
	}

	// ip_forward.
	nat := false
	for _, s := range cfg.Services {
		nat = nat || s.Forwarding == config.NAT
	}
	if v, err := readSys(sysRoot, "net.ipv4.ip_forward"); err == nil {
		switch {
		case v == "1":
			d.Add(doctorpkg.OK, "ip_forward", "1")
		case nat:
			d.Add(doctorpkg.Fail, "ip_forward", "0, but NAT (masquerading) services need it: set net.ipv4.ip_forward=1 in /etc/sysctl.d/")
		default:
			d.Add(doctorpkg.OK, "ip_forward", "0: not needed for direct routing (the seed's recipe set it; only NAT needs it)")
		}
	}

	// VRRP: interfaces and the firewall.
	if len(cfg.VRRP) > 0 {
		for _, in := range cfg.VRRP {
			ifi, err := net.InterfaceByName(in.Interface)
			switch {
			case err != nil:
				d.Add(doctorpkg.Fail, "interface", "vrrp_instance %s: %s: %v", in.Name, in.Interface, err)
			case ifi.Flags&net.FlagUp == 0:
				d.Add(doctorpkg.Fail, "interface", "vrrp_instance %s: %s is down: the instance is in FAULT", in.Name, in.Interface)
			default:
				d.Add(doctorpkg.OK, "interface", "vrrp_instance %s: %s is up", in.Name, in.Interface)
			}
		}
		findings, err := app.CheckVRRPFirewall()
		switch {
		case err != nil:
			d.Add(doctorpkg.Warn, "firewall", "cannot read the nftables ruleset (%v): make sure VRRP (IP protocol 112) is let in, or both directors become MASTER", err)
		case len(findings) > 0:
			for _, f := range findings {
				d.Add(doctorpkg.Fail, "firewall", "%s", f)
			}
		default:
			d.Add(doctorpkg.OK, "firewall", "no nftables rule drops VRRP (IP protocol 112) on input")
		}
	}

	// The heartbeat key: a keepalived.conf runs without one, with the
	// agent listener off.
	if cfg.Heartbeat.Enabled {
		path := cfg.Heartbeat.KeyFile
		_, err := hbproto.LoadKey(path)
		switch {
		case err == nil:
			d.Add(doctorpkg.OK, "key", "%s is usable (0600, long enough)", path)
			if st.Heartbeat.Disabled != "" {
				d.Add(doctorpkg.Warn, "heartbeat", "the daemon's agent listener is off (%s), but the key is usable now: run `tandem-director reload`", st.Heartbeat.Disabled)
			}
		case cfg.Format == config.FormatKeepalived && errors.Is(err, fs.ErrNotExist) && st.Heartbeat.Listen != "":
			d.Add(doctorpkg.Warn, "key", "%s does not exist, but the daemon's agent listener runs with the key it read before; "+
				"a restart would start without the listener: put the key back, then `tandem-director reload`", path)
		case cfg.Format == config.FormatKeepalived && errors.Is(err, fs.ErrNotExist):
			d.Add(doctorpkg.Warn, "key", "%s does not exist: with a keepalived.conf the director runs without the agent heartbeat listener "+
				"(tandem-backend agents are not heard); to turn it on, run `%s` (or copy the cluster's key there), then `tandem-director reload`",
				path, app.HeartbeatKeyCommand(path))
		default:
			d.Add(doctorpkg.Fail, "key", "%v: the daemon refuses to start (or runs without agents with --insecure-heartbeat)", err)
		}
	}

	// keepalived beside us.
	if pids := app.ProcessesNamed("keepalived"); len(pids) > 0 {
		d.Add(doctorpkg.Warn, "keepalived", "keepalived is running (pid %s): it must not manage the same virtual_router_id or virtual servers", strings.Join(pids, ", "))
	}

	// What the daemon sees.
	for _, w := range st.Warnings {
		d.Add(doctorpkg.Warn, "daemon", "%s", w)
	}
	for _, s := range st.Services {
		for _, r := range s.RealServers {
			if r.State == pool.Down.String() {
				d.Add(doctorpkg.Warn, "real server", "%s %s is down: %s", s.Key, r.Addr, r.Reason)
			}
		}
		if s.SorryIn {
			d.Add(doctorpkg.Warn, "service", "%s runs on its sorry server %s: no real server is up", s.Key, s.Sorry)
		}
		if s.LastError != "" {
			d.Add(doctorpkg.Fail, "ipvs", "%s: %s", s.Key, firstLine(s.LastError))
		}
	}
	for _, v := range st.VRRP {
		if v.Error != "" {
			d.Add(doctorpkg.Fail, "vrrp", "%s: %s", v.Instance, v.Error)
		}
	}
	doctorBGP(d, cfg, running, sysRoot, loAddrs())
}

// doctorSysctls compares the IPVS sysctls with the configuration and says
// why each matters.
func doctorSysctls(d *doctor, cfg *config.Config, root string) {
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	for _, s := range []struct {
		name, want, why string
	}{
		{"net.ipv4.vs.expire_nodest_conn", b(cfg.IPVS.ExpireNodestConn), "packets of connections to a removed real server are dropped; with 1 their entries expire at once, so clients fail fast instead of hanging"},
		{"net.ipv4.vs.expire_quiescent_template", b(cfg.IPVS.ExpireQuiescentTemplate), "with 0, persistence templates keep sending returning clients to a weight-0 (draining) server"},
		{"net.ipv4.vs.conn_reuse_mode", fmt.Sprint(cfg.IPVS.ConnReuseMode), "without bit 2 (3), a new SYN reusing a client port still in FIN_WAIT goes to the old server: dropped if it was removed, and a draining server never drains"},
	} {
		got, err := readSys(root, s.name)
		switch {
		case err != nil:
			d.Add(doctorpkg.Warn, "sysctl", "%s: %v", s.name, err)
		case got != s.want:
			d.Add(doctorpkg.Warn, "sysctl", "%s = %s, want %s (the daemon sets it at start): %s", s.name, got, s.want, s.why)
		default:
			d.Add(doctorpkg.OK, "sysctl", "%s = %s", s.name, got)
		}
	}
}
