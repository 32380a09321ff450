package netlab_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		name string
		spec netlab.Spec
		want string // substring of the error; "" for valid
	}{
		{"ok", netlab.Spec{Hosts: []netlab.HostSpec{{Name: "a", Addr: "10.99.0.1/24"}}}, ""},
		{"no hosts", netlab.Spec{}, "no hosts"},
		{"bad name", netlab.Spec{Hosts: []netlab.HostSpec{{Name: "A_b"}}}, "name must match"},
		{"reserved", netlab.Spec{Hosts: []netlab.HostSpec{{Name: "sw"}}}, "reserved"},
		{"dup", netlab.Spec{Hosts: []netlab.HostSpec{{Name: "a"}, {Name: "a"}}}, "duplicate name"},
		{"bad addr", netlab.Spec{Hosts: []netlab.HostSpec{{Name: "a", Addr: "10.99.0.1"}}}, "address"},
		{"dup if", netlab.Spec{Hosts: []netlab.HostSpec{{Name: "a", Addr: "10.99.0.1/24", Links: []netlab.LinkSpec{{Name: "eth0", Segment: "x"}}}}}, "duplicate interface"},
		{"route", netlab.Spec{Hosts: []netlab.HostSpec{{Name: "a", Routes: []netlab.RouteSpec{{Dst: "default"}}}}}, "needs Via or Dev"},
		{"sysctl", netlab.Spec{Hosts: []netlab.HostSpec{{Name: "a", Sysctls: map[string]string{"net/ipv4": "1"}}}}, "bad sysctl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

// TestNetnsLabPing builds two hosts on one bridge, pings both ways and checks
// that Close leaves no namespace behind.
func TestNetnsLabPing(t *testing.T) {
	testutil.Netns(t)
	bb := busybox(t)
	lab, err := netlab.New(nil, netlab.Spec{Hosts: []netlab.HostSpec{
		{Name: "a", Addr: "10.99.0.1/24", Sysctls: map[string]string{"net.ipv4.conf.all.arp_ignore": "1"}},
		{Name: "b", Addr: "10.99.0.2/24"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = lab.Close()
		}
	})
	names, err := netlab.ListNamespaces(lab.Tag())
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 3 { // a, b and the bridges' namespace
		t.Fatalf("namespaces with tag %s: %v, want 3", lab.Tag(), names)
	}
	for _, c := range []struct{ from, to string }{{"a", "10.99.0.2"}, {"b", "10.99.0.1"}} {
		out, err := lab.Exec(c.from, bb, "ping", "-c", "2", "-W", "2", c.to)
		if err != nil {
			t.Fatalf("ping %s from %s: %v", c.to, c.from, err)
		}
		if !strings.Contains(out, "2 packets received") {
			t.Fatalf("ping %s from %s: %s", c.to, c.from, out)
		}
	}
	if v, err := lab.SysctlGet("a", "net.ipv4.conf.all.arp_ignore"); err != nil || v != "1" {
		t.Fatalf("arp_ignore on a = %q, %v; want 1", v, err)
	}
	if v, err := lab.SysctlGet("b", "net.ipv4.conf.all.arp_ignore"); err != nil || v != "0" {
		t.Fatalf("arp_ignore on b = %q, %v; want 0 (sysctls are per host)", v, err)
	}
	mac, err := lab.MAC("b", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	out, err := lab.Exec("a", "ip", "neigh", "show", "10.99.0.2")
	if err != nil || !strings.Contains(out, mac.String()) {
		t.Fatalf("a's neighbour entry for b = %q (%v), want MAC %s", out, err, mac)
	}
	sleeper, err := lab.Start("a", bb, "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	closed = true
	if err := lab.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-sleeper.Done():
	default:
		t.Fatalf("process %d still running after Close", sleeper.Pid())
	}
	left, err := netlab.ListNamespaces(lab.Tag())
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("namespaces left after Close: %v", left)
	}
	out, err = execHost("ip", "netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, lab.Tag()) {
		t.Fatalf("ip netns list still shows lab %s:\n%s", lab.Tag(), out)
	}
}

// TestNetnsLabDoAndDial checks Do, Listen and HTTPClient across the bridge,
// and that a lab registered with a testing.TB is closed by its cleanup.
func TestNetnsLabDoAndDial(t *testing.T) {
	testutil.Netns(t)
	var tag string
	t.Run("lab", func(t *testing.T) {
		lab, err := netlab.New(t, netlab.Spec{Hosts: []netlab.HostSpec{
			{Name: "srv", Addr: "10.99.0.1/24"},
			{Name: "cli", Addr: "10.99.0.2/24"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		tag = lab.Tag()
		ln, err := lab.Listen("srv", "tcp", "10.99.0.1:8080")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				// Read the request first: an answer sent before the client
				// has written it reaches an idle HTTP channel, which
				// net/http refuses ("unsolicited response").
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					_, _ = c.Write([]byte("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nsrv"))
				}
				c.Close()
			}
		}()
		resp, err := lab.HTTPClient("cli", 5*time.Second).Get("http://10.99.0.1:8080/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		// The host's own namespace has no 10.99.0.1: Do really switched.
		err = lab.Do("cli", func() error {
			out, err := execHost("ip", "-o", "addr", "show", "dev", "eth0")
			if err != nil {
				return err
			}
			if !strings.Contains(out, "10.99.0.2/24") {
				t.Errorf("eth0 inside cli: %s", out)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	left, err := netlab.ListNamespaces(tag)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("namespaces left after the subtest's cleanup: %v", left)
	}
}
