package guest

import (
	"bufio"
	"context"
	_ "embed"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/testutil"
)

//go:embed testdata/backend.yaml
var backendConfig []byte

//go:embed testdata/keepalived.conf
var directorConfig []byte

const (
	vip        = "192.0.2.100"
	nftTable   = "tandem_backend" // backend config default nft_table
	backendCfg = "/etc/tandem/backend.yaml"
)

// TestGuestBackendPackage: apt install of the previous build with a config
// in place starts the agent (READY=1), VIP on lo and ARP table present;
// reload; the sandbox; an upgrade to this build keeps the edited conffiles
// and restarts the agent without the VIP or the table going away; the
// watchdog restarts a stopped agent; apt purge leaves no VIP, no table, no
// state.
func TestGuestBackendPackage(t *testing.T) {
	inGuest(t)
	const pkg, unit = "tandem-backend", "tandem-backend.service"
	cur, prev := buildFrom(t, "TANDEM_DIST"), buildFrom(t, "TANDEM_PREV_DIST")
	dummyNet(t)

	// A valid config before the package: the postinst must start it.
	if err := os.MkdirAll("/etc/tandem", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(backendCfg, backendConfig, 0o644); err != nil {
		t.Fatal(err)
	}
	apt(t, "install "+prev.deb(pkg))
	if v := installedVersion(t, pkg); v != prev.version {
		t.Fatalf("installed %q, want %s", v, prev.version)
	}
	waitRunning(t, unit)
	if out := sh(t, "systemctl is-enabled "+unit); strings.TrimSpace(out) != "enabled" {
		t.Errorf("not enabled: %s", out)
	}
	if fi, err := os.Stat("/etc/tandem/heartbeat.key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("heartbeat key: %v %v, want mode 0600", fi, err)
	}
	waitFor(t, "VIP on lo and the arp table", 20*time.Second, func() bool {
		out, _ := exec.Command("ip", "-o", "addr", "show", "dev", "lo").Output()
		return strings.Contains(string(out), vip+"/32") && exec.Command("nft", "list", "table", "arp", nftTable).Run() == nil
	})
	sh(t, "nft list table arp "+nftTable)
	checkSandbox(t, unit, "net/ipv4/conf/all/arp_ignore")
	checkReload(t, unit, backendCfg)

	// Upgrade with edited conffiles; watch for the VIP or table going away.
	appendLine(t, backendCfg, "# edited by the vmtest")
	appendLine(t, "/etc/default/tandem-backend", "# edited by the vmtest")
	pid := mainPID(t, unit)
	ctx, cancel := context.WithCancel(context.Background())
	ipmon := exec.CommandContext(ctx, "ip", "-o", "monitor", "address")
	nftmon := exec.CommandContext(ctx, "nft", "monitor", "tables")
	var ipOut, nftOut strings.Builder
	ipmon.Stdout, nftmon.Stdout = &ipOut, &nftOut
	if err := ipmon.Start(); err != nil {
		t.Fatal(err)
	}
	if err := nftmon.Start(); err != nil {
		t.Fatal(err)
	}
	apt(t, "install "+cur.deb(pkg))
	waitRunning(t, unit)
	testutil.Settle(2 * time.Second) // let the new agent settle before the monitors stop
	cancel()
	_ = ipmon.Wait()
	_ = nftmon.Wait()
	t.Logf("ip monitor during the upgrade:\n%s\nnft monitor:\n%s", ipOut.String(), nftOut.String())
	if v := installedVersion(t, pkg); v != cur.version {
		t.Fatalf("after the upgrade %q is installed, want %s", v, cur.version)
	}
	if got := mainPID(t, unit); got == pid {
		t.Errorf("the upgrade did not restart the agent (PID %d)", pid)
	}
	mustContain(t, backendCfg, "# edited by the vmtest")
	mustContain(t, "/etc/default/tandem-backend", "# edited by the vmtest")
	for _, l := range lines(ipOut.String()) {
		if strings.HasPrefix(l, "Deleted") && strings.Contains(l, vip) {
			t.Errorf("the VIP went away during the upgrade: %s", l)
		}
	}
	for _, l := range lines(nftOut.String()) {
		if strings.Contains(l, "delete table arp "+nftTable) {
			t.Errorf("the arp table went away during the upgrade: %s", l)
		}
	}

	checkWatchdog(t, unit)

	apt(t, "purge "+pkg)
	if v := installedVersion(t, pkg); v != "" {
		t.Errorf("still installed after purge: %s", v)
	}
	if out, _ := exec.Command("ip", "-o", "addr", "show", "dev", "lo").Output(); strings.Contains(string(out), vip) {
		t.Errorf("purge left the VIP on lo:\n%s", out)
	}
	if exec.Command("nft", "list", "table", "arp", nftTable).Run() == nil {
		t.Errorf("purge left table arp %s", nftTable)
	}
	for _, p := range []string{"/var/lib/tandem-backend", "/run/tandem-backend", backendCfg,
		"/etc/default/tandem-backend", "/etc/tandem/heartbeat.key", "/etc/tandem", "/lib/systemd/system/" + unit} {
		if exists(p) {
			t.Errorf("purge left %s", p)
		}
	}
}

// TestGuestDirectorPackage: apt install without a config enables the
// director but does not start it, and says why; ip_vs and the schedulers
// are loaded from modules-load.d and the sysctl.d values applied; with a
// keepalived.conf named in /etc/default it starts (READY=1) and programs
// IPVS; reload; the sandbox; an upgrade keeps the edited conffiles; the
// watchdog; apt purge leaves no state.
func TestGuestDirectorPackage(t *testing.T) {
	inGuest(t)
	const pkg, unit = "tandem-director", "tandem-director.service"
	cur, prev := buildFrom(t, "TANDEM_DIST"), buildFrom(t, "TANDEM_PREV_DIST")
	dummyNet(t)
	if exists("/proc/net/ip_vs") {
		t.Log("note: ip_vs was loaded before the install; modules-load.d is then not what loaded it")
	}

	out := apt(t, "install "+prev.deb(pkg))
	if !strings.Contains(out, "enabled, but not started") {
		t.Errorf("install without a config did not explain why the director is not started")
	}
	if s := unitProps(t, unit, "ActiveState", "UnitFileState"); s["UnitFileState"] != "enabled" || s["ActiveState"] != "inactive" {
		t.Errorf("without a config: %v, want enabled and inactive", s)
	}
	if !exists("/proc/net/ip_vs") {
		t.Errorf("ip_vs not loaded after the install (modules-load.d)")
	}
	mods, _ := os.ReadFile("/proc/modules")
	for _, m := range []string{"ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc"} {
		if !strings.Contains(string(mods), m+" ") {
			t.Errorf("module %s not loaded", m)
		}
	}
	for key, want := range map[string]string{
		"expire_nodest_conn": "1", "expire_quiescent_template": "1", "conn_reuse_mode": "3",
	} {
		got, err := os.ReadFile("/proc/sys/net/ipv4/vs/" + key)
		if err != nil || strings.TrimSpace(string(got)) != want {
			t.Errorf("net.ipv4.vs.%s = %q (%v), want %s", key, got, err, want)
		}
	}

	// A keepalived.conf, named through the environment file (a conffile).
	if err := os.WriteFile("/etc/tandem/keepalived.conf", directorConfig, 0o644); err != nil {
		t.Fatal(err)
	}
	appendLine(t, "/etc/default/tandem-director", "TANDEM_CONFIG=/etc/tandem/keepalived.conf")
	sh(t, "tandem-director check-config /etc/tandem/keepalived.conf")
	sh(t, "systemctl start "+unit)
	waitRunning(t, unit)
	waitFor(t, "the virtual service in IPVS", 30*time.Second, func() bool {
		out, _ := exec.Command("ipvsadm", "-Ln").Output()
		return strings.Contains(string(out), vip+":80")
	})
	sh(t, "ipvsadm -Ln")
	checkSandbox(t, unit, "net/ipv4/vs/conn_reuse_mode")
	checkReload(t, unit, "/etc/tandem/keepalived.conf")

	appendLine(t, "/etc/tandem/director.yaml", "# edited by the vmtest")
	pid := mainPID(t, unit)
	apt(t, "install "+cur.deb(pkg))
	waitRunning(t, unit)
	if v := installedVersion(t, pkg); v != cur.version {
		t.Fatalf("after the upgrade %q is installed, want %s", v, cur.version)
	}
	if got := mainPID(t, unit); got == pid {
		t.Errorf("the upgrade did not restart the director (PID %d)", pid)
	}
	mustContain(t, "/etc/tandem/director.yaml", "# edited by the vmtest")
	mustContain(t, "/etc/default/tandem-director", "TANDEM_CONFIG=/etc/tandem/keepalived.conf")

	checkWatchdog(t, unit)

	apt(t, "purge "+pkg)
	if v := installedVersion(t, pkg); v != "" {
		t.Errorf("still installed after purge: %s", v)
	}
	for _, p := range []string{"/var/lib/tandem-director", "/run/tandem-director", "/etc/tandem/director.yaml",
		"/etc/default/tandem-director", "/etc/tandem/heartbeat.key", "/usr/lib/modules-load.d/tandem-director.conf",
		"/usr/lib/sysctl.d/60-tandem-director.conf", "/lib/systemd/system/" + unit} {
		if exists(p) {
			t.Errorf("purge left %s", p)
		}
	}
	// Our keepalived.conf is the admin's file, not the package's: it stays.
	if !exists("/etc/tandem/keepalived.conf") {
		t.Errorf("purge deleted /etc/tandem/keepalived.conf, which no package owns")
	}
}

func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
