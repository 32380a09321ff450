package logging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Options configures New.
type Options struct {
	// Format is "text" (the default when empty) or "json".
	Format string
	// Level is the minimum level logged. Ignored when Leveler is set.
	Level slog.Level
	// Leveler, if set, replaces Level; pass a *slog.LevelVar to change the
	// level at run time (on reload).
	Leveler slog.Leveler
	// Syslog also sends every record to syslog.
	Syslog bool
	// Facility is the syslog facility ("daemon" when empty); see ParseFacility.
	Facility string
	// Tag is the syslog tag; the program name when empty.
	Tag string
	// SyslogAddr is the path of the syslog unix datagram socket; empty
	// means the system default (/dev/log). For tests.
	SyslogAddr string
}

// New builds the logger described by opts, writing to stderr and, with
// opts.Syslog, also to syslog. The returned function closes the syslog
// connection. An unusable syslog socket is not an error: New logs a warning
// to stderr and returns a stderr-only logger. Invalid options are.
func New(opts Options, stderr io.Writer) (*slog.Logger, func() error, error) {
	noop := func() error { return nil }
	var level slog.Leveler = opts.Level
	if opts.Leveler != nil {
		level = opts.Leveler
	}
	ho := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(opts.Format) {
	case "", "text":
		h = slog.NewTextHandler(stderr, ho)
	case "json":
		h = slog.NewJSONHandler(stderr, ho)
	default:
		return nil, noop, fmt.Errorf("log format %q: want text or json", opts.Format)
	}
	if !opts.Syslog {
		return slog.New(h), noop, nil
	}
	fac, err := ParseFacility(opts.Facility)
	if err != nil {
		return nil, noop, err
	}
	tag := opts.Tag
	if tag == "" {
		tag = filepath.Base(os.Args[0])
	}
	network := ""
	if opts.SyslogAddr != "" {
		network = "unixgram"
	}
	w, err := syslog.Dial(network, opts.SyslogAddr, fac|syslog.LOG_INFO, tag)
	if err != nil {
		addr := opts.SyslogAddr
		if addr == "" {
			addr = "/dev/log"
		}
		slog.New(h).Warn("syslog unavailable, logging to stderr only", KeyPath, addr, KeyErr, err)
		return slog.New(h), noop, nil
	}
	sh := newSyslogHandler(w, ho)
	return slog.New(Fanout(h, sh)), w.Close, nil
}

// facilities maps facility names to log/syslog priorities.
var facilities = map[string]syslog.Priority{
	"kern": syslog.LOG_KERN, "user": syslog.LOG_USER, "mail": syslog.LOG_MAIL,
	"daemon": syslog.LOG_DAEMON, "auth": syslog.LOG_AUTH, "syslog": syslog.LOG_SYSLOG,
	"lpr": syslog.LOG_LPR, "news": syslog.LOG_NEWS, "uucp": syslog.LOG_UUCP,
	"cron": syslog.LOG_CRON, "authpriv": syslog.LOG_AUTHPRIV, "ftp": syslog.LOG_FTP,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2,
	"local3": syslog.LOG_LOCAL3, "local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5,
	"local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

// ParseFacility parses a syslog facility name: kern, user, mail, daemon,
// auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0 … local7, case
// insensitive, with or without a "LOG_" prefix. A bare digit 0-7 means
// local0-local7 (keepalived's -S). Empty means daemon.
func ParseFacility(name string) (syslog.Priority, error) {
	n := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(name)), "log_")
	if n == "" {
		return syslog.LOG_DAEMON, nil
	}
	if d, err := strconv.Atoi(n); err == nil && d >= 0 && d <= 7 && len(n) == 1 {
		n = "local" + n
	}
	if p, ok := facilities[n]; ok {
		return p, nil
	}
	return 0, fmt.Errorf("syslog facility %q: want daemon, user, local0 … local7 or another syslog(3) facility", name)
}

// ParseLevel parses a log level: debug, info, warn (or warning), error,
// case insensitive, also with an offset as slog writes it ("INFO+2").
// Empty means info.
func ParseLevel(s string) (slog.Level, error) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "":
		return slog.LevelInfo, nil
	case "warning":
		return slog.LevelWarn, nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(t)); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// Fanout returns a handler that passes every record to each of handlers
// that is enabled for its level. Attributes and groups added with WithAttrs
// and WithGroup reach all of them.
func Fanout(handlers ...slog.Handler) slog.Handler {
	return &fanout{hs: append([]slog.Handler(nil), handlers...)}
}

type fanout struct{ hs []slog.Handler }

func (f *fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f.hs {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (f *fanout) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range f.hs {
		if h.Enabled(ctx, r.Level) {
			if err := h.Handle(ctx, r.Clone()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (f *fanout) WithAttrs(attrs []slog.Attr) slog.Handler {
	g := &fanout{hs: make([]slog.Handler, len(f.hs))}
	for i, h := range f.hs {
		g.hs[i] = h.WithAttrs(attrs)
	}
	return g
}

func (f *fanout) WithGroup(name string) slog.Handler {
	if name == "" {
		return f
	}
	g := &fanout{hs: make([]slog.Handler, len(f.hs))}
	for i, h := range f.hs {
		g.hs[i] = h.WithGroup(name)
	}
	return g
}

// syslogWriter is the part of *syslog.Writer the handler uses.
type syslogWriter interface {
	Debug(string) error
	Info(string) error
	Warning(string) error
	Err(string) error
}

// syslogSink turns each line a text handler writes into one syslog message
// at the severity of the record being handled.
type syslogSink struct {
	mu    sync.Mutex
	w     syslogWriter
	level slog.Level
}

func (s *syslogSink) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	var err error
	switch {
	case s.level >= slog.LevelError:
		err = s.w.Err(msg)
	case s.level >= slog.LevelWarn:
		err = s.w.Warning(msg)
	case s.level >= slog.LevelInfo:
		err = s.w.Info(msg)
	default:
		err = s.w.Debug(msg)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// syslogHandler formats records as slog text without the time (syslog
// stamps its own) and sends them to a syslogSink.
type syslogHandler struct {
	inner slog.Handler
	sink  *syslogSink
}

func newSyslogHandler(w syslogWriter, ho *slog.HandlerOptions) *syslogHandler {
	sink := &syslogSink{w: w}
	o := &slog.HandlerOptions{
		Level: ho.Level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}
	return &syslogHandler{inner: slog.NewTextHandler(sink, o), sink: sink}
}

func (h *syslogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	h.sink.mu.Lock()
	defer h.sink.mu.Unlock()
	h.sink.level = r.Level
	return h.inner.Handle(ctx, r)
}

func (h *syslogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &syslogHandler{inner: h.inner.WithAttrs(attrs), sink: h.sink}
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	return &syslogHandler{inner: h.inner.WithGroup(name), sink: h.sink}
}
