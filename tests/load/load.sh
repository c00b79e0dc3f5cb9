#!/bin/bash
# The runtime under load and faults (issue 19), with the real launcher and supervisor of
# tests/runtime/launcher-local over Unix sockets and loopback (no VM), driven by
# tests/load/loadgen.py:
#  A. LOAD_CONNS egress tunnels through the proxy and as many ingress connections
#     through a published port, all open at once, 1 KiB echoed and checked through each;
#     LOAD_TRICKLERS clients trickling a CONNECT head a byte every 0.2 s are answered 408
#     at the header timeout, one log line each, while ordinary tunnels go through;
#     LOAD_STATUS_CLIENTS clients of the status stream at once, each sent the state;
#  B. an app writing logs at full speed (LOAD_SPEW_SECONDS) to a log client that reads
#     64 KiB/s: the app finishes while the client still reads, its writes never wait
#     long, the client's queue is bounded, the bytes dropped for it are counted, noted in
#     its stream where they are missing (every gap in the app's numbered lines follows a
#     note) and reported on the console; a late client gets the 128 KiB replay ring;
#  B2. the launcher's stderr on a pipe nobody reads: tunnels still go through;
#  C. faults: the app killed mid-stream (107), the supervisor killed mid-stream (108),
#     the host half killed with SIGKILL and started again; the open connections are
#     closed, not left hanging, and each failure is one line.
# Peak RSS (VmHWM) of the launcher and the supervisor stays within the bounds of
# docs/reliability.md ("Resource model"), computed here from the same per-item costs.
# make check runs the short counts; make check-load the issue's (docs/testing.md).
. "$top_srcdir/tests/lib.sh"
LL=$top_builddir/tests/runtime/launcher-local
SV=$top_builddir/runtime/enclaver-supervisor
LG="python3 $(cd "$top_srcdir" && pwd)/tests/load/loadgen.py"
N=${LOAD_CONNS:-500}
NSTATUS=${LOAD_STATUS_CLIENTS:-250}
SPEW=${LOAD_SPEW_SECONDS:-2}
NTRICKLE=${LOAD_TRICKLERS:-10}
NHOLD=${LOAD_HOLD:-50}
command -v python3 >/dev/null || skip_all "python3 is not installed"
# The load generator holds N connections and the echo origin N more; the launcher and
# the supervisor raise their own soft limit to the hard one.
NEED=$((2 * N + NSTATUS + 256))
HARD=$(ulimit -Hn)
if [ "$HARD" != unlimited ] && [ "$HARD" -lt "$NEED" ]; then
  skip_all "RLIMIT_NOFILE hard limit $HARD is below the $NEED descriptors $N connections need"
fi
ulimit -Sn "$NEED" 2>/dev/null || skip_all "cannot raise RLIMIT_NOFILE to $NEED"
SAN=
readelf -d "$SV" 2>/dev/null | grep -qE 'NEEDED.*lib(asan|tsan)' && SAN=1
PIDS=
cleanup () {
  for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null
  if [ -n "${LOAD_KEEP:-}" ]; then echo "# kept $TEST_TMP"; else rm -rf "$TEST_TMP"; fi
}
trap cleanup EXIT

