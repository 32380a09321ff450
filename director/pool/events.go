package pool

import "net/netip"

// Event is an input to [Pool.Step]: [CheckResult], [AgentReport], [Drain],
// [Undrain], [Conns] or [TimerFired].
type Event interface{ isEvent() }

// CheckResult is a health checker's verdict on a server after its retries
// (see the checks package): up or down, with a reason such as "HTTP_GET
// failed 3 times: status 503, want 200".
//
// A passing result may also set the weight the checker asks for the
// server (WeightSet, Weight: absolute, as checks.Result carries it). With
// several checkers setting weights, the server's weight follows
// keepalived's rule: configured + Σ(Weight_i − configured) over the
// checkers that set one, clamped to 0..MaxWeight. A checker's weight holds
// until it sets another or goes down; a result that is down, or up
// without WeightSet, leaves it (down drops it).
type CheckResult struct {
	Server  netip.AddrPort
	Checker string
	Up      bool
	Reason  string
	// WeightSet and Weight: the weight this checker asks for (only with
	// Up).
	WeightSet bool
	Weight    int
}

// AgentReport is what the agent on a real server reports; it applies to
// every server of the pool with that address. The application turns the
// agent's per-service health into State (an unhealthy service is AgentDown
// for that service's pool).
type AgentReport struct {
	Addr   netip.Addr
	State  AgentState
	Reason string
}

// Drain is an operator's request to take a server out of rotation
// gracefully.
type Drain struct {
	Server netip.AddrPort
	Reason string
}

// Undrain cancels a Drain.
type Undrain struct{ Server netip.AddrPort }

// Conns carries a server's IPVS connection counters, read after its weight
// went to 0; they drive a drain to its end.
type Conns struct {
	Server           netip.AddrPort
	Active, Inactive int
}

// TimerFired tells the pool that [Pool.NextDeadline] has been reached: an
// agent's report expires, a drain times out. Every Step applies what is
// due at its now, so TimerFired is the event that carries nothing else;
// one that comes early changes nothing.
type TimerFired struct{}

func (CheckResult) isEvent() {}
func (AgentReport) isEvent() {}
func (Drain) isEvent()       {}
func (Undrain) isEvent()     {}
func (Conns) isEvent()       {}
func (TimerFired) isEvent()  {}
