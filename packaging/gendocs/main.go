// Command gendocs writes the generated files of the tandem-director and
// tandem-backend packages into one directory:
//
//	man/<command path>.8.gz           man pages (section 8), from the cobra trees
//	completion/bash/tandem-X          bash completion
//	completion/zsh/_tandem-X          zsh completion
//	conf/director.yaml, backend.yaml  the default configs, every line commented out
//	changelog.yml                     the package changelog (chglog format)
//
// The man pages and completions come from director/cli.NewRoot and
// backend/cli.NewRoot, so they follow the CLI definitions. The default
// config of each package is docs/examples/<name>.yaml with every line
// commented out (so the shipped file documents every key but starts
// nothing), or packaging/conf/<name>.yaml while no example exists.
//
// Run from the top of the checkout (packaging/build.sh does):
//
//	go run ./packaging/gendocs -out DIR -version 1.2.3-1
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	backendcli "github.com/tandemlb/tandem/backend/cli"
	directorcli "github.com/tandemlb/tandem/director/cli"
	"github.com/tandemlb/tandem/packaging/internal/pkggen"
)

func main() {
	out := flag.String("out", "", "output directory (required)")
	version := flag.String("version", "", "full package version, version-release, e.g. 1.2.3-1 (required)")
	date := flag.String("date", "", "date of the man pages and of a snapshot changelog entry, RFC 3339; default $SOURCE_DATE_EPOCH, else now")
	changelog := flag.String("changelog", "packaging/changelog.yml", "release history (chglog YAML)")
	examples := flag.String("examples", "docs/examples", "directory of the documented example configs")
	fallback := flag.String("fallback", "packaging/conf", "directory of placeholder configs, used while an example is missing")
	flag.Parse()
	if *out == "" || *version == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	when, err := buildDate(*date)
	if err != nil {
		fatal(err)
	}
	g := generator{out: *out, version: *version, date: when}
	for _, root := range []*cobra.Command{directorcli.NewRoot(), backendcli.NewRoot()} {
		if err := g.docs(root); err != nil {
			fatal(err)
		}
	}
	for _, name := range []string{"director.yaml", "backend.yaml"} {
		if err := g.defaultConfig(name, *examples, *fallback); err != nil {
			fatal(err)
		}
	}
	if err := g.changelog(*changelog); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "gendocs:", err)
	os.Exit(1)
}

// buildDate parses -date, else $SOURCE_DATE_EPOCH, else returns now.
func buildDate(flagValue string) (time.Time, error) {
	if flagValue != "" {
		t, err := time.Parse(time.RFC3339, flagValue)
		if err != nil {
			return time.Time{}, fmt.Errorf("-date: %w", err)
		}
		return t.UTC(), nil
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", s, err)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Now().UTC(), nil
}

type generator struct {
	out     string
	version string
	date    time.Time
}

// write creates out/rel (and its directory) with data.
func (g *generator) write(rel string, data []byte) error {
	p := filepath.Join(g.out, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

// docs writes the man pages and completions of one command tree.
func (g *generator) docs(root *cobra.Command) error {
	pages, err := pkggen.ManPages(root, "Tandem "+g.version, g.date)
	if err != nil {
		return err
	}
	for name, page := range pages {
		if err := g.write(filepath.Join("man", name), page); err != nil {
			return err
		}
	}
	bash, zsh, err := pkggen.Completions(root)
	if err != nil {
		return err
	}
	if err := g.write(filepath.Join("completion", "bash", root.Name()), bash); err != nil {
		return err
	}
	return g.write(filepath.Join("completion", "zsh", "_"+root.Name()), zsh)
}

// defaultConfig writes conf/name: the documented example with every line
// commented out, or the placeholder while there is no example.
func (g *generator) defaultConfig(name, examples, fallback string) error {
	example, err := os.ReadFile(filepath.Join(examples, name))
	if errors.Is(err, fs.ErrNotExist) {
		p := filepath.Join(fallback, name)
		placeholder, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("default config %s: no example and no placeholder: %w", name, err)
		}
		if !pkggen.AllCommented(placeholder) {
			return fmt.Errorf("default config %s: placeholder %s has uncommented lines", name, p)
		}
		return g.write(filepath.Join("conf", name), placeholder)
	}
	if err != nil {
		return fmt.Errorf("default config %s: %w", name, err)
	}
	return g.write(filepath.Join("conf", name), pkggen.CommentOut(example, name))
}

// changelog writes changelog.yml: the release history, with an entry for
// this build on top unless it is the newest listed release.
func (g *generator) changelog(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("changelog: %w", err)
	}
	var entries []pkggen.ChangelogEntry
	if err := yaml.Unmarshal(data, &entries); err != nil {
		return fmt.Errorf("changelog %s: %w", path, err)
	}
	out, err := yaml.Marshal(pkggen.WithSnapshot(entries, g.version, g.date))
	if err != nil {
		return err
	}
	return g.write("changelog.yml", out)
}
