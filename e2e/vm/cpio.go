package vm

import (
	"fmt"
	"io"
)

// Mode bits for cpio entries.
const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
	modeCharDev = 0o020000
)

// cpioWriter writes a cpio archive in the "newc" format the kernel unpacks
// as an initramfs.
type cpioWriter struct {
	w   io.Writer
	ino uint32
	err error
}

// header writes one entry header, its name and the padding after it.
func (c *cpioWriter) header(name string, mode uint32, size int, nlink uint32, rdevMajor, rdevMinor uint32) {
	if c.err != nil {
		return
	}
	c.ino++
	h := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.write([]byte(h))
	c.write(append([]byte(name), 0))
	c.pad(len(h) + len(name) + 1)
}

func (c *cpioWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	_, c.err = c.w.Write(b)
}

// pad writes zeros up to the next 4-byte boundary after n bytes.
func (c *cpioWriter) pad(n int) {
	if r := n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// Dir adds a directory.
func (c *cpioWriter) Dir(name string, perm uint32) {
	c.header(name, modeDir|perm, 0, 2, 0, 0)
}

// File adds a regular file.
func (c *cpioWriter) File(name string, perm uint32, data []byte) {
	c.header(name, modeRegular|perm, len(data), 1, 0, 0)
	c.write(data)
	c.pad(len(data))
}

// Symlink adds a symbolic link.
func (c *cpioWriter) Symlink(name, target string) {
	c.header(name, modeSymlink|0o777, len(target), 1, 0, 0)
	c.write([]byte(target))
	c.pad(len(target))
}

// CharDev adds a character device node.
func (c *cpioWriter) CharDev(name string, perm, major, minor uint32) {
	c.header(name, modeCharDev|perm, 0, 1, major, minor)
}

// Close writes the trailer and returns the first write error.
func (c *cpioWriter) Close() error {
	c.header("TRAILER!!!", 0, 0, 1, 0, 0)
	return c.err
}
