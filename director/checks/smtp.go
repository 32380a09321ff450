package checks

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// SMTP_CHECK limits and defaults.
const (
	// DefaultHeloName is keepalived's helo_name default.
	DefaultHeloName = "smtpchecker.keepalived.org"
	// smtpMaxLine bounds one reply line, CRLF included (RFC 5321 4.5.3.1.5,
	// and keepalived's SMTP_BUFF_MAX).
	smtpMaxLine = 512
	// smtpMaxLines bounds the lines of one multi-line reply.
	smtpMaxLines = 32
)

// SMTPCheck is keepalived's SMTP_CHECK: connect, read the greeting (must
// be 220), send "HELO <helo_name>", read the reply (must be 250), send
// "QUIT" and read one more reply, whatever its code. Each step (the
// connection, then each reply) must complete within connect_timeout, as
// in keepalived, so an attempt lasts at most four timeouts. A reply line
// is at most 512 bytes and a multi-line reply ("250-…") at most 32 lines.
// Unlike keepalived, which reads only up to the first newline, a
// multi-line greeting or HELO reply is read to its last line.
type SMTPCheck struct {
	Conn
	// HeloName is helo_name; "" means "smtpchecker.keepalived.org".
	HeloName string
}

// Name returns "SMTP_CHECK".
func (SMTPCheck) Name() string { return "SMTP_CHECK" }

// Probe holds the SMTP conversation.
func (s SMTPCheck) Probe(ctx context.Context) error {
	helo := s.HeloName
	if helo == "" {
		helo = DefaultHeloName
	}
	if strings.ContainsAny(helo, "\r\n") {
		return errors.New("helo_name contains a line break")
	}
	conn, err := s.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := closeOnDone(ctx, conn)
	defer stop()
	to := s.timeout()
	r := bufio.NewReaderSize(conn, smtpMaxLine)
	step := func(what string, send string, want int) error {
		if send != "" {
			if err := conn.SetDeadline(time.Now().Add(to)); err != nil {
				return err
			}
			if _, err := io.WriteString(conn, send); err != nil {
				return describeNetErr("send "+what, to, err)
			}
		}
		if err := conn.SetDeadline(time.Now().Add(to)); err != nil {
			return err
		}
		code, text, err := readSMTPReply(r)
		if err != nil {
			return describeNetErr("read "+what+" reply", to, err)
		}
		if want != 0 && code != want {
			return fmt.Errorf("%s reply %d %s, want %d", what, code, text, want)
		}
		return nil
	}
	if err := step("greeting", "", 220); err != nil {
		return err
	}
	if err := step("HELO", "HELO "+helo+"\r\n", 250); err != nil {
		return err
	}
	return step("QUIT", "QUIT\r\n", 0)
}

// errSMTPLine is a reply line that is not "NNN", "NNN text" or "NNN-text".
var errSMTPLine = errors.New("malformed reply line")

// readSMTPReply reads one reply, every line of a multi-line one, and
// returns its code and the text of its last line (printable, at most 80
// bytes, for messages).
func readSMTPReply(r *bufio.Reader) (code int, text string, err error) {
	for n := 0; ; n++ {
		if n == smtpMaxLines {
			return 0, "", fmt.Errorf("reply longer than %d lines", smtpMaxLines)
		}
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return 0, "", fmt.Errorf("reply line longer than %d bytes", smtpMaxLine)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, "", errors.New("connection closed")
			}
			return 0, "", err
		}
		line = line[:len(line)-1]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) < 3 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2]) ||
			(len(line) > 3 && line[3] != ' ' && line[3] != '-') {
			return 0, "", fmt.Errorf("%w: %q", errSMTPLine, printable(line))
		}
		c := int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
		if n > 0 && c != code {
			return 0, "", fmt.Errorf("%w: code %d inside a %d reply", errSMTPLine, c, code)
		}
		code = c
		if len(line) <= 3 || line[3] == ' ' {
			if len(line) > 4 {
				text = printable(line[4:])
			}
			return code, text, nil
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// printable returns b as text fit for a log line: at most 80 bytes,
// control and non-ASCII bytes as '?'.
func printable(b []byte) string {
	if len(b) > 80 {
		b = b[:80]
	}
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c >= 0x7f {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}
