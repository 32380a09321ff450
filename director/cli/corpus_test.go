package cli

import (
	"errors"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/tandemlb/tandem/director/config"
)

// TestCorpusLoads reads every real-world keepalived.conf of the corpus
// (director/config/testdata/corpus: files nobody on the project wrote,
// with their origin in its README) the way check-config does. keepalived
// 2.2.7 runs nearly all of them; at least 95 % must load here (warnings
// allowed), and every refusal must name FILE:LINE and the keyword.
func TestCorpusLoads(t *testing.T) {
	files, err := filepath.Glob("../config/testdata/corpus/real/*.conf")
	if err != nil || len(files) < 40 {
		t.Fatalf("corpus: %d files (%v), want at least 40", len(files), err)
	}
	cited := regexp.MustCompile(`^[^:]+\.conf:\d+: .*(keyword|vrrp_instance|virtual_server|real_server)`)
	loaded, warnings := 0, 0
	for _, f := range files {
		cfg, err := loadChecked(f)
		if err != nil {
			var list config.ErrorList
			if !errors.As(err, &list) {
				t.Errorf("%s: refused without positions: %v", f, err)
				continue
			}
			for _, e := range list {
				if !cited.MatchString(e.Error()) {
					t.Errorf("%s: refusal does not name FILE:LINE and the keyword: %s", f, e)
				}
			}
			t.Logf("refused: %v", err)
			continue
		}
		loaded++
		warnings += len(cfg.Warnings)
	}
	pct := 100 * float64(loaded) / float64(len(files))
	t.Logf("corpus: %d of %d files load (%.1f %%), %d warnings", loaded, len(files), pct, warnings)
	if pct < 95 {
		t.Errorf("only %.1f %% of the corpus loads, want at least 95 %%", pct)
	}
}
