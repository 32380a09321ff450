package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemlb/tandem/shared/hbproto"
)

// HBLoad is a bounded crowd of simulated agents: each has a UDP socket of
// its own (bound to its real server's address), a session of its own, and
// sends one report per Every, the agents spread evenly over the period.
type HBLoad struct {
	// Key is the cluster secret (the directors' key file): each agent
	// seals with the key derived for its address (hbproto.DeriveAgentKey),
	// as a real agent does, and sends from that address.
	Key []byte
	// Director is where the reports go (port 7480).
	Director netip.AddrPort
	// Addrs are the agents' real IPs, one agent each.
	Addrs []netip.Addr
	// Listen opens an agent's socket (e.g. inside a lab host's namespace).
	Listen func(laddr netip.AddrPort) (net.PacketConn, error)
	// Every is each agent's report interval (1 s when zero).
	Every time.Duration
	// Duration bounds the sending; replies are counted for Grace more.
	Duration, Grace time.Duration
}

// HBResult are the totals of one run.
type HBResult struct {
	Sent, Replies, SendErrors, BadReplies int
}

// tick is the sender's schedule step: the agents due in one tick are sent
// together.
const tick = 10 * time.Millisecond

// Run sends for Duration, then waits Grace for the last replies, closes
// every socket and returns the totals. It returns once every goroutine it
// started has ended.
func (h *HBLoad) Run(ctx context.Context) (HBResult, error) {
	var res HBResult
	every := h.Every
	if every <= 0 {
		every = time.Second
	}
	if len(h.Addrs) == 0 || h.Duration <= 0 {
		return res, errors.New("hbload: no agents or no duration")
	}
	type agent struct {
		conn   net.PacketConn
		sealer *hbproto.Sealer
		report hbproto.AgentReport
	}
	agents := make([]agent, 0, len(h.Addrs))
	defer func() {
		for _, a := range agents {
			a.conn.Close()
		}
	}()
	for i, ip := range h.Addrs {
		c, err := h.Listen(netip.AddrPortFrom(ip, 0))
		if err != nil {
			return res, fmt.Errorf("hbload: agent %d (%s): %w", i, ip, err)
		}
		sid, err := hbproto.NewSessionID()
		if err != nil {
			c.Close()
			return res, err
		}
		agents = append(agents, agent{conn: c, sealer: hbproto.NewSealer(hbproto.DeriveAgentKey(h.Key, ip), sid), report: hbproto.AgentReport{
			Node: fmt.Sprintf("sim%04d", i), RealIP: ip, State: hbproto.StateUp,
			Services: []hbproto.ServiceHealth{{Service: "www", Healthy: true}},
		}})
	}
	var replies, bad atomic.Int64
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Go(func() {
			buf := make([]byte, hbproto.MaxDatagram+1)
			for {
				n, _, err := a.conn.ReadFrom(buf)
				if err != nil {
					return // closed at the end
				}
				if m, err := hbproto.Decode(buf[:n]); err == nil && m.Type == hbproto.TypeDirectorReply {
					replies.Add(1)
				} else {
					bad.Add(1)
				}
			}
		})
	}
	dst := net.UDPAddrFromAddrPort(h.Director)
	steps := int(every / tick)
	if steps < 1 {
		steps = 1
	}
	start := time.Now()
	next := 0 // next agent due
send:
	for k := 0; ; k++ {
		due := start.Add(time.Duration(k) * tick)
		if !due.Before(start.Add(h.Duration)) {
			break
		}
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
				break send
			case <-time.After(d):
			}
		}
		// Agents whose turn falls in step k of the period.
		upto := (k%steps + 1) * len(agents) / steps
		if k%steps == 0 {
			next = 0
		}
		for ; next < upto; next++ {
			a := &agents[next]
			b, err := a.sealer.SealAgent(time.Now(), &a.report)
			if err == nil {
				_, err = a.conn.WriteTo(b, dst)
			}
			if err != nil {
				res.SendErrors++
				continue
			}
			res.Sent++
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(h.Grace):
	}
	for _, a := range agents {
		a.conn.Close()
	}
	wg.Wait()
	agents = nil
	res.Replies, res.BadReplies = int(replies.Load()), int(bad.Load())
	return res, ctx.Err()
}
