// Package strictyaml reads the YAML configuration files of both daemons
// (the director's native format and the agent's backend.yaml) strictly:
// one document; no anchors, aliases, merge keys or custom tags; every
// mapping key known and given once; every value of the kind and in the
// range its key wants.
//
// It does not stop at the first problem. A Reader collects every error,
// each naming the file, the line (and column) and the dotted key path, and
// Errors returns them sorted by line:
//
//	backend.yaml:6: key "heartbeat.keyfile": unknown key (did you mean "key_file"?)
//	backend.yaml:9: key "health.rise": 0 is out of range 1..100
//
// The caller describes each mapping with Fields, a function per known key,
// and reads scalars with the Value methods or the setters (Str, Int, Bool,
// Duration, OneOf, Checked) that store into the model.
package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxDepth bounds the nesting of mappings and lists.
const MaxDepth = 32

// Reader reads one file and collects its errors.
type Reader struct {
	file  string
	errs  Errors
	lines map[string]int
}

// NewReader returns a Reader for the file name (used in errors).
func NewReader(file string) *Reader {
	return &Reader{file: file, lines: map[string]int{}}
}

// Errors returns the errors found so far, sorted by line and column.
func (r *Reader) Errors() Errors { return r.errs.sorted() }

// Lines maps the dotted path of every known key read so far to its line.
func (r *Reader) Lines() map[string]int { return r.lines }

// Errorf records an error at line (0: the whole file) about key (empty:
// the document).
func (r *Reader) Errorf(line int, key, format string, args ...any) {
	r.add(&Error{File: r.file, Line: line, Key: key, Err: fmt.Errorf(format, args...)})
}

func (r *Reader) add(e *Error) {
	switch {
	case len(r.errs) < MaxErrors:
		r.errs = append(r.errs, e)
	case len(r.errs) == MaxErrors:
		r.errs = append(r.errs, &Error{File: r.file, Line: e.Line, Err: errors.New("too many errors; the rest are not shown")})
	}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (r *Reader) syntax(err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		r.Errorf(line, "", "YAML syntax: %s", m[2])
		return
	}
	r.Errorf(0, "", "YAML syntax: %s", strings.TrimPrefix(msg, "yaml: "))
}

// Read parses data as exactly one YAML document and checks that it is
// plain (no anchors, aliases or custom tags, at most MaxDepth deep). It
// returns the root value and true, or records the errors and returns
// false. An empty document (nothing, or only comments) is a null root at
// line 1, which Mapping reads as no keys.
func (r *Reader) Read(data []byte) (Value, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		return Value{r: r, n: &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: 1, Column: 1}}, true
	}
	if err != nil {
		r.syntax(err)
		return Value{}, false
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		if err != nil {
			r.syntax(err)
		} else {
			r.Errorf(more.Line, "", "only one YAML document is allowed")
		}
		return Value{}, false
	}
	if !r.plain(&doc, 0) {
		return Value{}, false
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	return Value{r: r, n: root}, true
}

// plain reports anchors, aliases, custom tags and deep nesting, so that
// every later step sees a plain tree.
func (r *Reader) plain(n *yaml.Node, depth int) bool {
	at := func(msg string, args ...any) {
		r.add(&Error{File: r.file, Line: n.Line, Column: n.Column, Err: fmt.Errorf(msg, args...)})
	}
	if depth > MaxDepth {
		at("nested more than %d deep", MaxDepth)
		return false
	}
	ok := true
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		at("anchors and aliases are not supported")
		ok = false
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!bool", "!!float", "!!null", "!!map", "!!seq", "!!timestamp", "":
	default:
		at("tag %q is not supported", n.Tag)
		ok = false
	}
	if n.Kind == yaml.AliasNode {
		return false
	}
	for _, c := range n.Content {
		if !r.plain(c, depth+1) {
			ok = false
		}
	}
	return ok
}

// Value is a node of the document with its dotted key path.
type Value struct {
	r    *Reader
	n    *yaml.Node
	path string
}

// Node returns the YAML node.
func (v Value) Node() *yaml.Node { return v.n }

// Path returns the dotted key path ("heartbeat.key_file", "vips[1]"); ""
// for the root.
func (v Value) Path() string { return v.path }

// Line returns the 1-based line of the value.
func (v Value) Line() int { return v.n.Line }

// IsNull reports whether the value is empty (nothing, "~" or null).
func (v Value) IsNull() bool { return v.n.Kind == yaml.ScalarNode && v.n.ShortTag() == "!!null" }

