package app

import (
	"bytes"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemlb/tandem/backend/config"
	"github.com/tandemlb/tandem/backend/health"
	"github.com/tandemlb/tandem/backend/maintenance"
	"github.com/tandemlb/tandem/shared/hbproto"
)

func keyCfg(t *testing.T, content string, mode os.FileMode, insecure bool) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key")
	if content != "" {
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	return &config.Config{
		Directors: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.2:7480")},
		Heartbeat: config.Heartbeat{KeyFile: path, Insecure: insecure},
	}
}

func TestLoadKey(t *testing.T) {
	good := strings.Repeat("k", 40) + "\n"
	tests := []struct {
		name         string
		content      string
		mode         os.FileMode
		insecure     bool
		wantKey      bool
		wantErr      string
		wantWarnings string
	}{
		{"good", good, 0o600, false, true, "", ""},
		{"world readable", good, 0o644, false, false, "0644", ""},
		{"missing", "", 0, false, false, "heartbeat.insecure", ""},
		{"short", "short\n", 0o600, false, false, "heartbeat key", ""},
		{"insecure world readable: used, loudly", good, 0o644, true, true, "", "INSECURE"},
		{"insecure missing: disabled, loudly", "", 0, true, false, "", "heartbeats are DISABLED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			key, insecure, err := LoadKey(keyCfg(t, tt.content, tt.mode, tt.insecure), log)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (key != nil) != tt.wantKey || insecure != tt.insecure {
				t.Fatalf("key %q insecure %v", key, insecure)
			}
			if key != nil && string(key) != strings.TrimSpace(good) {
				t.Fatalf("key %q: trailing newline not trimmed", key)
			}
			if tt.wantWarnings != "" && !strings.Contains(logs.String(), tt.wantWarnings) {
				t.Fatalf("log lacks %q:\n%s", tt.wantWarnings, logs.String())
			}
		})
	}
	// No directors: no key needed.
	if key, _, err := LoadKey(&config.Config{}, slog.Default()); key != nil || err != nil {
		t.Fatalf("no directors: %v %v", key, err)
	}
}

func TestVerdictAndReport(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte("vips: [192.0.2.100]\nhealth: {type: tcp, address: \"127.0.0.1:1\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := New(cfg, Options{Log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	if err := a.setProbe(cfg); err != nil {
		t.Fatal(err)
	}
	a.host = Host{Node: "web1", RealIP: netip.MustParseAddr("192.0.2.11")}
	tests := []struct {
		name    string
		ok      bool
		maint   maintenance.State
		verdict health.Verdict
		state   hbproto.State
	}{
		{"healthy", true, maintenance.State{}, health.Verdict{OK: true}, hbproto.StateUp},
		{"unhealthy", false, maintenance.State{}, health.Verdict{Reason: "unhealthy: refused"}, hbproto.StateDown},
		{"maintenance wins", true, maintenance.State{Mode: maintenance.Maintenance, Reason: "deploy"}, health.Verdict{Reason: "maintenance: deploy"}, hbproto.StateMaintenance},
		{"returning", true, maintenance.State{Mode: maintenance.Returning}, health.Verdict{Reason: "leaving maintenance: waiting for the health probe (0/2 passes)"}, hbproto.StateMaintenance},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.tracker = health.NewTracker(2, 3)
			a.tracker.Observe(health.Result{OK: tt.ok, Reason: "refused"})
			a.maint = tt.maint
			a.updateVerdict()
			if got := a.currentVerdict(); got != tt.verdict {
				t.Fatalf("verdict = %+v, want %+v", got, tt.verdict)
			}
			r := a.report()
			if r.State != tt.state || r.Node != "web1" || len(r.Services) != 1 || r.Services[0].Healthy != tt.ok {
				t.Fatalf("report = %+v", r)
			}
		})
	}
}
