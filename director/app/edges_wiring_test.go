package app

import (
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables/expr"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The host edges of edges.go, each on its fake: what the director makes of
// what the host tells. None needs root.

// edgeApp is an App (not running) on the given edges.
func edgeApp(t *testing.T, o Options) (*App, *testutil.SyncBuffer) {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	o.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return New(&config.Config{}, o), logs
}

// TestEdgeDefaultsAreTheHost: without edges New takes the host's.
func TestEdgeDefaultsAreTheHost(t *testing.T) {
	a, _ := edgeApp(t, Options{})
	if _, ok := a.opts.Interfaces.(hostInterfaces); !ok {
		t.Errorf("Interfaces default %T", a.opts.Interfaces)
	}
	if _, ok := a.opts.Firewall.(nftFirewall); !ok {
		t.Errorf("Firewall default %T", a.opts.Firewall)
	}
	if _, ok := a.opts.Host.(osHost); !ok {
		t.Errorf("Host default %T", a.opts.Host)
	}
}

// TestEdgeInterfacesExplainFailures: a failed instance or sync daemon
// whose interface Options.Interfaces does not have says so, with the
// configuration's position; on an interface that exists the error is
// left as it is.
func TestEdgeInterfacesExplainFailures(t *testing.T) {
	a, _ := edgeApp(t, Options{Interfaces: newFakeInterfaces("eth0")})
	boom := errors.New("bind: no such device")
	ci := &config.VRRPInstance{Name: "VI_9", Interface: "eth9", Pos: config.Pos{File: "/etc/k.conf", Line: 12}}
	err := a.explainInstanceErr(ci, boom)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), `/etc/k.conf:12: vrrp_instance VI_9: interface "eth9" does not exist on this host`) {
		t.Errorf("missing interface: %v", err)
	}
	ci.Interface = "eth0"
	if err := a.explainInstanceErr(ci, boom); err != boom {
		t.Errorf("existing interface: %v, want the error as it was", err)
	}
	if err := a.explainInstanceErr(ci, nil); err != nil {
		t.Errorf("no error: %v", err)
	}
	err = a.explainSyncErr(&config.ConnSync{Interface: "bond7", Pos: config.Pos{File: "/etc/k.conf", Line: 3}}, "bond7", boom)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), `/etc/k.conf:3: lvs_sync_daemon: interface "bond7" does not exist on this host`) {
		t.Errorf("missing sync interface: %v", err)
	}
	if err := a.explainSyncErr(nil, "eth0", boom); err != boom {
		t.Errorf("existing sync interface: %v", err)
	}
}

// TestEdgeVIPsPresent: the VIPs a previous run left are found on their
// interfaces through Options.Interfaces, by family; a missing interface
// has none.
func TestEdgeVIPsPresent(t *testing.T) {
	ifs := newFakeInterfaces()
	ifs.add("eth0", "192.0.2.100", "2001:db8::100", "192.0.2.7")
	a, _ := edgeApp(t, Options{Interfaces: ifs})
	vip := func(p, dev string) vrrp.VIP { return vrrp.VIP{Prefix: netip.MustParsePrefix(p), Dev: dev} }
	got := a.vipsPresent([]vrrp.VIP{
		vip("192.0.2.100/24", "eth0"),
		vip("192.0.2.101/24", "eth0"),
		vip("2001:db8::100/64", "eth0"),
		vip("192.0.2.100/24", "eth9"),
	})
	want := []string{"192.0.2.100/24 on eth0", "2001:db8::100/64 on eth0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("present (-want +got)\n%s", diff)
	}
	if got := a.vipsPresent(nil); got != nil {
		t.Errorf("no VIPs: %v", got)
	}
}

// TestEdgeFirewallWarning: a ruleset that drops VRRP on input is a
// warning (kept for status) when the configuration runs VRRP; without
// VRRP the ruleset is not read; a ruleset that cannot be read is only
// logged at debug level.
func TestEdgeFirewallWarning(t *testing.T) {
	fw := &fakeFirewall{chains: []FirewallChain{{Table: "inet filter", Name: "input", Base: true, PolicyDrop: true,
		Rules: []FirewallRule{ruleOf(1, []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{6}},
			&expr.Verdict{Kind: expr.VerdictAccept},
		})}}}}
	a, _ := edgeApp(t, Options{Firewall: fw})

	a.firewallWarnings(&config.Config{})
	if fw.reads != 0 || len(a.warnings) != 0 {
		t.Errorf("no VRRP: %d reads, warnings %q", fw.reads, a.warnings)
	}
	withVRRP := &config.Config{VRRP: []config.VRRPInstance{{Name: "VI_1", Interface: "eth0"}}}
	a.firewallWarnings(withVRRP)
	if len(a.warnings) != 1 || !strings.Contains(a.warnings[0], "nftables table inet filter chain input: policy drop and no rule accepts VRRP (IP protocol 112)") {
		t.Errorf("policy drop: warnings %q", a.warnings)
	}
	a.firewallWarnings(withVRRP) // at every start and reload: one warning each, not a list
	if len(a.warnings) != 1 {
		t.Errorf("warned twice: %q", a.warnings)
	}

	fw.chains[0].Rules = append([]FirewallRule{ruleOf(2, []expr.Any{
		&expr.Payload{Base: expr.PayloadBaseNetworkHeader, Offset: 9, Len: 1, DestRegister: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{112}},
		&expr.Verdict{Kind: expr.VerdictAccept},
	})}, fw.chains[0].Rules...)
	b, _ := edgeApp(t, Options{Firewall: fw})
	b.firewallWarnings(withVRRP)
	if len(b.warnings) != 0 {
		t.Errorf("VRRP accepted: warnings %q", b.warnings)
	}

	c, logs := edgeApp(t, Options{Firewall: &fakeFirewall{err: errors.New("nftables: list chains: operation not permitted")}})
	c.firewallWarnings(withVRRP)
	if len(c.warnings) != 0 || !strings.Contains(logs.String(), "level=DEBUG msg=\"cannot read the nftables ruleset to check that VRRP is let in\"") {
		t.Errorf("unreadable ruleset: warnings %q, log\n%s", c.warnings, logs.String())
	}
}
