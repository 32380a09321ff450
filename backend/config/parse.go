package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tandemlb/tandem/shared/debugserver"
	"github.com/tandemlb/tandem/shared/limitfile"
	"github.com/tandemlb/tandem/shared/strictyaml"
)

// MaxFileSize bounds the configuration file.
const MaxFileSize = 1 << 20

// Error is a configuration error at a position in the file: file, line,
// column and dotted key path ("health.rise", "vips[1]"). Its text is
// `file:line: key "k": message`. Parse returns all of them at once, as a
// strictyaml.Errors sorted by line.
type Error = strictyaml.Error

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := limitfile.Read(path, MaxFileSize)
	if err != nil {
		// "path: cannot read: not a regular file (FIFO)", "…: larger
		// than 1 MiB"; errors.Is still sees fs.ErrNotExist.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &Error{File: path, Err: fmt.Errorf("cannot read: %w", err)}
	}
	return Parse(path, b)
}

// Parse validates data as the content of the file name (used in errors).
// Its error, if any, is a strictyaml.Errors with every problem found.
func Parse(name string, data []byte) (*Config, error) {
	r := strictyaml.NewReader(name)
	root, ok := r.Read(data)
	if !ok {
		return nil, r.Errors()
	}
	if root.IsNull() {
		r.Errorf(0, "", "empty file: vips and health are required")
		return nil, r.Errors()
	}
	cfg := defaults(name)
	top(root, cfg)
	if errs := r.Errors(); len(errs) > 0 {
		return nil, errs
	}
	cfg.Lines = r.Lines()
	return cfg, nil
}

func defaults(name string) *Config {
	return &Config{
		File: name,
		Heartbeat: Heartbeat{
			KeyFile:  DefaultKeyFile,
			Interval: DefaultHeartbeatInterval,
		},
		Health: Health{
			Service:       DefaultServiceName,
			ExpectStatus:  200,
			Interval:      DefaultHealthInterval,
			Timeout:       DefaultHealthTimeout,
			Rise:          DefaultRise,
			Fall:          DefaultFall,
			ListenerWatch: true,
		},
		Check: Check{
			Mode:   CheckListen,
			Listen: DefaultCheckListen,
			Path:   DefaultCheckPath,
		},
		ARPMode:    ARPNFTables,
		NFTTable:   DefaultTableName,
		StateDir:   DefaultStateDir,
		RuntimeDir: DefaultRuntimeDir,
		Metrics:    Metrics{Listen: DefaultMetricsListen},
		Log:        Log{Format: "text", Level: "info", Facility: "daemon"},
	}
}

// hostAddr is a field that stores an address that check accepts (check
// returns what is wrong, or "").
func hostAddr(dst *netip.Addr, check func(netip.Addr) string) func(strictyaml.Value) {
	return func(v strictyaml.Value) {
		s, ok := str(v)
		if !ok {
			return
		}
		a, err := parseAddr(s)
		if err != nil {
			v.Errorf("%v", err)
			return
		}
		if m := check(a); m != "" {
			v.Errorf("%s", m)
			return
		}
		*dst = a
	}
}

// str reads a non-empty string.
func str(v strictyaml.Value) (string, bool) {
	s, ok := v.Str()
	if ok && s == "" {
		v.Errorf("must not be empty")
		return "", false
	}
	return s, ok
}

// nonEmpty is a field that stores a non-empty string that check accepts
// (check returns what is wrong, or "").
func nonEmpty(dst *string, check func(string) string) func(strictyaml.Value) {
	return strictyaml.Checked(dst, func(s string) string {
		if s == "" {
			return "must not be empty"
		}
		if check != nil {
			return check(s)
		}
		return ""
	})
}

// msgErr adapts a check that returns an error.
func msgErr(check func(string) error) func(string) string {
	return func(s string) string {
		if err := check(s); err != nil {
			return err.Error()
		}
		return ""
	}
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q: zones are not allowed", s)
	}
	return a.Unmap(), nil
}

