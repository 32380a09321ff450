package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Lines as the kernel prints them (ip_vs_conn_seq_show): "%-3s %08X %04X
// %08X %04X %s %04X %-11s %7u%s" for IPv4, %pI6 (full form) for IPv6.
const (
	connHeader = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData"
	connV4     = "TCP C0000201 D2F4 C0000264 0050 C000020B 0050 ESTABLISHED     897"
	connV4Wait = "TCP C6336407 8000 C0000264 0050 C000020C 0050 TIME_WAIT        98"
	connV6     = "UDP 2001:0db8:0000:0000:0000:0000:0000:0001 8ae1 2001:0db8:0000:0000:0000:0000:0000:0064 0035 2001:0db8:0000:0000:0000:0000:0000:000b 0035 UDP             187"
	connTmpl   = "IP  C0000201 0000 00000007 0000 C000020B 0000 NONE            299"
	connSIP    = "UDP C0000201 13C4 C0000264 13C4 C000020B 13C4 UDP             177 sip a84b4c76e66710@pc33.example.com"
	connMixed  = "TCP 2001:0db8:0000:0000:0000:0000:0000:0001 D2F4 2001:0db8:0000:0000:0000:0000:0000:0064 0050 C000020B 0050 SYN_RECV         57"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestParseConn(t *testing.T) {
	tests := []struct {
		name, line string
		want       Conn
		err        string
	}{
		{name: "IPv4", line: connV4, want: Conn{Protocol: "TCP", Client: ap("192.0.2.1:54004"), Virtual: ap("192.0.2.100:80"), Dest: ap("192.0.2.11:80"), State: "ESTABLISHED", Expires: 897}},
		{name: "IPv6", line: connV6, want: Conn{Protocol: "UDP", Client: ap("[2001:db8::1]:35553"), Virtual: ap("[2001:db8::64]:53"), Dest: ap("[2001:db8::b]:53"), State: "UDP", Expires: 187}},
		{name: "firewall-mark template", line: connTmpl, want: Conn{Protocol: "IP", Client: ap("192.0.2.1:0"), Virtual: ap("0.0.0.7:0"), Dest: ap("192.0.2.11:0"), State: "NONE", Expires: 299}},
		{name: "persistence engine", line: connSIP, want: Conn{Protocol: "UDP", Client: ap("192.0.2.1:5060"), Virtual: ap("192.0.2.100:5060"), Dest: ap("192.0.2.11:5060"), State: "UDP", Expires: 177, PEName: "sip", PEData: "a84b4c76e66710@pc33.example.com"}},
		{name: "IPv6 service, IPv4 real server", line: connMixed, want: Conn{Protocol: "TCP", Client: ap("[2001:db8::1]:54004"), Virtual: ap("[2001:db8::64]:80"), Dest: ap("192.0.2.11:80"), State: "SYN_RECV", Expires: 57}},
		{name: "too few fields", line: "TCP C0000201 D2F4 C0000264 0050 C000020B 0050 ESTABLISHED", err: "8 fields, want at least 9"},
		{name: "bad IPv4", line: strings.Replace(connV4, "C0000201", "C00002G1", 1), err: `client: address "C00002G1" is not 8 hex digits`},
		{name: "short address", line: strings.Replace(connV4, "C0000264", "C00264", 1), err: `virtual: address "C00264" is neither`},
		{name: "compressed IPv6", line: strings.Replace(connV6, "2001:0db8:0000:0000:0000:0000:0000:000b", "2001:db8::b", 1), err: `destination: address "2001:db8::b" is neither`},
		{name: "bad port", line: strings.Replace(connV4, "D2F4", "D2F", 1), err: `client: port "D2F" is not 4 hex digits`},
		{name: "signed port", line: strings.Replace(connV4, "D2F4", "+2F4", 1), err: `client: port "+2F4"`},
		{name: "expires", line: strings.Replace(connV4, "897", "-1", 1), err: `expires "-1" is not a number`},
		{name: "control character", line: strings.Replace(connV4, "ESTABLISHED", "EST\x01", 1), err: "not printable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseConn(tt.line)
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
			if back, err := ParseConn(procLine(got)); err != nil || back != got {
				t.Errorf("round trip through the kernel's format: %+v, %v", back, err)
			}
		})
	}
}

