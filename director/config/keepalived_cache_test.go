package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// bigConf is n virtual servers of three real servers; weight w for the
// second real server of service changed.
func bigConf(n, changed, w int) string {
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id lb1\n}\n# a comment with a { brace\n")
	for i := range n {
		fmt.Fprintf(&b, "virtual_server 192.0.2.%d 80 {\n    lb_algo wlc\n    lb_kind DR\n    protocol TCP\n", i+1)
		for j := range 3 {
			wt := 1
			if i == changed && j == 1 {
				wt = w
			}
			fmt.Fprintf(&b, "    real_server 198.51.100.%d 80 {\n        weight %d\n        nat_mask 255.255.255.0\n        TCP_CHECK {\n            connect_timeout 2\n        }\n    }\n", j+1, wt)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// loadBoth loads path with l and with Load and requires the same result.
func loadBoth(t *testing.T, l *Loader, path string) *Config {
	t.Helper()
	got, gerr := l.Load(path)
	want, werr := Load(path)
	if fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Fatalf("Loader error %v, Load error %v", gerr, werr)
	}
	if diff := cmp.Diff(want, got, cmpModel...); diff != "" {
		t.Fatalf("Loader and Load differ (-Load +Loader):\n%s", diff)
	}
	return got
}

func TestLoaderReusesUnchangedBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var l Loader
	write(bigConf(50, 20, 1))
	first := loadBoth(t, &l, path)
	if len(l.cache.blocks) != 50 {
		t.Fatalf("cache holds %d blocks, want 50", len(l.cache.blocks))
	}
	write(bigConf(50, 20, 7))
	second := loadBoth(t, &l, path)
	// The warnings of cached blocks (nat_mask) are kept: one per real
	// server, as from a read from scratch (loadBoth compared them).
	if len(second.Warnings) != 150 || !strings.Contains(second.Warnings[0].Msg, "nat_mask") {
		t.Errorf("warnings after a cached read: %d, first %v", len(second.Warnings), second.Warnings[0])
	}
	// Unchanged blocks come from the cache: same real-server arrays.
	for i := range 50 {
		same := &first.Services[i].RealServers[0] == &second.Services[i].RealServers[0]
		if same != (i != 20) {
			t.Errorf("service %d: reused %v, want %v", i, same, i != 20)
		}
	}
	if got := second.Services[20].RealServers[1].Weight; got != 7 {
		t.Errorf("changed weight: got %d, want 7", got)
	}
	// Which services Diff need not compare: all but the changed one, and
	// only for the pair of reads the Loader made.
	same := l.Unchanged(first, second)
	if len(same) != 50 {
		t.Fatalf("Unchanged: %v", same)
	}
	for i, s := range same {
		if s != (i != 20) {
			t.Errorf("Unchanged[%d] = %v", i, s)
		}
	}
	if diff := cmp.Diff(Diff(first, second), DiffUnchanged(first, second, same)); diff != "" {
		t.Errorf("DiffUnchanged differs from Diff (-Diff +DiffUnchanged):\n%s", diff)
	}
	if got := l.Unchanged(second, first); got != nil {
		t.Errorf("Unchanged for configurations in the wrong order: %v", got)
	}

	// A bad file: Load's error, the cache kept for the next good one.
	write(bigConf(50, 20, 7) + "virtual_server 192.0.2.200 80 {\n  delay_loop bogus\n}\n")
	if _, err := l.Load(path); err == nil || !strings.Contains(err.Error(), "delay_loop") {
		t.Fatalf("bad file: err %v", err)
	}
	loadBoth(t, &l, path) // same error both ways
	if len(l.cache.blocks) != 50 {
		t.Fatalf("after a bad file the cache holds %d blocks, want 50", len(l.cache.blocks))
	}

	// Lines inserted above move every block: nothing is reused, the
	// positions are the new ones.
	write("\n\n" + bigConf(50, 20, 7))
	third := loadBoth(t, &l, path)
	if &third.Services[3].RealServers[0] == &second.Services[3].RealServers[0] {
		t.Error("a block that moved was reused")
	}
	if third.Services[0].Pos.Line != second.Services[0].Pos.Line+2 {
		t.Errorf("moved block at line %d, want %d", third.Services[0].Pos.Line, second.Services[0].Pos.Line+2)
	}
}

