package scale

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/tandemlb/tandem/shared/hbproto"
)

// GenConfig is one run of the agents' process.
type GenConfig struct {
	// N agents, AgentIP(0..N-1), each reporting once per Every (1 s).
	N     int
	Every time.Duration
	// Warm is sent at least before the window, MaxWarm at most: the
	// window starts at the first whole round after Warm in which every
	// agent had its previous report answered (the director's warm-up,
	// every agent new to it, is over). Window is what is counted (the
	// reports sent in it and their replies); Grace waits for the last
	// replies.
	Warm, MaxWarm, Window, Grace time.Duration
}

// GenResult is what the agents' process measured over the window.
type GenResult struct {
	// Sent reports in the window, Answered those with a correct reply,
	// Late correct replies to a report older than the agent's last few
	// (not answered in time, not wrong), Bad replies that failed a check
	// (Why: the first), SendErrors.
	Sent, Answered, Late, Bad, SendErrors int
	Why                                   string
	// LatencyUS are the answered reports' reply latencies, sorted, in µs
	// (P50US and P99US their percentiles).
	P50US, P99US, MaxUS float64
	// Slow counts the answered reports whose reply took more than 5 ms,
	// SlowFrom and SlowTo when the first and the last of them were sent
	// (seconds into the window): a warm-up not over, or a periodic stall.
	Slow             int
	SlowFrom, SlowTo float64
	// Warmup is how long the warm-up took (from the first report to the
	// window); Unsettled is set when MaxWarm ended it instead.
	Warmup    time.Duration
	Unsettled bool
	// Bursts is the mean number of reports sent per wake-up of the sender
	// (1 would be perfectly spread).
	Bursts float64
}

// agentState is one simulated agent.
type agentState struct {
	ip      netip.Addr
	node    string
	key     []*hbproto.Key
	sealer  *hbproto.Sealer
	replay  hbproto.Sender
	mu      sync.Mutex
	ring    [4]sent
	lastAt  time.Time // last reply accepted
	lastRol hbproto.Role
	lastSeq uint64 // of the last report sent
	ackSeq  uint64 // the highest report answered correctly
}

type sent struct {
	seq      uint64
	at       time.Time
	inWindow bool
}

// genBatch is how many datagrams the agents' process reads or sends in
// one system call (recvmmsg, sendmmsg): the generator must not be what
// limits the benchmark.
const genBatch = 64

// runGen is the agents' process; window is called when the window starts.
func runGen(ctx context.Context, c GenConfig, window func()) (GenResult, error) {
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
		agents[i] = &agentState{ip: ip, node: fmt.Sprintf("sim%05d", i), key: []*hbproto.Key{hbproto.NewKey(k)}, sealer: hbproto.NewSealer(k, uint64(i+1)<<20)}
	}
	start := time.Now()
	chk := &checker{agents: agents, opener: hbproto.NewOpener(Secret, 0)}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		chk.read(pc)
	}()
	var win span
	if c.N > 0 {
		res.Bursts = sendReports(ctx, pc, agents, c, start, &win, window, &res)
	}
	grace := time.NewTimer(c.Grace)
	select {
	case <-ctx.Done():
	case <-grace.C:
	}
	conn.Close()
	<-readDone
	res.Answered, res.Late, res.Bad, res.Why = chk.answered, chk.late, chk.bad, chk.why
	res.Slow = chk.slow
	if chk.slow > 0 {
		res.SlowFrom, res.SlowTo = chk.slowFrom.Sub(win.from).Seconds(), chk.slowTo.Sub(win.from).Seconds()
	}
	res.Warmup = win.from.Sub(start)
	lat := chk.latencies
	slices.Sort(lat)
	res.P50US, res.P99US = percentile(lat, 0.50), percentile(lat, 0.99)
	if len(lat) > 0 {
		res.MaxUS = lat[len(lat)-1]
	}
	return res, nil
}

// span is the window: [from, to), set once the warm-up is over.
type span struct {
	from, to time.Time
	set      bool
}

