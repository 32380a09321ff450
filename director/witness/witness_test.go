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

func report(agent string, seen ...hbproto.DirectorSeen) *hbproto.AgentReport {
	return &hbproto.AgentReport{Node: agent, RealIP: netip.MustParseAddr("192.0.2.1"), State: hbproto.StateUp, Seen: seen}
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
			for _, o := range tt.obs {
				tb.Observe(ms(o.at), report(o.agent, o.seen...))
			}
			got := tb.Verdict(ms(tt.now), tt.q)
			want := Verdict{Alive: tt.alive, Witnesses: tt.wits, Agents: tt.fresh, Quorum: tt.cfg.Quorum}
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
	for i := range MaxAgents + 10 {
		tb.Observe(t0.Add(time.Duration(i)*time.Microsecond), report(fmt.Sprintf("web%d", i), master("lb1", 0)))
	}
	if len(tb.agents) != MaxAgents {
		t.Fatalf("%d agents kept, want %d", len(tb.agents), MaxAgents)
	}
	if _, ok := tb.agents["web0"]; ok {
		t.Error("the oldest agent was kept")
	}
	tb.Observe(t0, nil)
	tb.Observe(t0, &hbproto.AgentReport{})
	if len(tb.agents) != MaxAgents {
		t.Error("a report without a node name was recorded")
	}
}

func TestBoardChanged(t *testing.T) {
	b := NewBoard(Config{Quorum: 1})
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