// IsScalar reports whether the value is a single value, not empty.
func (v Value) IsScalar() bool { return v.n.Kind == yaml.ScalarNode && !v.IsNull() }

// IsMapping reports whether the value is a mapping.
func (v Value) IsMapping() bool { return v.n.Kind == yaml.MappingNode }

// IsList reports whether the value is a list.
func (v Value) IsList() bool { return v.n.Kind == yaml.SequenceNode }

// Errorf records an error about this value, at its line and column.
func (v Value) Errorf(format string, args ...any) {
	v.r.add(&Error{File: v.r.file, Line: v.n.Line, Column: v.n.Column, Key: v.path, Err: fmt.Errorf(format, args...)})
}

// KeyErrorf records an error about the key name of this mapping (a
// missing key, a key that does not apply), at the mapping's line.
func (v Value) KeyErrorf(name, format string, args ...any) {
	v.r.add(&Error{File: v.r.file, Line: v.n.Line, Column: v.n.Column, Key: join(v.path, name), Err: fmt.Errorf(format, args...)})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names what the value is, for "want X, not Y".
func (v Value) describe() string {
	switch v.n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if v.IsNull() {
			return "an empty value"
		}
		s := v.n.Value
		if len(s) > 64 {
			s = s[:64] + "..."
		}
		return strconv.Quote(s)
	}
	return "something else"
}

// Fields maps each key a mapping may hold to the function that reads its
// value.
type Fields map[string]func(Value)

// Keys are the keys a mapping holds, with their values.
type Keys map[string]Value

// Has reports whether the mapping holds key.
func (k Keys) Has(key string) bool {
	_, ok := k[key]
	return ok
}

