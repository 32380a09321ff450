package vm

import (
	"bytes"
	"context"
	"encoding/binary"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCpioNewc(t *testing.T) {
	var buf bytes.Buffer
	cw := &cpioWriter{w: &buf}
	cw.Dir("bin", 0o755)
	cw.File("bin/hello", 0o755, []byte("hi\n"))
	cw.Symlink("bin/sh", "hello")
	cw.CharDev("console", 0o600, 5, 1)
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if len(b)%4 != 0 {
		t.Errorf("archive length %d not 4-aligned", len(b))
	}
	// Walk the archive as the kernel does.
	type entry struct {
		Name string
		Mode uint32
		Data string
		Dev  [2]uint32
	}
	var got []entry
	field := func(h []byte, i int) uint32 {
		var v uint32
		for _, c := range h[6+8*i : 14+8*i] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= uint32(c - '0')
			case c >= 'a' && c <= 'f':
				v |= uint32(c-'a') + 10
			default:
				t.Fatalf("bad hex %q", c)
			}
		}
		return v
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	for off := 0; ; {
		h := b[off : off+110]
		if string(h[:6]) != "070701" {
			t.Fatalf("bad magic at %d: %q", off, h[:6])
		}
		namesz, size := int(field(h, 11)), int(field(h, 6))
		name := string(b[off+110 : off+110+namesz-1])
		off = align(off + 110 + namesz)
		if name == "TRAILER!!!" {
			break
		}
		got = append(got, entry{name, field(h, 1), string(b[off : off+size]), [2]uint32{field(h, 9), field(h, 10)}})
		off = align(off + size)
	}
	want := []entry{
		{"bin", modeDir | 0o755, "", [2]uint32{}},
		{"bin/hello", modeRegular | 0o755, "hi\n", [2]uint32{}},
		{"bin/sh", modeSymlink | 0o777, "hello", [2]uint32{}},
		{"console", modeCharDev | 0o600, "", [2]uint32{5, 1}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive entries (-want +got):\n%s", diff)
	}
	// busybox cpio, when present, must agree.
	if bb, err := exec.LookPath("busybox"); err == nil {
		cmd := exec.Command(bb, "cpio", "-t")
		cmd.Stdin = bytes.NewReader(b)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("busybox cpio -t: %v", err)
		}
		if diff := cmp.Diff("bin\nbin/hello\nbin/sh\nconsole\n", string(out)); diff != "" {
			t.Errorf("busybox cpio -t (-want +got):\n%s", diff)
		}
	}
}

const testModulesDep = `kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko
kernel/net/9p/9pnet.ko:
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/fs/netfs/netfs.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/drivers/virtio/virtio.ko kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/fs/overlayfs/overlay.ko:
`

func TestLoadOrder(t *testing.T) {
	deps, err := parseModulesDep(strings.NewReader(testModulesDep))
	if err != nil {
		t.Fatal(err)
	}
	builtin, err := parseBuiltin(strings.NewReader("kernel/drivers/virtio/virtio_pci.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := deps.loadOrder([]string{"virtio_pci", "9pnet-virtio", "9p", "overlay"}, builtin)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"kernel/drivers/virtio/virtio.ko",
		"kernel/net/9p/9pnet.ko",
		"kernel/drivers/virtio/virtio_ring.ko",
		"kernel/net/9p/9pnet_virtio.ko",
		"kernel/fs/netfs/netfs.ko",
		"kernel/fs/fscache/fscache.ko",
		"kernel/fs/9p/9p.ko",
		"kernel/fs/overlayfs/overlay.ko",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("load order (-want +got):\n%s", diff)
	}
	if _, err := deps.loadOrder([]string{"nope"}, builtin); err == nil {
		t.Error("unknown module: want an error")
	}
}

func TestParseAptDepends(t *testing.T) {
	out := []byte("linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n")
	got, err := parseAptDepends(out)
	if err != nil || got != "linux-image-6.1.0-56-amd64" {
		t.Fatalf("parseAptDepends = %q, %v", got, err)
	}
	if _, err := parseAptDepends([]byte("linux-image-amd64\n")); err == nil {
		t.Error("no dependency: want an error")
	}
}

func TestCPUHasVirt(t *testing.T) {
	if cpuHasVirt([]byte("processor\t: 0\nflags\t\t: fpu sse2 hypervisor\n")) {
		t.Error("no vmx/svm: want false")
	}
	if !cpuHasVirt([]byte("flags\t\t: fpu vmx sse2\n")) {
		t.Error("vmx: want true")
	}
}

func TestShQuote(t *testing.T) {
	for _, s := range []string{"plain", "it's", "a b", `$HOME "x" \n`, ""} {
		out, err := exec.Command("sh", "-c", "printf %s "+shQuote(s)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != s {
			t.Errorf("sh saw %q, want %q", out, s)
		}
	}
}

func TestStage2Script(t *testing.T) {
	s, err := stage2Script(&Options{Command: []string{"/bin/echo", "a b"}, Env: map[string]string{"X": "it's"}}, []string{"ip_vs"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`'/bin/echo' 'a b'`, `'X=it'\''s'`, `'TANDEM_IN_VM=1'`, `modprobe 'ip_vs'`, markerStart} {
		if !strings.Contains(s, want) {
			t.Errorf("stage 2 script lacks %q:\n%s", want, s)
		}
	}
	if out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v: %s", err, out)
	}
	if _, err := stage2Script(&Options{Command: []string{"/bin/true"}, Env: map[string]string{"BAD-NAME": "1"}}, nil); err == nil {
		t.Error("bad env name: want an error")
	}
}

func TestXZAndPVHNote(t *testing.T) {
	b := append([]byte("junk"), xzMagic...)
	b = append(b, []byte("more")...)
	b = append(b, xzMagic...)
	if diff := cmp.Diff([]int{4, 14}, xzOffsets(b)); diff != "" {
		t.Errorf("xzOffsets (-want +got):\n%s", diff)
	}
	note := func(name string, typ uint32, desc []byte) []byte {
		var n bytes.Buffer
		_ = binary.Write(&n, binary.LittleEndian, []uint32{uint32(len(name) + 1), uint32(len(desc)), typ})
		n.WriteString(name + "\x00")
		for n.Len()%4 != 0 {
			n.WriteByte(0)
		}
		n.Write(desc)
		return n.Bytes()
	}
	seg := append(note("GNU", 3, []byte{1, 2, 3, 4}), note("Xen", xenElfnotePhys32Entry, []byte{0, 0, 0, 1})...)
	if !hasNote(seg, "Xen", xenElfnotePhys32Entry) {
		t.Error("PVH note not found")
	}
	if hasNote(seg[:20], "Xen", xenElfnotePhys32Entry) {
		t.Error("truncated segment: want no note")
	}
	if _, err := extractVmlinux(context.Background(), []byte("no xz here")); err == nil {
		t.Error("no XZ stream: want an error")
	}
}
