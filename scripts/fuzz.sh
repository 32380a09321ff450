#!/usr/bin/env bash
# Runs every fuzz target in the module for FUZZTIME each (default 60s).
# A crash fails the run; go test writes the crasher to the package's
# testdata/fuzz/FuzzXxx/ so it becomes a regression seed once committed.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-60s}
fail=0
n=0
while IFS= read -r line; do
	file=${line%%:*}
	name=$(sed -E 's/.*func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
	pkg=./$(dirname "$file")
	n=$((n + 1))
	echo "fuzz: $pkg $name for $fuzztime"
	if ! go test -count=1 -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel 2 "$pkg" >/tmp/tandem-fuzz.$$ 2>&1; then
		cat /tmp/tandem-fuzz.$$
		echo "fuzz: $pkg $name FAILED"
		fail=$((fail + 1))
	else
		tail -n 2 /tmp/tandem-fuzz.$$ | head -n 1
	fi
done < <(git ls-files '*_test.go' | xargs grep -H '^func Fuzz' | sed 's#^\./##')
rm -f /tmp/tandem-fuzz.$$
echo "fuzz: $((n - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
