package app

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"reflect"
	"slices"

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
	for i := range cfg.Services {
		h := sha256.New()
		canonical(h, reflect.ValueOf(&cfg.Services[i]).Elem())
		h.Sum(sums[i][:0])
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

// canonical writes v to h unambiguously: lengths before contents, field
// names before values; positions and Check.BindTo left out.
func canonical(h hash.Hash, v reflect.Value) {
	var n [8]byte
	word := func(x int) {
		binary.BigEndian.PutUint64(n[:], uint64(x))
		h.Write(n[:])
	}
	str := func(s string) {
		word(len(s))
		h.Write([]byte(s))
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			word(0)
			return
		}
		word(1)
		canonical(h, v.Elem())
	case reflect.Slice, reflect.Array:
		word(v.Len())
		for i := 0; i < v.Len(); i++ {
			canonical(h, v.Index(i))
		}
	case reflect.String:
		str(v.String())
	case reflect.Struct:
		t := v.Type()
		if t.PkgPath() != posType.PkgPath() {
			str(fmt.Sprint(v.Interface())) // netip, time: their String
			return
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Type == posType || (t == checkType && f.Name == "BindTo") || !f.IsExported() {
				continue
			}
			str(f.Name)
			canonical(h, v.Field(i))
		}
	default: // numbers, bools, durations, maps (fmt sorts their keys)
		str(fmt.Sprint(v.Interface()))
	}
}
