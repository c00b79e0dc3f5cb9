#!/bin/sh
# enclaver bench: the Nitro launch with the fake NE device (runtime/host/ne.c +
# tests/runtime/fake-ne.c), for EIFs of several sizes: time from ne_launch() to the
# NE_START_ENCLAVE ioctl next to memcpy of the same bytes, and the launcher's own peak
# RSS without the donated regions.  Run with `make bench-ne`; see docs/performance.md.
#
#   BENCH_NE    the driver (default: _build/bench/ne-launch-bench)
#   NE_SIZES    EIF sizes in MiB (default: "64 256 1024")
#   NE_REPS     runs per size, best kept (default: 3)
#   NE_DIR      where the generated EIFs go (default: a temporary directory in /tmp)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
BENCH_NE=${BENCH_NE:-$here/../_build/bench/ne-launch-bench}
NE_SIZES=${NE_SIZES:-"64 256 1024"}
NE_REPS=${NE_REPS:-3}
dir=${NE_DIR:-$(mktemp -d /tmp/enclaver-bench-ne.XXXXXX)}
trap 'rm -f "$dir"/ne-*.eif; [ -n "${NE_DIR:-}" ] || rmdir "$dir" 2>/dev/null || true' EXIT

[ -x "$BENCH_NE" ] || { echo "ne-launch.sh: $BENCH_NE not built (make bench-ne)" >&2; exit 1; }
echo "# ne-launch: $(uname -m), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ), best of $NE_REPS"
for mib in $NE_SIZES; do
  f=$dir/ne-$mib.eif
  "$BENCH_NE" gen "$f" $((mib * 1048576))
  "$BENCH_NE" run "$f" "$NE_REPS"
  rm -f "$f"
done
