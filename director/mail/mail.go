package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	netmail "net/mail"
	"net/smtp"
	"os"
	"strings"
	"time"
)

// DefaultTimeout bounds a session when Server.Timeout is 0 (keepalived's
// smtp_connect_timeout default).
const DefaultTimeout = 30 * time.Second

// Server is an SMTP relay and how to talk to it.
type Server struct {
	// Addr is "host:port".
	Addr string
	// Timeout bounds the whole session, connection included (0:
	// DefaultTimeout).
	Timeout time.Duration
	// HeloName is the name given in EHLO/HELO; "" means the host name.
	HeloName string
}

// Message is one e-mail.
type Message struct {
	// From is the sender (header and MAIL FROM).
	From string
	// To are the recipients (header and one RCPT TO each). An entry may
	// carry a display name ("Ops <ops@example.com>").
	To []string
	// Subject is the subject line (UTF-8; encoded when not ASCII).
	Subject string
	// Body is the text; lines end in "\n" or "\r\n".
	Body string
	// Date is the Date header.
	Date time.Time
}

// ErrNoRecipient means the server refused every recipient.
var ErrNoRecipient = errors.New("mail: every recipient was refused")

// Send delivers m through s in one SMTP session: greeting, EHLO (HELO if
// the server does not know EHLO), MAIL, RCPT for each recipient, DATA,
// QUIT. No TLS and no authentication: a local relay is expected, as with
// keepalived. A recipient the server refuses is skipped and reported in the
// error; the message still goes to the others.
func (s Server) Send(ctx context.Context, m Message) (err error) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	from, err := envelopeAddr(m.From)
	if err != nil {
		return fmt.Errorf("mail: sender %q: %w", m.From, err)
	}
	if len(m.To) == 0 {
		return errors.New("mail: no recipient")
	}
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("mail: server %q: %w", s.Addr, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("mail: connect to %s: %w", s.Addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// A cancel (shutdown) ends the session at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	wrap := func(step string, err error) error {
		if ctx.Err() != nil {
			err = errors.Join(err, ctx.Err())
		}
		return fmt.Errorf("mail: %s: %s: %w", s.Addr, step, err)
	}

	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return wrap("greeting", err)
	}
	defer c.Close()
	helo := s.HeloName
	if helo == "" {
		helo = HostName()
	}
	if err := c.Hello(helo); err != nil {
		return wrap("HELO", err)
	}
	if err := c.Mail(from); err != nil {
		return wrap("MAIL FROM", err)
	}
	var refused []error
	accepted := 0
	for _, to := range m.To {
		addr, err := envelopeAddr(to)
		if err == nil {
			err = c.Rcpt(addr)
		}
		if err != nil {
			refused = append(refused, fmt.Errorf("recipient %q: %w", to, err))
			continue
		}
		accepted++
	}
	if accepted == 0 {
		return wrap("RCPT TO", errors.Join(append([]error{ErrNoRecipient}, refused...)...))
	}
	w, err := c.Data()
	if err != nil {
		return wrap("DATA", err)
	}
	if _, err := w.Write(m.Bytes(helo)); err != nil {
		return wrap("DATA", err)
	}
	if err := w.Close(); err != nil {
		return wrap("DATA", err)
	}
	if err := c.Quit(); err != nil {
		return wrap("QUIT", err)
	}
	if len(refused) > 0 {
		return fmt.Errorf("mail: %s: sent, but %w", s.Addr, errors.Join(refused...))
	}
	return nil
}

// Bytes formats m as an RFC 5322 message with CRLF line ends; host goes
// into the Message-ID. Header values lose any CR or LF (no header
// injection from a configured name).
func (m Message) Bytes(host string) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, oneLine(v)) }
	hdr("From", m.From)
	hdr("To", strings.Join(m.To, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Subject)))
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	hdr("Date", date.Format(time.RFC1123Z))
	var id [8]byte
	rand.Read(id[:])
	if host == "" {
		host = "localhost"
	}
	hdr("Message-ID", fmt.Sprintf("<%d.%s@%s>", date.UnixNano(), hex.EncodeToString(id[:]), host))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "8bit")
	hdr("X-Mailer", "tandem-director")
	b.WriteString("\r\n")
	body := strings.ReplaceAll(m.Body, "\r\n", "\n")
	for line := range strings.SplitSeq(strings.TrimSuffix(body, "\n"), "\n") {
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(s)
}

// envelopeAddr is the bare address of a header address ("Name <a@b>" →
// "a@b"); a string net/mail cannot parse is used as it is, unless it has
// a line break.
func envelopeAddr(s string) (string, error) {
	if a, err := netmail.ParseAddress(s); err == nil {
		return a.Address, nil
	}
	if s == "" || strings.ContainsAny(s, "\r\n<>") {
		return "", errors.New("not an e-mail address")
	}
	return s, nil
}

// HostName is this host's name, "localhost" when it has none.
func HostName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}
