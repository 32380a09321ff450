package gobgp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/tandemlb/tandem/director/bgp"
)

// startSpeaker starts a speaker of cfg that logs into the returned buffer;
// it is stopped when the test ends (a test may stop it before).
func startSpeaker(t *testing.T, cfg bgp.SpeakerConfig) (*Speaker, *bytes.Buffer) {
	t.Helper()
	logs := &bytes.Buffer{}
	sp, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(&syncWriter{w: logs}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Stop(context.Background()) })
	return sp, logs
}

// allEstablished reports whether every session of sp is established.
func allEstablished(sp *Speaker) func() bool {
	return func() bool {
		for _, p := range sp.Peers() {
			if !p.Established {
				return false
			}
		}
		return true
	}
}

// syncWriter serialises writes (slog handlers write from GoBGP's
// goroutines) and reads.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// listeningPorts returns the local addresses of this process's listening
// TCP sockets (from /proc/self/net/tcp{,6}, matched to our descriptors).
func listeningPorts(t *testing.T) []string {
	t.Helper()
	mine := map[string]bool{}
	fds, err := filepath.Glob("/proc/self/fd/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, f := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) > 9 && fs[3] == "0A" && mine[fs[9]] {
				out = append(out, fs[1])
			}
		}
		fh.Close()
	}
	slices.Sort(out)
	return out
}

// peerAccepted describes the speaker's peers' Adj-RIB-In counters: "addr
// received N accepted M", one a family.
func peerAccepted(g *Speaker) string {
	var b strings.Builder
	_ = g.srv.ListPeer(context.Background(), &api.ListPeerRequest{}, func(p *api.Peer) {
		for _, af := range p.AfiSafis {
			if af.State != nil {
				fmt.Fprintf(&b, "%s received %d accepted %d; ", p.Conf.NeighborAddress, af.State.Received, af.State.Accepted)
			}
		}
	})
	return b.String()
}
