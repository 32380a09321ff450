package checks

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpServer is a loopback TCP server that plays one script per
// connection and records the lines the client sent.
type smtpServer struct {
	ln    net.Listener
	mu    sync.Mutex
	lines []string
	wg    sync.WaitGroup
}

// serve runs script for each connection: a string step is written, a
// "<" step reads one line from the client, "close" ends the connection,
// "stall" waits until the client goes.
func newSMTPServer(t *testing.T, script ...string) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				for _, step := range script {
					switch step {
					case "<":
						l, err := r.ReadString('\n')
						if err != nil {
							return
						}
						s.mu.Lock()
						s.lines = append(s.lines, l)
						s.mu.Unlock()
					case "close":
						return
					case "stall":
						io.Copy(io.Discard, r)
						return
					default:
						if _, err := io.WriteString(c, step); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *smtpServer) addr() netip.AddrPort { return netip.MustParseAddrPort(s.ln.Addr().String()) }

func (s *smtpServer) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

func TestSMTPCheck(t *testing.T) {
	const to = 300 * time.Millisecond
	good := []string{"220 mx.example ESMTP\r\n", "<", "250 mx.example\r\n", "<", "221 bye\r\n"}
	tests := []struct {
		name   string
		script []string
		helo   string
		want   string
		sent   []string
	}{
		{name: "conversation", script: good, sent: []string{"HELO smtpchecker.keepalived.org\r\n", "QUIT\r\n"}},
		{name: "helo_name", script: good, helo: "director.example", sent: []string{"HELO director.example\r\n", "QUIT\r\n"}},
		{name: "multi-line greeting and bare LF", script: []string{"220-mx.example\n220-more\r\n220 ready\r\n", "<", "250-mx\r\n250 SIZE\r\n", "<", "221\r\n"}},
		{name: "QUIT reply code not checked", script: []string{"220 x\r\n", "<", "250 x\r\n", "<", "500 what\r\n"}},
		{name: "busy greeting", script: []string{"554 go away\r\n", "close"}, want: "greeting reply 554 go away, want 220"},
		{name: "HELO refused", script: []string{"220 x\r\n", "<", "501 bad helo\r\n", "close"}, want: "HELO reply 501 bad helo, want 250"},
		{name: "closed after HELO", script: []string{"220 x\r\n", "<", "close"}, want: "read HELO reply: connection closed"},
		{name: "no QUIT reply", script: []string{"220 x\r\n", "<", "250 x\r\n", "<", "close"}, want: "read QUIT reply: connection closed"},
		{name: "silent server", script: []string{"stall"}, want: "read greeting reply: timeout after 300ms"},
		{name: "greeting never ends", script: []string{"220 x", "stall"}, want: "timeout after 300ms"},
		{name: "line too long", script: []string{"220 " + strings.Repeat("x", 600) + "\r\n", "stall"}, want: "reply line longer than 512 bytes"},
		{name: "endless multi-line reply", script: []string{strings.Repeat("220-x\r\n", 40), "stall"}, want: "reply longer than 32 lines"},
		{name: "not SMTP", script: []string{"HTTP/1.1 400 Bad Request\r\n", "stall"}, want: "malformed reply line"},
		{name: "line break in helo_name", script: good, helo: "a\r\nMAIL FROM:<x>", want: "helo_name contains a line break"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSMTPServer(t, tt.script...)
			err := SMTPCheck{Conn: Conn{Addr: s.addr(), Timeout: to}, HeloName: tt.helo}.Probe(context.Background())
			if tt.want == "" && err != nil {
				t.Fatalf("Probe = %v, want success", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Probe = %v, want %q", err, tt.want)
			}
			if tt.sent != nil {
				if got := s.sent(); strings.Join(got, "|") != strings.Join(tt.sent, "|") {
					t.Errorf("client sent %q, want %q", got, tt.sent)
				}
			}
		})
	}
	if err := (SMTPCheck{Conn: Conn{Addr: closedUDPPort(t), Timeout: to}}).Probe(context.Background()); err == nil || !strings.Contains(err.Error(), "connect: connection refused") {
		t.Errorf("closed port: %v", err)
	}
}

func FuzzSMTPReply(f *testing.F) {
	for _, s := range []string{"220 ok\r\n", "250-a\r\n250 b\r\n", "250-a\r\n251 b\r\n", "2", "220", "220 " + strings.Repeat("x", 600)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(b), smtpMaxLine)
		code, text, err := readSMTPReply(r)
		if err != nil {
			return
		}
		if code < 0 || code > 999 || len(text) > 80 {
			t.Fatalf("code %d text %q", code, text)
		}
		for _, c := range []byte(text) {
			if c < 0x20 || c >= 0x7f {
				t.Fatalf("unprintable text %q", text)
			}
		}
	})
}
