package config

import (
	"fmt"
	"net/netip"
	"time"
)

// DefaultPath is where the daemon and the CLI look for the file.
const DefaultPath = "/etc/tandem/backend.yaml"

// Defaults for optional keys.
const (
	DefaultDirectorPort      = 7480 // hbproto.DefaultPort
	DefaultKeyFile           = "/etc/tandem/heartbeat.key"
	DefaultHeartbeatInterval = time.Second
	DefaultHealthInterval    = 2 * time.Second
	DefaultHealthTimeout     = time.Second
	DefaultRise              = 2
	DefaultFall              = 3
	DefaultCheckListen       = ":7481"
	DefaultCheckPath         = "/check.txt"
	DefaultStateDir          = "/var/lib/tandem-backend"
	DefaultRuntimeDir        = "/run/tandem-backend"
	DefaultMetricsListen     = "127.0.0.1:9481"
	DefaultServiceName       = "app"
	DefaultTableName         = "tandem_backend"
)

// Config is a validated configuration.
type Config struct {
	// File is the path the configuration was read from.
	File string
	// Node is the agent's name in heartbeats; empty means the host name.
	Node string
	// VIPs are the virtual addresses put on lo: IPv4 as /32, IPv6 as /128.
	VIPs []netip.Addr
	// Interface is the interface facing the directors, whose address is the
	// ARP sender; empty means the interface of the default route.
	Interface string
	// RealIP is this host's own IPv4 address on Interface, written as the
	// sender of ARP packets that would otherwise carry a VIP; the zero Addr
	// means the interface's primary address.
	RealIP netip.Addr
	// RealIP6 is this host's own global IPv6 address on Interface: the
	// address its IPv6 real servers are known by, from which reports go to
	// the IPv6 directors; the zero Addr means the interface's one global,
	// non-temporary, non-deprecated IPv6 address.
	RealIP6 netip.Addr
	// Directors are the heartbeat destinations; may be empty (no heartbeats).
	Directors []netip.AddrPort
	// Heartbeat configures the heartbeat to the directors.
	Heartbeat Heartbeat
	// Health configures the probe of the real application.
	Health Health
	// Check configures how the health is exposed to the directors.
	Check Check
	// ARPMode chooses how ARP for the VIPs is suppressed.
	ARPMode ARPMode
	// NFTTable is the name of the agent's own nftables table (arp family).
	NFTTable string
	// StateDir holds the persisted maintenance flag and what was applied.
	StateDir string
	// RuntimeDir holds the control socket (backend.sock).
	RuntimeDir string
	// Metrics configures the Prometheus endpoint.
	Metrics Metrics
	// Debug configures the debugging endpoints, off by default.
	Debug Debug
	// Log configures logging.
	Log Log
	// Lines maps every key the file sets, dotted ("interface",
	// "check.listen"), to its 1-based line; nil for a model built in Go.
	Lines map[string]int
}

// At returns where key is set, "file:line", or the file alone when the key
// was left to its default (the errors that need the host, such as a port
// in use, name it this way).
func (c *Config) At(key string) string {
	if n := c.Lines[key]; n > 0 {
		return fmt.Sprintf("%s:%d", c.File, n)
	}
	return c.File
}

// Heartbeat configures the heartbeat protocol (docs/heartbeat.md).
type Heartbeat struct {
	// KeyFile is the agent's HMAC key file for RealIP, mode 0600.
	KeyFile string
	// KeyFile6 is the key file for RealIP6 (the key the directors derive
	// for it); empty means KeyFile serves both identities, which works
	// only with the legacy cluster key.
	KeyFile6 string
	// Interval is the time between two periodic reports.
	Interval time.Duration
	// Insecure lets the agent start without a usable key file: heartbeats
	// are then disabled (or sent with a key whose file is readable by
	// others). Logged as a warning at every start and reload.
	Insecure bool
}

// ProbeType is the kind of health probe.
type ProbeType string

// Probe types.
const (
	ProbeHTTP    ProbeType = "http"
	ProbeTCP     ProbeType = "tcp"
	ProbeCommand ProbeType = "command"
)