// A block with an include inside is never cached: the included file may
// change while the block's text does not.
func TestLoaderIncludeInsideBlock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keepalived.conf")
	inc := filepath.Join(dir, "rs.conf")
	conf := "virtual_server 192.0.2.1 80 {\n    lb_kind DR\n    include rs.conf\n}\n"
	os.WriteFile(path, []byte(conf), 0o644)
	var l Loader
	for _, w := range []int{1, 5} {
		os.WriteFile(inc, fmt.Appendf(nil, "real_server 198.51.100.1 80 {\n    weight %d\n}\n", w), 0o644)
		c := loadBoth(t, &l, path)
		if got := c.Services[0].RealServers[0].Weight; got != w {
			t.Fatalf("weight %d, want %d", got, w)
		}
	}
}

func TestChunks(t *testing.T) {
	data := "global_defs {\n}\n  virtual_server a {\n  # virtual_server in a comment\n  x \"}\" {\n virtual_server inside\n }\n}\nvirtual_server b {\n}\nvirtual_serverx\n"
	got := chunks([]byte(data))
	a, b := strings.Index(data, "  virtual_server a"), strings.Index(data, "virtual_server b")
	want := []chunk{{0, a, 1, false}, {a, b, 3, true}, {b, len(data), 9, true}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(chunk{})); diff != "" {
		t.Fatalf("chunks (-want +got):\n%s", diff)
	}
}

// FuzzKeepalivedCache: reading b with the cache left by reading a gives
// exactly what reading b alone gives (result or error). The input is a and
// b separated by a line "=====" (without it, a and b are the same).
func FuzzKeepalivedCache(f *testing.F) {
	pair := func(a, b string) []byte { return []byte(a + cacheSep + b) }
	f.Add(pair(bigConf(2, 1, 1), bigConf(2, 1, 2)))
	f.Add(pair(bigConf(2, 1, 1), "\n"+bigConf(2, 1, 2)))
	f.Add(pair(bigConf(2, 0, 1), bigConf(2, 0, 1)+"virtual_server 192.0.2.9 80 {\n"))
	f.Add(pair(vsConf(""), vsConf("")+vsConf("lb_kind DR\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b, ok := bytes.Cut(data, []byte(cacheSep))
		if !ok {
			b = a
		}
		_, cache, _, _ := parseKeepalivedCached("fuzz.conf", a, noFS{}, blockCache{}, ReadOptions{})
		got, _, _, gerr := parseKeepalivedCached("fuzz.conf", b, noFS{}, cache, ReadOptions{})
		want, werr := parseKeepalived("fuzz.conf", b, noFS{})
		if fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Fatalf("with the cache: error %v; alone: %v", gerr, werr)
		}
		if diff := cmp.Diff(want, got, cmpModel...); diff != "" {
			t.Fatalf("with the cache and alone differ (-alone +cache):\n%s", diff)
		}
	})
}

const cacheSep = "\n=====\n"

// FuzzRescan: splitting a file again from its previous text and chunks
// gives exactly the chunks of a split from scratch.
func FuzzRescan(f *testing.F) {
	pair := func(a, b string) []byte { return []byte(a + cacheSep + b) }
	f.Add(pair(bigConf(3, 1, 1), bigConf(3, 1, 2)))
	f.Add(pair(bigConf(3, 1, 1), "\n"+bigConf(3, 1, 2)))
	f.Add(pair(bigConf(3, 1, 1), strings.Replace(bigConf(3, 1, 1), "virtual_server 192.0.2.2", "vrrp_instance x", 1)))
	f.Add(pair(bigConf(3, 1, 1), strings.Replace(bigConf(3, 1, 1), "    }\n}\nvirtual_server 192.0.2.2", "    }\n", 1)))
	f.Add(pair(bigConf(2, 0, 1), bigConf(3, 0, 1)))
	f.Add(pair(bigConf(3, 0, 1), bigConf(2, 0, 1)))
	f.Add(pair(vsConf("a \"{\" b\n"), vsConf("a '{' b\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b, ok := bytes.Cut(data, []byte(cacheSep))
		if !ok {
			b = append(bytes.Clone(a), '\n')
		}
		got := rescan(fileScan{data: a, chunks: chunks(a)}, b)
		if diff := cmp.Diff(chunks(b), got, cmp.AllowUnexported(chunk{})); diff != "" {
			t.Fatalf("rescan differs from chunks (-chunks +rescan):\n%s", diff)
		}
	})
}
