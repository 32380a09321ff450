package drlab

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/tandemlb/tandem/e2e/netlab"
)

// Capture is a tcpdump running on the director's eth0, recording every
// IPv4 packet to or from the VIP with its MAC addresses.
type Capture struct {
	lab  *Lab
	proc *netlab.Process
}

// CaptureSummary classifies the packets a Capture saw.
type CaptureSummary struct {
	// FromClient counts packets client -> VIP arriving at the director.
	FromClient int
	// ClientSYNs counts the SYNs among them: connections that went through
	// the director.
	ClientSYNs int
	// Forwarded counts packets the director sent on to a real server's MAC
	// with the VIP still as destination (direct routing), per server.
	Forwarded map[string]int
	// DirectorReplies counts packets with source VIP sent by the director's
	// own MAC: replies that did not bypass the director. Zero in DR.
	DirectorReplies int
	// Other counts packets not classified above (e.g. a real server's reply
	// flooded by the bridge before it learned the client's port).
	Other int
	// Lines are the raw tcpdump lines.
	Lines []string
	// Counters are tcpdump's closing lines (captured, received by filter,
	// dropped by kernel).
	Counters string
}

// StartCapture starts tcpdump on the director's eth0 and waits until it is
// listening.
func (l *Lab) StartCapture(ctx context.Context) (*Capture, error) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		return nil, fmt.Errorf("tcpdump (Debian tcpdump) is needed: %w", err)
	}
	// --immediate-mode: without it packets are lost when tcpdump stops
	// shortly after the traffic. It makes libpcap use one ring frame per
	// snaplen, so a small snaplen (headers only) and a bigger buffer keep a
	// burst from overflowing the ring while tcpdump lags under emulation.
	// -e prints MACs, -l line-buffers.
	p, err := l.Net.Start(Director, tcpdump, "-i", "eth0", "-n", "-e", "-l", "--immediate-mode",
		"-s", "128", "-B", "4096",
		fmt.Sprintf("ip and (host %s or (udp and dst host %s and dst port %d))", VIP, DirectorIP, sentinelPort))
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := p.WaitOutput(wctx, "listening on"); err != nil {
		_ = p.Stop(time.Second)
		return nil, fmt.Errorf("tcpdump on director: %w", err)
	}
	return &Capture{lab: l, proc: p}, nil
}

// sentinelPort is the UDP port of the datagrams that mark the end of a
// capture (the discard port; the director answers ICMP unreachable, which
// the filter leaves out).
const sentinelPort = 9

// Stop waits until tcpdump has printed everything captured so far, stops
// it and classifies what it saw.
//
// tcpdump drops the packets still queued when it is told to stop, and
// under emulation it can lag seconds behind the traffic. So the client
// sends sentinel datagrams to the director until tcpdump prints one: the
// packets before it have been printed too.
func (c *Capture) Stop(ctx context.Context) (CaptureSummary, error) {
	if err := c.drain(ctx); err != nil {
		_ = c.proc.Stop(time.Second)
		return CaptureSummary{}, err
	}
	if err := c.proc.Stop(5 * time.Second); err != nil {
		return CaptureSummary{}, fmt.Errorf("tcpdump on director: %w; output:\n%s", err, c.proc.Output())
	}
	return c.lab.classify(c.proc.Output()), nil
}

func (c *Capture) drain(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	marker := fmt.Sprintf("> %s.%d: UDP", DirectorIP, sentinelPort)
	dial := c.lab.Net.DialContext(Client)
	for i := 0; ; i++ {
		conn, err := dial(ctx, "udp4", fmt.Sprintf("%s:%d", DirectorIP, sentinelPort))
		if err != nil {
			return fmt.Errorf("capture sentinel: %w", err)
		}
		_, err = conn.Write([]byte("drlab capture sentinel"))
		conn.Close()
		if err != nil {
			return fmt.Errorf("capture sentinel: %w", err)
		}
		wctx, wcancel := context.WithTimeout(ctx, time.Second)
		err = c.proc.WaitOutput(wctx, marker)
		wcancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("tcpdump on director never printed the capture sentinel after %d tries: %w", i+1, ctx.Err())
		}
	}
}

