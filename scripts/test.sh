#!/bin/sh
# Set up, build and run the whole test suite: the normal build (warnings are
# errors) and the AddressSanitizer + UndefinedBehaviorSanitizer build.
# Usage: scripts/test.sh            (what .ci/run and the README run)
#        ENCLAVER_DISTCHECK=1 scripts/test.sh   (also `make distcheck`)
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

./scripts/setup-deps.sh
# The default kernel for the QEMU boot test (Debian's cloud kernel, not installed).
./scripts/fetch-kernel.sh >/dev/null || echo "warning: no default kernel; the QEMU boot test will skip" >&2
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
  ./autogen.sh >/dev/null 2>&1 || ./autogen.sh
fi

status=0
summary () { # $1 = build dir: add its test-suite.log counts
  log="$1/test-suite.log"
  [ -f "$log" ] || return 0
  p=$(sed -n 's/^# PASS: *//p' "$log"); f=$(sed -n 's/^# FAIL: *//p' "$log")
  e=$(sed -n 's/^# ERROR: *//p' "$log"); s=$(sed -n 's/^# SKIP: *//p' "$log")
  x=$(sed -n 's/^# XPASS: *//p' "$log")
  PASS=$((PASS + ${p:-0})); FAIL=$((FAIL + ${f:-0} + ${e:-0} + ${x:-0})); SKIP=$((SKIP + ${s:-0}))
}
PASS=0 FAIL=0 SKIP=0

run_suite () { # $1 = build dir, rest = configure flags
  dir=$1; shift
  mkdir -p "$dir"
  ( cd "$dir"
    if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ]; then
      "$top/configure" -q "$@"
    fi
    make -j"$jobs" >/dev/null
    make -j"$jobs" check VERBOSE=1 ) || status=1
  summary "$dir"
}

echo "== normal build (-Werror) and make check"
run_suite "$top/_build" --enable-werror
echo "== ASan + UBSan build and make check"
run_suite "$top/_build-san" --enable-werror --enable-sanitizers
if [ "${ENCLAVER_DISTCHECK:-0}" = 1 ]; then
  echo "== make distcheck"
  ( cd "$top/_build" && make -j"$jobs" distcheck >/dev/null ) || status=1
fi
echo "enclaver tests: $PASS passed, $FAIL failed, $SKIP skipped"
exit $status
