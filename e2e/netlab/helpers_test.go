package netlab_test

import (
	"os/exec"
	"testing"
)

func busybox(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox (Debian busybox-static) is needed for ping: %v", err)
	}
	return p
}

func execHost(argv ...string) (string, error) {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	return string(out), err
}
