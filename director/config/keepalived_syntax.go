package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tandemlb/tandem/shared/limitfile"
)

// keepalived.conf syntax, as keepalived documents it:
//   - a statement is a keyword and its arguments on one line, optionally
//     followed by a block { ... } (the '{' may also start the next line);
//   - '{' and '}' outside quotes are tokens of their own;
//   - '#' and '!' outside quotes start a comment that runs to the end of the
//     line, wherever they appear (so a password containing one must be
//     quoted);
//   - text between double or single quotes keeps its white space, and a
//     quoted part joins the unquoted text around it into one word; inside
//     quotes backslash escapes work as in the shell (\n, \t, \\, \", \xHH,
//     \NNN octal, \cC ...);
//   - `include PATTERN` (anywhere a statement may be) splices in the
//     statements of the files matching PATTERN, relative to the directory of
//     the including file.

type ktokKind uint8

const (
	kWord ktokKind = iota
	kOpen
	kClose
	kEOL
)

// ktok is one token; its fields in this order take 24 bytes, not 32 (a
// big file has a token every 5 bytes).
type ktok struct {
	text string
	line int32
	kind ktokKind
}

// knode is one statement: a keyword, its arguments, and its block.
type knode struct {
	kw       string
	args     []string
	hasBlock bool
	block    []*knode
	pos      Pos

	// cache is set on a top-level virtual_server read alone from a chunk
	// of text that can be cached (see Loader): its text, and when its vs
	// is set, the service that same text gave last time (the block was
	// not parsed).
	cache *cachedBlock
}

// includeFS is where include reads from: the OS for ParseKeepalived and
// Load, nothing for the fuzz target, a map in tests.
type includeFS interface {
	ReadFile(name string) ([]byte, error)
	Glob(pattern string) ([]string, error)
}

type osFS struct{}

// ReadFile reads a regular file of at most maxFileSize bytes: an include
// of /dev/zero, a FIFO or a directory is an error, and never blocks.
func (osFS) ReadFile(name string) ([]byte, error)  { return limitfile.Read(name, maxFileSize) }
func (osFS) Glob(pattern string) ([]string, error) { return filepath.Glob(pattern) }

// noFS refuses every include.
type noFS struct{}

func (noFS) ReadFile(name string) ([]byte, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
}
func (noFS) Glob(string) ([]string, error) { return nil, nil }

const (
	// maxIncludeDepth bounds include nesting.
	maxIncludeDepth = 8
	// maxBlockDepth bounds block nesting (the deepest real one is 4:
	// virtual_server, real_server, HTTP_GET, url).
	maxBlockDepth = 16
	// maxFileSize bounds every file read.
	maxFileSize = 4 << 20
)

// ksyntax turns files into statement trees.
type ksyntax struct {
	fsys  includeFS
	errs  *ErrorList
	files []string
	texts [][]byte // the bytes of files[i] as read, for Config.FilesHash
	stack []string // files being read, for cycle detection

	// warns are the warnings of reading the files (an include that
	// cannot be read); the parser adds them to the configuration's.
	warns ErrorList

	// pre is keepalived's preprocessor (parameters, conditional lines,
	// sequences), whose definitions carry over from file to file.
	pre prep

	// cached: file reads a file chunk by chunk, with cache (the last
	// load's blocks and scans, see Loader) and records this load's scans
	// in next.
	cached      bool
	cache, next blockCache

	// toks is a token buffer to reuse; nodes and args are slabs of
	// statements and of their words (node, argSlice).
	toks  []ktok
	nodes []knode
	args  []string
}

// lex splits data into tokens.
func (s *ksyntax) lex(file string, data []byte, line int) []ktok {
	// Unquoted words are slices of one string copy of the file (no
	// allocation per word); a quoted word is built in word. One token per
	// 6–8 bytes in the test files (testdata/, the seed), 5 in a file of
	// many small real_server blocks, hence len/5.
	src := string(data)
	toks := s.toks // a buffer a finished read gave back (doneToks), else a new one
	s.toks = nil
	if cap(toks) == 0 {
		toks = make([]ktok, 0, len(data)/5+16)
	}
	var word strings.Builder
	start, quotedWord := -1, false // start of the current word (or -1); built in word
	flush := func(end int) {
		if start < 0 {
			return
		}
		w := src[start:end]
		if quotedWord {
			w = word.String()
			word.Reset()
		}
		if !utf8.ValidString(w) {
			s.errs.add(Pos{file, line}, "%q is not valid UTF-8", w)
		}
		toks = append(toks, ktok{w, int32(line), kWord})
		start, quotedWord = -1, false
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch c {
		case '\n':
			flush(i)
			toks = append(toks, ktok{"", int32(line), kEOL})
			line++
		case lineSep:
			// The end of one of the statements the preprocessor made of
			// this line.
			flush(i)
			toks = append(toks, ktok{"", int32(line), kEOL})
		case ' ', '\t', '\r', '\v', '\f':
			flush(i)
		case '#', '!':
			flush(i)
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
		case '{':
			flush(i)
			toks = append(toks, ktok{"{", int32(line), kOpen})
		case '}':
			flush(i)
			toks = append(toks, ktok{"}", int32(line), kClose})
		case '"', '\'':
			if start >= 0 && !quotedWord {
				word.WriteString(src[start:i]) // a quote inside a word: the word goes on
			}
			if start < 0 {
				start = i
			}
			quotedWord = true
			j, ok := s.quoted(data, i, &word)
			if !ok {
				s.errs.add(Pos{file, line}, "unterminated quoted string")
				for j < len(data) && data[j] != '\n' {
					j++
				}
				i = j - 1
				continue
			}
			i = j
		case 0:
			s.errs.add(Pos{file, line}, "NUL byte in the file")
			if start >= 0 && !quotedWord {
				word.WriteString(src[start:i]) // the word goes on without it
				quotedWord = true
			}
		default:
			if start < 0 {
				start = i
			}
			if quotedWord {
				word.WriteByte(c)
			}
		}
	}
	flush(len(data))
	return toks
}

