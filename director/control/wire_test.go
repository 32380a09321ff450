package control

import (
	"bytes"
	"encoding/json"
	"flag"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/shared/ctlsock"
	"github.com/tandemlb/tandem/shared/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares the wire bytes got with testdata/name.golden (rewritten
// with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testutil.Golden(t, name, got, *update)
}

// requestLine is the line the client sends for op with args
// (ctlsock.Client: the request marshalled, then a newline).
func requestLine(t *testing.T, op string, args any) []byte {
	t.Helper()
	req := ctlsock.Request{Op: op}
	if args != nil {
		a, err := json.Marshal(args)
		if err != nil {
			t.Fatal(err)
		}
		req.Args = a
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// responseLine is the line the server sends for a successful op
// returning data (ctlsock.Server).
func responseLine(t *testing.T, data any) []byte {
	t.Helper()
	d, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ctlsock.Response{OK: true, Data: d})
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// decodesTo decodes a response line as the client does and requires a
// success carrying sent.
func decodesTo[T any](t *testing.T, line []byte, sent T) {
	t.Helper()
	var resp ctlsock.Response
	if err := json.Unmarshal(line, &resp); err != nil {
		t.Fatal(err)
	}
	if !resp.OK {
		t.Fatal("ok is false")
	}
	var got T
	if err := json.Unmarshal(resp.Data, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sent, got); diff != "" {
		t.Errorf("%T round trip (-sent +decoded):\n%s", sent, diff)
	}
}

// TestDrainRequestWire: the drain request on the wire, and the daemon's
// decoding of it back into DrainArgs.
func TestDrainRequestWire(t *testing.T) {
	args := DrainArgs{Target: "192.0.2.11:80", Reason: "kernel update"}
	line := requestLine(t, OpDrain, args)
	golden(t, "drain_request.json", line)

	req, err := ctlsock.DecodeRequest(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	if req.Op != OpDrain {
		t.Errorf("op %q, want %q", req.Op, OpDrain)
	}
	var got DrainArgs
	if err := req.DecodeArgs(&got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(args, got); diff != "" {
		t.Errorf("args round trip (-sent +decoded):\n%s", diff)
	}
}

// TestStatusResponseWire: the status response on the wire, every field
// set, and its decoding back into Status.
func TestStatusResponseWire(t *testing.T) {
	st := sampleStatus()
	line := responseLine(t, st)
	golden(t, "status_response.json", line)
	decodesTo(t, line, st)
}

// TestDrainResponseWire: the drain response on the wire.
func TestDrainResponseWire(t *testing.T) {
	res := DrainResult{Servers: []DrainedServer{{Service: "TCP 192.0.2.100:80", RS: "192.0.2.11:80", State: "draining", Weight: 0, Active: 7}}}
	line := responseLine(t, res)
	golden(t, "drain_response.json", line)
	decodesTo(t, line, res)
}

// sampleStatus sets every field of Status and of the types in it, so that
// the golden file shows every key.
func sampleStatus() Status {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	agent := AgentStatus{
		RealIP: "192.0.2.11", Node: "rs1", State: "maintenance", Reason: "deploy", Fresh: true,
		LastSeen: t0.Add(-time.Second), Peer: "192.0.2.11:41000", Reports: 12, Known: true, ClusterKey: true,
	}
	return Status{
		Version: "1.2.3", PID: 42, Started: t0.Add(-time.Hour), Config: "/etc/keepalived/keepalived.conf", Format: "keepalived",
		Node: "lb1", Role: "master",
		VRRP: []VRRPStatus{{
			Instance: "VI_1", Interface: "eth0", VRID: 51, Version: 2, State: "MASTER", Priority: 90, BasePriority: 100,
			FaultSources: []string{"script chk: failed"}, SyncGroup: "G1", Master: "192.0.2.2", MasterPriority: 90,
			Since: t0.Add(-time.Minute), Reason: "higher priority", VIPs: []string{"192.0.2.100/32"}, Received: 5, Sent: 600,
			Dropped: map[string]uint64{"auth": 1}, Error: "none", Yielding: true,
		}},
		IPVS: IPVSStatus{Enabled: true, Error: "no ip_vs", SyncDaemons: []string{"master on eth1 syncid 51"}},
		Services: []ServiceStatus{{
			Key: "TCP 192.0.2.100:80", Scheduler: "mh", SchedulerFlags: []string{"mh-fallback", "mh-port"}, Fingerprint: "0123456789abcdef",
			Forwarding: "DR", Persistence: "5m0s", DelayLoop: "5s",
			QuorumUp: true, LiveWeight: 2, Quorum: 1, Sorry: "192.0.2.99:80", SorryIn: true, InKernel: true, LastError: "EEXIST",
			RealServers: []RealServerStatus{{
				Addr: "192.0.2.11:80", State: "draining", Since: t0.Add(-30 * time.Second), Reason: "operator drain",
				Weight: 0, ConfiguredWeight: 1, Present: true, KernelWeight: 0, Active: 3, Inactive: 4,
				Drain: true, DrainReason: "kernel update", DrainDeadline: t0.Add(time.Minute),
				Checks: []CheckStatus{{Name: "HTTP_GET", Up: true, LastOK: false, Last: t0.Add(-2 * time.Second), Reason: "status 503", Failures: 1}},
				Agent:  &agent,
			}},
		}},
		Heartbeat: HeartbeatStatus{
			Enabled: true, Listen: "[::]:7480", Insecure: true, Disabled: "no key", Accepted: 100, Replies: 99, ReplyErrors: 1,
			Dropped: map[string]uint64{"mac": 3, "replay": 1},
		},
		Agents:          []AgentStatus{agent},
		Reloads:         2,
		LastReload:      t0.Add(-10 * time.Minute),
		LastReloadError: "bad file",
		FastFailover: &FastFailoverStatus{
			Session: "up", Peer: "lb2", PeerAddr: "192.0.2.2", Sent: 10, Received: 9, Takeovers: 1, Vetoes: 2,
			Witnesses: []string{"192.0.2.11"}, Dropped: map[string]uint64{"ttl": 1},
		},
		Warnings:           []string{"net.ipv4.vs.conntrack is 1"},
		ConfigWarnings:     3,
		ConfigWarningsLine: "3 configuration warnings: tandem-director check-config",
		Trackers:           []TrackerStatus{{Kind: "file", Name: "/run/weight", State: "OK", Reason: "read", Value: -20, Last: t0.Add(-3 * time.Second)}},
		SyncGroups:         []SyncGroupStatus{{Name: "G1", State: "MASTER", Since: t0.Add(-time.Minute), Members: []string{"VI_1", "VI_2"}, GlobalTracking: true}},
		BGP: &BGPStatus{
			LocalAS: 65001, RouterID: "10.0.0.11", Draining: true, FingerprintGate: "open",
			VIPs:  sampleBGPVIPs(t0),
			Peers: []BGPPeerStatus{{Address: "10.0.0.1", AS: 65000, State: "established", Established: true, Since: t0.Add(-time.Hour)}},
			Agreement: &BGPAgreementStatus{
				Listen: "10.0.0.11:7482",
				Gates:  []BGPGateStatus{{VIP: "192.0.2.100", Open: false, Reason: "differs from lb2 (10.0.0.12), which announces it: TCP 192.0.2.100:80: fingerprint 00000000000000bb there, 000000000000000b here"}},
				Directors: []BGPDirectorStatus{
					{Address: "10.0.0.12", Node: "lb2", LastHeard: t0.Add(-time.Second), Fresh: true, Announcing: []string{"192.0.2.100"},
						Disagree: "TCP 192.0.2.100:80: fingerprint 00000000000000bb there, 000000000000000b here"},
					{Address: "10.0.0.13", Disagree: "never heard"},
				},
				Sent: 12, Dropped: map[string]uint64{"unknown": 1},
			},
		},
	}
}

// sampleBGPVIPs are BGP VIPs in every state.
func sampleBGPVIPs(t0 time.Time) []BGPVIPStatus {
	return []BGPVIPStatus{
		{VIP: "192.0.2.100", State: "shutting-down", Why: "drain --self", Until: t0.Add(10 * time.Second)},
		{VIP: "2001:db8::100", State: "announced"},
		{VIP: "192.0.2.200", State: "withdrawn", Why: "quorum down"},
	}
}

// TestDrainSelfWire: drain --self's request and response on the wire, and
// their decoding.
func TestDrainSelfWire(t *testing.T) {
	args := DrainSelfArgs{On: true}
	line := requestLine(t, OpDrainSelf, args)
	golden(t, "drain_self_request.json", line)
	req, err := ctlsock.DecodeRequest(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	var got DrainSelfArgs
	if err := req.DecodeArgs(&got); err != nil || req.Op != OpDrainSelf || got != args {
		t.Errorf("decoded %q %+v (%v), want %q %+v", req.Op, got, err, OpDrainSelf, args)
	}
	res := DrainSelfResult{Draining: true, VIPs: sampleBGPVIPs(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
	line = responseLine(t, res)
	golden(t, "drain_self_response.json", line)
	decodesTo(t, line, res)
}

// TestStatusRequestWire: a plain status request carries no arguments (as
// before StatusArgs existed); --stats and --peers add theirs.
func TestStatusRequestWire(t *testing.T) {
	if got, want := string(requestLine(t, OpStatus, nil)), `{"op":"status"}`+"\n"; got != want {
		t.Errorf("plain status request %q, want %q", got, want)
	}
	args := StatusArgs{Stats: true, Peers: true}
	line := requestLine(t, OpStatus, args)
	golden(t, "status_request_stats.json", line)
	req, err := ctlsock.DecodeRequest(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	var got StatusArgs
	if err := req.DecodeArgs(&got); err != nil {
		t.Fatal(err)
	}
	if got != args {
		t.Errorf("args round trip: sent %+v, decoded %+v", args, got)
	}
	if b := requestLine(t, OpStatus, StatusArgs{Stats: true}); string(b) != `{"op":"status","args":{"stats":true}}`+"\n" {
		t.Errorf("stats only: %s", b)
	}
}

// TestStatusStatsResponseWire: the status response with the counters and
// the peers' view (status --stats --peers), every new field set, and its
// decoding back. The plain response is pinned by TestStatusResponseWire.
func TestStatusStatsResponseWire(t *testing.T) {
	st := sampleStatus()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st.StatsAt = t0
	svc := &st.Services[0]
	svc.Stats = &Stats{Conns: 1000, PktsIn: 50000, PktsOut: 0, BytesIn: 1 << 33, BytesOut: 0, CPS: 12, PPSIn: 340, PPSOut: 0, BPSIn: 40000, BPSOut: 0}
	svc.SorryStats = &Stats{Conns: 3, PktsIn: 30, BytesIn: 3000}
	svc.RealServers[0].Stats = &Stats{Conns: 997, PktsIn: 49970, PktsOut: 1, BytesIn: 1<<33 - 3000, BytesOut: 2, CPS: 12, PPSIn: 340, PPSOut: 3, BPSIn: 40000, BPSOut: 4}
	st.Peers = &PeersStatus{
		Node: "lb1", Role: "master",
		Instances: []PeerInstanceStatus{{
			Instance: "VI_1", VRID: 51, Family: 4, State: "MASTER", Priority: 100, Master: "192.0.2.1", MasterPriority: 100,
			PeerRole: "backup", PeerPriority: 90, PeerKnown: true,
		}},
		Probe: &PeerProbeStatus{
			Session: "up", Peer: "lb2", PeerAddr: "192.0.2.2:7481", Pinned: "192.0.2.2", LastHeard: t0.Add(-50 * time.Millisecond),
			TxIntervalMS: 100, DetectMult: 3, DetectTimeMS: 300, LastDown: t0.Add(-time.Hour), LastDownReason: "peer restarted",
			Sent: 36000, Received: 35990,
			Instances: []PeerVRRPStatus{{VRID: 51, Family: 4, Role: "backup", Priority: 90}},
		},
		Agents: []AgentViewStatus{{
			RealIP: "192.0.2.11", Node: "rs1", Fresh: true, LastSeen: t0.Add(-time.Second),
			Directors: []DirectorHeardStatus{{Director: "lb1", Role: "master", AgeMS: 200, Heard: t0.Add(-1200 * time.Millisecond)}},
		}},
	}
	line := responseLine(t, st)
	golden(t, "status_stats_response.json", line)
	decodesTo(t, line, st)
}

// TestFailoverWire: the failover request and response on the wire, every
// field set, and their decoding back.
func TestFailoverWire(t *testing.T) {
	args := FailoverArgs{Instance: "VI_1", Cancel: true, Force: true, TimeoutMS: 10000}
	line := requestLine(t, OpFailover, args)
	golden(t, "failover_request.json", line)
	req, err := ctlsock.DecodeRequest(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	var got FailoverArgs
	if err := req.DecodeArgs(&got); err != nil {
		t.Fatal(err)
	}
	if got != args {
		t.Errorf("args round trip: sent %+v, decoded %+v", args, got)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	res := FailoverResult{TimeoutMS: 10000, Instances: []FailoverInstance{{
		Instance: "VI_1", VRID: 51, SyncGroup: "G1", FromState: "MASTER", State: "BACKUP", Yielding: true,
		Peer: "192.0.2.2", PeerPriority: 90, ReleasedAt: t0, PeerMasterAfterMS: 412, MasterAfterMS: -1,
		ConnectionsHandedOver: 1200, HandOverMessages: 25, HandOverMS: 31, HandOverError: "none", Note: "none", Error: "none",
	}}}
	rl := responseLine(t, res)
	golden(t, "failover_response.json", rl)
	decodesTo(t, rl, res)
	if res.OK() {
		t.Error("OK() with an instance in error")
	}
	res.Instances[0].Error = ""
	if !res.OK() || (FailoverResult{}).OK() {
		t.Error("OK(): want true with every instance fine, false with none")
	}
}
