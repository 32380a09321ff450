// Command gendocs writes the generated files of the tandem-director and
// tandem-backend packages into one directory:
//
//	man/<command path>.8.gz          man pages (section 8), from the cobra trees
//	completion/bash/tandem-X         bash completion
//	completion/zsh/_tandem-X         zsh completion
//	conf/director.yaml, backend.yaml the default configs, every line commented out
//	changelog.yml                    the package changelog (chglog format)
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
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"go.yaml.in/yaml/v3"

	backendcli "github.com/tandemlb/tandem/backend/cli"
	directorcli "github.com/tandemlb/tandem/director/cli"
)

// packager is the name in generated changelog entries.
const packager = "Tandem developers <tandemlb@users.noreply.github.com>"

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
		if err := g.manPages(root); err != nil {
			fatal(err)
		}
		if err := g.completions(root); err != nil {
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

// manPages writes one gzipped section-8 page per available command of the
// tree, named like cobra's GenManTree names them (spaces become dashes).
func (g *generator) manPages(root *cobra.Command) error {
	// Execute adds the completion command at run time; add it here too so
	// that the pages describe the binary as it behaves.
	root.InitDefaultCompletionCmd()
	header := &doc.GenManHeader{
		Title:   strings.ToUpper(root.Name()),
		Section: "8",
		Date:    &g.date,
		Source:  "Tandem " + g.version,
		Manual:  "Tandem manual",
	}
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		if c != root && (!c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand()) {
			return nil
		}
		c.DisableAutoGenTag = true // no generation date in the page
		h := *header
		h.Title = strings.ToUpper(strings.ReplaceAll(c.CommandPath(), " ", "-"))
		var page bytes.Buffer
		if err := doc.GenMan(c, &h, &page); err != nil {
			return fmt.Errorf("man page of %q: %w", c.CommandPath(), err)
		}
		gz, err := gzipBest(page.Bytes())
		if err != nil {
			return err
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".8.gz"
		if err := g.write(filepath.Join("man", name), gz); err != nil {
			return err
		}
		for _, sub := range c.Commands() {
			if err := walk(sub); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root)
}

// gzipBest compresses like gzip -9n: best compression, no name, no time.
func gzipBest(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (g *generator) completions(root *cobra.Command) error {
	var bash, zsh bytes.Buffer
	if err := root.GenBashCompletionV2(&bash, true); err != nil {
		return fmt.Errorf("bash completion of %s: %w", root.Name(), err)
	}
	if err := root.GenZshCompletion(&zsh); err != nil {
		return fmt.Errorf("zsh completion of %s: %w", root.Name(), err)
	}
	if err := g.write(filepath.Join("completion", "bash", root.Name()), bash.Bytes()); err != nil {
		return err
	}
	return g.write(filepath.Join("completion", "zsh", "_"+root.Name()), zsh.Bytes())
}

// defaultConfig writes conf/name: the documented example with every line
// commented out, or the placeholder while there is no example.
func (g *generator) defaultConfig(name, examples, fallback string) error {
	example, err := os.ReadFile(filepath.Join(examples, name))
	if errors.Is(err, fs.ErrNotExist) {
		placeholder, err := os.ReadFile(filepath.Join(fallback, name))
		if err != nil {
			return fmt.Errorf("default config %s: no example and no placeholder: %w", name, err)
		}
		if !AllCommented(placeholder) {
			return fmt.Errorf("default config %s: placeholder %s has uncommented lines", name, filepath.Join(fallback, name))
		}
		return g.write(filepath.Join("conf", name), placeholder)
	}
	if err != nil {
		return fmt.Errorf("default config %s: %w", name, err)
	}
	return g.write(filepath.Join("conf", name), CommentOut(example, name))
}

// CommentOut returns the example config with a header and every line
// commented out: a comment line stays as it is, any other gets "#" in front,
// so uncommenting a block restores the example.
func CommentOut(example []byte, name string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `# /etc/tandem/%[1]s, as shipped: every line is commented out, so the
# service is enabled at install but does not start until you write a
# configuration (the package then starts it on the next install or upgrade;
# or run systemctl start yourself). Uncomment and edit what you need; this
# file is kept on upgrade. Below is the documented example, docs/examples/%[1]s.
#
`, name)
	sc := bufio.NewScanner(bytes.NewReader(example))
	for sc.Scan() {
		line := sc.Text()
		switch t := strings.TrimSpace(line); {
		case t == "":
			b.WriteString("\n")
		case strings.HasPrefix(t, "#"):
			b.WriteString(line + "\n")
		default:
			b.WriteString("#" + line + "\n")
		}
	}
	return b.Bytes()
}

// AllCommented reports whether every non-blank line of a YAML file is a
// comment (so the file parses as an empty document).
func AllCommented(data []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		if t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

// changelogEntry is one entry of a chglog file (only the fields used here).
type changelogEntry struct {
	Semver   string            `yaml:"semver"`
	Date     time.Time         `yaml:"date"`
	Packager string            `yaml:"packager"`
	Deb      *changelogDeb     `yaml:"deb,omitempty"`
	Changes  []changelogChange `yaml:"changes,omitempty"`
}

// changelogDeb completes the Debian changelog heading,
// "name (version) distribution; urgency=...".
type changelogDeb struct {
	Urgency       string   `yaml:"urgency"`
	Distributions []string `yaml:"distributions"`
}

type changelogChange struct {
	Note string `yaml:"note"`
}

// changelog writes changelog.yml: the release history, with an entry for
// this build on top unless it is the newest listed release.
func (g *generator) changelog(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("changelog: %w", err)
	}
	var entries []changelogEntry
	if err := yaml.Unmarshal(data, &entries); err != nil {
		return fmt.Errorf("changelog %s: %w", path, err)
	}
	entries = WithSnapshot(entries, g.version, g.date)
	outData, err := yaml.Marshal(entries)
	if err != nil {
		return err
	}
	return g.write("changelog.yml", outData)
}

// WithSnapshot puts an entry for version on top of entries unless the newest
// entry is that version already. Package tools want the newest changelog
// entry to name the package's own version.
func WithSnapshot(entries []changelogEntry, version string, date time.Time) []changelogEntry {
	if len(entries) > 0 && entries[0].Semver == version {
		return entries
	}
	snap := changelogEntry{
		Semver:   version,
		Date:     date,
		Packager: packager,
		Deb:      &changelogDeb{Urgency: "low", Distributions: []string{"unstable"}},
		Changes: []changelogChange{{
			Note: "Development snapshot built from Git; not a release.",
		}},
	}
	return append([]changelogEntry{snap}, entries...)
}