// procLine prints c as the kernel does.
func procLine(c Conn) string {
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
	for _, l := range []string{connV4, connV4Wait, connV6, connTmpl, connSIP, connMixed, connHeader, "", "TCP"} {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := ParseConn(line)
		if err != nil {
			return
		}
		back, err := ParseConn(procLine(c))
		if err != nil {
			t.Fatalf("%q parsed to %+v, which prints as %q and does not parse: %v", line, c, procLine(c), err)
		}
		if back != c {
			t.Fatalf("%q: %+v, printed and parsed again %+v", line, c, back)
		}
	})
}

func mustFilter(t *testing.T, service, rs, client, state string) *connFilter {
	t.Helper()
	f, err := newConnFilter(service, rs, client, state)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestScanConnsFilters(t *testing.T) {
	table := strings.Join([]string{connHeader, connV4, connV4Wait, connV6, connTmpl, connSIP, connMixed}, "\n") + "\n"
	tests := []struct {
		name                    string
		service, rs, client, st string
		want                    []string // clients
	}{
		{name: "all", want: []string{"192.0.2.1:54004", "198.51.100.7:32768", "[2001:db8::1]:35553", "192.0.2.1:0", "192.0.2.1:5060", "[2001:db8::1]:54004"}},
		{name: "service", service: "192.0.2.100:80", want: []string{"192.0.2.1:54004", "198.51.100.7:32768"}},
		{name: "service as status prints it", service: "TCP 192.0.2.100:80", want: []string{"192.0.2.1:54004", "198.51.100.7:32768"}},
		{name: "VIP any port", service: "192.0.2.100", want: []string{"192.0.2.1:54004", "198.51.100.7:32768", "192.0.2.1:5060"}},
		{name: "IPv6 service", service: "[2001:db8::64]:80", want: []string{"[2001:db8::1]:54004"}},
		{name: "real server", rs: "192.0.2.11", want: []string{"192.0.2.1:54004", "192.0.2.1:0", "192.0.2.1:5060", "[2001:db8::1]:54004"}},
		{name: "real server and port", rs: "192.0.2.11:5060", want: []string{"192.0.2.1:5060"}},
		{name: "client", client: "2001:db8::1", want: []string{"[2001:db8::1]:35553", "[2001:db8::1]:54004"}},
		{name: "state, any case", st: "time_wait", want: []string{"198.51.100.7:32768"}},
		{name: "all filters", service: "192.0.2.100:80", rs: "192.0.2.11:80", client: "192.0.2.1", st: "ESTABLISHED", want: []string{"192.0.2.1:54004"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			res, err := scanConns(strings.NewReader(table), mustFilter(t, tt.service, tt.rs, tt.client, tt.st), 0, func(c Conn) error {
				got = append(got, c.Client.String())
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			if res.Lines != 7 || res.Bad != 0 || res.Matched != len(tt.want) || res.Shown != len(tt.want) {
				t.Errorf("scan %+v", res)
			}
		})
	}
	for _, bad := range [][4]string{{"nonsense", "", "", ""}, {"", "192.0.2.11:http", "", ""}, {"", "", "192.0.2.1:80", ""}} {
		if _, err := newConnFilter(bad[0], bad[1], bad[2], bad[3]); err == nil {
			t.Errorf("filter %q accepted", bad)
		}
	}
}

// TestScanConnsBadLinesAndLimit: bad lines are counted and the first
// ones reported with their line number; an overlong line is skipped
// whole; the limit stops the output, not the count.
func TestScanConnsBadLinesAndLimit(t *testing.T) {
	long := "TCP " + strings.Repeat("A", 2*maxConnLine)
	lines := []string{connHeader, connV4, "garbage", long, connV6, ""}
	for i := range 12 {
		lines = append(lines, fmt.Sprintf("bad %d", i))
	}
	lines = append(lines, connV4Wait)
	table := strings.Join(lines, "\n") // no final newline
	var got []string
	res, err := scanConns(strings.NewReader(table), mustFilter(t, "", "", "", ""), 2, func(c Conn) error {
		got = append(got, c.State)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ESTABLISHED", "UDP"}, got); diff != "" {
		t.Errorf("shown (-want +got)\n%s", diff)
	}
	if res.Lines != 19 || res.Matched != 3 || res.Shown != 2 || res.Bad != 14 || len(res.BadErrs) != maxBadLines {
		t.Errorf("scan %+v", res)
	}
	if want := "3: 1 fields, want at least 9"; res.BadErrs[0] != want+" (Pro FromIP FPrt ToIP TPrt DestIP DPrt State Expires)" {
		t.Errorf("first bad line %q, want %q", res.BadErrs[0], want)
	}
	if want := fmt.Sprintf("4: line longer than %d bytes", maxConnLine); res.BadErrs[1] != want {
		t.Errorf("overlong line %q, want %q", res.BadErrs[1], want)
	}
	if !strings.HasPrefix(res.BadErrs[2], "7: ") {
		t.Errorf("third bad line %q, want line 7", res.BadErrs[2])
	}
}

// TestConnectionsCommand runs the verb on a table file: text, JSON, the
// limit's note, bad lines on stderr; and the errors without root or
// without the file.
func TestConnectionsCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ip_vs_conn")
	table := strings.Join([]string{connHeader, connV4, connV4Wait, "bad line", connV6}, "\n") + "\n"
	if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := connTable
	t.Cleanup(func() { connTable = saved })
	connTable.path, connTable.root = path, func() bool { return true }

	out, errOut, err := run(t, "connections", "--limit", "2")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"PRO    EXPIRE STATE        CLIENT                 VIRTUAL                REAL SERVER\n",
		"TCP    14:57  ESTABLISHED  192.0.2.1:54004        192.0.2.100:80         192.0.2.11:80\n",
		"TCP    01:38  TIME_WAIT    198.51.100.7:32768     192.0.2.100:80         192.0.2.12:80\n",
		"2 of 3 matching connections shown (--limit 2; --limit 0 shows all)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "2001:db8") {
		t.Errorf("more than --limit shown:\n%s", out)
	}
	if want := path + ":4: 2 fields, want at least 9"; !strings.Contains(errOut, want) {
		t.Errorf("stderr %q lacks %q", errOut, want)
	}

	out, _, err = run(t, "connections", "--json", "--client", "2001:db8::1")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Connections []map[string]any `json:"connections"`
		Shown       int              `json:"shown"`
		Matched     int              `json:"matched"`
		Truncated   bool             `json:"truncated"`
		BadLines    int              `json:"bad_lines"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	want := []map[string]any{{"protocol": "UDP", "client": "[2001:db8::1]:35553", "virtual": "[2001:db8::64]:53", "real_server": "[2001:db8::b]:53", "state": "UDP", "expires_seconds": 187.0}}
	if diff := cmp.Diff(want, doc.Connections); diff != "" || doc.Shown != 1 || doc.Matched != 1 || doc.Truncated || doc.BadLines != 1 {
		t.Errorf("JSON %+v (-want +got connections)\n%s", doc, diff)
	}
	out, _, err = run(t, "connections", "--json", "--state", "SYN_RECV")
	if err != nil || !strings.Contains(out, `{"connections":[`+"\n],\n") {
		t.Errorf("empty JSON list: %v %q", err, out)
	}

	if _, _, err := run(t, "connections", "--limit", "-1"); err == nil {
		t.Error("a negative limit accepted")
	}
	connTable.root = func() bool { return false }
	if _, _, err := run(t, "connections"); err == nil || !strings.Contains(err.Error(), "must be run as root") {
		t.Errorf("not root: %v", err)
	}
	connTable.root, connTable.path = func() bool { return true }, filepath.Join(dir, "missing")
	if _, _, err := run(t, "connections"); err == nil || !strings.Contains(err.Error(), "ip_vs module is not loaded") {
		t.Errorf("no table: %v", err)
	}
}

// TestConnectionsReadsKernelTable reads the real table when this machine
// has one (root, ip_vs loaded): every line must parse.
func TestConnectionsReadsKernelTable(t *testing.T) {
	b, err := os.ReadFile(connTableFile)
	if err != nil {
		t.Skipf("no kernel table here: %v", err)
	}
	res, err := scanConns(bytes.NewReader(b), mustFilter(t, "", "", "", ""), 0, func(Conn) error { return nil })
	if err != nil || res.Bad != 0 {
		t.Errorf("kernel table: %+v %v", res, err)
	}
}
