package track

import (
	"errors"
	"strings"
)

// SplitCommand splits a script line into arguments as keepalived does
// (keepalived.conf(5), "Quoted strings"): unquoted whitespace separates
// arguments; text between ' or " quotes is kept as is, quotes removed, so
// `a"b c"d` is the one argument `ab cd`; a backslash escapes the next
// character, with the C escapes \a \b \f \n \r \t \v \E (ESC), \xHH and
// \nnn (octal) decoded. The result is executed directly: there is no
// shell, so redirections, pipes and variables are not interpreted (wrap
// such a line in `/bin/sh -c '...'`).
func SplitCommand(s string) ([]string, error) {
	var (
		args   []string
		cur    strings.Builder
		inArg  bool
		quote  byte
		escape bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if escape {
			escape = false
			n, adv := decodeEscape(s[i:])
			cur.WriteByte(n)
			i += adv - 1
			inArg = true
			continue
		}
		switch {
		case c == '\\':
			escape = true
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inArg = c, true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if escape {
		return nil, errors.New("trailing backslash")
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}

// decodeEscape decodes the escape whose character starts s (the
// backslash already consumed) and returns the byte and the length used.
func decodeEscape(s string) (byte, int) {
	switch s[0] {
	case 'a':
		return '\a', 1
	case 'b':
		return '\b', 1
	case 'E':
		return 0x1b, 1
	case 'f':
		return '\f', 1
	case 'n':
		return '\n', 1
	case 'r':
		return '\r', 1
	case 't':
		return '\t', 1
	case 'v':
		return '\v', 1
	case 'x':
		v, n := 0, 0
		for n < 2 && 1+n < len(s) && isHex(s[1+n]) {
			v = v*16 + hexVal(s[1+n])
			n++
		}
		if n == 0 {
			return 'x', 1
		}
		return byte(v), 1 + n
	}
	if s[0] >= '0' && s[0] <= '7' {
		v, n := 0, 0
		for n < 3 && n < len(s) && s[n] >= '0' && s[n] <= '7' {
			v = v*8 + int(s[n]-'0')
			n++
		}
		return byte(v), n
	}
	return s[0], 1
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return int(c-'A') + 10
}
