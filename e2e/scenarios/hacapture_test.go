package scenarios

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/e2e/prodlab"
)

// haTCPCapture is tcpdump at the client of every TCP packet to or from the
// VIP's port 80, with the Ethernet addresses: which director a client
// packet was sent to (its destination MAC) and who sent each reset. It is
// how HA2 tells from the wire what a hand-over loses.
type haTCPCapture struct {
	p          *netlab.Process
	dir1, dir2 string // eth0 MACs
}

// haPacket is one captured packet.
type haPacket struct {
	at       time.Time
	src, dst string // MACs
	toVIP    bool   // client -> VIP:80 (else VIP:80 -> client)
	reset    bool
}

func (l *haLab) captureTCP() *haTCPCapture {
	l.t.Helper()
	mac := func(host string) string {
		m, err := l.Net.MAC(host, "eth0")
		if err != nil {
			l.t.Fatal(err)
		}
		return m.String()
	}
	return &haTCPCapture{
		dir1: mac("dir1"), dir2: mac("dir2"),
		p: startTcpdump(l.t, l.Net, "client", "-tt", "-B", "4096", "tcp port 80 and host "+prodlab.VIP),
	}
}

var haTcpdumpLine = regexp.MustCompile(`^(\d+)\.(\d{6}) ([0-9a-f:]{17}) > ([0-9a-f:]{17}), .*?: (\S+) > (\S+): Flags \[([^\]]*)\]`)

// packets stops tcpdump and returns what it saw, and its closing counters
// line about drops.
func (c *haTCPCapture) packets() ([]haPacket, string) {
	stopTcpdump(c.p)
	var out []haPacket
	var dropped string
	vipPort := prodlab.VIP + ".80"
	for _, line := range strings.Split(c.p.Output(), "\n") {
		if strings.Contains(line, "dropped by kernel") {
			dropped = strings.TrimSpace(line)
		}
		m := haTcpdumpLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		usec, _ := strconv.ParseInt(m[2], 10, 64)
		out = append(out, haPacket{
			at:    time.Unix(sec, usec*1000),
			src:   m[3],
			dst:   m[4],
			toVIP: strings.TrimSuffix(m[6], ":") == vipPort,
			reset: strings.Contains(m[7], "R"),
		})
	}
	return out, dropped
}

// haWire is what the capture says about one hand-over from dir1 to dir2.
type haWire struct {
	packets int
	// toDir1After: client packets sent to dir1's MAC after dir1 released
	// the VIP (the gap: dir1's kernel no longer owns the address).
	toDir1After int
	// toDir2Before: client packets sent to dir2's MAC before dir2 held
	// the VIP (an overlap would show here).
	toDir2Before int
	// resetsDir2: resets sent from dir2's MAC (connections it does not know).
	resetsDir2 int
	// lastToDir1, firstToDir2: when the client switched.
	lastToDir1, firstToDir2 time.Time
}

func (c *haTCPCapture) handOver(pk []haPacket, released, took time.Time) haWire {
	var w haWire
	w.packets = len(pk)
	for _, p := range pk {
		switch {
		case p.toVIP && p.dst == c.dir1:
			if p.at.After(released) {
				w.toDir1After++
			}
			if p.at.After(w.lastToDir1) {
				w.lastToDir1 = p.at
			}
		case p.toVIP && p.dst == c.dir2:
			if p.at.Before(took) {
				w.toDir2Before++
			}
			if w.firstToDir2.IsZero() || p.at.Before(w.firstToDir2) {
				w.firstToDir2 = p.at
			}
		case !p.toVIP && p.src == c.dir2 && p.reset:
			w.resetsDir2++
		}
	}
	return w
}

func (w haWire) String() string {
	return fmt.Sprintf("%d packets; client -> dir1 after its release: %d; client -> dir2 before it held the VIP: %d; resets from dir2: %d; client's last packet to dir1 %s, first to dir2 %s",
		w.packets, w.toDir1After, w.toDir2Before, w.resetsDir2,
		w.lastToDir1.Format("15:04:05.000"), w.firstToDir2.Format("15:04:05.000"))
}
