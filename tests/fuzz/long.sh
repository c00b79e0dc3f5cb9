#!/bin/sh
# `make fuzz-long`: each target for SECONDS (one after the other: a fuzzer takes a core),
# over its seeds and the corpus kept in tests/fuzz/long/NAME of the build tree, which
# grows from run to run.  Prints libFuzzer's last status line per target (executions,
# cov, ft, corpus) and fails when any target crashed; the crashing inputs are kept as
# tests/fuzz/long/NAME-crash-* (add one as a seed with the fix).  docs/reliability.md
# records the last run.
#   usage: long.sh SECONDS NAME...
set -u
: "${top_srcdir:?run through make fuzz-long}"
: "${top_builddir:?run through make fuzz-long}"
if [ $# -lt 2 ]; then
  echo "usage: $0 SECONDS NAME..." >&2
  exit 2
fi
secs=$1
shift
case $secs in
  '' | *[!0-9]*) echo "$0: SECONDS must be a number, not '$secs'" >&2; exit 2 ;;
esac
S=$top_srcdir/tests/fuzz
L=$top_builddir/tests/fuzz/long
mkdir -p "$L"
failed=0
for name in "$@"; do
  bin=$top_builddir/tests/fuzz/$name
  if [ ! -x "$bin" ]; then
    echo "$name: not built (make fuzz)" >&2
    failed=1
    continue
  fi
  mkdir -p "$L/$name" "$L/$name.tmp"
  set -- -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 \
    -artifact_prefix="$L/$name-" -print_final_stats=1
  [ -f "$S/$name.dict" ] && set -- "$@" -dict="$S/$name.dict"
  start=$(date +%s)
  if (cd "$L/$name.tmp" && "$bin" "$@" "$L/$name" "$S/corpus/$name") >"$L/$name.log" 2>&1; then
    result="no crash"
  else
    result="CRASHED (exit $?; see $L/$name.log)"
    failed=1
  fi
  end=$(date +%s)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$L/$name.log")
  last=$(grep -E '^#[0-9]+' "$L/$name.log" | tail -n 1)
  echo "$name: $((end - start)) s, ${execs:-?} executions, $result; last: $last"
  rm -rf "$L/$name.tmp"
done
exit $failed
