package config

import (
	"path/filepath"
	"testing"
)

// TestNativeRoundTripCorpus: every keepalived.conf of the corpus that
// loads writes as native YAML that reads back equal (what show-config and
// migrate rely on).
func TestNativeRoundTripCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/corpus/real/*.conf")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "testdata/full.conf", "testdata/seed-original.conf", "testdata/native-track.conf")
	loaded := 0
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c, err := LoadWith(path, ReadOptions{ConfigID: "lb1"})
			if err != nil {
				t.Skipf("does not load: %v", err)
			}
			loaded++
			roundTrip(t, c)
		})
	}
	if loaded == 0 {
		t.Error("no file loaded")
	}
}