// ParseDirector parses "ip", "ip:port", "[ipv6]" or "[ipv6]:port"; the port
// defaults to DefaultDirectorPort.
func ParseDirector(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return netip.AddrPort{}, fmt.Errorf("%q: port 0", s)
		}
		if ap.Addr().Zone() != "" {
			return netip.AddrPort{}, fmt.Errorf("%q: zones are not allowed", s)
		}
		if ap.Addr().IsUnspecified() || ap.Addr().IsMulticast() {
			return netip.AddrPort{}, fmt.Errorf("%q is not a unicast address", s)
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := parseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not an IP address or IP:port (host names are not accepted)", s)
	}
	if strings.HasPrefix(s, "[") != strings.HasSuffix(s, "]") {
		return netip.AddrPort{}, fmt.Errorf("%q: unbalanced brackets", s)
	}
	if a.IsUnspecified() || a.IsMulticast() {
		return netip.AddrPort{}, fmt.Errorf("%q is not a unicast address", s)
	}
	return netip.AddrPortFrom(a, DefaultDirectorPort), nil
}

func checkHostPort(s string, allowEmptyHost bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: bad port %q", s, port)
	}
	if host == "" {
		if !allowEmptyHost {
			return fmt.Errorf("%q: the host is missing", s)
		}
		return nil
	}
	if _, err := parseAddr(host); err != nil && host != "localhost" {
		return fmt.Errorf("%q: host must be an IP address or localhost", s)
	}
	return nil
}

var nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
var tableRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func top(root strictyaml.Value, cfg *Config) {
	var iface string
	keys := root.Mapping(strictyaml.Fields{
		"node": strictyaml.Checked(&cfg.Node, func(s string) string {
			if len(s) > 255 || !nameRe.MatchString(s) {
				return fmt.Sprintf("%q: use 1..255 letters, digits, '.', '_' or '-'", s)
			}
			return ""
		}),
		"vips": func(v strictyaml.Value) {
			uniqueList(v, &cfg.VIPs, parseVIP)
			if v.IsNull() || v.IsList() && len(v.Node().Content) == 0 {
				v.Errorf("at least one VIP is required")
			}
		},
		"interface": nonEmpty(&iface, func(s string) string {
			if len(s) > 15 || strings.ContainsAny(s, "/ \t") {
				return fmt.Sprintf("%q is not an interface name", s)
			}
			return ""
		}),
		"real_ip": hostAddr(&cfg.RealIP, func(a netip.Addr) string {
			switch {
			case !a.Is4():
				return fmt.Sprintf("%s: the ARP sender must be an IPv4 address (this host's IPv6 address goes in real_ip6)", a)
			case a.IsUnspecified() || a.IsLoopback() || a.IsMulticast():
				return fmt.Sprintf("%s is not a unicast host address", a)
			}
			return ""
		}),
		"real_ip6": hostAddr(&cfg.RealIP6, func(a netip.Addr) string {
			switch {
			case !a.Is6():
				return fmt.Sprintf("%s is not an IPv6 address (the IPv4 address goes in real_ip)", a)
			case !a.IsGlobalUnicast():
				return fmt.Sprintf("%s is not a global unicast IPv6 address", a)
			}
			return ""
		}),
		"directors": func(v strictyaml.Value) { uniqueList(v, &cfg.Directors, ParseDirector) },
		"heartbeat": func(v strictyaml.Value) {
			v.Mapping(strictyaml.Fields{
				"key_file":  nonEmpty(&cfg.Heartbeat.KeyFile, nil),
				"key_file6": nonEmpty(&cfg.Heartbeat.KeyFile6, nil),
				"interval":  strictyaml.Duration(&cfg.Heartbeat.Interval, 50*time.Millisecond, time.Minute),
				"insecure":  strictyaml.Bool(&cfg.Heartbeat.Insecure),
			})
		},
		"health": func(v strictyaml.Value) { health(v, &cfg.Health) },
		"check":  func(v strictyaml.Value) { check(v, &cfg.Check) },
		"arp_mode": func(v strictyaml.Value) {
			if s, ok := v.OneOf(string(ARPNFTables), string(ARPSysctl), string(ARPBoth)); ok {
				cfg.ARPMode = ARPMode(s)
			}
		},
		"nft_table": nonEmpty(&cfg.NFTTable, func(s string) string {
			if len(s) > 64 || !tableRe.MatchString(s) {
				return fmt.Sprintf("%q: use letters, digits and '_' (at most 64)", s)
			}
			return ""
		}),
		"state_dir":   absPath(&cfg.StateDir),
		"runtime_dir": absPath(&cfg.RuntimeDir),
		"metrics": func(v strictyaml.Value) {
			v.Mapping(strictyaml.Fields{
				"listen": func(v strictyaml.Value) {
					if v.IsNull() {
						cfg.Metrics.Listen = ""
						return
					}
					s, ok := v.Str()
					switch {
					case !ok:
					case s == "" || s == "off":
						cfg.Metrics.Listen = ""
					default:
						if err := checkHostPort(s, true); err != nil {
							v.Errorf("%v", err)
							return
						}
						cfg.Metrics.Listen = s
					}
				},
			})
		},
		"debug": func(v strictyaml.Value) {
			v.Mapping(strictyaml.Fields{
				"pprof": strictyaml.Checked(&cfg.Debug.PProf, debugserver.CheckAddr),
			})
		},
		"log": func(v strictyaml.Value) {
			v.Mapping(strictyaml.Fields{
				"format":   strictyaml.OneOf(&cfg.Log.Format, "text", "json"),
				"level":    strictyaml.OneOf(&cfg.Log.Level, "debug", "info", "warn", "error"),
				"syslog":   strictyaml.Bool(&cfg.Log.Syslog),
				"facility": strictyaml.OneOf(&cfg.Log.Facility, "daemon", "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"),
			})
		},
	})
	root.Require(keys, "vips", "health")
	cfg.Interface = iface
	if len(cfg.Directors) > 0 && cfg.Heartbeat.KeyFile == "" {
		root.KeyErrorf("heartbeat.key_file", "required when directors are listed")
	}
}

