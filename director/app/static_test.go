package app

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/vrrp"
)

// fakeStatic records what StaticNet was asked to do.
type fakeStatic struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeStatic) rec(s string) error {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
	return nil
}

func (f *fakeStatic) AddVIPs(v []vrrp.VIP) error    { return f.rec(fmt.Sprintf("add addrs %v", v)) }
func (f *fakeStatic) RemoveVIPs(v []vrrp.VIP) error { return f.rec(fmt.Sprintf("del addrs %v", v)) }
func (f *fakeStatic) AddRoutes(r []vrrp.Route, u []vrrp.Rule) error {
	return f.rec(fmt.Sprintf("add routes %v rules %v", r, u))
}
func (f *fakeStatic) RemoveRoutes(r []vrrp.Route, u []vrrp.Rule) error {
	return f.rec(fmt.Sprintf("del routes %v rules %v", r, u))
}

func (f *fakeStatic) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

const staticConf = keepalivedConf + `
static_ipaddress {
    198.51.100.1/24 dev eth1
ADDR
}
static_routes {
    203.0.113.0/24 via 198.51.100.254 dev eth1
}
`

// TestStaticEntries: static entries are applied at start, a reload that
// changes them removes what is gone and adds the new list, and the stop
// removes them (keepalived's stop_vrrp does).
func TestStaticEntries(t *testing.T) {
	fs := &fakeStatic{}
	h := startWith(t, strings.Replace(staticConf, "ADDR", "", 1), nil, func(o *Options) {
		keyless(o)
		o.Static = fs
	})
	got := strings.Join(fs.take(), "\n")
	if !strings.Contains(got, "add addrs [{198.51.100.1/24 eth1  invalid IP false}]") || !strings.Contains(got, "add routes [203.0.113.0/24 via 198.51.100.254 dev eth1]") {
		t.Errorf("start:\n%s", got)
	}
	// An unrelated reload does not touch them.
	if err := h.call(control.OpReload, nil, nil); err != nil {
		t.Fatal(err)
	}
	if c := fs.take(); len(c) != 0 {
		t.Errorf("reload without change: %q", c)
	}
	h.write(strings.Replace(strings.Replace(staticConf, "ADDR", "    198.51.100.2/24 dev eth1", 1), "    198.51.100.1/24 dev eth1\n", "", 1))
	if err := h.call(control.OpReload, nil, nil); err != nil {
		t.Fatal(err)
	}
	got = strings.Join(fs.take(), "\n")
	if !strings.Contains(got, "del addrs [{198.51.100.1/24 eth1  invalid IP false}]") || !strings.Contains(got, "add addrs [{198.51.100.2/24 eth1  invalid IP false}]") ||
		strings.Contains(got, "del routes [203") {
		t.Errorf("reload:\n%s", got)
	}
	h.stop()
	got = strings.Join(fs.take(), "\n")
	if !strings.Contains(got, "del routes [203.0.113.0/24 via 198.51.100.254 dev eth1]") || !strings.Contains(got, "del addrs [{198.51.100.2/24 eth1  invalid IP false}]") {
		t.Errorf("stop:\n%s", got)
	}
}

// TestConfigWarningsLogged: every warning is one WARN line with its
// file:line, and status counts them.
func TestConfigWarningsLogged(t *testing.T) {
	h := startWith(t, strings.Replace(keepalivedConf, "    priority 100\n", "    priority 100\n    no_such_keyword 1\n", 1), nil, keyless)
	if !strings.Contains(h.logs.String(), `level=WARN msg="config: `+h.path+`:10: `) {
		t.Errorf("no warning line:\n%s", h.logs.String())
	}
	st := h.status()
	if st.ConfigWarnings != 1 || st.ConfigWarningsLine != "config: 1 warning; tandem-director check-config "+h.path+" lists them" {
		t.Errorf("status %d %q", st.ConfigWarnings, st.ConfigWarningsLine)
	}
}
