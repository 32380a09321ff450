package app

import (
	"fmt"

	"github.com/tandemlb/tandem/director/config"
)

// maxWarningLines bounds the configuration warnings logged at start and
// reload; check-config lists them all.
const maxWarningLines = 200

// logConfigWarnings logs what the keepalived.conf reader accepted the way
// keepalived does (Config.Warnings): one WARN line each, with its
// file:line text, at most maxWarningLines, then one line for the rest.
func (a *App) logConfigWarnings(cfg *config.Config) {
	for i, w := range cfg.Warnings {
		if i == maxWarningLines {
			a.log.Warn(fmt.Sprintf("config: %d more warnings; tandem-director check-config %s lists them", len(cfg.Warnings)-i, a.configPath()))
			return
		}
		a.log.Warn("config: " + w.Error())
	}
}

// configWarningsLine is the status line of the configuration warnings,
// "" without any.
func (a *App) configWarningsLine() string {
	n := len(a.cfg.Warnings)
	if n == 0 {
		return ""
	}
	word := "warnings"
	if n == 1 {
		word = "warning"
	}
	return fmt.Sprintf("config: %d %s; tandem-director check-config %s lists them", n, word, a.configPath())
}
