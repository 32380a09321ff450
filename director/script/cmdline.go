package script

import (
	"errors"
	"fmt"
)

// SplitCommand splits a script line (MISC_CHECK misc_path, vrrp_script
// script) the way keepalived 2.2 does (alloc_strvec_quoted_escaped,
// keepalived.conf(5) "Quoted strings"): words are separated by blanks;
// within a word, '...' and "..." quote blanks (quoted parts join the
// text around them, as in a shell); a backslash escapes the next
// character everywhere, inside single quotes too, with the C escapes
// \a \b \E \f \n \r \t \v, \xHH…, \cX (control character) and \NNN
// (octal, up to 3 digits). There is no variable or glob expansion and no
// shell: the first word is the program, and redirections or pipes need
// the line wrapped in `/bin/sh -c '...'`. A line with no word is an
// error.
func SplitCommand(line string) ([]string, error) {
	var (
		args  []string
		word  []byte
		in    bool // inside a word
		quote byte
	)
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == '\\':
			i++
			if i >= len(line) {
				return nil, errors.New("escape character at end of command")
			}
			b, n := unescape(line[i:])
			word = append(word, b)
			i += n
			in = true
			continue
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				word = append(word, c)
			}
		case c == '"' || c == '\'':
			quote, in = c, true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			if in {
				args = append(args, string(word))
				word, in = word[:0], false
			}
		default:
			word = append(word, c)
			in = true
		}
		i++
	}
	if quote != 0 {
		return nil, fmt.Errorf("missing terminating %c", quote)
	}
	if in {
		args = append(args, string(word))
	}
	if len(args) == 0 {
		return nil, errors.New("empty command")
	}
	return args, nil
}

// unescape reads the escape sequence at the start of s (after the
// backslash) and returns its byte and length.
func unescape(s string) (byte, int) {
	isHex := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
	}
	switch c := s[0]; {
	case c == 'x' && len(s) > 1 && isHex(s[1]):
		var v byte
		n := 1
		for n < len(s) && isHex(s[n]) { // keepalived reads every hex digit, keeping the last two
			d := s[n]
			switch {
			case d <= '9':
				d -= '0'
			case d >= 'a':
				d -= 'a' - 10
			default:
				d -= 'A' - 10
			}
			v = v<<4 | d
			n++
		}
		return v, n
	case c == 'c' && len(s) > 1:
		return s[1] & 0x1f, 2
	case c >= '0' && c <= '7':
		v, n := c-'0', 1
		for n < 3 && n < len(s) && s[n] >= '0' && s[n] <= '7' {
			v = v<<3 + (s[n] - '0')
			n++
		}
		return v, n
	}
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
	}
	return s[0], 1
}
