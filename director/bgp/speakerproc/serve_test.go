package speakerproc

import (
	"bytes"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/director/bgp"
	"github.com/tandemlb/tandem/director/bgp/bgptest"
)

var (
	peer4   = netip.MustParseAddr("192.0.2.1")
	peer6   = netip.MustParseAddr("2001:db8::1")
	testCfg = bgp.SpeakerConfig{LocalAS: 65001, RouterID: netip.MustParseAddr("10.0.0.1"), Peers: []bgp.PeerConfig{
		{Addr: peer4, AS: 65000, Password: "secret"}, {Addr: peer6, AS: 65000},
	}}
)

// TestServe: Serve on the fake speaker through two io.Pipes: each request
// is performed and answered with its ID, errors as the reply's Err, the
// peers' states sent at each change; a stop request stops the speaker and
// ends Serve.
func TestServe(t *testing.T) {
	reqR, reqW := io.Pipe()
	repR, repW := io.Pipe()
	fake := bgptest.New(peer4, peer6)
	var gotCfg bgp.SpeakerConfig
	mk := func(cfg bgp.SpeakerConfig, _ *slog.Logger) (bgp.Speaker, error) {
		gotCfg = cfg
		return fake, nil
	}
	served := make(chan error, 1)
	go func() { served <- Serve(reqR, repW, mk, slog.New(slog.DiscardHandler)); repW.Close() }()

	send := func(m Msg) {
		t.Helper()
		if err := WriteMsg(reqW, m); err != nil {
			t.Fatal(err)
		}
	}
	// next returns the next reply, passing over peer states into *peers.
	var peers [][]bgp.PeerState
	next := func() Msg {
		t.Helper()
		for {
			m, err := ReadMsg(repR)
			if err != nil {
				t.Fatal(err)
			}
			if m.Op == OpPeers {
				peers = append(peers, m.Peers)
				continue
			}
			return m
		}
	}
	send(Msg{Op: OpAnnounce, ID: 1, Route: &bgp.Route{Prefix: netip.MustParsePrefix("192.0.2.10/32")}})
	if m := next(); m.ID != 1 || !strings.Contains(m.Err, "not started") {
		t.Errorf("announce before start: %+v", m)
	}
	cfg := testCfg
	send(Msg{Op: OpStart, ID: 2, Config: &cfg})
	if m := next(); m.ID != 2 || m.Err != "" {
		t.Errorf("start: %+v", m)
	}
	if diff := cmp.Diff(testCfg, gotCfg, cmpAddrs); diff != "" {
		t.Errorf("config given to the speaker (-want +got):\n%s", diff)
	}
	// The change reaches the director on its own (no request pending):
	// read until it comes, so that the stop below cannot overtake it.
	fake.SetPeer(peer4, true)
	for len(peers) == 0 || !peers[len(peers)-1][0].Established {
		m, err := ReadMsg(repR)
		if err != nil {
			t.Fatal(err)
		}
		if m.Op != OpPeers {
			t.Fatalf("a reply with no request pending: %+v", m)
		}
		peers = append(peers, m.Peers)
	}
	send(Msg{Op: OpAnnounce, ID: 3, Route: &bgp.Route{Prefix: netip.MustParsePrefix("192.0.2.10/32"), Communities: []bgp.Community{7}}})
	if m := next(); m.ID != 3 || m.Err != "" {
		t.Errorf("announce: %+v", m)
	}
	send(Msg{Op: OpWithdraw, ID: 4, Prefix: "not a prefix"})
	if m := next(); m.ID != 4 || m.Err == "" {
		t.Errorf("withdraw of a bad prefix: %+v", m)
	}
	send(Msg{Op: OpWithdraw, ID: 5, Prefix: "2001:db8::10/128"})
	if m := next(); m.ID != 5 || m.Err != "" {
		t.Errorf("withdraw: %+v", m)
	}
	send(Msg{Op: "bogus", ID: 6})
	if m := next(); m.ID != 6 || !strings.Contains(m.Err, `unknown op "bogus"`) {
		t.Errorf("unknown op: %+v", m)
	}
	send(Msg{Op: OpStop, ID: 7})
	if m := next(); m.ID != 7 || m.Err != "" {
		t.Errorf("stop: %+v", m)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	want := []string{"start", "announce 192.0.2.10/32 0:7", "withdraw 2001:db8::10/128", "stop"}
	if diff := cmp.Diff(want, fake.Ops()); diff != "" {
		t.Errorf("speaker's ops (-want +got):\n%s", diff)
	}
	if len(peers) == 0 || !peers[len(peers)-1][0].Established {
		t.Errorf("peer states sent: %+v; want the last with %v established", peers, peer4)
	}
}

// TestServeEOF: the end of the requests (the director gone) stops the
// speaker; garbage is an error, and stops it too.
func TestServeEOF(t *testing.T) {
	for _, tt := range []struct {
		name    string
		trailer []byte
		wantErr bool
	}{
		{"eof", nil, false},
		{"garbage", frame(MaxMsg+1, ""), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var in bytes.Buffer
			cfg := testCfg
			if err := WriteMsg(&in, Msg{Op: OpStart, ID: 1, Config: &cfg}); err != nil {
				t.Fatal(err)
			}
			in.Write(tt.trailer)
			fake := bgptest.New(peer4, peer6)
			mk := func(bgp.SpeakerConfig, *slog.Logger) (bgp.Speaker, error) { return fake, nil }
			err := Serve(&in, io.Discard, mk, slog.New(slog.DiscardHandler))
			if (err != nil) != tt.wantErr {
				t.Errorf("Serve: %v", err)
			}
			if !fake.Stopped() {
				t.Error("speaker not stopped")
			}
		})
	}
}

// TestRelog: the process's JSON lines are logged with their level,
// message and attributes; other lines at Warn; a long line is cut.
func TestRelog(t *testing.T) {
	in := strings.Join([]string{
		`{"time":"2025-01-01T00:00:00Z","level":"WARN","msg":"bgp session","peer":"192.0.2.1","to":"idle"}`,
		`{"level":"DEBUG","msg":"quiet"}`,
		`panic: oops`,
		strings.Repeat("x", maxLogLine+100),
		`{"level":"INFO","msg":"after"}`,
	}, "\n") + "\n"
	var out bytes.Buffer
	relog(strings.NewReader(in), slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4:\n%s", len(lines), out.String())
	}
	if want := `level=WARN msg="bgp session" peer=192.0.2.1 to=idle`; lines[0] != want {
		t.Errorf("line 1:\n got %s\nwant %s", lines[0], want)
	}
	if want := `level=WARN msg="bgp speaker process" line="panic: oops" cut=false`; lines[1] != want {
		t.Errorf("line 2:\n got %s\nwant %s", lines[1], want)
	}
	if !strings.Contains(lines[2], "cut=true") || len(lines[2]) > maxLogLine+100 {
		t.Errorf("line 3 (cut): %d bytes: %.80s…", len(lines[2]), lines[2])
	}
	if want := `level=INFO msg=after`; lines[3] != want {
		t.Errorf("line 4:\n got %s\nwant %s", lines[3], want)
	}
}
