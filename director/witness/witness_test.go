package witness

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tandemlb/tandem/shared/hbproto"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

type obs struct {
	at    int // ms
	agent string
	seen  []hbproto.DirectorSeen
}

// ipOf is the real IP of agent "webN": 192.0.2.N (N < 256), else
// 198.51.100.x in order.
func ipOf(agent string) netip.Addr {
	var n int
	fmt.Sscanf(agent, "web%d", &n)
	if n < 256 {
		return netip.AddrFrom4([4]byte{192, 0, 2, byte(n)})
	}
	return netip.AddrFrom4([4]byte{198, 51, byte(n >> 8), byte(n)})
}

// servers are the configured real servers of the tests: web1..web9.
func servers() []netip.Addr {
	var out []netip.Addr
	for i := 1; i <= 9; i++ {
		out = append(out, ipOf(fmt.Sprintf("web%d", i)))
	}
	return out
}

// wit is how a Verdict names agent's witness.
func wit(agent string) string { return ipOf(agent).String() + " (" + agent + ")" }

func report(agent string, seen ...hbproto.DirectorSeen) *hbproto.AgentReport {
	return &hbproto.AgentReport{Node: agent, RealIP: ipOf(agent), State: hbproto.StateUp, Seen: seen}
}

func master(name string, ageMS int) hbproto.DirectorSeen {
	return hbproto.DirectorSeen{Director: name, Role: hbproto.RoleMaster, Age: time.Duration(ageMS) * time.Millisecond}
}

func backup(name string, ageMS int) hbproto.DirectorSeen {
	return hbproto.DirectorSeen{Director: name, Role: hbproto.RoleBackup, Age: time.Duration(ageMS) * time.Millisecond}
}

func TestVerdict(t *testing.T) {
	// The backup lb2 last heard lb1 at 1000 ms; lb1 sends every 50 ms, so
	// After is 1050 ms. Queries at 1200 ms unless said.
	q := Query{Self: "lb2", Master: "lb1", After: ms(1050)}
	tests := []struct {
		name  string
		cfg   Config
		obs   []obs
		q     Query
		now   int
		alive bool
		wits  []string
		fresh int
	}{
		{"no agents: plain VRRP", Config{Quorum: 1}, nil, q, 1200, false, nil, 0},
		{"quorum 0 disables the rule", Config{}, []obs{{1190, "web1", []hbproto.DirectorSeen{master("lb1", 2)}}}, q, 1200, false, []string{"web1"}, 1},
		{"link broken, master alive: one agent heard it after After", Config{Quorum: 1},
			[]obs{{1190, "web1", []hbproto.DirectorSeen{master("lb1", 2), backup("lb2", 1)}}}, q, 1200, true, []string{"web1"}, 1},
		{"master crashed: the last reply agents have is before After", Config{Quorum: 1},
			[]obs{{1190, "web1", []hbproto.DirectorSeen{master("lb1", 160)}}, {1195, "web2", []hbproto.DirectorSeen{master("lb1", 900)}}}, q, 1200, false, nil, 2},
		{"reply exactly at After does not count", Config{Quorum: 1},
			[]obs{{1100, "web1", []hbproto.DirectorSeen{master("lb1", 50)}}}, q, 1200, false, nil, 1},
		{"stale report: received more than MaxReportAge ago", Config{Quorum: 1, MaxReportAge: time.Second, MaxEvidenceAge: time.Hour},
			[]obs{{1100, "web1", []hbproto.DirectorSeen{master("lb1", 0)}}}, q, 2101, false, nil, 0},
		{"old evidence: master reply older than MaxEvidenceAge", Config{Quorum: 1, MaxReportAge: time.Hour, MaxEvidenceAge: time.Second},
			[]obs{{4000, "web1", []hbproto.DirectorSeen{master("lb1", 2000)}}}, q, 4000, false, nil, 1},
		{"master dies during the partition: evidence ages out", Config{Quorum: 1},
			[]obs{{1500, "web1", []hbproto.DirectorSeen{master("lb1", 10)}}, {4500, "web1", []hbproto.DirectorSeen{master("lb1", 3010)}}}, q, 4600, false, nil, 1},
		{"agent saw lb1 as BACKUP", Config{Quorum: 1},
			[]obs{{1190, "web1", []hbproto.DirectorSeen{backup("lb1", 2)}}}, q, 1200, false, nil, 1},
		{"a later report replaces the earlier one", Config{Quorum: 1},
			[]obs{{1150, "web1", []hbproto.DirectorSeen{master("lb1", 2)}}, {1190, "web1", []hbproto.DirectorSeen{backup("lb1", 2)}}}, q, 1200, false, nil, 1},
		{"ourselves as MASTER never counts", Config{Quorum: 1},
			[]obs{{1190, "web1", []hbproto.DirectorSeen{master("lb2", 2)}}}, Query{Self: "lb2", After: ms(1050)}, 1200, false, nil, 1},
		{"master unknown: any other director", Config{Quorum: 1},
			[]obs{{1190, "web1", []hbproto.DirectorSeen{master("lb9", 2)}}}, Query{Self: "lb2", After: ms(1050)}, 1200, true, []string{"web1"}, 1},
		{"master named: another director does not count", Config{Quorum: 1},
			[]obs{{1190, "web1", []hbproto.DirectorSeen{master("lb9", 2)}}}, q, 1200, false, nil, 1},
		{"quorum 2, one witness", Config{Quorum: 2},
			[]obs{{1190, "web1", []hbproto.DirectorSeen{master("lb1", 2)}}, {1190, "web2", []hbproto.DirectorSeen{master("lb1", 500)}}}, q, 1200, false, []string{"web1"}, 2},
		{"quorum 2, two witnesses", Config{Quorum: 2},
			[]obs{{1190, "web2", []hbproto.DirectorSeen{master("lb1", 2)}}, {1195, "web1", []hbproto.DirectorSeen{master("lb1", 100)}}}, q, 1200, true, []string{"web1", "web2"}, 2},
		{"agent without witness data (older agent)", Config{Quorum: 1},
			[]obs{{1190, "web1", nil}}, q, 1200, false, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := NewTable(tt.cfg)
			tb.SetServers(servers())
			for _, o := range tt.obs {
				tb.Observe(ms(o.at), report(o.agent, o.seen...))
			}
			got := tb.Verdict(ms(tt.now), tt.q)
			var wits []string
			for _, w := range tt.wits {
				wits = append(wits, wit(w))
			}
			want := Verdict{Alive: tt.alive, Witnesses: wits, Agents: tt.fresh, Quorum: tt.cfg.Quorum}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Verdict (-want +got)\n%s", diff)
			}
			if n := tb.Agents(ms(tt.now)); n != tt.fresh {
				t.Errorf("Agents = %d, want %d", n, tt.fresh)
			}
		})
	}
}

