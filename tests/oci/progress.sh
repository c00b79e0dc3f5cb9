#!/bin/bash
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# The progress display of pulls and pushes (core/oci/progress.c), on a pseudo-terminal
# (tests/oci/ptyrun.py, which also renders the final screen): one line per layer in
# flight with its digest, bytes, rate and ETA, a line left per finished layer, nothing
# drawn when stderr is no terminal, with -q or with --no-progress.  The blobs go through
# tests/oci/faultproxy.py at about 700 kB/s, so that there is something to show; what is
# checked is the shape of the lines, never how long anything took.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/oci/ocitest.sh"
command -v docker-registry >/dev/null 2>&1 || skip_all "docker-registry not installed (Debian package docker-registry)"
export ENCLAVER_RETRY_DELAY_MS=10 ENCLAVER_PUSH_CHUNK_BYTES=262144
no_ambient_credentials
cd "$TEST_TMP" || exit 1
PTY="$PY $OCI_SRC/ptyrun.py"

# An image with one 1.4 MB layer (random bytes: gzip cannot make it small).
mkdir -p root
head -c 1400000 /dev/urandom >root/big
$PY "$top_srcdir/tests/build/mkoci.py" img --layer root >/dev/null || { not_ok "make the image"; done_testing; exit 1; }
M=$(jq -r '.manifests[0].digest' img/index.json)
LAYER=$(jq -r '.layers[0].digest' "$(blob img "$M")")
P19=${LAYER:0:19}

start_registry plain "$TEST_TMP/storage" http || { not_ok "start docker-registry"; done_testing; exit 1; }
start_py proxy faultproxy.py "http://127.0.0.1:$REG_PORT" || { not_ok "start the proxy"; done_testing; exit 1; }
P=127.0.0.1:$PY_PORT
echo '[{"match": "/blobs/", "action": "slow:700000", "count": 100000}]' >"$TEST_TMP/proxy.port.faults"

N='[0-9]+(\.[0-9])?'
U='(B|kB|MB|GB)'
# lines RAW: the lines of a raw capture, escape sequences taken out
lines () { tap_argc lines 1 1 "$@"; sed 's/\x1b\[[0-9]*[A-Za-z]//g' "$1" | tr '\r' '\n' | grep -v '^$'; }
# shape NAME RAW VERB: the live lines and the line left of a transfer of the layer
shape () {
  tap_argc shape 3 3 "$@"
  local name=$1 raw=$2 verb=$3 live
  live=$(lines "$raw" | grep -E "^$P19  $verb $N $U / $N $U  $N $U/s  ETA [0-9]+:[0-9]{2}$")
  if [ -n "$live" ]; then ok "$name: live lines: digest, bytes done / size, rate, ETA"
  else not_ok "$name: live lines: digest, bytes done / size, rate, ETA"; diag "$(lines "$raw" | head -20)"; fi
  if [ "$(printf '%s\n' "$live" | awk '{print $3 $4}' | sort -u | wc -l)" -ge 2 ]; then ok "$name: the bytes move"
  else not_ok "$name: the bytes move"; diag "$live"; fi
  if lines "$raw" | grep -qE "^$P19  $verb 0 B / $N $U  -- B/s  ETA --:--$"; then
    ok "$name: no rate or ETA before there is one"
  else not_ok "$name: no rate or ETA before there is one"; fi
}

# ---- pull on a terminal
"$ENCLAVER" -q image copy --cache-dir c0 oci:img "$P/app/img:1" >/dev/null || not_ok "push the image"
run_cmd $PTY pull.raw pull.screen "$ENCLAVER" image pull --cache-dir c1 "$P/app/img:1"
expect_rc "pull on a terminal: exit 0" 0
shape "pull" pull.raw pull
check "pull: the summary line over a total" grep -qE "^pulling: [0-9]+/1 blobs done, $N $U of $N $U$" <(lines pull.raw)
check "pull: the screen keeps one line for the layer" grep -qE "^$P19  pulled $N $U in $N s, $N $U/s$" pull.screen
check "pull: ... and the log's summary" grep -q "^enclaver: fetched 1 blob, " pull.screen
if grep -q 'ETA\|pulling:' pull.screen; then not_ok "pull: the live block is gone at the end"; diag "$(cat pull.screen)"
else ok "pull: the live block is gone at the end"; fi