// Health configures the probe of the real application.
type Health struct {
	// Service names the probed service in heartbeats.
	Service string
	// Type is the probe kind.
	Type ProbeType
	// URL is the address of an HTTP probe (http:// or https://).
	URL string
	// Host overrides the Host header of an HTTP probe.
	Host string
	// ExpectStatus is the status an HTTP probe must get.
	ExpectStatus int
	// Address is the host:port a TCP probe connects to.
	Address string
	// Command is the argv of a command probe; exit status 0 is healthy.
	Command []string
	// Interval is the time between two probes.
	Interval time.Duration
	// Timeout bounds one probe.
	Timeout time.Duration
	// Rise is the number of consecutive passes that make the service healthy.
	Rise int
	// Fall is the number of consecutive failures that make it unhealthy.
	Fall int
	// ListenerWatch makes the service unhealthy the moment the last TCP
	// socket listening on its port is destroyed (the application died),
	// without waiting for fall failed probes (default true).
	ListenerWatch bool
	// ListenerPort is the watched port; 0 means the probe's own port when
	// the probe targets this host (a loopback or unspecified address, or
	// localhost).
	ListenerPort int
	// Process is the absolute path of the application's pidfile; when
	// set, the process it names is watched and its exit makes the
	// service unhealthy at once, as the listener watch does. Empty: no
	// process watch.
	Process string
}

// CheckMode is how the health is exposed.
type CheckMode string

// Check modes.
const (
	// CheckListen: the agent serves GET Path itself on Listen.
	CheckListen CheckMode = "listen"
	// CheckFile: the agent keeps File present while serving, absent otherwise.
	CheckFile CheckMode = "file"
	// CheckNone: no check endpoint (heartbeats only).
	CheckNone CheckMode = "none"
)

// Check configures the check endpoint.
type Check struct {
	// Mode is listen, file or none.
	Mode CheckMode
	// Listen is the host:port of the agent's own HTTP listener.
	Listen string
	// Path is the URL path served in listen mode.
	Path string
	// File is the check file kept in the web server's docroot in file mode.
	File string
}

// ARPMode chooses how ARP for the VIPs is suppressed.
type ARPMode string

// ARP modes.
const (
	ARPNFTables ARPMode = "nftables"
	ARPSysctl   ARPMode = "sysctl"
	ARPBoth     ARPMode = "both"
)

// UsesNFTables reports whether the nftables table is wanted.
func (m ARPMode) UsesNFTables() bool { return m == ARPNFTables || m == ARPBoth }

// UsesSysctl reports whether arp_ignore/arp_announce are set.
func (m ARPMode) UsesSysctl() bool { return m == ARPSysctl || m == ARPBoth }

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is the host:port of the metrics listener; empty disables it.
	Listen string
}

// Debug configures the debugging endpoints.
type Debug struct {
	// PProf is the loopback IP:port of net/http/pprof's handlers
	// (shared/debugserver); empty disables it (the default).
	PProf string
}

// Log configures logging.
type Log struct {
	// Format is "text" or "json".
	Format string
	// Level is "debug", "info", "warn" or "error".
	Level string
	// Syslog sends the log to syslog instead of stderr.
	Syslog bool
	// Facility is the syslog facility, e.g. "daemon" or "local1".
	Facility string
}

// VIPv4 returns the IPv4 VIPs.
func (c *Config) VIPv4() []netip.Addr {
	var out []netip.Addr
	for _, v := range c.VIPs {
		if v.Is4() {
			out = append(out, v)
		}
	}
	return out
}

// HasIPv6Directors reports whether a director is listed by an IPv6
// address (reports to it are sent from RealIP6).
func (c *Config) HasIPv6Directors() bool {
	for _, d := range c.Directors {
		if d.Addr().Is6() {
			return true
		}
	}
	return false
}

// HasIPv6VIPs reports whether a VIP is an IPv6 address.
func (c *Config) HasIPv6VIPs() bool {
	for _, v := range c.VIPs {
		if v.Is6() {
			return true
		}
	}
	return false
}

// ControlSocket returns the path of the control socket.
func (c *Config) ControlSocket() string { return ControlSocketIn(c.RuntimeDir) }

// ControlSocketIn returns the path of the control socket in a runtime dir.
func ControlSocketIn(runtimeDir string) string { return runtimeDir + "/backend.sock" }
