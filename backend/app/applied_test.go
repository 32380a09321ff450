package app

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tandemlb/tandem/backend/config"
	"github.com/tandemlb/tandem/shared/testutil"
)

func appliedConfig(dir string, vips ...string) *config.Config {
	cfg := &config.Config{StateDir: dir}
	for _, v := range vips {
		cfg.VIPs = append(cfg.VIPs, netip.MustParseAddr(v))
	}
	return cfg
}

// The applied-state record is written through shared/atomicfile: a
// random temporary name created exclusively, then renamed. The old code
// wrote a fixed "applied.json.tmp" with os.WriteFile, which follows a
// symbolic link put there and writes through it.
func TestAppliedStateTempName(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("untouched\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, AppliedFile+".tmp")); err != nil {
		t.Fatal(err)
	}
	a := &App{}
	if err := a.writeApplied(appliedConfig(dir, "192.0.2.10")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "untouched\n" {
		t.Errorf("a file behind applied.json.tmp was overwritten: %q", b)
	}
	rec, err := ReadApplied(dir)
	if err != nil || len(rec.VIPs) != 1 || rec.VIPs[0].String() != "192.0.2.10" {
		t.Errorf("ReadApplied = %+v, %v", rec, err)
	}
	st, err := os.Lstat(filepath.Join(dir, AppliedFile))
	if err != nil || !st.Mode().IsRegular() {
		t.Errorf("applied.json: %v, %v", st, err)
	}
}

// On a full disk the write fails, the old record stays as it was and no
// temporary file is left (the old code left a partial applied.json.tmp).
func TestNetnsAppliedStateFullDisk(t *testing.T) {
	testutil.Netns(t)
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tandem-test", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs on %s: %v\n%s", dir, err, out)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	a := &App{}
	if err := a.writeApplied(appliedConfig(dir, "192.0.2.10")); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(filepath.Join(dir, AppliedFile))
	if err != nil {
		t.Fatal(err)
	}
	// Fill the tmpfs (64 KiB: at most 16 writes of 4 KiB).
	f, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for i := 0; i < 64; i++ {
		if _, err = f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the tmpfs: %v, want ENOSPC", err)
	}
	vips := make([]string, 0, 200)
	for i := range 200 {
		vips = append(vips, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String())
	}
	if err := a.writeApplied(appliedConfig(dir, vips...)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v, want ENOSPC", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, AppliedFile)); string(b) != string(old) {
		t.Errorf("applied.json changed by a failed write: %q, was %q", b, old)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != AppliedFile && e.Name() != "fill" {
			t.Errorf("left in the state dir: %s", e.Name())
		}
	}
}
