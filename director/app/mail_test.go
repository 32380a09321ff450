package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/mail"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/shared/sdnotify"
	"github.com/tandemlb/tandem/shared/testutil"
)

// fakeMailer records the queued alerts.
type fakeMailer struct {
	mu   sync.Mutex
	got  []sentMail
	wake chan struct{}
}

type sentMail struct {
	Server  mail.Server
	From    string
	To      []string
	Subject string
	Body    string
}

func (f *fakeMailer) Enqueue(s mail.Server, m mail.Message) bool {
	f.mu.Lock()
	f.got = append(f.got, sentMail{s, m.From, m.To, m.Subject, m.Body})
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return true
}

func (f *fakeMailer) mails() []sentMail {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentMail(nil), f.got...)
}

// waitMails waits until n alerts were queued.
func (f *fakeMailer) waitMails(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for len(f.mails()) < n {
		select {
		case <-f.wake:
		case <-deadline:
			t.Fatalf("%d alerts queued after 5s, want %d: %+v", len(f.mails()), n, f.mails())
		}
	}
}

// mailApp runs a VRRP-only App with two instances, VI1 with smtp_alert
// and VI2 without, and a fake mailer. notification is the native
// notification section.
func mailApp(t *testing.T, notification string) (*fakeMailer, func(string) *fakeDriver, func()) {
	t.Helper()
	dir := t.TempDir()
	text := `version: 1
node: lb1
heartbeat: {enabled: false}
metrics: {enabled: false}
notification:
` + notification + `
vrrp_instances:
  - name: VI1
    interface: eth0
    virtual_router_id: 51
    priority: 150
    virtual_ipaddress: ["192.0.2.100/24"]
    smtp_alert: true
  - name: VI2
    interface: eth0
    virtual_router_id: 52
    virtual_ipaddress: ["192.0.2.200/24"]
`
	path := filepath.Join(dir, "director.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	fm := &fakeMailer{wake: make(chan struct{}, 1)}
	logs := &testutil.SyncBuffer{}
	var mu sync.Mutex
	drivers := map[string]*fakeDriver{}
	off := false
	a := New(cfg, Options{
		Log:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Notifier:   &sdnotify.Recorder{},
		Socket:     filepath.Join(dir, "ctl.sock"),
		StateDir:   filepath.Join(dir, "state"),
		HostChecks: &off,
		Mailer:     fm,
		NewVRRP: func(c vrrp.InstanceConfig, o vrrp.Options) (VRRPDriver, error) {
			d := &fakeDriver{cfg: c, opts: o, started: make(chan struct{})}
			mu.Lock()
			drivers[c.Name] = d
			mu.Unlock()
			return d, nil
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		t.Fatalf("Run: %v\n%s", err, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("not ready after 10s\n%s", logs.String())
	}
	driver := func(name string) *fakeDriver {
		mu.Lock()
		d := drivers[name]
		mu.Unlock()
		select {
		case <-d.started:
		case <-time.After(5 * time.Second):
			t.Fatalf("driver %s not running", name)
		}
		return d
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return 10s after cancel")
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	}
	t.Cleanup(stop)
	return fm, driver, stop
}

const mailNotification = `  email: [ops@example.com, "On Call <oncall@example.com>"]
  from: lb1@example.com
  smtp_server: 127.0.0.1:2525
  smtp_connect_timeout: 5s`

// TestMailOnTransitions: every transition of the smtp_alert instance
// queues one alert (the start in BACKUP included, a repeated state not),
// with the configured server, sender and recipients; the other instance
// sends none; stopping sends STOP.
func TestMailOnTransitions(t *testing.T) {
	fm, driver, stop := mailApp(t, mailNotification)
	vi1, vi2 := driver("VI1"), driver("VI2")
	fm.waitMails(t, 1) // BACKUP at start
	vi1.set(vrrp.StateMaster)
	vi1.set(vrrp.StateMaster)
	vi2.set(vrrp.StateMaster)
	fm.waitMails(t, 2)
	vi1.set(vrrp.StateFault)
	vi1.set(vrrp.StateBackup)
	fm.waitMails(t, 4)
	stop()

	got := fm.mails()
	var subjects []string
	for _, m := range got {
		subjects = append(subjects, m.Subject)
		want := sentMail{
			Server: mail.Server{Addr: "127.0.0.1:2525", Timeout: 5 * time.Second},
			From:   "lb1@example.com",
			To:     []string{"ops@example.com", "On Call <oncall@example.com>"},
		}
		if diff := cmp.Diff(want, m, cmp.FilterPath(func(p cmp.Path) bool {
			return p.Last().String() == ".Subject" || p.Last().String() == ".Body"
		}, cmp.Ignore())); diff != "" {
			t.Errorf("alert %q (-want +got)\n%s", m.Subject, diff)
		}
	}
	if diff := cmp.Diff([]string{
		"[lb1] VRRP Instance VI1 - Entering BACKUP state",
		"[lb1] VRRP Instance VI1 - Entering MASTER state",
		"[lb1] VRRP Instance VI1 - Entering FAULT state",
		"[lb1] VRRP Instance VI1 - Entering BACKUP state",
		"[lb1] VRRP Instance VI1 - Stopping",
	}, subjects); diff != "" {
		t.Errorf("alerts (-want +got)\n%s", diff)
	}
	if b := got[1].Body; !strings.Contains(b, "VRRP instance VI1 (virtual_router_id 51, priority 150)\nentered MASTER state (from BACKUP)") ||
		!strings.Contains(b, "now holds the virtual addresses:\n  192.0.2.100/24 dev eth0\n") {
		t.Errorf("MASTER alert body:\n%s", b)
	}
}

// TestMailNoEmailFaults: no_email_faults skips FAULT; the next state is
// still told.
func TestMailNoEmailFaults(t *testing.T) {
	fm, driver, stop := mailApp(t, mailNotification+"\n  no_email_faults: true")
	vi1 := driver("VI1")
	fm.waitMails(t, 1)
	vi1.set(vrrp.StateFault)
	vi1.set(vrrp.StateMaster)
	fm.waitMails(t, 2)
	stop()
	var subjects []string
	for _, m := range fm.mails() {
		subjects = append(subjects, strings.TrimPrefix(m.Subject, "[lb1] VRRP Instance VI1 - "))
	}
	if diff := cmp.Diff([]string{"Entering BACKUP state", "Entering MASTER state", "Stopping"}, subjects); diff != "" {
		t.Errorf("alerts (-want +got)\n%s", diff)
	}
}

// TestMailNeedsServer: smtp_alert without smtp_server sends nothing and
// warns, as keepalived.
func TestMailNeedsServer(t *testing.T) {
	fm, driver, stop := mailApp(t, "  email: [ops@example.com]")
	driver("VI1").set(vrrp.StateMaster)
	stop()
	if got := fm.mails(); len(got) != 0 {
		t.Errorf("alerts without smtp_server: %+v", got)
	}
}
