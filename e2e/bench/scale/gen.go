package scale

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/tandemlb/tandem/shared/hbproto"
)

// GenConfig is one run of the agents' process.
type GenConfig struct {
	// N agents, AgentIP(0..N-1), each reporting once per Every (1 s).
	N     int
	Every time.Duration
	// Warm is sent before the window; Window is what is counted (the
	// reports sent in it and their replies); Grace waits for the last
	// replies.
	Warm, Window, Grace time.Duration
}

// GenResult is what the agents' process measured over the window.
type GenResult struct {
	// Sent reports in the window, Answered those with a correct reply,
	// Bad replies that failed a check (Why: the first), SendErrors.
	Sent, Answered, Bad, SendErrors int
	Why                             string
	// LatencyUS are the answered reports' reply latencies, sorted, in µs
	// (P50US and P99US their percentiles).
	P50US, P99US, MaxUS float64
	// Bursts is the mean number of reports sent per wake-up of the sender
	// (1 would be perfectly spread).
	Bursts float64
}

// agentState is one simulated agent.
type agentState struct {
	ip      netip.Addr
	key     []*hbproto.Key
	sealer  *hbproto.Sealer
	replay  hbproto.Sender
	mu      sync.Mutex
	ring    [4]sent
	lastAt  time.Time // last reply accepted
	lastRol hbproto.Role
}

type sent struct {
	seq      uint64
	at       time.Time
	inWindow bool
}