// uniqueList reads a list of strings into dst, each parsed by parse (its
// error is the element's) and listed once.
func uniqueList[T interface {
	comparable
	fmt.Stringer
}](v strictyaml.Value, dst *[]T, parse func(string) (T, error)) {
	v.List(func(el strictyaml.Value) {
		s, ok := el.Str()
		if !ok {
			return
		}
		x, err := parse(s)
		switch {
		case err != nil:
			el.Errorf("%v", err)
		case slices.Contains(*dst, x):
			el.Errorf("%s is listed twice", x)
		default:
			*dst = append(*dst, x)
		}
	})
}

// parseVIP parses a VIP, "ip" or "ip/32" ("ip/128").
func parseVIP(s string) (netip.Addr, error) {
	a, err := parseAddr(strings.TrimSuffix(strings.TrimSuffix(s, "/32"), "/128"))
	if err == nil && !a.IsGlobalUnicast() {
		err = fmt.Errorf("%s is not a unicast address usable as a VIP", a)
	}
	return a, err
}

// onlyFor reports each key of keys that applies only to another kind (a
// probe type, a check mode) than kind; what names the kind's key.
func onlyFor[K ~string](keys strictyaml.Keys, applies map[string]K, what string, kind K) {
	for _, name := range slices.Sorted(maps.Keys(applies)) {
		if k, ok := keys[name]; ok && applies[name] != kind {
			k.Errorf("applies only to %s %s, not %s", what, applies[name], kind)
		}
	}
}

func absPath(dst *string) func(strictyaml.Value) {
	return nonEmpty(dst, func(s string) string {
		if !strings.HasPrefix(s, "/") {
			return fmt.Sprintf("%q must be an absolute path", s)
		}
		return ""
	})
}

