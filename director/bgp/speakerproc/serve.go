package speakerproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/tandemlb/tandem/director/bgp"
)

// NewSpeaker builds the speaker a start request configures.
type NewSpeaker func(cfg bgp.SpeakerConfig, log *slog.Logger) (bgp.Speaker, error)

// stopTimeout bounds the speaker's Stop when the director has gone.
const stopTimeout = 10 * time.Second

// Serve is the process side: it reads the director's requests from in,
// performs them on the speaker mk builds at start, and writes the replies
// and the peers' states to out. It returns nil after a stop request or
// when in ends (the director has gone: the speaker is stopped, a CEASE
// to every peer), and an error when in carries something that is not a
// message (the speaker stopped too).
func Serve(in io.Reader, out io.Writer, mk NewSpeaker, log *slog.Logger) error {
	s := &server{out: out, log: log, done: make(chan struct{})}
	defer close(s.done)
	for {
		m, err := ReadMsg(in)
		if err != nil {
			s.stop()
			if errors.Is(err, io.EOF) {
				log.Info("bgp speaker: the director closed the pipe")
				return nil
			}
			return fmt.Errorf("read request: %w", err)
		}
		var rerr error
		switch m.Op {
		case OpStart:
			rerr = s.start(m.Config, mk)
		case OpAnnounce:
			switch {
			case s.spk == nil:
				rerr = errors.New("not started")
			case m.Route == nil:
				rerr = errors.New("announce without a route")
			default:
				rerr = s.spk.Announce(context.Background(), *m.Route)
			}
		case OpWithdraw:
			var p netip.Prefix
			if p, rerr = netip.ParsePrefix(m.Prefix); rerr == nil {
				if s.spk == nil {
					rerr = errors.New("not started")
				} else {
					rerr = s.spk.Withdraw(context.Background(), p)
				}
			}
		case OpStop:
			rerr = s.stop()
		default:
			rerr = fmt.Errorf("unknown op %q", m.Op)
		}
		reply := Msg{Op: OpReply, ID: m.ID}
		if rerr != nil {
			reply.Err = rerr.Error()
		}
		if err := s.write(reply); err != nil {
			s.stop()
			return fmt.Errorf("write reply: %w", err)
		}
		if m.Op == OpStop {
			return nil
		}
	}
}

type server struct {
	log  *slog.Logger
	spk  bgp.Speaker
	done chan struct{} // closed when Serve returns: the watcher ends

	mu  sync.Mutex // serialises writes to out
	out io.Writer
}

func (s *server) write(m Msg) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return WriteMsg(s.out, m)
}

func (s *server) start(cfg *bgp.SpeakerConfig, mk NewSpeaker) error {
	if s.spk != nil {
		return errors.New("already started")
	}
	if cfg == nil {
		return errors.New("start without a config")
	}
	spk, err := mk(*cfg, s.log)
	if err != nil {
		return err
	}
	if err := spk.Start(context.Background()); err != nil {
		return err
	}
	s.spk = spk
	go s.watch(spk)
	return nil
}

// watch sends the peers' states at every change; changes that come while
// a message is being written are coalesced into the next one.
func (s *server) watch(spk bgp.Speaker) {
	for {
		ch := spk.Changed()
		if err := s.write(Msg{Op: OpPeers, Peers: spk.Peers()}); err != nil {
			s.log.Warn("bgp speaker: write peers", "err", err)
			return
		}
		select {
		case <-ch:
		case <-s.done:
			return
		}
	}
}

func (s *server) stop() error {
	if s.spk == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err := s.spk.Stop(ctx)
	s.spk = nil
	return err
}
