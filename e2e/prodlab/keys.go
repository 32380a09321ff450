package prodlab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/tandemlb/tandem/shared/hbproto"
)

// AgentKeyFile is where the lab keeps the heartbeat key of the agent on
// real server rs: <dir>/<rs>.key.
func AgentKeyFile(dir, rs string) string { return filepath.Join(dir, rs+".key") }

// WriteKeys writes the cluster secret to secretPath (the directors' key
// file) and, in agentDir, the agent key derived from it for each real
// server of rsIPs (name -> address; AgentKeyFile), as `tandem-director keys
// derive` would: every file mode 0600 (docs/heartbeat.md "Key scopes").
func WriteKeys(secretPath string, secret []byte, rsIPs map[string]string, agentDir string) error {
	if err := os.WriteFile(secretPath, append(append([]byte(nil), secret...), '\n'), 0o600); err != nil {
		return err
	}
	for rs, ip := range rsIPs {
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			return fmt.Errorf("real server %s: %w", rs, err)
		}
		key := append(hbproto.DeriveAgentKey(secret, addr), '\n')
		if err := os.WriteFile(AgentKeyFile(agentDir, rs), key, 0o600); err != nil {
			return fmt.Errorf("agent key of %s: %w", rs, err)
		}
	}
	return nil
}