wait_for () { i=0; while ! grep -qaF -- "$2" "$1" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; grep -qaF -- "$2" "$1"; }
wait_file () { i=0; while [ ! -e "$1" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; [ -e "$1" ]; }
wait_gone () { i=0; while kill -0 "$1" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; ! kill -0 "$1" 2>/dev/null; }
free_port () { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
jget () { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2], {"d": d}))' "$1" "$2"; }
# the children of a process (the supervisor a launcher-local runs, the app it runs)
child_of () { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -m1 .; }
hwm () { $LG vmhwm "$1" 2>/dev/null; }
# check_hwm NAME PID LIMIT_KIB
check_hwm () {
  local got
  got=$(hwm "$2")
  if [ -n "$SAN" ]; then ok "# SKIP $1: peak RSS ${got:-?} KiB (sanitizer build: its shadow memory, no bound)"; return; fi
  if [ -n "$got" ] && [ "$got" -le "$3" ]; then ok "$1: peak RSS $got KiB <= $3 KiB"
  else not_ok "$1: peak RSS ${got:-?} KiB <= $3 KiB"; fi
}
no_crash () { # NAME LOGFILE
  if grep -qaE 'AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error|Segmentation|core dumped|Aborted' "$2"; then
    not_ok "$1: no crash, no sanitizer report"; diag "$(grep -aE -A5 'Sanitizer|runtime error' "$2" | head -40)"
  else ok "$1: no crash, no sanitizer report"; fi
}
count_in () { grep -acF -- "$2" "$1"; }
# the memory model of docs/reliability.md, "Resource model" (KiB)
# (the phases run one after the other: each bound is the base plus the phase's items)
SV_BASE=6144; LL_BASE=16384
EG_COST=24; ING_COST=24; SC_COST=8; EGH_COST=12; HING_COST=12; LOG_BEHIND=4100

# ---- the origin of egress: an echo server on the host ----
$LG echo 0 "$TEST_TMP/origin-port" >/dev/null 2>&1 &
PIDS="$PIDS $!"
wait_file "$TEST_TMP/origin-port" || { not_ok "the echo origin started"; done_testing; exit 1; }
ORIGIN=$(cat "$TEST_TMP/origin-port")

# start_run TAG DIR PROXY APP HAPP LINGER -- APP-COMMAND...: a launcher-local with egress
# and one published ingress port; sets LPID; its output in $TEST_TMP/TAG.log
start_run () {
  local tag=$1 d=$2 proxy=$3 app=$4 happ=$5 linger=$6
  shift 7
  mkdir -p "$d"
  cat >"$TEST_TMP/$tag-manifest.json" <<EOF
{"name": "load-$tag",
 "egress": {"enabled": true, "proxy_port": $proxy, "allow": ["host"]},
 "ingress": [{"listen_port": $app}],
 "vsock_ports": {"status_port": 17000, "app_log_port": 17001, "http_egress_port": 17002}}
EOF
  python3 - "$TEST_TMP/$tag-manifest.json" "$d" "$proxy" "$app" "$N" "$linger" >"$TEST_TMP/$tag-sv.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
d, proxy, app, n, linger = sys.argv[2:]
print(json.dumps({"manifest": m, "linger": int(linger),
                  "egress": {"listen": "tcp:127.0.0.1:%s" % proxy, "host_addr": "unix:%s/host-17002.sock" % d,
                             "header_timeout_ms": 2000, "max_connections": int(n) + 64},
                  "ingress": {"listen": {app: "unix:%s/enclave-%s.sock" % (d, app)},
                              "max_connections": int(n) + 64},
                  "net": {"drain_timeout": 2}}))
EOF
  "$LL" --name "load-$tag" --run-dir "$TEST_TMP/run" --dir "$d" --egress --manifest "$TEST_TMP/$tag-manifest.json" \
    --ingress "$app" --publish "127.0.0.1:$happ:$app" -- -c "$TEST_TMP/$tag-sv.json" --no-bootstrap -- \
    "$@" >"$TEST_TMP/$tag.log" 2>"${RUN_ERR:-$TEST_TMP/$tag.log}" &
  LPID=$!
  PIDS="$PIDS $LPID"
}

# =========== A: egress, ingress, trickling heads and the status stream under load ======
D=$TEST_TMP/a
PROXY=$(free_port); APP=$(free_port); HAPP=$(free_port)
start_run a "$D" "$PROXY" "$APP" "$HAPP" 3 -- $LG echo "$APP" "$D/app-port"
LA=$LPID
if ! wait_file "$D/app-port"; then
  not_ok "run A: the app started"; diag "$(cat "$TEST_TMP/a.log")"; done_testing; exit 1
fi
SA=$(child_of "$LA")
ok "run A: the enclave's app started (launcher $LA, supervisor $SA)"
diag "VmHWM at the start: launcher $(hwm "$LA") KiB, supervisor $(hwm "$SA") KiB"

