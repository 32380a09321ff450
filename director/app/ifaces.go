package app

import (
	"fmt"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/vrrp"
)

// A VRRP instance or sync daemon whose interface does not exist keeps the
// director running, as keepalived does: the instance stays in INIT (no
// VIPs, no adverts) and is retried every 5 s, so that an interface that
// appears later (a VLAN or bond brought up after the director) is picked
// up. The log line and `status` say which interface is missing and where
// the configuration names it. Whether it exists is asked of
// Options.Interfaces (edges.go).

// ifaceMissing reports whether name is not an interface of
// Options.Interfaces.
func (a *App) ifaceMissing(name string) bool {
	return name != "" && !a.opts.Interfaces.Exists(name)
}

// explainInstanceErr says which interface is missing when that is why a
// VRRP instance failed; any other error is returned as it is.
func (a *App) explainInstanceErr(ci *config.VRRPInstance, err error) error {
	if err == nil || !a.ifaceMissing(ci.Interface) {
		return err
	}
	return fmt.Errorf("%s: vrrp_instance %s: interface %q does not exist on this host; the instance stays in INIT (no VIPs, no adverts) and is retried every %s (%w)",
		posOrUnknown(ci.Pos), ci.Name, ci.Interface, restartAfter, err)
}

// explainSyncErr does the same for the connection-sync daemon.
func (a *App) explainSyncErr(cs *config.ConnSync, iface string, err error) error {
	if err == nil || !a.ifaceMissing(iface) {
		return err
	}
	where := "lvs_sync_daemon"
	if cs != nil && cs.Pos.IsValid() {
		where = cs.Pos.String() + ": lvs_sync_daemon"
	}
	return fmt.Errorf("%s: interface %q does not exist on this host; no connection sync, retried every 5s (%w)", where, iface, err)
}

// vipsPresent returns the VIPs already on their interfaces (Options.
// Interfaces), as "PREFIX on DEV".
func (a *App) vipsPresent(vips []vrrp.VIP) []string {
	var out []string
	for _, v := range vips {
		addrs, err := a.opts.Interfaces.Addrs(v.Dev, v.Prefix.Addr().Is6())
		if err != nil {
			continue
		}
		for _, ip := range addrs {
			if ip == v.Prefix.Addr() {
				out = append(out, v.Prefix.String()+" on "+v.Dev)
			}
		}
	}
	return out
}

func posOrUnknown(p config.Pos) string {
	if s := p.String(); s != "" {
		return s
	}
	return "configuration"
}
