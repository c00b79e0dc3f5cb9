# enclaver tests: shell TAP helpers.  Source from a tests/*.sh script.
# Provides: ok/not_ok via check, skip_all, done_testing, and $ENCLAVER / $top_srcdir.
set -u
: "${top_srcdir:?run through make check}"
: "${top_builddir:?run through make check}"
: "${ENCLAVER:=$top_builddir/enclaver}"
TAP_N=0
TAP_FAILED=0
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/enclaver-test.XXXXXX")
trap 'rm -rf "$TEST_TMP"' EXIT

ok () { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $*"; }
not_ok () { TAP_N=$((TAP_N + 1)); TAP_FAILED=$((TAP_FAILED + 1)); echo "not ok $TAP_N - $*"; }
diag () { printf '%s\n' "$@" | sed 's/^/# /'; }
# check "name" command...   (passes when the command exits 0)
check () { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }
# run_cmd: runs the command, storing exit code in RC, stdout in OUT, stderr in ERR
run_cmd () {
  "$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err"; RC=$?
  OUT=$(cat "$TEST_TMP/out"); ERR=$(cat "$TEST_TMP/err")
}
# expect_rc "name" RC  (after run_cmd)
expect_rc () {
  if [ "$RC" -eq "$2" ]; then ok "$1"; else not_ok "$1"; diag "exit $RC, expected $2" "stdout: $OUT" "stderr: $ERR"; fi
}
# expect_in "name" "haystack" "needle"
expect_in () {
  case $2 in *"$3"*) ok "$1";; *) not_ok "$1"; diag "expected to find: $3" "in: $2";; esac
}
skip_all () { echo "1..0 # SKIP $*"; exit 0; }  # the TAP driver counts exit 77 as an error
done_testing () { echo "1..$TAP_N"; [ "$TAP_FAILED" -eq 0 ]; }
