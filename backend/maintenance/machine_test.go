package maintenance

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/shared/hbproto"
)

var t0 = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func TestStep(t *testing.T) {
	type step struct {
		at      int // seconds after t0: Step's now
		ev      Event
		state   State
		actions []Action
	}
	on := func(reason string, since int) Persist {
		return Persist{Flag: Flag{On: true, Reason: reason, Since: at(since)}}
	}
	off := func(since int) Persist { return Persist{Flag: Flag{Since: at(since)}} }
	tests := []struct {
		name  string
		start State
		steps []step
	}{
		{"on then off then rise", State{}, []step{
			{1, On{Reason: "deploy"}, State{Mode: Maintenance, Reason: "deploy", Since: at(1)}, []Action{on("deploy", 1), Announce{}}},
			{2, Probe{OK: true}, State{Mode: Maintenance, Reason: "deploy", Since: at(1)}, nil},
			{3, Off{}, State{Mode: Returning, Since: at(3)}, []Action{off(3), Announce{}, ProbeNow{}}},
			{4, Probe{OK: true}, State{Mode: Returning, Since: at(3), Passes: 1}, []Action{Announce{}}},
			{5, Probe{OK: true}, State{Mode: InService, Since: at(5)}, []Action{Announce{}}},
		}},
		{"a failure while returning restarts the count", State{Mode: Maintenance, Since: at(0)}, []step{
			{1, Off{}, State{Mode: Returning, Since: at(1)}, []Action{off(1), Announce{}, ProbeNow{}}},
			{2, Probe{OK: true}, State{Mode: Returning, Since: at(1), Passes: 1}, []Action{Announce{}}},
			{3, Probe{OK: false}, State{Mode: Returning, Since: at(1)}, []Action{Announce{}}},
			{4, Probe{OK: false}, State{Mode: Returning, Since: at(1)}, nil},
			{5, Probe{OK: true}, State{Mode: Returning, Since: at(1), Passes: 1}, []Action{Announce{}}},
			{6, Probe{OK: true}, State{Mode: InService, Since: at(6)}, []Action{Announce{}}},
		}},
		{"on while returning goes back to maintenance", State{Mode: Returning, Since: at(0), Passes: 1}, []step{
			{1, On{Reason: "again"}, State{Mode: Maintenance, Reason: "again", Since: at(1)}, []Action{on("again", 1), Announce{}}},
		}},
		{"on twice with the same reason is a no-op", State{Mode: Maintenance, Reason: "x", Since: at(0)}, []step{
			{1, On{Reason: "x"}, State{Mode: Maintenance, Reason: "x", Since: at(0)}, nil},
			{2, On{Reason: "y"}, State{Mode: Maintenance, Reason: "y", Since: at(0)}, []Action{on("y", 0), Announce{}}},
			{3, On{}, State{Mode: Maintenance, Reason: "y", Since: at(0)}, nil},
		}},
		{"off in service is a no-op", State{}, []step{
			{1, Off{}, State{}, nil},
			{2, Probe{OK: false}, State{}, nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.start
			for i, st := range tt.steps {
				before := s
				next, acts := s.Step(at(st.at), st.ev, 2)
				if diff := cmp.Diff(before, s); diff != "" {
					t.Fatalf("step %d %T: Step changed its receiver (-before +after)\n%s", i, st.ev, diff)
				}
				s = next
				if diff := cmp.Diff(st.state, s); diff != "" {
					t.Fatalf("step %d %T: state (-want +got)\n%s", i, st.ev, diff)
				}
				if diff := cmp.Diff(st.actions, acts); diff != "" {
					t.Fatalf("step %d %T: actions (-want +got)\n%s", i, st.ev, diff)
				}
				for _, a := range acts {
					if p, ok := a.(Persist); ok && !cmp.Equal(p.Flag, FlagOf(s)) {
						t.Fatalf("step %d %T: Persist %+v is not the new state's flag %+v", i, st.ev, p.Flag, FlagOf(s))
					}
				}
			}
		})
	}
}

func TestActionString(t *testing.T) {
	got := []string{Persist{Flag: Flag{On: true}}.String(), Persist{}.String(), Announce{}.String(), ProbeNow{}.String()}
	if diff := cmp.Diff([]string{"persist on", "persist off", "announce", "probe-now"}, got); diff != "" {
		t.Errorf("String (-want +got)\n%s", diff)
	}
}

func TestDescribe(t *testing.T) {
	for _, tt := range []struct {
		s    State
		want string
	}{
		{State{}, ""},
		{State{Mode: Maintenance}, "maintenance"},
		{State{Mode: Maintenance, Reason: "kernel upgrade"}, "maintenance: kernel upgrade"},
		{State{Mode: Returning, Passes: 1}, "leaving maintenance: waiting for the health probe (1/3 passes)"},
	} {
		if got := tt.s.Describe(3); got != tt.want {
			t.Errorf("Describe(%+v) = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestStoreRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := Store{Dir: dir}
	f, err := s.Load()
	if err != nil || f.On {
		t.Fatalf("Load of nothing = %+v, %v", f, err)
	}
	want := Flag{On: true, Reason: "deploy v2", Since: at(1)}
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("round trip (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff(State{Mode: Maintenance, Reason: "deploy v2", Since: at(1)}, FromFlag(got)); diff != "" {
		t.Fatalf("FromFlag (-want +got)\n%s", diff)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left-over files: %v", entries)
	}
	if err := os.WriteFile(s.Path(), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(); err == nil {
		t.Fatal("corrupt flag accepted")
	}
	if FlagOf(State{Mode: Returning, Since: at(2)}).On {
		t.Fatal("Returning persisted as on")
	}
}

func TestEvaluateDrain(t *testing.T) {
	since := at(10)
	dest := func(w int32, active uint32) hbproto.DestinationStatus {
		return hbproto.DestinationStatus{Service: "TCP 192.0.2.100:80", Addr: netip.MustParseAddrPort("192.0.2.11:80"),
			Weight: w, ConfiguredWeight: 1, ActiveConns: active, InactiveConns: 4, Pool: hbproto.PoolDraining}
	}
	tests := []struct {
		name  string
		views []DirectorView
		done  bool
	}{
		{"no replies", []DirectorView{{Addr: "d1"}}, false},
		{"stale reply from before maintenance", []DirectorView{{Addr: "d1", Role: hbproto.RoleMaster, LastReply: at(9), Destinations: []hbproto.DestinationStatus{dest(0, 0)}}}, false},
		{"master still has active", []DirectorView{{Addr: "d1", Role: hbproto.RoleMaster, LastReply: at(11), Destinations: []hbproto.DestinationStatus{dest(0, 3)}}}, false},
		{"master weight not yet 0", []DirectorView{{Addr: "d1", Role: hbproto.RoleMaster, LastReply: at(11), Destinations: []hbproto.DestinationStatus{dest(1, 0)}}}, false},
		{"master drained, backup busy", []DirectorView{
			{Addr: "d1", Role: hbproto.RoleMaster, LastReply: at(11), Destinations: []hbproto.DestinationStatus{dest(0, 0)}},
			{Addr: "d2", Role: hbproto.RoleBackup, LastReply: at(11), Destinations: []hbproto.DestinationStatus{dest(1, 5)}},
		}, true},
		{"only a backup answers", []DirectorView{{Addr: "d2", Role: hbproto.RoleBackup, LastReply: at(11)}}, false},
		{"two masters, one draining", []DirectorView{
			{Addr: "d1", Role: hbproto.RoleMaster, LastReply: at(11), Destinations: []hbproto.DestinationStatus{dest(0, 0)}},
			{Addr: "d2", Role: hbproto.RoleMaster, LastReply: at(11), Destinations: []hbproto.DestinationStatus{dest(0, 1)}},
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EvaluateDrain(tt.views, since)
			if got.Done != tt.done {
				t.Fatalf("Done = %v, want %v\n%s", got.Done, tt.done, got)
			}
		})
	}
	st := EvaluateDrain([]DirectorView{{Addr: "192.0.2.2:7480", Name: "lb1", Role: hbproto.RoleMaster, LastReply: at(11),
		Destinations: []hbproto.DestinationStatus{dest(0, 3)}}}, since)
	want := []string{"lb1 (192.0.2.2:7480): master, TCP 192.0.2.100:80 -> 192.0.2.11:80: weight 0, 3 active, 4 inactive: draining"}
	if diff := cmp.Diff(want, st.Lines); diff != "" {
		t.Fatalf("lines (-want +got)\n%s", diff)
	}
}
