package mail

import (
	"context"
	"errors"
	"io"
	"mime"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// session is what the sink saw of one SMTP session.
type session struct {
	Helo  string // "EHLO name" or "HELO name"
	From  string
	Rcpt  []string
	Data  string // the message, dot-unstuffed, CRLF line ends
	Quit  bool
	Steps []string
}

// sink is a minimal SMTP server on 127.0.0.1:0: 220, EHLO/HELO, MAIL,
// RCPT, DATA, QUIT, RSET, NOOP. noEHLO answers EHLO with 502 (an old
// server); refuse lists recipients answered with 550.
type sink struct {
	ln      net.Listener
	noEHLO  bool
	refuse  map[string]bool
	silent  bool // accept and never greet
	mu      sync.Mutex
	done    []session
	wg      sync.WaitGroup
	gotDone chan struct{}
}

func newSink(t *testing.T) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{ln: ln, refuse: map[string]bool{}, gotDone: make(chan struct{}, 16)}
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *sink) start() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if s.silent {
					io.Copy(io.Discard, c)
					return
				}
				sess := s.serve(textproto.NewConn(c))
				s.mu.Lock()
				s.done = append(s.done, sess)
				s.mu.Unlock()
				s.gotDone <- struct{}{}
			}()
		}
	}()
}

func (s *sink) addr() string { return s.ln.Addr().String() }

func (s *sink) sessions() []session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]session(nil), s.done...)
}

func (s *sink) serve(c *textproto.Conn) session {
	var sess session
	c.PrintfLine("220 sink.test ESMTP ready")
	for {
		line, err := c.ReadLine()
		if err != nil {
			return sess
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		sess.Steps = append(sess.Steps, verb)
		switch verb {
		case "EHLO":
			if s.noEHLO {
				c.PrintfLine("502 5.5.1 EHLO not implemented")
				continue
			}
			sess.Helo = line
			c.PrintfLine("250-sink.test greets %s", arg)
			c.PrintfLine("250 8BITMIME")
		case "HELO":
			sess.Helo = line
			c.PrintfLine("250 sink.test")
		case "MAIL":
			sess.From = strings.TrimSuffix(strings.TrimPrefix(strings.Fields(arg)[0], "FROM:<"), ">")
			c.PrintfLine("250 2.1.0 ok")
		case "RCPT":
			r := strings.TrimSuffix(strings.TrimPrefix(arg, "TO:<"), ">")
			if s.refuse[r] {
				c.PrintfLine("550 5.1.1 no such user")
				continue
			}
			sess.Rcpt = append(sess.Rcpt, r)
			c.PrintfLine("250 2.1.5 ok")
		case "DATA":
			c.PrintfLine("354 end with <CRLF>.<CRLF>")
			b, err := io.ReadAll(c.DotReader()) // unstuffs, and gives "\n" line ends
			if err != nil {
				return sess
			}
			sess.Data = string(b)
			c.PrintfLine("250 2.0.0 queued")
		case "QUIT":
			sess.Quit = true
			c.PrintfLine("221 2.0.0 bye")
			return sess
		case "RSET", "NOOP":
			c.PrintfLine("250 ok")
		default:
			c.PrintfLine("500 unknown command")
		}
	}
}

func parse(t *testing.T, data string) (*netmail.Message, string) {
	t.Helper()
	m, err := netmail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, data)
	}
	b, _ := io.ReadAll(m.Body)
	return m, string(b)
}

