#!/usr/bin/env bash
# Raw speed of the pieces an OCI -> EIF build is made of, on this machine, for
# one corpus image: zlib inflate (what libarchive uses), GNU gzip, ISA-L igzip
# and libdeflate (candidates), SHA-256 / SHA-384 (OpenSSL), CRC32 (zlib).
# Used to size the proposals in docs/performance.md.
#
#   bench/components.sh [DATA_DIR [IMAGE]]     (IMAGE default debian-minbase)
#
# Prints "name seconds" lines (best of 3 runs, CPU-bound, warm page cache).
here=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=bench/common.sh
. "$here/common.sh"
bench_init "${1:-}"
img=${2:-debian-minbase}
need_pkgs python3 openssl gzip isal libdeflate-tools
image_ready "$img" || "$here/corpus.sh" "$DATA" "$img"
mapfile -t layers < <(layers_of "$img")
tar=$WORK_DIR/components-$img.tar
for l in "${layers[@]}"; do gzip -dc "$l"; done >"$tar"

best() { # name cmd...
	local name=$1 t best="" f
	shift
	f=$(mktemp)
	for _ in 1 2 3; do
		/usr/bin/time -o "$f" -f '%e' sh -c "$*" >/dev/null 2>&1 || { rm -f "$f"; die "$name failed"; }
		t=$(tail -n 1 "$f")
		best=$(awk -v a="$t" -v b="${best:-1e9}" 'BEGIN { print (a < b) ? a : b }')
	done
	rm -f "$f"
	printf '%-34s %s\n' "$name" "$best"
}

echo "# $img: $(stat -c %s "${layers[@]}" | awk '{ s += $1 } END { printf "%.1f MB gz", s / 1e6 }'), $(stat -c %s "$tar" | awk '{ printf "%.1f MB tar", $1 / 1e6 }')"
best "gzip -dc (GNU gzip)" "gzip -dc ${layers[*]}"
best "zlib inflate (python zlib)" "python3 -c '
import sys, zlib
for p in sys.argv[1:]:
    d = zlib.decompressobj(31)
    with open(p, \"rb\") as f:
        while True:
            b = f.read(1 << 20)
            if not b: break
            d.decompress(b)
' ${layers[*]}"
command -v igzip >/dev/null && best "igzip -dc (ISA-L)" "igzip -dc ${layers[*]}"
if command -v libdeflate-gunzip >/dev/null; then
	best "libdeflate-gunzip -c" "for l in ${layers[*]}; do libdeflate-gunzip -c < \$l; done"
fi
best "sha256 of the blobs" "openssl dgst -sha256 ${layers[*]}"
best "sha256 of the tar" "openssl dgst -sha256 '$tar'"
best "sha384 of the tar" "openssl dgst -sha384 '$tar'"
best "crc32 of the tar (zlib)" "python3 -c '
import sys, zlib
c = 0
with open(sys.argv[1], \"rb\") as f:
    while True:
        b = f.read(1 << 20)
        if not b: break
        c = zlib.crc32(b, c)
' '$tar'"
best "cat tar > /dev/null (read cost)" "cat '$tar'"
rm -f "$tar"
