package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// eofWait bounds the wait for the server's FIN after the answer on a
// "Connection: close" connection.
const eofWait = 100 * time.Millisecond

// client is a minimal HTTP/1.1 client: one GET at a time on a connection,
// no retries, no pooling of its own.
type client struct {
	t        Target
	reqClose []byte // the request with "Connection: close"
	reqKeep  []byte // the request for a persistent connection
}

func newClient(t Target) *client {
	req := func(extra string) []byte {
		return fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tandem-loadgen\r\nAccept: */*\r\n%s\r\n", t.Path, t.Host, extra)
	}
	return &client{t: t, reqClose: req("Connection: close\r\n"), reqKeep: req("")}
}

// conn is one client connection.
type conn struct {
	nc net.Conn
	br *bufio.Reader
	id uint32
}

func (c *conn) close() { _ = c.nc.Close() }

// answer is what a server said.
type answer struct {
	status   int
	server   string
	reusable bool      // the connection may carry another request
	done     time.Time // when the whole answer was read
}

// dial opens a connection; ctx carries the request's deadline.
func (cl *client) dial(ctx context.Context, id uint32) (*conn, error) {
	nc, err := cl.t.Dial(ctx, "tcp", cl.t.Addr)
	if err != nil {
		return nil, err
	}
	return &conn{nc: nc, br: bufio.NewReaderSize(nc, 4096), id: id}, nil
}

// exchange sends one GET on c and reads the answer, within ctx's deadline;
// cancelling ctx interrupts it. With closeConn the request asks the server
// to close, and exchange waits briefly for that close so that the server,
// not the client, holds the TIME_WAIT.
func (cl *client) exchange(ctx context.Context, c *conn, closeConn bool) (answer, error) {
	deadline, _ := ctx.Deadline()
	if err := c.nc.SetDeadline(deadline); err != nil {
		return answer{}, err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	ans, err := cl.exchangeOn(c, closeConn)
	if !stop() {
		// The deadline was forced into the past: the connection is done.
		ans.reusable = false
	}
	return ans, err
}

func (cl *client) exchangeOn(c *conn, closeConn bool) (answer, error) {
	req := cl.reqKeep
	if closeConn {
		req = cl.reqClose
	}
	if _, err := c.nc.Write(req); err != nil {
		return answer{}, fmt.Errorf("write request: %w", err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return answer{}, fmt.Errorf("read response: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return answer{}, fmt.Errorf("read body: %w", err)
	}
	ans := answer{status: resp.StatusCode, server: serverName(resp.Header.Get(cl.t.ServerHeader), body), done: time.Now()}
	// A longer body than we read, or a server that closes: not reusable.
	ans.reusable = !closeConn && !resp.Close && len(body) < maxBody
	if closeConn {
		_ = c.nc.SetReadDeadline(time.Now().Add(eofWait))
		_, _ = c.br.ReadByte()
	}
	return ans, nil
}

// serverName returns the server's name: the header's value when present,
// else the first line of the body; trimmed and at most maxNameLen bytes.
func serverName(header string, body []byte) string {
	name := strings.TrimSpace(header)
	if name == "" {
		line, _, _ := bytes.Cut(body, []byte("\n"))
		name = strings.TrimSpace(string(line))
	}
	if len(name) > maxNameLen {
		name = name[:maxNameLen]
	}
	return name
}
