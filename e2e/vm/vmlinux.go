package vm

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os/exec"
)

// xzMagic starts every XZ stream.
var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}

// xenElfnotePhys32Entry is the ELF note type of the PVH entry point
// (XEN_ELFNOTE_PHYS32_ENTRY), which QEMU needs to boot an ELF vmlinux.
const xenElfnotePhys32Entry = 18

// xzOffsets returns every offset of the XZ magic in b.
func xzOffsets(b []byte) []int {
	var out []int
	for off := 0; ; {
		i := bytes.Index(b[off:], xzMagic)
		if i < 0 {
			return out
		}
		out = append(out, off+i)
		off += i + 1
	}
}

// extractVmlinux finds the XZ-compressed kernel inside a bzImage and
// returns the decompressed ELF vmlinux, decompressed with the xz binary.
func extractVmlinux(ctx context.Context, bzImage []byte) ([]byte, error) {
	offs := xzOffsets(bzImage)
	if len(offs) == 0 {
		return nil, fmt.Errorf("bzImage: no XZ stream found")
	}
	var lastErr error
	for _, off := range offs {
		cmd := exec.CommandContext(ctx, "xz", "-dc", "--single-stream")
		cmd.Stdin = bytes.NewReader(bzImage[off:])
		var out, stderr bytes.Buffer
		cmd.Stdout = &out
		cmd.Stderr = &stderr
		err := cmd.Run()
		b := out.Bytes()
		if len(b) > 4 && bytes.HasPrefix(b, []byte(elf.ELFMAG)) {
			if err := checkPVH(b); err != nil {
				return nil, err
			}
			return b, nil
		}
		lastErr = fmt.Errorf("xz at offset %d: %v: %s", off, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil, fmt.Errorf("bzImage: no XZ stream decompressed to an ELF image (last: %w)", lastErr)
}

// checkPVH verifies that b is an ELF image with the PVH entry note.
func checkPVH(b []byte) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("vmlinux: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil {
			return fmt.Errorf("vmlinux: read note segment: %w", err)
		}
		if hasNote(data, "Xen", xenElfnotePhys32Entry) {
			return nil
		}
	}
	return fmt.Errorf("vmlinux: no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); QEMU cannot boot it as ELF")
}

// hasNote reports whether an ELF note segment holds a note of the given
// name and type.
func hasNote(data []byte, name string, typ uint32) bool {
	align4 := func(n uint32) uint32 { return (n + 3) &^ 3 }
	for len(data) >= 12 {
		namesz := binary.LittleEndian.Uint32(data[0:])
		descsz := binary.LittleEndian.Uint32(data[4:])
		t := binary.LittleEndian.Uint32(data[8:])
		end := 12 + uint64(align4(namesz)) + uint64(align4(descsz))
		if end > uint64(len(data)) {
			return false
		}
		n := data[12 : 12+namesz]
		if t == typ && string(bytes.TrimRight(n, "\x00")) == name {
			return true
		}
		data = data[end:]
	}
	return false
}
