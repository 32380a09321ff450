package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Value syntax shared by both readers. Each parser returns the value or a
// message (without position or keyword) saying what is wrong.

// parseInt parses a decimal integer within lo..hi.
func parseInt(s string, lo, hi int) (int, string) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Sprintf("%q is not an integer", s)
	}
	if m := msgRange(n, lo, hi); m != "" {
		return 0, m
	}
	return n, ""
}

// maxSeconds bounds every duration written in seconds.
const maxSeconds = 1 << 31

// parseSeconds parses keepalived's <TIMER>: non-negative decimal seconds,
// "3", "0.5", "2.71828" (at most 9 fraction digits).
func parseSeconds(s string) (time.Duration, string) {
	bad := fmt.Sprintf("%q is not a number of seconds", s)
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && (!hasDot || frac == "") {
		return 0, bad
	}
	if len(frac) > 9 || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" {
		return 0, bad
	}
	var w int64
	if whole != "" {
		n, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || n > maxSeconds {
			return 0, fmt.Sprintf("%q is too many seconds", s)
		}
		w = n
	}
	var ns int64
	if frac != "" {
		n, _ := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		ns = n
	}
	return time.Duration(w)*time.Second + time.Duration(ns), ""
}

// parseAddr parses an IP address without zone.
func parseAddr(s string) (netip.Addr, string) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Sprintf("%q is not an IP address", s)
	}
	if m := msgAddr(a); m != "" {
		return netip.Addr{}, m
	}
	return a, ""
}

// parsePort parses a port; zeroOK allows 0.
func parsePort(s string, zeroOK bool) (uint16, string) {
	lo := 1
	if zeroOK {
		lo = 0
	}
	n, m := parseInt(s, lo, 65535)
	if m != "" {
		return 0, "port " + m
	}
	return uint16(n), ""
}

// parsePrefix parses "ADDR/LEN" or a bare address (a host prefix).
func parsePrefix(s string) (netip.Prefix, string) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Sprintf("%q is not ADDRESS/LENGTH", s)
		}
		if m := msgAddr(p.Addr()); m != "" {
			return netip.Prefix{}, m
		}
		return p, ""
	}
	a, m := parseAddr(s)
	if m != "" {
		return netip.Prefix{}, m
	}
	return netip.PrefixFrom(a, a.BitLen()), ""
}

// parseVIP parses the words of a virtual_ipaddress line:
// ADDRESS[/LEN] [brd BROADCAST] [dev DEV] [label LABEL]. dev defaults to
// "" (the reader fills in the instance's interface). brd + is the last
// address of the prefix, brd - none (as ip-address(8)).
func parseVIP(words []string) (VirtualIP, string) {
	var v VirtualIP
	if len(words) == 0 {
		return v, "empty address line"
	}
	p, m := parsePrefix(words[0])
	if m != "" {
		return v, m
	}
	v.Prefix = p
	seen := map[string]bool{}
	for i := 1; i < len(words); i += 2 {
		opt := words[i]
		switch opt {
		case "dev", "label", "brd", "broadcast", "preferred_lft":
		default:
			return v, fmt.Sprintf("option %q of %s is not supported (only brd, dev, label and preferred_lft)", opt, words[0])
		}
		if i+1 >= len(words) {
			return v, fmt.Sprintf("option %q of %s needs a value", opt, words[0])
		}
		if seen[opt] {
			return v, fmt.Sprintf("option %q of %s is given twice", opt, words[0])
		}
		seen[opt] = true
		val := words[i+1]
		switch opt {
		case "dev":
			if m := msgIfName(val); m != "" {
				return v, m
			}
			v.Dev = val
		case "label":
			v.Label = val
		case "preferred_lft":
			switch val {
			case "0":
				v.Deprecated = true
			case "forever":
			default:
				return v, fmt.Sprintf("preferred_lft %s of %s: only 0 (deprecated: never chosen as a source address) or forever", val, words[0])
			}
		default:
			b, m := parseBroadcast(val, p)
			if m != "" {
				return v, m
			}
			v.Broadcast = b
		}
	}
	return v, ""
}

// parseBroadcast parses a brd value for prefix p: an IPv4 address, + (the
// last address of the prefix) or - (none).
func parseBroadcast(s string, p netip.Prefix) (netip.Addr, string) {
	if !p.Addr().Is4() {
		return netip.Addr{}, fmt.Sprintf("brd %s: a broadcast address is for IPv4 addresses", s)
	}
	switch s {
	case "-":
		return netip.Addr{}, ""
	case "+":
		b := p.Masked().Addr().As4()
		host := uint32(1)<<(32-p.Bits()) - 1
		n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
		return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), ""
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Sprintf("brd %q is not an IPv4 address, + or -", s)
	}
	return a, ""
}

// parseTrackInterface parses a track_interface line: NAME [weight W].
func parseTrackInterface(words []string) (TrackInterface, string) {
	var t TrackInterface
	if len(words) == 0 {
		return t, "empty interface line"
	}
	if m := msgIfName(words[0]); m != "" {
		return t, m
	}
	t.Name = words[0]
	switch {
	case len(words) == 1:
		return t, ""
	case len(words) == 3 && words[1] == "weight":
		w, m := parseInt(words[2], -253, 253)
		if m != "" {
			return t, "weight " + m
		}
		t.Weight = w
		return t, ""
	case len(words) > 3 && words[1] == "weight":
		return t, fmt.Sprintf("option %q of %s is not supported", words[3], t.Name)
	default:
		return t, fmt.Sprintf("%q: want NAME or NAME weight -253..253", strings.Join(words, " "))
	}
}

// parseStatus parses "200" or "200-299".
func parseStatus(s string) (StatusRange, string) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err1 := strconv.Atoi(lo)
	b := a
	var err2 error
	if isRange {
		b, err2 = strconv.Atoi(hi)
	}
	if err1 != nil || err2 != nil {
		return StatusRange{}, fmt.Sprintf("%q is not a status code or range (e.g. 200 or 200-299)", s)
	}
	r := StatusRange{a, b}
	if m := msgStatus(r); m != "" {
		return StatusRange{}, m
	}
	return r, ""
}

// parseBool parses keepalived's <BOOL>.
func parseBool(s string) (bool, string) {
	switch s {
	case "on", "true", "yes":
		return true, ""
	case "off", "false", "no":
		return false, ""
	}
	return false, fmt.Sprintf("%q is not on, off, true, false, yes or no", s)
}

// splitHostPort splits "host:port" where host is an IP address or a DNS
// name.
func splitHostPort(s string) (string, int, error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	if m := msgHost(h); m != "" {
		return "", 0, fmt.Errorf("%s", m)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return h, n, nil
}

// msgHost checks an IP address or DNS name.
func msgHost(h string) string {
	if _, err := netip.ParseAddr(h); err == nil {
		return ""
	}
	if h == "" || len(h) > 253 || strings.Trim(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != "" {
		return fmt.Sprintf("%q is not an IP address or host name", h)
	}
	return ""
}

// joinHostPort is net.JoinHostPort with an int port.
func joinHostPort(h string, p int) string {
	return net.JoinHostPort(h, strconv.Itoa(p))
}
