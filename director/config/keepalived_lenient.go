package config

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// keepalived is lenient: a keyword it does not know, extra words after a
// keyword's arguments, a removed keyword, a value it can correct (a long
// auth_pass, nopreempt with state MASTER) are logged and skipped, and it
// runs. The keepalived.conf reader does the same, loudly: each such case is
// a warning in Config.Warnings that says what keepalived does and what
// Tandem does, "file:line: keyword "x": ...". What keepalived itself
// refuses (a missing '}', a bad address or VRID, an include loop) stays an
// error. check-config --strict turns every warning into an error.

// maxWarnings bounds the warnings of one read; one more entry says that
// the rest were left out.
const maxWarnings = 500

// warnAt records a warning at pos.
func (p *kparser) warnAt(pos Pos, format string, args ...any) {
	addBounded(&p.cfg.Warnings, maxWarnings, pos, format, args...)
}

// warnf records a warning about keyword n: `keyword "x": ...`.
func (p *kparser) warnf(n *knode, format string, args ...any) {
	p.warnAt(n.pos, "keyword %q: %s", n.kw, fmt.Sprintf(format, args...))
}

// warnIs records a warning that reads on from the keyword: `keyword "x"
// is ...`.
func (p *kparser) warnIs(n *knode, format string, args ...any) {
	p.warnAt(n.pos, "keyword %q %s", n.kw, fmt.Sprintf(format, args...))
}

// addBounded appends a message to l unless it holds max already.
func addBounded(l *ErrorList, max int, pos Pos, format string, args ...any) {
	switch {
	case len(*l) < max:
		*l = append(*l, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
	case len(*l) == max:
		*l = append(*l, &Error{Pos: pos, Msg: "too many warnings; the rest are not shown"})
	}
}

// unknown handles a keyword that Tandem does not implement in a block:
// a warning saying what keepalived would have done with it; the keyword
// and its block, if any, are skipped.
func (p *kparser) unknown(block string, c *knode) {
	what := "it"
	if c.hasBlock {
		what = "it and its block"
	}
	if k, ok := kaLookup(block, c.kw); ok {
		if k.Deprecated != "" {
			p.warnIs(c, "(in %s) is keepalived's old name of %q, which Tandem does not implement either: keepalived %s; Tandem ignores %s", block, k.Deprecated, k.Does, what)
			return
		}
		p.warnIs(c, "(in %s) is not implemented by Tandem: keepalived %s; Tandem ignores %s", block, k.Does, what)
		return
	}
	if k, ok := kaRemovedLookup(c.kw); ok {
		p.warnIs(c, "(in %s) was removed from keepalived (it %s); keepalived 2.2.7 logs \"Unknown keyword\" and skips it, and so does Tandem", block, k.Does)
		return
	}
	if where, ok := kaElsewhere(c.kw); ok {
		p.warnIs(c, "is not a keyword of %s (keepalived knows it in %s only): keepalived logs \"Unknown keyword\" and skips %s, and so does Tandem", block, where, what)
		return
	}
	p.warnIs(c, "is unknown to keepalived 2.2.7 (in %s): keepalived logs \"Unknown keyword\" and skips %s, and so does Tandem", block, what)
}

// kaInfo is what the reader tells about a keyword of keepalived 2.2.7
// that Tandem does not implement: what keepalived does with it, and its
// newer name when it is an old alias.
type kaInfo struct{ Does, Deprecated string }

// kaLookup finds a keyword of keepalived 2.2.7 in a block.
func kaLookup(block, name string) (kaInfo, bool) {
	k, ok := kaCatalogue().index[kaKey{block, name}]
	return k, ok
}

// kaRemovedLookup finds a keyword keepalived no longer knows.
func kaRemovedLookup(name string) (kaInfo, bool) {
	k, ok := kaCatalogue().removed[name]
	return k, ok
}

// kaElsewhere names the blocks where keepalived knows a keyword, when it
// knows it somewhere.
func kaElsewhere(name string) (string, bool) {
	bs := kaCatalogue().blocks[name]
	if len(bs) == 0 {
		return "", false
	}
	return strings.Join(bs, ", "), true
}

type kaKey struct{ block, name string }

// kaIndexes are the catalogue of keepalived's keywords
// (keepalived_keywords.go) indexed for the reader.
type kaIndexes struct {
	index   map[kaKey]kaInfo
	blocks  map[string][]string
	removed map[string]kaInfo
}

var kaCatalogue = sync.OnceValue(buildKaIndexes)

// extraArgs reports words after the arguments a keyword takes: keepalived
// ignores them (with a warning for some keywords, silently for others).
func (p *kparser) extraArgs(n *knode, max int) {
	if len(n.args) <= max {
		return
	}
	p.warnf(n, "extra words %q after its arguments: keepalived ignores them, and so does Tandem", strings.Join(n.args[max:], " "))
	n.args = n.args[:max]
}

// buildKaIndexes indexes the catalogue (keepalived_keywords.go).
func buildKaIndexes() kaIndexes {
	x := kaIndexes{
		index:   make(map[kaKey]kaInfo, len(kaKeywords)),
		blocks:  map[string][]string{},
		removed: make(map[string]kaInfo, len(kaRemoved)),
	}
	for _, k := range kaKeywords {
		x.index[kaKey{k.Block, k.Name}] = kaInfo{Does: k.Does, Deprecated: k.Deprecated}
		if !slices.Contains(x.blocks[k.Name], k.Block) {
			x.blocks[k.Name] = append(x.blocks[k.Name], k.Block)
		}
	}
	for _, k := range kaRemoved {
		if _, ok := x.removed[k.Name]; !ok {
			x.removed[k.Name] = kaInfo{Does: k.Does}
		}
	}
	return x
}
