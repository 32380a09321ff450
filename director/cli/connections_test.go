package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/lvs/lvstest"
)

func mustFilter(t *testing.T, service, rs, client, state string) *connFilter {
	t.Helper()
	f, err := newConnFilter(service, rs, client, state)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestScanConnsFilters(t *testing.T) {
	table := strings.Join([]string{lvstest.ConnHeader, lvstest.ConnV4, lvstest.ConnV4Wait, lvstest.ConnV6, lvstest.ConnTemplate, lvstest.ConnSIP, lvstest.ConnMixed}, "\n") + "\n"
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
			res, err := scanConns(strings.NewReader(table), mustFilter(t, tt.service, tt.rs, tt.client, tt.st), 0, func(c lvs.Conn) error {
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
	lines := []string{lvstest.ConnHeader, lvstest.ConnV4, "garbage", long, lvstest.ConnV6, ""}
	for i := range 12 {
		lines = append(lines, fmt.Sprintf("bad %d", i))
	}
	lines = append(lines, lvstest.ConnV4Wait)
	table := strings.Join(lines, "\n") // no final newline
	var got []string
	res, err := scanConns(strings.NewReader(table), mustFilter(t, "", "", "", ""), 2, func(c lvs.Conn) error {
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
	table := strings.Join([]string{lvstest.ConnHeader, lvstest.ConnV4, lvstest.ConnV4Wait, "bad line", lvstest.ConnV6}, "\n") + "\n"
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
