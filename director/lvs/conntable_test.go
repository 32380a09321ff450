package lvs_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/lvs/lvstest"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestParseConn(t *testing.T) {
	tests := []struct {
		name, line string
		want       lvs.Conn
		err        string
	}{
		{name: "IPv4", line: lvstest.ConnV4, want: lvs.Conn{Protocol: "TCP", Client: ap("192.0.2.1:54004"), Virtual: ap("192.0.2.100:80"), Dest: ap("192.0.2.11:80"), State: "ESTABLISHED", Expires: 897}},
		{name: "IPv6", line: lvstest.ConnV6, want: lvs.Conn{Protocol: "UDP", Client: ap("[2001:db8::1]:35553"), Virtual: ap("[2001:db8::64]:53"), Dest: ap("[2001:db8::b]:53"), State: "UDP", Expires: 187}},
		{name: "firewall-mark template", line: lvstest.ConnTemplate, want: lvs.Conn{Protocol: "IP", Client: ap("192.0.2.1:0"), Virtual: ap("0.0.0.7:0"), Dest: ap("192.0.2.11:0"), State: "NONE", Expires: 299}},
		{name: "persistence engine", line: lvstest.ConnSIP, want: lvs.Conn{Protocol: "UDP", Client: ap("192.0.2.1:5060"), Virtual: ap("192.0.2.100:5060"), Dest: ap("192.0.2.11:5060"), State: "UDP", Expires: 177, PEName: "sip", PEData: "a84b4c76e66710@pc33.example.com"}},
		{name: "IPv6 service, IPv4 real server", line: lvstest.ConnMixed, want: lvs.Conn{Protocol: "TCP", Client: ap("[2001:db8::1]:54004"), Virtual: ap("[2001:db8::64]:80"), Dest: ap("192.0.2.11:80"), State: "SYN_RECV", Expires: 57}},
		{name: "too few fields", line: "TCP C0000201 D2F4 C0000264 0050 C000020B 0050 ESTABLISHED", err: "8 fields, want at least 9"},
		{name: "bad IPv4", line: strings.Replace(lvstest.ConnV4, "C0000201", "C00002G1", 1), err: `client: address "C00002G1" is not 8 hex digits`},
		{name: "short address", line: strings.Replace(lvstest.ConnV4, "C0000264", "C00264", 1), err: `virtual: address "C00264" is neither`},
		{name: "compressed IPv6", line: strings.Replace(lvstest.ConnV6, "2001:0db8:0000:0000:0000:0000:0000:000b", "2001:db8::b", 1), err: `destination: address "2001:db8::b" is neither`},
		{name: "bad port", line: strings.Replace(lvstest.ConnV4, "D2F4", "D2F", 1), err: `client: port "D2F" is not 4 hex digits`},
		{name: "signed port", line: strings.Replace(lvstest.ConnV4, "D2F4", "+2F4", 1), err: `client: port "+2F4"`},
		{name: "expires", line: strings.Replace(lvstest.ConnV4, "897", "-1", 1), err: `expires "-1" is not a number`},
		{name: "control character", line: strings.Replace(lvstest.ConnV4, "ESTABLISHED", "EST\x01", 1), err: "not printable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lvs.ParseConn(tt.line)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			if back, err := lvs.ParseConn(procLine(got)); err != nil || back != got {
				t.Errorf("round trip through the kernel's format: %+v, %v", back, err)
			}
		})
	}
}

// procLine prints c as the kernel does.
func procLine(c lvs.Conn) string {
	addr := func(a netip.Addr) string {
		if a.Is4() {
			b := a.As4()
			return fmt.Sprintf("%02X%02X%02X%02X", b[0], b[1], b[2], b[3])
		}
		b := a.As16()
		var g []string
		for i := 0; i < 16; i += 2 {
			g = append(g, fmt.Sprintf("%02x%02x", b[i], b[i+1]))
		}
		return strings.Join(g, ":")
	}
	pe := ""
	if c.PEName != "" {
		pe = " " + c.PEName + " " + c.PEData
	}
	return fmt.Sprintf("%-3s %s %04X %s %04X %s %04X %-11s %7d%s", c.Protocol, addr(c.Client.Addr()), c.Client.Port(),
		addr(c.Virtual.Addr()), c.Virtual.Port(), addr(c.Dest.Addr()), c.Dest.Port(), c.State, c.Expires, pe)
}

// FuzzParseConn: ParseConn never panics, and what it accepts prints back
// in the kernel's format to the same connection.
func FuzzParseConn(f *testing.F) {
	for _, l := range []string{lvstest.ConnV4, lvstest.ConnV4Wait, lvstest.ConnV6, lvstest.ConnTemplate, lvstest.ConnSIP, lvstest.ConnMixed, lvstest.ConnHeader, "", "TCP"} {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := lvs.ParseConn(line)
		if err != nil {
			return
		}
		back, err := lvs.ParseConn(procLine(c))
		if err != nil {
			t.Fatalf("%q parsed to %+v, which prints as %q and does not parse: %v", line, c, procLine(c), err)
		}
		if back != c {
			t.Fatalf("%q: %+v, printed and parsed again %+v", line, c, back)
		}
	})
}
