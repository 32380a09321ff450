// Command plots is `make docs`: it draws the figures of the docs, PNGs in
// docs/img, with gnuplot (Debian's gnuplot-nox) from the data in
// docs/data, then fills the figure blocks of docs/*.md (figures.go).
//
//	drain-connections     docs/data/drain-connections.json (the lab's Prometheus)
//	failover-lab          docs/data/failover-rps.json, failover-state.json (idem)
//	failover-bench-crash  docs/data/failover-bench.json (make bench-failover)
//	failover-bench-stop   idem
//
// The Prometheus files are /api/v1/query_range response bodies, as the
// VM scenario saves them with TANDEM_PLOT_DATA. This command reads them,
// writes what gnuplot reads (TSV, in a temporary directory) and runs
// docs/plots/NAME.gp. A plot whose data file is missing is skipped with a
// message naming the file: never drawn from anything else. A figure block
// shows its PNG only once the PNG exists.
//
// Exit status: 0 when every plot was drawn or skipped for missing data, 1
// when data is malformed or gnuplot fails, 2 for bad flags.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tandemlb/tandem/shared/limitfile"
	"github.com/tandemlb/tandem/shared/procgroup"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stderr))
}

// options of one run.
type options struct {
	docs    string // the docs directory: data/, plots/, img/, *.md
	gnuplot string
	log     *slog.Logger
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("plots", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.docs, "docs", "docs", "the docs directory (data/, plots/, img/ and the pages)")
	fs.StringVar(&o.gnuplot, "gnuplot", "gnuplot", "the gnuplot program (Debian: gnuplot-nox)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	failed := false
	for _, p := range plots {
		if err := o.render(ctx, p); err != nil {
			o.log.Error("plot failed", "plot", p.name, "err", err)
			failed = true
		}
	}
	if err := fillFigures(o.docs, o.log); err != nil {
		o.log.Error("figures", "err", err)
		failed = true
	}
	if failed {
		return 1
	}
	return 0
}

// render draws one plot, or says why it is skipped.
func (o *options) render(ctx context.Context, p plot) error {
	in := map[string][]byte{}
	for _, name := range p.inputs {
		path := filepath.Join(o.docs, "data", name)
		b, err := limitfile.Read(path, maxDataFileSize)
		if errors.Is(err, fs.ErrNotExist) {
			o.log.Warn("plot skipped: its data file is missing", "plot", p.name, "missing", path, "written_by", p.from)
			return nil
		}
		if err != nil {
			return err
		}
		in[name] = b
	}
	tmp, err := os.MkdirTemp("", "plots-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	vars, err := p.prepare(in, tmp)
	var skip skipError
	if errors.As(err, &skip) {
		o.log.Warn("plot skipped", "plot", p.name, "why", skip.reason)
		return nil
	}
	if err != nil {
		return err
	}
	out := filepath.Join(o.docs, "img", p.name+".png")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmpOut := filepath.Join(tmp, p.name+".png")
	script := filepath.Join(o.docs, "plots", p.script+".gp")
	if err := gnuplot(ctx, o.gnuplot, script, append(vars, str("out", tmpOut), str("plotdir", filepath.Join(o.docs, "plots")))); err != nil {
		return err
	}
	png, err := os.ReadFile(tmpOut)
	if err != nil {
		return fmt.Errorf("%s wrote no PNG: %w", script, err)
	}
	if _, _, err := pngSize(png); err != nil {
		return fmt.Errorf("%s: %w", script, err)
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		return err
	}
	o.log.Info("plot drawn", "plot", p.name, "png", out, "from", strings.Join(p.inputs, ", "))
	return nil
}

// gnuplotTimeout bounds one rendering (a few hundred ms).
const gnuplotTimeout = time.Minute

// gnuplot runs script with vars set by -e, in its own process group,
// output bounded.
func gnuplot(ctx context.Context, prog, script string, vars []gpVar) error {
	if _, err := exec.LookPath(prog); err != nil {
		return fmt.Errorf("%s not found: install Debian's gnuplot-nox (scripts/deps.sh): %w", prog, err)
	}
	var set []string
	for _, v := range vars {
		if !v.str {
			set = append(set, v.name+"="+v.value)
			continue
		}
		if strings.ContainsAny(v.value, "'\n\r") {
			return fmt.Errorf("variable %s: %q has a quote or a newline", v.name, v.value)
		}
		set = append(set, v.name+"='"+v.value+"'")
	}
	res := procgroup.Run(ctx, procgroup.Cmd{Args: []string{prog, "-e", strings.Join(set, "; "), script},
		Timeout: gnuplotTimeout, Stdout: true, KillLeftovers: true})
	switch {
	case res.Err != nil:
		return fmt.Errorf("%s %s: %w", prog, script, res.Err)
	case res.TimedOut:
		return fmt.Errorf("%s %s: no result within %v", prog, script, gnuplotTimeout)
	case res.ExitStatus != 0:
		return fmt.Errorf("%s %s: exit status %d: %s", prog, script, res.ExitStatus, strings.TrimSpace(res.Text()))
	}
	return nil
}

// pngSize checks the PNG signature and returns the size from IHDR.
func pngSize(b []byte) (w, h int, err error) {
	sig := []byte("\x89PNG\r\n\x1a\n")
	if len(b) < 24 || !bytes.Equal(b[:8], sig) || string(b[12:16]) != "IHDR" {
		return 0, 0, errors.New("not a PNG")
	}
	be := func(x []byte) int { return int(x[0])<<24 | int(x[1])<<16 | int(x[2])<<8 | int(x[3]) }
	return be(b[16:20]), be(b[20:24]), nil
}
