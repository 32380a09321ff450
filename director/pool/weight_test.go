package pool

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// misc is a server with a dynamic MISC_CHECK and an HTTP_GET.
func misc(weight int) ServerConfig {
	return ServerConfig{Addr: rs1, Weight: weight, Checkers: []string{"HTTP_GET", "MISC_CHECK"}, Weighted: []string{"MISC_CHECK"}}
}

func weighted(checker string, w int) CheckResult {
	return CheckResult{Server: rs1, Checker: checker, Up: true, Reason: checker + " succeeded", WeightSet: true, Weight: w}
}

func TestCheckWeights(t *testing.T) {
	startRS1 := func(w int) []string {
		return []string{
			"quorum-gained (start: live weight " + strconv.Itoa(w) + " >= quorum 1)",
			"transition 192.0.2.101:80: new -> up (start)",
			"set-dest 192.0.2.101:80 weight " + strconv.Itoa(w),
		}
	}
	inhibit := misc(10)
	inhibit.InhibitOnFailure = true
	two := ServerConfig{Addr: rs1, Weight: 10, Checkers: []string{"MISC_CHECK", "FILE_CHECK"}, Weighted: []string{"MISC_CHECK", "FILE_CHECK"}}
	for _, tt := range []struct {
		name  string
		cfg   Config
		start []string
		steps []step
		// weight is the server's CheckWeight at the end.
		weight int
	}{{
		name: "misc_dynamic sets the weight and back", cfg: Config{Servers: []ServerConfig{misc(10)}}, start: startRS1(10),
		steps: []step{
			{time.Second, weighted("MISC_CHECK", 3), []string{"set-dest 192.0.2.101:80 weight 3"}},
			{2 * time.Second, weighted("MISC_CHECK", 3), nil},
			// Exit 0: the configured weight again.
			{3 * time.Second, weighted("MISC_CHECK", 10), []string{"set-dest 192.0.2.101:80 weight 10"}},
		},
		weight: 10,
	}, {
		name: "a passing result without weight keeps the last one", cfg: Config{Servers: []ServerConfig{misc(10)}}, start: startRS1(10),
		steps: []step{
			{time.Second, weighted("MISC_CHECK", 4), []string{"set-dest 192.0.2.101:80 weight 4"}},
			{2 * time.Second, CheckResult{Server: rs1, Checker: "MISC_CHECK", Up: true, Reason: "ok"}, nil},
		},
		weight: 4,
	}, {
		name: "a failing dynamic check removes the server and forgets its weight", cfg: Config{Servers: []ServerConfig{misc(10), http(rs2, 1)}},
		start: []string{
			"quorum-gained (start: live weight 11 >= quorum 1)",
			"transition 192.0.2.101:80: new -> up (start)",
			"transition 192.0.2.102:80: new -> up (start)",
			"set-dest 192.0.2.101:80 weight 10",
			"set-dest 192.0.2.102:80 weight 1",
		},
		steps: []step{
			{time.Second, weighted("MISC_CHECK", 3), []string{"set-dest 192.0.2.101:80 weight 3"}},
			{2 * time.Second, CheckResult{Server: rs1, Checker: "MISC_CHECK", Reason: "MISC_CHECK failed: exit status 1"}, []string{
				"transition 192.0.2.101:80: up -> down (MISC_CHECK failed: exit status 1)",
				"set-dest 192.0.2.101:80 absent",
			}},
			// Back up by a plain success: the configured weight.
			{3 * time.Second, CheckResult{Server: rs1, Checker: "MISC_CHECK", Up: true, Reason: "MISC_CHECK succeeded"}, []string{
				"transition 192.0.2.101:80: down -> up (MISC_CHECK succeeded)",
				"set-dest 192.0.2.101:80 weight 10",
			}},
		},
		weight: 10,
	}, {
		name: "inhibit_on_failure keeps a failed server at weight 0", cfg: Config{Servers: []ServerConfig{inhibit}}, start: startRS1(10),
		steps: []step{
			{time.Second, weighted("MISC_CHECK", 7), []string{"set-dest 192.0.2.101:80 weight 7"}},
			{2 * time.Second, CheckResult{Server: rs1, Checker: "MISC_CHECK", Reason: "MISC_CHECK failed: exit status 1"}, []string{
				"transition 192.0.2.101:80: up -> down (MISC_CHECK failed: exit status 1)",
				"quorum-lost (live weight 0 < quorum 1 - hysteresis 0)",
				"set-dest 192.0.2.101:80 weight 0",
			}},
		},
		weight: 10,
	}, {
		// keepalived: configured + Σ(Weight_i − configured).
		name: "two weighted checkers add their differences", cfg: Config{Servers: []ServerConfig{two}}, start: startRS1(10),
		steps: []step{
			{time.Second, weighted("MISC_CHECK", 15), []string{"set-dest 192.0.2.101:80 weight 15"}},
			{2 * time.Second, weighted("FILE_CHECK", 7), []string{"set-dest 192.0.2.101:80 weight 12"}},
			{3 * time.Second, weighted("MISC_CHECK", 10), []string{"set-dest 192.0.2.101:80 weight 7"}},
		},
		weight: 7,
	}, {
		name: "weights are clamped to 0..MaxWeight", cfg: Config{Servers: []ServerConfig{two}}, start: startRS1(10),
		steps: []step{
			{time.Second, weighted("MISC_CHECK", 2), []string{"set-dest 192.0.2.101:80 weight 2"}},
			{2 * time.Second, weighted("FILE_CHECK", 0), []string{ // 10-8-10
				"quorum-lost (live weight 0 < quorum 1 - hysteresis 0)",
				"set-dest 192.0.2.101:80 weight 0",
			}},
			{3 * time.Second, weighted("MISC_CHECK", 65535), []string{
				"quorum-gained (live weight 65525 >= quorum 1 + hysteresis 0)",
				"set-dest 192.0.2.101:80 weight 65525",
			}},
			{4 * time.Second, weighted("FILE_CHECK", 100), []string{"set-dest 192.0.2.101:80 weight 65535"}},
		},
		weight: MaxWeight,
	}, {
		name: "quorum counts the weights checks set", cfg: Config{Servers: []ServerConfig{misc(10)}, Quorum: 5, Sorry: sorry},
		start: []string{
			"quorum-gained (start: live weight 10 >= quorum 5)",
			"transition 192.0.2.101:80: new -> up (start)",
			"set-dest 192.0.2.101:80 weight 10",
		},
		steps: []step{
			{time.Second, weighted("MISC_CHECK", 2), []string{
				"quorum-lost (live weight 2 < quorum 5 - hysteresis 0)",
				"sorry-in 192.0.2.99:80 weight 1 (quorum lost)",
				"set-dest 192.0.2.101:80 weight 0",
			}},
			{2 * time.Second, weighted("MISC_CHECK", 6), []string{
				"quorum-gained (live weight 6 >= quorum 5 + hysteresis 0)",
				"set-dest 192.0.2.101:80 weight 6",
				"sorry-out 192.0.2.99:80 (quorum gained)",
			}},
		},
		weight: 6,
	}, {
		name: "a result from an unknown checker changes nothing", cfg: Config{Servers: []ServerConfig{misc(10)}}, start: startRS1(10),
		steps: []step{
			{time.Second, weighted("FILE_CHECK", 3), nil},
		},
		weight: 10,
	}} {
		t.Run(tt.name, func(t *testing.T) {
			p := run(t, tt.cfg, tt.start, tt.steps)
			if got := p.Status().Servers[0].CheckWeight; got != tt.weight {
				t.Errorf("CheckWeight = %d, want %d", got, tt.weight)
			}
		})
	}
}

