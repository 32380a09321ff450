package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

func nameServer(t *testing.T, name string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, name+"\n")
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestRun(t *testing.T) {
	ok := nameServer(t, "rs1")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
	}{
		{"ok", []string{"-target", ok, "-rate", "50", "-duration", "300ms", "-interval", "100ms", "-keepalive", "0.5", "-idle", "1", "-idle-every", "120ms", "-expect", "rs1,rs2"},
			0, []string{"t=0.1s ok rs1=", "ok 18,", "rs1  ", "keep-alive"}},
		{"wrong server", []string{"-target", ok, "-rate", "20", "-duration", "200ms", "-expect", "rs2"},
			1, []string{"wrong-server      4", "rs1 (wrong)"}},
		{"refused", []string{"-target", closedPort(t), "-rate", "20", "-duration", "200ms"},
			1, []string{"refused      4"}},
		{"probe", []string{"-target", ok, "-probe", "-duration", "1s"},
			0, []string{"first success"}},
		{"probe fails", []string{"-target", closedPort(t), "-probe", "-duration", "100ms"},
			1, []string{"refused"}},
		{"bad flag", []string{"-rate", "x"}, 2, nil},
		{"bad config", []string{"-target", "nowhere"}, 2, nil},
		{"extra args", []string{"-target", ok, "more"}, 2, nil},
		{"no netns", []string{"-target", ok, "-netns", "tandem-no-such-netns"}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errb)
			t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
			if code != tt.wantCode {
				t.Errorf("exit status %d, want %d", code, tt.wantCode)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q", w)
				}
			}
		})
	}
}

// TestNetnsLoadgenCLI dials from a lab host's named namespace (-netns).
func TestNetnsLoadgenCLI(t *testing.T) {
	testutil.Netns(t)
	lab, err := netlab.New(t, netlab.Spec{Hosts: []netlab.HostSpec{
		{Name: "client", Addr: "10.99.0.10/24"},
		{Name: "s1", Addr: "10.99.0.11/24"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := lab.Listen("s1", "tcp4", "0.0.0.0:80")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Server", "s1")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"-netns", lab.NetnsName("client"), "-target", "10.99.0.11:80",
		"-rate", "50", "-duration", "400ms", "-expect", "s1"}, &out, &errb)
	t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	if code != 0 || !strings.Contains(out.String(), "ok 20,") {
		t.Errorf("exit status %d, want 0 and 20 OK requests", code)
	}
}