// Mapping checks that v is a mapping (an empty value is one with no keys)
// whose keys are plain, known and unique, and calls the field of each key:
// first those named in first, then the others in document order. It
// returns the known keys present.
func (v Value) Mapping(fields Fields, first ...string) Keys {
	keys := Keys{}
	if v.IsNull() {
		return keys
	}
	if v.n.Kind != yaml.MappingNode {
		v.Errorf("want a mapping of keys, not %s", v.describe())
		return keys
	}
	var order []string
	seen := map[string]int{}
	for i := 0; i+1 < len(v.n.Content); i += 2 {
		k, n := v.n.Content[i], v.n.Content[i+1]
		kv := Value{r: v.r, n: k, path: join(v.path, k.Value)}
		if k.Kind != yaml.ScalarNode {
			kv.path = v.path
			kv.Errorf("keys must be plain strings, not %s", kv.describe())
			continue
		}
		if line, dup := seen[k.Value]; dup {
			kv.Errorf("duplicate key (first at line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		if _, ok := fields[k.Value]; !ok {
			h := ""
			if len(v.r.errs) < MaxErrors { // a hint costs; none once full
				h = hint(k.Value, fields)
			}
			kv.Errorf("unknown key%s", h)
			continue
		}
		v.r.lines[kv.path] = k.Line
		keys[k.Value] = Value{r: v.r, n: n, path: kv.path}
		order = append(order, k.Value)
	}
	for _, name := range first {
		if x, ok := keys[name]; ok {
			fields[name](x)
		}
	}
	for _, name := range order {
		if !slices.Contains(first, name) {
			fields[name](keys[name])
		}
	}
	return keys
}

// hint suggests the known key closest to an unknown one, or lists the
// known keys when there are few.
func hint(key string, fields Fields) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	best, bestD := "", 3
	for _, k := range names {
		if d := distance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	switch {
	case best != "":
		return fmt.Sprintf(" (did you mean %q?)", best)
	case len(names) <= 12:
		return " (known here: " + strings.Join(names, ", ") + ")"
	}
	return ""
}

// distance is the Levenshtein distance of a and b, for short keys.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Require records "missing required key" for each of names not in keys;
// nothing when v is not a mapping (Mapping said so).
func (v Value) Require(keys Keys, names ...string) {
	if !v.IsNull() && !v.IsMapping() {
		return
	}
	for _, name := range names {
		if !keys.Has(name) {
			v.KeyErrorf(name, "missing required key")
		}
	}
}

// List calls each for every element of a list (an empty value is an empty
// list); the element's path is "key[i]". A single value is not a list of
// one.
func (v Value) List(each func(Value)) {
	if v.IsNull() {
		return
	}
	if v.n.Kind != yaml.SequenceNode {
		v.Errorf("want a list, not %s", v.describe())
		return
	}
	for i, e := range v.n.Content {
		each(Value{r: v.r, n: e, path: fmt.Sprintf("%s[%d]", v.path, i)})
	}
}

// Str returns a scalar's text (a number or a boolean as written).
func (v Value) Str() (string, bool) {
	if v.n.Kind != yaml.ScalarNode || v.IsNull() {
		v.Errorf("want a string, not %s", v.describe())
		return "", false
	}
	return v.n.Value, true
}

// Int returns an integer within lo..hi.
func (v Value) Int(lo, hi int) (int, bool) {
	var n int64
	if v.n.Kind != yaml.ScalarNode || v.n.ShortTag() != "!!int" || v.n.Decode(&n) != nil {
		v.Errorf("want an integer, not %s", v.describe())
		return 0, false
	}
	if n < int64(lo) || n > int64(hi) {
		v.Errorf("%d is out of range %d..%d", n, lo, hi)
		return 0, false
	}
	return int(n), true
}

// Bool returns true or false (YAML's boolean, not a quoted string).
func (v Value) Bool() (bool, bool) {
	var b bool
	if v.n.Kind != yaml.ScalarNode || v.n.ShortTag() != "!!bool" || v.n.Decode(&b) != nil {
		v.Errorf("want true or false, not %s", v.describe())
		return false, false
	}
	return b, true
}

// Duration returns a Go duration string with a unit ("10s", "1.5s",
// "5m") within lo..hi; a bare number is an error.
func (v Value) Duration(lo, hi time.Duration) (time.Duration, bool) {
	if v.n.Kind != yaml.ScalarNode || v.IsNull() {
		v.Errorf("want a duration such as \"10s\", not %s", v.describe())
		return 0, false
	}
	if t := v.n.ShortTag(); t == "!!int" || t == "!!float" {
		v.Errorf("%q needs a unit, e.g. \"%ss\"", v.n.Value, v.n.Value)
		return 0, false
	}
	d, err := time.ParseDuration(v.n.Value)
	if err != nil {
		v.Errorf("%q is not a duration such as \"10s\", \"1.5s\" or \"5m\"", v.n.Value)
		return 0, false
	}
	if d < lo || d > hi {
		v.Errorf("%s is out of range %s..%s", FormatDuration(d), FormatDuration(lo), FormatDuration(hi))
		return 0, false
	}
	return d, true
}

// OneOf returns a string that is one of choices.
func (v Value) OneOf(choices ...string) (string, bool) {
	s, ok := v.Str()
	if !ok {
		return "", false
	}
	if !slices.Contains(choices, s) {
		v.Errorf("%q is not one of %s", s, strings.Join(choices, ", "))
		return "", false
	}
	return s, true
}

// Str returns a field that stores a string.
func Str(dst *string) func(Value) {
	return func(v Value) {
		if s, ok := v.Str(); ok {
			*dst = s
		}
	}
}

// Int returns a field that stores an integer within lo..hi.
func Int(dst *int, lo, hi int) func(Value) {
	return func(v Value) {
		if n, ok := v.Int(lo, hi); ok {
			*dst = n
		}
	}
}

// Bool returns a field that stores true or false.
func Bool(dst *bool) func(Value) {
	return func(v Value) {
		if b, ok := v.Bool(); ok {
			*dst = b
		}
	}
}

// Duration returns a field that stores a duration within lo..hi.
func Duration(dst *time.Duration, lo, hi time.Duration) func(Value) {
	return func(v Value) {
		if d, ok := v.Duration(lo, hi); ok {
			*dst = d
		}
	}
}

// OneOf returns a field that stores one of choices.
func OneOf(dst *string, choices ...string) func(Value) {
	return func(v Value) {
		if s, ok := v.OneOf(choices...); ok {
			*dst = s
		}
	}
}

// Checked returns a field that stores a string that check accepts: check
// returns what is wrong, or "".
func Checked(dst *string, check func(string) string) func(Value) {
	return func(v Value) {
		s, ok := v.Str()
		if !ok {
			return
		}
		if m := check(s); m != "" {
			v.Errorf("%s", m)
			return
		}
		*dst = s
	}
}

// FormatDuration formats d in its largest exact unit: "90s", "1500ms",
// "2h", "0s".
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "us"}} {
		if d%u.d == 0 {
			return sign + strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return sign + strconv.FormatInt(int64(d), 10) + "ns"
}
