package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/tandemlb/tandem/e2e/netlab"
)

// The lab: a client and two directors on one bridge (in a namespace of its
// own); the VIP is served by a small HTTP server in each director's
// namespace, bound to 0.0.0.0, so whoever holds the VIP answers.
var (
	vip     = netip.MustParsePrefix("10.99.0.100/24")
	vipURL  = "http://10.99.0.100/"
	dirAddr = map[string]netip.Addr{"d1": netip.MustParseAddr("10.99.0.1"), "d2": netip.MustParseAddr("10.99.0.2")}
)

// Timing of a measurement.
const (
	probeEvery   = 10 * time.Millisecond
	probeTimeout = 200 * time.Millisecond // no TCP retransmission fits in it
	baseline     = 300 * time.Millisecond // probing before the event
	recoverBy    = 10 * time.Second       // "the VIP never came back" after this
	afterwards   = 300 * time.Millisecond // probing after recovery: must stay up
	stableBy     = 20 * time.Second       // for the initial roles
	overlapOK    = 150 * time.Millisecond // two holders while the restarted master preempts
)

type bench struct {
	lab        *netlab.Lab
	dir        string
	self       string
	keyHex     string
	interval   time.Duration
	mult       int
	binary     string
	binaryArgs []string
	client     *http.Client
	nl         map[string]*netlink.Handle
	logf       func(format string, args ...any)
}

func newBench(b *bench) (*bench, error) {
	spec := netlab.Spec{Hosts: []netlab.HostSpec{
		{Name: "client", Addr: "10.99.0.10/24"},
		{Name: "d1", Addr: "10.99.0.1/24"},
		{Name: "d2", Addr: "10.99.0.2/24"},
	}}
	lab, err := netlab.New(nil, spec)
	if err != nil {
		return nil, err
	}
	b.lab = lab
	b.nl = map[string]*netlink.Handle{}
	for _, h := range []string{"d1", "d2", "sw"} {
		nl, err := lab.Netlink(h)
		if err != nil {
			lab.Close()
			return nil, err
		}
		b.nl[h] = nl
	}
	for _, h := range []string{"d1", "d2"} {
		ln, err := lab.Listen(h, "tcp4", "0.0.0.0:80")
		if err != nil {
			lab.Close()
			return nil, err
		}
		name := h
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) }),
			ReadHeaderTimeout: time.Second}
		go srv.Serve(ln)
	}
	b.client = lab.HTTPClient("client", probeTimeout)
	return b, nil
}

// holds reports whether host has the VIP on eth0.
func (b *bench) holds(host string) bool {
	nl := b.nl[host]
	link, err := nl.LinkByName("eth0")
	if err != nil {
		return false
	}
	addrs, err := nl.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == vip.Addr() {
			return true
		}
	}
	return false
}

// get asks the VIP who answers: the director's name, or "" on failure.
func (b *bench) get(ctx context.Context) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, vipURL, nil)
	if err != nil {
		return ""
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return strings.TrimSpace(string(body))
}

// plug sets the switch port of host up or down: down is a dead machine.
func (b *bench) plug(host string, up bool) error {
	l, err := b.nl["sw"].LinkByName(host + "-eth0")
	if err != nil {
		return err
	}
	if up {
		return b.nl["sw"].LinkSetUp(l)
	}
	return b.nl["sw"].LinkSetDown(l)
}

// dropVIP removes a leftover VIP from a dead host (its reboot).
func (b *bench) dropVIP(host string) error {
	nl := b.nl[host]
	link, err := nl.LinkByName("eth0")
	if err != nil {
		return err
	}
	err = nl.AddrDel(link, &netlink.Addr{IPNet: &net.IPNet{IP: vip.Addr().AsSlice(), Mask: net.CIDRMask(vip.Bits(), 32)}})
	if err != nil && b.holds(host) {
		return err
	}
	return nil
}

// probe is one request through the VIP.
type probe struct {
	start time.Time
	by    string // who answered; "" failed
}

// prober sends a request every probeEvery, each on a new connection with
// probeTimeout, until stopped.
type prober struct {
	mu      sync.Mutex
	results []probe
	stop    chan struct{}
	done    sync.WaitGroup
}

func (b *bench) startProber() *prober {
	p := &prober{stop: make(chan struct{})}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(probeEvery)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
			p.done.Add(1)
			go func(start time.Time) {
				defer p.done.Done()
				ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
				defer cancel()
				by := b.get(ctx)
				p.mu.Lock()
				p.results = append(p.results, probe{start: start, by: by})
				p.mu.Unlock()
			}(time.Now())
		}
	}()
	return p
}

func (p *prober) finish() []probe {
	close(p.stop)
	p.done.Wait()
	return p.snapshot()
}

func (p *prober) snapshot() []probe {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]probe(nil), p.results...)
}

// recovered returns the start of the first probe begun at or after since
// that the new master answered.
func recovered(ps []probe, since time.Time, by string) (time.Time, bool) {
	var first time.Time
	for _, p := range ps {
		if p.by == by && !p.start.Before(since) && (first.IsZero() || p.start.Before(first)) {
			first = p.start
		}
	}
	return first, !first.IsZero()
}

// monitor polls both directors for the VIP every 10 ms and records every
// sample where both live hosts hold it.
type monitor struct {
	b        *bench
	mu       sync.Mutex
	dead     map[string]bool
	tolerant bool   // a restarted master is preempting: short overlaps allowed
	rec      *trace // when set, every sample is recorded in it
	overlap  time.Time
	bad      []string
	stop     chan struct{}
	done     chan struct{}
}

func (b *bench) startMonitor() *monitor {
	m := &monitor{b: b, dead: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
			m.mu.Lock()
			d1, d2 := !m.dead["d1"], !m.dead["d2"]
			recording := m.rec != nil
			m.mu.Unlock()
			var both bool
			var h1, h2 bool
			if recording {
				h1, h2 = d1 && b.holds("d1"), d2 && b.holds("d2")
				both = h1 && h2
			} else {
				both = d1 && d2 && b.holds("d1") && b.holds("d2")
			}
			now := time.Now()
			m.mu.Lock()
			if recording && m.rec != nil {
				m.rec.samples = append(m.rec.samples, sample{at: now, d1: h1, d2: h2})
			}
			switch {
			case both && m.overlap.IsZero():
				m.overlap = now
			case !both && !m.overlap.IsZero():
				if d := now.Sub(m.overlap); !m.tolerant || d > overlapOK {
					m.bad = append(m.bad, fmt.Sprintf("%s: both directors held the VIP for %v", m.overlap.Format("15:04:05.000"), d.Round(time.Millisecond)))
				}
				m.overlap = time.Time{}
			}
			m.mu.Unlock()
		}
	}()
	return m
}

func (m *monitor) set(f func(m *monitor)) { m.mu.Lock(); f(m); m.mu.Unlock() }

// take returns and clears the violations.
func (m *monitor) take() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	bad := m.bad
	if !m.overlap.IsZero() && (!m.tolerant || time.Since(m.overlap) > overlapOK) {
		bad = append(bad, fmt.Sprintf("%s: both directors hold the VIP", m.overlap.Format("15:04:05.000")))
	}
	m.bad = nil
	return bad
}

func (m *monitor) close() { close(m.stop); <-m.done }
