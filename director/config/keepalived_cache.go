package config

import (
	"bytes"
	"slices"
	"sync"
	"time"

	"github.com/tandemlb/tandem/shared/limitfile"
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
	// Options apply to every read; set them before the first Load.
	Options ReadOptions

	mu    sync.Mutex
	cache blockCache
	// last is the configuration the cache was built from, prev the one
	// before it; reused[i] says that service i of last came from the
	// cache, i.e. is the service at the same place in prev (Unchanged).
	last, prev *Config
	reused     []bool
	times      LoadTimes
}

// LoadTimes is where a Load's time went.
type LoadTimes struct {
	// Start is when the Load began.
	Start time.Time
	// Read is reading the main file; Parse is the rest but Validate
	// (included files are read as part of Parse).
	Read, Parse, Validate time.Duration
}

// Times returns where the last Load's time went.
func (l *Loader) Times() LoadTimes {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.times
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

// blockCache is what a Loader keeps from its last read: the
// virtual_server blocks by place (a block is reused when the text at its
// place is the same) and each file's text with its chunks (a file that
// changed in one place is split again only around that place).
type blockCache struct {
	blocks map[blockPlace]cachedBlock
	scans  map[string]fileScan
}

// fileScan is one file's text and its chunks.
type fileScan struct {
	data   []byte
	chunks []chunk
}

type blockPlace struct {
	file string
	line int
}

type cachedBlock struct {
	text string
	vs   *VirtualService
	// warns are the warnings the block gave when it was parsed.
	warns []*Error
}

// Load reads the configuration at path (see Load).
func (l *Loader) Load(path string) (*Config, error) {
	t0 := time.Now()
	data, err := limitfile.Read(path, maxFileSize)
	l.mu.Lock()
	defer l.mu.Unlock()
	t1 := time.Now()
	l.times = LoadTimes{Start: t0, Read: t1.Sub(t0)}
	if err != nil {
		return Load(path) // the same error, worded once
	}
	if DetectFormat(data) == FormatNative {
		cfg, err := parseNative(path, data, &l.times.Validate)
		l.times.Parse = time.Since(t1) - l.times.Validate
		if err == nil {
			l.prev, l.last, l.reused = l.last, cfg, nil
		}
		return cfg, err
	}
	cfg, next, reused, err := parseKeepalivedTimed(path, data, osFS{}, l.cache, l.Options, &l.times.Validate)
	l.times.Parse = time.Since(t1) - l.times.Validate
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
func parseKeepalivedCached(name string, data []byte, fsys includeFS, cache blockCache, opts ReadOptions) (cfg *Config, next blockCache, reused []bool, err error) {
	return parseKeepalivedTimed(name, data, fsys, cache, opts, new(time.Duration))
}

// parseKeepalivedTimed is parseKeepalivedCached that adds the time the
// validation took to *validate.
func parseKeepalivedTimed(name string, data []byte, fsys includeFS, cache blockCache, opts ReadOptions, validate *time.Duration) (cfg *Config, next blockCache, reused []bool, err error) {
	var errs ErrorList
	next = blockCache{blocks: make(map[blockPlace]cachedBlock, len(cache.blocks)), scans: map[string]fileScan{}}
	syn := newKSyntax(fsys, &errs, []ReadOptions{opts})
	syn.cached, syn.cache, syn.next = true, cache, next
	nodes := syn.file(name, data)
	if len(errs) == 0 {
		p := &kparser{errs: &errs, cfg: Default(), next: next.blocks, fsys: fsys}
		p.cfg.Services = make([]VirtualService, 0, len(cache.blocks))
		p.cfg.Format = FormatKeepalived
		p.cfg.Files, p.cfg.FilesHash = syn.files, filesHash(syn.texts...)
		p.top(nodes)
		p.finish()
		p.cfg.Warnings = append(syn.warns, p.cfg.Warnings...)
		sortErrors(p.cfg.Warnings, syn.files)
		if len(errs) == 0 {
			t0 := time.Now()
			v := validator{trusted: p.fromCache}
			v.config(p.cfg)
			*validate += time.Since(t0)
			if len(v.errs) == 0 {
				reused = make([]bool, len(p.cfg.Services))
				copy(reused, p.fromCache)
				return p.cfg, next, reused, nil
			}
		}
	}
	cfg, err = parseKeepalived(name, data, fsys, opts)
	return cfg, blockCache{}, nil, err
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
	cs := rescan(s.cache.scans[name], data)
	s.next.scans[name] = fileScan{data: data, chunks: cs}
	for _, c := range cs {
		text := data[c.start:c.end]
		place := blockPlace{name, c.line}
		if c.vs {
			// string(text) in a comparison does not copy.
			if cb, hit := s.cache.blocks[place]; hit && cb.text == string(text) {
				nodes = append(nodes, &knode{kw: "virtual_server", hasBlock: true, pos: Pos{name, c.line}, cache: &cb})
				continue
			}
		}
		files := len(s.files)
		toks := s.lex(name, text, c.line)
		i := 0
		got, _ := s.statements(name, toks, &i, 0)
		s.doneToks(toks)
		if len(*s.errs) > before {
			*s.errs = (*s.errs)[:before]
			s.files, s.texts = s.files[:files0], s.texts[:files0]
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
	out, _, _ := scanChunks(data, 0, len(data), 1)
	out[len(out)-1].end = len(data)
	return out
}

// scanChunks splits data from from (a line start at block depth 0, on
// line) as chunks does, up to the first line start at or past stop. It
// returns the chunks (the last one open), the depth there and where that
// is.
func scanChunks(data []byte, from, stop, line int) (out []chunk, depth, at int) {
	out = []chunk{{start: from, line: line, vs: startsVS(data[from:])}}
	i := from
	for ; i < stop; line++ {
		end := len(data)
		if j := bytes.IndexByte(data[i:], '\n'); j >= 0 {
			end = i + j
		}
		l := data[i:end]
		if depth == 0 && i > from && startsVS(l) {
			out[len(out)-1].end = i
			out = append(out, chunk{start: i, line: line, vs: true})
		}
		depth += lineDepth(l)
		i = end + 1
	}
	return out, depth, i
}

// rescan splits data into chunks like chunks, reusing the chunks of the
// previous text of the same file: only the part between the longest common
// prefix and the longest common suffix of the two texts is scanned again,
// from the chunk it begins in to the first old chunk start past it, which
// must still begin a chunk (depth 0 and a virtual_server line there);
// otherwise, or without a previous text, the whole of data is scanned.
func rescan(old fileScan, data []byte) []chunk {
	if old.chunks == nil {
		return chunks(data)
	}
	p := commonPrefix(old.data, data)
	if p == len(old.data) && p == len(data) {
		return slices.Clone(old.chunks)
	}
	s := commonSuffix(old.data[p:], data[p:])
	delta := len(data) - len(old.data)
	// a: the old chunk the change begins in; b: the first old chunk that
	// starts in the unchanged suffix.
	a := 0
	for a+1 < len(old.chunks) && old.chunks[a+1].start <= p {
		a++
	}
	oldEnd := len(old.data) - s
	b := a + 1
	for b < len(old.chunks) && old.chunks[b].start < oldEnd {
		b++
	}
	if b == len(old.chunks) {
		return chunks(data) // the change runs into the last chunk
	}
	lineDelta := bytes.Count(data[p:len(data)-s], []byte{'\n'}) - bytes.Count(old.data[p:oldEnd], []byte{'\n'})
	stop := old.chunks[b].start + delta
	mid, ok := chunksBetween(data, old.chunks[a].start, stop, old.chunks[a].line)
	if !ok {
		return chunks(data)
	}
	out := make([]chunk, 0, len(old.chunks)+len(mid))
	out = append(out, old.chunks[:a]...)
	out = append(out, mid...)
	for _, c := range old.chunks[b:] {
		c.start += delta
		c.end += delta
		c.line += lineDelta
		out = append(out, c)
	}
	return out
}

// chunksBetween scans data[from:stop] as chunks does, from a line start at
// block depth 0 on line; ok reports that from and stop both begin a chunk
// as chunks would split data (from is 0 or a virtual_server line; stop is
// a virtual_server line at depth 0), so that the result is exactly
// chunks(data) between them.
func chunksBetween(data []byte, from, stop, line int) (out []chunk, ok bool) {
	if from > 0 && !startsVS(data[from:]) || stop <= from {
		return nil, false
	}
	out, depth, at := scanChunks(data, from, stop, line)
	out[len(out)-1].end = stop
	return out, at == stop && depth == 0 && startsVS(data[stop:])
}

// startsVS reports whether a line begins (after blanks) with the word
// virtual_server.
func startsVS(l []byte) bool {
	t := bytes.TrimLeft(l, " \t")
	return bytes.HasPrefix(t, vsWord) && (len(t) == len(vsWord) || isBlank(t[len(vsWord)]))
}

var vsWord = []byte("virtual_server")

// commonPrefix is the length of the longest common prefix of a and b
// (blocks compared with bytes.Equal, which is vectorised, then bytes).
func commonPrefix(a, b []byte) int {
	const blk = 1024
	n := min(len(a), len(b))
	i := 0
	for i+blk <= n && bytes.Equal(a[i:i+blk], b[i:i+blk]) {
		i += blk
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// commonSuffix is the length of the longest common suffix of a and b.
func commonSuffix(a, b []byte) int {
	const blk = 1024
	n := min(len(a), len(b))
	i := 0
	for i+blk <= n && bytes.Equal(a[len(a)-i-blk:len(a)-i], b[len(b)-i-blk:len(b)-i]) {
		i += blk
	}
	for i < n && a[len(a)-1-i] == b[len(b)-1-i] {
		i++
	}
	return i
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
