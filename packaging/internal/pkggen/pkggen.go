// Package pkggen makes the generated files of the Tandem packages: man pages
// and shell completions from the cobra command trees, the shipped default
// configs (documented examples, commented out) and the package changelog.
// packaging/gendocs writes them for packaging/build.sh; the packaging tests
// use the same functions to know what a package must contain.
package pkggen

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// ManSection is the man section of both daemons' pages: system
// administration.
const ManSection = "8"

// Packager names the Tandem developers in generated changelog entries.
const Packager = "Tandem developers <tandemlb@users.noreply.github.com>"

// ManPages returns the gzipped man pages of every available command of the
// tree, keyed by file name (cobra's GenManTree naming: the command path with
// dashes, then ".8.gz"). source goes into the page footer ("Tandem 1.2.3-1").
// The tree gets cobra's completion command first, which Execute adds at run
// time, so the pages describe the binary as it behaves.
func ManPages(root *cobra.Command, source string, date time.Time) (map[string][]byte, error) {
	root.InitDefaultCompletionCmd()
	pages := make(map[string][]byte)
	for _, c := range manCommands(root) {
		c.DisableAutoGenTag = true // no generation date in the page
		name := strings.ReplaceAll(c.CommandPath(), " ", "-")
		h := &doc.GenManHeader{
			Title:   strings.ToUpper(name),
			Section: ManSection,
			Date:    &date,
			Source:  source,
			Manual:  "Tandem manual",
		}
		var page bytes.Buffer
		if err := doc.GenMan(c, h, &page); err != nil {
			return nil, fmt.Errorf("man page of %q: %w", c.CommandPath(), err)
		}
		gz, err := GzipBest(page.Bytes())
		if err != nil {
			return nil, err
		}
		pages[name+"."+ManSection+".gz"] = gz
	}
	return pages, nil
}

// ManPageNames returns the file names ManPages produces for the tree.
func ManPageNames(root *cobra.Command) []string {
	root.InitDefaultCompletionCmd()
	var names []string
	for _, c := range manCommands(root) {
		names = append(names, strings.ReplaceAll(c.CommandPath(), " ", "-")+"."+ManSection+".gz")
	}
	return names
}

// manCommands lists the root and every available, non-help-topic command
// below it, depth first, as cobra's GenManTree does.
func manCommands(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c != root && (!c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand()) {
			return
		}
		out = append(out, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return out
}

// GzipBest compresses like gzip -9n: best compression, no name, no time.
func GzipBest(data []byte) ([]byte, error) {
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

// Completions returns the bash (v2, with descriptions) and zsh completion
// scripts of the tree.
func Completions(root *cobra.Command) (bash, zsh []byte, err error) {
	var b, z bytes.Buffer
	if err := root.GenBashCompletionV2(&b, true); err != nil {
		return nil, nil, fmt.Errorf("bash completion of %s: %w", root.Name(), err)
	}
	if err := root.GenZshCompletion(&z); err != nil {
		return nil, nil, fmt.Errorf("zsh completion of %s: %w", root.Name(), err)
	}
	return b.Bytes(), z.Bytes(), nil
}

// CommentOut returns the example config /etc/tandem/name with a header and
// every line commented out: a comment line stays as it is, any other gets
// "#" in front, so uncommenting a block restores the example.
func CommentOut(example []byte, name string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `# /etc/tandem/%[1]s as shipped: every line is commented out. The service
# is enabled at install but starts only once this file holds a valid
# configuration: uncomment and edit what you need, check it with
# check-config, then systemctl start (upgrades restart it). Your changes are
# kept on upgrade. What follows is the documented example,
# docs/examples/%[1]s.
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
// comment, so that the file parses as an empty document.
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

// ChangelogEntry is one entry of a chglog file (github.com/goreleaser/chglog),
// the changelog format nfpm reads; only the fields Tandem uses.
type ChangelogEntry struct {
	Semver   string            `yaml:"semver"`
	Date     time.Time         `yaml:"date"`
	Packager string            `yaml:"packager"`
	Deb      *ChangelogDeb     `yaml:"deb,omitempty"`
	Changes  []ChangelogChange `yaml:"changes,omitempty"`
}

// ChangelogDeb completes the Debian changelog heading,
// "name (version) distribution; urgency=...".
type ChangelogDeb struct {
	Urgency       string   `yaml:"urgency"`
	Distributions []string `yaml:"distributions"`
}

// ChangelogChange is one line of an entry.
type ChangelogChange struct {
	Note string `yaml:"note"`
}

// WithSnapshot puts an entry for version on top of entries unless the newest
// entry is that version already: dpkg and rpm tools expect the newest
// changelog entry to name the package's own version.
func WithSnapshot(entries []ChangelogEntry, version string, date time.Time) []ChangelogEntry {
	if len(entries) > 0 && entries[0].Semver == version {
		return entries
	}
	snap := ChangelogEntry{
		Semver:   version,
		Date:     date.UTC(),
		Packager: Packager,
		Deb:      &ChangelogDeb{Urgency: "low", Distributions: []string{"unstable"}},
		Changes:  []ChangelogChange{{Note: "Development snapshot built from Git; not a release."}},
	}
	return append([]ChangelogEntry{snap}, entries...)
}