// TestReconfigureCheckWeights: a reload keeps the weights of the checkers
// that stay weighted and drops those of removed checkers and of checkers
// that no longer set weights.
func TestReconfigureCheckWeights(t *testing.T) {
	two := ServerConfig{Addr: rs1, Weight: 10, Checkers: []string{"MISC_CHECK", "FILE_CHECK"}, Weighted: []string{"MISC_CHECK", "FILE_CHECK"}}
	p, _, err := New(Config{Servers: []ServerConfig{two}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	p.Step(t0.Add(time.Second), weighted("MISC_CHECK", 15))
	p.Step(t0.Add(time.Second), weighted("FILE_CHECK", 12))
	for i, tt := range []struct {
		sc   ServerConfig
		want []string
	}{
		// Same configuration: nothing moves.
		{two, nil},
		// The configured weight moves; the checkers' weights are absolute
		// (20 + 15-20 + 12-20) until they report again (the application
		// restarts them with the new configured weight).
		{func() ServerConfig { s := two; s.Weight = 20; return s }(), []string{"set-dest 192.0.2.101:80 weight 7"}},
		// FILE_CHECK removed: its weight goes with it (20 + 15-20).
		{ServerConfig{Addr: rs1, Weight: 20, Checkers: []string{"MISC_CHECK"}, Weighted: []string{"MISC_CHECK"}}, []string{"set-dest 192.0.2.101:80 weight 15"}},
		// MISC_CHECK no longer dynamic: back to the configured weight.
		{ServerConfig{Addr: rs1, Weight: 20, Checkers: []string{"MISC_CHECK"}}, []string{"set-dest 192.0.2.101:80 weight 20"}},
	} {
		acts, err := p.Reconfigure(Config{Servers: []ServerConfig{tt.sc}}, t0.Add(time.Duration(i+2)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, strs(acts)); diff != "" {
			t.Errorf("reload %d (-want +got)\n%s", i, diff)
		}
	}
}

func TestValidateWeighted(t *testing.T) {
	err := Config{Servers: []ServerConfig{{Addr: rs1, Weight: 1, Checkers: []string{"TCP_CHECK"}, Weighted: []string{"MISC_CHECK"}}}}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a weighted checker the server does not have")
	}
}
