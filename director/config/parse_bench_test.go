package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bigKeepalived is the reconcile benchmark's keepalived.conf: n services
// × 10 real servers without checks.
func bigKeepalived(n int) []byte {
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id bench\n}\n")
	for i := range n {
		fmt.Fprintf(&b, "\nvirtual_server 198.18.%d.%d 80 {\n    lb_algo wlc\n    lb_kind DR\n    protocol TCP\n", i/250, i%250+1)
		for j := range 10 {
			fmt.Fprintf(&b, "    real_server 198.19.0.%d 80 {\n        weight 1\n    }\n", j+1)
		}
		b.WriteString("}\n")
	}
	return []byte(b.String())
}

// bigNative is bigKeepalived's table in the native format.
func bigNative(n int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\nnode: bench\nheartbeat:\n  enabled: false\nvirtual_servers:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - address: 198.18.%d.%d:80\n    protocol: TCP\n    lvs_sched: wlc\n    real_servers:\n", i/250, i%250+1)
		for j := range 10 {
			fmt.Fprintf(&b, "      - address: 198.19.0.%d:80\n        weight: 1\n", j+1)
		}
	}
	return []byte(b.String())
}

// BenchmarkLoad1000x10 is a Loader's first Load of 1,000 services × 10
// real servers (read, parse, validate), in each format; and a second Load
// of the keepalived.conf with one weight changed (the reload's read, the
// cache taking every other block).
func BenchmarkLoad1000x10(b *testing.B) {
	dir := b.TempDir()
	for _, f := range []struct {
		name string
		data []byte
	}{{"keepalived", bigKeepalived(1000)}, {"native", bigNative(1000)}} {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, f.data, 0o644); err != nil {
			b.Fatal(err)
		}
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				cfg, err := (&Loader{}).Load(path)
				if err != nil {
					b.Fatal(err)
				}
				if n := len(cfg.Services); n != 1000 {
					b.Fatalf("%d services", n)
				}
			}
		})
	}
	b.Run("keepalived-reload", func(b *testing.B) {
		path := filepath.Join(dir, "reload")
		texts := [2][]byte{bigKeepalived(1000), []byte(strings.Replace(string(bigKeepalived(1000)), "weight 1", "weight 2", 1))}
		l := &Loader{}
		if err := os.WriteFile(path, texts[0], 0o644); err != nil {
			b.Fatal(err)
		}
		if _, err := l.Load(path); err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			i++
			b.StopTimer()
			if err := os.WriteFile(path, texts[i%2], 0o644); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := l.Load(path); err != nil {
				b.Fatal(err)
			}
		}
	})
}
