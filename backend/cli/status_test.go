package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tandemlb/tandem/backend/app"
	"github.com/tandemlb/tandem/backend/arpguard"
	"github.com/tandemlb/tandem/backend/health"
	"github.com/tandemlb/tandem/backend/heartbeat"
	"github.com/tandemlb/tandem/backend/maintenance"
	"github.com/tandemlb/tandem/backend/vip"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

func TestPrintStatus(t *testing.T) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	v := netip.MustParseAddr("192.0.2.100")
	st := app.Status{
		Version: "1.0", PID: 42, Started: now.Add(-time.Hour),
		Host:  app.Host{Node: "web1", Interface: "eth0", RealIP: netip.MustParseAddr("192.0.2.11")},
		Check: app.CheckStatus{Verdict: health.Verdict{Reason: "maintenance: deploy"}, Mode: "listen", Where: "http://[::]:7481/check.txt"},
		Health: app.HealthStatus{Service: "www", Probe: "tcp connect 127.0.0.1:80", State: health.Healthy,
			LastProbe: now.Add(-time.Second), LastOK: true, LastTook: 300 * time.Microsecond},
		Maintenance: app.MaintenanceStatus{State: maintenance.State{Mode: maintenance.Maintenance, Reason: "deploy", Since: now.Add(-time.Minute)}, Description: "maintenance: deploy"},
		VIPs:        []vip.Status{{Addr: v, Present: true, Repairs: 2}},
		ARP: arpguard.Status{Mode: "nftables", Table: "tandem_backend", TablePresent: true, TableOK: true,
			Counters: []arpguard.RuleCounter{{Chain: "in", VIP: v, Packets: 5}, {Chain: "out", VIP: v, Packets: 1}}},
		Heartbeat: app.HeartbeatStatus{Stats: heartbeat.Stats{Sent: 10, Received: 9, Rejected: map[string]uint64{"replay": 1, "mac": 2}}, Interval: time.Second},
		Directors: []maintenance.DirectorView{
			{Addr: "192.0.2.2:7480", Name: "lb1", Role: hbproto.RoleMaster, RoleName: "master", LastReply: now.Add(-500 * time.Millisecond),
				Destinations: []hbproto.DestinationStatus{{Service: "TCP 192.0.2.100:80", Addr: netip.MustParseAddrPort("192.0.2.11:80"),
					Weight: 0, ConfiguredWeight: 1, ActiveConns: 3, InactiveConns: 7, Pool: hbproto.PoolDraining}}},
			{Addr: "192.0.2.3:7480", Name: "lb2", Role: hbproto.RoleBackup, RoleName: "backup", LastReply: now.Add(-time.Minute)},
			{Addr: "192.0.2.4:7480", RoleName: "unknown"},
		},
	}
	var b bytes.Buffer
	printStatus(&b, st, now)
	since := now.Add(-time.Minute).Local().Format(time.DateTime)
	want := `node:         web1 (real IP 192.0.2.11 on eth0), pid 42, version 1.0, up 1h0m0s
check:        503: maintenance: deploy via listen http://[::]:7481/check.txt
health:       www healthy (tcp connect 127.0.0.1:80; last probe 1s ago, took 300µs)
maintenance:  maintenance since ` + since + ` (maintenance: deploy)
vips on lo:   192.0.2.100 present (restored 2×)
arp guard:    mode nftables, table arp tandem_backend present
              in 192.0.2.100: 5 packets (ARP requests for it dropped)
              out 192.0.2.100: 1 packets (own ARP senders rewritten)
heartbeat:    every 1s, 10 sent, 0 send errors, 9 replies, rejected: mac 2, replay 1
director:     lb1 192.0.2.2:7480: master, last reply 500ms ago
              TCP 192.0.2.100:80 -> 192.0.2.11:80: weight 0/1, 3 active, 7 inactive, draining
director:     lb2 192.0.2.3:7480: backup, last reply 1m0s ago (SILENT)
director:     192.0.2.4:7480: no reply yet
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Fatalf("status (-want +got)\n%s", diff)
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fullStatus sets every field of app.Status and of the types in it, so
// that the golden file shows every key.
func fullStatus() app.Status {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := netip.MustParseAddr("192.0.2.100")
	return app.Status{
		Version: "1.2.3", PID: 42, Started: t0.Add(-time.Hour), Config: "/etc/tandem/backend.yaml",
		Host: app.Host{Node: "web1", Interface: "eth0", RealIP: netip.MustParseAddr("192.0.2.11"),
			RealIP6: netip.MustParseAddr("2001:db8::11")},
		Check: app.CheckStatus{Verdict: health.Verdict{OK: false, Reason: "maintenance: deploy"}, Mode: "file", Where: "/var/www/check.txt", FilePresent: true},
		Health: app.HealthStatus{Service: "www", Probe: "tcp connect 127.0.0.1:80", State: health.Unhealthy, Reason: "connection refused",
			Since: t0.Add(-time.Minute), LastProbe: t0.Add(-time.Second), LastOK: false, LastTook: 300 * time.Microsecond},
		Maintenance: app.MaintenanceStatus{State: maintenance.State{Mode: maintenance.Returning, Reason: "deploy", Since: t0.Add(-time.Minute), Passes: 2},
			Description: "returning: 2 passes"},
		VIPs: []vip.Status{{Addr: v, Present: true, Repairs: 2}},
		ARP: arpguard.Status{Mode: "both", Table: "tandem_backend", TablePresent: true, TableOK: true, Repairs: 1, SysctlOK: true,
			Counters:  []arpguard.RuleCounter{{Chain: "in", VIP: v, Packets: 5, Bytes: 140}},
			LastError: "none", Checked: t0.Add(-2 * time.Second)},
		Heartbeat: app.HeartbeatStatus{Stats: heartbeat.Stats{Sent: 10, SendErrors: 1, Received: 9, Rejected: map[string]uint64{"mac": 2},
			SessionID: 77, SessionID6: 78, Disabled: true, Unechoed: 3, Minimal: 4}, Interval: time.Second, Insecure: true},
		Directors: app.DirectorViews{
			{Addr: "192.0.2.2:7480", Name: "lb1", Role: hbproto.RoleMaster, RoleName: "master", LastReply: t0.Add(-500 * time.Millisecond),
				Destinations: []hbproto.DestinationStatus{{Service: "TCP 192.0.2.100:80", Addr: netip.MustParseAddrPort("192.0.2.11:80"),
					Weight: 0, ConfiguredWeight: 1, ActiveConns: 3, InactiveConns: 7, Pool: hbproto.PoolDraining}}},
			{Addr: "192.0.2.3:7480", RoleName: "unknown"},
		},
	}
}

// TestStatusJSON pins status --json: the golden file has every key, every
// key is snake_case, and the JSON reads back as the same status.
func TestStatusJSON(t *testing.T) {
	st := fullStatus()
	var b bytes.Buffer
	if err := printJSON(&b, st); err != nil {
		t.Fatal(err)
	}
	// A field is renamed only with care: scripts read them.
	testutil.Golden(t, "status", b.Bytes(), *update)
	var doc any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	var keys []string
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				keys = append(keys, k)
				if !snake.MatchString(k) && at != ".heartbeat.rejected" {
					t.Errorf("key %s.%s is not snake_case", at, k)
				}
				walk(x, at+"."+k)
			}
		case []any:
			for _, x := range v {
				walk(x, at+"[]")
			}
		}
	}
	walk(doc, "")
	for _, k := range []string{"service", "addr", "weight", "configured_weight", "active_conns", "inactive_conns", "pool", "pool_code", "role", "role_code"} {
		if !slices.Contains(keys, k) {
			t.Errorf("no key %q", k)
		}
	}
	var back app.Status
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, back, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("status round trip (-sent +decoded)\n%s", diff)
	}
}

// TestStatusJSONReadsOldNames: a new CLI reads an older daemon's answer,
// whose destinations had the Go field names and Pool as a number.
func TestStatusJSONReadsOldNames(t *testing.T) {
	old := `{"version":"1.0","directors":[{"addr":"192.0.2.2:7480","name":"lb1","role_code":2,"role":"master","last_reply":"2026-01-02T03:04:05Z",` +
		`"destinations":[{"Service":"TCP 192.0.2.100:80","Addr":"192.0.2.11:80","Weight":0,"ConfiguredWeight":1,"ActiveConns":3,"InactiveConns":7,"Pool":3}]},` +
		`{"addr":"192.0.2.3:7480","role_code":0,"role":"unknown","last_reply":"0001-01-01T00:00:00Z","destinations":null}]}`
	var st app.Status
	if err := json.Unmarshal([]byte(old), &st); err != nil {
		t.Fatal(err)
	}
	want := app.DirectorViews{
		{Addr: "192.0.2.2:7480", Name: "lb1", Role: hbproto.RoleMaster, RoleName: "master", LastReply: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			Destinations: []hbproto.DestinationStatus{{Service: "TCP 192.0.2.100:80", Addr: netip.MustParseAddrPort("192.0.2.11:80"),
				Weight: 0, ConfiguredWeight: 1, ActiveConns: 3, InactiveConns: 7, Pool: hbproto.PoolDraining}}},
		{Addr: "192.0.2.3:7480", RoleName: "unknown"},
	}
	if diff := cmp.Diff(want, st.Directors, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	for _, bad := range []string{`[{"destinations":[{"pool":"sideways"}]}]`, `[{"destinations":[{"pool":true}]}]`} {
		var v app.DirectorViews
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
