package speakerproc

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/tandemlb/tandem/director/bgp"
)

// MaxMsg bounds one message's body: 64 peers with their passwords, or
// one route with its communities, take a few KiB.
const MaxMsg = 64 << 10

// The operations. The director sends start, announce, withdraw and stop,
// each with an ID; the process answers each with a reply of the same ID,
// and sends peers (no ID) whenever the sessions' states change.
const (
	OpStart    = "start"
	OpAnnounce = "announce"
	OpWithdraw = "withdraw"
	OpStop     = "stop"
	OpReply    = "reply"
	OpPeers    = "peers"
)

// Msg is one message either way: a 4-byte big-endian length, then that
// many bytes of JSON. The fields an Op does not use are empty.
type Msg struct {
	Op string `json:"op"`
	// ID: a request's number, echoed by its reply.
	ID uint64 `json:"id,omitempty"`
	// Config: start's configuration, peers' passwords included (the
	// pipe is the only way they reach the process).
	Config *bgp.SpeakerConfig `json:"config,omitempty"`
	// Route: announce's route.
	Route *bgp.Route `json:"route,omitempty"`
	// Prefix: withdraw's prefix.
	Prefix string `json:"prefix,omitempty"`
	// Err: a reply's error, empty for success.
	Err string `json:"err,omitempty"`
	// Peers: peers' states, in configuration order.
	Peers []bgp.PeerState `json:"peers,omitempty"`
}

// ErrTooLarge is the error of a message whose body is over MaxMsg.
var ErrTooLarge = errors.New("message over 64 KiB")

// WriteMsg writes m as one frame in one Write.
func WriteMsg(w io.Writer, m Msg) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.Op, err)
	}
	if len(body) > MaxMsg {
		return fmt.Errorf("encode %s: %d bytes: %w", m.Op, len(body), ErrTooLarge)
	}
	buf := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	buf = append(buf, body...)
	_, err = w.Write(buf)
	return err
}

// ReadMsg reads one frame; it reads no more than the frame's length, and
// never a length over MaxMsg. io.EOF means the stream ended between two
// frames, io.ErrUnexpectedEOF inside one.
func ReadMsg(r io.Reader) (Msg, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Msg{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxMsg {
		return Msg{}, fmt.Errorf("length %d: %w", n, ErrTooLarge)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Msg{}, err
	}
	var m Msg
	if err := json.Unmarshal(body, &m); err != nil {
		return Msg{}, fmt.Errorf("decode: %w", err)
	}
	if m.Op == "" {
		return Msg{}, errors.New("decode: no op")
	}
	return m, nil
}
