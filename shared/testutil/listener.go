package testutil

import (
	"net"
	"testing"
)

// TCPAcceptor listens on 127.0.0.1 at a free port and accepts and closes
// every connection until the test ends: an application a TCP health check
// finds up.
func TCPAcceptor(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}