func health(v strictyaml.Value, h *Health) {
	var typ string
	var status int
	var cmd []string
	keys := v.Mapping(strictyaml.Fields{
		"service": nonEmpty(&h.Service, func(s string) string {
			if len(s) > 255 {
				return "longer than 255 bytes"
			}
			return ""
		}),
		"type": strictyaml.OneOf(&typ, string(ProbeHTTP), string(ProbeTCP), string(ProbeCommand)),
		"url": nonEmpty(&h.URL, func(s string) string {
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Sprintf("%q is not an http:// or https:// URL", s)
			}
			return ""
		}),
		"host":          nonEmpty(&h.Host, nil),
		"expect_status": strictyaml.Int(&status, 100, 599),
		"address":       nonEmpty(&h.Address, msgErr(func(s string) error { return checkHostPort(s, false) })),
		"command": func(v strictyaml.Value) {
			v.List(func(el strictyaml.Value) {
				if s, ok := el.Str(); ok {
					cmd = append(cmd, s)
				}
			})
			if (v.IsNull() || v.IsList()) && (len(cmd) == 0 || !strings.HasPrefix(cmd[0], "/")) {
				v.Errorf("must be a list whose first element is an absolute path")
			}
		},
		"interval":       strictyaml.Duration(&h.Interval, 50*time.Millisecond, 10*time.Minute),
		"timeout":        strictyaml.Duration(&h.Timeout, 10*time.Millisecond, time.Minute),
		"rise":           strictyaml.Int(&h.Rise, 1, 100),
		"fall":           strictyaml.Int(&h.Fall, 1, 100),
		"listener_watch": strictyaml.Bool(&h.ListenerWatch),
		"listener_port":  strictyaml.Int(&h.ListenerPort, 1, 65535),
		"process":        absPath(&h.Process),
	})
	v.Require(keys, "type")
	h.Type = ProbeType(typ)
	if status != 0 {
		h.ExpectStatus = status
	}
	h.Command = cmd
	if h.Type != "" {
		onlyFor(keys, map[string]ProbeType{"url": ProbeHTTP, "host": ProbeHTTP, "expect_status": ProbeHTTP, "address": ProbeTCP, "command": ProbeCommand}, "type", h.Type)
		need := map[ProbeType]string{ProbeHTTP: "url", ProbeTCP: "address", ProbeCommand: "command"}[h.Type]
		if !keys.Has(need) {
			v.KeyErrorf(need, "missing required key for type %s", h.Type)
		}
	}
	if h.Timeout > h.Interval {
		msg := "%s is longer than the interval %s"
		t, i := strictyaml.FormatDuration(h.Timeout), strictyaml.FormatDuration(h.Interval)
		if k, ok := keys["timeout"]; ok {
			k.Errorf(msg, t, i)
		} else {
			v.KeyErrorf("timeout", msg, t, i)
		}
	}
}

func check(v strictyaml.Value, c *Check) {
	var mode string
	keys := v.Mapping(strictyaml.Fields{
		"mode":   strictyaml.OneOf(&mode, string(CheckListen), string(CheckFile), string(CheckNone)),
		"listen": nonEmpty(&c.Listen, msgErr(func(s string) error { return checkHostPort(s, true) })),
		"path": nonEmpty(&c.Path, func(s string) string {
			if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, "?# ") {
				return fmt.Sprintf("%q must be a URL path starting with /", s)
			}
			return ""
		}),
		"file": absPath(&c.File),
	})
	v.Require(keys, "mode")
	c.Mode = CheckMode(mode)
	if c.Mode == "" {
		return
	}
	onlyFor(keys, map[string]CheckMode{"listen": CheckListen, "path": CheckListen, "file": CheckFile}, "mode", c.Mode)
	if c.Mode == CheckFile && !keys.Has("file") {
		v.KeyErrorf("file", "missing required key for mode file")
	}
}
