#!/usr/bin/env bash
# Runs the Prometheus server of Debian 12's `prometheus` package with the
# given arguments: scripts/promtool.sh fetches and unpacks it (never
# installs it) together with promtool, in one download, into
# $TANDEM_TOOLS_DIR (default /usr/local/lib/tandem-tools). e2e/promlab
# starts it for the test lab's Prometheus.
#
#   scripts/prometheus.sh --version
set -euo pipefail
TANDEM_PROM_TOOL=prometheus exec "$(dirname "$0")/promtool.sh" "$@"
