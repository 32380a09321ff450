package reconcile

import (
	"encoding/binary"
	"testing"
)

func entry(proto uint16, fwmark uint32, sched string, dests uint32) []byte {
	e := make([]byte, serviceEntrySize)
	binary.NativeEndian.PutUint16(e[entryProtocol:], proto)
	binary.NativeEndian.PutUint32(e[entryFWMark:], fwmark)
	copy(e[entrySched:], sched)
	binary.NativeEndian.PutUint32(e[entryNumDests:], dests)
	return e
}

func TestDecodeServices(t *testing.T) {
	var buf []byte
	buf = append(buf, entry(6, 0, "wlc", 10)...)
	buf = append(buf, entry(0, 7, "rr", 3)...)
	buf = append(buf, entry(0, 0, "", 0)...) // left empty by the kernel
	s, d, err := decodeServices(buf, 3)
	if err != nil || s != 2 || d != 13 {
		t.Errorf("decodeServices = %d, %d, %v; want 2, 13", s, d, err)
	}
	for name, bad := range map[string][]byte{
		"no scheduler":      entry(6, 0, "", 1),
		"garbage scheduler": entry(6, 0, "\x01\x02", 1),
		"unterminated":      entry(6, 0, "abcdefghijklmnop", 1),
		"absurd count":      entry(6, 0, "wlc", 1<<30),
	} {
		if _, _, err := decodeServices(bad, 1); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := decodeServices(buf[:10], 1); err == nil {
		t.Error("short buffer accepted")
	}
}
