package mail

import (
	"fmt"
	"strings"
	"time"
)

// StateChange is a VRRP instance's transition, as an alert tells it.
type StateChange struct {
	// Node is the director's name (router_id / node).
	Node string
	// Instance is the vrrp_instance name; VRID its virtual_router_id.
	Instance string
	VRID     int
	// From and To are the states left and entered: MASTER, BACKUP, FAULT
	// or STOP (From may also be INIT).
	From, To string
	// Priority is the instance's configured priority.
	Priority int
	// VIPs are the virtual addresses, as configured ("192.0.2.100/24 dev
	// eth0").
	VIPs []string
	// At is the time of the transition.
	At time.Time
	// Version is the daemon's version, for the signature.
	Version string
}

// Subject is keepalived's subject line for the same event, "[NODE] VRRP
// Instance NAME - Entering MASTER state" ("- Stopping" for STOP).
func (c StateChange) Subject() string {
	what := "Entering " + c.To + " state"
	if c.To == "STOP" {
		what = "Stopping"
	}
	return fmt.Sprintf("[%s] VRRP Instance %s - %s", c.Node, c.Instance, what)
}

// Body is the text of the alert: what happened, when, and whether this
// director holds the virtual addresses now.
func (c StateChange) Body() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tandem-director %s: VRRP instance %s (virtual_router_id %d, priority %d)\n", c.Node, c.Instance, c.VRID, c.Priority)
	fmt.Fprintf(&b, "entered %s state (from %s) at %s.\n\n", c.To, c.From, c.At.UTC().Format("2006-01-02 15:04:05.000 MST"))
	switch c.To {
	case "MASTER":
		b.WriteString("This director now holds the virtual addresses:\n")
	case "STOP":
		b.WriteString("The instance is stopping; this director no longer holds the virtual addresses:\n")
	default:
		b.WriteString("This director does not hold the virtual addresses:\n")
	}
	for _, v := range c.VIPs {
		fmt.Fprintf(&b, "  %s\n", v)
	}
	if c.Version != "" {
		fmt.Fprintf(&b, "\n-- \ntandem-director %s\n", c.Version)
	}
	return b.String()
}
