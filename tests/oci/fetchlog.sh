#!/bin/sh
# What a fetch prints: retries are announced ("retrying (2/5) in 0.5 s: connection
# refused") on the schedule docs/image.md gives; the progress bar is drawn on a
# terminal only at normal verbosity with text logs, and not with -q, --log-format json
# or --no-progress (image pull and build); the fetch summary is a log record.  The
# terminal comes from script(1) (bsdutils).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/oci/ocitest.sh"
no_ambient_credentials
ESC=$(printf '\033')
is_json () { jq -e . "$1" > /dev/null; }

# ---- a registry that refuses connections: 5 attempts, 4 announced waits doubling
export ENCLAVER_RETRY_DELAY_MS=20
DEAD=127.0.0.1:$(free_port)
run_cmd "$ENCLAVER" image inspect --cache-dir "$TEST_TMP/c0" "$DEAD/x/y:1"
expect_rc "refused connections: exit 1" 1
expect_in "first retry announced with the reason" "$ERR" "retrying (2/5) in 0.02 s: connection refused"
expect_in "second waits twice as long" "$ERR" "retrying (3/5) in 0.04 s: connection refused"
expect_in "third" "$ERR" "retrying (4/5) in 0.08 s: connection refused"
expect_in "fourth, the last" "$ERR" "retrying (5/5) in 0.16 s: connection refused"
expect_eq "exactly four retries" "$(printf '%s\n' "$ERR" | grep -c 'retrying')" "4"
expect_in "names the registry and what it fetched" "$ERR" "registry $DEAD: manifest x/y:1: retrying"
expect_in "the error says it gave up" "$ERR" "gave up after 5 attempts"
run_cmd "$ENCLAVER" -q image inspect --cache-dir "$TEST_TMP/c0" "$DEAD/x/y:1"
expect_eq "-q: only the error" "$(printf '%s\n' "$ERR" | grep -vc 'error:')" "0"
# The default base is 0.5 s: the first wait is announced as such (the command is
# stopped there, not waited for).
env -u ENCLAVER_RETRY_DELAY_MS "$ENCLAVER" image inspect --cache-dir "$TEST_TMP/c0" "$DEAD/x/y:1" \
  > /dev/null 2> "$TEST_TMP/dflt.err" &
BG=$!
i=0
while ! grep -q retrying "$TEST_TMP/dflt.err" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -TERM "$BG"; wait "$BG"
expect_in "default schedule starts at 0.5 s (docs/image.md)" "$(cat "$TEST_TMP/dflt.err")" "retrying (2/5) in 0.5 s: connection refused"

command -v docker-registry >/dev/null 2>&1 || { ok "registry cases # SKIP docker-registry not installed"; done_testing; exit; }
ARCH=$(host_arch)
L=$TEST_TMP/layout
$MKIMAGE layout "$L" "$ARCH" || { not_ok "build test layout"; done_testing; exit 1; }
start_registry plain "$TEST_TMP/storage" http || { not_ok "start docker-registry"; done_testing; exit 1; }
R=127.0.0.1:$REG_PORT
$MKIMAGE push "$L" single "http://$R" test/img single || not_ok "push"

# ---- HTTP 503 retried with the status as the reason
start_py proxy faultproxy.py "http://$R" || { not_ok "start fault proxy"; done_testing; exit 1; }
P=127.0.0.1:$PY_PORT
printf '[{"match": "/manifests/single", "action": "503", "count": 2}]' > "$TEST_TMP/proxy.port.faults"
run_cmd "$ENCLAVER" image inspect --cache-dir "$TEST_TMP/c503" "$P/test/img:single"
expect_rc "503 twice, then served" 0
expect_in "the 503 retry is announced" "$ERR" "retrying (2/5) in 0.02 s: HTTP 503"
expect_in "and the second" "$ERR" "retrying (3/5) in 0.04 s: HTTP 503"

# ---- no terminal: the summary is an ordinary log line; JSON logs make it a record
run_cmd "$ENCLAVER" image pull --cache-dir "$TEST_TMP/c1" "$R/test/img:single"
expect_in "summary line without a terminal" "$ERR" "enclaver: fetched "
run_cmd "$ENCLAVER" -q image pull --cache-dir "$TEST_TMP/c2" "$R/test/img:single"
expect_rc "pull -q" 0
expect_eq "-q: nothing on stderr" "$ERR" ""
run_cmd "$ENCLAVER" --log-format json image pull --cache-dir "$TEST_TMP/c3" "$R/test/img:single"
printf '%s\n' "$ERR" > "$TEST_TMP/j.err"
check "json: every stderr line is a JSON record" is_json "$TEST_TMP/j.err"
expect_eq "json: the summary is a record at info level" \
  "$(jq -r 'select(.msg | startswith("fetched ")) | .level' "$TEST_TMP/j.err")" "info"