// quoted reads the quoted string starting at data[i] into w and returns the
// index of the closing quote. It fails at the end of the line.
func (s *ksyntax) quoted(data []byte, i int, w *strings.Builder) (int, bool) {
	q := data[i]
	for j := i + 1; j < len(data); j++ {
		c := data[j]
		switch {
		case c == q:
			return j, true
		case c == '\n':
			return j, false
		case c == '\\' && j+1 < len(data) && data[j+1] != '\n':
			j = unescape(data, j+1, w)
		default:
			w.WriteByte(c)
		}
	}
	return len(data), false
}

// unescape writes the escape starting at data[j] (the byte after the
// backslash) and returns the index of its last byte.
func unescape(data []byte, j int, w *strings.Builder) int {
	isOct := func(b byte) bool { return b >= '0' && b <= '7' }
	hexVal := func(b byte) int {
		switch {
		case b >= '0' && b <= '9':
			return int(b - '0')
		case b >= 'a' && b <= 'f':
			return int(b-'a') + 10
		case b >= 'A' && b <= 'F':
			return int(b-'A') + 10
		}
		return -1
	}
	c := data[j]
	switch c {
	case 'a':
		w.WriteByte('\a')
	case 'b':
		w.WriteByte('\b')
	case 'E':
		w.WriteByte(0x1b)
	case 'f':
		w.WriteByte('\f')
	case 'n':
		w.WriteByte('\n')
	case 'r':
		w.WriteByte('\r')
	case 't':
		w.WriteByte('\t')
	case 'v':
		w.WriteByte('\v')
	case 'x':
		v, k := 0, j+1
		for ; k < len(data) && k < j+3 && hexVal(data[k]) >= 0; k++ {
			v = v*16 + hexVal(data[k])
		}
		if k == j+1 {
			w.WriteByte('x')
			return j
		}
		w.WriteByte(byte(v))
		return k - 1
	case 'c':
		if j+1 < len(data) && data[j+1] != '\n' {
			w.WriteByte(data[j+1] & 0x1f)
			return j + 1
		}
		w.WriteByte('c')
	default:
		if isOct(c) {
			v, k := 0, j
			for ; k < len(data) && k < j+3 && isOct(data[k]); k++ {
				v = v*8 + int(data[k]-'0')
			}
			w.WriteByte(byte(v))
			return k - 1
		}
		w.WriteByte(c)
	}
	return j
}

// file parses one file (the main one or an include) into statements.
func (s *ksyntax) file(name string, data []byte) []*knode {
	if len(data) > maxFileSize {
		s.errs.add(Pos{File: name}, "file is larger than %d bytes", maxFileSize)
		return nil
	}
	s.files = append(s.files, name)
	s.texts = append(s.texts, data)
	s.stack = append(s.stack, name)
	defer func() { s.stack = s.stack[:len(s.stack)-1] }()
	if data = s.preprocess(name, data); data == nil {
		return nil
	}
	if s.cached {
		if nodes, ok := s.chunked(name, data); ok {
			return nodes
		}
	}
	toks := s.lex(name, data, 1)
	i := 0
	nodes, _ := s.statements(name, toks, &i, 0)
	s.doneToks(toks)
	return nodes
}

// doneToks gives back the token buffer of a read whose statements are
// made: the next lex reuses it (the words are strings of their own).
func (s *ksyntax) doneToks(toks []ktok) { s.toks = toks[:0] }

// node returns a new statement, taken from a slab: one allocation for
// many statements.
func (s *ksyntax) node(kw string, pos Pos) *knode {
	if len(s.nodes) == 0 {
		s.nodes = make([]knode, 256)
	}
	n := &s.nodes[0]
	s.nodes = s.nodes[1:]
	n.kw, n.pos = kw, pos
	return n
}

