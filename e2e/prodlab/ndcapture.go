package prodlab

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tandemlb/tandem/e2e/netlab"
)

// NDCapture is tcpdump on a segment's bridge, in the lab's bridges'
// namespace ("sw"): every ICMPv6 packet any host of the segment sends,
// with its Ethernet addresses, plus the UDP sentinels that end it. It is
// how the IPv6 labs prove from the wire that no real server answers
// neighbour solicitations for a VIP or advertises it.
type NDCapture struct {
	nl   *netlab.Lab
	proc *netlab.Process
}

// NDPacket is one captured ICMPv6 packet.
type NDPacket struct {
	At             time.Time
	SrcMAC, DstMAC string
	Src, Dst       string
	// Kind is "NS", "NA", "RS", "RA", "redirect", or "other" (echo,
	// errors, MLD).
	Kind string
	// Target is the target address of an NS or NA.
	Target string
	// Line is tcpdump's line.
	Line string
}

// SentinelPort is the UDP port of the datagrams that mark the end of a
// capture (discard).
const SentinelPort = 9

// StartNDCapture starts tcpdump on the bridge of segment (netlab's
// DefaultSegment when empty) and waits until it listens.
func StartNDCapture(ctx context.Context, nl *netlab.Lab, segment string) (*NDCapture, error) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		return nil, fmt.Errorf("tcpdump (Debian tcpdump) is needed: %w", err)
	}
	if segment == "" {
		segment = netlab.DefaultSegment
	}
	// -tt: epoch times; -e: MACs; -l: line-buffered; --immediate-mode: no
	// packet held back at the end; headers only.
	p, err := nl.Start("sw", tcpdump, "-i", segment, "-tt", "-n", "-e", "-l", "--immediate-mode", "-s", "200", "-B", "4096",
		fmt.Sprintf("icmp6 or (ip6 and udp dst port %d)", SentinelPort))
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := p.WaitOutput(wctx, "listening on"); err != nil {
		_ = p.Stop(time.Second)
		return nil, fmt.Errorf("tcpdump on bridge %s: %w\n%s", segment, err, p.Output())
	}
	return &NDCapture{nl: nl, proc: p}, nil
}

// Stop waits until tcpdump printed everything sent so far (host sends
// sentinel datagrams to [to]:SentinelPort until one shows), stops it and
// parses what it saw.
func (c *NDCapture) Stop(ctx context.Context, host, to string) ([]NDPacket, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	marker := fmt.Sprintf("> %s.%d: UDP", to, SentinelPort)
	dial := c.nl.DialContext(host)
	for i := 0; ; i++ {
		conn, err := dial(ctx, "udp6", fmt.Sprintf("[%s]:%d", to, SentinelPort))
		if err != nil {
			_ = c.proc.Stop(time.Second)
			return nil, fmt.Errorf("capture sentinel: %w", err)
		}
		_, _ = conn.Write([]byte("prodlab nd capture sentinel"))
		conn.Close()
		wctx, wcancel := context.WithTimeout(ctx, time.Second)
		err = c.proc.WaitOutput(wctx, marker)
		wcancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			_ = c.proc.Stop(time.Second)
			return nil, fmt.Errorf("tcpdump never printed the capture sentinel after %d tries: %w", i+1, ctx.Err())
		}
	}
	if err := c.proc.Stop(5 * time.Second); err != nil {
		return nil, fmt.Errorf("tcpdump: %w; output:\n%s", err, Tail(c.proc.Output(), 20))
	}
	return ParseNDCapture(c.proc.Output()), nil
}

// Output is tcpdump's output so far.
func (c *NDCapture) Output() string { return c.proc.Output() }

// ndLine matches `tcpdump -tt -n -e` output for an ICMPv6 packet:
// "SEC.USEC SRCMAC > DSTMAC, ethertype IPv6 (0x86dd), length N: SRC > DST: ICMP6, REST".
var ndLine = regexp.MustCompile(`^(\d+)\.(\d{6}) ([0-9a-f:]{17}) > ([0-9a-f:]{17}), ethertype IPv6 \(0x86dd\), length \d+: (\S+) > (\S+): ICMP6, (.*)$`)

// ParseNDCapture parses tcpdump's lines (ICMPv6 only; the rest is
// skipped).
func ParseNDCapture(out string) []NDPacket {
	var pk []NDPacket
	for _, line := range strings.Split(out, "\n") {
		m := ndLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		usec, _ := strconv.ParseInt(m[2], 10, 64)
		p := NDPacket{At: time.Unix(sec, usec*1000), SrcMAC: m[3], DstMAC: m[4], Src: m[5], Dst: m[6], Kind: "other", Line: line}
		rest := m[7]
		switch {
		case strings.HasPrefix(rest, "neighbor solicitation, who has "):
			p.Kind, p.Target = "NS", firstField(strings.TrimPrefix(rest, "neighbor solicitation, who has "))
		case strings.HasPrefix(rest, "neighbor advertisement, tgt is "):
			p.Kind, p.Target = "NA", firstField(strings.TrimPrefix(rest, "neighbor advertisement, tgt is "))
		case strings.HasPrefix(rest, "router solicitation"):
			p.Kind = "RS"
		case strings.HasPrefix(rest, "router advertisement"):
			p.Kind = "RA"
		case strings.HasPrefix(rest, "redirect"):
			p.Kind = "redirect"
		}
		pk = append(pk, p)
	}
	return pk
}

func firstField(s string) string {
	s, _, _ = strings.Cut(s, ",")
	return strings.TrimSpace(s)
}

// NDLeaks returns the packets by which a host of macs (the real servers'
// eth0 MACs) could make another host send it a VIP's traffic: an NA for a
// VIP (an answer to a solicitation, or unsolicited), a router
// advertisement (a real server is no router), a redirect, or neighbour
// discovery with a VIP as source address (its link-layer option would
// teach the receivers VIP -> that MAC).
func NDLeaks(pk []NDPacket, macs []string, vips []string) []NDPacket {
	isRS := map[string]bool{}
	for _, m := range macs {
		isRS[strings.ToLower(m)] = true
	}
	isVIP := map[string]bool{}
	for _, v := range vips {
		isVIP[v] = true
	}
	var out []NDPacket
	for _, p := range pk {
		if !isRS[p.SrcMAC] {
			continue
		}
		switch {
		case p.Kind == "NA" && isVIP[p.Target]:
		case p.Kind == "RA" || p.Kind == "redirect":
		case (p.Kind == "NS" || p.Kind == "NA" || p.Kind == "RS") && isVIP[p.Src]:
		default:
			continue
		}
		out = append(out, p)
	}
	return out
}

// NDCount counts the packets of kind (with target, when not empty) sent
// from MAC src (any MAC when empty).
func NDCount(pk []NDPacket, src, kind, target string) int {
	n := 0
	for _, p := range pk {
		if (src == "" || p.SrcMAC == strings.ToLower(src)) && p.Kind == kind && (target == "" || p.Target == target) {
			n++
		}
	}
	return n
}
