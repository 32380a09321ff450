package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/backend/arpguard"
	"github.com/tandemlb/tandem/backend/config"
	"github.com/tandemlb/tandem/backend/maintenance"
	"github.com/tandemlb/tandem/shared/ctlsock"
	"github.com/tandemlb/tandem/shared/hbproto"
)

func ctlRequest(t *testing.T, op string, args any) ctlsock.Request {
	t.Helper()
	req := ctlsock.Request{Op: op}
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			t.Fatal(err)
		}
		req.Args = b
	}
	return req
}

func sortedAddrs(list []netip.Addr) []netip.Addr {
	out := slices.Clone(list)
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func diffAddrs(t *testing.T, what string, want, got []netip.Addr) {
	t.Helper()
	if diff := cmp.Diff(sortedAddrs(want), sortedAddrs(got), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("%s (-want +got)\n%s", what, diff)
	}
}

// Start: the VIPs go on lo, the arp table is applied with the resolved
// real IP, no sysctl is written in nftables mode, one synchronous probe
// has run, and READY carries the status line; the first heartbeat says up.
func TestStartAppliesEverythingBeforeReady(t *testing.T) {
	h := newHarness(t, hconf{directors: true})
	h.start()
	ready := h.notes.events()[0]
	if want := "READY=1 STATUS=serving; 2/2 VIPs; arp ok (nftables), 0/1 directors answering"; ready != want {
		t.Errorf("first notification %q, want %q", ready, want)
	}
	diffAddrs(t, "on lo", []netip.Addr{testVIP4, testVIP6}, h.nl.OnLo())
	if diff := cmp.Diff([]string{"add 192.0.2.100/32 dev lo", "add 2001:db8::100/128 dev lo"}, h.nl.Calls()); diff != "" {
		t.Errorf("netlink changes (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]string{"apply tandem_backend vips [192.0.2.100] real_ip 127.0.0.1"}, h.nft.Calls()); diff != "" {
		t.Errorf("nftables changes (-want +got)\n%s", diff)
	}
	if sets := h.sys.Sets(); len(sets) != 0 {
		t.Errorf("sysctls written in nftables mode: %q", sets)
	}
	st := h.a.Status()
	if st.Host != (Host{Node: "web1", Interface: "eth0", RealIP: loIP}) {
		t.Errorf("host = %+v: not derived from the default route", st.Host)
	}
	if !st.ARP.TableOK || st.ARP.Mode != "nftables" || len(st.ARP.Counters) != 2 {
		t.Errorf("arp status = %+v", st.ARP)
	}
	if code, body := h.get(); code != 200 {
		t.Errorf("check endpoint: %d %q", code, body)
	}
	r := h.dir1.until(hbproto.StateUp)
	if r.Node != "web1" || r.RealIP != loIP || len(r.Services) != 1 || r.Services[0].Service != "www" || !r.Services[0].Healthy {
		t.Errorf("first report = %+v", r)
	}
	rec, err := ReadApplied(filepath.Join(h.dir, "state"))
	if err != nil || rec.NFTTable != "tandem_backend" || len(rec.VIPs) != 2 {
		t.Errorf("applied.json = %+v, %v", rec, err)
	}
}

// Sysctl mode writes arp_ignore and arp_announce on the interface and
// removes a table left by an earlier nftables configuration.
func TestStartSysctlMode(t *testing.T) {
	h := newHarness(t, hconf{arpMode: "sysctl"})
	h.nft.Apply(arpguard.Spec{Table: config.DefaultTableName, VIPs: []netip.Addr{testVIP4}, RealIP: loIP})
	h.nft.Calls()
	h.start()
	if diff := cmp.Diff([]string{"net/ipv4/conf/eth0/arp_ignore=1", "net/ipv4/conf/eth0/arp_announce=2"}, h.sys.Sets()); diff != "" {
		t.Errorf("sysctls (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]string{"remove tandem_backend"}, h.nft.Calls()); diff != "" {
		t.Errorf("nftables changes (-want +got)\n%s", diff)
	}
	if st := h.a.Status().ARP; !st.SysctlOK || st.Mode != "sysctl" {
		t.Errorf("arp status = %+v", st)
	}
}

// A start that cannot resolve its interface fails naming the key, before
// anything is put on the host.
func TestStartBadInterfaceChangesNothing(t *testing.T) {
	h := newHarness(t, hconf{iface: "eth9"})
	err := h.startErr()
	if err == nil || !strings.Contains(err.Error(), `key "interface": there is no interface "eth9"`) {
		t.Fatalf("start: %v", err)
	}
	if c := h.nl.Calls(); len(c) != 0 {
		t.Errorf("netlink changes: %q", c)
	}
	if c := h.nft.Calls(); len(c) != 0 {
		t.Errorf("nftables changes: %q", c)
	}
	if ev := h.notes.events(); len(ev) != 0 {
		t.Errorf("told systemd %q", ev)
	}
	h.run = nil // Run has returned, with the error expected
}

// The watches are wired: a VIP removed by someone else and the table
// deleted are put back on their change events, and counted as repairs.
func TestRepairsFollowTheEvents(t *testing.T) {
	h := newHarness(t, hconf{})
	h.start()
	// Twice each: each watch runs its checks one at a time, so the second
	// repair seen means the first one has been counted.
	for range 2 {
		if err := h.nl.Remove(testVIP4); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the VIP back on lo", h.nl.Changed, func() bool { return slices.Contains(h.nl.OnLo(), testVIP4) })
		h.nft.Delete(config.DefaultTableName)
		waitFor(t, "the table back", h.nft.Changed, func() bool { _, ok := h.nft.Table(config.DefaultTableName); return ok })
	}
	if n := h.a.guard.Status().Repairs; n < 1 {
		t.Errorf("arp table repairs = %d", n)
	}
	if n := h.a.vips.Status()[0].Repairs; n < 1 {
		t.Errorf("vip repairs = %d", n)
	}
}

// Reload: the VIP set changes (the dropped one is removed from lo), the
// table is re-rendered, the new key is used; RELOADING=1 then READY=1.
func TestReloadAppliesTheDifference(t *testing.T) {
	h := newHarness(t, hconf{directors: true})
	h.start()
	h.dir1.until(hbproto.StateUp)
	h.nl.Calls()
	h.nft.Calls()

	c := h.conf
	c.vips = []netip.Addr{testVIP4, testVIP4b}
	c.keyFile = h.writeKey("new.key", unitKey2)
	h.writeConfig(c)
	h.reload()
	waitFor(t, "the new VIP on lo", h.nl.Changed, func() bool { return slices.Contains(h.nl.OnLo(), testVIP4b) })
	diffAddrs(t, "on lo", []netip.Addr{testVIP4, testVIP4b}, h.nl.OnLo())
	calls := h.nl.Calls()
	if !slices.Contains(calls, "del 2001:db8::100/128 dev lo") || !slices.Contains(calls, "add 192.0.2.101/32 dev lo") || slices.Contains(calls, "del 192.0.2.100/32 dev lo") {
		t.Errorf("netlink changes: %q", calls)
	}
	want := arpguard.Spec{Table: config.DefaultTableName, VIPs: []netip.Addr{testVIP4, testVIP4b}, RealIP: loIP}
	waitFor(t, "the table re-rendered", h.nft.Changed, func() bool {
		got, _ := h.nft.Table(config.DefaultTableName)
		return slices.Equal(got.VIPs, want.VIPs)
	})
	h.dir1.rekey(unitKey2)
	h.a.hb.Poke()
	h.dir1.until(hbproto.StateUp) // opened with the new key
	rec, _ := ReadApplied(filepath.Join(h.dir, "state"))
	diffAddrs(t, "applied.json", want.VIPs, rec.VIPs)
}

// An invalid file keeps the running configuration, by SIGHUP and by the
// reload verb (which reports why).
func TestReloadInvalidKeepsTheRunningOne(t *testing.T) {
	h := newHarness(t, hconf{})
	h.start()
	h.nl.Calls()
	h.nft.Calls()
	running := h.a.cfg

	c := h.conf
	c.vips = []netip.Addr{testVIP4b}
	c.garbage = true
	h.writeConfig(c)
	h.reload()
	if !strings.Contains(h.logs.String(), "reload: invalid configuration, keeping the running one") {
		t.Errorf("log lacks the refusal:\n%s", h.logs)
	}
	if _, err := h.call(OpReload, nil); err == nil || !strings.Contains(err.Error(), "keeping the running one") {
		t.Errorf("reload verb: %v", err)
	}
	// So does an interface that does not exist.
	c.garbage, c.iface = false, "eth9"
	h.writeConfig(c)
	if _, err := h.call(OpReload, nil); err == nil || !strings.Contains(err.Error(), `no interface "eth9"`) {
		t.Errorf("reload verb: %v", err)
	}
	if h.a.cfg != running {
		t.Error("the running configuration was replaced")
	}
	if c := h.nl.Calls(); len(c) != 0 {
		t.Errorf("netlink changes: %q", c)
	}
	if c := h.nft.Calls(); len(c) != 0 {
		t.Errorf("nftables changes: %q", c)
	}
	diffAddrs(t, "on lo", []netip.Addr{testVIP4, testVIP6}, h.nl.OnLo())
}

// Maintenance on: persisted, 503 with the reason, a maintenance heartbeat
// at once. Off: back after one passing probe (rise 1), persisted off.
// A restart keeps a persisted on.
func TestMaintenanceOnOff(t *testing.T) {
	h := newHarness(t, hconf{directors: true})
	h.start()
	h.dir1.until(hbproto.StateUp)
	store := maintenance.Store{Dir: filepath.Join(h.dir, "state")}

	got, err := h.call(OpMaintenanceOn, MaintenanceOnArgs{Reason: "kernel upgrade"})
	if err != nil {
		t.Fatal(err)
	}
	if ms := got.(MaintenanceStatus); ms.Mode != maintenance.Maintenance || ms.Description != "maintenance: kernel upgrade" {
		t.Errorf("on answered %+v", ms)
	}
	if f, err := store.Load(); err != nil || !f.On || f.Reason != "kernel upgrade" {
		t.Errorf("persisted %+v, %v", f, err)
	}
	if code, body := h.get(); code != 503 || body != "maintenance: kernel upgrade" {
		t.Errorf("check endpoint: %d %q", code, body)
	}
	if r := h.dir1.until(hbproto.StateMaintenance); r.Reason != "maintenance: kernel upgrade" {
		t.Errorf("report = %+v", r)
	}

	if _, err := h.call(OpMaintenanceOff, nil); err != nil {
		t.Fatal(err)
	}
	h.dir1.until(hbproto.StateUp) // after the probe it asked for
	if code, body := h.get(); code != 200 {
		t.Errorf("check endpoint after off: %d %q", code, body)
	}
	if f, err := store.Load(); err != nil || f.On {
		t.Errorf("persisted %+v, %v", f, err)
	}

	// On again, then a restart: it starts in maintenance.
	if _, err := h.call(OpMaintenanceOn, MaintenanceOnArgs{Reason: "deploy"}); err != nil {
		t.Fatal(err)
	}
	h.stop()
	h.start()
	if code, body := h.get(); code != 503 || body != "maintenance: deploy" {
		t.Errorf("check endpoint after restart: %d %q", code, body)
	}
	h.dir1.until(hbproto.StateMaintenance)
}

// maintenance on --wait: the stream ends when the MASTER reports this
// server at weight 0 with no active connection; it times out otherwise.
func TestMaintenanceWaitForDrain(t *testing.T) {
	h := newHarness(t, hconf{directors: true})
	h.start()
	h.dir1.until(hbproto.StateUp)
	if _, err := h.call(OpMaintenanceOn, nil); err != nil {
		t.Fatal(err)
	}
	h.dir1.until(hbproto.StateMaintenance)
	dest := hbproto.DestinationStatus{Service: "TCP 192.0.2.100:80", Addr: netip.AddrPortFrom(loIP, 80), ConfiguredWeight: 1, ActiveConns: 3, Pool: hbproto.PoolDraining}

	// Still draining: times out, saying what is left.
	changed := h.a.hb.Changed()
	h.dir1.reply(hbproto.RoleMaster, dest)
	<-changed
	out, err := h.call(OpMaintenanceWait, WaitArgs{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var lines []maintenance.DrainStatus
	send := func(v any) error { lines = append(lines, v.(maintenance.DrainStatus)); return nil }
	err = out.(ctlsock.StreamFunc)(context.Background(), send)
	if err == nil || !strings.Contains(err.Error(), "timed out after 100ms") || !strings.Contains(err.Error(), "3 active") {
		t.Fatalf("wait: %v", err)
	}

	// Drained: done.
	lines = nil
	done := make(chan error, 1)
	go func() { done <- h.a.waitStream(waitLimit)(context.Background(), send) }()
	dest.ActiveConns = 0
	h.dir1.until(hbproto.StateMaintenance) // the wait pokes a report every second
	h.dir1.reply(hbproto.RoleMaster, dest)
	if err := <-done; err != nil {
		t.Fatalf("wait: %v", err)
	}
	if last := lines[len(lines)-1]; !last.Done {
		t.Errorf("last line %+v", last)
	}

	// Not in maintenance: nothing to wait for.
	if _, err := h.call(OpMaintenanceOff, nil); err != nil {
		t.Fatal(err)
	}
	err = h.a.waitStream(time.Second)(context.Background(), send)
	if err == nil || !strings.Contains(err.Error(), "maintenance is not on") {
		t.Errorf("wait after off: %v", err)
	}
}

// SIGTERM: STOPPING=1, a clean return, and the VIPs, the table and the
// check file stay (docs/backend.md); cleanup removes them.
func TestShutdownKeepsEverythingCleanupRemoves(t *testing.T) {
	checkFile := filepath.Join(t.TempDir(), "check.txt")
	h := newHarness(t, hconf{check: "check: {mode: file, file: " + checkFile + "}"})
	h.start()
	if _, err := os.Stat(checkFile); err != nil {
		t.Fatalf("check file: %v", err)
	}
	h.nl.Calls()
	h.nft.Calls()
	h.stop()
	if !slices.Contains(h.notes.events(), "STOPPING=1") {
		t.Errorf("told systemd %q", h.notes.events())
	}
	if c := h.nl.Calls(); len(c) != 0 {
		t.Errorf("netlink changes at stop: %q", c)
	}
	if c := h.nft.Calls(); len(c) != 0 {
		t.Errorf("nftables changes at stop: %q", c)
	}
	diffAddrs(t, "on lo after stop", []netip.Addr{testVIP4, testVIP6}, h.nl.OnLo())
	if _, err := os.Stat(checkFile); err != nil {
		t.Errorf("check file after stop: %v", err)
	}

	stateDir := filepath.Join(h.dir, "state")
	rep, err := cleanup(nil, stateDir, h.a.log, h.edges())
	if err != nil {
		t.Fatal(err)
	}
	diffAddrs(t, "cleanup removed", []netip.Addr{testVIP4, testVIP6}, rep.VIPs)
	if rep.Table != config.DefaultTableName || rep.CheckFile != checkFile {
		t.Errorf("cleanup report %+v", rep)
	}
	if got := h.nl.OnLo(); len(got) != 0 {
		t.Errorf("on lo after cleanup: %v", got)
	}
	if got := h.nft.Tables(); len(got) != 0 {
		t.Errorf("tables after cleanup: %v", got)
	}
	if _, err := os.Stat(checkFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("check file after cleanup: %v", err)
	}
	if _, err := os.Stat(filepath.Join(stateDir, AppliedFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("applied.json after cleanup: %v", err)
	}
}

// A reload from nftables to sysctl mode removes the table and writes the
// sysctls.
func TestReloadARPMode(t *testing.T) {
	h := newHarness(t, hconf{})
	h.start()
	h.nft.Calls()
	c := h.conf
	c.arpMode = "sysctl"
	h.writeConfig(c)
	if _, err := h.call(OpReload, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the table removed", h.nft.Changed, func() bool { return len(h.nft.Tables()) == 0 })
	if diff := cmp.Diff([]string{"remove tandem_backend"}, h.nft.Calls()); diff != "" {
		t.Errorf("nftables changes (-want +got)\n%s", diff)
	}
	waitFor(t, "the sysctls", h.sys.Changed, func() bool {
		v, _ := h.sys.Get("net/ipv4/conf/eth0/arp_announce")
		return v == "2"
	})
	if diff := cmp.Diff([]string{"net/ipv4/conf/eth0/arp_ignore=1", "net/ipv4/conf/eth0/arp_announce=2"}, h.sys.Sets()); diff != "" {
		t.Errorf("sysctls (-want +got)\n%s", diff)
	}
}
