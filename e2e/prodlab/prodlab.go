// Package prodlab holds the pieces of the production lab (tandem-director
// and tandem-backend with real addresses in e2e/netlab namespaces) that the
// VM scenarios (e2e/scenarios) and the demo (e2e/cmd/demo) share: the web
// application a real server runs, the sorry server, and Pair, the lab with
// two directors (configs, start and stop of directors and agents, status and
// roles, IPVS destinations and connections, VIP holders, links).
package prodlab

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/tandemlb/tandem/e2e/drlab"
	"github.com/tandemlb/tandem/e2e/netlab"
)

// WebApp is the application on a real server: "/" names the server (body
// and X-Server header), "/healthz" is its health, "/check.txt" serves the
// check file that tandem-backend writes in Dir (the seed's web server
// serving /check.txt), and "/slow" answers after SlowFor.
type WebApp struct {
	net  *netlab.Lab
	name string
	dir  string
	// SlowFor is how long "/slow" takes.
	SlowFor time.Duration
	// Logf, when set, receives serve errors other than a normal close.
	Logf func(format string, args ...any)
	// IPv6 serves the app on [::]:80 too (the IPv6 and dual-stack labs).
	IPv6 bool

	mu  sync.Mutex
	srv *http.Server
}

// NewWebApp prepares the app of host name with its check file in dir
// (created); it is stopped when the lab closes. Start serves it.
func NewWebApp(nl *netlab.Lab, name, dir string) (*WebApp, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	a := &WebApp{net: nl, name: name, dir: dir}
	nl.OnClose(func() error {
		a.Stop()
		return nil
	})
	return a, nil
}

// Dir is the directory of the check file.
func (a *WebApp) Dir() string { return a.dir }

// Start serves the app on 0.0.0.0:80 in its host (and on [::]:80 with
// IPv6).
func (a *WebApp) Start() error {
	ln, err := a.net.Listen(a.name, "tcp4", "0.0.0.0:80")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/check.txt", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(filepath.Join(a.dir, "check.txt"))
		if err != nil {
			http.Error(w, "no check file", http.StatusNotFound)
			return
		}
		w.Write(b)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(a.SlowFor)
		w.Header().Set("X-Server", a.name)
		io.WriteString(w, a.name+"\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Server", a.name)
		io.WriteString(w, a.name+"\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) && a.Logf != nil {
			a.Logf("%s app: %v", a.name, err)
		}
	}()
	if a.IPv6 {
		ln6, err := a.net.Listen(a.name, "tcp6", "[::]:80")
		if err != nil {
			srv.Close()
			return err
		}
		go func() {
			if err := srv.Serve(ln6); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) && a.Logf != nil {
				a.Logf("%s app (IPv6): %v", a.name, err)
			}
		}()
	}
	a.mu.Lock()
	a.srv = srv
	a.mu.Unlock()
	return nil
}

// Stop kills the app as a crash would: listener and connections closed.
func (a *WebApp) Stop() {
	a.mu.Lock()
	srv := a.srv
	a.srv = nil
	a.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// StartSorryServer puts the sorry server up on host (address ip): the VIP
// on lo, the nft arp table, an HTTP server answering "sorry" (X-Server:
// sorry) on port 80. It stops when the lab closes.
func StartSorryServer(nl *netlab.Lab, host string, vip, ip net.IP) error {
	ns, err := nl.NsHandle(host)
	if err != nil {
		return err
	}
	h, err := nl.Netlink(host)
	if err != nil {
		return err
	}
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := h.AddrReplace(lo, &netlink.Addr{IPNet: &net.IPNet{IP: vip.To4(), Mask: net.CIDRMask(32, 32)}, Scope: int(netlink.SCOPE_HOST)}); err != nil {
		return err
	}
	if err := drlab.ApplyArpTable(ns, vip, ip); err != nil {
		return err
	}
	ln, err := nl.Listen(host, "tcp4", "0.0.0.0:80")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Server", "sorry")
		io.WriteString(w, "sorry\n")
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	nl.OnClose(func() error { return srv.Close() })
	return nil
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// LogTime returns the time of the first line of a daemon's log (slog text:
// "time=RFC3339 ...") that is stamped at or after since and contains every
// one of subs; zero if there is none.
func LogTime(out string, since time.Time, subs ...string) time.Time {
	for _, line := range strings.Split(out, "\n") {
		ts, ok := strings.CutPrefix(line, "time=")
		if !ok || !allIn(line, subs) {
			continue
		}
		ts, _, _ = strings.Cut(ts, " ")
		if at, err := time.Parse(time.RFC3339Nano, ts); err == nil && !at.Before(since) {
			return at
		}
	}
	return time.Time{}
}

func allIn(line string, subs []string) bool {
	for _, s := range subs {
		if !strings.Contains(line, s) {
			return false
		}
	}
	return true
}