// runGen is the agents' process.
func runGen(ctx context.Context, c GenConfig) (GenResult, error) {
	var res GenResult
	if c.Every <= 0 {
		c.Every = time.Second
	}
	conn, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		return res, err
	}
	defer conn.Close()
	if u, ok := conn.(*net.UDPConn); ok {
		_ = u.SetReadBuffer(8 << 20)
		_ = u.SetWriteBuffer(8 << 20)
	}
	pc := ipv4.NewPacketConn(conn)
	if err := pc.SetControlMessage(ipv4.FlagDst, true); err != nil {
		return res, err
	}
	agents := make([]*agentState, c.N)
	for i := range agents {
		ip := AgentIP(i)
		k := hbproto.DeriveAgentKey(Secret, ip)
		agents[i] = &agentState{ip: ip, key: []*hbproto.Key{hbproto.NewKey(k)}, sealer: hbproto.NewSealer(k, uint64(i+1)<<20)}
	}
	opener := hbproto.NewOpener(Secret, 0)
	dst := &net.UDPAddr{IP: directorAddr.AsSlice(), Port: HeartbeatPort}
	start := time.Now()
	winFrom, winTo := start.Add(c.Warm), start.Add(c.Warm+c.Window)

	var (
		mu        sync.Mutex
		latencies []float64
		answered  atomic.Int64
		bad       atomic.Int64
		why       atomic.Value
	)
	fail := func(format string, args ...any) {
		bad.Add(1)
		why.CompareAndSwap(nil, fmt.Sprintf(format, args...))
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, hbproto.MaxDatagram+1)
		for {
			n, cm, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			now := time.Now()
			if cm == nil {
				fail("reply without its destination address")
				continue
			}
			ip, _ := netip.AddrFromSlice(cm.Dst.To4())
			i := agentIndex(ip)
			if i < 0 || i >= len(agents) {
				fail("reply to %s, no agent", ip)
				continue
			}
			a := agents[i]
			m, _, err := opener.OpenSender(&a.replay, a.key, buf[:n], now)
			if err != nil {
				fail("reply to %s: %v", ip, err)
				continue
			}
			d := m.Director
			switch {
			case m.Type != hbproto.TypeDirectorReply || d == nil:
				fail("reply to %s: %s", ip, m.Type)
				continue
			case d.Echo == nil || d.Echo.Session != a.sealer.SessionID():
				fail("reply to %s: echo %+v, session %x", ip, d.Echo, a.sealer.SessionID())
				continue
			case d.Director != Node || len(d.Destinations) != 1:
				fail("reply to %s: director %q with %d destinations, want %q with 1", ip, d.Director, len(d.Destinations), Node)
				continue
			}
			if ds := d.Destinations[0]; ds.Addr != netip.AddrPortFrom(ip, 80) || ds.Weight != 1 || ds.ConfiguredWeight != 1 || ds.Pool != hbproto.PoolUp {
				fail("reply to %s: destination %+v, want %s:80 weight 1 up", ip, ds, ip)
				continue
			}
			a.mu.Lock()
			var s sent
			for _, x := range a.ring {
				if x.seq == d.Echo.Seq {
					s = x
				}
			}
			a.lastAt, a.lastRol = now, d.Role
			a.mu.Unlock()
			if s.seq == 0 {
				fail("reply to %s echoes seq %d, not one of the last sent", ip, d.Echo.Seq)
				continue
			}
			if s.inWindow {
				answered.Add(1)
				mu.Lock()
				latencies = append(latencies, float64(now.Sub(s.at).Nanoseconds())/1e3)
				mu.Unlock()
			}
		}
	}()

	// The sender: report j (agent j mod N, round j / N) is due at start +
	// j × Every / N.
	end := winTo
	timer := time.NewTimer(0)
	defer timer.Stop()
	wakes, sends := 0, 0
	j := 0
	if c.N > 0 {
	send:
		for {
			now := time.Now()
			if !now.Before(end) {
				break
			}
			wakes++
			for {
				due := start.Add(time.Duration(int64(j) * int64(c.Every) / int64(c.N)))
				if due.After(now) {
					timer.Reset(due.Sub(now))
					break
				}
				if !due.Before(end) {
					break send
				}
				a := agents[j%c.N]
				a.mu.Lock()
				r := hbproto.AgentReport{Node: fmt.Sprintf("sim%05d", j%c.N), RealIP: a.ip, State: hbproto.StateUp,
					Services: []hbproto.ServiceHealth{{Service: "www", Healthy: true}}}
				if !a.lastAt.IsZero() {
					r.Seen = []hbproto.DirectorSeen{{Director: Node, Role: a.lastRol, Age: now.Sub(a.lastAt)}}
				}
				a.mu.Unlock()
				sendAt := time.Now()
				b, err := a.sealer.SealAgent(sendAt, &r)
				if err == nil {
					h, _ := hbproto.HeaderOf(b)
					in := !sendAt.Before(winFrom) && sendAt.Before(winTo)
					a.mu.Lock()
					a.ring[h.Seq%uint64(len(a.ring))] = sent{seq: h.Seq, at: sendAt, inWindow: in}
					a.mu.Unlock()
					_, err = pc.WriteTo(b, &ipv4.ControlMessage{Src: a.ip.AsSlice()}, dst)
					if in {
						res.Sent++
						if err != nil {
							res.SendErrors++
						}
					}
				}
				sends++
				j++
			}
			select {
			case <-ctx.Done():
				break send
			case <-timer.C:
			}
		}
	}
	grace := time.NewTimer(c.Grace)
	select {
	case <-ctx.Done():
	case <-grace.C:
	}
	conn.Close()
	<-readDone
	res.Answered, res.Bad = int(answered.Load()), int(bad.Load())
	if w, ok := why.Load().(string); ok {
		res.Why = w
	}
	slices.Sort(latencies)
	res.P50US, res.P99US = percentile(latencies, 0.50), percentile(latencies, 0.99)
	if len(latencies) > 0 {
		res.MaxUS = latencies[len(latencies)-1]
	}
	if wakes > 0 {
		res.Bursts = float64(sends) / float64(wakes)
	}
	return res, nil
}

// percentile of sorted v (nearest rank); 0 without values.
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	i := int(p*float64(len(v))+0.5) - 1
	return v[min(max(i, 0), len(v)-1)]
}