func TestSendToSink(t *testing.T) {
	s := newSink(t)
	s.start()
	date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := Message{
		From:    "lb1@example.com",
		To:      []string{"ops@example.com", `"On Call" <oncall@example.com>`},
		Subject: "[lb1] VRRP Instance VI_1 - Entering MASTER state",
		Body:    "line one\n.starts with a dot\n\nlast line\n",
		Date:    date,
	}
	srv := Server{Addr: s.addr(), Timeout: 5 * time.Second, HeloName: "lb1.example.com"}
	if err := srv.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	<-s.gotDone
	got := s.sessions()
	if len(got) != 1 {
		t.Fatalf("%d sessions, want 1", len(got))
	}
	g := got[0]
	if diff := cmp.Diff([]string{"EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"}, g.Steps); diff != "" {
		t.Errorf("SMTP commands (-want +got)\n%s", diff)
	}
	if g.Helo != "EHLO lb1.example.com" {
		t.Errorf("greeting %q", g.Helo)
	}
	if g.From != "lb1@example.com" {
		t.Errorf("MAIL FROM %q", g.From)
	}
	if diff := cmp.Diff([]string{"ops@example.com", "oncall@example.com"}, g.Rcpt); diff != "" {
		t.Errorf("RCPT TO (-want +got)\n%s", diff)
	}
	msg, body := parse(t, g.Data)
	hdr := map[string]string{}
	for _, k := range []string{"From", "To", "Subject", "Date", "Content-Type", "Mime-Version"} {
		hdr[k] = msg.Header.Get(k)
	}
	want := map[string]string{
		"From":         "lb1@example.com",
		"To":           `ops@example.com, "On Call" <oncall@example.com>`,
		"Subject":      "[lb1] VRRP Instance VI_1 - Entering MASTER state",
		"Date":         "Fri, 02 Jan 2026 03:04:05 +0000",
		"Content-Type": "text/plain; charset=utf-8",
		"Mime-Version": "1.0",
	}
	if diff := cmp.Diff(want, hdr); diff != "" {
		t.Errorf("headers (-want +got)\n%s", diff)
	}
	if !strings.HasSuffix(msg.Header.Get("Message-Id"), "@lb1.example.com>") {
		t.Errorf("Message-ID %q", msg.Header.Get("Message-Id"))
	}
	if diff := cmp.Diff("line one\n.starts with a dot\n\nlast line\n", body); diff != "" {
		t.Errorf("body (-want +got)\n%s", diff)
	}
}

func TestSendHELOFallbackAndRefusedRecipient(t *testing.T) {
	s := newSink(t)
	s.noEHLO = true
	s.refuse["nobody@example.com"] = true
	s.start()
	m := Message{From: "lb1@example.com", To: []string{"nobody@example.com", "ops@example.com"}, Subject: "s", Body: "b\n"}
	err := Server{Addr: s.addr(), Timeout: 5 * time.Second, HeloName: "lb1"}.Send(context.Background(), m)
	if err == nil || !strings.Contains(err.Error(), `recipient "nobody@example.com"`) || !strings.Contains(err.Error(), "sent, but") {
		t.Fatalf("err = %v, want the refused recipient named and the message sent", err)
	}
	<-s.gotDone
	g := s.sessions()[0]
	if g.Helo != "HELO lb1" {
		t.Errorf("greeting %q, want the HELO fallback", g.Helo)
	}
	if diff := cmp.Diff([]string{"ops@example.com"}, g.Rcpt); diff != "" {
		t.Errorf("RCPT TO (-want +got)\n%s", diff)
	}
	if !g.Quit || g.Data == "" {
		t.Errorf("message not delivered: %+v", g)
	}
}

func TestSendEveryRecipientRefused(t *testing.T) {
	s := newSink(t)
	s.refuse["a@example.com"] = true
	s.start()
	err := Server{Addr: s.addr(), Timeout: 5 * time.Second}.Send(context.Background(),
		Message{From: "lb1@example.com", To: []string{"a@example.com"}, Subject: "s", Body: "b"})
	if !errors.Is(err, ErrNoRecipient) {
		t.Fatalf("err = %v, want ErrNoRecipient", err)
	}
	<-s.gotDone
	if g := s.sessions()[0]; g.Data != "" {
		t.Errorf("DATA sent with no recipient: %+v", g)
	}
}

func TestSendTimeout(t *testing.T) {
	s := newSink(t)
	s.silent = true // accepts, never greets
	s.start()
	start := time.Now()
	err := Server{Addr: s.addr(), Timeout: 200 * time.Millisecond}.Send(context.Background(),
		Message{From: "lb1@example.com", To: []string{"a@example.com"}})
	el := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "greeting") {
		t.Fatalf("err = %v, want a greeting timeout", err)
	}
	if el < 200*time.Millisecond || el > 3*time.Second {
		t.Errorf("gave up after %v, want the 200ms timeout", el)
	}
}

func TestSendConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = Server{Addr: addr, Timeout: time.Second}.Send(context.Background(),
		Message{From: "lb1@example.com", To: []string{"a@example.com"}})
	if err == nil || !strings.Contains(err.Error(), "connect to "+addr) {
		t.Fatalf("err = %v, want the connection error", err)
	}
}

