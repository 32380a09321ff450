package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"log/syslog"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNewStderr(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		want   *regexp.Regexp
		absent string
	}{
		{"text default", Options{}, regexp.MustCompile(`^time=\S+ level=INFO msg=hello vip=192.0.2.1\n$`), "debug"},
		{"json debug", Options{Format: "JSON", Level: slog.LevelDebug}, regexp.MustCompile(`^\{"time":"[^"]+","level":"DEBUG","msg":"debug"\}\n\{"time":"[^"]+","level":"INFO","msg":"hello","vip":"192.0.2.1"\}\n$`), ""},
		{"leveler wins", Options{Level: slog.LevelDebug, Leveler: slog.LevelError}, regexp.MustCompile(`^$`), "hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, closeFn, err := New(tt.opts, &buf)
			if err != nil {
				t.Fatal(err)
			}
			log.Debug("debug")
			log.Info("hello", "vip", "192.0.2.1")
			if err := closeFn(); err != nil {
				t.Fatal(err)
			}
			if !tt.want.MatchString(buf.String()) {
				t.Errorf("output %q does not match %v", buf.String(), tt.want)
			}
			if tt.absent != "" && strings.Contains(buf.String(), tt.absent) {
				t.Errorf("output %q contains %q", buf.String(), tt.absent)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	for _, o := range []Options{{Format: "xml"}, {Syslog: true, Facility: "local9"}} {
		if _, _, err := New(o, &bytes.Buffer{}); err == nil {
			t.Errorf("New(%+v): no error", o)
		}
	}
}

func TestParseFacility(t *testing.T) {
	tests := []struct {
		in      string
		want    syslog.Priority
		wantErr bool
	}{
		{"", syslog.LOG_DAEMON, false},
		{"daemon", syslog.LOG_DAEMON, false},
		{"LOCAL1", syslog.LOG_LOCAL1, false},
		{"log_local7", syslog.LOG_LOCAL7, false},
		{"local0", syslog.LOG_LOCAL0, false},
		{"3", syslog.LOG_LOCAL3, false},
		{"user", syslog.LOG_USER, false},
		{"authpriv", syslog.LOG_AUTHPRIV, false},
		{"kern", syslog.LOG_KERN, false},
		{"local8", 0, true},
		{"8", 0, true},
		{"03", 0, true},
		{"bogus", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseFacility(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseFacility(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{"", slog.LevelInfo, false},
		{"debug", slog.LevelDebug, false},
		{"INFO", slog.LevelInfo, false},
		{"warn", slog.LevelWarn, false},
		{"Warning", slog.LevelWarn, false},
		{"error", slog.LevelError, false},
		{"info+2", slog.LevelInfo + 2, false},
		{"loud", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// listenSyslog listens on a unix datagram socket in a temp dir, as syslogd
// on /dev/log would, and returns its path and a function that reads the
// next message.
func listenSyslog(t *testing.T) (string, func() string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return path, func() string {
		t.Helper()
		buf := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read syslog: %v", err)
		}
		return string(buf[:n])
	}
}

func TestSyslog(t *testing.T) {
	path, next := listenSyslog(t)
	var stderr bytes.Buffer
	log, closeFn, err := New(Options{Syslog: true, Facility: "local1", Tag: "tandem-test", Level: slog.LevelDebug, SyslogAddr: path}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	log = log.With("vrid", 51).WithGroup("g")
	log.Debug("d", "k", 1)
	log.Info("i", "k", 2)
	log.Warn("w", "k", 3)
	log.Error("e", "k", 4)

	// local1 = 17: <17*8 + severity>; syslog stamps time and pid itself.
	want := []struct{ pri, body string }{
		{"<143>", "level=DEBUG msg=d vrid=51 g.k=1"},
		{"<142>", "level=INFO msg=i vrid=51 g.k=2"},
		{"<140>", "level=WARN msg=w vrid=51 g.k=3"},
		{"<139>", "level=ERROR msg=e vrid=51 g.k=4"},
	}
	for _, w := range want {
		got := next()
		re := regexp.MustCompile(`^` + regexp.QuoteMeta(w.pri) + `.* tandem-test\[\d+\]: ` + regexp.QuoteMeta(w.body) + `\n?$`)
		if !re.MatchString(got) {
			t.Errorf("syslog message %q does not match %v", got, re)
		}
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "time=") || !strings.HasSuffix(lines[1], "level=INFO msg=i vrid=51 g.k=2") {
		t.Errorf("stderr got %q, want 4 lines with time, the second ending in the info record", stderr.String())
	}
}

func TestSyslogAbsent(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "log")
	var stderr bytes.Buffer
	log, closeFn, err := New(Options{Syslog: true, SyslogAddr: missing}, &stderr)
	if err != nil {
		t.Fatalf("New with no syslog socket: %v", err)
	}
	if err := closeFn(); err != nil {
		t.Fatal(err)
	}
	log.Info("still logging")
	out := stderr.String()
	if !strings.Contains(out, "level=WARN msg=\"syslog unavailable, logging to stderr only\" path="+missing) {
		t.Errorf("no warning naming %s in %q", missing, out)
	}
	if !strings.Contains(out, "msg=\"still logging\"") {
		t.Errorf("record missing from stderr: %q", out)
	}
}

// fakeSyslog records messages by severity.
type fakeSyslog struct{ got []string }

func (f *fakeSyslog) Debug(m string) error   { f.got = append(f.got, "debug "+m); return nil }
func (f *fakeSyslog) Info(m string) error    { f.got = append(f.got, "info "+m); return nil }
func (f *fakeSyslog) Warning(m string) error { f.got = append(f.got, "warning "+m); return nil }
func (f *fakeSyslog) Err(m string) error     { f.got = append(f.got, "err "+m); return nil }

// TestFanoutSlogtest runs the standard library's handler conformance suite
// over a fan-out of a JSON handler and the syslog handler.
func TestFanoutSlogtest(t *testing.T) {
	var buf bytes.Buffer
	var fake *fakeSyslog
	slogtest.Run(t, func(t *testing.T) slog.Handler {
		buf.Reset()
		fake = &fakeSyslog{}
		return Fanout(slog.NewJSONHandler(&buf, nil), newSyslogHandler(fake, &slog.HandlerOptions{}))
	}, func(t *testing.T) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("%v: %q", err, buf.String())
		}
		if len(fake.got) != 1 {
			t.Errorf("syslog got %d messages, want 1: %q", len(fake.got), fake.got)
		}
		return m
	})
}

func TestFanoutLevels(t *testing.T) {
	var info, errs bytes.Buffer
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	h := Fanout(
		slog.NewTextHandler(&info, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: noTime}),
		slog.NewTextHandler(&errs, &slog.HandlerOptions{Level: slog.LevelError, ReplaceAttr: noTime}),
	)
	if h.WithGroup("") != h {
		t.Error("WithGroup(\"\") returned a new handler")
	}
	log := slog.New(h).With("rs", "192.0.2.11:80")
	log.Debug("nobody")
	log.Info("one")
	log.Error("both", Err(errTest))
	got := []string{info.String(), errs.String()}
	want := []string{
		"level=INFO msg=one rs=192.0.2.11:80\nlevel=ERROR msg=both rs=192.0.2.11:80 err=boom\n",
		"level=ERROR msg=both rs=192.0.2.11:80 err=boom\n",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

type testErr string

func (e testErr) Error() string { return string(e) }

const errTest = testErr("boom")
