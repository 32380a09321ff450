#!/bin/sh
# Prints the package version of the checkout, valid for both dpkg and rpm and
# increasing along the branch:
#   tag v1.2.3                   -> 1.2.3
#   5 commits after v1.2.3       -> 1.2.3+git5.gabc1234
#   pre-release tag v1.3.0-rc.1  -> 1.3.0~rc.1 (sorts before 1.3.0)
#   no tag yet, 42 commits       -> 0.0.0+git42.gabc1234
#   uncommitted changes          -> ... .dirty appended
# The package release (the "-1" of 1.2.3-1) is set in the nfpm files.
set -eu
cd "$(dirname "$0")/.."
dirty=
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	dirty=.dirty
fi
if d=$(git describe --tags --long --match 'v[0-9]*' 2>/dev/null); then
	# v1.2.3-rc.1-5-gabc1234: tag, count, hash
	hash=${d##*-}
	rest=${d%-*}
	count=${rest##*-}
	tag=${rest%-*}
	base=$(printf '%s\n' "${tag#v}" | sed 's/-/~/')
	if [ "$count" = 0 ]; then
		v=$base
	else
		v=$base+git$count.$hash
	fi
else
	count=$(git rev-list --count HEAD 2>/dev/null || echo 0)
	hash=g$(git rev-parse --short=7 HEAD 2>/dev/null || echo 0000000)
	v=0.0.0+git$count.$hash
fi
printf '%s%s\n' "$v" "$dirty"
