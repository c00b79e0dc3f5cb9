#!/usr/bin/env bash
# Where does `enclaver build` spend its time?  For one corpus image:
#   1. a stage timeline: every log line of `enclaver build -v` stamped with the
#      seconds since start (cold cache, then warm cache);
#   2. if perf is available, `perf record` of a warm-cache build and flat
#      profiles by shared object, by thread and by symbol.
#
#   bench/profile.sh [DATA_DIR [IMAGE]]      (IMAGE default debian-minbase)
#
# ENCLAVER and KERNEL_DIR as for bench/run.sh.  Output: DATA_DIR/results/profile-IMAGE-<stamp>/.
here=$(cd "$(dirname "$0")" && pwd -P)
top=$(cd "$here/.." && pwd -P)
# shellcheck source=bench/common.sh
. "$here/common.sh"
bench_init "${1:-}"
img=${2:-debian-minbase}
need_pkgs python3
image_ready "$img" || "$here/corpus.sh" "$DATA" "$img"
find_enclaver
KERNEL_DIR=${KERNEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/enclaver/kernel/default}
RES=$OUT_DIR/profile-$img-$(date -u +%Y%m%dT%H%M%SZ)
w=$WORK_DIR/profile-$img
rm -rf "$w"; mkdir -p "$w" "$RES"
cat >"$w/enclaver.yaml" <<YAML
version: v1
name: profile-$img
target: profile-$img:latest
sources:
  app: oci:$IMG_DIR/$img
YAML
args=(build -vv -f "$w/enclaver.yaml" --kernel-dir "$KERNEL_DIR" --cache-dir "$w/cache" --eif-only "$w/out.eif")

# stamp: prefix each stderr line of the command with the elapsed seconds.
stamp() {
	python3 -c '
import subprocess, sys, time
t0 = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
for line in p.stderr:
    sys.stdout.write("%8.3f  %s" % (time.monotonic() - t0, line))
rc = p.wait()
print("%8.3f  exit %d" % (time.monotonic() - t0, rc))
sys.exit(rc)' "$@"
}

say "$img: stage timeline, cold cache"
stamp "$ENCLAVER" "${args[@]}" >"$RES/timeline-cold.txt"
say "$img: stage timeline, warm cache"
stamp "$ENCLAVER" "${args[@]}" >"$RES/timeline-warm.txt"
grep -E 'run$|applied|flattened|PCRs measured|exit' "$RES/timeline-cold.txt" | sed 's/^/cold /'
grep -E 'run$|applied|flattened|PCRs measured|exit' "$RES/timeline-warm.txt" | sed 's/^/warm /'

if command -v perf >/dev/null; then
	# A libtool wrapper execs the real binary; perf follows the exec.  Debian's
	# zlib and libcrypto carry no symbols, so the by-library view is the useful one.
	say "$img: perf record (warm cache)"
	perf record -q -o "$RES/perf.data" -- "$ENCLAVER" "${args[@]}" >/dev/null 2>&1 ||
		say "perf record failed"
	if [ -s "$RES/perf.data" ]; then
		report() { perf report -i "$RES/perf.data" --no-children -g none --stdio "$@" 2>/dev/null | grep -E '^ +[0-9]' || true; }
		report --sort dso | head -n 15 >"$RES/perf-dso.txt"
		report --sort pid | head -n 10 >"$RES/perf-threads.txt"
		report --sort dso,symbol | head -n 40 >"$RES/perf-symbols.txt"
		echo "== by library"; cat "$RES/perf-dso.txt"
		echo "== by thread"; cat "$RES/perf-threads.txt"
	fi
fi
rm -rf "$w"
say "profile in $RES"
