# shellcheck shell=bash
# Shared setup for the enclaver benchmark scripts (sourced, not run).
#
# The data directory holds the corpus images and scratch space (several GiB).
# It is the first argument of every script, else $ENCLAVER_BENCH_DIR, else
# /var/tmp/enclaver-bench.  It must not be inside the source tree.
set -euo pipefail

bench_init() {
	DATA=${1:-${ENCLAVER_BENCH_DIR:-/var/tmp/enclaver-bench}}
	mkdir -p "$DATA"
	DATA=$(cd "$DATA" && pwd -P)
	local top
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
	case "$DATA/" in
	"$top"/*) echo "bench: data dir $DATA is inside the source tree $top" >&2; exit 2 ;;
	esac
	IMG_DIR=$DATA/oci          # one OCI layout per corpus image, tag "latest"
	WORK_DIR=$DATA/work        # scratch (bundles, unpack targets, EIFs)
	OUT_DIR=$DATA/results      # hyperfine JSON, logs, the final table
	mkdir -p "$IMG_DIR" "$WORK_DIR" "$OUT_DIR"
	export DATA IMG_DIR WORK_DIR OUT_DIR
}

# find_enclaver: set ENCLAVER to the binary to measure: $ENCLAVER when set, else the
# build tree of this checkout (_build/enclaver, as the README builds it).  Nothing else
# is searched: a benchmark must say which binary it measured.
find_enclaver() {
	local top
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
	if [ -z "${ENCLAVER:-}" ]; then
		[ -x "$top/_build/enclaver" ] ||
			die "no enclaver to measure: build it in $top/_build (see README.md, 'Building by hand') or set ENCLAVER=/path/to/enclaver"
		ENCLAVER=$top/_build/enclaver
	fi
	[ -x "$ENCLAVER" ] || die "ENCLAVER=$ENCLAVER is not an executable"
	"$ENCLAVER" --version >/dev/null 2>&1 || die "$ENCLAVER does not run"
	export ENCLAVER
}

# enclaver_rev: the commit of the checkout the measured binary was built in (its
# directory's git work tree, as for a build tree), "unknown" when it is not in one:
# the tables name the binary's source, not the bench scripts'.
enclaver_rev() {
	git -C "$(dirname "$ENCLAVER")" describe --always --dirty 2>/dev/null || echo unknown
}

say() { printf 'bench %(%H:%M:%S)T: %s\n' -1 "$*" >&2; }
die() { say "error: $*"; exit 1; }

# need_pkgs PKG...: apt-get install the packages that are not installed yet.
# Packages without an install candidate are skipped (the caller checks the tool).
need_pkgs() {
	local p missing=() cand updated=${BENCH_APT_UPDATED:-}
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' && continue
		missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]}"
	if [ -z "$updated" ]; then
		apt-get update -qq >/dev/null || say "apt-get update failed; trying anyway"
		export BENCH_APT_UPDATED=1
	fi
	local ok=()
	for p in "${missing[@]}"; do
		cand=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: //p')
		if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
			say "package $p is not available here; skipping"
		else
			ok+=("$p")
		fi
	done
	[ ${#ok[@]} -eq 0 ] && return 0
	say "apt-get install ${ok[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${ok[@]}" >/dev/null
}

# image_ready NAME: the layout has a "latest" tag (so a previous run finished it).
image_ready() {
	[ -f "$IMG_DIR/$1/index.json" ] &&
		jq -e '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "latest")' \
			"$IMG_DIR/$1/index.json" >/dev/null 2>&1
}

# manifest_of NAME: path of the image manifest blob for tag "latest".
manifest_of() {
	local d
	d=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "latest") | .digest' \
		"$IMG_DIR/$1/index.json")
	printf '%s/blobs/%s\n' "$IMG_DIR/$1" "${d/://}"
}

# layers_of NAME: layer blob paths in order, one a line.
layers_of() {
	local m
	m=$(manifest_of "$1")
	jq -r '.layers[].digest | sub(":"; "/")' "$m" | sed "s|^|$IMG_DIR/$1/blobs/|"
}
