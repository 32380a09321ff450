package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tandemlb/tandem/shared/limitfile"
)

// MaxFileSize bounds the configuration file.
const MaxFileSize = 1 << 20

// Error is a configuration error at a position in the file.
type Error struct {
	// File is the file name as given to Load or Parse.
	File string
	// Line is the 1-based line; 0 when the error is about the whole file.
	Line int
	// Key is the dotted key path, e.g. "health.rise" or "vips[1]".
	Key string
	// Err says what is wrong.
	Err error
}

// Error formats as file:line: key "k": message.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": key %q", e.Key)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

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
func Parse(name string, data []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(name, err)
	}
	cfg := defaults(name)
	cfg.Lines = map[string]int{}
	p := &parser{file: name, lines: cfg.Lines}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &Error{File: name, Err: errors.New("empty file: vips and health are required")}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, p.errf(root, "", "the top level must be a mapping of keys")
	}
	if err := p.top(root, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlError(name string, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: line, Err: fmt.Errorf("YAML syntax: %s", m[2])}
	}
	return &Error{File: name, Err: fmt.Errorf("YAML syntax: %s", strings.TrimPrefix(msg, "yaml: "))}
}

func defaults(name string) *Config {
	return &Config{
		File: name,
		Heartbeat: Heartbeat{
			KeyFile:  DefaultKeyFile,
			Interval: DefaultHeartbeatInterval,
		},
		Health: Health{
			Service:      DefaultServiceName,
			ExpectStatus: 200,
			Interval:     DefaultHealthInterval,
			Timeout:      DefaultHealthTimeout,
			Rise:         DefaultRise,
			Fall:         DefaultFall,
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

type parser struct {
	file  string
	lines map[string]int
}

func (p *parser) errf(n *yaml.Node, key, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{File: p.file, Line: line, Key: key, Err: fmt.Errorf(format, args...)}
}

// field is one known key of a mapping.
type field struct {
	name string
	set  func(key string, v *yaml.Node) error
}

// mapping walks a mapping node: every key must be known and appear once;
// required keys must be present. It returns the key nodes seen, by name.
func (p *parser) mapping(n *yaml.Node, prefix string, fields []field, required ...string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, strings.TrimSuffix(prefix, "."), "must be a mapping of keys, not %s", kindName(n))
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, p.errf(k, prefix, "keys must be plain words")
		}
		key := prefix + k.Value
		if _, dup := seen[k.Value]; dup {
			return nil, p.errf(k, key, "appears twice")
		}
		seen[k.Value] = k
		p.lines[key] = k.Line
		if v.Kind == yaml.AliasNode || v.Anchor != "" {
			return nil, p.errf(v, key, "YAML anchors and aliases are not supported")
		}
		idx := slices.IndexFunc(fields, func(f field) bool { return f.name == k.Value })
		if idx < 0 {
			names := make([]string, len(fields))
			for j, f := range fields {
				names[j] = f.name
			}
			return nil, p.errf(k, key, "unknown key (known here: %s)", strings.Join(names, ", "))
		}
		if err := fields[idx].set(key, v); err != nil {
			return nil, err
		}
	}
	for _, r := range required {
		if _, ok := seen[r]; !ok {
			return nil, p.errf(n, prefix+r, "missing required key")
		}
	}
	return seen, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("the value %q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "something else"
}

func (p *parser) scalar(key string, v *yaml.Node) (string, error) {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		return "", p.errf(v, key, "must be a single value, not %s", kindName(v))
	}
	return v.Value, nil
}

func (p *parser) str(dst *string) func(string, *yaml.Node) error {
	return func(key string, v *yaml.Node) error {
		s, err := p.scalar(key, v)
		if err != nil {
			return err
		}
		if s == "" {
			return p.errf(v, key, "must not be empty")
		}
		*dst = s
		return nil
	}
}

func (p *parser) boolean(dst *bool) func(string, *yaml.Node) error {
	return func(key string, v *yaml.Node) error {
		s, err := p.scalar(key, v)
		if err != nil {
			return err
		}
		switch s {
		case "true":
			*dst = true
		case "false":
			*dst = false
		default:
			return p.errf(v, key, "%q is not true or false", s)
		}
		return nil
	}
}

