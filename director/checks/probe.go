package checks

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tandemlb/tandem/shared/limitfile"
)

// DefaultConnectTimeout is keepalived's connect_timeout default.
const DefaultConnectTimeout = 5 * time.Second

// Bounds of what an HTTP_GET or SSL_GET reads from a real server, so that
// a server streaming an endless status line, header or body fails the
// check instead of growing the director's memory.
const (
	// DefaultMaxBody bounds the body an HTTP check reads for the digest.
	// keepalived digests the whole body; a health page is a few bytes
	// to a few kilobytes, so 4 MiB is far above any real one while
	// bounding the time spent hashing. The digest is computed as the
	// body streams in: the bound is on work, memory stays constant.
	DefaultMaxBody = 4 << 20
	// MaxHeader bounds the status line and header of a response
	// together (Go's own HTTP client allows 1 MiB, Apache's request
	// limit is about 800 KiB; keepalived keeps its 4 KiB buffer).
	MaxHeader = 64 << 10
)

// Probe is one attempt of one health check against one real server.
type Probe interface {
	// Name is the keepalived checker name: "HTTP_GET", "SSL_GET",
	// "TCP_CHECK".
	Name() string
	// Probe returns nil when the server passed, or why it did not.
	Probe(ctx context.Context) error
}

// Conn holds the connection options every checker shares.
type Conn struct {
	// Addr is where to connect: the real server's address and port, or
	// keepalived's connect_ip/connect_port when set.
	Addr netip.AddrPort
	// BindTo is the optional source address (keepalived bindto).
	BindTo netip.Addr
	// BindPort is the optional source port (keepalived bind_port); 0
	// lets the kernel choose.
	BindPort uint16
	// Timeout is keepalived's connect_timeout (0 means 5 s). It bounds the
	// connection and, for HTTP, the whole exchange of one URL.
	Timeout time.Duration
}

func (c Conn) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultConnectTimeout
	}
	return c.Timeout
}

