package app

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/track"
	"github.com/tandemlb/tandem/director/track/tracktest"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/shared/clock/clocktest"
	"github.com/tandemlb/tandem/shared/testutil"
)

// trackConf is a keepalived.conf with instance VI0 (priority 100) that
// tracks chk; SCRIPT is replaced by the vrrp_script body and TRACK by the
// instance's extra lines.
const trackConf = `global_defs {
    router_id lb1
}
vrrp_script chk {
SCRIPT
}
vrrp_script other {
    script "/bin/other"
    interval 3
}
vrrp_instance VI0 {
    state BACKUP
    interface eth0
    virtual_router_id 100
    priority 100
    advert_int 1
    virtual_ipaddress {
        192.0.2.100/24 dev eth0
    }
TRACK
}
`

func trackText(script, trackLines string) string {
	return strings.NewReplacer("SCRIPT", script, "TRACK", trackLines).Replace(trackConf)
}

// trackRig is a harness with a scripted executor and a manual clock.
type trackRig struct {
	*harness
	exec  *tracktest.Executor
	clock *clocktest.Clock
}

func startTracked(t *testing.T, text string) *trackRig {
	t.Helper()
	r := &trackRig{exec: tracktest.NewExecutor(), clock: clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
	r.harness = startWith(t, text, nil, func(o *Options) {
		keyless(o)
		o.TrackExec, o.TrackClock = r.exec, r.clock
	})
	return r
}

// started waits for the next script run and returns its command line.
func (r *trackRig) started() string {
	r.t.Helper()
	select {
	case c := <-r.exec.Started:
		return strings.Join(c.Args, " ")
	case <-time.After(5 * time.Second):
		r.t.Fatalf("no script run\n%s", r.logs.String())
	}
	return ""
}

// armed waits for a tracker to arm its next timer (the run is reported).
func (r *trackRig) armed() {
	r.t.Helper()
	select {
	case <-r.clock.Armed:
	case <-time.After(5 * time.Second):
		r.t.Fatalf("no timer armed\n%s", r.logs.String())
	}
}

// waitInjected waits until the driver got n events and returns them.
func (r *trackRig) waitInjected(d *fakeDriver, n int) []injected {
	r.t.Helper()
	// The injector runs in its own goroutine.
	var evs []injected
	if !testutil.WaitFor(5*time.Second, func() bool { evs = d.injectedEvents(); return len(evs) >= n }) {
		r.t.Fatalf("%d events injected, want %d: %+v\n%s", len(evs), n, evs, r.logs.String())
	}
	return evs
}

// waitState waits for the instance's state in status.
func (r *trackRig) waitState(name, want string) control.VRRPStatus {
	r.t.Helper()
	var st control.Status
	var got control.VRRPStatus
	found := func() bool {
		st = r.status()
		for _, v := range st.VRRP {
			if v.Instance == name && v.State == want {
				got = v
				return true
			}
		}
		return false
	}
	if !testutil.WaitFor(5*time.Second, found) {
		r.t.Fatalf("instance %s never %s: %+v\n%s", name, want, st.VRRP, r.logs.String())
	}
	return got
}

func events(in []injected) []vrrp.Event {
	out := make([]vrrp.Event, len(in))
	for i, x := range in {
		out[i] = x.ev
	}
	return out
}

// TestTrackScriptWeight0Fault: a weight-0 script holds its instance in
// FAULT from the start (pending: keepalived's init state; injected before
// the driver's Run), clears on success, and sets it again on failure.
func TestTrackScriptWeight0Fault(t *testing.T) {
	r := startTracked(t, trackText(`    script "/bin/chk --fast"
    interval 2
`, "    track_script {\n        chk\n    }"))
	if got := r.started(); got != "/bin/chk --fast" {
		t.Fatalf("ran %q", got)
	}
	d := r.driver("VI0")
	evs := r.waitInjected(d, 1)
	if diff := cmp.Diff([]injected{{vrrp.FaultSet{Source: "script chk"}, true}}, evs, cmp.AllowUnexported(injected{})); diff != "" {
		t.Fatalf("initial injection (-want +got)\n%s", diff)
	}
	v := r.waitState("VI0", "FAULT")
	if !slices.Equal(v.FaultSources, []string{"script chk: no result yet"}) {
		t.Errorf("fault sources %q", v.FaultSources)
	}

	r.exec.Push(track.ExecResult{ExitStatus: 0})
	r.waitInjected(d, 2)
	r.waitState("VI0", "BACKUP")
	r.armed()
	r.clock.Advance(2 * time.Second)
	r.started()
	r.exec.Push(track.ExecResult{ExitStatus: 1})
	evs = r.waitInjected(d, 3)
	want := []vrrp.Event{vrrp.FaultSet{Source: "script chk"}, vrrp.FaultCleared{Source: "script chk"}, vrrp.FaultSet{Source: "script chk"}}
	if diff := cmp.Diff(want, events(evs)); diff != "" {
		t.Errorf("events (-want +got)\n%s", diff)
	}
	v = r.waitState("VI0", "FAULT")
	if !slices.Equal(v.FaultSources, []string{"script chk: failed"}) {
		t.Errorf("fault sources %q", v.FaultSources)
	}
	st := r.status()
	if len(st.Trackers) != 1 || st.Trackers[0].Kind != "script" || st.Trackers[0].Name != "chk" || st.Trackers[0].State != "failed" ||
		st.Trackers[0].Reason != "exited with status 1" || st.Trackers[0].Last.IsZero() {
		t.Errorf("trackers %+v", st.Trackers)
	}
}

// TestTrackScriptNegativeWeight: weight -20 lowers the priority while the
// script fails; nothing is injected while it is pending or OK.
func TestTrackScriptNegativeWeight(t *testing.T) {
	r := startTracked(t, trackText(`    script "/bin/chk"
    weight -20
`, "    track_script {\n        chk\n    }"))
	r.started()
	d := r.driver("VI0")
	if evs := d.injectedEvents(); len(evs) != 0 {
		t.Fatalf("pending script with a weight injected %+v", evs)
	}
	r.exec.Push(track.ExecResult{ExitStatus: 2})
	evs := r.waitInjected(d, 1)
	if diff := cmp.Diff([]vrrp.Event{vrrp.SetPriority{Priority: 80}}, events(evs)); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
	if v := r.waitState("VI0", "BACKUP"); v.Priority != 80 || v.BasePriority != 100 {
		t.Errorf("priority %d base %d", v.Priority, v.BasePriority)
	}
	r.armed()
	r.clock.Advance(time.Second)
	r.started()
	r.exec.Push(track.ExecResult{ExitStatus: 0})
	evs = r.waitInjected(d, 2)
	if diff := cmp.Diff([]vrrp.Event{vrrp.SetPriority{Priority: 80}, vrrp.SetPriority{Priority: 100}}, events(evs)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// TestTrackInitialBeforeRun: a track_script line's weight overrides the
// script's; a failed init_fail script's effect is injected before Run.
func TestTrackInitialBeforeRun(t *testing.T) {
	r := startTracked(t, trackText(`    script "/bin/chk"
    init_fail
`, "    track_script {\n        chk weight -30\n    }"))
	d := r.driver("VI0")
	evs := r.waitInjected(d, 1)
	if diff := cmp.Diff([]injected{{vrrp.SetPriority{Priority: 70}, true}}, evs, cmp.AllowUnexported(injected{})); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
}

// TestTrackSyncGroup: two members share one hub; a script's weight counts
// as 0 in a group without global_tracking (a failure is FAULT, not a lower
// priority), and the group is in status.
func TestTrackSyncGroup(t *testing.T) {
	text := trackText(`    script "/bin/chk"
    weight -20
`, "    track_script {\n        chk\n    }") + `
vrrp_instance VI1 {
    interface eth0
    virtual_router_id 101
    virtual_ipaddress {
        192.0.2.101/24 dev eth0
    }
}
vrrp_sync_group G {
    group {
        VI0
        VI1
    }
}
`
	r := startTracked(t, text)
	d0, d1 := r.driver("VI0"), r.driver("VI1")
	if d0.opts.Sync == nil || d0.opts.Sync != d1.opts.Sync {
		t.Fatalf("hubs %p %p", d0.opts.Sync, d1.opts.Sync)
	}
	if d0.cfg.SyncGroup != "G" || d1.cfg.SyncGroup != "G" {
		t.Errorf("SyncGroup %q %q", d0.cfg.SyncGroup, d1.cfg.SyncGroup)
	}
	// Pending with its weight counted as 0: FAULT from the start.
	evs := r.waitInjected(d0, 1)
	if diff := cmp.Diff([]injected{{vrrp.FaultSet{Source: "script chk"}, true}}, evs, cmp.AllowUnexported(injected{})); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
	r.started()
	r.exec.Push(track.ExecResult{ExitStatus: 0})
	r.waitInjected(d0, 2)
	r.armed()
	r.clock.Advance(time.Second)
	r.started()
	r.exec.Push(track.ExecResult{ExitStatus: 1})
	evs = r.waitInjected(d0, 3)
	if ev := evs[2].ev; ev != (vrrp.FaultSet{Source: "script chk"}) {
		t.Errorf("failure in a sync group: %#v, want FaultSet", ev)
	}
	st := r.status()
	if len(st.SyncGroups) != 1 || st.SyncGroups[0].Name != "G" || !slices.Equal(st.SyncGroups[0].Members, []string{"VI0", "VI1"}) {
		t.Errorf("sync groups %+v", st.SyncGroups)
	}
	if st.VRRP[0].SyncGroup != "G" || st.VRRP[1].SyncGroup != "G" {
		t.Errorf("instances %+v", st.VRRP)
	}
}

// TestTrackReloadRestartsOnlyChanged: a reload that changes one script's
// interval restarts that tracker only, and the instance keeps running (no
// new driver: no priority-0 advert); a track_script weight change
// re-injects the priority without a restart either.
func TestTrackReloadRestartsOnlyChanged(t *testing.T) {
	trackLines := "    track_script {\n        chk weight -10\n        other weight -5\n    }"
	r := startTracked(t, trackText(`    script "/bin/chk"
    interval 2
`, trackLines))
	ran := []string{r.started(), r.started()}
	slices.Sort(ran)
	if !slices.Equal(ran, []string{"/bin/chk", "/bin/other"}) {
		t.Fatalf("ran %q", ran)
	}
	r.exec.Push(track.ExecResult{ExitStatus: 1})
	r.exec.Push(track.ExecResult{ExitStatus: 1})
	d := r.driver("VI0")
	r.waitInjected(d, 1)
	if v := r.waitState("VI0", "BACKUP"); v.Priority != 85 {
		// both failed: 100 - 10 - 5, maybe in two steps
		testutil.WaitFor(5*time.Second, func() bool { v = r.waitState("VI0", "BACKUP"); return v.Priority == 85 })
		if v.Priority != 85 {
			t.Fatalf("priority %d, want 85", v.Priority)
		}
	}

	r.write(trackText(`    script "/bin/chk"
    interval 5
`, strings.Replace(trackLines, "other weight -5", "other weight -7", 1)))
	var res control.ReloadResult
	if err := r.call(control.OpReload, nil, &res); err != nil {
		t.Fatal(err)
	}
	if got := r.started(); got != "/bin/chk" {
		t.Errorf("after reload ran %q, want only the changed /bin/chk", got)
	}
	select {
	case c := <-r.exec.Started:
		t.Errorf("unchanged script ran again: %v", c.Args)
	case <-time.After(100 * time.Millisecond):
	}
	logs := r.logs.String()
	if !strings.Contains(logs, `msg="tracker restarts: its configuration changed" tracker="script chk"`) ||
		strings.Contains(logs, `msg="tracker restarts: its configuration changed" tracker="script other"`) {
		t.Errorf("tracker restarts:\n%s", logs)
	}
	if strings.Contains(logs, "vrrp instance restarts") {
		t.Errorf("the instance restarted:\n%s", logs)
	}
	if r.driver("VI0") != d {
		t.Error("a new driver was made")
	}
	// chk's new tracker is pending (no weight): 100 - 7.
	var evs []injected
	if !testutil.WaitFor(5*time.Second, func() bool {
		evs = d.injectedEvents()
		return evs[len(evs)-1].ev == vrrp.SetPriority{Priority: 93}
	}) {
		t.Fatalf("events %+v, want the last SetPriority 93", evs)
	}
}

// TestTrackInputs: the weights in force, line by line.
func TestTrackInputs(t *testing.T) {
	cfg := &config.Config{
		Scripts:        []config.VRRPScript{{Name: "s", Weight: -20}, {Name: "r", Weight: 10, Reverse: true}},
		TrackProcesses: []config.TrackProcess{{Name: "p", Weight: 5}},
		TrackFiles:     []config.TrackFile{{Name: "f", Weight: 1}},
		VRRP: []config.VRRPInstance{{Name: "A", Track: config.Tracking{
			Scripts:   []config.TrackRef{{Name: "s"}, {Name: "r", Weight: -3, WeightSet: true}},
			Processes: []config.TrackRef{{Name: "p"}},
			Files:     []config.TrackRef{{Name: "f"}},
		}, TrackInterfaces: []config.TrackInterface{{Name: "eth1", Weight: -10}, {Name: "eth2"}}},
			{Name: "B", Track: config.Tracking{Scripts: []config.TrackRef{{Name: "s"}}}},
			{Name: "C"}},
		SyncGroups: []config.SyncGroup{{Name: "G", Members: []string{"B", "C"}, TrackInterfaces: []config.TrackInterface{{Name: "eth3", Weight: 5}}}},
	}
	got := trackInputs(cfg, &cfg.VRRP[0])
	want := []trackInput{
		{trackID{track.KindScript, "s"}, -20, false},
		{trackID{track.KindScript, "r"}, -3, false},
		{trackID{track.KindProcess, "p"}, 5, false},
		{trackID{track.KindFile, "f"}, 1, false},
		{trackID{track.KindInterface, "eth1"}, -10, false},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(trackInput{}, trackID{})); diff != "" {
		t.Errorf("A (-want +got)\n%s", diff)
	}
	// B is in G without global_tracking: weights are 0, the group's
	// interface goes to the driver.
	if diff := cmp.Diff([]trackInput{{trackID{track.KindScript, "s"}, 0, false}}, trackInputs(cfg, &cfg.VRRP[1]), cmp.AllowUnexported(trackInput{}, trackID{})); diff != "" {
		t.Errorf("B (-want +got)\n%s", diff)
	}
	vc, err := VRRPConfigIn(cfg, &config.VRRPInstance{Name: "C", Interface: "eth0", VirtualRouterID: 1, Priority: 100, AdvertInt: time.Second, Version: 2})
	if err != nil {
		t.Fatal(err)
	}
	if vc.SyncGroup != "G" || !slices.Equal(vc.TrackInterfaces, []string{"eth3"}) {
		t.Errorf("C: group %q interfaces %q", vc.SyncGroup, vc.TrackInterfaces)
	}
	cfg.SyncGroups[0].GlobalTracking = true
	if got := trackInputs(cfg, &cfg.VRRP[2]); len(got) != 1 || got[0].weight != 5 {
		t.Errorf("C with global_tracking: %+v", got)
	}
}

// TestGroupCommands: a sync group's notify lines, keepalived's arguments.
func TestGroupCommands(t *testing.T) {
	n := config.Notify{Master: "/m", Any: "/n"}
	if got := groupCommands("G 1", n, vrrp.StateMaster); !slices.Equal(got, []string{"/m", "/n GROUP 'G 1' MASTER"}) {
		t.Errorf("%q", got)
	}
	if got := groupCommands("G", n, vrrp.StateFault); !slices.Equal(got, []string{"/n GROUP 'G' FAULT"}) {
		t.Errorf("%q", got)
	}
}
