package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tandemlb/tandem/backend/config"
	"github.com/tandemlb/tandem/shared/procgroup"
)

// Probe checks the application once. A nil error is a pass; the error's text
// is the one-line reason of a failure.
type Probe interface {
	Probe(ctx context.Context) error
	// String describes the probe, e.g. "http GET http://127.0.0.1/ expect 200".
	String() string
}

// New returns the probe the configuration describes.
func New(h config.Health) (Probe, error) {
	switch h.Type {
	case config.ProbeHTTP:
		return NewHTTP(h.URL, h.Host, h.ExpectStatus), nil
	case config.ProbeTCP:
		return TCP{Address: h.Address}, nil
	case config.ProbeCommand:
		if len(h.Command) == 0 {
			return nil, errors.New("health: empty command")
		}
		return Command{Argv: h.Command}, nil
	}
	return nil, fmt.Errorf("health: unknown probe type %q", h.Type)
}

// HTTP is a GET that must answer with an expected status.
type HTTP struct {
	URL    string
	Host   string
	Expect int
	client *http.Client
}

// NewHTTP returns an HTTP probe. Redirects are not followed (a 301 is a
// status like any other); certificates are not verified (the probe checks
// that the application answers, not who it is).
func NewHTTP(url, host string, expect int) *HTTP {
	tr := &http.Transport{
		DisableKeepAlives: true,
		Proxy:             nil,
		// The application is local but may be broken: a header
		// larger than this fails the probe instead of growing the
		// agent (Go's default is 1 MiB).
		MaxResponseHeaderBytes: 64 << 10,
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // liveness probe of the local application
	}
	return &HTTP{URL: url, Host: host, Expect: expect, client: &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Probe performs one GET.
func (p *HTTP) Probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return err
	}
	if p.Host != "" {
		req.Host = p.Host
	}
	req.Header.Set("User-Agent", "tandem-backend health probe")
	resp, err := p.client.Do(req)
	if err != nil {
		return errors.New(shortNetErr(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != p.Expect {
		return fmt.Errorf("GET %s: status %d, want %d", p.URL, resp.StatusCode, p.Expect)
	}
	return nil
}

// String describes the probe.
func (p *HTTP) String() string { return fmt.Sprintf("http GET %s expect %d", p.URL, p.Expect) }

// TCP is a connect to host:port.
type TCP struct {
	Address string
}

// Probe connects and closes.
func (p TCP) Probe(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", p.Address)
	if err != nil {
		return errors.New(shortNetErr(err))
	}
	return c.Close()
}

// String describes the probe.
func (p TCP) String() string { return "tcp connect " + p.Address }

// Command runs a program; exit status 0 passes.
type Command struct {
	Argv []string
}

// commandOutput bounds what a command probe's output keeps (its first
// line is the reason of a failure).
const commandOutput = 4096

// Probe runs the command through shared/procgroup: in its own process
// group, the whole group SIGKILLed when ctx ends or when the command
// exits (nothing it forked piles up from one probe to the next), output
// bounded, the reason valid UTF-8 and at most one line of 256 bytes.
func (p Command) Probe(ctx context.Context) error {
	r := procgroup.Run(ctx, procgroup.Cmd{
		Args: p.Argv, Stdout: true, OutputLimit: commandOutput,
		WaitDelay: time.Second, KillLeftovers: true,
	})
	var se *procgroup.StartError
	switch {
	case r.Canceled && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%s: timed out (process group killed)", p.Argv[0])
	case r.Canceled:
		return fmt.Errorf("%s: %w", p.Argv[0], ctx.Err())
	case errors.As(r.Err, &se):
		return r.Err
	case r.Err != nil:
		return fmt.Errorf("%s: %v", p.Argv[0], r.Err)
	case r.ExitStatus == 0:
		return nil
	}
	if msg := r.FirstLine(); msg != "" {
		return fmt.Errorf("%s: exit status %d: %s", p.Argv[0], r.ExitStatus, msg)
	}
	return fmt.Errorf("%s: exit status %d", p.Argv[0], r.ExitStatus)
}

// String describes the probe.
func (p Command) String() string { return "command " + strings.Join(p.Argv, " ") }

// shortNetErr turns a dial or HTTP error into a short reason.
func shortNetErr(err error) string {
	var op *net.OpError
	if errors.As(err, &op) {
		addr := ""
		if op.Addr != nil {
			addr = op.Addr.String() + ": "
		}
		var inner error = op.Err
		var sc interface{ Unwrap() error }
		if errors.As(inner, &sc) && sc.Unwrap() != nil {
			inner = sc.Unwrap()
		}
		return fmt.Sprintf("%s %s%v", op.Op, addr, inner)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}
