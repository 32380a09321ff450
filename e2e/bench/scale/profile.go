package scale

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Share is one part of the director's CPU profile over a row's window.
type Share struct {
	// What the part is, and Func the function whose cumulative samples
	// it is.
	What, Func string
	// Pct is its share of the profile's samples.
	Pct float64
}

// shareFuncs are the parts the page shows: the listener and its system
// calls, the main loop, the Go runtime's scheduler (waking and idling:
// timers, netpoll) and the garbage collector. They overlap (the system
// calls are the listener's).
var shareFuncs = []Share{
	{What: "the heartbeat listener (director/agents), all", Func: "github.com/tandemlb/tandem/director/agents.(*Server).Run"},
	{What: "  sending replies (sendmmsg; with veth, the agents' side receiving them)", Func: "github.com/tandemlb/tandem/director/agents.(*mmsg).writeBatch"},
	{What: "  reading reports (recvmmsg)", Func: "github.com/tandemlb/tandem/director/agents.(*mmsg).readBatch"},
	{What: "  authenticating and answering a report (MAC, replay state, view, seal)", Func: "github.com/tandemlb/tandem/director/agents.(*Server).handle"},
	{What: "the director's main loop (director/app)", Func: "github.com/tandemlb/tandem/director/app.(*App).Run"},
	{What: "the Go scheduler between wake-ups (timers, netpoll)", Func: "runtime.findRunnable"},
	{What: "garbage collection", Func: "runtime.gcBgMarkWorker"},
}

// totalWhat names the first Share Shares returns: the profile's samples
// in % of one core (not a part).
const totalWhat = "samples, % of one core"

// profTotal is the samples' % of one core in shares (Shares' first).
func profTotal(shares []Share) float64 {
	for _, x := range shares {
		if x.What == totalWhat {
			return x.Pct
		}
	}
	return 0
}

// Shares reads the CPU profile at path with `go tool pprof` (binary, the
// profiled executable) and returns the parts of shareFuncs with their
// cumulative share of the samples, after the total (totalWhat).
func Shares(binary, path string) ([]Share, error) {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=100000", binary, path).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof %s: %v", path, err)
	}
	cum := map[string]float64{}
	for _, line := range strings.Split(string(out), "\n") {
		// flat flat% sum% cum cum% name
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasSuffix(f[4], "%") {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[4], "%"), 64)
		if err != nil {
			continue
		}
		cum[strings.Join(f[5:], " ")] = pct
	}
	if len(cum) == 0 {
		return nil, fmt.Errorf("go tool pprof %s: no samples", path)
	}
	// "Duration: 20s, Total samples = 4.48s (22.39%)"
	total := 0.0
	if _, rest, ok := strings.Cut(string(out), "Total samples = "); ok {
		if _, rest, ok = strings.Cut(rest, "("); ok {
			if v, _, ok := strings.Cut(rest, "%)"); ok {
				total, _ = strconv.ParseFloat(strings.TrimSpace(v), 64) // "( 5.35%)" below 10 %
			}
		}
	}
	s := []Share{{What: totalWhat, Pct: total}}
	for _, x := range shareFuncs {
		x.Pct = cum[x.Func]
		s = append(s, x)
	}
	return s, nil
}
