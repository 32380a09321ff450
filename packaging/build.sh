#!/usr/bin/env bash
# Builds the tandem-director and tandem-backend packages, .deb and .rpm, with
# nfpm. `make packages` runs it after building bin/.
#
#   packaging/build.sh [-v VERSION] [-o OUTDIR] [-b BINDIR]
#
# VERSION defaults to packaging/version.sh (from git describe), OUTDIR to
# dist/, BINDIR to bin/. The packages are OUTDIR/tandem-X_VERSION-1_amd64.deb
# and OUTDIR/tandem-X-VERSION-1.x86_64.rpm, OUTDIR/VERSION names the last
# build (VERSION-1), and OUTDIR/.build-VERSION holds the generated files
# (man pages, completions, changelog, default configs, package scripts).
set -euo pipefail

NFPM=${NFPM:-github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2}
GO=${GO:-go}
release=1

src=$(cd "$(dirname "$0")/.." && pwd)
version=
out=$src/dist
bin=$src/bin
while getopts v:o:b: opt; do
	case $opt in
	v) version=$OPTARG ;;
	o) out=$OPTARG ;;
	b) bin=$OPTARG ;;
	*) exit 2 ;;
	esac
done
if [ -z "$version" ]; then
	version=$("$src/packaging/version.sh")
fi
case $version in
[0-9]*) ;;
*) echo "build.sh: version $version must start with a digit" >&2; exit 2 ;;
esac
mkdir -p "$out"
out=$(cd "$out" && pwd)
bin=$(cd "$bin" && pwd)
for b in tandem-director tandem-bgp-speaker tandem-backend; do
	[ -x "$bin/$b" ] || { echo "build.sh: $bin/$b missing (make build)" >&2; exit 1; }
done

# Reproducible: every date is the last commit's.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$src" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

work=$out/.build-$version
# One build per directory: drop the packages and files of earlier versions.
rm -rf "$out"/.build-* "$out"/tandem-director[_-]*.deb "$out"/tandem-director-*.rpm \
	"$out"/tandem-backend[_-]*.deb "$out"/tandem-backend-*.rpm
mkdir -p "$work/gen"
(cd "$src" && "$GO" run ./packaging/gendocs -out "$work/gen" -version "$version-$release")

# The license text of the RPM (/usr/share/licenses/PKG/LICENSE): the
# project's LICENSE once there is one, the copyright file until then.
if [ -f "$src/LICENSE" ]; then
	cp "$src/LICENSE" "$work/gen/LICENSE"
else
	cp "$src/packaging/copyright" "$work/gen/LICENSE"
fi

for pkg in tandem-director tandem-backend; do
	case $pkg in
	tandem-director) conf=director.yaml other=tandem-backend ;;
	tandem-backend) conf=backend.yaml other=tandem-director ;;
	esac
	mkdir -p "$work/gen/scripts/$pkg"
	for s in postinstall preremove postremove; do
		sed -e "s/@PKG@/$pkg/g" -e "s/@OTHER@/$other/g" -e "s/@CONF@/$conf/g" \
			"$src/packaging/scripts/$s.sh" >"$work/gen/scripts/$pkg/$s.sh"
		sh -n "$work/gen/scripts/$pkg/$s.sh"
	done
done

# The nfpm files with one entry per man page at #@MANPAGES@: plain files in
# the .deb, %doc in the .rpm (nfpm does not glob %doc sources).
for pkg in tandem-director tandem-backend; do
	entries=$work/gen/man-$pkg.yaml
	: >"$entries"
	found=0
	for page in "$work/gen/man/$pkg".8.gz "$work/gen/man/$pkg"-*.8.gz; do
		[ -e "$page" ] || continue
		found=1
		name=${page##*/}
		for p in deb rpm; do
			printf '  - src: gen/man/%s\n    dst: /usr/share/man/man8/%s\n    packager: %s\n' "$name" "$name" "$p"
			if [ "$p" = rpm ]; then printf '    type: doc\n'; fi
			printf '    file_info: {mode: 0644}\n'
		done >>"$entries"
	done
	[ "$found" = 1 ] || { echo "build.sh: no man page for $pkg" >&2; exit 1; }
	sed -e "/^  #@MANPAGES@\$/r $entries" -e '/^  #@MANPAGES@$/d' \
		"$src/packaging/nfpm/$pkg.yaml" >"$work/gen/nfpm-$pkg.yaml"
done

export PKG_VERSION=$version TANDEM_SRC=$src TANDEM_BIN=$bin
cd "$work"
for pkg in tandem-director tandem-backend; do
	for fmt in deb rpm; do
		"$GO" run "$NFPM" package --config "gen/nfpm-$pkg.yaml" \
			--packager "$fmt" --target "$out/"
	done
done
# The tests (packaging_test.go, vmtest) find the packages through this file.
echo "$version-$release" >"$out/VERSION"
ls -l "$out"/tandem-director[_-]"$version"* "$out"/tandem-backend[_-]"$version"*
