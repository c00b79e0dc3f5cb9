#!/bin/bash
# enclaver bench: the network data plane over the transport seam (docs/performance.md,
# "Network (egress tunnels, ingress)").  Both halves run as in tests/net/egress.sh:
# tests/runtime/launcher-local runs the real supervisor as the "enclave" over Unix
# sockets, with the launcher's egress and ingress host halves.  Measured side by side,
# in the same run and interleaved, with the same copy done by socat chains of the same
# shape (TCP -> Unix socket -> TCP, one socat per hop) and with a direct connection:
#
#   egress:  client -CONNECT-> supervisor proxy 127.0.0.1:PROXY -unix-> launcher host
#            half -> 127.0.0.1 stream server; socat: TCP-LISTEN,fork UNIX-CONNECT +
#            UNIX-LISTEN,fork TCP
#   ingress: client -> launcher 127.0.0.1:HPORT -unix-> supervisor -> 127.0.0.1 HTTP
#            server; socat: the same two-hop chain
#
# Cases: one tunnel moving NET_BYTES down and up; NET_PAR tunnels at once moving
# NET_BYTES in all, down and up (also against socat -b 32768, the relay's buffer per
# direction, as socat's default is 8 KiB); small HTTP requests through ingress: one
# client with keep-alive, one client with a new connection per request, NET_CONC
# clients with keep-alive, and one client with keep-alive to a server that sends the
# head and the body of its answer in two writes (a second ingress port).  The load generator and the servers are bench/net-load.c (compiled here).
# No assertions on time: it prints the table and writes it with the raw JSON lines.
#
#   bench/net.sh [OUTDIR]      (default /var/tmp/enclaver-bench/results/net-STAMP)
#   BUILD       the build tree (default: _build of this checkout; needs
#               tests/runtime/launcher-local and runtime/enclaver-supervisor)
#   NET_BYTES   bytes per throughput case (default 1073741824 = 1 GiB)
#   NET_PAR     parallel tunnels (default 100)
#   NET_CONC    concurrent HTTP clients of the rps case (default 32)
#   NET_SECONDS seconds per HTTP case (default 3)
#   NET_REPS    repetitions, the median is reported (default 3)
#   NET_CASES   which groups to run: "stream http" (default), "stream" or "http"
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$top/_build}
LL=$BUILD/tests/runtime/launcher-local
NET_BYTES=${NET_BYTES:-1073741824}
NET_PAR=${NET_PAR:-100}
NET_CONC=${NET_CONC:-32}
NET_SECONDS=${NET_SECONDS:-3}
NET_REPS=${NET_REPS:-3}
NET_CASES=${NET_CASES:-stream http}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${1:-/var/tmp/enclaver-bench/results/net-$stamp}

