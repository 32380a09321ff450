package app

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"

	"github.com/tandemlb/tandem/director/config"
)

// virtualServersHash identifies cfg's virtual servers, for the comparison
// of the two directors of a pair (config_virtual_servers_info, the alert
// TandemDirectorsConfigDiffer): the first 12 hex digits of the SHA-256 of
// each service's values as the model holds them, services sorted. Unlike
// the files' hash (config_info) it leaves out what is each director's own
// (vrrp_instance priority, state, unicast_src_ip, global_defs router_id,
// every other block), the format of the file, comments and source lines,
// and the order of the virtual_server blocks; the order of real servers
// within one counts. A check's bindto (a source address of this director)
// is left out too.
func virtualServersHash(cfg *config.Config) string {
	sums := make([][sha256.Size]byte, len(cfg.Services))
	// Each service's canonical bytes are made in one buffer and hashed at
	// once: the same sum as writing them piece by piece, without a hash
	// write per word (at 1,000 services it was 12 ms of a start).
	c := canonicalizer{fields: map[reflect.Type][]canonicalField{}}
	var buf []byte
	for i := range cfg.Services {
		buf = c.append(buf[:0], reflect.ValueOf(&cfg.Services[i]).Elem())
		sums[i] = sha256.Sum256(buf)
	}
	slices.SortFunc(sums, func(a, b [sha256.Size]byte) int { return cmp.Compare(string(a[:]), string(b[:])) })
	all := sha256.New()
	for _, s := range sums {
		all.Write(s[:])
	}
	return hex.EncodeToString(all.Sum(nil))[:12]
}

var (
	posType   = reflect.TypeFor[config.Pos]()
	checkType = reflect.TypeFor[config.Check]()
)

// canonicalizer writes the canonical bytes of values (append), with each
// struct type's fields looked up once.
type canonicalizer struct {
	fields map[reflect.Type][]canonicalField
}

// canonicalField is a field append writes: its index and name.
type canonicalField struct {
	index int
	name  string
}

// structFields returns the fields of t that append writes.
func (c *canonicalizer) structFields(t reflect.Type) []canonicalField {
	fs, ok := c.fields[t]
	if !ok {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Type == posType || (t == checkType && f.Name == "BindTo") || !f.IsExported() {
				continue
			}
			fs = append(fs, canonicalField{i, f.Name})
		}
		c.fields[t] = fs
	}
	return fs
}

// append appends v to b unambiguously: lengths before contents, field
// names before values; positions and Check.BindTo left out.
func (c *canonicalizer) append(b []byte, v reflect.Value) []byte {
	word := func(b []byte, x int) []byte { return binary.BigEndian.AppendUint64(b, uint64(x)) }
	str := func(b []byte, s string) []byte { return append(word(b, len(s)), s...) }
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return word(b, 0)
		}
		return c.append(word(b, 1), v.Elem())
	case reflect.Slice, reflect.Array:
		b = word(b, v.Len())
		for i := 0; i < v.Len(); i++ {
			b = c.append(b, v.Index(i))
		}
		return b
	case reflect.String:
		return str(b, v.String())
	case reflect.Struct:
		t := v.Type()
		if t.PkgPath() != posType.PkgPath() {
			return appendText(b, v) // netip, time: their String
		}
		for _, f := range c.structFields(t) {
			b = c.append(str(b, f.name), v.Field(f.index))
		}
		return b
	}
	// numbers, bools, durations, maps (fmt sorts their keys)
	return appendText(b, v)
}

// appendText appends the length and text of fmt.Sprint(v.Interface()):
// the addresses' text without a string of their own, built-in numbers
// and bools without fmt (sprint).
func appendText(b []byte, v reflect.Value) []byte {
	if v.CanAddr() {
		at := len(b)
		b = append(b, make([]byte, 8)...)
		var ok bool
		// AppendTo writes nothing for the zero value, String "invalid IP"
		// and the like: those go to sprint.
		switch x := v.Addr().Interface().(type) {
		case *netip.Addr:
			ok = x.IsValid()
			b = x.AppendTo(b)
		case *netip.AddrPort:
			ok = x.IsValid()
			b = x.AppendTo(b)
		case *netip.Prefix:
			ok = x.IsValid()
			b = x.AppendTo(b)
		}
		if ok {
			binary.BigEndian.PutUint64(b[at:], uint64(len(b)-at-8))
			return b
		}
		b = b[:at]
	}
	s := sprint(v)
	return append(binary.BigEndian.AppendUint64(b, uint64(len(s))), s...)
}

// sprint is fmt.Sprint(v.Interface()) without fmt for what the model
// holds most: a Stringer (netip, time.Duration) is its String, a plain
// integer or bool its text; anything else goes to fmt.
func sprint(v reflect.Value) string {
	if v.Type().PkgPath() == "" {
		switch v.Kind() { // a built-in type: fmt prints it plainly
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return strconv.FormatInt(v.Int(), 10)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			return strconv.FormatUint(v.Uint(), 10)
		case reflect.Bool:
			return strconv.FormatBool(v.Bool())
		}
	}
	x := v.Interface()
	if _, ok := x.(error); ok {
		return fmt.Sprint(x)
	}
	if st, ok := x.(fmt.Stringer); ok {
		if _, ok := x.(fmt.Formatter); !ok {
			return st.String()
		}
	}
	return fmt.Sprint(x)
}
