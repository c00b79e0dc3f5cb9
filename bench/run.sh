#!/usr/bin/env bash
# Measure `enclaver build --eif-only` on the benchmark corpus next to the work it
# cannot avoid, each part of that work timed alone in the same run, and report the
# ratios of issue #20 (docs/performance.md explains them).
#
#   bench/run.sh [DATA_DIR [IMAGE...]]
#
# DATA_DIR   as for bench/corpus.sh (default /var/tmp/enclaver-bench); missing
#            images are built first by bench/corpus.sh.
# IMAGE      debian-minbase, many-small, big-files (default: all three).
# Environment:
#   ENCLAVER       the enclaver binary (default: this checkout's build tree,
#                  _build/enclaver; nothing else is searched); a build-tree binary
#                  finds its builtin init itself, otherwise set ENCLAVER_LIBEXEC_DIR.
#   KERNEL_DIR     kernel directory (default ~/.cache/enclaver/kernel/default, as laid
#                  out by scripts/fetch-kernel.sh, which is run when it is missing)
#   BENCH_RUNS     measured rounds per image (default 5, after one warm-up round);
#                  medians are reported
#   BENCH_UMOCI=1  also time `umoci unpack` (slow: about a minute a run on many-small)
#
# The parts (each one process, timed alone with /usr/bin/time, CPU = user + sys):
#   inflate      igzip -dc of the layers (ISA-L, what the build inflates with)
#   sha256 gz    openssl dgst -sha256 of the compressed layer blobs (layer digests)
#   sha256 tar   openssl dgst -sha256 of the uncompressed tars (diff_ids)
#   sha384 x2    openssl dgst -sha384 of the EIF, twice (PCR0 and PCR2)
#   crc32        CRC32 of the EIF (bench/parts.c, ISA-L as in core/eif/pcr.c)
#   write        pwrite of as many bytes as the EIF has into a new file, no fsync
#                (bench/parts.c); the fsync after it is reported on its own
# sum = the sum of the parts' CPU medians.  Targets: build CPU <= 1.15 x sum, build
# wall <= 0.6 x sum (both cores busy), peak RSS <= 128 MiB.
#
# Each round times, in this order: a build with a fresh --cache-dir ("cold"), every
# part, a build with the cache kept ("warm").  Builds and parts alternate, so a
# burst of load from other users of a shared machine hits both.  The ratios use the
# cold build.  Peak RSS is the largest maximum RSS of the timed builds.
# Results: DATA_DIR/results/<stamp>/ (raw timings, logs, table.md).
here=$(cd "$(dirname "$0")" && pwd -P)
top=$(cd "$here/.." && pwd -P)
# shellcheck source=bench/common.sh
. "$here/common.sh"
bench_init "${1:-}"
shift || true
[ $# -gt 0 ] || set -- debian-minbase many-small big-files
RUNS=${BENCH_RUNS:-5}

need_pkgs time jq openssl python3 isal libisal-dev umoci
[ -x /usr/bin/time ] || die "/usr/bin/time is required (package time)"
command -v igzip >/dev/null || die "igzip is required (package isal)"

# ---- the enclaver binary
find_enclaver

# ---- the kernel
KERNEL_DIR=${KERNEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/enclaver/kernel/default}
if [ ! -f "$KERNEL_DIR/cmdline" ]; then
	say "fetching the default Debian kernel with scripts/fetch-kernel.sh"
	sh "$top/scripts/fetch-kernel.sh" >/dev/null
fi
[ -f "$KERNEL_DIR/cmdline" ] || die "no kernel directory at $KERNEL_DIR"
KERNEL_DIR=$(cd "$KERNEL_DIR" && pwd -P)

# ---- the corpus
for img in "$@"; do
	image_ready "$img" || "$here/corpus.sh" "$DATA" "$img"
done

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES=$OUT_DIR/$STAMP
mkdir -p "$RES"
say "results in $RES"

PARTS=$WORK_DIR/parts
if pkg-config --exists libisal 2>/dev/null; then
	cc -O2 -o "$PARTS" "$here/parts.c" $(pkg-config --cflags --libs libisal) || die "cannot build bench/parts.c"
else
	cc -O2 -DNO_ISAL -o "$PARTS" "$here/parts.c" -lz || die "cannot build bench/parts.c"
fi

# timed FILE CMD...: run CMD (stdout discarded) under /usr/bin/time and append
# "wall user sys maxrss_kb" to FILE.
timed() {
	local f=$1
	shift
	/usr/bin/time -a -o "$f" -f '%e %U %S %M' "$@" >/dev/null
}

# med FILE: "median-wall median-cpu max-rss-kb" of the rows of FILE (the first
# row, the warm-up, is skipped).
med() {
	awk 'NR > 1 { n++; w[n] = $1; c[n] = $2 + $3; if ($4 > r) r = $4 }
		function m(a, n,   i, j, t) {
			for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
			return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		END { printf "%.3f %.3f %d\n", m(w, n), m(c, n), r }' "$1"
}

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict() { awk -v v="$1" -v lim="$2" -v dir="$3" 'BEGIN { ok = (dir == "le") ? (v <= lim) : (v >= lim); print ok ? "met" : "NOT met" }'; }

{
	echo "# enclaver benchmark $STAMP"
	echo
	echo "- enclaver: $ENCLAVER ($(enclaver_rev))"
	echo "- machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
	echo "- $RUNS rounds + 1 warm-up per image (builds and parts alternate), /usr/bin/time, warm page cache; medians"
	echo "- kernel dir: $KERNEL_DIR"
	echo "- load when the run started: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min)"
	echo
	echo "Parts, each alone: CPU seconds (user + sys), median; the build: CPU (wall):"
	echo
	echo "| image | gz / tar / EIF MB | inflate | sha256 gz | sha256 tar | sha384 x2 | crc32 | write | **sum** | fsync wall | build cold CPU (wall) | build warm CPU (wall) |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$RES/table.md"
: >"$RES/ratios.md"
: >"$RES/verdicts.txt"

for img in "$@"; do
	layout=$IMG_DIR/$img
	w=$WORK_DIR/run-$img
	rm -rf "$w"; mkdir -p "$w/tars"
	mapfile -t layers < <(layers_of "$img")
	gz_bytes=$(stat -c %s "${layers[@]}" | awk '{ s += $1 } END { print s }')
	cat >"$w/enclaver.yaml" <<-YAML
	version: v1
	name: bench-$img
	target: bench-$img:latest
	sources:
	  app: oci:$layout
	YAML
	build=("$ENCLAVER" build -q -f "$w/enclaver.yaml" --kernel-dir "$KERNEL_DIR" --cache-dir "$w/cache" --eif-only "$w/out.eif")

	say "$img: first build (checks that it works; its EIF is what the parts hash)"
	"${build[@]}" >"$w/pcrs.json" 2>"$RES/$img.build.log" || die "$img: build failed; see $RES/$img.build.log"
	mv "$w/out.eif" "$w/ref.eif"
	eif_bytes=$(stat -c %s "$w/ref.eif")
	tars=()
	for l in "${layers[@]}"; do
		tars+=("$w/tars/${#tars[@]}.tar")
		igzip -dc "$l" >"${tars[-1]}"
	done
	tar_bytes=$(stat -c %s "${tars[@]}" | awk '{ s += $1 } END { print s }')

	for ((i = 0; i <= RUNS; i++)); do
		say "$img: round $i of $RUNS (0 = warm-up)"
		rm -rf "$w/cache" "$w/out.eif"
		timed "$RES/$img.build-cold.txt" "${build[@]}" 2>>"$RES/$img.build.log" || die "$img: build failed; see $RES/$img.build.log"
		timed "$RES/$img.inflate.txt" sh -c 'exec igzip -dc "$@" >/dev/null' igzip "${layers[@]}"
		timed "$RES/$img.sha256-gz.txt" openssl dgst -sha256 "${layers[@]}"
		timed "$RES/$img.sha256-tar.txt" openssl dgst -sha256 "${tars[@]}"
		timed "$RES/$img.sha384x2.txt" openssl dgst -sha384 "$w/ref.eif" "$w/ref.eif"
		timed "$RES/$img.crc32.txt" "$PARTS" crc32 "$w/ref.eif"
		rm -f "$w/write.tmp"
		timed "$RES/$img.write.txt" "$PARTS" write "$eif_bytes" "$w/write.tmp"
		timed "$RES/$img.fsync.txt" "$PARTS" fsync "$w/write.tmp"
		rm -f "$w/write.tmp" "$w/out.eif"
		timed "$RES/$img.build-warm.txt" "${build[@]}" 2>>"$RES/$img.build.log" || die "$img: build failed; see $RES/$img.build.log"
	done
	cmp -s "$w/out.eif" "$w/ref.eif" || die "$img: the EIF differs from one build to the next"

	if [ -n "${BENCH_UMOCI:-}" ]; then
		for ((i = 0; i <= RUNS; i++)); do
			rm -rf "$w/bundle"
			timed "$RES/$img.umoci.txt" umoci unpack --rootless --image "$layout:latest" "$w/bundle" 2>>"$RES/$img.umoci.log"
		done
		read -r t_umoci c_umoci _ < <(med "$RES/$img.umoci.txt")
	fi

	declare -A C W
	for p in inflate sha256-gz sha256-tar sha384x2 crc32 write fsync build-cold build-warm; do
		read -r W[$p] C[$p] rss < <(med "$RES/$img.$p.txt")
		[ "$p" != build-cold ] || rss_cold=$rss
		[ "$p" != build-warm ] || rss_warm=$rss
	done
	sum=$(awk -v a="${C[inflate]}" -v b="${C[sha256-gz]}" -v c="${C[sha256-tar]}" -v d="${C[sha384x2]}" \
		-v e="${C[crc32]}" -v f="${C[write]}" 'BEGIN { printf "%.3f", a + b + c + d + e + f }')
	rss_mib=$(awk -v a="$rss_cold" -v b="$rss_warm" 'BEGIN { printf "%.1f", (a > b ? a : b) / 1024 }')
	r_cpu=$(ratio "${C[build-cold]}" "$sum")
	r_wall=$(ratio "${W[build-cold]}" "$sum")
	printf '| %s | %s / %s / %s | %s | %s | %s | %s | %s | %s | **%s** | %s | %s (%s) | %s (%s) |\n' \
		"$img" "$(mb "$gz_bytes")" "$(mb "$tar_bytes")" "$(mb "$eif_bytes")" "${C[inflate]}" "${C[sha256-gz]}" \
		"${C[sha256-tar]}" "${C[sha384x2]}" "${C[crc32]}" "${C[write]}" "$sum" "${W[fsync]}" \
		"${C[build-cold]}" "${W[build-cold]}" "${C[build-warm]}" "${W[build-warm]}" >>"$RES/table.md"
	printf '| %s | %s | %s | %s | %s | %s%s |\n' "$img" "$r_cpu" "$r_wall" \
		"$(ratio "${C[build-warm]}" "$sum")" "$(ratio "${W[build-warm]}" "$sum")" "$rss_mib" \
		"${t_umoci:+ | $t_umoci ($c_umoci) | $(ratio "$t_umoci" "${W[build-cold]}")}" >>"$RES/ratios.md"
	{
		echo "$img: build CPU <= 1.15 x sum: $r_cpu -> $(verdict "$r_cpu" 1.15 le)"
		echo "$img: build wall <= 0.6 x sum: $r_wall -> $(verdict "$r_wall" 0.6 le)"
		echo "$img: peak RSS <= 128 MiB: $rss_mib -> $(verdict "$rss_mib" 128 le)"
	} >>"$RES/verdicts.txt"
	unset C W t_umoci c_umoci
	rm -rf "$w/bundle" "$w/cache" "$w/tars" "$w/ref.eif" "$w/out.eif"
done

{
	echo
	echo "Ratios (sum = the parts' CPU seconds; cold = fresh --cache-dir, warm = cache kept):"
	echo
	echo "| image | CPU cold / sum | wall cold / sum | CPU warm / sum | wall warm / sum | peak RSS MiB$([ -z "${BENCH_UMOCI:-}" ] || echo " | umoci unpack wall (CPU) | umoci / build cold") |"
	echo "|---|---:|---:|---:|---:|---:$([ -z "${BENCH_UMOCI:-}" ] || echo "|---:|---:")|"
	cat "$RES/ratios.md"
	echo
	echo "Targets (cold cache):"
	echo
	sed 's/^/- /' "$RES/verdicts.txt"
	echo
	echo "- load when the run ended: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$RES/table.md"
cat "$RES/table.md"
