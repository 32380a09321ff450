package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

func saveState(dir string, p persisted) error {
	slices.Sort(p.Owned)
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, StateFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
