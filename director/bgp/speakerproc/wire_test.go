package speakerproc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tandemlb/tandem/director/bgp"
)

// TestWireRoundTrip: every kind of message through an io.Pipe comes out
// as it went in.
func TestWireRoundTrip(t *testing.T) {
	cfg := bgp.SpeakerConfig{LocalAS: 65001, RouterID: netip.MustParseAddr("10.0.0.1"), Peers: []bgp.PeerConfig{
		{Addr: netip.MustParseAddr("192.0.2.1"), AS: 65000, Password: "secret", HoldTime: 9 * time.Second, MultihopTTL: 2},
		{Addr: netip.MustParseAddr("2001:db8::1"), AS: 65000, Port: 1179},
	}}
	since := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	msgs := []Msg{
		{Op: OpStart, ID: 1, Config: &cfg},
		{Op: OpAnnounce, ID: 2, Route: &bgp.Route{Prefix: netip.MustParsePrefix("192.0.2.10/32"), Communities: []bgp.Community{65001<<16 | 7, bgp.GracefulShutdown}}},
		{Op: OpWithdraw, ID: 3, Prefix: "2001:db8::10/128"},
		{Op: OpStop, ID: 4},
		{Op: OpReply, ID: 3, Err: "bgp: withdraw: no"},
		{Op: OpPeers, Peers: []bgp.PeerState{{Addr: netip.MustParseAddr("192.0.2.1"), AS: 65000, State: "established", Established: true, Since: since}}},
	}
	pr, pw := io.Pipe()
	go func() {
		for _, m := range msgs {
			if err := WriteMsg(pw, m); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.Close()
	}()
	for i, want := range msgs {
		got, err := ReadMsg(pr)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if diff := cmp.Diff(want, got, cmpAddrs); diff != "" {
			t.Errorf("message %d (-want +got):\n%s", i, diff)
		}
	}
	if _, err := ReadMsg(pr); err != io.EOF {
		t.Errorf("after the last message: %v, want io.EOF", err)
	}
}

var cmpAddrs = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

func frame(n uint32, body string) []byte {
	b := binary.BigEndian.AppendUint32(nil, n)
	return append(b, body...)
}

// countingReader counts what is read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestWireBounds: a length over MaxMsg is refused before any of the body
// is read; a cut frame, a body that is not JSON or has no op are errors.
func TestWireBounds(t *testing.T) {
	cr := &countingReader{r: io.MultiReader(bytes.NewReader(frame(MaxMsg+1, "")), strings.NewReader(strings.Repeat("x", 1<<20)))}
	if _, err := ReadMsg(cr); !errors.Is(err, ErrTooLarge) {
		t.Errorf("length MaxMsg+1: %v, want ErrTooLarge", err)
	}
	if cr.n > 4+MaxMsg {
		t.Errorf("read %d bytes of a refused frame", cr.n)
	}
	for _, tt := range []struct {
		name string
		in   []byte
		want string
	}{
		{"cut header", []byte{0, 0}, "unexpected EOF"},
		{"cut body", frame(10, `{"op":`), "unexpected EOF"},
		{"not json", frame(3, "abc"), "decode"},
		{"no op", frame(2, "{}"), "no op"},
	} {
		_, err := ReadMsg(bytes.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	var buf bytes.Buffer
	if err := WriteMsg(&buf, Msg{Op: OpReply, Err: strings.Repeat("e", MaxMsg)}); !errors.Is(err, ErrTooLarge) || buf.Len() != 0 {
		t.Errorf("writing over MaxMsg: %v, %d bytes written", err, buf.Len())
	}
	// Exactly MaxMsg passes.
	m := Msg{Op: OpReply}
	body := `{"op":"reply","err":""}`
	m.Err = strings.Repeat("e", MaxMsg-len(body))
	if err := WriteMsg(&buf, m); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadMsg(&buf); err != nil || got.Err != m.Err {
		t.Errorf("a message of MaxMsg bytes: %v", err)
	}
}

func FuzzReadMsg(f *testing.F) {
	f.Add(frame(2, "{}"))
	f.Add(frame(15, `{"op":"reply"}`))
	f.Add(frame(MaxMsg+1, ""))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ReadMsg(bytes.NewReader(b))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteMsg(&buf, m); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadMsg(&buf); err != nil {
			t.Fatal(err)
		}
	})
}
