package lvs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func fakeProcSys(t *testing.T, values map[string]string) Sysctls {
	t.Helper()
	root := t.TempDir()
	for name, v := range values {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Sysctls{Root: root}
}

func TestSysctlsApply(t *testing.T) {
	s := fakeProcSys(t, map[string]string{
		"net/ipv4/vs/expire_nodest_conn":        "0",
		"net/ipv4/vs/expire_quiescent_template": "1",
		"net/ipv4/vs/conn_reuse_mode":           "1",
		"net/ipv4/ip_forward":                   "0",
	})
	got, err := s.Apply(DefaultSysctls())
	if err != nil {
		t.Fatal(err)
	}
	want := []SysctlChange{
		{Name: "net.ipv4.vs.expire_nodest_conn", Old: "0", New: "1"},
		{Name: "net.ipv4.vs.conn_reuse_mode", Old: "1", New: "3"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got)\n%s", diff)
	}
	if v, _ := s.Get("net.ipv4.vs.conn_reuse_mode"); v != "3" {
		t.Errorf("conn_reuse_mode = %q", v)
	}
	// Idempotent.
	if got, err := s.Apply(DefaultSysctls()); err != nil || len(got) != 0 {
		t.Errorf("second Apply: %v, %v", got, err)
	}
	// conn_reuse_mode left alone when negative.
	if got, err := s.Apply(SysctlSettings{ExpireNodestConn: true, ExpireQuiescentTemplate: true, ConnReuseMode: -1}); err != nil || len(got) != 0 {
		t.Errorf("Apply without conn_reuse_mode: %v, %v", got, err)
	}
	// sloppy_tcp and sloppy_sctp: set to 1 when asked, else left alone
	// (the files of this fake tree do not exist until now).
	if _, err := s.Apply(SysctlSettings{ExpireNodestConn: true, ExpireQuiescentTemplate: true, ConnReuseMode: 3, SloppyTCP: true}); err == nil {
		t.Error("sloppy_tcp: a missing file was not an error")
	}
	s2 := fakeProcSys(t, map[string]string{"net/ipv4/vs/sloppy_tcp": "0", "net/ipv4/vs/sloppy_sctp": "0",
		"net/ipv4/vs/expire_nodest_conn": "1", "net/ipv4/vs/expire_quiescent_template": "1"})
	got, err = s2.Apply(SysctlSettings{ExpireNodestConn: true, ExpireQuiescentTemplate: true, ConnReuseMode: -1, SloppyTCP: true, SloppySCTP: true})
	if err != nil {
		t.Fatal(err)
	}
	want = []SysctlChange{
		{Name: "net.ipv4.vs.sloppy_tcp", Old: "0", New: "1"},
		{Name: "net.ipv4.vs.sloppy_sctp", Old: "0", New: "1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sloppy changes (-want +got)\n%s", diff)
	}
	if got, err := s2.Apply(SysctlSettings{ExpireNodestConn: true, ExpireQuiescentTemplate: true, ConnReuseMode: -1}); err != nil || len(got) != 0 {
		t.Errorf("Apply without sloppy: %v, %v (want them left at 1)", got, err)
	}
	if _, err := s.Apply(SysctlSettings{ConnReuseMode: 4}); err == nil {
		t.Error("conn_reuse_mode 4 accepted")
	}
}

func TestSysctlsWithoutIPVS(t *testing.T) {
	s := fakeProcSys(t, map[string]string{"net/ipv4/ip_forward": "1"})
	if _, err := s.Apply(DefaultSysctls()); !errors.Is(err, ErrNoIPVS) {
		t.Errorf("Apply without net/ipv4/vs = %v, want ErrNoIPVS", err)
	}
}

func TestCheckForwarding(t *testing.T) {
	s := fakeProcSys(t, map[string]string{"net/ipv4/ip_forward": "0"})
	dr := Desired{}
	dr.Add(ServiceSpec{Service: web, Destinations: []Destination{dst(rs1, 1)}})
	if s.CheckForwarding(dr) {
		t.Error("DR-only config warned about ip_forward")
	}
	nat := Desired{}
	nat.Add(ServiceSpec{Service: web, Destinations: []Destination{{Addr: rs1, Port: 80, Weight: 1, Forward: NAT}}})
	if !s.CheckForwarding(nat) {
		t.Error("NAT config with ip_forward=0 did not warn")
	}
	on := fakeProcSys(t, map[string]string{"net/ipv4/ip_forward": "1"})
	if on.CheckForwarding(nat) {
		t.Error("NAT config with ip_forward=1 warned")
	}
}
