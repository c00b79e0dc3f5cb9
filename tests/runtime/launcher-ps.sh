#!/bin/sh
# enclaver ps / enclaver stop against running enclaves of the local backend (the real
# supervisor; tests/runtime/launcher-local is the front end): the table and -o json,
# stale state files skipped and removed, a graceful stop (the app sees SIGTERM, the
# launcher exits 109, the state file goes), stopping what does not run.
. "$top_srcdir/tests/lib.sh"
LL=$top_builddir/tests/runtime/launcher-local
RUN=$TEST_TMP/run
mkdir -p "$TEST_TMP/a" "$TEST_TMP/b"

# Wait (hang guard 60 s) until a file exists.
wait_file () { i=0; while [ ! -e "$1" ] && [ $i -lt 3000 ]; do sleep 0.02; i=$((i + 1)); done; [ -e "$1" ]; }

"$LL" --name web --run-dir "$RUN" --dir "$TEST_TMP/a" -- --no-config --no-bootstrap -- \
  /bin/sh -c "trap 'echo seen > $TEST_TMP/a/term; exit 0' TERM; while :; do sleep 0.05; done" \
  >"$TEST_TMP/a/out" 2>"$TEST_TMP/a/err" &
WEB=$!
"$LL" --name db --run-dir "$RUN" --dir "$TEST_TMP/b" --status-port 27000 --log-port 27001 -- \
  --no-config --no-bootstrap -- /bin/sh -c "while :; do sleep 0.05; done" \
  >"$TEST_TMP/b/out" 2>"$TEST_TMP/b/err" &
DB=$!
check "both state files appear" wait_file "$RUN/web.json"
wait_file "$RUN/db.json"

# A stale file: its launcher pid does not exist.
cat >"$RUN/gone.json" <<JSON
{"name":"gone","id":"local-1","cid":9,"memory_mib":1,"cpu_count":2,"started":1,"launcher_pid":1073741822,"launcher_ticks":1,"status_addr":"unix:/nowhere"}
JSON

run_cmd "$ENCLAVER" ps --run-dir "$RUN"
expect_rc "ps: exit 0" 0
expect_in "ps: table header" "$OUT" "NAME"
expect_in "ps: web listed" "$OUT" "web "
expect_in "ps: db listed" "$OUT" "db "
case $OUT in *gone*) not_ok "ps: the stale enclave is not listed";; *) ok "ps: the stale enclave is not listed";; esac
check "ps: the stale state file is removed" test ! -e "$RUN/gone.json"

run_cmd "$ENCLAVER" ps --run-dir "$RUN" -o json
expect_rc "ps -o json: exit 0" 0
if command -v python3 >/dev/null 2>&1; then
  run_cmd python3 -c '
import json, sys
a = json.loads(sys.argv[1])
names = [e["name"] for e in a]
assert names == ["db", "web"], names
w = a[1]
assert w["cid"] == 16 and w["memory_mib"] == 256 and w["cpu_count"] == 2 and w["id"].startswith("local-")
assert w["uptime_s"] >= 0 and w["launcher_pid"] > 0
' "$OUT"
  expect_rc "ps -o json: both enclaves with their fields, sorted by name" 0
fi

run_cmd "$ENCLAVER" stop --run-dir "$RUN" web
expect_rc "stop web: exit 0" 0
wait $WEB; RC=$?
check "stop web: the launcher exited 109" test "$RC" -eq 109
check "stop web: the app saw SIGTERM" test -e "$TEST_TMP/a/term"
check "stop web: its state file is gone" test ! -e "$RUN/web.json"
run_cmd "$ENCLAVER" ps --run-dir "$RUN"
case $OUT in *"web "*) not_ok "ps after stop: web is gone";; *) ok "ps after stop: web is gone";; esac
expect_in "ps after stop: db still runs" "$OUT" "db "

run_cmd "$ENCLAVER" stop --run-dir "$RUN" web
expect_rc "stop a name that does not run: exit 1" 1
expect_in "stop a name that does not run: says so" "$ERR" "no enclave named 'web'"
run_cmd "$ENCLAVER" stop --run-dir "$RUN"
expect_rc "stop without a name: usage error" 2
run_cmd "$ENCLAVER" ps --run-dir "$RUN" -o yaml
expect_rc "ps -o yaml: usage error" 2

run_cmd "$ENCLAVER" stop --run-dir "$RUN" --timeout 30 db
expect_rc "stop db: exit 0" 0
wait $DB; RC=$?
check "stop db: the launcher exited 109" test "$RC" -eq 109
done_testing
