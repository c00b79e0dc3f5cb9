#!/bin/sh
# Set up, build and run the test suite in three builds (docs/testing.md):
#   _build         normal build, warnings are errors: the whole suite
#   _build-san     AddressSanitizer + UndefinedBehaviorSanitizer: the whole suite but
#                  the fuzz targets' smoke run (--disable-fuzz: the targets carry their
#                  own ASan+UBSan and run in the normal build)
#   _build-noisal  --without-isal (zlib/libarchive inflate, zlib CRC32), warnings are
#                  errors: `make` of everything, then only the tests that inflate
#                  gzip layers or compute the EIF's CRC32 (NOISAL_TESTS below), so
#                  the zlib path cannot rot without tripling the suite's time
# Each build gets its own summary line; the last line covers all of them, in the
# form CI reads: "enclaver tests: N passed, N failed, N skipped".
# Usage: scripts/test.sh            (what .ci/run and the README run)
#        ENCLAVER_DISTCHECK=1 scripts/test.sh   (also `make distcheck`)
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

# the tests of the without-ISA-L build: inflate (ISA-L vs libarchive, here both
# libarchive), layer application over gzip layers, the EIF writer/reader (CRC32),
# and `enclaver build` end to end from gzip-compressed images
NOISAL_TESTS="tests/tree/test-inflate tests/tree/test-apply tests/eif/test-eif tests/build/build.sh"

./scripts/setup-deps.sh
# The default kernel for the QEMU boot test (Debian's cloud kernel, not installed).
./scripts/fetch-kernel.sh >/dev/null || echo "warning: no default kernel; the QEMU boot test will skip" >&2
# The arm64 kernel for the aarch64 boot test (tests/boot/arm64.sh, docs/cross-arch.md).
./scripts/fetch-kernel.sh --arch arm64 >/dev/null \
  || echo "warning: no default arm64 kernel; the aarch64 boot test will skip" >&2
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
  ./autogen.sh >/dev/null 2>&1 || ./autogen.sh
fi

status=0
PASS=0 FAIL=0 SKIP=0
LINES="" DIRS="" TIMES=""
# summary LABEL DIR: one line for this build's test-suite.log; adds to the totals
summary () {
  DIRS="$DIRS $2"
  log="$2/test-suite.log"
  if [ ! -f "$log" ]; then
    LINES="$LINES
enclaver tests ($1): no test-suite.log (the build or the test harness failed)"
    FAIL=$((FAIL + 1))
    return 0
  fi
  p=$(sed -n 's/^# PASS: *//p' "$log"); f=$(sed -n 's/^# FAIL: *//p' "$log")
  e=$(sed -n 's/^# ERROR: *//p' "$log"); s=$(sed -n 's/^# SKIP: *//p' "$log")
  x=$(sed -n 's/^# XPASS: *//p' "$log")
  f=$((${f:-0} + ${e:-0} + ${x:-0}))
  LINES="$LINES
enclaver tests ($1): ${p:-0} passed, $f failed, ${s:-0} skipped"
  PASS=$((PASS + ${p:-0})); FAIL=$((FAIL + f)); SKIP=$((SKIP + ${s:-0}))
}

# run_suite LABEL DIR TESTS CONFIGURE-FLAGS...: TESTS is "" for the whole suite
run_suite () {
  label=$1 dir=$2 tests=$3
  shift 3
  mkdir -p "$dir"
  rm -f "$dir/test-suite.log"
  t0=$(date +%s)
  touch "$dir/.test-sh-start"
  ( cd "$dir"
    # configured again when configure or this script's flags for the build changed
    if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ] || [ "$(cat .test-sh-flags 2>/dev/null)" != "$*" ]; then
      "$top/configure" -q "$@" && printf '%s\n' "$*" >.test-sh-flags
    fi
    make -j"$jobs" >/dev/null
    date +%s >.test-sh-built
    if [ -n "$tests" ]; then
      make -j"$jobs" check VERBOSE=1 TESTS="$tests"
    else
      make -j"$jobs" check VERBOSE=1
    fi ) || status=1
  summary "$label" "$dir"
  t2=$(date +%s)
  t1=$(cat "$dir/.test-sh-built" 2>/dev/null || echo "$t2")
  TIMES="$TIMES
$label: $((t2 - t0)) s (configure and make $((t1 - t0)) s, tests $((t2 - t1)) s); slowest tests:
$(slowest "$dir")"
}

# slowest DIR: the ten tests of this run (their .time, written by
# tests/timed-driver.sh, newer than the run's start) that took the longest
slowest () {
  find "$1" -name '*.time' -newer "$1/.test-sh-start" 2>/dev/null \
    | while read -r f; do printf '%s %s\n' "$(cat "$f")" "${f#"$1"/}"; done \
    | sort -rn | head -n 10 | awk '{ printf "  %5d s  %s\n", $1, substr($2, 1, length($2) - 5) }'
}

echo "== normal build (-Werror) and make check"
run_suite "normal build" "$top/_build" "" --enable-werror
echo "== ASan + UBSan build and make check"
run_suite "ASan+UBSan build" "$top/_build-san" "" --enable-werror --enable-sanitizers --disable-fuzz
echo "== build --without-isal (-Werror), make, and the inflate and CRC32 tests"
run_suite "without-isal build" "$top/_build-noisal" "$NOISAL_TESTS" --enable-werror --without-isal --disable-fuzz
if grep -q '^#define HAVE_ISAL' "$top/_build-noisal/config.h" 2>/dev/null; then
  echo "error: _build-noisal was configured with ISA-L" >&2
  status=1
fi
if [ "${ENCLAVER_DISTCHECK:-0}" = 1 ]; then
  echo "== make distcheck"
  ( cd "$top/_build" && make -j"$jobs" distcheck >/dev/null ) || status=1
fi
# failures BUILD-DIR: each failed test point of that build (and each test that failed
# as a whole: bad exit status, missing plan) with the lines of its log just before it,
# from test-suite.log, which holds the logs of the failed tests; printed next to the
# summary so that a view of only the tail of the output still says what failed and why
failures () {
  log="$1/test-suite.log"
  [ -f "$log" ] || return 0
  awk -v ctx=10 -v max=120 '
    { buf[NR % (ctx + 2)] = $0 }
    prev_hit != "" {
      # a "FAIL: tests/x" line followed by ===== is a section title, not a result
      if ($0 !~ /^=+$/) { emit(prev_nr) }
      prev_hit = ""
    }
    /^(FAIL|ERROR|XPASS): / { prev_hit = $0; prev_nr = NR }
    END { if (prev_hit != "") emit(prev_nr) }
    function emit(at,   i) {
      if (out >= max) return
      print "-- " buf[at % (ctx + 2)]; out++
      for (i = at - ctx; i < at; i++)
        if (i > 0 && out < max) { print "    | " substr(buf[i % (ctx + 2)], 1, 300); out++ }
    }
  ' "$log"
}
if [ "$FAIL" -ne 0 ]; then
  echo "== failed tests (the lines before each failure; full logs in the build directories)"
  for d in $DIRS; do
    failures "$d"
  done
fi
echo "== time per build (wall; tests run $jobs at a time)"
printf '%s\n' "$TIMES" | sed '/^$/d'
printf '%s\n' "$LINES" | sed '/^$/d'
echo "enclaver tests: $PASS passed, $FAIL failed, $SKIP skipped"
[ "$FAIL" -eq 0 ] || status=1
exit $status
