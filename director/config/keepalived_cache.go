package config

import (
	"bytes"
	"os"
	"strconv"
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
	cache map[string]*VirtualService
}

// Load reads the configuration at path (see Load).
func (l *Loader) Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Load(path) // the same error, worded once
	}
	if DetectFormat(data) == FormatNative {
		return ParseNative(path, data)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cache == nil {
		l.cache = map[string]*VirtualService{}
	}
	cfg, next, err := parseKeepalivedCached(path, data, osFS{}, l.cache)
	if err != nil {
		return nil, err
	}
	l.cache = next
	return cfg, nil
}

// parseKeepalivedCached is parseKeepalived with a block cache: cache holds
// the blocks of the last read; next holds those of this one (nil on error).
// On any error the file is parsed again without the cache.
func parseKeepalivedCached(name string, data []byte, fsys includeFS, cache map[string]*VirtualService) (*Config, map[string]*VirtualService, error) {
	var errs ErrorList
	syn := &ksyntax{fsys: fsys, errs: &errs, cache: cache}
	nodes := syn.file(name, data)
	if len(errs) == 0 {
		p := &kparser{errs: &errs, cfg: Default(), next: map[string]*VirtualService{}}
		p.cfg.Format = FormatKeepalived
		p.cfg.Files = syn.files
		p.top(nodes)
		p.finish()
		if len(errs) == 0 {
			v := validator{trusted: p.fromCache}
			v.config(p.cfg)
			if len(v.errs) == 0 {
				return p.cfg, p.next, nil
			}
		}
	}
	cfg, err := parseKeepalived(name, data, fsys)
	return cfg, nil, err
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
		key := ""
		if c.vs {
			key = name + "\x00" + strconv.Itoa(c.line) + "\x00" + string(text)
			if vs := s.cache[key]; vs != nil {
				nodes = append(nodes, &knode{kw: "virtual_server", hasBlock: true, pos: Pos{name, c.line}, cacheKey: key, cached: vs})
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
			got[0].cacheKey = key
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
	for i := 0; i < len(data); {
		// i is at the start of a line.
		if depth == 0 {
			j := i
			for j < len(data) && (data[j] == ' ' || data[j] == '\t') {
				j++
			}
			if bytes.HasPrefix(data[j:], kw) && (j+len(kw) == len(data) || isBlank(data[j+len(kw)])) {
				if i == 0 {
					out[0].vs = true
				} else {
					out[len(out)-1].end = i
					out = append(out, chunk{start: i, line: line, vs: true})
				}
			}
		}
		// Scan the rest of the line.
		for i < len(data) && data[i] != '\n' {
			switch c := data[i]; c {
			case '#', '!':
				for i < len(data) && data[i] != '\n' {
					i++
				}
				continue
			case '{':
				depth++
			case '}':
				depth--
			case '"', '\'':
				i++
				for i < len(data) && data[i] != c && data[i] != '\n' {
					if data[i] == '\\' && i+1 < len(data) && data[i+1] != '\n' {
						i++
					}
					i++
				}
				if i < len(data) && data[i] == '\n' {
					continue
				}
			}
			i++
		}
		if i < len(data) {
			i++ // the newline
			line++
		}
	}
	out[len(out)-1].end = len(data)
	return out
}

func isBlank(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '{', '\v', '\f':
		return true
	}
	return false
}
