package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"time"
)

// DialFunc opens a connection, like net.Dialer.DialContext. e2e/netlab's
// Lab.DialContext(host) returns one whose sockets live in a lab host.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Defaults and hard limits.
const (
	// DefaultTimeout bounds one request: dial, write and the whole response.
	DefaultTimeout = 2 * time.Second
	// DefaultServerHeader is the response header a server names itself in.
	DefaultServerHeader = "X-Server"
	// DefaultInterval is the period of live snapshots.
	DefaultInterval = time.Second
	// DefaultKeepAliveConns is the keep-alive pool size when KeepAliveRatio
	// is set and KeepAliveConns is not.
	DefaultKeepAliveConns = 4
	// DefaultMaxRequests caps a run whose Config.MaxRequests is zero.
	DefaultMaxRequests = 1_000_000
	// MaxDuration is the longest run or probe accepted.
	MaxDuration = time.Hour
	// MaxRate is the highest rate accepted, in requests per second.
	MaxRate = 100_000
	// maxBody is how much of a response body is read; a longer body makes
	// the connection unusable for another request.
	maxBody = 64 << 10
	// maxNameLen truncates server names taken from bodies.
	maxNameLen = 64
)

// Target says where requests go and how answers are judged. It is shared
// by Config and ProbeConfig.
type Target struct {
	// Addr is the "host:port" to connect to, e.g. "10.99.0.100:80". Use an
	// IP literal when Dial runs in another namespace.
	Addr string
	// Path is the request path; "/" when empty.
	Path string
	// Host is the Host header; Addr when empty.
	Host string
	// Dial opens connections; a net.Dialer when nil.
	Dial DialFunc
	// Timeout bounds each request from the start of the dial (or of the
	// write, on a persistent connection) to the end of the response;
	// DefaultTimeout when zero.
	Timeout time.Duration
	// Expected is the set of server names an answer may carry; an answer
	// naming another server (or none) is WrongServer. Empty accepts any
	// name. Generator.SetExpected replaces it during a run.
	Expected []string
	// ServerHeader is the response header that names the server;
	// DefaultServerHeader when empty. Without that header the server's name
	// is the first line of the body, trimmed.
	ServerHeader string
}

func (t *Target) setDefaults() {
	if t.Path == "" {
		t.Path = "/"
	}
	if t.Host == "" {
		t.Host = t.Addr
	}
	if t.Dial == nil {
		var d net.Dialer
		t.Dial = d.DialContext
	}
	if t.Timeout == 0 {
		t.Timeout = DefaultTimeout
	}
	if t.ServerHeader == "" {
		t.ServerHeader = DefaultServerHeader
	}
}

func (t *Target) validate() error {
	if _, _, err := net.SplitHostPort(t.Addr); err != nil {
		return fmt.Errorf("loadgen: target address %q: %w", t.Addr, err)
	}
	if !strings.HasPrefix(t.Path, "/") || strings.ContainsAny(t.Path, " \r\n") {
		return fmt.Errorf("loadgen: path %q: must start with / and hold no spaces or line breaks", t.Path)
	}
	if strings.ContainsAny(t.Host, " \r\n") {
		return fmt.Errorf("loadgen: host %q: holds spaces or line breaks", t.Host)
	}
	if t.Timeout < 0 || t.Timeout > time.Minute {
		return fmt.Errorf("loadgen: timeout %v: want 0 (default %v) up to 1m", t.Timeout, DefaultTimeout)
	}
	return nil
}

// IdleConfig describes long-lived, mostly idle connections.
type IdleConfig struct {
	// Conns is the number of idle connections; 0 disables them.
	Conns int
	// Every is the pause between two requests on one idle connection.
	Every time.Duration
}

// Config describes one run of a Generator.
type Config struct {
	Target

	// Rate is the number of requests per second over new and keep-alive
	// connections together (idle connections are extra). 0 sends none
	// (a run of idle connections only).
	Rate float64
	// Duration is how long requests are started; requests in flight at
	// the end are waited for (each is bounded by Timeout). Required.
	Duration time.Duration
	// MaxRequests caps the requests sent, of every kind;
	// DefaultMaxRequests when zero.
	MaxRequests int
	// KeepAliveRatio is the fraction of the Rate sent over the keep-alive
	// pool, from 0 (all new connections) to 1 (all keep-alive). The split
	// is exact: after n requests, floor(n*KeepAliveRatio) were keep-alive.
	KeepAliveRatio float64
	// KeepAliveConns is the size of the keep-alive pool;
	// DefaultKeepAliveConns when zero and KeepAliveRatio > 0. A request
	// due while every pooled connection is busy and one request is already
	// queued for each is skipped (Report.Skipped).
	KeepAliveConns int
	// Idle adds long-lived idle connections.
	Idle IdleConfig
	// MaxInFlight bounds the new-connection requests in flight; a request
	// due beyond it is skipped. When zero it is Rate*Timeout + 64, so an
	// outage in which every request times out skips nothing, at most 8192.
	MaxInFlight int
	// Interval is the period of OnSnapshot; DefaultInterval when zero.
	Interval time.Duration
	// OnSnapshot, when set, is called once per Interval and once at the
	// end (Snapshot.Final), from one goroutine; it must return quickly.
	OnSnapshot func(Snapshot)
}

func (c *Config) setDefaults() {
	c.Target.setDefaults()
	if c.MaxRequests == 0 {
		c.MaxRequests = DefaultMaxRequests
	}
	if c.KeepAliveRatio > 0 && c.KeepAliveConns == 0 {
		c.KeepAliveConns = DefaultKeepAliveConns
	}
	if c.MaxInFlight == 0 {
		n := c.Rate*c.Timeout.Seconds() + 64
		c.MaxInFlight = int(math.Min(n, 8192))
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
}

func (c *Config) validate() error {
	if err := c.Target.validate(); err != nil {
		return err
	}
	switch {
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("loadgen: duration %v: want more than 0, at most %v", c.Duration, MaxDuration)
	case math.IsNaN(c.Rate) || c.Rate < 0 || c.Rate > MaxRate:
		return fmt.Errorf("loadgen: rate %v: want 0 to %d per second", c.Rate, MaxRate)
	case c.MaxRequests < 0:
		return fmt.Errorf("loadgen: max requests %d: negative", c.MaxRequests)
	case math.IsNaN(c.KeepAliveRatio) || c.KeepAliveRatio < 0 || c.KeepAliveRatio > 1:
		return fmt.Errorf("loadgen: keep-alive ratio %v: want 0 to 1", c.KeepAliveRatio)
	case c.KeepAliveConns < 0 || c.KeepAliveConns > 10000:
		return fmt.Errorf("loadgen: keep-alive conns %d: want 0 to 10000", c.KeepAliveConns)
	case c.Idle.Conns < 0 || c.Idle.Conns > 10000:
		return fmt.Errorf("loadgen: idle conns %d: want 0 to 10000", c.Idle.Conns)
	case c.Idle.Conns > 0 && c.Idle.Every < time.Millisecond:
		return fmt.Errorf("loadgen: idle every %v: want at least 1ms", c.Idle.Every)
	case c.MaxInFlight < 0:
		return fmt.Errorf("loadgen: max in flight %d: negative", c.MaxInFlight)
	case c.Interval < 10*time.Millisecond:
		return fmt.Errorf("loadgen: snapshot interval %v: want at least 10ms", c.Interval)
	case c.Rate == 0 && c.Idle.Conns == 0:
		return errors.New("loadgen: nothing to send: rate 0 and no idle connections")
	}
	return nil
}
