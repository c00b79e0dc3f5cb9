#!/bin/sh
# The shell test helpers fail loudly when called with the wrong number of
# arguments: each case below is a small script that calls one helper wrongly;
# it must print a failed point and "Bail out!" naming the helper and the line
# of the call, and exit 1 (also when the call is inside $(...)).
. "$top_srcdir/tests/lib.sh"
SH=${SHELL:-/bin/sh}
case $SH in *bash*) ;; *) SH=$(command -v bash || echo /bin/sh) ;; esac

# bad_call NAME LIBS BODY: BODY calls a helper wrongly on its line 4
bad_call () {
  local name=$1 libs=$2 body=$3 f
  f=$TEST_TMP/case-$TAP_N.sh
  {
    echo '. "$top_srcdir/tests/lib.sh"'
    if [ "$libs" = oci ]; then echo '. "$top_srcdir/tests/oci/ocitest.sh"'; else echo ':'; fi
    echo 'ok "first point"'
    echo "$body"
    echo 'echo "after the bad call"'
    echo 'done_testing'
  } > "$f"
  run_cmd "$SH" "$f"
  expect_rc "$name: the script exits 1" 1
  expect_in "$name: a failed point" "$OUT" "not ok 2 - test bug: "
  expect_in "$name: Bail out! names the call's line" "$OUT" "(called at $f:4)"
  case $OUT in
    *"after the bad call"*) not_ok "$name: the script stops at the bad call" ;;
    *) ok "$name: the script stops at the bad call" ;;
  esac
}

bad_call "expect_rc with the exit code passed as a name" lib \
  'run_cmd true; expect_rc "true exits 1" "$RC" 1'
expect_in "expect_rc: the message says what it takes" "$OUT" "expect_rc called with 3 argument(s), it takes 2"
bad_call "expect_rc without the expected code" lib 'run_cmd true; expect_rc "true exits 0"'
bad_call "expect_rc with a non-number" lib 'run_cmd true; expect_rc "true" zero'
expect_in "expect_rc: a non-number is named" "$OUT" "given 'zero' as the expected exit code"
bad_call "expect_in with two arguments" lib 'expect_in "x" "haystack"'
bad_call "expect_in with an empty needle" lib 'expect_in "x" "haystack" ""'
bad_call "check without a command" lib 'check "name only"'
bad_call "ok without a name" lib 'ok'
bad_call "not_ok without a name" lib 'not_ok'
bad_call "diag without text" lib 'diag'
bad_call "run_cmd without a command" lib 'run_cmd'
bad_call "skip_all without a reason" lib 'skip_all'
bad_call "done_testing with an argument" lib 'done_testing 3'
bad_call "fake_boot_blobs without a directory" lib 'fake_boot_blobs'
bad_call "fake_boot_blobs given a missing directory" lib 'fake_boot_blobs /nonexistent/blobs'
if command -v python3 >/dev/null 2>&1 && command -v jq >/dev/null 2>&1; then
  bad_call "expect_eq with two arguments" oci 'expect_eq "x" "y"'
  bad_call "expect_eq with four arguments" oci 'expect_eq "x" 0 0 0'
  bad_call "blob inside \$(...) aborts the script" oci 'x=$(blob only-one)'
  bad_call "sha_of with two files" oci 'x=$(sha_of a b)'
  bad_call "diffid_of without a file" oci 'x=$(diffid_of)'
  bad_call "layout_ref_digest with one argument" oci 'x=$(layout_ref_digest dir)'
  bad_call "host_arch with an argument" oci 'x=$(host_arch amd64)'
  bad_call "free_port with an argument" oci 'x=$(free_port 1)'
  bad_call "wait_file without a file" oci 'wait_file'
  bad_call "start_registry without a scheme" oci 'start_registry name dir'
  bad_call "stop_registry without a name" oci 'stop_registry'
  bad_call "start_py without a script" oci 'start_py name'
else
  ok "# SKIP ocitest.sh helpers (python3 or jq not installed)"
fi

# the same helpers called rightly pass, and a failed check still fails
f=$TEST_TMP/good.sh
cat > "$f" <<'EOF'
. "$top_srcdir/tests/lib.sh"
run_cmd sh -c 'echo out; echo err >&2; exit 3'
expect_rc "exit 3" 3
expect_in "stdout" "$OUT" "out"
expect_in "stderr" "$ERR" "err"
check "true" true
done_testing
EOF
run_cmd "$SH" "$f"
expect_rc "right calls: exit 0" 0
n_ok=$(printf '%s\n' "$OUT" | grep -c '^ok ')
check "right calls: four passing points" test "$n_ok" -eq 4
expect_in "right calls: the plan" "$OUT" "1..4"
printf '. "$top_srcdir/tests/lib.sh"\nrun_cmd false\nexpect_rc "false exits 0" 0\ndone_testing\n' > "$f"
run_cmd "$SH" "$f"
expect_rc "a wrong exit code fails the script" 1
expect_in "a wrong exit code is a failed point" "$OUT" "not ok 1 - false exits 0"
done_testing
