package cli

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/backend/app"
	"github.com/tandemlb/tandem/backend/arpguard"
	"github.com/tandemlb/tandem/backend/health"
	"github.com/tandemlb/tandem/backend/heartbeat"
	"github.com/tandemlb/tandem/backend/maintenance"
	"github.com/tandemlb/tandem/backend/vip"
	"github.com/tandemlb/tandem/shared/hbproto"
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