// has reports whether t is in the window.
func (w *span) has(t time.Time) bool { return w.set && !t.Before(w.from) && t.Before(w.to) }

// steady reports whether every agent had its report before the last
// answered correctly.
func steady(agents []*agentState) bool {
	for _, a := range agents {
		a.mu.Lock()
		ok := a.ackSeq+1 >= a.lastSeq
		a.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

// sendReports is the sender: report j (agent j mod N, round j / N) is
// due at start + j × Every / N; the reports due at a wake-up leave in
// batches of genBatch. At each round's start after c.Warm it checks
// whether the agents are steady and if so (or after c.MaxWarm) opens the
// window (win, window()); it ends at the window's end. It counts the
// window's reports in res and returns the mean number sent per wake-up.
func sendReports(ctx context.Context, pc *ipv4.PacketConn, agents []*agentState, c GenConfig, start time.Time, win *span, window func(), res *GenResult) float64 {
	every := c.Every
	n := len(agents)
	dst := &net.UDPAddr{IP: directorAddr.AsSlice(), Port: HeartbeatPort}
	out := make([]ipv4.Message, genBatch)
	inWin := make([]bool, genBatch)
	for k := range out {
		out[k].Addr = dst
	}
	flush := func(m int) {
		done := 0
		for done < m {
			k, err := pc.WriteBatch(out[done:m], 0)
			for x := done; x < done+k; x++ {
				if inWin[x] {
					res.Sent++
				}
			}
			done += k
			if err != nil || k == 0 {
				if inWin[done] {
					res.Sent++
					res.SendErrors++
				}
				done++
			}
		}
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	wakes, sends, j := 0, 0, 0
	round := 0
	for {
		now := time.Now()
		if win.set && !now.Before(win.to) {
			break
		}
		if r := j / n; !win.set && r > round {
			round = r
			warm := now.Sub(start)
			if warm >= c.Warm && (steady(agents) || warm >= c.MaxWarm) {
				res.Unsettled = warm >= c.MaxWarm && !steady(agents)
				win.from, win.to, win.set = now, now.Add(c.Window), true
				window()
			}
		}
		wakes++
		m := 0
		for {
			due := start.Add(time.Duration(int64(j) * int64(every) / int64(n)))
			if due.After(now) || (win.set && !due.Before(win.to)) {
				break
			}
			a := agents[j%n]
			a.mu.Lock()
			r := hbproto.AgentReport{Node: a.node, RealIP: a.ip, State: hbproto.StateUp,
				Services: []hbproto.ServiceHealth{{Service: "www", Healthy: true}}}
			if !a.lastAt.IsZero() {
				r.Seen = []hbproto.DirectorSeen{{Director: Node, Role: a.lastRol, Age: now.Sub(a.lastAt)}}
			}
			a.mu.Unlock()
			sendAt := time.Now()
			b, err := a.sealer.SealAgent(sendAt, &r)
			j++
			sends++
			if err != nil {
				continue
			}
			h, _ := hbproto.HeaderOf(b)
			in := win.has(sendAt)
			a.mu.Lock()
			a.ring[h.Seq%uint64(len(a.ring))] = sent{seq: h.Seq, at: sendAt, inWindow: in}
			a.lastSeq = h.Seq
			a.mu.Unlock()
			out[m].Buffers = [][]byte{b}
			out[m].OOB = (&ipv4.ControlMessage{Src: a.ip.AsSlice()}).Marshal()
			inWin[m] = in
			m++
			if m == genBatch {
				flush(m)
				m = 0
			}
		}
		flush(m)
		next := start.Add(time.Duration(int64(j) * int64(every) / int64(n)))
		if win.set && !next.Before(win.to) {
			break
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return float64(sends) / float64(max(wakes, 1))
		case <-timer.C:
		}
	}
	return float64(sends) / float64(max(wakes, 1))
}

// checker checks the replies (one reading goroutine; its results are read
// once that ended).
type checker struct {
	agents              []*agentState
	opener              *hbproto.Opener
	answered, late, bad int
	why                 string
	latencies           []float64
	slow                int
	slowFrom, slowTo    time.Time
}

func (c *checker) fail(format string, args ...any) {
	c.bad++
	if c.why == "" {
		c.why = fmt.Sprintf(format, args...)
	}
}

// read reads replies in batches until the socket is closed.
func (c *checker) read(pc *ipv4.PacketConn) {
	in := make([]ipv4.Message, genBatch)
	for k := range in {
		in[k].Buffers = [][]byte{make([]byte, hbproto.MaxDatagram+1)}
		in[k].OOB = ipv4.NewControlMessage(ipv4.FlagDst)
	}
	var cm ipv4.ControlMessage
	for {
		n, err := pc.ReadBatch(in, 0)
		if err != nil {
			return
		}
		now := time.Now()
		for k := range in[:n] {
			c.check(&in[k], &cm, now)
		}
	}
}

// check checks one reply received at now.
func (c *checker) check(msg *ipv4.Message, cm *ipv4.ControlMessage, now time.Time) {
	if err := cm.Parse(msg.OOB[:msg.NN]); err != nil || cm.Dst == nil {
		c.fail("reply without its destination address")
		return
	}
	ip, _ := netip.AddrFromSlice(cm.Dst.To4())
	i := agentIndex(ip)
	if i < 0 || i >= len(c.agents) {
		c.fail("reply to %s, no agent", ip)
		return
	}
	a := c.agents[i]
	m, _, err := c.opener.OpenSender(&a.replay, a.key, msg.Buffers[0][:msg.N], now)
	if err != nil {
		c.fail("reply to %s: %v", ip, err)
		return
	}
	d := m.Director
	switch {
	case m.Type != hbproto.TypeDirectorReply || d == nil:
		c.fail("reply to %s: %s", ip, m.Type)
		return
	case d.Echo == nil || d.Echo.Session != a.sealer.SessionID():
		c.fail("reply to %s: echo %+v, session %x", ip, d.Echo, a.sealer.SessionID())
		return
	case d.Director != Node || len(d.Destinations) != 1:
		c.fail("reply to %s: director %q with %d destinations, want %q with 1", ip, d.Director, len(d.Destinations), Node)
		return
	}
	if ds := d.Destinations[0]; ds.Addr != netip.AddrPortFrom(ip, 80) || ds.Weight != 1 || ds.ConfiguredWeight != 1 || ds.Pool != hbproto.PoolUp {
		c.fail("reply to %s: destination %+v, want %s:80 weight 1 up", ip, ds, ip)
		return
	}
	a.mu.Lock()
	var s sent
	for _, x := range a.ring {
		if x.seq == d.Echo.Seq {
			s = x
		}
	}
	last := a.lastSeq
	a.lastAt, a.lastRol = now, d.Role
	if d.Echo.Seq <= last {
		a.ackSeq = max(a.ackSeq, d.Echo.Seq)
	}
	a.mu.Unlock()
	switch {
	case s.seq == 0 && d.Echo.Seq != 0 && d.Echo.Seq <= last:
		c.late++ // a report older than the last few: answered, too late
	case s.seq == 0:
		c.fail("reply to %s echoes seq %d, not a report sent", ip, d.Echo.Seq)
	case s.inWindow:
		c.answered++
		lat := now.Sub(s.at)
		c.latencies = append(c.latencies, float64(lat.Nanoseconds())/1e3)
		if lat > 5*time.Millisecond {
			if c.slow == 0 || s.at.Before(c.slowFrom) {
				c.slowFrom = s.at
			}
			if s.at.After(c.slowTo) {
				c.slowTo = s.at
			}
			c.slow++
		}
	}
}

// percentile of sorted v (nearest rank); 0 without values.
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	i := int(p*float64(len(v))+0.5) - 1
	return v[min(max(i, 0), len(v)-1)]
}
