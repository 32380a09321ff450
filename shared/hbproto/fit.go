package hbproto

import (
	"strings"
	"unicode/utf8"
)

// TruncateString returns s as a valid string field of at most max bytes:
// invalid UTF-8 is replaced by U+FFFD, and a string still too long is cut
// at the last rune boundary that fits (never inside a rune). max <= 0
// means MaxString.
func TruncateString(s string, max int) string {
	if max <= 0 || max > MaxString {
		max = MaxString
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// ReplySize returns the size in bytes of the datagram that carries r
// (header, body and tag), as the encoder would produce it.
func ReplySize(r *DirectorReply) int {
	n := HeaderSize + TagSize + 1 + len(r.Director) + 1 + 1
	for i := range r.Destinations {
		n += destSize(&r.Destinations[i])
	}
	if r.ReportNow || r.Echo != nil {
		n++
	}
	if r.Echo != nil {
		n += 16
	}
	return n
}

// destSize is the encoded size of one destination record.
func destSize(d *DestinationStatus) int {
	n := 2 + 1 + len(d.Service) + 1 + 4 + 2 + 4 + 4 + 4 + 4 + 1
	if !d.Addr.Addr().Is4() {
		n += 12
	}
	return n
}

// FitReply drops destinations from the end of r until its encoding fits in
// MaxDatagram bytes and it has at most MaxDestinations of them; it returns
// how many it dropped. (The reply's strings must be valid for the encoder
// to take it; FitReply only bounds the size.)
func FitReply(r *DirectorReply) (dropped int) {
	if len(r.Destinations) > MaxDestinations {
		dropped = len(r.Destinations) - MaxDestinations
		r.Destinations = r.Destinations[:MaxDestinations]
	}
	size := ReplySize(r)
	for size > MaxDatagram && len(r.Destinations) > 0 {
		last := len(r.Destinations) - 1
		size -= destSize(&r.Destinations[last])
		r.Destinations = r.Destinations[:last]
		dropped++
	}
	return dropped
}
