#!/bin/sh
# Registry faults (issue 19): a real docker-registry started here, tests/oci/faultproxy.py
# in front of it, and for each fault: the exit code, the message, that the pull ends
# (--blob-timeout 4 bounds every request; no other timing is asserted), that nothing
# wrong is left in the cache (every cached blob re-hashed with sha256sum, no
# temporaries) and that the next pull, without the fault, succeeds from that cache.
# Then pushes (`enclaver image copy`) through 429/5xx answers with Retry-After.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/oci/ocitest.sh"
command -v docker-registry >/dev/null 2>&1 || skip_all "docker-registry not installed (Debian package docker-registry)"
command -v timeout >/dev/null 2>&1 || skip_all "timeout (coreutils) not found"
export ENCLAVER_RETRY_DELAY_MS=10
no_ambient_credentials

ARCH=$(host_arch)
L=$TEST_TMP/layout
$MKIMAGE layout "$L" "$ARCH" || { not_ok "build test layout"; done_testing; exit 1; }
MD=$(layout_ref_digest "$L" single)
MAN=$(blob "$L" "$MD")
L2=$(jq -r '.layers[2].digest' "$MAN")   # the 10 KiB uncompressed layer
L2H=${L2#sha256:}
CFG=$(jq -r '.config.digest' "$MAN")

start_registry reg "$TEST_TMP/storage" http || { not_ok "start docker-registry"; done_testing; exit 1; }
R=127.0.0.1:$REG_PORT
$MKIMAGE push "$L" single "http://$R" test/img single || not_ok "push the test image"
start_py proxy faultproxy.py "http://$R" || { not_ok "start fault proxy"; done_testing; exit 1; }
P=127.0.0.1:$PY_PORT
FAULTS=$TEST_TMP/proxy.port.faults
PLOG=$TEST_TMP/proxy.port.log
fault () { printf '%s' "$1" > "$FAULTS.tmp" && mv "$FAULTS.tmp" "$FAULTS"; : > "$PLOG"; }

# cache_ok CACHE: every blob in it hashes to its name, and no temporary is left
cache_ok () {
  tap_argc cache_ok 1 1 "$@"
  local f bad=0
  for f in "$1"/blobs/sha256/*; do
    [ -e "$f" ] || continue
    if [ "$(sha256sum "$f" | cut -d' ' -f1)" != "${f##*/}" ]; then diag "damaged cached blob $f"; bad=1; fi
  done
  if [ -n "$(ls -A "$1/tmp" 2>/dev/null)" ]; then diag "temporaries left: $(ls -A "$1/tmp")"; bad=1; fi
  return $bad
}

# pull_case NAME FAULTS RC TEXT: a cold-cache pull of test/img:single through the proxy
# under FAULTS ends (within 60 s, else timeout's 124 fails the exit code) with RC and
# TEXT in its messages; the cache stays sound; the next pull without faults works.
N=0
pull_case () {
  tap_argc pull_case 4 4 "$@"
  local name=$1 faults=$2 rc=$3 text=$4 c t0
  N=$((N + 1))
  c=$TEST_TMP/c$N
  fault "$faults"
  t0=$(date +%s)
  run_cmd timeout 60 "$ENCLAVER" image pull --no-progress --blob-timeout "${BT:-4}" --cache-dir "$c" "$P/test/img:single"
  diag "$name: $(($(date +%s) - t0)) s"
  expect_rc "$name: ended with exit code $rc" "$rc"
  expect_in "$name: message" "$ERR" "$text"
  check "$name: every cached blob hashes to its name, no temporaries" cache_ok "$c"
  CASE_ERR=$ERR
  CASE_LOG=$(cat "$PLOG")
  fault '[]'
  run_cmd timeout 60 "$ENCLAVER" image pull --no-progress --blob-timeout 4 --cache-dir "$c" "$P/test/img:single"
  expect_rc "$name: the next pull succeeds" 0
  expect_eq "$name: ... with the image's digest" "$OUT" "$MD"
  check "$name: ... and a sound cache" cache_ok "$c"
}
gets () { printf '%s\n' "$CASE_LOG" | grep -c "^GET /v2/test/img/blobs/$1 "; }

