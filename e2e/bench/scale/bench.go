package scale

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tandemlb/tandem/e2e/bench/ops"
)

// The roles of the re-executed test binary (TestMain): the environment
// names the role and its parameters.
const (
	envRole = "TANDEM_SCALE_ROLE"
	envDir  = "TANDEM_SCALE_DIR"
	envN    = "TANDEM_SCALE_N"
	envGen  = "TANDEM_SCALE_GEN"
	// envProfile, set for the benchmark, is a file the director process
	// writes its CPU profile to (from ready to its end).
	envProfile = "TANDEM_SCALE_PROFILE"
	// envGenProfile, set for the benchmark, is a file the agents' process
	// writes its CPU profile to (its whole run).
	envGenProfile = "TANDEM_SCALE_GEN_PROFILE"
	// resultPrefix starts the agents' process's result line.
	resultPrefix = "SCALE-RESULT "
	// windowLine is the agents' process's word that the window starts.
	windowLine = "SCALE-WINDOW"
	// envForget, set when Params.Forget is, is how long the director
	// keeps a silent agent (app.Options.ForgetAgentsAfter).
	envForget = "TANDEM_SCALE_FORGET"
)

// RunRole runs the role the environment names, if any, and reports
// whether it did (then the process should exit with the returned code).
func RunRole() (code int, ran bool) {
	switch os.Getenv(envRole) {
	case "director":
		n, _ := strconv.Atoi(os.Getenv(envN))
		forget, _ := time.ParseDuration(os.Getenv(envForget))
		if err := runDirector(os.Getenv(envDir), n, forget, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "director:", err)
			return 1, true
		}
		return 0, true
	case "agents":
		var c GenConfig
		if err := json.Unmarshal([]byte(os.Getenv(envGen)), &c); err != nil {
			fmt.Fprintln(os.Stderr, "agents:", err)
			return 2, true
		}
		if p := os.Getenv(envGenProfile); p != "" {
			stop, err := profile(p)
			if err != nil {
				fmt.Fprintln(os.Stderr, "agents:", err)
				return 1, true
			}
			defer stop()
		}
		res, err := runGen(context.Background(), c, func() { fmt.Println(windowLine) })
		if err != nil {
			fmt.Fprintln(os.Stderr, "agents:", err)
			return 1, true
		}
		b, _ := json.Marshal(res)
		fmt.Println(resultPrefix + string(b))
		return 0, true
	}
	return 0, false
}

// Params are the timing of one row: at least Warm of reports before the
// window, at most MaxWarm (the warm-up ends when every agent is answered
// in time: GenConfig), then Window, then Grace for the last replies.
//
// With Quiet set, the director is measured again after the agents
// stopped, for Quiet each time: once every agent went silent
// (dead_after, 3 s) with the whole table still held, and once they are
// forgotten (Forget after their last report: the director's
// app.Options.ForgetAgentsAfter; 0 keeps its 10 minutes, and the
// second window is not taken).
type Params struct {
	Warm, MaxWarm, Window, Grace time.Duration
	Quiet, Forget                time.Duration
}

// Quiet is the director measured while no agent reports.
type Quiet struct {
	// CPUPct and RSSMiB as in Row, over the quiet window.
	CPUPct, RSSMiB float64
	Window         time.Duration
}

// Row is one measured point of the curve.
type Row struct {
	RealServers, Agents int
	// CPUPct is the director process's CPU (user + system) over the
	// window, in % of one core; RSSMiB its resident memory at the end.
	CPUPct, RSSMiB float64
	Window         time.Duration
	// DirectorDrops and AgentsDrops are the datagrams each namespace's
	// kernel dropped at a full socket receive buffer during the window
	// (reports at the director, replies at the agents).
	DirectorDrops, AgentsDrops uint64
	Gen                        GenResult
	// Silent is the director after the agents stopped, every one silent
	// and still in its table; Forgotten once they are forgotten (zero
	// unless Params.Quiet and Params.Forget are set).
	Silent, Forgotten Quiet
}