// tcpdumpLine matches `tcpdump -n -e` output for an IPv4 packet:
// "TIME SRCMAC > DSTMAC, ethertype IPv4 (0x0800), length N: SRC[.PORT] > DST[.PORT]: REST".
var tcpdumpLine = regexp.MustCompile(`^\S+ ([0-9a-f:]{17}) > ([0-9a-f:]{17}), ethertype IPv4 \(0x0800\), length \d+: (\d+\.\d+\.\d+\.\d+)(?:\.\d+)? > (\d+\.\d+\.\d+\.\d+)(?:\.\d+)?: (.*)$`)

func (l *Lab) classify(out string) CaptureSummary {
	s := CaptureSummary{Forwarded: map[string]int{}}
	mac := func(h string) string { return l.MACs[h].String() }
	for _, line := range strings.Split(out, "\n") {
		m := tcpdumpLine.FindStringSubmatch(line)
		if m == nil {
			if strings.Contains(line, "packets ") {
				s.Counters = strings.TrimSpace(s.Counters + "; " + line)
			}
			continue
		}
		srcMAC, dstMAC, src, dst, rest := m[1], m[2], m[3], m[4], m[5]
		if dst == DirectorIP && strings.HasPrefix(rest, "UDP") {
			continue // a capture sentinel
		}
		s.Lines = append(s.Lines, line)
		switch {
		case srcMAC == mac(Client) && dst == VIP:
			s.FromClient++
			if strings.Contains(rest, "Flags [S]") {
				s.ClientSYNs++
			}
		case srcMAC == mac(Director) && dst == VIP && (dstMAC == mac(RS1) || dstMAC == mac(RS2)):
			s.Forwarded[l.HostOf(dstMAC)]++
		case srcMAC == mac(Director) && src == VIP:
			s.DirectorReplies++
		default:
			s.Other++
		}
	}
	return s
}

// String summarises the capture in one line.
func (s CaptureSummary) String() string {
	return fmt.Sprintf("from client %d (SYNs %d), forwarded rs1 %d rs2 %d, director replies %d, other %d",
		s.FromClient, s.ClientSYNs, s.Forwarded[RS1], s.Forwarded[RS2], s.DirectorReplies, s.Other)
}

// arpingReply matches a reply line of Thomas Habets' arping (Debian's
// arping package): "42 bytes from 02:4c:00:00:00:02 (10.99.0.100): index=0 ...".
var arpingReply = regexp.MustCompile(`bytes from ([0-9a-f:]{17}) \(([0-9.]+)\)`)

// Arping sends count ARP requests for the VIP from the client and returns
// how many replies came from each MAC, keyed by host name where known.
func (l *Lab) Arping(ctx context.Context, count int) (map[string]int, string, error) {
	arping, err := exec.LookPath("arping")
	if err != nil {
		return nil, "", fmt.Errorf("arping (Debian arping) is needed: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(count+5)*time.Second)
	defer cancel()
	// Exit status 1 means some request got no reply; the replies decide.
	out, err := l.Net.ExecContext(ctx, Client, arping, "-i", "eth0", "-c", fmt.Sprint(count), "-W", "0.5", VIP)
	replies := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		if m := arpingReply.FindStringSubmatch(line); m != nil && m[2] == VIP {
			replies[l.HostOf(m[1])]++
		}
	}
	if len(replies) == 0 && err != nil {
		return nil, out, fmt.Errorf("arping %s from client: %w", VIP, err)
	}
	return replies, out, nil
}

// IPVSAdm returns `ipvsadm -Ln` run in the director's namespace: the
// reference tool's view of what moby/ipvs configured.
func (l *Lab) IPVSAdm() (string, error) {
	return l.Net.Exec(Director, "ipvsadm", "-Ln")
}
