package config

import (
	"bytes"
	"os"
	"sync"
)

// Loader loads configurations like Load and remembers, for a
// keepalived.conf, the virtual_server blocks of the last file it read
// without error. A reload of a big file in which one block changed then
// parses that block only: every other block whose text and place (file and
// first line) are the same as last time gives the same service as last
// time. The result is exactly what Load returns; a file with any error is
// read again from scratch, so that its messages are Load's.
//
// The director keeps one Loader for its whole run. Its zero value is ready.
type Loader struct {
	mu    sync.Mutex
	cache blockCache
	// last is the configuration the cache was built from, prev the one
	// before it; reused[i] says that service i of last came from the
	// cache, i.e. is the service at the same place in prev (Unchanged).
	last, prev *Config
	reused     []bool
}

// Unchanged tells, for a configuration next this Loader returned right
// after old, which of next's services are old's unchanged (read from the
// cache: the same text at the same place): Diff need not compare those.
// It returns nil when it cannot tell (other configurations, native YAML,
// a read without the cache).
func (l *Loader) Unchanged(old, next *Config) []bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if next == nil || next != l.last || old != l.prev || l.reused == nil {
		return nil
	}
	return l.reused
}

// blockCache holds virtual_server blocks by place; a block is reused when
// the text at its place is the same.
type blockCache map[blockPlace]cachedBlock

type blockPlace struct {
	file string
	line int
}

type cachedBlock struct {
	text string
	vs   *VirtualService
}

// Load reads the configuration at path (see Load).
func (l *Loader) Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Load(path) // the same error, worded once
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if DetectFormat(data) == FormatNative {
		cfg, err := ParseNative(path, data)
		if err == nil {
			l.prev, l.last, l.reused = l.last, cfg, nil
		}
		return cfg, err
	}
	if l.cache == nil {
		l.cache = blockCache{}
	}
	cfg, next, reused, err := parseKeepalivedCached(path, data, osFS{}, l.cache)
	if err != nil {
		return nil, err
	}
	l.cache = next
	l.prev, l.last, l.reused = l.last, cfg, reused
	return cfg, nil
}

// parseKeepalivedCached is parseKeepalived with a block cache: cache holds
// the blocks of the last read; next holds those of this one (nil on error).
// On any error the file is parsed again without the cache.
func parseKeepalivedCached(name string, data []byte, fsys includeFS, cache blockCache) (cfg *Config, next blockCache, reused []bool, err error) {
	var errs ErrorList
	syn := &ksyntax{fsys: fsys, errs: &errs, cache: cache}
	nodes := syn.file(name, data)
	if len(errs) == 0 {
		p := &kparser{errs: &errs, cfg: Default(), next: make(blockCache, len(cache))}
		p.cfg.Format = FormatKeepalived
		p.cfg.Files = syn.files
		p.top(nodes)
		p.finish()
		if len(errs) == 0 {
			v := validator{trusted: p.fromCache}
			v.config(p.cfg)
			if len(v.errs) == 0 {
				reused = make([]bool, len(p.cfg.Services))
				copy(reused, p.fromCache)
				return p.cfg, p.next, reused, nil
			}
		}
	}
	cfg, err = parseKeepalived(name, data, fsys)
	return cfg, nil, nil, err
}

// chunked reads a file as a sequence of chunks, each starting at a line
// that begins a top-level virtual_server (the text before the first one is
// a chunk too), and parses each alone. A chunk that is one virtual_server
// and nothing else, read without error and without include, can be
// cached; when the cache has its text at that place, its service is taken
// from there and the text is not parsed. ok is false after an error: the
// caller then reads the whole file at once, for the messages that reading
// gives (a chunk alone may report an unclosed block at its end).
func (s *ksyntax) chunked(name string, data []byte) (nodes []*knode, ok bool) {
	before, files0 := len(*s.errs), len(s.files)
	for _, c := range chunks(data) {
		text := data[c.start:c.end]
		place := blockPlace{name, c.line}
		if c.vs {
			// string(text) in a comparison does not copy.
			if cb, hit := s.cache[place]; hit && cb.text == string(text) {
				nodes = append(nodes, &knode{kw: "virtual_server", hasBlock: true, pos: Pos{name, c.line}, cache: &cb})
				continue
			}
		}
		files := len(s.files)
		toks := s.lex(name, text, c.line)
		i := 0
		got, _ := s.statements(name, toks, &i, 0)
		if len(*s.errs) > before {
			*s.errs = (*s.errs)[:before]
			s.files = s.files[:files0]
			return nil, false
		}
		if c.vs && len(got) == 1 && got[0].kw == "virtual_server" && len(s.files) == files {
			got[0].cache = &cachedBlock{text: string(text)}
		}
		nodes = append(nodes, got...)
	}
	return nodes, true
}

// chunk is a piece of a file: [start, end) beginning on line; vs when it
// begins with a top-level virtual_server.
type chunk struct {
	start, end, line int
	vs               bool
}

// chunks splits data before every line that begins (after blanks) with the
// word virtual_server at block depth 0. Depth follows the lexer's rules:
// braces in comments and quoted strings do not count, a backslash in a
// quoted string escapes what follows. A wrong guess costs only speed: a
// chunk that does not parse alone sends the caller back to reading the
// whole file.
func chunks(data []byte) []chunk {
	kw := []byte("virtual_server")
	out := []chunk{{start: 0, line: 1}}
	depth, line := 0, 1
	for i := 0; i < len(data); line++ {
		end := len(data)
		if j := bytes.IndexByte(data[i:], '\n'); j >= 0 {
			end = i + j
		}
		l := data[i:end]
		if depth == 0 {
			t := bytes.TrimLeft(l, " \t")
			if bytes.HasPrefix(t, kw) && (len(t) == len(kw) || isBlank(t[len(kw)])) {
				if i == 0 {
					out[0].vs = true
				} else {
					out[len(out)-1].end = i
					out = append(out, chunk{start: i, line: line, vs: true})
				}
			}
		}
		depth += lineDepth(l)
		i = end + 1
	}
	out[len(out)-1].end = len(data)
	return out
}

// special marks the bytes lineDepth looks at.
var special = [256]bool{'{': true, '}': true, '#': true, '!': true, '"': true, '\'': true}

// lineDepth is the change of block depth over one line (without its
// newline): braces outside comments and quoted strings.
func lineDepth(l []byte) int {
	d := 0
	for k := 0; k < len(l); k++ {
		c := l[k]
		if !special[c] {
			continue
		}
		switch c {
		case '{':
			d++
		case '}':
			d--
		case '#', '!':
			return d
		default: // a quote: to its end, a backslash escapes what follows
			for k++; k < len(l) && l[k] != c; k++ {
				if l[k] == '\\' {
					k++
				}
			}
		}
	}
	return d
}

func isBlank(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '{', '\v', '\f':
		return true
	}
	return false
}