run_cmd $LG conns "127.0.0.1:$PROXY" "$N" "host:$ORIGIN"
diag "egress: $OUT"
expect_in "egress: $N tunnels established at once" "$OUT" "\"established\": $N,"
expect_in "egress: 1 KiB echoed and checked through each of the $N" "$OUT" "\"echoed\": $N,"
expect_in "egress: no connection failed" "$OUT" '"errors": {}'
check_hwm "run A: the supervisor with $N tunnels" "$SA" $((SV_BASE + N * EG_COST))
check_hwm "run A: the launcher with $N tunnels" "$LA" $((LL_BASE + N * EGH_COST))
run_cmd $LG conns "127.0.0.1:$HAPP" "$N"
diag "ingress: $OUT"
expect_in "ingress: $N connections through the published port at once" "$OUT" "\"established\": $N,"
expect_in "ingress: 1 KiB echoed by the app and checked through each of the $N" "$OUT" "\"echoed\": $N,"
expect_in "ingress: no connection failed" "$OUT" '"errors": {}'
check_hwm "run A: the supervisor with $N ingress connections" "$SA" $((SV_BASE + N * (EG_COST > ING_COST ? EG_COST : ING_COST)))
check_hwm "run A: the launcher with $N ingress connections" "$LA" $((LL_BASE + N * (EGH_COST > HING_COST ? EGH_COST : HING_COST)))

# Tricklers: a CONNECT head one byte every 0.2 s; header_timeout_ms is 2000.
BEFORE=$(count_in "$TEST_TMP/a.log" "request head not complete")
run_cmd $LG trickle "$PROXY" "host:$ORIGIN" "$NTRICKLE" 5
diag "trickle: $OUT"
expect_in "trickle: every trickling client is answered 408" "$OUT" '"answers": ["HTTP/1.1 408 Request Timeout"]'
CUTS=$(jget "$OUT" '"ok" if all(c is not None and 1.5 <= c <= 6 for c in d["cut_after_s"]) else d["cut_after_s"]')
expect_in "trickle: each cut off at the 2 s header timeout (1.5..6 s)" "$CUTS" ok
expect_in "trickle: the ordinary tunnels went through meanwhile" "$OUT" '"ordinary": 5,'
wait_for "$TEST_TMP/a.log" "request head not complete" >/dev/null
sleep 0.3
AFTER=$(count_in "$TEST_TMP/a.log" "request head not complete")
if [ $((AFTER - BEFORE)) -eq "$NTRICKLE" ]; then ok "trickle: one log line per trickling client ($NTRICKLE)"
else not_ok "trickle: one log line per trickling client"; diag "$((AFTER - BEFORE)) lines for $NTRICKLE clients"; fi

