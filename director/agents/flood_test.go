package agents

import (
	"crypto/rand"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestServerJunkFlood: a keyless flood (random bytes, datagrams that look
// like reports with a wrong tag, reports sealed with another agent's key)
// at the heartbeat port while an agent reports every 20 ms: the agent is
// never unanswered for 2 s, within dead_after (a saturated socket buffer may drop one of
// its reports, as the kernel drops any datagram then; agents report every
// second and are dead after three), junk never reaches the workers, each
// reason is logged once, and the server's CPU per junk datagram stays
// small (printed). The flood is bounded: at most 100,000 datagrams or 3 s.
func TestServerJunkFlood(t *testing.T) {
	var logs testutil.SyncBuffer
	s, _, addr := startWith(t, &logs, Options{Key: testKey})
	agent := dialFrom(t, rs1, addr)
	sealer := hbproto.NewSealer(agentKey(rs1), 7)

	junk := make([][]byte, 0, 3)
	random := make([]byte, 300)
	rand.Read(random)
	wrongTag, _ := hbproto.NewSealer(agentKey(rs1), 8).SealAgent(time.Now(), &hbproto.AgentReport{Node: "rs1", RealIP: rs1, State: hbproto.StateUp})
	wrongTag[len(wrongTag)-1] ^= 1
	// rs2's key claiming rs1: refused (from rs2's address: real_ip; from
	// elsewhere: mac).
	otherKey, _ := hbproto.NewSealer(agentKey(rs2), 9).SealAgent(time.Now(), &hbproto.AgentReport{Node: "rs1", RealIP: rs1, State: hbproto.StateMaintenance})
	junk = append(junk, random, wrongTag, otherKey)

	stop := make(chan struct{})
	flooded := make(chan int, 2)
	for _, from := range []string{"127.0.0.66", "127.0.0.12"} { // a stranger, and rs2's address
		go func() {
			c := dialFrom(t, mustAddr(from), addr)
			n := 0
			end := time.Now().Add(3 * time.Second)
			for i := 0; i < 50000 && time.Now().Before(end); i++ {
				select {
				case <-stop:
					flooded <- n
					return
				default:
				}
				if _, err := c.Write(junk[i%len(junk)]); err == nil {
					n++
				}
			}
			flooded <- n
		}()
	}
	var cpu0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &cpu0)
	start := time.Now()
	asked, answered := 0, 0
	last, worst := time.Now(), time.Duration(0)
	for time.Since(start) < 3*time.Second {
		b, err := sealer.SealAgent(time.Now(), &hbproto.AgentReport{Node: "rs1", RealIP: rs1, State: hbproto.StateUp})
		if err != nil {
			t.Fatal(err)
		}
		asked++
		if exchange(t, agent, b, 200*time.Millisecond) != nil {
			answered++
			last = time.Now()
		}
		worst = max(worst, time.Since(last))
		testutil.Settle(20 * time.Millisecond) // the genuine agent's pace during the flood
	}
	close(stop)
	sent := <-flooded + <-flooded
	var cpu1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &cpu1)
	cpu := time.Duration(syscall.TimevalToNsec(cpu1.Utime)+syscall.TimevalToNsec(cpu1.Stime)) -
		time.Duration(syscall.TimevalToNsec(cpu0.Utime)+syscall.TimevalToNsec(cpu0.Stime))
	st := s.Stats()
	var dropped uint64
	for _, n := range st.Dropped {
		dropped += n
	}
	lines := strings.Count(logs.String(), "\n")
	t.Logf("MEASURED junk flood: %d sent, %d dropped by the server %v; %d/%d reports answered (longest gap %v); %d log lines; process CPU %v (%.1f µs per datagram, senders included)",
		sent, dropped, st.Dropped, answered, asked, worst.Round(time.Millisecond), lines, cpu.Round(time.Millisecond), float64(cpu.Microseconds())/float64(max(sent, 1)))
	if worst >= 2*time.Second || answered < asked*9/10 {
		t.Errorf("%d of %d real reports answered during the flood; longest time without an answer %v (agents report every second)", answered, asked, worst)
	}
	if lines > 10 {
		t.Errorf("%d log lines for %d junk datagrams:\n%s", lines, sent, logs.String())
	}
	if st.Dropped["busy"] != 0 {
		t.Errorf("junk reached the workers' queues: %v", st.Dropped)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