func (p *parser) integer(dst *int, lo, hi int) func(string, *yaml.Node) error {
	return func(key string, v *yaml.Node) error {
		s, err := p.scalar(key, v)
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return p.errf(v, key, "%q is not a whole number", s)
		}
		if n < lo || n > hi {
			return p.errf(v, key, "%d is out of range %d..%d", n, lo, hi)
		}
		*dst = n
		return nil
	}
}

func (p *parser) duration(dst *time.Duration, lo, hi time.Duration) func(string, *yaml.Node) error {
	return func(key string, v *yaml.Node) error {
		s, err := p.scalar(key, v)
		if err != nil {
			return err
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return p.errf(v, key, "%q is not a duration like 500ms, 2s or 1m", s)
		}
		if d < lo || d > hi {
			return p.errf(v, key, "%s is out of range %s..%s", d, lo, hi)
		}
		*dst = d
		return nil
	}
}

func (p *parser) oneOf(dst *string, choices ...string) func(string, *yaml.Node) error {
	return func(key string, v *yaml.Node) error {
		s, err := p.scalar(key, v)
		if err != nil {
			return err
		}
		if !slices.Contains(choices, s) {
			return p.errf(v, key, "%q is not one of %s", s, strings.Join(choices, ", "))
		}
		*dst = s
		return nil
	}
}

