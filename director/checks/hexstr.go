package checks

import (
	"errors"
	"fmt"
)

// ParseHex reads keepalived's free-form hex string (UDP_CHECK payload and
// require_reply): spaces and tabs separate words, each word is read two
// hex digits to an octet, and a word of odd length ends with a one-digit
// octet, so "Ab12f 3 456" is AB 12 0F 03 45 06. With wildcards, an x or X
// digit matches any nibble: mask has the ignored bits set. mask is nil
// when no wildcard was used. An empty string is an error, as in
// keepalived.
func ParseHex(s string, wildcards bool) (data, mask []byte, err error) {
	nibble := func(c byte) (v, m byte, ok bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', 0, true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, 0, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, 0, true
		case wildcards && (c == 'x' || c == 'X'):
			return 0, 0x0f, true
		}
		return 0, 0, false
	}
	wild := false
	for i := 0; i < len(s); {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		v, m, ok := nibble(s[i])
		if !ok {
			return nil, nil, fmt.Errorf("invalid hex digit %q at offset %d", s[i], i)
		}
		i++
		if i < len(s) && s[i] != ' ' && s[i] != '\t' {
			v2, m2, ok := nibble(s[i])
			if !ok {
				return nil, nil, fmt.Errorf("invalid hex digit %q at offset %d", s[i], i)
			}
			i++
			v, m = v<<4|v2, m<<4|m2
		}
		data = append(data, v)
		mask = append(mask, m)
		wild = wild || m != 0
	}
	if len(data) == 0 {
		return nil, nil, errors.New("empty hex string")
	}
	if !wild {
		mask = nil
	}
	return data, mask, nil
}
