package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func seriesCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 16)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}

// TestServiceFingerprint: one series a service, replaced when its
// fingerprint changes, gone with the service.
func TestServiceFingerprint(t *testing.T) {
	m := New()
	m.SetServiceFingerprint("TCP 192.0.2.100:80", "00000000000000aa")
	m.SetServiceFingerprint("TCP 192.0.2.100:443", "00000000000000bb")
	m.SetServiceFingerprint("TCP 192.0.2.100:80", "00000000000000cc")
	m.SetServiceFingerprint("TCP 192.0.2.100:80", "00000000000000cc")
	if n := seriesCount(m.ServiceFingerprint); n != 2 {
		t.Errorf("%d series, want 2 (one a service)", n)
	}
	if _, ok := m.ServiceFingerprint.Existing("TCP 192.0.2.100:80", "00000000000000aa"); ok {
		t.Error("the replaced fingerprint is still exposed")
	}
	if _, ok := m.ServiceFingerprint.Existing("TCP 192.0.2.100:80", "00000000000000cc"); !ok {
		t.Error("the new fingerprint is not exposed")
	}
	m.ForgetService("TCP 192.0.2.100:80")
	if n := seriesCount(m.ServiceFingerprint); n != 1 {
		t.Errorf("%d series after ForgetService, want 1", n)
	}
}
