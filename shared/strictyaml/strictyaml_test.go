package strictyaml

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sample is a small schema: a top level with a name, a port, a flag, a
// duration, a list of strings and a nested mapping.
type sample struct {
	Name    string
	Port    int
	On      bool
	Every   time.Duration
	Tags    []string
	Mode    string
	KeyFile string
}

func readSample(name string, data []byte) (sample, Errors) {
	var s sample
	r := NewReader(name)
	root, ok := r.Read(data)
	if !ok {
		return s, r.Errors()
	}
	keys := root.Mapping(Fields{
		"name":  Str(&s.Name),
		"port":  Int(&s.Port, 1, 65535),
		"on":    Bool(&s.On),
		"every": Duration(&s.Every, time.Millisecond, time.Hour),
		"tags": func(v Value) {
			v.List(func(e Value) {
				if t, ok := e.Str(); ok {
					s.Tags = append(s.Tags, t)
				}
			})
		},
		"heartbeat": func(v Value) {
			v.Mapping(Fields{
				"mode": OneOf(&s.Mode, "text", "json"),
				"key_file": Checked(&s.KeyFile, func(p string) string {
					if !strings.HasPrefix(p, "/") {
						return "not an absolute path"
					}
					return ""
				}),
			})
		},
	})
	root.Require(keys, "name")
	return s, r.Errors()
}

// errText is what tests compare: each error's text.
func errText(l Errors) []string {
	var out []string
	for _, e := range l {
		out = append(out, e.Error())
	}
	return out
}

