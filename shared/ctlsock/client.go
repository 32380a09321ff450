package ctlsock

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// Client calls a daemon's control socket.
type Client struct {
	// Path is the socket path.
	Path string
	// Geteuid returns the effective uid; nil means os.Geteuid. Tests set it.
	Geteuid func() int
}

// Call sends op with args (nil for none) to the daemon at path and decodes
// the response's data into out (nil to ignore it). It fails with ErrNotRoot
// when not root, with ErrNoDaemon when nothing listens on path, and with a
// *RemoteError when the daemon reports a failure.
func Call(ctx context.Context, path, op string, args any, out any) error {
	return (&Client{Path: path}).Call(ctx, op, args, out)
}

// CallStream is Call for a streaming op: onLine gets each streamed value as
// raw JSON, in order (and the final data, if any). An error from onLine
// hangs up, which cancels the op in the daemon, and is returned.
func CallStream(ctx context.Context, path, op string, args any, onLine func(json.RawMessage) error) error {
	return (&Client{Path: path}).CallStream(ctx, op, args, onLine)
}

// Call is the package-level Call on c.Path.
func (c *Client) Call(ctx context.Context, op string, args any, out any) error {
	return c.do(ctx, op, args, func(raw json.RawMessage) error {
		return fmt.Errorf("op %s streams; use CallStream", op)
	}, func(data json.RawMessage) error {
		if out == nil || len(data) == 0 {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("op %s: decode response: %w", op, err)
		}
		return nil
	})
}

// CallStream is the package-level CallStream on c.Path.
func (c *Client) CallStream(ctx context.Context, op string, args any, onLine func(json.RawMessage) error) error {
	return c.do(ctx, op, args, onLine, func(data json.RawMessage) error {
		if len(data) == 0 {
			return nil
		}
		return onLine(data)
	})
}

func (c *Client) do(ctx context.Context, op string, args any, onLine, onData func(json.RawMessage) error) error {
	geteuid := c.Geteuid
	if geteuid == nil {
		geteuid = os.Geteuid
	}
	if geteuid() != 0 {
		return ErrNotRoot
	}
	req := Request{Op: op}
	if args != nil {
		a, err := json.Marshal(args)
		if err != nil {
			return fmt.Errorf("op %s: encode args: %w", op, err)
		}
		req.Args = a
	}
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("op %s: encode request: %w", op, err)
	}
	if len(b)+1 > MaxRequestSize {
		return fmt.Errorf("op %s: request of %d bytes, max %d", op, len(b)+1, MaxRequestSize)
	}

	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Path)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("%w: no socket at %s", ErrNoDaemon, c.Path)
		case errors.Is(err, syscall.ECONNREFUSED):
			return fmt.Errorf("%w: nothing listening on %s", ErrNoDaemon, c.Path)
		}
		return fmt.Errorf("control socket %s: %w", c.Path, err)
	}
	defer conn.Close()
	// Cancelling ctx unblocks reads and writes at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	ctxErr := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("op %s: %w", op, ctx.Err())
		}
		return err
	}

	// A daemon that refuses the request (not root, too large) may answer
	// and close before reading it: after a failed write, still read.
	_, werr := conn.Write(append(b, '\n'))
	r := bufio.NewReader(conn)
	for {
		line, err := readLine(r)
		if err != nil {
			switch {
			case werr != nil:
				err = fmt.Errorf("send request: %w", werr)
			case errors.Is(err, io.EOF):
				err = errors.New("daemon closed the connection without a response")
			}
			return ctxErr(fmt.Errorf("op %s: %w", op, err))
		}
		var f struct {
			OK    *bool           `json:"ok"`
			Error string          `json:"error"`
			Data  json.RawMessage `json:"data"`
			Line  json.RawMessage `json:"line"`
		}
		if err := json.Unmarshal(line, &f); err != nil {
			return fmt.Errorf("op %s: bad response line: %w", op, err)
		}
		if f.OK == nil {
			if err := onLine(f.Line); err != nil {
				return err
			}
			continue
		}
		if !*f.OK {
			return &RemoteError{Op: op, Msg: f.Error}
		}
		return onData(f.Data)
	}
}

// readLine reads one line of at most MaxLineSize bytes, without the newline.
func readLine(r *bufio.Reader) ([]byte, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > MaxLineSize {
			return nil, fmt.Errorf("response line longer than %d bytes", MaxLineSize)
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(b, []byte("\n")), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(b) > 0:
			return b, nil
		default:
			return nil, err
		}
	}
}