// list calls each for every element of a sequence; a single scalar is not
// accepted as a list of one (it is too easy to mistake for something else).
func (p *parser) list(key string, v *yaml.Node, each func(key string, el *yaml.Node) error) error {
	if v.Kind != yaml.SequenceNode {
		return p.errf(v, key, "must be a list, not %s", kindName(v))
	}
	for i, el := range v.Content {
		if el.Kind == yaml.AliasNode || el.Anchor != "" {
			return p.errf(el, key, "YAML anchors and aliases are not supported")
		}
		if err := each(fmt.Sprintf("%s[%d]", key, i), el); err != nil {
			return err
		}
	}
	return nil
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

func (p *parser) top(root *yaml.Node, cfg *Config) error {
	var iface, realIP string
	fields := []field{
		{"node", func(key string, v *yaml.Node) error {
			s, err := p.scalar(key, v)
			if err != nil {
				return err
			}
			if len(s) > 255 || !nameRe.MatchString(s) {
				return p.errf(v, key, "%q: use 1..255 letters, digits, '.', '_' or '-'", s)
			}
			cfg.Node = s
			return nil
		}},
		{"vips", func(key string, v *yaml.Node) error {
			err := p.list(key, v, func(k string, el *yaml.Node) error {
				s, err := p.scalar(k, el)
				if err != nil {
					return err
				}
				s = strings.TrimSuffix(strings.TrimSuffix(s, "/32"), "/128")
				a, err := parseAddr(s)
				if err != nil {
					return p.errf(el, k, "%v", err)
				}
				if !a.IsGlobalUnicast() {
					return p.errf(el, k, "%s is not a unicast address usable as a VIP", a)
				}
				if slices.Contains(cfg.VIPs, a) {
					return p.errf(el, k, "%s is listed twice", a)
				}
				cfg.VIPs = append(cfg.VIPs, a)
				return nil
			})
			if err != nil {
				return err
			}
			if len(cfg.VIPs) == 0 {
				return p.errf(v, key, "at least one VIP is required")
			}
			return nil
		}},
		{"interface", func(key string, v *yaml.Node) error {
			if err := p.str(&iface)(key, v); err != nil {
				return err
			}
			if len(iface) > 15 || strings.ContainsAny(iface, "/ \t") {
				return p.errf(v, key, "%q is not an interface name", iface)
			}
			return nil
		}},
		{"real_ip", func(key string, v *yaml.Node) error {
			if err := p.str(&realIP)(key, v); err != nil {
				return err
			}
			a, err := parseAddr(realIP)
			if err != nil {
				return p.errf(v, key, "%v", err)
			}
			if !a.Is4() {
				return p.errf(v, key, "%s: the ARP sender must be an IPv4 address", a)
			}
			if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() {
				return p.errf(v, key, "%s is not a unicast host address", a)
			}
			cfg.RealIP = a
			return nil
		}},
		{"directors", func(key string, v *yaml.Node) error {
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				return nil
			}
			return p.list(key, v, func(k string, el *yaml.Node) error {
				s, err := p.scalar(k, el)
				if err != nil {
					return err
				}
				ap, err := ParseDirector(s)
				if err != nil {
					return p.errf(el, k, "%v", err)
				}
				if slices.Contains(cfg.Directors, ap) {
					return p.errf(el, k, "%s is listed twice", ap)
				}
				cfg.Directors = append(cfg.Directors, ap)
				return nil
			})
		}},
		{"heartbeat", func(key string, v *yaml.Node) error {
			_, err := p.mapping(v, key+".", []field{
				{"key_file", p.str(&cfg.Heartbeat.KeyFile)},
				{"interval", p.duration(&cfg.Heartbeat.Interval, 50*time.Millisecond, time.Minute)},
				{"insecure", p.boolean(&cfg.Heartbeat.Insecure)},
			})
			return err
		}},
		{"health", func(key string, v *yaml.Node) error { return p.health(key, v, &cfg.Health) }},
		{"check", func(key string, v *yaml.Node) error { return p.check(key, v, &cfg.Check) }},
		{"arp_mode", func(key string, v *yaml.Node) error {
			var s string
			if err := p.oneOf(&s, "nftables", "sysctl", "both")(key, v); err != nil {
				return err
			}
			cfg.ARPMode = ARPMode(s)
			return nil
		}},
		{"nft_table", func(key string, v *yaml.Node) error {
			if err := p.str(&cfg.NFTTable)(key, v); err != nil {
				return err
			}
			if len(cfg.NFTTable) > 64 || !tableRe.MatchString(cfg.NFTTable) {
				return p.errf(v, key, "%q: use letters, digits and '_' (at most 64)", cfg.NFTTable)
			}
			return nil
		}},
		{"state_dir", p.absPath(&cfg.StateDir)},
		{"runtime_dir", p.absPath(&cfg.RuntimeDir)},
		{"metrics", func(key string, v *yaml.Node) error {
			_, err := p.mapping(v, key+".", []field{
				{"listen", func(k string, v *yaml.Node) error {
					s, err := p.scalar(k, v)
					if err != nil {
						if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
							cfg.Metrics.Listen = ""
							return nil
						}
						return err
					}
					if s == "" || s == "off" {
						cfg.Metrics.Listen = ""
						return nil
					}
					if err := checkHostPort(s, true); err != nil {
						return p.errf(v, k, "%v", err)
					}
					cfg.Metrics.Listen = s
					return nil
				}},
			})
			return err
		}},
		{"log", func(key string, v *yaml.Node) error {
			_, err := p.mapping(v, key+".", []field{
				{"format", p.oneOf(&cfg.Log.Format, "text", "json")},
				{"level", p.oneOf(&cfg.Log.Level, "debug", "info", "warn", "error")},
				{"syslog", p.boolean(&cfg.Log.Syslog)},
				{"facility", p.oneOf(&cfg.Log.Facility, "daemon", "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7")},
			})
			return err
		}},
	}
	seen, err := p.mapping(root, "", fields, "vips", "health")
	if err != nil {
		return err
	}
	cfg.Interface = iface
	if len(cfg.Directors) > 0 && cfg.Heartbeat.KeyFile == "" {
		return p.errf(root, "heartbeat.key_file", "required when directors are listed")
	}
	if cfg.Check.Mode == CheckFile && cfg.Check.File == "" {
		return p.errf(seen["check"], "check.file", "required with mode file")
	}
	return nil
}

func (p *parser) absPath(dst *string) func(string, *yaml.Node) error {
	return func(key string, v *yaml.Node) error {
		if err := p.str(dst)(key, v); err != nil {
			return err
		}
		if !strings.HasPrefix(*dst, "/") {
			return p.errf(v, key, "%q must be an absolute path", *dst)
		}
		return nil
	}
}