func TestTableBounded(t *testing.T) {
	tb := NewTable(Config{Quorum: 1})
	var ips []netip.Addr
	for i := range MaxAgents + 10 {
		ips = append(ips, ipOf(fmt.Sprintf("web%d", 256+i)))
	}
	tb.SetServers(ips)
	if len(tb.servers) != MaxAgents {
		t.Fatalf("%d servers kept, want %d", len(tb.servers), MaxAgents)
	}
	for i := range MaxAgents + 10 {
		tb.Observe(t0.Add(time.Duration(i)*time.Microsecond), report(fmt.Sprintf("web%d", 256+i), master("lb1", 0)))
	}
	if len(tb.agents) != MaxAgents || tb.Ignored() != 10 {
		t.Fatalf("%d agents kept, %d ignored, want %d and 10", len(tb.agents), tb.Ignored(), MaxAgents)
	}
	tb.Observe(t0, nil)
	tb.Observe(t0, &hbproto.AgentReport{})
	if len(tb.agents) != MaxAgents || tb.Ignored() != 11 {
		t.Error("a report without a real IP was recorded")
	}
}

// TestWitnessesAreRealServers: forged agent names cannot make witnesses.
// Only a configured real server counts, and each real IP once, whatever
// node names claim it (issue 15).
func TestWitnessesAreRealServers(t *testing.T) {
	q := Query{Self: "lb2", Master: "lb1", After: ms(1050)}
	forged := func(node string, ip string) *hbproto.AgentReport {
		return &hbproto.AgentReport{Node: node, RealIP: netip.MustParseAddr(ip), State: hbproto.StateUp, Seen: []hbproto.DirectorSeen{master("lb1", 2)}}
	}
	tests := []struct {
		name    string
		reports []*hbproto.AgentReport
		quorum  int
		alive   bool
		wits    []string
		ignored uint64
	}{
		{"unconfigured real IP: not a witness", []*hbproto.AgentReport{forged("web1", "203.0.113.7")}, 1, false, nil, 1},
		{"no real IP", []*hbproto.AgentReport{forged("web1", "0.0.0.0"), {Node: "x", Seen: []hbproto.DirectorSeen{master("lb1", 2)}}}, 1, false, nil, 2},
		{"many node names, one real IP: one witness", []*hbproto.AgentReport{
			forged("a", "192.0.2.1"), forged("b", "192.0.2.1"), forged("c", "192.0.2.1"), forged("d", "::ffff:192.0.2.1")}, 2, false, []string{"192.0.2.1 (d)"}, 0},
		{"two configured real servers: two witnesses", []*hbproto.AgentReport{forged("web1", "192.0.2.1"), forged("web2", "192.0.2.2")}, 2, true,
			[]string{"192.0.2.1 (web1)", "192.0.2.2 (web2)"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := NewTable(Config{Quorum: tt.quorum})
			tb.SetServers(servers())
			for _, r := range tt.reports {
				tb.Observe(ms(1190), r)
			}
			got := tb.Verdict(ms(1200), q)
			if got.Alive != tt.alive || tb.Ignored() != tt.ignored {
				t.Errorf("alive %v ignored %d, want %v and %d", got.Alive, tb.Ignored(), tt.alive, tt.ignored)
			}
			if diff := cmp.Diff(tt.wits, got.Witnesses, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("witnesses (-want +got)\n%s", diff)
			}
		})
	}
	// A real server removed from the config stops counting at once.
	tb := NewTable(Config{Quorum: 1})
	tb.SetServers(servers())
	tb.Observe(ms(1190), report("web1", master("lb1", 2)))
	if !tb.Verdict(ms(1200), q).Alive {
		t.Fatal("the configured server does not vouch")
	}
	tb.SetServers(servers()[1:])
	if v := tb.Verdict(ms(1200), q); v.Alive || v.Agents != 0 {
		t.Errorf("after its removal: %+v", v)
	}
}

func TestBoardChanged(t *testing.T) {
	b := NewBoard(Config{Quorum: 1})
	b.SetServers(servers())
	ch := b.Changed()
	select {
	case <-ch:
		t.Fatal("changed before any report")
	default:
	}
	b.Observe(ms(1190), report("web1", master("lb1", 2)))
	select {
	case <-ch:
	default:
		t.Fatal("Observe did not signal")
	}
	if v := b.Verdict(ms(1200), Query{Self: "lb2", After: ms(1050)}); !v.Alive || b.Agents(ms(1200)) != 1 {
		t.Fatalf("verdict %+v", v)
	}
	if b.Config().MaxReportAge != DefaultMaxReportAge {
		t.Errorf("defaults not applied: %+v", b.Config())
	}
}
