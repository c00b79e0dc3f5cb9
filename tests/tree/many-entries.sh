#!/bin/sh
# Memory of the flatten stage (issue 19): a layer of 1.3 million empty files (made by
# tests/tree/manyentries.py with tarfile, streamed through gzip) built with the
# pipeline [fetch, flatten] and the default limits is refused by max_memory, with a
# message naming the limit and how to raise it, and the process's peak resident
# memory (/usr/bin/time's maximum RSS) stays under 256 MiB; so does a layer of
# 600,000 files with 90-byte names.  A layer of 300,000 files, under the limit, is
# flattened.  The peak is not checked in a sanitizer build (its shadow memory).
. "$top_srcdir/tests/lib.sh"
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null 2>&1 || skip_all "python3 not found"
[ -x /usr/bin/time ] || skip_all "/usr/bin/time (GNU time) not installed"
trap 'rm -rf "$TEST_TMP"' EXIT
SAN=0
grep -q '^SAN_CFLAGS = -f' "$top_builddir/Makefile" 2>/dev/null && SAN=1
BOUND_KB=262144

# build_peak NAME LAYOUT: build [fetch, flatten] from LAYOUT; RC, ERR, PEAK_KB
build_peak () {
  tap_argc build_peak 2 2 "$@"
  cat > "$TEST_TMP/$1.yaml" <<YAML
version: v1
name: many
target: many:latest
sources:
  app: "oci:$2:many"
pipeline:
  - fetch
  - flatten
YAML
  run_cmd /usr/bin/time -f %M -o "$TEST_TMP/$1.rss" "$ENCLAVER" build -f "$TEST_TMP/$1.yaml" \
    --cache-dir "$TEST_TMP/cache"
  PEAK_KB=$(tail -n 1 "$TEST_TMP/$1.rss")
  diag "$1: peak RSS $PEAK_KB KiB"
}
peak_ok () {
  tap_argc peak_ok 1 1 "$@"
  if [ $SAN = 1 ]; then ok "# SKIP $1: peak RSS under 256 MiB (sanitizer build)"; return; fi
  check "$1: peak RSS ${PEAK_KB} KiB is under 256 MiB" test "$PEAK_KB" -lt $BOUND_KB
}

$PY "$top_srcdir/tests/tree/manyentries.py" "$TEST_TMP/small" 300000 || not_ok "make the 300k layout"
build_peak small "$TEST_TMP/small"
expect_rc "300,000 entries: flattened with the default limits" 0
expect_in "... all of them" "$ERR" "300300 paths"
peak_ok "300,000 entries"

$PY "$top_srcdir/tests/tree/manyentries.py" "$TEST_TMP/big" 1300000 || not_ok "make the 1.3M layout"
build_peak big "$TEST_TMP/big"
expect_rc "1.3 million entries: refused with the default limits" 1
expect_in "... by max_memory, named with its value" "$ERR" "more than 192 MiB (the flatten limit max_memory;"
expect_in "... saying how to raise it" "$ERR" "raise it with --stage-opt flatten.max_memory=SIZE"
expect_in "... naming the entry it stopped at" "$ERR" "entry 'd00"
peak_ok "1.3 million entries"
rm -rf "$TEST_TMP/big"

$PY "$top_srcdir/tests/tree/manyentries.py" "$TEST_TMP/long" 700000 90 || not_ok "make the long-name layout"
build_peak long "$TEST_TMP/long"
expect_rc "700,000 entries with 90-byte names: refused" 1
expect_in "... by max_memory" "$ERR" "the flatten limit max_memory"
peak_ok "700,000 long names"

# the limit is an option: a smaller one refuses the small layer, naming that value
run_cmd "$ENCLAVER" build -f "$TEST_TMP/small.yaml" --cache-dir "$TEST_TMP/cache" --stage-opt flatten.max_memory=16M
expect_rc "--stage-opt flatten.max_memory=16M refuses 300,000 entries" 1
expect_in "... naming 16 MiB" "$ERR" "more than 16 MiB (the flatten limit max_memory"
run_cmd "$ENCLAVER" build -f "$TEST_TMP/small.yaml" --cache-dir "$TEST_TMP/cache" --stage-opt flatten.max_memory=1000
expect_rc "max_memory below 1M: an error" 1
expect_in "... saying so" "$ERR" "option max_memory must be at least 1M"

done_testing
