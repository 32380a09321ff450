package vm_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/vm"
	"github.com/tandemlb/tandem/shared/testutil"
)

// lineLogger writes each line to the test log.
type lineLogger struct {
	t      testing.TB
	prefix string
}

func (l lineLogger) Write(p []byte) (int, error) {
	l.t.Logf("%s%s", l.prefix, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestVMRunShell boots the guest once with a shell command and checks what
// the harness promises: ip_vs loaded, env passed, output streamed, exit
// status carried back, the host root read-only underneath a writable
// overlay.
func TestVMRunShell(t *testing.T) {
	testutil.VM(t)
	script := `set -u
echo "hello $GREETING from $(uname -r)"
test "$TANDEM_IN_VM" = 1 || { echo "no TANDEM_IN_VM"; exit 10; }
test -e /proc/net/ip_vs || { echo "no ip_vs"; exit 11; }
touch /etc/tandem-vm-probe || { echo "overlay not writable"; exit 12; }
ip link add tvmbr0 type bridge || exit 13
nft list ruleset >/dev/null || exit 14
echo "pwd=$(pwd)"
exit 3`
	res, err := vm.Run(context.Background(), vm.Options{
		Command: []string{"/bin/sh", "-c", script},
		Env:     map[string]string{"GREETING": "it's me"},
		Dir:     "/etc",
		Timeout: 5 * time.Minute,
		Stdout:  lineLogger{t, "guest: "},
		Log:     lineLogger{t, ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel %s, accel %s, boot %v, wall %v", res.Kernel, res.Accel, res.Boot.Round(time.Millisecond), res.Wall.Round(time.Millisecond))
	out := string(res.Output)
	if !strings.Contains(out, "hello it's me from "+res.Kernel) {
		t.Errorf("output lacks the greeting:\n%s", out)
	}
	if !strings.Contains(out, "pwd=/etc") {
		t.Errorf("output lacks pwd=/etc:\n%s", out)
	}
	if res.ExitCode != 3 {
		t.Errorf("exit code %d, want 3; output:\n%s\nconsole:\n%s", res.ExitCode, out, res.Console)
	}
	if res.Boot <= 0 {
		t.Errorf("boot time not measured; console:\n%s", res.Console)
	}
}

// TestVMRunSystemd boots the host's systemd as PID 1 in the guest and runs
// the command from the oneshot unit.
func TestVMRunSystemd(t *testing.T) {
	testutil.VM(t)
	script := `echo "pid1=$(cat /proc/1/comm)"
echo "unit=$(systemctl show -p ActiveState --value tandem-vm.service)"
systemd-run --wait --quiet -p Type=oneshot /bin/true && echo "systemd-run ok"
test -e /proc/net/ip_vs && echo "ip_vs ok"`
	res, err := vm.Run(context.Background(), vm.Options{
		Command: []string{"/bin/sh", "-c", script},
		Systemd: true,
		Timeout: 5 * time.Minute,
		Stdout:  lineLogger{t, "guest: "},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("systemd guest: boot %v, wall %v", res.Boot.Round(time.Millisecond), res.Wall.Round(time.Millisecond))
	out := string(res.Output)
	for _, want := range []string{"pid1=systemd", "unit=activating", "systemd-run ok", "ip_vs ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s\nconsole:\n%s", want, out, res.Console)
		}
	}
	if res.ExitCode != 0 {
		t.Errorf("exit code %d; console:\n%s", res.ExitCode, res.Console)
	}
}

// TestVMRunTimeout checks the hard timeout: QEMU is killed and reaped, and
// the error says so.
func TestVMRunTimeout(t *testing.T) {
	testutil.VM(t)
	res, err := vm.Run(context.Background(), vm.Options{
		Command: []string{"/bin/sleep", "600"},
		Timeout: 10 * time.Second,
	})
	if !errors.Is(err, vm.ErrTimeout) {
		t.Fatalf("Run = %v, want ErrTimeout", err)
	}
	if res.PID == 0 {
		t.Fatal("no QEMU PID recorded")
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", res.PID)); err == nil {
		t.Errorf("QEMU (pid %d) still exists after the timeout", res.PID)
	}
	if res.Wall > 20*time.Second {
		t.Errorf("Run took %v with a 10s timeout", res.Wall)
	}
}
