package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tandemlb/tandem/shared/atomicfile"
)

// DefaultStateDir is where the director keeps what must survive a restart
// when systemd does not say otherwise ($STATE_DIRECTORY).
const DefaultStateDir = "/var/lib/tandem-director"

// StateFile is the record's name in the state directory.
const StateFile = "state.json"

// persisted is what survives a restart: the IPVS services this director
// owns (so that a service removed from the configuration while the
// director was down is still removed) and the operator's drains (so that a
// restart does not put a drained server back into rotation).
type persisted struct {
	// Owned are the IPVS service keys ("TCP 192.0.2.100:80").
	Owned []string `json:"owned"`
	// Drains maps a real server ("192.0.2.101:80") to the operator's reason.
	Drains map[string]string `json:"drains"`
}

func stateDir(opt string) string {
	if opt != "" {
		return opt
	}
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		// systemd may list several, separated by ':'; ours is the first.
		first, _, _ := strings.Cut(d, ":")
		return first
	}
	return DefaultStateDir
}

func loadState(dir string) (persisted, error) {
	var p persisted
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return persisted{}, fmt.Errorf("%s: %w", filepath.Join(dir, StateFile), err)
	}
	return p, nil
}

// saveState writes the record atomically (shared/atomicfile): on any
// failure (a full disk, a read-only state directory) the previous record is
// left as it was, and the error names the state file and what the OS
// refused.
func saveState(dir string, p persisted) error {
	slices.Sort(p.Owned)
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, StateFile)
	err = os.MkdirAll(dir, 0o755)
	if err == nil {
		err = atomicfile.Write(path, append(b, '\n'), 0o600)
	}
	if err != nil {
		return fmt.Errorf("cannot write the state file %s: %w", path, err)
	}
	return nil
}

// writeState writes the state as it is with drains (the owned services as
// they are). An operator drain is written before it takes effect, so that
// one that would not survive a restart is refused (see drain).
func (a *App) writeState(drains map[netip.AddrPort]string) error {
	if !a.stateLoaded {
		return nil // never overwrite a state that was not read
	}
	p := persisted{Drains: map[string]string{}}
	for rs, r := range drains {
		p.Drains[rs.String()] = r
	}
	if a.rec != nil {
		for _, k := range a.rec.Owned() {
			p.Owned = append(p.Owned, string(k))
		}
	}
	return saveState(a.state, p)
}
