package health

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/tandemlb/tandem/backend/config"
)

// Listeners is the kernel's view of the TCP sockets listening on a port
// (backend/sockdiag in production, a fake in tests).
type Listeners interface {
	// Count returns how many TCP sockets listen on port (any address,
	// both families).
	Count(port uint16) (int, error)
	// Watch subscribes to the destruction of port's listeners.
	Watch(port uint16) (ListenEvents, error)
}

// ListenEvents is a subscription of Listeners.Watch.
type ListenEvents interface {
	// Next returns when one of the port's listeners is gone, or events
	// were lost (both mean: count again), or with ctx's error, or with
	// another error when the subscription broke.
	Next(ctx context.Context) error
	Close() error
}

// ListenWatch sees the application die without waiting for a probe: the
// moment the last TCP socket listening on Port is destroyed (the process
// exited, crashed or was killed: the kernel closes its sockets), it
// reports a failed Result marked Gone, which the Tracker takes as
// decisive (unhealthy at once, without `fall` failures). It never reports
// a pass: the probe stays the judge of "healthy again" (`rise` passes).
// A listener handed over on restart (SO_REUSEPORT: the new process listens
// before the old one closes) leaves one listening and reports nothing.
type ListenWatch struct {
	Port   uint16
	Kernel Listeners
	// Now stamps the results (time.Now when nil).
	Now func() time.Time
}

// Run watches until ctx ends. It returns an error only when the kernel
// refuses the subscription or breaks it; the probe goes on without it.
func (w ListenWatch) Run(ctx context.Context, report func(Result)) error {
	now := w.Now
	if now == nil {
		now = time.Now
	}
	ev, err := w.Kernel.Watch(w.Port)
	if err != nil {
		return err
	}
	defer ev.Close()
	for {
		err := ev.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		n, err := w.Kernel.Count(w.Port)
		if err != nil {
			return err
		}
		if n == 0 {
			report(Result{
				Reason: fmt.Sprintf("nothing listens on TCP port %d any more (the application closed its socket or exited)", w.Port),
				At:     now(),
				Gone:   true,
				Watch:  WatchListener,
			})
		}
	}
}

// ListenPort is the local TCP port whose listener says the probed
// application is alive: health.listener_port, else the probe's own port
// when it targets this host through a loopback or unspecified address or
// "localhost" (an HTTP or TCP probe). ok is false when
// health.listener_watch is off, and for a command probe, a remote target,
// or a name other than localhost without listener_port.
func ListenPort(h config.Health) (port uint16, ok bool) {
	if !h.ListenerWatch {
		return 0, false
	}
	if h.ListenerPort > 0 && h.ListenerPort <= 65535 {
		return uint16(h.ListenerPort), true
	}
	var hostport string
	switch h.Type {
	case config.ProbeHTTP:
		u, err := url.Parse(h.URL)
		if err != nil {
			return 0, false
		}
		hostport = u.Host
		if u.Port() == "" {
			switch u.Scheme {
			case "http":
				hostport = net.JoinHostPort(u.Hostname(), "80")
			case "https":
				hostport = net.JoinHostPort(u.Hostname(), "443")
			default:
				return 0, false
			}
		}
	case config.ProbeTCP:
		hostport = h.Address
	default:
		return 0, false
	}
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return 0, false
	}
	if host != "localhost" {
		a, err := netip.ParseAddr(host)
		if err != nil || !(a.IsLoopback() || a.IsUnspecified()) {
			return 0, false
		}
	}
	return uint16(n), true
}