# ---- cuts
pull_case "cut mid-blob once" "[{\"match\": \"$L2H\", \"action\": \"cut\"}]" 0 "resuming at byte 5120"
pull_case "cut mid-blob always" "[{\"match\": \"$L2H\", \"action\": \"cut\", \"count\": 100}]" 1 \
  "gave up after 5 attempts, resumed each time"
expect_in "... names the blob" "$CASE_ERR" "blob $L2"
expect_eq "... 5 requests for the blob in all, though each made progress" "$(gets "$L2")" 5

# ---- 5xx
pull_case "503 twice on the manifest" '[{"match": "/manifests/single", "action": "503", "count": 2}]' 0 \
  "retrying (3/5) in 0.02 s: HTTP 503"
pull_case "500 twice on a blob" "[{\"match\": \"$L2H\", \"action\": \"500\", \"count\": 2}]" 0 \
  "retrying (3/5) in 0.02 s: HTTP 500"
pull_case "503 always" '[{"match": "/manifests/single", "action": "503", "count": 100}]' 1 \
  "manifest test/img:single: HTTP 503 after 5 attempts"
pull_case "500 always on a blob" "[{\"match\": \"$L2H\", \"action\": \"500\", \"count\": 100}]" 1 \
  "blob $L2: HTTP 500 after 5 attempts"

# ---- 429 and Retry-After (the retry delay here is 10 ms: a longer wait is the header's)
pull_case "429 with Retry-After: 1" "[{\"match\": \"$L2H\", \"action\": \"429:1\"}]" 0 "retrying (2/5) in 1 s: HTTP 429"
pull_case "429 with Retry-After as an HTTP-date" "[{\"match\": \"$L2H\", \"action\": \"429:date:2\"}]" 0 "HTTP 429"
case $CASE_ERR in
  *"retrying (2/5) in 1 s: HTTP 429"*|*"retrying (2/5) in 2 s: HTTP 429"*) ok "... the date gave the wait (1 or 2 s)" ;;
  *) not_ok "... the date gave the wait (1 or 2 s)"; diag "$CASE_ERR" ;;
esac
pull_case "429 asking for more than the deadline" "[{\"match\": \"$L2H\", \"action\": \"429:30\"}]" 1 \
  "HTTP 429, and a retry in 30 s would pass its deadline of 4 s (--blob-timeout"

# ---- wrong bytes
pull_case "wrong bytes in a layer" "[{\"match\": \"$L2H\", \"action\": \"corrupt\"}]" 1 "digest mismatch"
expect_in "... names the layer" "$CASE_ERR" "$L2"
pull_case "wrong bytes in the config" "[{\"match\": \"${CFG#sha256:}\", \"action\": \"corrupt\"}]" 1 "digest mismatch"
expect_in "... names the config" "$CASE_ERR" "$CFG"
pull_case "wrong bytes in the manifest" '[{"match": "/manifests/single", "action": "corrupt", "method": "GET"}]' 1 \
  "Docker-Content-Digest"

# ---- stalls: before the headers and in the body; --blob-timeout ends them
pull_case "stall before the headers, always" \
  "[{\"match\": \"$L2H\", \"action\": \"stall-headers\", \"count\": 100}]" 1 "not done within its deadline of 4 s"
expect_in "... names the blob" "$CASE_ERR" "blob $L2"
pull_case "stall in the body, always" "[{\"match\": \"$L2H\", \"action\": \"stall-body\", \"count\": 100}]" 1 \
  "not done within its deadline of 4 s"
pull_case "stall on the manifest, always" '[{"match": "/manifests/", "action": "stall-headers", "count": 100}]' 1 \
  "manifest test/img:single: not done within its deadline of 4 s"
# a stall shorter than the deadline (ENCLAVER_STALL_TIMEOUT=1) is cut and resumed
export ENCLAVER_STALL_TIMEOUT=1
BT=20 pull_case "stall in the body once, 1 s stall time" "[{\"match\": \"$L2H\", \"action\": \"stall-body\"}]" 0 \
  "resuming at byte 5120"
