package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tandemlb/tandem/shared/strictyaml"
)

const minimal = `vips: [192.0.2.100]
health:
  type: tcp
  address: 127.0.0.1:80
`

func TestParseMinimalDefaults(t *testing.T) {
	got, err := Parse("b.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := defaults("b.yaml")
	want.VIPs = []netip.Addr{netip.MustParseAddr("192.0.2.100")}
	want.Health.Type = ProbeTCP
	want.Health.Address = "127.0.0.1:80"
	if diff := cmp.Diff(want, got, addrOpts); diff != "" {
		t.Fatalf("Parse (-want +got)\n%s", diff)
	}
}

func TestParseFull(t *testing.T) {
	src := `node: web1
vips:
  - 192.0.2.100
  - 2001:db8::100/128
interface: eth0
real_ip: 192.0.2.11
directors: [192.0.2.2, "192.0.2.3:7000", "[2001:db8::2]", "2001:db8::3"]
heartbeat: {key_file: /k, interval: 250ms, insecure: true}
health:
  service: www
  type: http
  url: http://127.0.0.1:8080/health
  host: www.example.com
  expect_status: 204
  interval: 500ms
  timeout: 200ms
  rise: 3
  fall: 4
  process: /run/nginx.pid
check: {mode: file, file: /var/www/html/check.txt}
arp_mode: both
nft_table: my_table
state_dir: /s
runtime_dir: /r
metrics: {listen: off}
log: {format: json, level: debug, syslog: true, facility: local1}
`
	got, err := Parse("b.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		File: "b.yaml", Node: "web1",
		VIPs:      []netip.Addr{netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("2001:db8::100")},
		Interface: "eth0", RealIP: netip.MustParseAddr("192.0.2.11"),
		Directors: []netip.AddrPort{
			netip.MustParseAddrPort("192.0.2.2:7480"), netip.MustParseAddrPort("192.0.2.3:7000"),
			netip.MustParseAddrPort("[2001:db8::2]:7480"), netip.MustParseAddrPort("[2001:db8::3]:7480"),
		},
		Heartbeat: Heartbeat{KeyFile: "/k", Interval: 250 * time.Millisecond, Insecure: true},
		Health: Health{Service: "www", Type: ProbeHTTP, URL: "http://127.0.0.1:8080/health", Host: "www.example.com",
			ExpectStatus: 204, Interval: 500 * time.Millisecond, Timeout: 200 * time.Millisecond, Rise: 3, Fall: 4, ListenerWatch: true,
			Process: "/run/nginx.pid"},
		Check:    Check{Mode: CheckFile, Listen: DefaultCheckListen, Path: DefaultCheckPath, File: "/var/www/html/check.txt"},
		ARPMode:  ARPBoth,
		NFTTable: "my_table", StateDir: "/s", RuntimeDir: "/r",
		Log: Log{Format: "json", Level: "debug", Syslog: true, Facility: "local1"},
	}
	if diff := cmp.Diff(want, got, addrOpts); diff != "" {
		t.Fatalf("Parse (-want +got)\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown top key", minimal + "colour: blue\n", `b.yaml:5: key "colour": unknown key`},
		{"unknown nested key", minimal + "heartbeat:\n  keyfile: /x\n", `b.yaml:6: key "heartbeat.keyfile": unknown key`},
		{"bad vip", "vips:\n  - 192.0.2.1\n  - 192.0.2.300\nhealth: {type: tcp, address: \"127.0.0.1:80\"}\n", `b.yaml:3: key "vips[1]": "192.0.2.300" is not an IP address`},
		{"dup vip", "vips: [192.0.2.1, 192.0.2.1]\nhealth: {type: tcp, address: \"127.0.0.1:80\"}\n", `b.yaml:1: key "vips[1]": 192.0.2.1 is listed twice`},
		{"loopback vip", "vips: [127.0.0.2]\nhealth: {type: tcp, address: \"127.0.0.1:80\"}\n", `key "vips[0]": 127.0.0.2 is not a unicast address`},
		{"vips not list", "vips: 192.0.2.1\nhealth: {type: tcp, address: \"127.0.0.1:80\"}\n", `b.yaml:1: key "vips": want a list, not "192.0.2.1"`},
		{"missing vips", "health: {type: tcp, address: \"127.0.0.1:80\"}\n", `b.yaml:1: key "vips": missing required key`},
		{"missing health", "vips: [192.0.2.1]\n", `b.yaml:1: key "health": missing required key`},
		{"missing probe type", "vips: [192.0.2.1]\nhealth:\n  address: 127.0.0.1:80\n", `b.yaml:3: key "health.type": missing required key`},
		{"missing url", "vips: [192.0.2.1]\nhealth:\n  type: http\n", `b.yaml:3: key "health.url": missing required key for type http`},
		{"url on tcp", minimal + "  url: http://x/\n", `b.yaml:5: key "health.url": applies only to type http, not tcp`},
		{"bad director", minimal + "directors:\n  - director1.example\n", `b.yaml:6: key "directors[0]": "director1.example" is not an IP address`},
		{"bad director port", minimal + "directors: [\"192.0.2.2:99999\"]\n", `key "directors[0]"`},
		{"bad duration", minimal + "heartbeat: {interval: 1 second}\n", `b.yaml:5: key "heartbeat.interval": "1 second" is not a duration`},
		{"duration range", minimal + "heartbeat: {interval: 1ms}\n", `key "heartbeat.interval": 1ms is out of range`},
		{"bad int", "vips: [192.0.2.1]\nhealth:\n  type: tcp\n  address: 127.0.0.1:80\n  rise: two\n", `b.yaml:5: key "health.rise": want an integer, not "two"`},
		{"timeout > interval", "vips: [192.0.2.1]\nhealth:\n  type: tcp\n  address: 127.0.0.1:80\n  interval: 1s\n  timeout: 2s\n", `b.yaml:6: key "health.timeout": 2s is longer than the interval 1s`},
		{"bad arp mode", minimal + "arp_mode: arptables\n", `b.yaml:5: key "arp_mode": "arptables" is not one of nftables, sysctl, both`},
		{"file mode needs file", minimal + "check:\n  mode: file\n", `b.yaml:6: key "check.file": missing required key for mode file`},
		{"listen on file mode", minimal + "check: {mode: file, file: /x, listen: \":80\"}\n", `key "check.listen": applies only to mode listen`},
		{"relative state dir", minimal + "state_dir: var/lib\n", `b.yaml:5: key "state_dir": "var/lib" must be an absolute path`},
		{"relative pidfile", "vips: [192.0.2.1]\nhealth:\n  type: tcp\n  address: \"127.0.0.1:80\"\n  process: app.pid\n", `b.yaml:5: key "health.process": "app.pid" must be an absolute path`},
		{"ipv6 real ip", minimal + "real_ip: 2001:db8::1\n", `key "real_ip": 2001:db8::1: the ARP sender must be an IPv4 address`},
		{"duplicate key", minimal + "node: a\nnode: b\n", `b.yaml:6: key "node": duplicate key (first at line 5)`},
		{"yaml syntax", "vips: [192.0.2.1\nhealth: x\n", `b.yaml:`},
		{"tab indent", "vips:\n\t- 192.0.2.1\n", `YAML syntax`},
		{"not a mapping", "- a\n- b\n", `b.yaml:1: want a mapping of keys, not a list`},
		{"empty", "# only a comment\n", `b.yaml: empty file: vips and health are required`},
		{"alias", "x: &a 1\n", `b.yaml:1: anchors and aliases are not supported`},
		{"command relative", "vips: [192.0.2.1]\nhealth:\n  type: command\n  command: [check]\n", `b.yaml:4: key "health.command": must be a list whose first element is an absolute path`},
		{"bad node", minimal + "node: \"web 1\"\n", `key "node": "web 1"`},
		{"metrics host", minimal + "metrics: {listen: \"example.com:9\"}\n", `key "metrics.listen"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("b.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// TestParseAllErrors: the agent reports every problem at once, sorted by
// line, as the director does.
func TestParseAllErrors(t *testing.T) {
	src := "vips: [192.0.2.1, 192.0.2.300]\nhealth:\n  type: tcp\n  adress: 127.0.0.1:80\n  rise: 0\nheartbeat: {interval: 1}\nlog: {format: xml}\n"
	_, err := Parse("b.yaml", []byte(src))
	want := []string{
		`b.yaml:1: key "vips[1]": "192.0.2.300" is not an IP address`,
		`b.yaml:3: key "health.address": missing required key for type tcp`,
		`b.yaml:4: key "health.adress": unknown key (did you mean "address"?)`,
		`b.yaml:5: key "health.rise": 0 is out of range 1..100`,
		`b.yaml:6: key "heartbeat.interval": "1" needs a unit, e.g. "1s"`,
		`b.yaml:7: key "log.format": "xml" is not one of text, json`,
	}
	var got []string
	if err != nil {
		got = strings.Split(err.Error(), "\n")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestExampleFileParses(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "..", "docs", "examples", "backend.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.VIPs) == 0 || len(cfg.Directors) != 2 {
		t.Fatalf("unexpected example: %+v", cfg)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("Load of a missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		next := u.Unwrap()
		if next == nil {
			return err
		}
		err = next
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("vips: [192.0.2.1]\nhealth: {type: http, url: \"http://x/\"}\ncheck: {mode: file, file: /x}\n"))
	f.Add([]byte("x: &a [*a]\n"))
	if b, err := os.ReadFile(filepath.Join("..", "..", "docs", "examples", "backend.yaml")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := Parse("fuzz.yaml", b)
		if err != nil {
			errs, ok := err.(strictyaml.Errors)
			if !ok || len(errs) == 0 {
				t.Fatalf("error of type %T, want strictyaml.Errors: %v", err, err)
			}
			for _, e := range errs {
				if e.File != "fuzz.yaml" || e.Line < 0 {
					t.Fatalf("error without its position: %#v", e)
				}
			}
			return
		}
		if len(cfg.VIPs) == 0 || cfg.Health.Type == "" {
			t.Fatalf("accepted a config without VIPs or probe: %+v", cfg)
		}
	})
}

var addrOpts = cmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{}), cmpopts.IgnoreFields(Config{}, "Lines")}

// TestLines: every key set in the file has its line, so that errors found
// only on the host (no such interface, a port in use) can name it; a key
// left to its default names the file alone.
func TestLines(t *testing.T) {
	src := "vips: [192.0.2.100]\ninterface: eth7\nhealth:\n  type: tcp\n  address: 127.0.0.1:80\ncheck:\n  mode: listen\n  listen: \":7481\"\n"
	cfg, err := Parse("b.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"interface": "b.yaml:2", "health.address": "b.yaml:5", "check.listen": "b.yaml:8", "metrics.listen": "b.yaml"} {
		if got := cfg.At(key); got != want {
			t.Errorf("At(%q) = %q, want %q", key, got, want)
		}
	}
}
