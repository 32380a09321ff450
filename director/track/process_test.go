package track_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tandemlb/tandem/director/track"
	"github.com/tandemlb/tandem/director/track/tracktest"
	"github.com/tandemlb/tandem/shared/clock/clocktest"
)

func TestProcessMatches(t *testing.T) {
	hap := track.Proc{PID: 10, Comm: "haproxy", Cmdline: []string{"/usr/sbin/haproxy", "-f", "/etc/haproxy/haproxy.cfg", "-p", "/run/haproxy.pid"}}
	tests := []struct {
		name string
		cfg  track.ProcessConfig
		p    track.Proc
		want bool
	}{
		{"comm exact", track.ProcessConfig{Process: "haproxy"}, hap, true},
		{"comm is not a pattern", track.ProcessConfig{Process: "hap"}, hap, false},
		{"zombie not counted", track.ProcessConfig{Process: "haproxy"}, track.Proc{Comm: "haproxy", Zombie: true}, false},
		{"full path needs full_command", track.ProcessConfig{Process: "/usr/sbin/haproxy"}, hap, false},
		{"full_command", track.ProcessConfig{Process: "/usr/sbin/haproxy", FullCommand: true}, hap, true},
		{"full_command compares argv0", track.ProcessConfig{Process: "haproxy", FullCommand: true}, hap, false},
		{"params exact by default", track.ProcessConfig{Process: "/usr/sbin/haproxy", Params: []string{"-f", "/etc/haproxy/haproxy.cfg"}}, hap, false},
		{"params exact", track.ProcessConfig{Process: "/usr/sbin/haproxy", Params: hap.Cmdline[1:]}, hap, true},
		{"params partial", track.ProcessConfig{Process: "/usr/sbin/haproxy", Params: []string{"-f", "/etc/haproxy/haproxy.cfg"}, ParamMatch: track.ParamMatchPartial}, hap, true},
		{"partial needs whole words", track.ProcessConfig{Process: "/usr/sbin/haproxy", Params: []string{"-f", "/etc/haproxy"}, ParamMatch: track.ParamMatchPartial}, hap, false},
		{"initial: last is a prefix", track.ProcessConfig{Process: "/usr/sbin/haproxy", Params: []string{"-f", "/etc/haproxy"}, ParamMatch: track.ParamMatchInitial}, hap, true},
		{"initial: others exact", track.ProcessConfig{Process: "/usr/sbin/haproxy", Params: []string{"-", "/etc"}, ParamMatch: track.ParamMatchInitial}, hap, false},
		{"param_match without params: no arguments", track.ProcessConfig{Process: "/usr/sbin/haproxy", ParamMatch: track.ParamMatchExact}, hap, false},
		{"param_match without params matches bare", track.ProcessConfig{Process: "/bin/x", ParamMatch: track.ParamMatchExact}, track.Proc{Cmdline: []string{"/bin/x"}}, true},
		{"empty cmdline (kernel thread)", track.ProcessConfig{Process: "kthreadd", FullCommand: true}, track.Proc{Comm: "kthreadd"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Matches(tt.p); got != tt.want {
				t.Fatalf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func procs(name string, n int) []track.Proc {
	var out []track.Proc
	for i := range n {
		out = append(out, track.Proc{PID: 100 + i, Comm: name})
	}
	return out
}

func TestProcessTracker(t *testing.T) {
	type step struct {
		advance time.Duration // before the scan
		count   int
		wait    time.Duration // the timer armed after the scan
	}
	ignore := cmpopts.IgnoreFields(track.Update{}, "At", "Reason")
	tests := []struct {
		name  string
		cfg   track.ProcessConfig
		steps []step
		want  []track.Update
	}{
		{
			name:  "no delays",
			cfg:   track.ProcessConfig{Name: "p", Process: "d"},
			steps: []step{{0, 0, time.Second}, {time.Second, 2, time.Second}, {time.Second, 2, time.Second}, {time.Second, 0, time.Second}},
			want: []track.Update{
				{Kind: track.KindProcess, Name: "p", OK: false, Changed: true, Count: 0},
				{Kind: track.KindProcess, Name: "p", OK: true, Changed: true, Count: 2},
				{Kind: track.KindProcess, Name: "p", OK: false, Changed: true, Count: 0},
			},
		},
		{
			name:  "quorum 2 max 3",
			cfg:   track.ProcessConfig{Name: "p", Process: "d", Quorum: 2, QuorumMax: 3},
			steps: []step{{0, 1, time.Second}, {time.Second, 3, time.Second}, {time.Second, 4, time.Second}},
			want: []track.Update{
				{Kind: track.KindProcess, Name: "p", OK: false, Changed: true, Count: 1},
				{Kind: track.KindProcess, Name: "p", OK: true, Changed: true, Count: 3},
				{Kind: track.KindProcess, Name: "p", OK: false, Changed: true, Count: 4},
			},
		},
		{
			name:  "quorum_max 0: OK while none runs",
			cfg:   track.ProcessConfig{Name: "p", Process: "d", QuorumMax: track.NoProcesses},
			steps: []step{{0, 0, time.Second}, {time.Second, 1, time.Second}},
			want: []track.Update{
				{Kind: track.KindProcess, Name: "p", OK: true, Changed: true, Count: 0},
				{Kind: track.KindProcess, Name: "p", OK: false, Changed: true, Count: 1},
			},
		},
		{
			name:  "terminate delay rides out a restart",
			cfg:   track.ProcessConfig{Name: "p", Process: "d", TermDelay: 3 * time.Second},
			steps: []step{{0, 1, time.Second}, {time.Second, 0, time.Second}, {time.Second, 1, time.Second}},
			want: []track.Update{
				{Kind: track.KindProcess, Name: "p", OK: true, Changed: true, Count: 1},
				{Kind: track.KindProcess, Name: "p", OK: true, Count: 0},
				{Kind: track.KindProcess, Name: "p", OK: true, Count: 1},
			},
		},
		{
			name:  "delay sets both; loss confirmed at the deadline",
			cfg:   track.ProcessConfig{Name: "p", Process: "d", Delay: 1500 * time.Millisecond, Interval: 10 * time.Second},
			steps: []step{{0, 1, 10 * time.Second}, {10 * time.Second, 0, 1500 * time.Millisecond}, {1500 * time.Millisecond, 0, 10 * time.Second}, {10 * time.Second, 1, 1500 * time.Millisecond}, {1500 * time.Millisecond, 1, 10 * time.Second}},
			want: []track.Update{
				{Kind: track.KindProcess, Name: "p", OK: true, Changed: true, Count: 1},
				{Kind: track.KindProcess, Name: "p", OK: true, Count: 0},
				{Kind: track.KindProcess, Name: "p", OK: false, Changed: true, Count: 0},
				{Kind: track.KindProcess, Name: "p", OK: false, Count: 1},
				{Kind: track.KindProcess, Name: "p", OK: true, Changed: true, Count: 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clocktest.New(t0)
			fs := &tracktest.ProcFS{}
			var got []track.Update
			updates := make(chan track.Update, 16)
			p := track.NewProcess(tt.cfg, fs, clock, nil, func(u track.Update) { updates <- u })
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			fs.Set(procs("d", tt.steps[0].count), nil)
			go func() { done <- p.Run(ctx) }()
			for i, st := range tt.steps {
				if i > 0 {
					fs.Set(procs("d", st.count), nil)
					clock.Advance(st.advance)
				}
				waitArmed(t, clock, st.wait)
			}
			cancel()
			if err := recv(t, done); !errors.Is(err, context.Canceled) {
				t.Fatalf("Run returned %v", err)
			}
			close(updates)
			for u := range updates {
				got = append(got, u)
			}
			if diff := cmp.Diff(tt.want, got, ignore); diff != "" {
				t.Fatalf("updates (-want +got)\n%s", diff)
			}
		})
	}
}

func TestProcessScanErrorChangesNothing(t *testing.T) {
	clock := clocktest.New(t0)
	fs := &tracktest.ProcFS{}
	fs.Set(nil, errors.New("no /proc"))
	updates := make(chan track.Update, 4)
	p := track.NewProcess(track.ProcessConfig{Name: "p", Process: "d"}, fs, clock, nil, func(u track.Update) { updates <- u })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	waitArmed(t, clock, time.Second)
	select {
	case u := <-updates:
		t.Fatalf("update %+v after a failed scan", u)
	default:
	}
}

// TestProcessRealProc counts /bin/sleep processes this test starts, told
// apart by a unique argument.
func TestProcessRealProc(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	arg := fmt.Sprintf("%d.%d", 1000+os.Getpid()%1000, time.Now().UnixNano()%1000000)
	cfg := track.ProcessConfig{Process: sleep, Params: []string{arg}}
	count := func() int {
		ps, err := track.OSProcFS{}.Scan(true)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, p := range ps {
			if cfg.Matches(p) {
				n++
			}
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("%d processes before start", n)
	}
	var cmds []*exec.Cmd
	for range 2 {
		c := exec.Command(sleep, arg)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	t.Cleanup(func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	})
	if n := count(); n != 2 {
		t.Fatalf("%d processes counted, want 2", n)
	}
	// comm matching: the name is "sleep".
	ps, _ := track.OSProcFS{}.Scan(false)
	found := false
	for _, p := range ps {
		if p.PID == cmds[0].Process.Pid {
			found = p.Comm == "sleep"
		}
	}
	if !found {
		t.Fatalf("pid %d not found with comm sleep", cmds[0].Process.Pid)
	}
	cmds[0].Process.Kill()
	cmds[0].Wait()
	if n := count(); n != 1 {
		t.Fatalf("%d processes counted after one exit, want 1", n)
	}
}