# ---- on a terminal
if command -v script >/dev/null 2>&1; then
  tty_run () { script -qec "$1" /dev/null > "$TEST_TMP/tty.out" 2>&1; TTY=$(cat "$TEST_TMP/tty.out"); }
  tty_run "$ENCLAVER image pull --cache-dir $TEST_TMP/t1 $R/test/img:single"
  expect_in "terminal: the bar redraws its line" "$TTY" "$ESC[K"
  expect_in "terminal: per-blob rates" "$TTY" "B/s"
  expect_in "terminal: the summary" "$TTY" "enclaver: fetched "
  tty_run "$ENCLAVER -q image pull --cache-dir $TEST_TMP/t2 $R/test/img:single"
  case $TTY in *"$ESC"*|*"B/s"*) not_ok "terminal, -q: no bar"; diag "$TTY";; *) ok "terminal, -q: no bar";; esac
  case $TTY in *fetched*) not_ok "terminal, -q: no summary";; *) ok "terminal, -q: no summary";; esac
  tty_run "$ENCLAVER --log-format json image pull --cache-dir $TEST_TMP/t3 $R/test/img:single"
  case $TTY in *"$ESC"*|*"B/s"*) not_ok "terminal, json: no bar"; diag "$TTY";; *) ok "terminal, json: no bar";; esac
  tr -d '\r' < "$TEST_TMP/tty.out" | grep -v '^sha256:' > "$TEST_TMP/tty.json"
  check "terminal, json: stderr is JSON records" is_json "$TEST_TMP/tty.json"
  expect_in "terminal, json: the summary record" "$TTY" '"msg":"fetched '
  tty_run "$ENCLAVER image pull --no-progress --cache-dir $TEST_TMP/t4 $R/test/img:single"
  case $TTY in *"$ESC"*|*"B/s"*) not_ok "terminal, pull --no-progress: no bar"; diag "$TTY";; *) ok "terminal, pull --no-progress: no bar";; esac
  expect_in "terminal, pull --no-progress: the summary stays" "$TTY" "enclaver: fetched "

  # build: the same bar, and --no-progress
  W=$TEST_TMP/w
  mkdir -p "$W/blobs"
  cp "$top_srcdir/golden/eif/kernel.bin" "$W/blobs/bzImage"
  printf 'console=ttyS0\n' > "$W/blobs/cmdline"
  fake_boot_blobs "$W/blobs"
  printf 'version: v1\nname: bar\ntarget: bar:latest\nsources:\n  app: %s/test/img:single\nkernel:\n  blobs: ./blobs\n' \
    "$R" > "$W/enclaver.yaml"
  tty_run "$ENCLAVER build -f $W/enclaver.yaml --eif-only $W/a.eif --cache-dir $TEST_TMP/b1"
  expect_in "terminal, build: the bar" "$TTY" "$ESC[K"
  tty_run "$ENCLAVER build -f $W/enclaver.yaml --eif-only $W/b.eif --no-progress --cache-dir $TEST_TMP/b2"
  case $TTY in *"$ESC"*|*"B/s"*) not_ok "terminal, build --no-progress: no bar"; diag "$TTY";; *) ok "terminal, build --no-progress: no bar";; esac
  expect_in "terminal, build --no-progress: the build ran" "$TTY" "built EIF"
  expect_in "terminal, build --no-progress: the summary stays" "$TTY" "fetched "
  tty_run "$ENCLAVER -q build -f $W/enclaver.yaml --eif-only $W/c.eif --cache-dir $TEST_TMP/b3"
  case $TTY in *"$ESC"*|*"B/s"*|*fetched*) not_ok "terminal, build -q: no bar, no summary"; diag "$TTY";; *) ok "terminal, build -q: no bar, no summary";; esac
  [ -s "$W/c.eif" ] && ok "build -q built" || { not_ok "build -q built"; diag "$TTY"; }
else
  ok "terminal cases # SKIP script(1) not installed (bsdutils)"
fi
done_testing