say () { printf 'net.sh %(%H:%M:%S)T: %s\n' -1 "$*" >&2; }
die () { say "error: $*"; exit 1; }
[ -x "$LL" ] || die "$LL is not built (cd $BUILD && make tests/runtime/launcher-local)"
[ -x "$BUILD/runtime/enclaver-supervisor" ] || die "$BUILD/runtime/enclaver-supervisor is not built (make -C $BUILD)"
command -v socat >/dev/null || die "socat is not installed (apt-get install socat)"
command -v python3 >/dev/null || die "python3 is needed for the table"
CC=${CC:-cc}

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
T=$(mktemp -d /tmp/enclaver-net.XXXXXX) # short: Unix socket paths live here
D=$T/enc
mkdir -p "$D"
PIDS=
cleanup () {
  touch "$T/stop"
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT

$CC -O2 -Wall -Wextra -o "$T/net-load" "$here/net-load.c" || die "cannot compile bench/net-load.c with $CC"
NL=$T/net-load

free_port () { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_file () { i=0; while [ ! -s "$1" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done; [ -s "$1" ]; }
wait_port () { i=0; while ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- the servers at the far end ---
"$NL" stream-server "$T/stream.port" & PIDS="$PIDS $!"
"$NL" http-server "$T/http.port" & PIDS="$PIDS $!"
"$NL" http-server "$T/http2.port" split & PIDS="$PIDS $!"
wait_file "$T/stream.port" && wait_file "$T/http.port" && wait_file "$T/http2.port" || die "the servers did not start"
SPORT=$(cat "$T/stream.port"); APORT=$(cat "$T/http.port"); APORT2=$(cat "$T/http2.port")

# --- enclaver: both halves, egress and ingress in one "enclave" ---
PROXY=$(free_port); HPORT=$(free_port); HPORT2=$(free_port); EP=8080; EP2=8081
cat >"$T/manifest.json" <<EOF
{"name": "net-bench",
 "egress": {"enabled": true, "proxy_port": $PROXY, "allow": ["host"]},
 "ingress": [{"listen_port": $EP}, {"listen_port": $EP2}],
 "vsock_ports": {"status_port": 17000, "app_log_port": 17001, "http_egress_port": 17002}}
EOF
python3 - "$T/manifest.json" "$D" "$PROXY" "$EP" "$APORT" "$EP2" "$APORT2" >"$T/sv.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
d, proxy, ep, app, ep2, app2 = sys.argv[2:8]
print(json.dumps({"manifest": m,
                  "egress": {"listen": "tcp:127.0.0.1:%s" % proxy,
                             "host_addr": "unix:%s/host-17002.sock" % d,
                             "max_connections": 4096},
                  "ingress": {"listen": {ep: "unix:%s/enclave-%s.sock" % (d, ep),
                                         ep2: "unix:%s/enclave-%s.sock" % (d, ep2)},
                              "target": {ep: "tcp:127.0.0.1:%s" % app,
                                         ep2: "tcp:127.0.0.1:%s" % app2}}}))
EOF
"$LL" --name net-bench --run-dir "$T/run" --dir "$D" --egress --manifest "$T/manifest.json" \
  --ingress "$EP" --publish "127.0.0.1:$HPORT:$EP" --ingress "$EP2" --publish "127.0.0.1:$HPORT2:$EP2" -- \
  -c "$T/sv.json" --no-bootstrap -- /bin/sh -c "echo app-ready; while [ ! -e $T/stop ]; do sleep 0.2; done" \
  >"$T/launcher.log" 2>&1 &
PIDS="$PIDS $!"
i=0; while ! grep -q app-ready "$T/launcher.log" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
grep -q app-ready "$T/launcher.log" || { cat "$T/launcher.log" >&2; die "the enclave did not start"; }
wait_port "$PROXY" && wait_port "$HPORT" && wait_port "$HPORT2" || { cat "$T/launcher.log" >&2; die "the proxy or the ingress port does not listen"; }

# --- socat: the same shape, one process per hop (and per connection: fork) ---
# chain NAME TARGETPORT [SOCAT-OPTION...]: start a two-hop socat chain; CHAIN_PORT is its TCP port.
chain () {
  local name=$1 target=$2 port
  shift 2
  port=$(free_port)
  socat "$@" "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,backlog=512" "UNIX-CONNECT:$T/socat-$name.sock" \
    </dev/null >/dev/null 2>&1 & PIDS="$PIDS $!"
  socat "$@" "UNIX-LISTEN:$T/socat-$name.sock,fork,backlog=512" "TCP:127.0.0.1:$target" \
    </dev/null >/dev/null 2>&1 & PIDS="$PIDS $!"
  CHAIN_PORT=$port
}
chain e "$SPORT"; SE=$CHAIN_PORT
chain e32 "$SPORT" -b 32768; SE32=$CHAIN_PORT
chain i "$APORT"; SI=$CHAIN_PORT
chain i2 "$APORT2"; SI2=$CHAIN_PORT
for p in $SE $SE32 $SI $SI2; do wait_port "$p" || die "socat does not listen on $p"; done

RAW=$OUT/raw.jsonl
: >"$RAW"
# m CASE ROUTE REP COMMAND...: one measurement, its JSON line tagged and kept.
m () {
  local c=$1 r=$2 rep=$3 j
  shift 3
  j=$(timeout 600 "$@") || die "$c via $r failed: $*"
  printf '{"case": "%s", "route": "%s", "rep": %s, %s\n' "$c" "$r" "$rep" "${j#\{}" | tee -a "$RAW" >&2
}
stream () { # CASE DIR CONNS REP
  m "$1" direct "$4" "$NL" stream "$SPORT" "$2" "$NET_BYTES" "$3"
  m "$1" enclaver "$4" "$NL" stream "$PROXY" "$2" "$NET_BYTES" "$3" "host:$SPORT"
  m "$1" socat "$4" "$NL" stream "$SE" "$2" "$NET_BYTES" "$3"
  m "$1" socat-32k "$4" "$NL" stream "$SE32" "$2" "$NET_BYTES" "$3"
}
http () { # CASE CONNS MODE REP [split]
  local a=$APORT h=$HPORT s=$SI
  [ $# -lt 5 ] || { a=$APORT2; h=$HPORT2; s=$SI2; }
  m "$1" direct "$4" "$NL" http "$a" "$2" "$NET_SECONDS" "$3"
  m "$1" enclaver "$4" "$NL" http "$h" "$2" "$NET_SECONDS" "$3"
  m "$1" socat "$4" "$NL" http "$s" "$2" "$NET_SECONDS" "$3"
}

mib=$((NET_BYTES / 1048576))
{
  echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(uname -sr)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "socat: $(socat -V 2>/dev/null | sed -n 's/^socat version \([^ ]*\).*/\1/p')"
  echo "run: $stamp, $NET_REPS repetitions (median), $mib MiB per throughput case, $NET_SECONDS s per HTTP case"
} >"$OUT/machine.txt"
say "$(head -1 "$OUT/machine.txt")"
for rep in $(seq 1 "$NET_REPS"); do
  say "repetition $rep of $NET_REPS"
  case " $NET_CASES " in *" stream "*)
    stream "1 tunnel, down" down 1 "$rep"
    stream "1 tunnel, up" up 1 "$rep"
    stream "$NET_PAR tunnels, down" down "$NET_PAR" "$rep"
    stream "$NET_PAR tunnels, up" up "$NET_PAR" "$rep" ;;
  esac
  case " $NET_CASES " in *" http "*)
    http "HTTP, 1 client, keep-alive" 1 keepalive "$rep"
    http "HTTP, 1 client, new connection per request" 1 close "$rep"
    http "HTTP, $NET_CONC clients, keep-alive" "$NET_CONC" keepalive "$rep"
    http "HTTP, 1 client, keep-alive, head and body in two writes" 1 keepalive "$rep" split ;;
  esac
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
cp "$T/launcher.log" "$OUT/launcher.log"
python3 "$here/net-table.py" "$RAW" "$OUT/machine.txt" >"$OUT/table.md.tmp"
mv "$OUT/table.md.tmp" "$OUT/table.md"
cat "$OUT/table.md"
say "written: $OUT/table.md (raw: $RAW)"
