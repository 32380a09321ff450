package lvs

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SysctlSettings are the IPVS sysctls (net.ipv4.vs.*) Tandem sets. They
// are per network namespace. Why each matters, as measured on Debian 12's
// 6.1 kernel (see DESIGN.md, "pool"):
//
//   - expire_nodest_conn=1: packets of an established connection whose
//     destination was deleted are dropped either way; with 1 the connection
//     entry at least expires at once, so the client fails fast instead of
//     hanging until the entry times out. This is why the pool drains
//     (weight 0) before it deletes.
//   - expire_quiescent_template=1: persistence templates pointing at a
//     weight-0 destination expire instead of sending returning clients to
//     it, so a persistent service drains too.
//   - conn_reuse_mode=3: in DR the director sees only client→server
//     packets, so finished connections linger in FIN_WAIT (2 min). A new SYN
//     reusing such a client port goes to the old destination unless bit 2
//     is set: if that destination was deleted the SYN is dropped (100+ of
//     4,000 new connections failed after one removal), and if it is at
//     weight 0 it keeps getting new connections and never drains. With 3,
//     both went to 0.
//
// sloppy_tcp and sloppy_sctp (off by default, as in the kernel) let IPVS
// make a connection entry from any packet of a flow, not only its SYN
// (INIT): with mh on every director, a director that an ECMP change hands
// the middle of a flow schedules it to the same real server instead of
// dropping it (BGP mode). A RST never makes one.
type SysctlSettings struct {
	ExpireNodestConn        bool
	ExpireQuiescentTemplate bool
	// ConnReuseMode is net.ipv4.vs.conn_reuse_mode (0-3); negative leaves
	// it alone.
	ConnReuseMode int
	// SloppyTCP and SloppySCTP set sloppy_tcp and sloppy_sctp to 1; false
	// leaves them as they are (the kernel's 0 unless set elsewhere).
	SloppyTCP  bool
	SloppySCTP bool
}

// DefaultSysctls returns Tandem's defaults: 1, 1 and 3.
func DefaultSysctls() SysctlSettings {
	return SysctlSettings{ExpireNodestConn: true, ExpireQuiescentTemplate: true, ConnReuseMode: 3}
}

// SysctlChange is one sysctl Apply wrote.
type SysctlChange struct {
	Name string // "net.ipv4.vs.conn_reuse_mode"
	Old  string
	New  string
}

// Sysctls reads and writes IPVS-related sysctls under /proc/sys. The files
// under /proc/sys/net belong to the network namespace of the thread that
// opens them: call from the director's namespace (a test locks its
// goroutine to a thread inside the namespace it created).
type Sysctls struct {
	// Root replaces /proc/sys (for tests).
	Root string
	// Logger receives the changes and the ip_forward warning; nil discards.
	Logger *slog.Logger
}

func (s Sysctls) root() string {
	if s.Root == "" {
		return "/proc/sys"
	}
	return s.Root
}

func (s Sysctls) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s Sysctls) path(name string) string {
	return filepath.Join(s.root(), strings.ReplaceAll(name, ".", "/"))
}

// Get returns a sysctl's value, trimmed.
func (s Sysctls) Get(name string) (string, error) {
	b, err := os.ReadFile(s.path(name))
	if err != nil {
		return "", fmt.Errorf("sysctl %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// set writes value if the current value differs and reports the change.
func (s Sysctls) set(name, value string) (*SysctlChange, error) {
	old, err := s.Get(name)
	if err != nil {
		return nil, err
	}
	if old == value {
		return nil, nil
	}
	if err := os.WriteFile(s.path(name), []byte(value+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("sysctl %s=%s: %w", name, value, err)
	}
	return &SysctlChange{Name: name, Old: old, New: value}, nil
}

// Apply sets the IPVS sysctls to set, writing only those that differ, and
// returns what it changed. The net.ipv4.vs directory exists only once ip_vs
// is loaded; its absence is reported as [ErrNoIPVS].
func (s Sysctls) Apply(set SysctlSettings) ([]SysctlChange, error) {
	if _, err := os.Stat(s.path("net.ipv4.vs")); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist in this network namespace", ErrNoIPVS, s.path("net.ipv4.vs"))
	}
	want := []struct{ name, value string }{
		{"net.ipv4.vs.expire_nodest_conn", boolSysctl(set.ExpireNodestConn)},
		{"net.ipv4.vs.expire_quiescent_template", boolSysctl(set.ExpireQuiescentTemplate)},
	}
	if set.SloppyTCP {
		want = append(want, struct{ name, value string }{"net.ipv4.vs.sloppy_tcp", "1"})
	}
	if set.SloppySCTP {
		want = append(want, struct{ name, value string }{"net.ipv4.vs.sloppy_sctp", "1"})
	}
	if set.ConnReuseMode >= 0 {
		if set.ConnReuseMode > 3 {
			return nil, fmt.Errorf("sysctl net.ipv4.vs.conn_reuse_mode: %d out of range 0-3", set.ConnReuseMode)
		}
		want = append(want, struct{ name, value string }{"net.ipv4.vs.conn_reuse_mode", strconv.Itoa(set.ConnReuseMode)})
	}
	var changes []SysctlChange
	var errs []error
	for _, w := range want {
		c, err := s.set(w.name, w.value)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if c != nil {
			changes = append(changes, *c)
			s.logger().Info("sysctl set", "name", c.Name, "old", c.Old, "new", c.New)
		}
	}
	return changes, errors.Join(errs...)
}

func boolSysctl(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// IPForward reports net.ipv4.ip_forward.
func (s Sysctls) IPForward() (bool, error) {
	v, err := s.Get("net.ipv4.ip_forward")
	if err != nil {
		return false, err
	}
	return v != "0", nil
}

// CheckForwarding warns when desired has a NAT destination and ip_forward
// is off: masquerading needs it, direct routing and tunnelling do not. It
// returns whether the warning applied.
func (s Sysctls) CheckForwarding(desired Desired) bool {
	var nat []string
	for k, sp := range desired {
		for _, d := range sp.Destinations {
			if d.Forward == NAT {
				nat = append(nat, string(k))
				break
			}
		}
	}
	if len(nat) == 0 {
		return false
	}
	on, err := s.IPForward()
	if err != nil {
		s.logger().Warn("cannot read ip_forward; NAT destinations need it", "err", err)
		return true
	}
	if !on {
		s.logger().Warn("net.ipv4.ip_forward is 0 but NAT destinations need it", "services", strings.Join(nat, ", "))
		return true
	}
	return false
}
