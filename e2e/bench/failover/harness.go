package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/tandemlb/tandem/director/peerwatch"
	"github.com/tandemlb/tandem/director/vrrp"
)

// harnessArg makes the benchmark binary a Tandem director (VRRP with the
// peer probe) instead of the benchmark: `failover harness JSON`. It is
// the packages alone, without the daemon around them (tandem-bin-ff is the
// daemon).
const harnessArg = "harness"

// harnessConfig is the harness's input.
type harnessConfig struct {
	Name     string
	VRRP     vrrp.InstanceConfig
	Probe    bool // run the peer probe
	KeyHex   string
	Interval time.Duration
	Mult     int
}

// harnessMain runs one VRRP instance and, with Probe, the peer watcher,
// both under one context that SIGTERM ends (the driver releases the VIPs
// and sends priority 0; the watcher then says goodbye).
func harnessMain(js string) int {
	var hc harnessConfig
	if err := json.Unmarshal([]byte(js), &hc); err != nil {
		fmt.Fprintln(os.Stderr, "harness config:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d, err := vrrp.NewDriver(hc.VRRP, vrrp.Options{Logger: log})
	if err != nil {
		log.Error("vrrp", "err", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var wg sync.WaitGroup
	if hc.Probe {
		key, err := hex.DecodeString(hc.KeyHex)
		if err != nil {
			log.Error("key", "err", err)
			return 2
		}
		w, err := peerwatch.New(peerwatch.Options{Name: hc.Name, Key: key, Interface: hc.VRRP.Interface,
			Session:   peerwatch.Config{TxInterval: hc.Interval, DetectMult: hc.Mult},
			Instances: []peerwatch.Binding{{VRRP: d, NoPreempt: hc.VRRP.Nopreempt}}, Logger: log})
		if err != nil {
			log.Error("peerwatch", "err", err)
			return 2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(ctx); err != nil {
				log.Error("peerwatch", "err", err)
			}
		}()
	}
	if err := d.Run(ctx); err != nil {
		log.Error("vrrp run", "err", err)
		return 1
	}
	wg.Wait()
	return 0
}