// argSlice returns a slice for n words, of length and capacity n, taken
// from a slab.
func (s *ksyntax) argSlice(n int) []string {
	if len(s.args) < n {
		s.args = make([]string, max(1024, n))
	}
	a := s.args[:n:n]
	s.args = s.args[n:]
	return a
}

// statements parses statements until the end of the tokens or, inside a
// block (depth > 0), a '}' which it consumes and reports as closed.
func (s *ksyntax) statements(file string, toks []ktok, i *int, depth int) (out []*knode, closed bool) {
	for *i < len(toks) && !s.errs.full() {
		t := toks[*i]
		switch t.kind {
		case kEOL:
			*i++
			continue
		case kClose:
			*i++
			if depth > 0 {
				return out, true
			}
			s.errs.add(Pos{file, int(t.line)}, "unexpected '}'")
			continue
		case kOpen:
			*i++
			s.errs.add(Pos{file, int(t.line)}, "unexpected '{' without a keyword")
			// Parse and drop the block so that its '}' does not confuse
			// the caller.
			if depth < maxBlockDepth {
				s.statements(file, toks, i, depth+1)
			}
			continue
		}
		n := s.node(t.text, Pos{file, int(t.line)})
		*i++
		k := *i
		for k < len(toks) && toks[k].kind == kWord {
			k++
		}
		if k > *i {
			n.args = s.argSlice(k - *i)
			for j := range n.args {
				n.args[j] = toks[*i+j].text
			}
			*i = k
		}
		// A '{' on this line, or first on a following line, opens the block.
		j := *i
		for j < len(toks) && toks[j].kind == kEOL {
			j++
		}
		if j < len(toks) && toks[j].kind == kOpen {
			if depth+1 > maxBlockDepth {
				s.errs.add(n.pos, "blocks are nested more than %d deep", maxBlockDepth)
				*i = len(toks)
				return out, false
			}
			*i = j + 1
			n.hasBlock = true
			var ok bool
			n.block, ok = s.statements(file, toks, i, depth+1)
			if !ok {
				s.errs.add(n.pos, "keyword %q: block is not closed (missing '}')", n.kw)
			}
		}
		if includeKeywords[n.kw] {
			out = append(out, s.include(n)...)
			continue
		}
		out = append(out, n)
	}
	return out, false
}

// includeKeywords are include and keepalived's stricter variants
// (includer, includem, includew, includeb, includea: include_check
// levels). A plain include skips a named file it cannot read, with a
// warning, as keepalived does; the variants make it an error (Tandem
// checks readability and existence, not keepalived's finer levels).
var includeKeywords = map[string]bool{"include": true, "includer": true, "includem": true, "includew": true, "includeb": true, "includea": true}

// include resolves an include statement into the statements of the files
// it names.
func (s *ksyntax) include(n *knode) []*knode {
	if n.hasBlock {
		s.errs.add(n.pos, "keyword \"include\": takes no block")
		return nil
	}
	if len(n.args) != 1 {
		s.errs.add(n.pos, "keyword \"include\": wants one file name or pattern (quote a name with spaces)")
		return nil
	}
	pat := n.args[0]
	if !filepath.IsAbs(pat) {
		pat = filepath.Join(filepath.Dir(n.pos.File), pat)
	}
	var names []string
	if strings.ContainsAny(pat, "*?[") {
		m, err := s.fsys.Glob(pat)
		if err != nil {
			s.errs.add(n.pos, "keyword \"include\": bad pattern %q: %v", n.args[0], err)
			return nil
		}
		// A pattern that matches nothing (an empty conf.d) is fine.
		names = m
	} else {
		names = []string{pat}
	}
	var out []*knode
	for _, name := range names {
		if slices.Contains(s.stack, name) {
			s.errs.add(n.pos, "keyword \"include\": %s includes itself (include cycle)", name)
			continue
		}
		if len(s.stack) > maxIncludeDepth {
			s.errs.add(n.pos, "keyword \"include\": includes are nested more than %d deep", maxIncludeDepth)
			return out
		}
		data, err := s.fsys.ReadFile(name)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			// A file that is there but is not a configuration (not a
			// regular file, too large) is an error even for a plain
			// include: keepalived would hang on it or read it whole.
			bad := errors.Is(err, limitfile.ErrNotRegular) || errors.Is(err, limitfile.ErrTooLarge)
			if n.kw == "include" && !bad {
				addBounded(&s.warns, maxWarnings, n.pos, "keyword \"include\": cannot read %s: %v: keepalived's plain include skips it, and so does Tandem (includea makes it an error)", name, err)
				continue
			}
			s.errs.add(n.pos, "keyword %q: cannot read %s: %v", n.kw, name, err)
			continue
		}
		out = append(out, s.file(name, data)...)
	}
	return out
}