pull_case "stall before the headers once, 1 s stall time" "[{\"match\": \"$L2H\", \"action\": \"stall-headers\"}]" 0 \
  "retrying (2/5)"
unset ENCLAVER_STALL_TIMEOUT

# ---- resumes answered wrongly
pull_case "resume answered with 200" \
  "[{\"match\": \"$L2H\", \"action\": \"cut\"}, {\"match\": \"$L2H\", \"action\": \"ignore-range\"}]" 0 "resuming at byte 5120"
expect_eq "... the blob was asked for twice" "$(gets "$L2")" 2
pull_case "resume answered with the wrong 206 range" \
  "[{\"match\": \"$L2H\", \"action\": \"cut\"}, {\"match\": \"$L2H\", \"action\": \"bad-range\"}]" 1 \
  "resume answered with Content-Range 'bytes 0-10239/10240', expected bytes 5120-"

# ---- option checks
run_cmd "$ENCLAVER" image pull --blob-timeout 0 "$P/test/img:single"
expect_rc "--blob-timeout 0: usage error" 2
expect_in "... says the range" "$ERR" "--blob-timeout: '0' is not a number of seconds from 1 to 86400"
run_cmd "$ENCLAVER" build --blob-timeout 1x
expect_rc "build --blob-timeout 1x: usage error" 2
expect_in "... says the range" "$ERR" "--blob-timeout: '1x' is not a number of seconds from 1 to 86400"
run_cmd env ENCLAVER_BLOB_TIMEOUT=soon "$ENCLAVER" image pull --cache-dir "$TEST_TMP/c-env" "$P/test/img:single"
expect_rc "ENCLAVER_BLOB_TIMEOUT=soon: an error" 1
expect_in "... naming the variable" "$ERR" "ENCLAVER_BLOB_TIMEOUT='soon' is not a number of seconds"
fault "[{\"match\": \"$L2H\", \"action\": \"stall-headers\", \"count\": 100}]"
run_cmd timeout 60 env ENCLAVER_BLOB_TIMEOUT=2 "$ENCLAVER" image pull --no-progress --cache-dir "$TEST_TMP/c-env2" \
  "$P/test/img:single"
expect_rc "ENCLAVER_BLOB_TIMEOUT=2 bounds a stall" 1
expect_in "... its deadline" "$ERR" "deadline of 2 s"

# ---- pushes: 429 and 5xx with Retry-After, retried
fault '[{"match": "/blobs/uploads/", "method": "POST", "action": "503:1", "count": 2},
        {"match": "/blobs/uploads/", "method": "PUT", "action": "500:date:1"},
        {"match": "/manifests/", "method": "PUT", "action": "429:1"}]'
run_cmd timeout 60 "$ENCLAVER" image copy --blob-timeout 20 --cache-dir "$TEST_TMP/c-push" "oci:$L:single" \
  "docker://$P/pushed/img:1"
expect_rc "push through 503, 500 and 429 with Retry-After: exit 0" 0
expect_eq "... prints the source's digest" "$OUT" "$MD"
expect_in "... the 503 was retried after its Retry-After" "$ERR" "in 1 s: HTTP 503"
expect_in "... the 429 on the manifest too" "$ERR" "in 1 s: HTTP 429"
check "... the faults were served" grep -q ' -> 429 429:1' "$PLOG"
check "... the blob PUT's 500 too" grep -q ' -> 500 500:date:1' "$PLOG"
fault '[]'
run_cmd "$ENCLAVER" image pull --no-progress --cache-dir "$TEST_TMP/c-back" "$R/test/img@$MD"
run_cmd "$ENCLAVER" image pull --no-progress --cache-dir "$TEST_TMP/c-back" "$R/pushed/img:1"
expect_rc "the pushed image pulls back from the registry" 0
expect_eq "... with the same digest" "$OUT" "$MD"
check "... its blobs hash to their names" cache_ok "$TEST_TMP/c-back"
fault '[{"match": "/manifests/", "method": "PUT", "action": "503", "count": 100}]'
run_cmd timeout 60 "$ENCLAVER" image copy --cache-dir "$TEST_TMP/c-push" "oci:$L:single" "docker://$P/pushed/img:2"
expect_rc "a push whose manifest PUT always gets 503 fails" 1
expect_in "... after 5 attempts" "$ERR" "HTTP 503 after 5 attempts"

