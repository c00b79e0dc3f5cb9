#!/usr/bin/env bash
# Measure `enclaver build --eif-only` on the benchmark corpus, side by side with
# the cost of the unavoidable work (gzip -dc of the layers, SHA-384 of the
# resulting customer cpio) and with `umoci unpack` of the same image.
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
#   BENCH_RUNS     timed runs per command (default 5); the medians are reported
#
# Each build runs with a fresh --cache-dir ("cold": the layers are first copied
# from the layout into the cache) and again with the cache kept ("warm").  The
# ratios use the cold figure, which is what `enclaver build` from a layout costs.
# Peak RSS comes from a separate cold build under /usr/bin/time -v.
# Results: DATA_DIR/results/<stamp>/ (hyperfine JSON, logs, table.md).
here=$(cd "$(dirname "$0")" && pwd -P)
top=$(cd "$here/.." && pwd -P)
# shellcheck source=bench/common.sh
. "$here/common.sh"
bench_init "${1:-}"
shift || true
[ $# -gt 0 ] || set -- debian-minbase many-small big-files
RUNS=${BENCH_RUNS:-5}

need_pkgs hyperfine time jq openssl gzip python3 umoci
HYPERFINE=$(command -v hyperfine || true)
[ -x /usr/bin/time ] || die "/usr/bin/time is required (package time)"

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

# median_of CMD: run CMD $RUNS times (after one warm-up) under /usr/bin/time;
# print the median wall time and the mean CPU time (user + sys), in seconds.
# $PREP, when set, runs before each run, untimed.
median_of() {
	local i f
	f=$(mktemp)
	[ -z "${PREP:-}" ] || sh -c "$PREP"
	sh -c "$1" >/dev/null || sh -c "$1" >/dev/null || return 1
	for ((i = 0; i < RUNS; i++)); do
		[ -z "${PREP:-}" ] || sh -c "$PREP"
		/usr/bin/time -a -o "$f" -f '%e %U %S' sh -c "$1" >/dev/null || { rm -f "$f"; return 1; }
	done
	sort -g "$f" | awk '{ w[NR] = $1; c += $2 + $3 }
		END { m = (NR % 2) ? w[(NR + 1) / 2] : (w[NR / 2] + w[NR / 2 + 1]) / 2; printf "%.3f %.3f\n", m, c / NR }'
	rm -f "$f"
}

# timed NAME PREP CMD: print "median-wall mean-cpu" of CMD in seconds; with
# hyperfine the JSON is kept in $RES/NAME.json.
timed() {
	local name=$1 prep=$2 cmd=$3
	if [ -n "$HYPERFINE" ]; then
		local args=(--style none --warmup 1 --runs "$RUNS" --export-json "$RES/$name.json" -n "$name")
		[ -z "$prep" ] || args+=(--prepare "$prep")
		# up to three attempts: on a shared machine a run can fail for reasons
		# outside the benchmark (the disk full for a moment)
		local try
		for try in 1 2 3; do
			"$HYPERFINE" "${args[@]}" "$cmd" >>"$RES/$name.hyperfine.txt" 2>&1 && break
			[ $try -lt 3 ] || return 1
			say "$name failed (attempt $try); retrying in 20 s"
			sleep 20
		done
		jq -r '.results[0] | "\(.median * 1000 | round / 1000) \((.user + .system) * 1000 | round / 1000)"' "$RES/$name.json"
	else
		PREP=$prep median_of "$cmd"
	fi
}

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict() { awk -v v="$1" -v lim="$2" -v dir="$3" 'BEGIN { ok = (dir == "le") ? (v <= lim) : (v >= lim); print ok ? "met" : "NOT met" }'; }

{
	echo "# enclaver benchmark $STAMP"
	echo
	echo "- enclaver: $ENCLAVER ($(cd "$top" && git describe --always --dirty 2>/dev/null || echo unknown))"
	echo "- machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
	echo "- timer: $(if [ -n "$HYPERFINE" ]; then "$HYPERFINE" --version; else echo "shell loop with /usr/bin/time"; fi), $RUNS runs + 1 warm-up each, warm page cache"
	echo "- kernel dir: $KERNEL_DIR"
	echo
	echo "- load when the run started: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min)$([ -r /proc/pressure/io ] && printf ', I/O pressure %s' "$(sed -n 's/^some avg10=\([^ ]*\) avg60=\([^ ]*\).*/avg10 \1%, avg60 \2%/p' /proc/pressure/io)")"
	echo
	echo "Wall-clock medians, seconds (CPU time user+sys in parentheses):"
	echo
	echo "| image | layers gz / tar MB | cpio MB | gzip -dc | sha384 cpio | gz+sha | build (cold cache) | build (warm cache) | umoci unpack |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$RES/table.md"
: >"$RES/verdicts.txt"
: >"$RES/ratios.md"

for img in "$@"; do
	layout=$IMG_DIR/$img
	w=$WORK_DIR/run-$img
	rm -rf "$w"; mkdir -p "$w"
	mapfile -t layers < <(layers_of "$img")
	gz_bytes=$(stat -c %s "${layers[@]}" | awk '{ s += $1 } END { print s }')
	cat >"$w/enclaver.yaml" <<-YAML
	version: v1
	name: bench-$img
	target: bench-$img:latest
	sources:
	  app: oci:$layout
	YAML
	build="'$ENCLAVER' build -q -f '$w/enclaver.yaml' --kernel-dir '$KERNEL_DIR' --cache-dir '$w/cache' --eif-only '$w/out.eif'"

	say "$img: first build (checks that it works; keeps the EIF for the cpio)"
	rm -rf "$w/cache"
	sh -c "$build" >"$w/pcrs.json" 2>"$RES/$img.build.log" || die "$img: build failed; see $RES/$img.build.log"
	python3 "$top/tests/build/eifcheck.py" sections "$w/out.eif" "$w/sections" >"$RES/$img.sections.txt"
	cpio=$(ls "$w"/sections/ramdisk-* | sort -V | tail -n 1)  # the customer ramdisk is the last
	cpio_bytes=$(stat -c %s "$cpio")
	tar_bytes=$(for l in "${layers[@]}"; do gzip -dc "$l"; done | wc -c)

	say "$img: peak RSS (/usr/bin/time -v, cold cache)"
	rm -rf "$w/cache"
	/usr/bin/time -v -o "$RES/$img.time-v.txt" sh -c "exec $build" >/dev/null
	rss_kb=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$RES/$img.time-v.txt")
	rss_mib=$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')

	say "$img: gzip -dc"
	read -r t_gz c_gz < <(timed "$img-gzip" "" "gzip -dc ${layers[*]} >/dev/null") || true
	say "$img: openssl dgst -sha384"
	read -r t_sha c_sha < <(timed "$img-sha384" "" "openssl dgst -sha384 '$cpio' >/dev/null") || true
	say "$img: enclaver build, cold cache"
	read -r t_cold c_cold < <(timed "$img-build-cold" "rm -rf '$w/cache' '$w/out.eif'" "$build >/dev/null 2>>'$RES/$img.build.log'") || true
	say "$img: enclaver build, warm cache"
	read -r t_warm c_warm < <(timed "$img-build-warm" "rm -f '$w/out.eif'" "$build >/dev/null 2>>'$RES/$img.build.log'") || true
	say "$img: umoci unpack --rootless"
	read -r t_umoci c_umoci < <(timed "$img-umoci" "rm -rf '$w/bundle'" "umoci unpack --rootless --image '$layout:latest' '$w/bundle' >/dev/null 2>>'$RES/$img.umoci.log'") || true
	rm -rf "$w/bundle" "$w/cache" "$w/sections"
	for v in t_gz t_sha t_cold t_warm t_umoci; do
		[ -n "${!v:-}" ] || die "$img: a measurement failed (see $RES and $RES/$img.build.log)"
	done

	base=$(awk -v a="$t_gz" -v b="$t_sha" 'BEGIN { printf "%.3f", a + b }')
	cbase=$(awk -v a="$c_gz" -v b="$c_sha" 'BEGIN { printf "%.3f", a + b }')
	r_build=$(ratio "$t_cold" "$base")
	r_umoci=$(ratio "$t_umoci" "$t_cold")
	printf '| %s | %s / %s | %s | %s (%s) | %s (%s) | %s (%s) | %s (%s) | %s (%s) | %s (%s) |\n' \
		"$img" "$(mb "$gz_bytes")" "$(mb "$tar_bytes")" "$(mb "$cpio_bytes")" "$t_gz" "$c_gz" "$t_sha" "$c_sha" \
		"$base" "$cbase" "$t_cold" "$c_cold" "$t_warm" "$c_warm" "$t_umoci" "$c_umoci" >>"$RES/table.md"
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$img" "$r_build" "$(ratio "$t_warm" "$base")" \
		"$(ratio "$c_cold" "$cbase")" "$r_umoci" "$(ratio "$t_umoci" "$t_warm")" "$rss_mib" >>"$RES/ratios.md"
	{
		echo "$img: build <= 1.5 x (gzip -dc + sha384): $r_build -> $(verdict "$r_build" 1.5 le)"
		echo "$img: >= 3 x faster than umoci unpack: $r_umoci -> $(verdict "$r_umoci" 3 ge)"
		[ "$img" != big-files ] || echo "$img: peak RSS <= 128 MiB: $rss_mib -> $(verdict "$rss_mib" 128 le)"
	} >>"$RES/verdicts.txt"
done

{
	echo
	echo "Ratios (cold = fresh --cache-dir, warm = cache kept; CPU = user+sys):"
	echo
	echo "| image | build cold / (gz+sha) | build warm / (gz+sha) | CPU: build cold / (gz+sha) | umoci / build cold | umoci / build warm | build peak RSS MiB |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	cat "$RES/ratios.md"
	echo
	echo "Targets (wall clock, cold cache):"
	echo
	sed 's/^/- /' "$RES/verdicts.txt"
} >>"$RES/table.md"
cat "$RES/table.md"