# The status stream: NSTATUS clients at once, each sent the current state.
mkfifo "$TEST_TMP/hold-status"
$LG status "$D/enclave-17000.sock" "$NSTATUS" <"$TEST_TMP/hold-status" >"$TEST_TMP/status.json" &
STP=$!
exec 7>"$TEST_TMP/hold-status"
i=0; while [ ! -s "$TEST_TMP/status.json" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
OUT=$(cat "$TEST_TMP/status.json")
diag "status: $OUT"
expect_in "status: $NSTATUS clients connected at once" "$OUT" "\"connected\": $NSTATUS,"
expect_in "status: each was sent the state" "$OUT" "\"got_status\": $NSTATUS,"
expect_in "status: the state is running" "$OUT" "{\"{\\\"status\\\":\\\"running\\\"}\": $NSTATUS}"
# while they are held: the proxies still serve
run_cmd $LG conns "127.0.0.1:$PROXY" 20 "host:$ORIGIN"
expect_in "status: egress still served while $NSTATUS status clients are held" "$OUT" '"echoed": 20,'
exec 7>&-
wait "$STP"

check_hwm "run A: the supervisor with $NSTATUS status clients too" "$SA" \
  $((SV_BASE + N * (EG_COST > ING_COST ? EG_COST : ING_COST) + NSTATUS * SC_COST))
diag "VmHWM: launcher $(hwm "$LA") KiB, supervisor $(hwm "$SA") KiB"
kill -TERM "$LA"
wait "$LA"; RC=$?
expect_rc "run A: stopped with SIGTERM, the launcher exits 109 (docs/run.md)" 109
no_crash "run A" "$TEST_TMP/a.log"
no_crash "run A (console)" "$D/console.log"

# =========== B: an app writing logs at full speed to a slow log client ================
D=$TEST_TMP/b
mkdir -p "$D"
# The console copy is read by grep (the numbered lines left out: hundreds of MB).
mkfifo "$D/console.log"
grep -av '^spew ' <"$D/console.log" >"$TEST_TMP/b-console.log" &
PIDS="$PIDS $!"
PROXY=$(free_port); APP=$(free_port); HAPP=$(free_port)
start_run b "$D" "$PROXY" "$APP" "$HAPP" 30 -- $LG spew "$SPEW" "$D/go" "$D/done" "$D/release"
LB=$LPID
wait_file "$D/enclave-17001.sock" || { not_ok "run B: the log stream listens"; diag "$(cat "$TEST_TMP/b.log")"; }
SB=$(child_of "$LB")
$LG slowlog "$D/enclave-17001.sock" 65536 "$D/fast" "$TEST_TMP/slow.json" &
SLP=$!
PIDS="$PIDS $SLP"
wait_file "$TEST_TMP/slow.json.connected"
sleep 0.2
touch "$D/go"
if wait_file "$D/done"; then
  DONE=$(cat "$D/done")
  diag "the app: $DONE"
  if kill -0 "$SLP" 2>/dev/null && [ ! -e "$TEST_TMP/slow.json" ]; then
    ok "logs: the app finished writing while the slow client still reads"
  else not_ok "logs: the app finished writing while the slow client still reads"; fi
  T=$(jget "$DONE" '"ok" if d["seconds"] < '"$SPEW"' + 2 else d')
  expect_in "logs: the app's $SPEW s of writing took no longer (its writes complete)" "$T" ok
  T=$(jget "$DONE" '"ok" if d["longest_write"] < 0.5 else d["longest_write"]')
  expect_in "logs: no write of the app waited 0.5 s or more" "$T" ok
else
  not_ok "logs: the app finished writing"; DONE='{"bytes": 0}'
fi
check_hwm "run B: the supervisor with two log clients behind (queues bounded)" "$SB" $((SV_BASE + 2 * LOG_BEHIND + 256))
# a late client gets the replay ring: the newest 128 KiB, and nothing more is written now
run_cmd $LG taillog "$D/enclave-17001.sock" 1
expect_in "logs: a late client gets the 128 KiB replay ring, no more" "$OUT" '"bytes": 131072}'
touch "$D/fast"
sleep 1
touch "$D/release"
wait "$LB"; RC=$?
expect_rc "run B: the app exits 0, so does the launcher" 0
wait "$SLP"
SLOW=$(cat "$TEST_TMP/slow.json" 2>/dev/null)
diag "slow client: $SLOW"
T=$(jget "$SLOW" '"ok" if d["slow_bytes"] * 10 < '"$(jget "$DONE" 'd["bytes"]')"' else d')
expect_in "logs: the app wrote over 10 times what the slow client read meanwhile" "$T" ok
T=$(jget "$SLOW" '"ok" if d["notes"] >= 1 and d["noted_bytes"] > 0 else d')
expect_in "logs: drops were noted in the slow client's stream" "$T" ok
expect_in "logs: every gap in the app's numbered lines follows a note" "$SLOW" '"unexplained_gaps": 0}'
expect_in "logs: the slow client read to the end of the stream" "$SLOW" '"eof": true,'
# what it got, less the notes, plus what the notes say was dropped: the app's bytes
T=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); a=json.loads(sys.argv[2])
got = s["bytes"] - s["note_text_bytes"] + s["noted_bytes"]
print("ok" if 0 <= got - a["bytes"] - len("enclaver-supervisor: ") <= 4096 else (got, a["bytes"]))' "$SLOW" "$DONE")
expect_in "logs: received + noted as dropped = what the app wrote" "$T" ok
REP=$(grep -a 'log client .* read too slowly: .* bytes of output dropped' "$TEST_TMP/b-console.log")
diag "console: $(echo "$REP" | tail -2)"
NOTED=$(jget "$SLOW" 'd["noted_bytes"]')
# the slow client is one of the log clients (the launcher is another): its lines add up
SUMS=$(echo "$REP" | sed -n 's/.*log client \([0-9]*\) read too slowly: \([0-9]*\) bytes.*/\1 \2/p' |
  awk '{s[$1]+=$2} END {for (c in s) printf "%.0f\n", s[c]}')
