package vmtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/tandemlb/tandem/shared/testutil"
)

// ModuleRoot returns the directory of the go.mod above the working
// directory.
func ModuleRoot() (string, error) { return testutil.FindModuleRoot() }

// BuildTestBinary compiles the tests of pkg (e.g. "./e2e/guest", relative to
// the module root) into a static binary at out: CGO_ENABLED=0 go test -c.
func BuildTestBinary(ctx context.Context, pkg, out string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("build %s: go not on PATH: %w", pkg, err)
	}
	cmd := exec.CommandContext(ctx, goBin, "test", "-c", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go test -c %s: %w\n%s", pkg, err, strings.TrimSpace(buf.String()))
	}
	return nil
}