func TestMessageHeaders(t *testing.T) {
	m := Message{
		From:    "lb1@example.com",
		To:      []string{"ops@example.com"},
		Subject: "[lb1]\r\nBcc: evil@example.com VRRP Instance é",
		Body:    "x\r\ny",
		Date:    time.Unix(0, 0).UTC(),
	}
	msg, body := parse(t, string(m.Bytes("h")))
	if msg.Header.Get("Bcc") != "" {
		t.Fatal("a line break in the subject made a header")
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "[lb1] Bcc: evil@example.com VRRP Instance é"; subj != want {
		t.Errorf("subject %q, want %q", subj, want)
	}
	if body != "x\r\ny\r\n" {
		t.Errorf("body %q", body)
	}
}

func TestQueue(t *testing.T) {
	var mu sync.Mutex
	var sent []string
	var results []string
	release := make(chan struct{})
	q := NewQueue(QueueOptions{
		Len: 2,
		Send: func(ctx context.Context, s Server, m Message) error {
			<-release
			mu.Lock()
			defer mu.Unlock()
			sent = append(sent, m.Subject)
			if m.Subject == "bad" {
				return errors.New("boom")
			}
			return nil
		},
		Result: func(r string) { mu.Lock(); results = append(results, r); mu.Unlock() },
	})
	// Not running yet: two fit, the third is dropped at once.
	for _, s := range []string{"one", "bad", "three"} {
		q.Enqueue(Server{}, Message{Subject: s})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx) }()
	close(release)
	cancel() // what is queued still goes out
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"one", "bad"}, sent); diff != "" {
		t.Errorf("sent (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]string{ResultDropped, ResultSent, ResultError}, results); diff != "" {
		t.Errorf("results (-want +got)\n%s", diff)
	}
}

func TestQueueFlushTimeCutsASession(t *testing.T) {
	var mu sync.Mutex
	var results []string
	q := NewQueue(QueueOptions{
		FlushTime: 100 * time.Millisecond,
		Send: func(ctx context.Context, s Server, m Message) error {
			<-ctx.Done() // a server that never answers
			return ctx.Err()
		},
		Result: func(r string) { mu.Lock(); results = append(results, r); mu.Unlock() },
	})
	q.Enqueue(Server{}, Message{Subject: "hangs"})
	q.Enqueue(Server{}, Message{Subject: "never tried"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := q.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 100*time.Millisecond || el > 2*time.Second {
		t.Errorf("Run returned after %v, want the 100ms flush time", el)
	}
	if diff := cmp.Diff([]string{ResultError, ResultDropped}, results); diff != "" {
		t.Errorf("results (-want +got)\n%s", diff)
	}
}

func TestStateChange(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600e6, time.UTC)
	base := StateChange{Node: "lb1", Instance: "VI_1", VRID: 51, Priority: 150, VIPs: []string{"192.0.2.100/24 dev eth0"}, At: at, Version: "1.0.0"}
	for _, tt := range []struct {
		from, to, subject, holds string
	}{
		{"BACKUP", "MASTER", "[lb1] VRRP Instance VI_1 - Entering MASTER state", "This director now holds the virtual addresses:"},
		{"MASTER", "BACKUP", "[lb1] VRRP Instance VI_1 - Entering BACKUP state", "This director does not hold the virtual addresses:"},
		{"MASTER", "FAULT", "[lb1] VRRP Instance VI_1 - Entering FAULT state", "This director does not hold the virtual addresses:"},
		{"MASTER", "STOP", "[lb1] VRRP Instance VI_1 - Stopping", "The instance is stopping; this director no longer holds the virtual addresses:"},
	} {
		t.Run(tt.to, func(t *testing.T) {
			c := base
			c.From, c.To = tt.from, tt.to
			if got := c.Subject(); got != tt.subject {
				t.Errorf("subject %q, want %q", got, tt.subject)
			}
			want := "tandem-director lb1: VRRP instance VI_1 (virtual_router_id 51, priority 150)\n" +
				"entered " + tt.to + " state (from " + tt.from + ") at 2026-01-02 03:04:05.600 UTC.\n\n" +
				tt.holds + "\n  192.0.2.100/24 dev eth0\n\n-- \ntandem-director 1.0.0\n"
			if diff := cmp.Diff(want, c.Body()); diff != "" {
				t.Errorf("body (-want +got)\n%s", diff)
			}
		})
	}
}