func (p *parser) health(key string, v *yaml.Node, h *Health) error {
	var typ string
	var status int
	var cmd []string
	seen, err := p.mapping(v, key+".", []field{
		{"service", func(k string, v *yaml.Node) error {
			if err := p.str(&h.Service)(k, v); err != nil {
				return err
			}
			if len(h.Service) > 255 {
				return p.errf(v, k, "longer than 255 bytes")
			}
			return nil
		}},
		{"type", p.oneOf(&typ, string(ProbeHTTP), string(ProbeTCP), string(ProbeCommand))},
		{"url", func(k string, v *yaml.Node) error {
			if err := p.str(&h.URL)(k, v); err != nil {
				return err
			}
			u, err := url.Parse(h.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return p.errf(v, k, "%q is not an http:// or https:// URL", h.URL)
			}
			return nil
		}},
		{"host", p.str(&h.Host)},
		{"expect_status", p.integer(&status, 100, 599)},
		{"address", func(k string, v *yaml.Node) error {
			if err := p.str(&h.Address)(k, v); err != nil {
				return err
			}
			if err := checkHostPort(h.Address, false); err != nil {
				return p.errf(v, k, "%v", err)
			}
			return nil
		}},
		{"command", func(k string, v *yaml.Node) error {
			err := p.list(k, v, func(k string, el *yaml.Node) error {
				s, err := p.scalar(k, el)
				if err != nil {
					return err
				}
				cmd = append(cmd, s)
				return nil
			})
			if err != nil {
				return err
			}
			if len(cmd) == 0 || !strings.HasPrefix(cmd[0], "/") {
				return p.errf(v, k, "must be a list whose first element is an absolute path")
			}
			return nil
		}},
		{"interval", p.duration(&h.Interval, 50*time.Millisecond, 10*time.Minute)},
		{"timeout", p.duration(&h.Timeout, 10*time.Millisecond, time.Minute)},
		{"rise", p.integer(&h.Rise, 1, 100)},
		{"fall", p.integer(&h.Fall, 1, 100)},
	}, "type")
	if err != nil {
		return err
	}
	h.Type = ProbeType(typ)
	onlyFor := map[string]ProbeType{"url": ProbeHTTP, "host": ProbeHTTP, "expect_status": ProbeHTTP, "address": ProbeTCP, "command": ProbeCommand}
	for _, name := range sortedKeys(onlyFor) {
		if k, ok := seen[name]; ok && onlyFor[name] != h.Type {
			t := onlyFor[name]
			return p.errf(k, key+"."+name, "applies only to type %s, not %s", t, h.Type)
		}
	}
	need := map[ProbeType]string{ProbeHTTP: "url", ProbeTCP: "address", ProbeCommand: "command"}[h.Type]
	if _, ok := seen[need]; !ok {
		return p.errf(v, key+"."+need, "missing required key for type %s", h.Type)
	}
	if status != 0 {
		h.ExpectStatus = status
	}
	h.Command = cmd
	if h.Timeout > h.Interval {
		return p.errf(seen["timeout"], key+".timeout", "%s is longer than the interval %s", h.Timeout, h.Interval)
	}
	return nil
}

func (p *parser) check(key string, v *yaml.Node, c *Check) error {
	var mode string
	seen, err := p.mapping(v, key+".", []field{
		{"mode", p.oneOf(&mode, string(CheckListen), string(CheckFile), string(CheckNone))},
		{"listen", func(k string, v *yaml.Node) error {
			if err := p.str(&c.Listen)(k, v); err != nil {
				return err
			}
			if err := checkHostPort(c.Listen, true); err != nil {
				return p.errf(v, k, "%v", err)
			}
			return nil
		}},
		{"path", func(k string, v *yaml.Node) error {
			if err := p.str(&c.Path)(k, v); err != nil {
				return err
			}
			if !strings.HasPrefix(c.Path, "/") || strings.ContainsAny(c.Path, "?# ") {
				return p.errf(v, k, "%q must be a URL path starting with /", c.Path)
			}
			return nil
		}},
		{"file", p.absPath(&c.File)},
	}, "mode")
	if err != nil {
		return err
	}
	c.Mode = CheckMode(mode)
	onlyFor := map[string]CheckMode{"listen": CheckListen, "path": CheckListen, "file": CheckFile}
	for _, name := range sortedKeys(onlyFor) {
		if k, ok := seen[name]; ok && onlyFor[name] != c.Mode {
			m := onlyFor[name]
			return p.errf(k, key+"."+name, "applies only to mode %s, not %s", m, c.Mode)
		}
	}
	if c.Mode == CheckFile {
		if _, ok := seen["file"]; !ok {
			return p.errf(v, key+".file", "missing required key for mode file")
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
