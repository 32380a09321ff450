package witness

import "testing"

// TestBoardSetQuorum: fast_failover.witness_quorum changes the rule in
// force (two agents vouch here).
func TestBoardSetQuorum(t *testing.T) {
	b := NewBoard(Config{Quorum: 1})
	b.SetServers(servers())
	b.Observe(ms(1190), report("web1", master("lb1", 2)))
	b.Observe(ms(1190), report("web2", master("lb1", 2)))
	q := Query{Self: "lb2", Master: "lb1", After: ms(1050)}
	for _, tt := range []struct {
		quorum, want int
		alive        bool
	}{
		{1, 1, true},
		{2, 2, true},
		{3, 3, false}, // more than the agents there are: never alive
		{0, 0, false}, // off
		{-1, 0, false},
	} {
		b.SetQuorum(tt.quorum)
		if got := b.Config().Quorum; got != tt.want {
			t.Errorf("SetQuorum(%d): Quorum %d, want %d", tt.quorum, got, tt.want)
		}
		if v := b.Verdict(ms(1200), q); v.Alive != tt.alive || len(v.Witnesses) != 2 {
			t.Errorf("quorum %d: alive %v (witnesses %v), want %v", tt.quorum, v.Alive, v.Witnesses, tt.alive)
		}
	}
}
