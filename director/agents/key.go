package agents

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/tandemlb/tandem/shared/hbproto"
)

// LoadKey returns the heartbeat key in path. Without a usable key it fails,
// unless insecure is set: then a key file that is merely too open is used
// anyway, and a missing or short one disables the heartbeat listener
// (nil key); both are logged as warnings that start with "INSECURE".
func LoadKey(path string, insecure bool, log *slog.Logger) ([]byte, error) {
	key, err := hbproto.LoadKey(path)
	if err == nil {
		if insecure {
			log.Warn("INSECURE mode requested but the heartbeat key is fine: using it normally", "path", path)
		}
		return key, nil
	}
	if !insecure {
		return nil, fmt.Errorf("%w (fix the key file, set heartbeat.enabled: false, or start with --insecure-heartbeat)", err)
	}
	if f, oerr := os.Open(path); oerr == nil {
		b, _ := io.ReadAll(io.LimitReader(f, hbproto.MaxKeyFileSize))
		f.Close()
		b = bytes.TrimRight(b, " \t\r\n")
		if len(b) >= hbproto.MinKeySize {
			log.Warn("INSECURE: --insecure-heartbeat: using a heartbeat key file that others may read; anyone who can read it can forge agent heartbeats and drain real servers",
				"path", path, "err", err)
			return b, nil
		}
	}
	log.Warn("INSECURE: --insecure-heartbeat and no usable heartbeat key: the heartbeat listener is DISABLED; agents' maintenance and health are not seen, drains by agents do not happen",
		"path", path, "err", err)
	return nil, nil
}
