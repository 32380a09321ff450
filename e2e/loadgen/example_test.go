package loadgen_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/shared/testutil"
)

// A run of 20 requests at 100/s, half of them over two keep-alive
// connections, against a server that names itself "rs1".
func ExampleRun() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "rs1\n")
	}))
	defer srv.Close()

	rep, err := loadgen.Run(context.Background(), loadgen.Config{
		Target: loadgen.Target{
			Addr:     srv.Listener.Addr().String(),
			Expected: []string{"rs1", "rs2"},
			// Dial: lab.DialContext("client") to send from a netlab host.
		},
		Rate:           100,
		Duration:       200 * time.Millisecond,
		KeepAliveRatio: 0.5,
		KeepAliveConns: 2,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ok:", rep.OK, "failed:", rep.Failed, "per server:", rep.PerServer)
	fmt.Println("keep-alive:", rep.ByKind[loadgen.KeepAliveConn].Sent, "requests over", rep.ByKind[loadgen.KeepAliveConn].Dials, "connections")
	// Output:
	// ok: 20 failed: 0 per server: map[rs1:20]
	// keep-alive: 10 requests over 2 connections
}

// Measuring a failover: traffic runs in the background, the scenario
// causes the event, and the report says how long requests failed after it.
func ExampleReport_OutageAfter() {
	failover := func() {} // e.g. stop the master director
	g, err := loadgen.New(loadgen.Config{
		Target:   loadgen.Target{Addr: "10.99.0.100:80", Expected: []string{"rs1", "rs2"}},
		Rate:     200,
		Duration: 10 * time.Second,
		OnSnapshot: func(s loadgen.Snapshot) {
			fmt.Println(s) // t=3.0s ok rs1=100 rs2=100 | failed 0 | ...
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan *loadgen.Report, 1)
	go func() {
		rep, _ := g.Run(context.Background())
		done <- rep
	}()
	testutil.Settle(3 * time.Second) // traffic before the event
	event := time.Now()
	failover()
	rep := <-done
	o := rep.Outage(event)
	fmt.Printf("%d failures, requests succeed again %v after the failover\n", o.Failures, o.Duration)
}