// Answered is the share of the window's reports answered correctly, %.
func (r Row) Answered() float64 {
	if r.Gen.Sent == 0 {
		return 0
	}
	return 100 * float64(r.Gen.Answered) / float64(r.Gen.Sent)
}

// Measure builds the lab, starts the director with realServers real
// servers and, with agents > 0, that many agents, and measures one window.
// wait is how the caller waits on real time (testutil.Settle).
func Measure(dir string, realServers, agents int, p Params, wait func(time.Duration)) (Row, error) {
	row := Row{RealServers: realServers, Agents: agents, Window: p.Window}
	lab, err := NewLab(dir, agents)
	if err != nil {
		return row, err
	}
	defer lab.Close()
	ddir := filepath.Join(dir, "director")
	if err := os.MkdirAll(ddir, 0o755); err != nil {
		return row, err
	}
	self, err := os.Executable()
	if err != nil {
		return row, err
	}
	var dlog strings.Builder
	dcmd := lab.Command(lab.Director, self, "-test.run=^$")
	dcmd.Env = append(cleanEnv(), envRole+"=director", envDir+"="+ddir, envN+"="+strconv.Itoa(realServers))
	if p.Forget > 0 {
		dcmd.Env = append(dcmd.Env, envForget+"="+p.Forget.String())
	}
	dcmd.Stderr = &limitWriter{w: &dlog, n: 64 << 10}
	dout, err := dcmd.StdoutPipe()
	if err != nil {
		return row, err
	}
	if err := dcmd.Start(); err != nil {
		return row, err
	}
	defer func() {
		_ = dcmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = dcmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = dcmd.Process.Kill()
			<-done
		}
	}()
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(dout)
		for sc.Scan() {
			if sc.Text() == "READY" {
				ready <- nil
				_, _ = io.Copy(io.Discard, dout)
				return
			}
		}
		ready <- fmt.Errorf("director ended before ready: %s", dlog.String())
	}()
	select {
	case err := <-ready:
		if err != nil {
			return row, err
		}
	case <-time.After(3 * time.Minute):
		return row, fmt.Errorf("director not ready after 3 min: %s", dlog.String())
	}

	var gcmd *exec.Cmd
	var glog strings.Builder
	result := make(chan string, 1)
	if agents > 0 {
		cfg, _ := json.Marshal(GenConfig{N: agents, Every: time.Second, Warm: p.Warm, MaxWarm: max(p.MaxWarm, p.Warm), Window: p.Window, Grace: p.Grace})
		gcmd = lab.Command(lab.Agents, self, "-test.run=^$")
		gcmd.Env = append(cleanEnv(), envRole+"=agents", envGen+"="+string(cfg))
		gcmd.Stderr = &limitWriter{w: &glog, n: 64 << 10}
		gout, err := gcmd.StdoutPipe()
		if err != nil {
			return row, err
		}
		if err := gcmd.Start(); err != nil {
			return row, err
		}
		window := make(chan struct{})
		go func() {
			defer close(result)
			sc := bufio.NewScanner(gout)
			for sc.Scan() {
				switch l := sc.Text(); {
				case l == windowLine:
					close(window)
				case strings.HasPrefix(l, resultPrefix):
					result <- strings.TrimPrefix(l, resultPrefix)
				}
			}
		}()
		select {
		case <-window:
		case <-time.After(max(p.MaxWarm, p.Warm) + 30*time.Second):
			_ = gcmd.Process.Kill()
			return row, fmt.Errorf("agents: no window after %v: %s", max(p.MaxWarm, p.Warm)+30*time.Second, glog.String())
		}
	} else {
		wait(p.Warm)
	}
	pid := dcmd.Process.Pid
	s0, err := ops.ReadProc("/proc", pid)
	if err != nil {
		return row, err
	}
	d0, err := lab.UDPDrops(lab.Director)
	if err != nil {
		return row, err
	}
	a0, err := lab.UDPDrops(lab.Agents)
	if err != nil {
		return row, err
	}
	profiling := os.Getenv(envProfile) != ""
	if profiling {
		_ = dcmd.Process.Signal(syscall.SIGUSR1)
	}
	t0 := time.Now()
	wait(p.Window)
	s1, err := ops.ReadProc("/proc", pid)
	if profiling {
		_ = dcmd.Process.Signal(syscall.SIGUSR2)
	}
	if err != nil {
		return row, err
	}
	el := time.Since(t0)
	d1, err := lab.UDPDrops(lab.Director)
	if err != nil {
		return row, err
	}
	a1, err := lab.UDPDrops(lab.Agents)
	if err != nil {
		return row, err
	}
	row.DirectorDrops, row.AgentsDrops = d1-d0, a1-a0
	row.CPUPct = 100 * float64(s1.Ticks-s0.Ticks) / 100 / el.Seconds()
	row.RSSMiB = float64(s1.RSSKiB) / 1024
	if gcmd != nil {
		var line string // the pipe is read to its end before Wait
		select {
		case line = <-result:
		case <-time.After(p.Window + p.Grace + time.Minute):
			_ = gcmd.Process.Kill()
			return row, fmt.Errorf("agents did not end: %s", glog.String())
		}
		done := make(chan error, 1)
		go func() { done <- gcmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				return row, fmt.Errorf("agents: %v: %s", err, glog.String())
			}
		case <-time.After(p.Grace + time.Minute):
			_ = gcmd.Process.Kill()
			return row, fmt.Errorf("agents did not end: %s", glog.String())
		}
		if err := json.Unmarshal([]byte(line), &row.Gen); err != nil {
			return row, fmt.Errorf("agents' result %q: %v (%s)", line, err, glog.String())
		}
		if p.Quiet > 0 {
			// The agents' last reports left about Grace before they
			// ended: every agent is silent dead_after (3 s) later.
			stopped := time.Now().Add(-p.Grace)
			quiet := func(at time.Time) (Quiet, error) {
				wait(time.Until(at))
				return measureQuiet(pid, p.Quiet, profiling, dcmd, wait)
			}
			if row.Silent, err = quiet(stopped.Add(4 * time.Second)); err != nil {
				return row, err
			}
			if p.Forget > 0 {
				if row.Forgotten, err = quiet(stopped.Add(p.Forget + 2*time.Second)); err != nil {
					return row, err
				}
			}
		}
	}
	return row, nil
}