if [ -n "$REP" ] && echo "$SUMS" | grep -qx "$NOTED"; then
  ok "logs: the console reports the same $NOTED bytes dropped for the slow client, one line per note"
else not_ok "logs: the console reports the bytes dropped"; diag "console: $SUMS; the stream's notes: $NOTED"; fi
no_crash "run B" "$TEST_TMP/b.log"
no_crash "run B (console)" "$TEST_TMP/b-console.log"

# =========== B2: the launcher's stderr not read at all ===================================
# Its loop also runs the host halves of egress and ingress: they must keep serving.
D=$TEST_TMP/b2
mkdir -p "$D"
mkfifo "$TEST_TMP/b2-err"
ln -s /dev/null "$D/console.log" # the console copy is not what this part is about
sleep 120 <"$TEST_TMP/b2-err" &
HOLDER=$!
PIDS="$PIDS $HOLDER"
PROXY=$(free_port); APP=$(free_port); HAPP=$(free_port)
touch "$D/go"
RUN_ERR=$TEST_TMP/b2-err start_run b2 "$D" "$PROXY" "$APP" "$HAPP" 3 -- $LG spew "$SPEW" "$D/go" "$D/done" "$D/release"
L=$LPID
wait_file "$D/done"
# Tunnels to a closed port: the host half logs each failed connect itself, on the full
# pipe (a blocking write there would stop the loop, and the next tunnels with it).
run_cmd timeout 30 $LG conns "127.0.0.1:$PROXY" 3 "host:$(free_port)"
check "stderr not read: tunnels to a closed port fail, each answered" test -n "$OUT"
run_cmd timeout 30 $LG conns "127.0.0.1:$PROXY" 20 "host:$ORIGIN"
expect_in "stderr not read: tunnels still go through the launcher's host half" "$OUT" '"echoed": 20,'
touch "$D/release"
cat "$TEST_TMP/b2-err" >/dev/null &
wait "$L"; RC=$?
expect_rc "stderr not read: once it is read, the run ends normally (0)" 0

# =========== C: faults ==================================================================
# hold_conns TAG PROXY HAPP: NHOLD tunnels and NHOLD ingress connections held open
hold_conns () {
  $LG hold "127.0.0.1:$2" "$NHOLD" "host:$ORIGIN" "$TEST_TMP/$1-eg.ready" 30 >"$TEST_TMP/$1-eg.json" &
  HE=$!
  $LG hold "127.0.0.1:$3" "$NHOLD" - "$TEST_TMP/$1-in.ready" 30 >"$TEST_TMP/$1-in.json" &
  HI=$!
  wait_file "$TEST_TMP/$1-eg.ready"; wait_file "$TEST_TMP/$1-in.ready"
}
# held_closed TAG LABEL: both holders saw every connection echoed, then closed
held_closed () {
  wait "$HE" "$HI"
  for k in eg:egress in:ingress; do
    OUT=$(cat "$TEST_TMP/$1-${k%%:*}.json")
    diag "$2, ${k#*:}: $OUT"
    expect_in "$2: the $NHOLD ${k#*:} connections were open and echoed" "$OUT" "\"echoed\": $NHOLD,"
    expect_in "$2: they were closed, none left hanging" "$OUT" "\"closed\": $NHOLD,"
  done
}