# ---- a damaged cache entry (issue 19): a build of [fetch, flatten] from the registry,
# then one byte of a cached blob changed: the build names the cache file, drops it,
# fetches it again and succeeds; without a source to fetch it from, a clear error.
D=$TEST_TMP/proj
mkdir -p "$D"
cat > "$D/enclaver.yaml" <<YAML
version: v1
name: damaged
target: damaged:latest
sources:
  app: "$R/test/img:single"
pipeline:
  - fetch
  - flatten
YAML
DC=$TEST_TMP/c-damaged
BUILD="$ENCLAVER build -f $D/enclaver.yaml --no-progress --cache-dir $DC"
# damage FILE: flip the byte in the middle of FILE (in place)
damage () {
  tap_argc damage 1 1 "$@"
  $PY -c 'import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0xff
open(p, "r+b").write(b)' "$1"
}
run_cmd $BUILD
expect_rc "build [fetch, flatten] from the registry" 0
n=0
for i in 0 1 2; do
  LD=$(jq -r ".layers[$i].digest" "$MAN")
  LF=$DC/blobs/sha256/${LD#sha256:}
  damage "$LF"
  run_cmd timeout 60 $BUILD
  expect_rc "layer $((i + 1)) ($(jq -r ".layers[$i].mediaType" "$MAN" | sed 's/.*\.//')) damaged in the cache: the build succeeds" 0
  expect_in "... the warning names the cache file" "$ERR" "cache: $LF (layer $((i + 1)) of 3 of"
  expect_in "... it was removed" "$ERR" "is damaged (content is sha256:"
  expect_in "... and fetched again" "$ERR" "fetching layer $((i + 1)) of 3 ($LD) again from $R/test/img:single"
  expect_eq "... the cached blob hashes to its digest again" "$(sha_of "$LF")" "$LD"
  check "... every cached blob is sound" cache_ok "$DC"
done
# the config, read by the fetch itself
CF=$DC/blobs/sha256/${CFG#sha256:}
damage "$CF"
run_cmd timeout 60 "$ENCLAVER" image pull --no-progress --cache-dir "$DC" "$R/test/img:single"
expect_rc "damaged cached config: the pull succeeds" 0
expect_in "... naming the cache file" "$ERR" "cache: $CF is damaged"
expect_eq "... and the config is sound again" "$(sha_of "$CF")" "$CFG"
# no source to fetch it from: --offline, then the registry gone
L0=$(jq -r '.layers[0].digest' "$MAN")
L0F=$DC/blobs/sha256/${L0#sha256:}
damage "$L0F"
run_cmd timeout 60 $BUILD --offline
expect_rc "damaged layer with --offline: the build fails" 1
expect_in "... naming the cache file and what to do" "$ERR" "cache: $L0F (layer 1 of 3 of"
expect_in "... what to do" "$ERR" "--offline: nothing to fetch it from: run without --offline to fetch it again"
check "... the damaged entry is gone" test ! -e "$L0F"
run_cmd timeout 60 $BUILD --offline
expect_rc "... the next --offline build says the layer is missing" 1
expect_in "... naming it" "$ERR" "$L0"
# (by digest, so that the fetch itself needs no registry)
sed -i "s|app: .*|app: \"$R/test/img@$MD\"|" "$D/enclaver.yaml"
$BUILD >/dev/null 2>&1 || not_ok "rebuild with the registry"
stop_registry reg
damage "$L0F"
run_cmd timeout 60 $BUILD --blob-timeout 2
expect_rc "damaged layer, registry gone: the build fails" 1
expect_in "... naming the cache file" "$ERR" "cache: $L0F (layer 1 of 3 of"
expect_in "... and what to do" "$ERR" "run again when the source is reachable, or \`enclaver image pull --pull $R/test/img@$MD\`"
check "... no damaged blob is left" cache_ok "$DC"

done_testing