// measureQuiet measures the director (pid) over d, with its profile
// (profileOnSignal) when profiling.
func measureQuiet(pid int, d time.Duration, profiling bool, dcmd *exec.Cmd, wait func(time.Duration)) (Quiet, error) {
	q := Quiet{Window: d}
	s0, err := ops.ReadProc("/proc", pid)
	if err != nil {
		return q, err
	}
	if profiling {
		_ = dcmd.Process.Signal(syscall.SIGUSR1)
	}
	t0 := time.Now()
	wait(d)
	s1, err := ops.ReadProc("/proc", pid)
	if profiling {
		_ = dcmd.Process.Signal(syscall.SIGUSR2)
	}
	if err != nil {
		return q, err
	}
	q.CPUPct = 100 * float64(s1.Ticks-s0.Ticks) / 100 / time.Since(t0).Seconds()
	q.RSSMiB = float64(s1.RSSKiB) / 1024
	return q, nil
}

// cleanEnv is the environment without systemd's notify socket and the
// test gates' variables the children do not need.
func cleanEnv() []string {
	var out []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "NOTIFY_SOCKET=") || (strings.HasPrefix(e, "TANDEM_SCALE_") && !strings.HasPrefix(e, envProfile+"=") && !strings.HasPrefix(e, envGenProfile+"=")) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// limitWriter keeps at most n bytes.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.n -= k
		_, _ = l.w.Write(p[:k])
	}
	return len(p), nil
}