func TestReadErrors(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     []string
	}{
		{"valid", "name: a\nport: 80\non: true\nevery: 2s\ntags: [x, y]\nheartbeat: {mode: json, key_file: /k}\n", nil},
		{"unknown key", "name: a\ncolour: blue\n", []string{`f.yaml:2: key "colour": unknown key (known here: every, heartbeat, name, on, port, tags)`}},
		{"unknown key, close", "name: a\nprot: 80\n", []string{`f.yaml:2: key "prot": unknown key (did you mean "port"?)`}},
		{"nested unknown key", "name: a\nheartbeat:\n  keyfile: /k\n", []string{`f.yaml:3: key "heartbeat.keyfile": unknown key (did you mean "key_file"?)`}},
		{"nested unknown key, few known", "name: a\nheartbeat:\n  colour: red\n", []string{`f.yaml:3: key "heartbeat.colour": unknown key (known here: key_file, mode)`}},
		{"duplicate key", "name: a\nport: 1\nport: 2\n", []string{`f.yaml:3: key "port": duplicate key (first at line 2)`}},
		{"mapping for a scalar", "name:\n  first: a\n", []string{`f.yaml:2: key "name": want a string, not a mapping`}},
		{"scalar for a mapping", "name: a\nheartbeat: on\n", []string{`f.yaml:2: key "heartbeat": want a mapping of keys, not "on"`}},
		{"scalar for a list", "name: a\ntags: x\n", []string{`f.yaml:2: key "tags": want a list, not "x"`}},
		{"list element", "name: a\ntags: [x, {y: 1}]\n", []string{`f.yaml:2: key "tags[1]": want a string, not a mapping`}},
		{"integer", "name: a\nport: eighty\n", []string{`f.yaml:2: key "port": want an integer, not "eighty"`}},
		{"quoted integer", "name: a\nport: \"80\"\n", []string{`f.yaml:2: key "port": want an integer, not "80"`}},
		{"out of range", "name: a\nport: 70000\n", []string{`f.yaml:2: key "port": 70000 is out of range 1..65535`}},
		{"bool", "name: a\non: yes\n", []string{`f.yaml:2: key "on": want true or false, not "yes"`}},
		{"duration without unit", "name: a\nevery: 2\n", []string{`f.yaml:2: key "every": "2" needs a unit, e.g. "2s"`}},
		{"bad duration", "name: a\nevery: soon\n", []string{`f.yaml:2: key "every": "soon" is not a duration such as "10s", "1.5s" or "5m"`}},
		{"duration range", "name: a\nevery: 2h\n", []string{`f.yaml:2: key "every": 2h is out of range 1ms..1h`}},
		{"one of", "name: a\nheartbeat: {mode: xml}\n", []string{`f.yaml:2: key "heartbeat.mode": "xml" is not one of text, json`}},
		{"checked", "name: a\nheartbeat: {key_file: k}\n", []string{`f.yaml:2: key "heartbeat.key_file": not an absolute path`}},
		{"missing key", "port: 80\n", []string{`f.yaml:1: key "name": missing required key`}},
		{"empty document", "# nothing\n", []string{`f.yaml:1: key "name": missing required key`}},
		{"not a mapping", "- a\n", []string{`f.yaml:1: want a mapping of keys, not a list`}},
		{"two errors in line order", "name: a\nheartbeat:\n  mode: xml\nport: 0\ncolour: red\n", []string{
			`f.yaml:3: key "heartbeat.mode": "xml" is not one of text, json`,
			`f.yaml:4: key "port": 0 is out of range 1..65535`,
			`f.yaml:5: key "colour": unknown key (known here: every, heartbeat, name, on, port, tags)`,
		}},
		{"sorted by line and column", "heartbeat: {mode: x}\nport: x\n", []string{
			`f.yaml:1: key "name": missing required key`,
			`f.yaml:1: key "heartbeat.mode": "x" is not one of text, json`,
			`f.yaml:2: key "port": want an integer, not "x"`,
		}},
		{"syntax", "name: [\n", []string{`f.yaml:1: YAML syntax: did not find expected node content`}},
		{"two documents", "name: a\n---\nname: b\n", []string{`f.yaml:2: only one YAML document is allowed`}},
		{"anchor and alias", "name: &a x\nport: *a\n", []string{`f.yaml:1: anchors and aliases are not supported`, `f.yaml:2: anchors and aliases are not supported`}},
		{"merge key", "name: a\n<<: {port: 1}\n", []string{`f.yaml:2: tag "!!merge" is not supported`}},
		{"custom tag", "name: !foo a\n", []string{`f.yaml:1: tag "!foo" is not supported`}},
		{"too deep", "name: a\ntags: " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\n", []string{`f.yaml:2: nested more than 32 deep`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := readSample("f.yaml", []byte(tt.in))
			if diff := cmp.Diff(tt.want, errText(errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadValues(t *testing.T) {
	got, errs := readSample("f.yaml", []byte("name: a\nport: 0x50\non: false\nevery: 1.5s\ntags: [x, 2]\nheartbeat: {mode: text, key_file: /k}\n"))
	if errs != nil {
		t.Fatal(errs)
	}
	want := sample{Name: "a", Port: 80, Every: 1500 * time.Millisecond, Tags: []string{"x", "2"}, Mode: "text", KeyFile: "/k"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestErrorText(t *testing.T) {
	inner := errors.New("no such file")
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"full", &Error{File: "b.yaml", Line: 7, Column: 3, Key: "vips[1]", Err: errors.New(`"192.0.2.300" is not an IP address`)}, `b.yaml:7: key "vips[1]": "192.0.2.300" is not an IP address`},
		{"no key", &Error{File: "b.yaml", Line: 1, Err: errors.New("only one YAML document is allowed")}, `b.yaml:1: only one YAML document is allowed`},
		{"no line", &Error{File: "b.yaml", Err: inner}, `b.yaml: no such file`},
		{"list", Errors{{File: "a", Line: 1, Key: "x", Err: errors.New("m1")}, {File: "a", Line: 2, Err: errors.New("m2")}}, "a:1: key \"x\": m1\na:2: m2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.err.Error()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	var list error = Errors{{File: "a", Err: &fs.PathError{Op: "open", Path: "a", Err: fs.ErrNotExist}}}
	if !errors.Is(list, fs.ErrNotExist) {
		t.Error("errors.Is does not see through Errors")
	}
	var e *Error
	if !errors.As(list, &e) || e.File != "a" {
		t.Errorf("errors.As = %v", e)
	}
}

func TestLinesAndColumns(t *testing.T) {
	r := NewReader("f.yaml")
	root, ok := r.Read([]byte("name: a\nheartbeat:\n  mode: xml\n"))
	if !ok {
		t.Fatal(r.Errors())
	}
	root.Mapping(Fields{"name": Str(new(string)), "heartbeat": func(v Value) { v.Mapping(Fields{"mode": OneOf(new(string), "text")}) }})
	if diff := cmp.Diff(map[string]int{"name": 1, "heartbeat": 2, "heartbeat.mode": 3}, r.Lines()); diff != "" {
		t.Errorf("Lines (-want +got):\n%s", diff)
	}
	errs := r.Errors()
	if len(errs) != 1 || errs[0].Line != 3 || errs[0].Column != 9 || errs[0].Key != "heartbeat.mode" {
		t.Errorf("errors %#v", errs)
	}
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: a\n")
	for i := range MaxErrors + 10 {
		b.WriteString("x" + strings.Repeat("y", i) + ": 1\n")
	}
	_, errs := readSample("f.yaml", []byte(b.String()))
	if len(errs) != MaxErrors+1 || errs[MaxErrors].Err.Error() != "too many errors; the rest are not shown" {
		t.Errorf("%d errors, last %v", len(errs), errs[len(errs)-1])
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", 90 * time.Second: "90s", 1500 * time.Millisecond: "1500ms", 2 * time.Hour: "2h", -time.Minute: "-1m", 3: "3ns"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%d) = %q, want %q", d, got, want)
		}
	}
}