# C1: the app killed with SIGKILL mid-stream
D=$TEST_TMP/c1
PROXY=$(free_port); APP=$(free_port); HAPP=$(free_port)
start_run c1 "$D" "$PROXY" "$APP" "$HAPP" 3 -- $LG echo "$APP" "$D/app-port"
L=$LPID
wait_file "$D/app-port"
S=$(child_of "$L"); A=$(child_of "$S")
hold_conns c1 "$PROXY" "$HAPP"
kill -KILL "$A"
wait "$L"; RC=$?
expect_rc "app killed: the launcher exits 107 (docs/run.md)" 107
held_closed c1 "app killed"
T=$(count_in "$TEST_TMP/c1.log" "the app was killed by signal 9")
expect_in "app killed: one line says so" "lines=$T" "lines=1"
check "app killed: the supervisor is gone" wait_gone "$S"
no_crash "app killed" "$TEST_TMP/c1.log"
no_crash "app killed (console)" "$TEST_TMP/c1/console.log"

# C2: the supervisor killed with SIGKILL mid-stream
D=$TEST_TMP/c2
PROXY=$(free_port); APP=$(free_port); HAPP=$(free_port)
start_run c2 "$D" "$PROXY" "$APP" "$HAPP" 3 -- $LG echo "$APP" "$D/app-port"
L=$LPID
wait_file "$D/app-port"
S=$(child_of "$L"); A=$(child_of "$S")
hold_conns c2 "$PROXY" "$HAPP"
kill -KILL "$S"
wait "$L"; RC=$?
expect_rc "supervisor killed: the launcher exits 108 (docs/run.md)" 108
held_closed c2 "supervisor killed"
T=$(grep -ac "error:" "$TEST_TMP/c2.log")
expect_in "supervisor killed: one error line" "lines=$T" "lines=1"
diag "$(grep -a "error:" "$TEST_TMP/c2.log")"
expect_in "supervisor killed: it says the enclave ended without a final state" "$(cat "$TEST_TMP/c2.log")" "closed without a final state"
check "supervisor killed: the app does not outlive it" wait_gone "$A"
no_crash "supervisor killed" "$TEST_TMP/c2.log"
no_crash "supervisor killed (console)" "$TEST_TMP/c2/console.log"

# C3: the host half killed with SIGKILL mid-stream, then started again
D=$TEST_TMP/c3
PROXY=$(free_port); APP=$(free_port); HAPP=$(free_port)
start_run c3 "$D" "$PROXY" "$APP" "$HAPP" 3 -- $LG echo "$APP" "$D/app-port"
L=$LPID
wait_file "$D/app-port"
S=$(child_of "$L"); A=$(child_of "$S")
hold_conns c3 "$PROXY" "$HAPP"
kill -KILL "$L"
wait "$L" 2>/dev/null
LDEAD=$L
held_closed c3 "host half killed"
check "host half killed: the supervisor goes with it" wait_gone "$S"
check "host half killed: so does the app" wait_gone "$A"
rm -f "$D/app-port"
mv "$TEST_TMP/c3.log" "$TEST_TMP/c3-first.log"
start_run c3 "$D" "$PROXY" "$APP" "$HAPP" 3 -- $LG echo "$APP" "$D/app-port"
L=$LPID
if wait_file "$D/app-port"; then ok "host half restarted: the same enclave name, directory and ports start again"
else not_ok "host half restarted: the same enclave starts again"; diag "$(cat "$TEST_TMP/c3.log")"; fi
T=$(count_in "$TEST_TMP/c3.log" "left by an earlier run whose launcher (pid $LDEAD) is gone")
expect_in "host half restarted: one line says the killed run's state file was removed" "lines=$T" "lines=1"
run_cmd $LG conns "127.0.0.1:$PROXY" 50 "host:$ORIGIN"
expect_in "host half restarted: tunnels go through again" "$OUT" '"echoed": 50,'
run_cmd $LG conns "127.0.0.1:$HAPP" 50
expect_in "host half restarted: ingress connections go through again" "$OUT" '"echoed": 50,'
kill -TERM "$L"
wait "$L"; RC=$?
expect_rc "host half restarted: stopped with SIGTERM, 109" 109
no_crash "host half restarted" "$TEST_TMP/c3.log"
no_crash "host half restarted (console)" "$D/console.log"

done_testing
