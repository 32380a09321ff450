package procgroup

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/procgroup/procgrouptest"
	"github.com/tandemlb/tandem/shared/testutil"
)

// A script that forks a grandchild (orphaned at once: its parent, a
// subshell, exits) and then outlives its timeout, or is cancelled: when
// Run returns, nothing of its process group runs any more.
func TestRunKillsGroup(t *testing.T) {
	s := testutil.WriteScript(t, "(sleep 300 </dev/null >/dev/null 2>&1 &)\nsleep 300")
	for _, how := range []string{"timeout", "cancel"} {
		t.Run(how, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := Cmd{Args: []string{s}}
			if how == "timeout" {
				c.Timeout = 300 * time.Millisecond
			} else {
				time.AfterFunc(300*time.Millisecond, cancel)
			}
			start := time.Now()
			r := Run(ctx, c)
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("Run took %s", took)
			}
			if r.ExitStatus != -1 || r.TimedOut != (how == "timeout") || r.Canceled != (how == "cancel") {
				t.Errorf("result %+v", r)
			}
			procgrouptest.WaitGroupGone(t, r.Pid)
		})
	}
}

// With KillLeftovers the group goes even when the program exits by
// itself.
func TestRunKillLeftovers(t *testing.T) {
	s := testutil.WriteScript(t, "(sleep 300 </dev/null >/dev/null 2>&1 &)\nexit 0")
	r := Run(context.Background(), Cmd{Args: []string{s}, Timeout: 10 * time.Second, KillLeftovers: true})
	if r.ExitStatus != 0 || r.Err != nil {
		t.Fatalf("result %+v", r)
	}
	procgrouptest.WaitGroupGone(t, r.Pid)
}

// Output is kept up to OutputLimit, the rest counted; what is taken from
// it for reasons is valid UTF-8 and bounded.
func TestRunOutput(t *testing.T) {
	// 1 MiB on stdout after a first line with invalid UTF-8, a control
	// character and 1000 more bytes.
	s := testutil.WriteScript(t, `printf '  bad \377\376 ctl \001 '; head -c 1000 /dev/zero | tr '\0' x; echo; head -c 1048576 /dev/zero; exit 2`)
	r := Run(context.Background(), Cmd{Args: []string{s}, Stdout: true, OutputLimit: 4096, Timeout: 10 * time.Second})
	if r.ExitStatus != 2 || r.Err != nil {
		t.Fatalf("result %+v", r)
	}
	total := int64(len("  bad \377\376 ctl \001 ") + 1000 + 1 + 1<<20)
	if len(r.Output) != 4096 || r.Discarded != total-4096 {
		t.Errorf("kept %d, discarded %d; want 4096 and %d", len(r.Output), r.Discarded, total-4096)
	}
	line := r.FirstLine()
	if len(line) > MaxLine || !strings.HasPrefix(line, `bad `+"\uFFFD"+` ctl \x01 xxx`) || !strings.HasSuffix(line, "x…") {
		t.Errorf("FirstLine = %q (%d bytes)", line, len(line))
	}
	text := r.Text()
	if !strings.HasSuffix(text, "["+strconv.FormatInt(total-4096, 10)+" bytes discarded]") || strings.Contains(text, "\377") {
		t.Errorf("Text ends %q", text[len(text)-40:])
	}
}

func TestRunStartError(t *testing.T) {
	var se *StartError
	r := Run(context.Background(), Cmd{Args: []string{"/nonexistent/x"}})
	if !errors.As(r.Err, &se) || r.ExitStatus != -1 || r.Pid != 0 ||
		r.Err.Error() != "cannot execute /nonexistent/x: no such file or directory" {
		t.Errorf("missing: %+v", r)
	}
}
