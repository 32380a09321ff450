package cli

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemlb/tandem/shared/hbproto"
)

func TestKeysDerive(t *testing.T) {
	dir := t.TempDir()
	secret := []byte(strings.Repeat("s", 40))
	keyFile := filepath.Join(dir, "heartbeat.key")
	if err := os.WriteFile(keyFile, append(secret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "director.yaml")
	os.WriteFile(cfg, []byte(`version: 1
heartbeat:
  key_file: `+keyFile+`
virtual_servers:
  - address: 192.0.2.100:80
    real_servers:
      - address: 192.0.2.12:80
      - address: 192.0.2.11:80
  - address: 192.0.2.100:443
    real_servers:
      - address: 192.0.2.11:443
`), 0o644)
	rs1, rs2 := netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.12")
	want1 := string(hbproto.DeriveAgentKey(secret, rs1)) + "\n"

	out, _, err := run(t, "keys", "derive", "--real-ip", "192.0.2.11", "--key-file", keyFile)
	if err != nil || out != want1 || len(out) != 65 {
		t.Fatalf("derive: %q %v, want %q", out, err, want1)
	}
	// The key file from the configuration.
	if out, _, err := run(t, "-c", cfg, "keys", "derive", "--real-ip", "::ffff:192.0.2.11"); err != nil || out != want1 {
		t.Fatalf("derive (config's key file, mapped address): %q %v", out, err)
	}
	out, _, err = run(t, "-c", cfg, "keys", "derive", "--all")
	wantAll := "192.0.2.11 " + string(hbproto.DeriveAgentKey(secret, rs1)) + "\n192.0.2.12 " + string(hbproto.DeriveAgentKey(secret, rs2)) + "\n"
	if err != nil || out != wantAll {
		t.Fatalf("--all: %q %v, want %q", out, err, wantAll)
	}
	// --out: 0600, the key, loadable by the agent.
	dst := filepath.Join(dir, "rs1.key")
	if _, errOut, err := run(t, "keys", "derive", "--real-ip", "192.0.2.11", "--key-file", keyFile, "--out", dst); err != nil || !strings.Contains(errOut, dst) {
		t.Fatalf("--out: %v %q", err, errOut)
	}
	fi, err := os.Stat(dst)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("--out file: %v %v", fi, err)
	}
	if k, err := hbproto.LoadKey(dst); err != nil || string(k)+"\n" != want1 {
		t.Fatalf("--out key %q %v", k, err)
	}
	for _, args := range [][]string{
		{"keys", "derive", "--key-file", keyFile},
		{"keys", "derive", "--real-ip", "192.0.2.11", "--all", "--key-file", keyFile},
		{"keys", "derive", "--real-ip", "rs1", "--key-file", keyFile},
		{"keys", "derive", "--real-ip", "192.0.2.11", "--key-file", filepath.Join(dir, "missing")},
		{"-c", cfg, "keys", "derive", "--all", "--out", dst},
	} {
		if _, _, err := run(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