# ---- not a terminal, -q, --no-progress: nothing drawn
run_cmd "$ENCLAVER" image pull --cache-dir c2 "$P/app/img:1"
expect_rc "pull with stderr not a terminal: exit 0" 0
case $ERR in *ETA* | *$'\033'* | *$'\r'*) not_ok "... nothing drawn"; diag "$ERR" ;; *) ok "... nothing drawn" ;; esac
expect_in "... only the summary" "$ERR" "enclaver: fetched 1 blob, "
run_cmd $PTY q.raw q.screen "$ENCLAVER" -q image pull --cache-dir c3 "$P/app/img:1"
expect_rc "pull -q on a terminal: exit 0" 0
if grep -q $'ETA\|\033\|fetched' q.raw; then not_ok "... nothing drawn, no summary"; diag "$(lines q.raw)"
else ok "... nothing drawn, no summary"; fi
run_cmd $PTY np.raw np.screen "$ENCLAVER" image pull --no-progress --cache-dir c4 "$P/app/img:1"
expect_rc "pull --no-progress on a terminal: exit 0" 0
if grep -q $'ETA\|\033' np.raw; then not_ok "... nothing drawn"; diag "$(lines np.raw)"; else ok "... nothing drawn"; fi

# ---- push on a terminal (a fresh cache and repository: the layer is uploaded, in
# 256 kB chunks, each answered before the next)
run_cmd $PTY push.raw push.screen "$ENCLAVER" image copy --cache-dir c5 oci:img "$P/app/pushed:1"
expect_rc "push on a terminal: exit 0" 0
shape "push" push.raw push
check "push: the summary line over a total" grep -qE "^pushing: [0-9]+/2 blobs done, $N $U of $N $U$" <(lines push.raw)
check "push: the screen keeps one line for the layer" grep -qE "^$P19  pushed $N $U in $N s, $N $U/s$" push.screen
check "push: ... and the log's lines below it" grep -q "^enclaver: uploaded 2 blobs, " push.screen
expect_eq "push: the digest is printed last" "$(tail -n 1 push.screen)" "$M"
if grep -q 'ETA\|pushing:' push.screen; then not_ok "push: the live block is gone at the end"; diag "$(cat push.screen)"
else ok "push: the live block is gone at the end"; fi
run_cmd $PTY pq.raw pq.screen "$ENCLAVER" -q image copy --cache-dir c6 oci:img "$P/app/quiet:1"
expect_rc "push -q on a terminal: exit 0" 0
if grep -q $'ETA\|\033' pq.raw; then not_ok "... nothing drawn"; diag "$(lines pq.raw)"; else ok "... nothing drawn"; fi

# A log line printed while the block is up lands above it, whole: an image whose first
# layer is new (uploaded, the block drawn) and whose second is the layer pushed above
# (mounted from app/pushed, which is logged while the block still shows its last line).
mkdir -p root2 && head -c 300000 /dev/urandom >root2/other
$PY "$top_srcdir/tests/build/mkoci.py" img2 --layer root2 --layer root >/dev/null || not_ok "make the second image"
run_cmd $PTY mix.raw mix.screen "$ENCLAVER" image copy --cache-dir c5 oci:img2 "$P/app/mixed:1"
expect_rc "push with a mount and an upload on a terminal: exit 0" 0
check "... the mount's log line is whole on the screen" grep -qE "^enclaver: registry $P: $LAYER mounted from app/pushed$" mix.screen
check "... and the uploaded layer's line" grep -qE "^sha256:[0-9a-f]{12}  pushed $N $U in $N s, $N $U/s$" mix.screen

done_testing
