package cli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/control"
)

func statsStatus(now time.Time) control.Status {
	return control.Status{
		IPVS:    control.IPVSStatus{Enabled: true},
		StatsAt: now,
		Services: []control.ServiceStatus{
			{Key: "TCP 192.0.2.100:80", Forwarding: "DR", InKernel: true, Sorry: "192.0.2.99:80", SorryIn: true,
				Stats:      &control.Stats{Conns: 1234567, PktsIn: 98765432, BytesIn: 12345678901, CPS: 12, PPSIn: 3400, BPSIn: 456789},
				SorryStats: &control.Stats{Conns: 5, PktsIn: 50, BytesIn: 5000},
				RealServers: []control.RealServerStatus{
					{Addr: "192.0.2.11:80", Stats: &control.Stats{Conns: 1234562, PktsIn: 98765382, BytesIn: 12345673901, CPS: 12, PPSIn: 3400, BPSIn: 456789}},
					{Addr: "192.0.2.12:80"},
				}},
			{Key: "UDP 192.0.2.100:53", Forwarding: "NAT"},
		},
	}
}

var spaces = regexp.MustCompile(` {2,}`)

// squeeze collapses runs of spaces: the tests check the cells, not the
// column widths.
func squeeze(s string) string { return spaces.ReplaceAllString(s, " ") }

// hasAll fails t for each of wants that out lacks (spaces squeezed in
// both); what names the output.
func hasAll(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(squeeze(out), squeeze(want)) {
			t.Errorf("%s lacks %q:\n%s", what, want, out)
		}
	}
}

func TestPrintStats(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var b bytes.Buffer
	printStats(&b, statsStatus(now), statsColumns{totals: true})
	out := b.String()
	hasAll(t, "--stats", out,
		"SERVICE                   CONNS  INPKTS  OUTPKTS  INBYTES  OUTBYTES\n",
		"TCP 192.0.2.100:80         1.2M   98.8M        0    12.3G         0\n",
		"  -> 192.0.2.11:80         1.2M   98.8M        0    12.3G         0\n",
		"  -> 192.0.2.12:80            -       -        -        -         -\n",
		"  -> 192.0.2.99:80 (sorry)    5      50        0     5000         0\n",
		"UDP 192.0.2.100:53 (not in IPVS)",
		"DR: the director sees only client-to-server traffic",
	)
	b.Reset()
	printStats(&b, statsStatus(now), statsColumns{rates: true, exact: true})
	out = b.String()
	hasAll(t, "--rate --exact", out,
		"SERVICE                   CPS  INPPS  OUTPPS   INBPS  OUTBPS\n",
		"TCP 192.0.2.100:80         12   3400       0  456789       0\n",
		"rates per second",
	)
	b.Reset()
	st := statsStatus(now)
	st.StatsAt = time.Time{}
	printStats(&b, st, statsColumns{totals: true})
	if !strings.Contains(b.String(), "the daemon returned no counters") {
		t.Errorf("old daemon: %q", b.String())
	}
	b.Reset()
	printStats(&b, control.Status{}, statsColumns{totals: true})
	if !strings.Contains(b.String(), "IPVS is not in use") {
		t.Errorf("no IPVS: %q", b.String())
	}
}

func TestHumanCount(t *testing.T) {
	for v, want := range map[uint64]string{0: "0", 99999: "99999", 100000: "100K", 123456: "123K", 1234567: "1.2M", 1 << 63: "9.2E", 1<<64 - 1: "18.4E"} {
		if got := humanCount(v); got != want {
			t.Errorf("humanCount(%d) = %q, want %q", v, got, want)
		}
	}
}

func TestPrintPeers(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := control.Status{Peers: &control.PeersStatus{
		Node: "lb1", Role: "backup",
		Instances: []control.PeerInstanceStatus{
			{Instance: "VI_1", VRID: 51, Family: 4, State: "BACKUP", Priority: 90, Master: "192.0.2.2", MasterPriority: 100, PeerRole: "master", PeerPriority: 100, PeerKnown: true},
			{Instance: "VI_6", VRID: 52, Family: 6, State: "BACKUP", Priority: 90, PeerRole: "unknown"},
		},
		Probe: &control.PeerProbeStatus{Session: "up", Peer: "lb2", PeerAddr: "192.0.2.2:7481", LastHeard: now.Add(-50 * time.Millisecond),
			TxIntervalMS: 100, DetectMult: 3, DetectTimeMS: 300, LastDown: now.Add(-5 * time.Second), LastDownReason: "peer restarted",
			Instances: []control.PeerVRRPStatus{{VRID: 51, Family: 4, Role: "master", Priority: 100}, {VRID: 60, Family: 4, Role: "backup", Priority: 50}}},
		Agents: []control.AgentViewStatus{
			{RealIP: "192.0.2.11", Node: "rs1", Fresh: true, LastSeen: now.Add(-time.Second),
				Directors: []control.DirectorHeardStatus{{Director: "lb1", Role: "backup", Heard: now.Add(-1200 * time.Millisecond)}, {Director: "lb2", Role: "master", Heard: now.Add(-1100 * time.Millisecond)}}},
			{RealIP: "192.0.2.12", Node: "rs2", LastSeen: now.Add(-30 * time.Second)},
		},
	}}
	var b bytes.Buffer
	printPeers(&b, st, now)
	out := b.String()
	hasAll(t, "--peers", out,
		"this director: lb1, BACKUP\n",
		"peer director: lb2 at 192.0.2.2:7481, probe session UP, last heard 50ms ago (declared dead after 300ms silent: 3 × 100ms)\n",
		"session last went down 5s ago: peer restarted\n",
		"INSTANCE     VRID  THIS (lb1)  PRIO  LB2      PRIO  MASTER HEARD\n",
		"VI_1         51    BACKUP      90    MASTER   100   192.0.2.2 (priority 100)\n",
		"VI_6 (IPv6)  52    BACKUP      90    unknown  -     none heard\n",
		"the peer also reports instances this director does not run: vrid 60 IPv4 BACKUP priority 50\n",
		"rs1 (192.0.2.11)  report 1s ago          lb1 BACKUP 1.2s ago; lb2 MASTER 1.1s ago\n",
		"rs2 (192.0.2.12)  SILENT since 30s ago   no director heard",
	)
	b.Reset()
	st.Peers.Probe, st.Peers.Agents = nil, nil
	printPeers(&b, st, now)
	for _, want := range []string{"peer director: unknown (fast_failover is off", "PEER", "agents: none heard"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("without fast_failover lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	printPeers(&b, control.Status{}, now)
	if !strings.Contains(b.String(), "the daemon returned no peers' view") {
		t.Errorf("old daemon: %q", b.String())
	}
}
