package maintenance

import (
	"fmt"
	"strings"
	"time"

	"github.com/tandemlb/tandem/shared/hbproto"
)

// DirectorView is what one director last told the agent.
type DirectorView struct {
	// Addr is the director's configured address.
	Addr string `json:"addr"`
	// Name is the director's name from its replies.
	Name string `json:"name,omitempty"`
	// Role is its VRRP role.
	Role hbproto.Role `json:"role_code"`
	// RoleName is Role as text, for JSON.
	RoleName string `json:"role"`
	// LastReply is when its last accepted reply arrived (zero: never).
	LastReply time.Time `json:"last_reply"`
	// Destinations are this server's destinations as the director sees them.
	Destinations []hbproto.DestinationStatus `json:"destinations"`
}

// DrainStatus is the verdict of EvaluateDrain.
type DrainStatus struct {
	// Done is true when every MASTER director reports all of this server's
	// destinations at weight 0 with no active connections.
	Done bool `json:"done"`
	// Summary is a one-line description.
	Summary string `json:"summary"`
	// Lines has one line per director and destination.
	Lines []string `json:"lines"`
}

// EvaluateDrain decides whether the server is drained. Only replies
// received after since (when maintenance began, so the director has seen the
// maintenance heartbeat) count; at least one director must be MASTER.
func EvaluateDrain(views []DirectorView, since time.Time) DrainStatus {
	var st DrainStatus
	masters, pending, unanswered := 0, 0, 0
	// A director listed by two addresses (dual stack: one per family) is
	// one director; while it is MASTER, its other address must answer too:
	// it reports the real servers of the other family.
	master := map[string]bool{}
	for _, v := range views {
		if v.LastReply.After(since) && v.Role == hbproto.RoleMaster && v.Name != "" {
			master[v.Name] = true
		}
	}
	for _, v := range views {
		name := v.Addr
		if v.Name != "" {
			name = fmt.Sprintf("%s (%s)", v.Name, v.Addr)
		}
		if !v.LastReply.After(since) {
			if master[v.Name] {
				unanswered++
				st.Lines = append(st.Lines, fmt.Sprintf("%s: no reply since maintenance began, MASTER on its other address: waiting", name))
				continue
			}
			st.Lines = append(st.Lines, fmt.Sprintf("%s: no reply since maintenance began", name))
			continue
		}
		if v.Role != hbproto.RoleMaster {
			st.Lines = append(st.Lines, fmt.Sprintf("%s: %s, not waited for", name, v.Role))
			continue
		}
		masters++
		if len(v.Destinations) == 0 {
			st.Lines = append(st.Lines, fmt.Sprintf("%s: master, no destinations for this server", name))
			continue
		}
		for _, d := range v.Destinations {
			left := d.Weight != 0 || d.ActiveConns != 0
			mark := "drained"
			if left {
				mark = "draining"
				pending++
			}
			st.Lines = append(st.Lines, fmt.Sprintf("%s: master, %s -> %s: weight %d, %d active, %d inactive: %s",
				name, d.Service, d.Addr, d.Weight, d.ActiveConns, d.InactiveConns, mark))
		}
	}
	switch {
	case masters == 0:
		st.Summary = "waiting: no MASTER director has answered since maintenance began"
	case pending > 0:
		st.Summary = fmt.Sprintf("waiting: %d destination(s) still have weight or active connections", pending)
	case unanswered > 0:
		st.Summary = fmt.Sprintf("waiting: %d address(es) of a MASTER director have not answered since maintenance began", unanswered)
	default:
		st.Done = true
		st.Summary = fmt.Sprintf("drained: %d MASTER director(s) report weight 0 and no active connections", masters)
	}
	return st
}

// String is the summary and the lines, one per line.
func (d DrainStatus) String() string {
	return d.Summary + "\n  " + strings.Join(d.Lines, "\n  ")
}
