//go:build !linux

package agents

import "net"

// newMmsg: recvmmsg and sendmmsg are called directly on Linux only
// (mmsg_linux.go); elsewhere x/net's batches serve.
func newMmsg(*net.UDPConn) batchConn { return nil }
