package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io/fs"
	"regexp"

	"github.com/tandemlb/tandem/shared/limitfile"
)

// Load reads the configuration file at path, in either format: the format
// is detected from the content (DetectFormat), never from the file name.
// A keepalived.conf may include other files. The result has every default
// applied and is validated; the error, if any, is an ErrorList whose lines
// read "file:line: message".
func Load(path string) (*Config, error) { return LoadWith(path, ReadOptions{}) }

// LoadWith is Load with options for a keepalived.conf.
func LoadWith(path string, opts ReadOptions) (*Config, error) {
	data, err := limitfile.Read(path, maxFileSize)
	if err != nil {
		var pe *fs.PathError
		msg := err
		if errors.As(err, &pe) {
			msg = pe.Err
		}
		return nil, ErrorList{{Pos: Pos{File: path}, Msg: "cannot read the configuration: " + msg.Error(), Err: err}}
	}
	if DetectFormat(data) == FormatNative {
		return ParseNative(path, data)
	}
	return parseKeepalived(path, data, osFS{}, opts)
}

// filesHash is Config.FilesHash of files whose bytes are texts, in the
// order they were read (the main file, then each include): the first 12
// hex digits of the SHA-256 of each text preceded by its length (8 bytes,
// big-endian), so that moving bytes from one file to the next changes it.
// The paths are not in it.
func filesHash(texts ...[]byte) string {
	h := sha256.New()
	var n [8]byte
	for _, t := range texts {
		binary.BigEndian.PutUint64(n[:], uint64(len(t)))
		h.Write(n[:])
		h.Write(t)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// Parse reads a configuration in either format, detected from data; name is
// the file name used in positions (and, for keepalived.conf, the base of
// relative includes).
func Parse(name string, data []byte) (*Config, error) {
	if DetectFormat(data) == FormatNative {
		return ParseNative(name, data)
	}
	return ParseKeepalived(name, data)
}

var (
	// A YAML key at the start of a line: "version: 1", "node:".
	yamlKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*:(\s|$)`)
	// A keepalived.conf top-level statement.
	kaTop = regexp.MustCompile(`^\s*(global_defs|vrrp_instance|virtual_server|virtual_server_group|vrrp_script|vrrp_sync_group|vrrp_track_process|vrrp_track_file|static_ipaddress|static_routes|static_rules)(\s|\{|$)`)
)

// DetectFormat tells the two formats apart by their first significant line
// (not blank, not a comment): a YAML document start ("---", "%YAML"), a flow
// mapping ("{"), or a "key:" is native; anything else is keepalived.conf,
// whose lines are a keyword followed by white space, '{' or the end of the
// line. The readers report any mismatch as errors of the guessed format.
func DetectFormat(data []byte) Format {
	for line := range bytes.Lines(data) {
		l := bytes.TrimSpace(line)
		if len(l) == 0 || l[0] == '#' || l[0] == '!' {
			continue
		}
		switch {
		case bytes.HasPrefix(l, []byte("---")), bytes.HasPrefix(l, []byte("%")), l[0] == '{':
			return FormatNative
		case yamlKey.Match(l):
			// Unless a keepalived.conf with a stray first line ("OS:
			// CentOS", a title someone pasted in).
			for line := range bytes.Lines(data) {
				if mayBeKaTop(line) && kaTop.Match(line) {
					return FormatKeepalived
				}
			}
			return FormatNative
		}
		return FormatKeepalived
	}
	return FormatKeepalived
}

// mayBeKaTop is false for a line kaTop cannot match: after its leading
// white space (\s: tab, newline, form feed, carriage return, space), no
// g, s or v, the first letters of kaTop's keywords. It spares the regular
// expression most lines of a big YAML file.
func mayBeKaTop(line []byte) bool {
	i := 0
	for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == '\n' || line[i] == '\f' || line[i] == '\r') {
		i++
	}
	return i < len(line) && (line[i] == 'g' || line[i] == 's' || line[i] == 'v')
}
