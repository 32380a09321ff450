package cli_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestNetnsTwoKeepalivedDirectors: two directors from keepalived.confs,
// each in its own network namespace, with nothing but --config: no
// heartbeat key (the agent listener is off, said once at start and by
// status and doctor), and each on the default control socket of its
// namespace, which `status` run in that namespace finds. A third director
// on a socket a live one answers on refuses to start.
func TestNetnsTwoKeepalivedDirectors(t *testing.T) {
	r := newDRig(t)
	if _, err := os.Stat(config.DefaultHeartbeatKeyFile); err == nil {
		t.Skipf("%s exists on this host: the test needs it absent", config.DefaultHeartbeatKeyFile)
	}
	hosts := []string{"lb1", "lb2"}
	confs := map[string]string{}
	procs := map[string]*netlab.Process{}
	for _, h := range hosts {
		confs[h] = r.write(h+".conf", fmt.Sprintf(vrrpOnly, h))
		p, err := r.lab.Start(h, r.bin, "run", "--config", confs[h])
		if err != nil {
			t.Fatal(err)
		}
		procs[h] = p
		t.Cleanup(func() { p.Stop(5 * time.Second) })
	}
	for _, h := range hosts {
		var fi syscall.Stat_t
		if err := syscall.Stat(r.lab.NetnsPath(h), &fi); err != nil {
			t.Fatal(err)
		}
		sock := fmt.Sprintf("/run/tandem-director/director-netns-%d.sock", fi.Ino)
		p := procs[h]
		testutil.WaitFor(10*time.Second, func() bool { return strings.Contains(p.Output(), `msg=ready`) })
		out := p.Output()
		if !strings.Contains(out, "msg=ready") || !strings.Contains(out, "socket="+sock) {
			t.Fatalf("%s: not ready on %s:\n%s", h, sock, out)
		}
		if n := strings.Count(out, "the agent heartbeat listener is OFF"); n != 1 || !strings.Contains(out, "openssl rand -hex 32 > "+config.DefaultHeartbeatKeyFile) {
			t.Errorf("%s: %d warnings of the missing key, want 1 with the command that creates it:\n%s", h, n, out)
		}

		// status in the namespace, with the file and without it.
		for _, args := range [][]string{{"--config", confs[h], "status"}, {"--config", "/nonexistent", "status"}} {
			text, err := r.lab.Exec(h, append([]string{r.bin}, args...)...)
			if err != nil || !strings.Contains(text, "director "+h+":") ||
				!strings.Contains(text, "heartbeat: DISABLED: no heartbeat key: "+config.DefaultHeartbeatKeyFile+" does not exist") {
				t.Errorf("%s: %v: %v\n%s", h, args, err, text)
			}
		}
		text, _ := r.lab.Exec(h, r.bin, "--config", confs[h], "doctor")
		if !strings.Contains(text, "WARN  key:") || !strings.Contains(text, "runs without the agent heartbeat listener") {
			t.Errorf("%s: doctor:\n%s", h, text)
		}
		t.Logf("%s on %s", h, sock)
	}
	// The host's namespace has no daemon: its default socket is not theirs.
	if text, err := r.cli("--config", "/nonexistent", "status"); err == nil || !strings.Contains(text, "nothing listens on "+config.DefaultControlSocket) {
		t.Errorf("status in the host namespace: %v\n%s", err, text)
	}

	// A second director in lb1's namespace: refused, naming the socket
	// and --socket; lb1's keeps answering.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := r.lab.ExecContext(ctx, "lb1", r.bin, "run", "--config", confs["lb1"])
	if err == nil || !strings.Contains(out, "another tandem-director is running") || !strings.Contains(out, "--socket PATH") {
		t.Errorf("second director in lb1: %v\n%s", err, out)
	}
	if text, err := r.lab.Exec("lb1", r.bin, "status"); err != nil || !strings.Contains(text, "director lb1:") {
		t.Errorf("lb1 after the refused second director: %v\n%s", err, text)
	}
}