// dial connects within the timeout and returns the connection with its
// deadline set to the end of that timeout.
func (c Conn) dial(ctx context.Context) (net.Conn, error) {
	to := c.timeout()
	deadline := time.Now().Add(to)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	d := net.Dialer{}
	if c.BindTo.IsValid() || c.BindPort != 0 {
		d.LocalAddr = &net.TCPAddr{IP: c.BindTo.AsSlice(), Port: int(c.BindPort), Zone: c.BindTo.Zone()}
	}
	conn, err := d.DialContext(ctx, "tcp", c.Addr.String())
	if err != nil {
		return nil, describeNetErr("connect", to, err)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// dialUDP returns a connected UDP socket, bound as configured, and the
// deadline of the attempt (now + timeout), already set on it.
func (c Conn) dialUDP(ctx context.Context) (*net.UDPConn, time.Time, error) {
	to := c.timeout()
	deadline := time.Now().Add(to)
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	d := net.Dialer{}
	if c.BindTo.IsValid() || c.BindPort != 0 {
		d.LocalAddr = &net.UDPAddr{IP: c.BindTo.AsSlice(), Port: int(c.BindPort), Zone: c.BindTo.Zone()}
	}
	conn, err := d.DialContext(dctx, "udp", c.Addr.String())
	if err != nil {
		return nil, deadline, describeNetErr("connect", to, err)
	}
	uc := conn.(*net.UDPConn)
	if err := uc.SetDeadline(deadline); err != nil {
		uc.Close()
		return nil, deadline, err
	}
	return uc, deadline, nil
}

// closeOnDone closes c when ctx ends before stop is called, so that a
// blocked read returns at once.
func closeOnDone(ctx context.Context, c io.Closer) (stop func() bool) {
	return context.AfterFunc(ctx, func() { c.Close() })
}

// describeNetErr shortens a dial or I/O error to what an operator needs:
// "connect: connection refused", "timeout after 3s".
func describeNetErr(op string, to time.Duration, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%s: timeout after %s", op, to)
	}
	var se *net.OpError
	if errors.As(err, &se) && se.Err != nil {
		inner := se.Err
		var sys *os.SyscallError
		if errors.As(inner, &sys) {
			inner = sys.Err
		}
		return fmt.Errorf("%s: %w", op, inner)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// TCPCheck is keepalived's TCP_CHECK: the server passes when a TCP
// connection is established within connect_timeout.
type TCPCheck struct {
	Conn
}

// Name returns "TCP_CHECK".
func (TCPCheck) Name() string { return "TCP_CHECK" }

// Probe connects and closes.
func (c TCPCheck) Probe(ctx context.Context) error {
	conn, err := c.dial(ctx)
	if err != nil {
		return err
	}
	return conn.Close()
}

// URL is one url block of HTTP_GET/SSL_GET. Every URL of a checker must pass.
type URL struct {
	// Path is the request path, e.g. /check.txt.
	Path string
	// StatusCodes lists the accepted status codes; empty accepts any 2xx
	// (keepalived's default).
	StatusCodes []int
	// Digest is the lower- or upper-case hex MD5 of the response body, as
	// keepalived's genhash prints it; empty skips the comparison.
	Digest string
	// VirtualHost overrides the checker's Host header for this URL.
	VirtualHost string
}

// HTTPGet is keepalived's HTTP_GET, or SSL_GET with TLS set.
type HTTPGet struct {
	Conn
	URLs []URL
	// VirtualHost is the Host header (keepalived virtualhost); empty sends
	// the address and port connected to, as keepalived does.
	VirtualHost string
	// TLS makes this SSL_GET.
	TLS bool
	// TLSConfig is used for SSL_GET; nil means no certificate
	// verification, as keepalived without an SSL block. ServerName
	// defaults to the virtual host.
	TLSConfig *tls.Config
	// MaxBody bounds the body read for the digest (0 means 4 MiB); a
	// larger body fails the check when a digest is configured.
	MaxBody int64
}

// Name returns "HTTP_GET" or "SSL_GET".
func (h HTTPGet) Name() string {
	if h.TLS {
		return "SSL_GET"
	}
	return "HTTP_GET"
}

// Probe fetches every URL in turn and fails at the first that does not
// pass. Each URL uses its own connection: keepalived speaks HTTP/1.0 and
// sends "Connection: close".
func (h HTTPGet) Probe(ctx context.Context) error {
	if len(h.URLs) == 0 {
		return errors.New("no url configured")
	}
	for _, u := range h.URLs {
		if err := h.get(ctx, u); err != nil {
			if len(h.URLs) > 1 {
				return fmt.Errorf("%s: %w", u.Path, err)
			}
			return err
		}
	}
	return nil
}

func (h HTTPGet) get(ctx context.Context, u URL) error {
	conn, err := h.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	host := u.VirtualHost
	if host == "" {
		host = h.VirtualHost
	}
	if host == "" {
		host = h.Addr.String()
	}
	if h.TLS {
		cfg := h.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{InsecureSkipVerify: true} // keepalived does not verify by default
		} else {
			cfg = cfg.Clone()
		}
		if cfg.ServerName == "" && (u.VirtualHost != "" || h.VirtualHost != "") {
			cfg.ServerName = hostOnly(host)
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return describeNetErr("tls handshake", h.timeout(), err)
		}
		conn = tc
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	req := "GET " + path + " HTTP/1.0\r\n" +
		"User-Agent: KeepAliveClient\r\n" +
		"Host: " + host + "\r\n" +
		"Connection: close\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return describeNetErr("send request", h.timeout(), err)
	}
	// Everything read from the server goes through lr: at most MaxHeader
	// bytes until the header is parsed, then the body's own bound.
	lr := &capReader{r: conn, n: MaxHeader}
	resp, err := http.ReadResponse(bufio.NewReader(lr), &http.Request{Method: http.MethodGet})
	if err != nil {
		if errors.Is(err, errCapped) || lr.n <= 0 {
			return fmt.Errorf("response header larger than %s from %s", limitfile.Size(MaxHeader), h.Addr)
		}
		return describeNetErr("read response", h.timeout(), err)
	}
	defer resp.Body.Close()

	if !statusOK(resp.StatusCode, u.StatusCodes) {
		return fmt.Errorf("status %d, want %s", resp.StatusCode, wantStatus(u.StatusCodes))
	}
	if u.Digest == "" {
		return nil
	}
	limit := h.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	// The body comes from what bufio already holds plus at most limit+1
	// more bytes from the connection.
	lr.n = limit + 1
	sum := md5.New()
	n, err := io.Copy(sum, io.LimitReader(resp.Body, limit+1))
	if n > limit || errors.Is(err, errCapped) {
		return fmt.Errorf("body larger than %s from %s, cannot compute its digest", limitfile.Size(limit), h.Addr)
	}
	if err != nil {
		return describeNetErr("read body", h.timeout(), err)
	}
	got := hex.EncodeToString(sum.Sum(nil))
	if !strings.EqualFold(got, u.Digest) {
		return fmt.Errorf("digest %s, want %s", got, strings.ToLower(u.Digest))
	}
	return nil
}

// errCapped is a read past a capReader's budget.
var errCapped = errors.New("read limit reached")

// capReader reads from r at most n more bytes, then fails with
// errCapped; n may be raised between reads.
type capReader struct {
	r io.Reader
	n int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errCapped
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

func statusOK(code int, want []int) bool {
	if len(want) == 0 {
		return code >= 200 && code <= 299
	}
	for _, w := range want {
		if code == w {
			return true
		}
	}
	return false
}

func wantStatus(want []int) string {
	if len(want) == 0 {
		return "2xx"
	}
	s := make([]string, len(want))
	for i, w := range want {
		s[i] = strconv.Itoa(w)
	}
	return strings.Join(s, " or ")
}

// Digest returns the hex MD5 of body, the value keepalived's genhash
// prints and HTTP_GET's digest compares.
func Digest(body []byte) string {
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
}
