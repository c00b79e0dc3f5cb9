#!/bin/sh
# The fuzz targets' smoke run (tests/fuzz/local.mk): each target over its committed
# seeds (tests/fuzz/corpus/NAME), then FUZZ_SMOKE_RUNS mutated inputs, a fixed count
# (not a time), with its dictionary.  One point per target; a crash, a sanitizer report,
# a leak, a timeout or a failed invariant fails it, with the end of libFuzzer's output
# and the crashing input (as hex) in the log.  Also checks that every target has seeds
# and that every seed directory belongs to a target.  New inputs go to a scratch
# directory, never into the source tree.  Skips, saying why, without a clang that links
# -fsanitize=fuzzer (configure's FUZZ_CC) or in a build configured --disable-fuzz.
. "$top_srcdir/tests/lib.sh"

: "${FUZZ_NAMES:?run through make check}"
: "${FUZZ_SMOKE_RUNS:?run through make check}"
: "${FUZZ_STATE:?run through make check}"
case $FUZZ_STATE in
  disabled) skip_all "fuzz targets left out of this build (configure --disable-fuzz; scripts/test.sh smoke-runs them in its normal build)" ;;
  yes) ;;
  *) skip_all "no clang that links -fsanitize=fuzzer was found by configure (install clang, see scripts/setup-deps.sh)" ;;
esac

S=$top_srcdir/tests/fuzz
for name in $FUZZ_NAMES; do
  bin=$top_builddir/tests/fuzz/$name
  seeds=$S/corpus/$name
  if [ ! -x "$bin" ]; then
    not_ok "$name: the target is built (make fuzz)"
    continue
  fi
  if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then
    not_ok "$name: has seeds in tests/fuzz/corpus/$name"
    continue
  fi
  work=$TEST_TMP/$name
  mkdir -p "$work/new"
  set -- -runs="$FUZZ_SMOKE_RUNS" -seed=1 -timeout=30 -rss_limit_mb=2048 \
    -artifact_prefix="$work/" -print_final_stats=1
  [ -f "$S/$name.dict" ] && set -- "$@" -dict="$S/$name.dict"
  # From the scratch directory: targets that write files stay in their own temporary one.
  if (cd "$work" && "$bin" "$@" "$work/new" "$seeds") >"$work/log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
    cov=$(grep -E '^(#[0-9]+|Done)' "$work/log" | grep -o 'cov: [0-9]*' | tail -n 1)
    ok "$name: $(ls "$seeds" | wc -l | tr -d ' ') seeds and ${execs:-?} executions, no crash (${cov:-cov: ?})"
  else
    rc=$?
    not_ok "$name: crashed or failed an invariant (libFuzzer exit $rc)"
    tail -n 40 "$work/log" | sed 's/^/# /'
    for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
      [ -f "$a" ] || continue
      diag "input ${a##*/} ($(wc -c <"$a" | tr -d ' ') bytes):"
      od -An -tx1 "$a" | head -n 16 | sed 's/^/# /'
    done
  fi
done

# Every seed directory belongs to a target (a renamed target leaves none behind).
for d in "$S"/corpus/*/; do
  d=${d%/}
  case " $FUZZ_NAMES " in
    *" ${d##*/} "*) ;;
    *) not_ok "tests/fuzz/corpus/${d##*/}: no target of that name" ;;
  esac
done
done_testing
