package kadiff

import (
	"fmt"
	"path/filepath"
	"slices"
)

// SamplesDir is where Debian's keepalived package puts keepalived's own
// sample configurations.
const SamplesDir = "/usr/share/doc/keepalived/samples"

// CorpusGlobs are the files of the differential test, relative to the
// module root unless absolute.
var CorpusGlobs = []string{
	"director/config/testdata/corpus/real/*.conf",
	SamplesDir + "/keepalived.conf.*",
	"docs/examples/keepalived.conf",
	"director/config/testdata/*.conf",
}

// Corpus returns the corpus files under the module root, in CorpusGlobs
// order and sorted within each glob.
func Corpus(root string) ([]string, error) {
	var out []string
	for _, g := range CorpusGlobs {
		if !filepath.IsAbs(g) {
			g = filepath.Join(root, g)
		}
		m, err := filepath.Glob(g)
		if err != nil {
			return nil, fmt.Errorf("corpus glob %s: %w", g, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("corpus glob %s: no file", g)
		}
		slices.Sort(m)
		out = append(out, m...)
	}
	return out, nil
}

// Name is how the test names a corpus file: its base name (unique in the
// corpus).
func Name(path string) string { return filepath.Base(path) }
