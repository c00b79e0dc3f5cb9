#!/usr/bin/env bash
# Where does `enclaver build --eif-only` wait?  For one corpus image, record a cold
# (fresh --cache-dir) and a warm build with `perf sched record` (every context switch
# on the machine) and summarise them with bench/sched-summary.py: how long 0, 1 or 2
# of the build's threads ran, how long they waited for a CPU (load) or all slept, and
# the per-thread run / asleep / queued times; plus `perf trace -s` of a cold build
# (syscall time per thread).
#
#   bench/waits.sh [DATA_DIR [IMAGE]]      (IMAGE default debian-minbase)
#
# ENCLAVER and KERNEL_DIR as for bench/run.sh; BENCH_TIMELINE=SECONDS adds the
# per-bucket timeline.  Output: DATA_DIR/results/waits-IMAGE-<stamp>/.
here=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=bench/common.sh
. "$here/common.sh"
bench_init "${1:-}"
img=${2:-debian-minbase}
command -v perf >/dev/null || die "perf is required (package linux-perf)"
image_ready "$img" || "$here/corpus.sh" "$DATA" "$img"
find_enclaver
KERNEL_DIR=${KERNEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/enclaver/kernel/default}
RES=$OUT_DIR/waits-$img-$(date -u +%Y%m%dT%H%M%SZ)
w=$WORK_DIR/waits-$img
rm -rf "$w"; mkdir -p "$w" "$RES"
cat >"$w/enclaver.yaml" <<YAML
version: v1
name: waits-$img
target: waits-$img:latest
sources:
  app: oci:$IMG_DIR/$img
YAML
# the real binary, not a libtool wrapper script (perf would record bash too)
bin=$ENCLAVER
if head -c 2 "$bin" | grep -q '#!'; then
	real=$(dirname "$bin")/.libs/$(basename "$bin")
	[ -x "$real" ] && bin=$real && export LD_LIBRARY_PATH=$(dirname "$real")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
args=(build -q -f "$w/enclaver.yaml" --kernel-dir "$KERNEL_DIR" --cache-dir "$w/cache" --eif-only "$w/out.eif")
tl=()
[ -n "${BENCH_TIMELINE:-}" ] && tl=(--timeline "$BENCH_TIMELINE")
{
	echo "- enclaver: $ENCLAVER; load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	for kind in cold warm; do
		[ $kind = cold ] && rm -rf "$w/cache"
		rm -f "$w/out.eif"
		# the build's pid (the shell execs it), so that only its threads are counted
		perf sched record -q -o "$RES/sched-$kind.data" -- \
			sh -c 'echo $$ >"$0"; exec "$@"' "$RES/$kind.pid" "$bin" "${args[@]}" >/dev/null 2>"$RES/$kind.log" ||
			die "perf sched record failed; see $RES/$kind.log"
		echo; echo "== $kind build"
		python3 "$here/sched-summary.py" "$RES/sched-$kind.data" --pid "$(cat "$RES/$kind.pid")" "${tl[@]}"
	done
	rm -rf "$w/cache" "$w/out.eif"
	echo; echo "== perf trace -s, cold build (syscalls with more than 10 ms in total)"
	perf trace -s -o "$RES/trace-cold.txt" -- "$bin" "${args[@]}" >/dev/null 2>&1 || say "perf trace failed"
	awk '/^ [^ ].*\(/ { th = $0 } /^ +[a-z_0-9]+ +[0-9]+ +[0-9]+ +[0-9.]+/ && $4 > 10 { if (th) { print th; th = "" } print }' "$RES/trace-cold.txt"
	echo "- load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$RES/summary.txt"
rm -rf "$w"
say "results in $RES"
