package config

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/tandemlb/tandem/shared/limitfile"
)

// MarshalMigration writes c as MarshalNative does, with header (one or
// more lines, "" for none) as the file's first comment and each of
// c.Warnings as a comment "warning: file:line: ..." at the element it
// concerns: the instance, virtual server, real server, check, tracked
// object or sync group whose block holds the warning's line (the
// innermost one that is in the output). Warnings of anything else
// (global_defs, a block keepalived drops) go at the top, under the header.
// It is what `tandem-director migrate` writes; the comments do not change
// what ParseNative reads.
//
// For a keepalived.conf, the blocks' extents come from reading c.Files
// again; when they cannot be read, a warning goes to the element that
// starts on its line, else to the top.
func MarshalMigration(c *Config, header string) ([]byte, error) {
	if c == nil {
		return nil, fmt.Errorf("config: MarshalMigration of a nil Config")
	}
	anchors := map[Pos]*yaml.Node{}
	root := marshalRoot(c, func(p Pos, n *yaml.Node) {
		// Services of one virtual_server_group share their block: the
		// first one gets its comments.
		if _, ok := anchors[p]; !ok && p.IsValid() {
			anchors[p] = n
		}
	})
	var blocks []*knode
	if c.Format == FormatKeepalived && len(c.Files) > 0 {
		if data, err := limitfile.Read(c.Files[0], maxFileSize); err == nil {
			var errs ErrorList
			blocks = newKSyntax(osFS{}, &errs, nil).file(c.Files[0], data)
		}
	}
	ext := map[*knode]extent{}
	for _, n := range blocks {
		blockExtent(n, ext)
	}
	var top []string
	for _, w := range c.Warnings {
		text := "warning: " + commentSafe(w.Error())
		n := anchors[w.Pos]
		if n == nil {
			n = innermost(blocks, w.Pos, ext, anchors)
		}
		if n == nil {
			top = append(top, text)
			continue
		}
		if n.HeadComment != "" {
			n.HeadComment += "\n"
		}
		n.HeadComment += text
	}
	var head []string
	if header != "" {
		for _, l := range strings.Split(header, "\n") {
			head = append(head, commentSafe(l))
		}
	}
	if len(top) > 0 {
		if len(head) > 0 {
			head = append(head, "")
		}
		head = append(head, top...)
	}
	return encodeNative(root, strings.Join(head, "\n"))
}

// extent is where a statement's block ends: the line of its last
// statement in its own file, and whether statements of other files
// (includes) are in it.
type extent struct {
	end   int
	mixed bool
}

// blockExtent records the extent of n and of every statement under it,
// and returns n's.
func blockExtent(n *knode, ext map[*knode]extent) extent {
	x := extent{end: n.pos.Line}
	for _, c := range n.block {
		e := blockExtent(c, ext)
		if c.pos.File != n.pos.File || e.mixed {
			x.mixed = true
		}
		if c.pos.File == n.pos.File && e.end > x.end {
			x.end = e.end
		}
	}
	ext[n] = x
	return x
}

// innermost returns the node of the innermost anchored statement whose
// block holds pos, or nil.
func innermost(nodes []*knode, pos Pos, ext map[*knode]extent, anchors map[Pos]*yaml.Node) *yaml.Node {
	for _, n := range nodes {
		x := ext[n]
		holds := n.pos.File == pos.File && pos.Line >= n.pos.Line && pos.Line <= x.end
		if !holds && !x.mixed {
			continue
		}
		if in := innermost(n.block, pos, ext, anchors); in != nil {
			return in
		}
		if a := anchors[n.pos]; holds && a != nil {
			return a
		}
	}
	return nil
}

// commentSafe makes s one line of a YAML comment: control characters,
// line and paragraph separators and other unprintable runes are written
// as Go escapes.
func commentSafe(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsPrint(r) || r == ' ' {
			b.WriteRune(r)
			continue
		}
		q := fmt.Sprintf("%+q", string(r))
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}
