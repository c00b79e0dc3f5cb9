#!/bin/sh
# The blob cache's temporaries and its maintenance commands, with real processes:
# a pull held mid-blob by a fault proxy in front of Debian's docker-registry keeps
# its temporary (locked) while other enclaver processes open the cache; SIGTERM and
# SIGINT remove it (exit 143/130); after kill -9 the next run removes the leftover.
# `image cache prune` (temporaries, --unreferenced, --all) and `image cache verify`
# on blobs corrupted on disk.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/oci/ocitest.sh"
no_ambient_credentials
ARCH=$(host_arch)
L=$TEST_TMP/layout
$MKIMAGE layout "$L" "$ARCH" || { not_ok "build test layout"; done_testing; exit 1; }
MD=$(layout_ref_digest "$L" single)
MAN=$(blob "$L" "$MD")
ntmp () { ls -A "$1/tmp" 2>/dev/null | wc -l | tr -d ' '; }

# ---- a crafted leftover: removed when the next run opens the cache
C=$TEST_TMP/c1
run_cmd "$ENCLAVER" image pull --cache-dir "$C" "oci:$L:single"
expect_rc "pull from a layout" 0
head -c 300000 /dev/zero > "$C/tmp/blob-Left01"
run_cmd "$ENCLAVER" image inspect --cache-dir "$C" "oci:$L:single"
expect_rc "inspect with a leftover temporary" 0
expect_eq "a temporary nobody holds is removed on open" "$(ntmp "$C")" "0"
expect_in "and the removal is reported" "$ERR" "removed 1 stale temporary file (300000 bytes)"

# ---- a temporary that a live process holds (flock(1) plays the writer) is kept
if command -v flock >/dev/null 2>&1; then
  : > "$C/tmp/blob-Held01"
  : > "$TEST_TMP/held.ready"
  flock -x "$C/tmp/blob-Held01" sh -c "rm -f '$TEST_TMP/held.ready'; while [ ! -e '$TEST_TMP/held.release' ]; do sleep 0.1; done" &
  HOLDER=$!
  while [ -e "$TEST_TMP/held.ready" ]; do sleep 0.05; done
  run_cmd "$ENCLAVER" image inspect --cache-dir "$C" "oci:$L:single"
  expect_eq "a locked temporary survives another process opening the cache" "$(ntmp "$C")" "1"
  run_cmd "$ENCLAVER" image cache prune --cache-dir "$C"
  expect_eq "and survives prune" "$(ntmp "$C")" "1"
  expect_in "prune reports nothing removed" "$OUT" "removed 0 files"
  : > "$TEST_TMP/held.release"
  wait "$HOLDER"
  run_cmd "$ENCLAVER" image cache prune --cache-dir "$C"
  expect_eq "released: prune removes it" "$(ntmp "$C")" "0"
  expect_in "prune names it" "$OUT" "removed temporary $C/tmp/blob-Held01"
else
  ok "locked temporaries # SKIP flock(1) not installed (util-linux)"
fi

# ---- verify: blobs damaged on disk are found, removed, reported; exit 1
C=$TEST_TMP/c2
run_cmd "$ENCLAVER" image pull --cache-dir "$C" "oci:$L:single"
run_cmd "$ENCLAVER" image cache verify --cache-dir "$C"
expect_rc "verify of an intact cache" 0
expect_in "says how many it checked" "$OUT" "checked 5 blobs"
expect_in "none corrupt" "$OUT" ": 0 corrupt"
L0=$(jq -r '.layers[0].digest' "$MAN")
L1=$(jq -r '.layers[1].digest' "$MAN")
B0=$(blob "$C" "$L0")
B1=$(blob "$C" "$L1")
printf 'X' | dd of="$B0" bs=1 seek=100 conv=notrunc 2>/dev/null   # one byte flipped in place
head -c 1 /dev/zero >> "$B1"                                         # one byte appended
B1_NOW=$(sha_of "$B1")
run_cmd "$ENCLAVER" image cache verify --cache-dir "$C" --json
expect_rc "verify finds corrupt blobs: exit 1" 1
printf '%s' "$OUT" > "$TEST_TMP/v.json"
expect_eq "both corrupt blobs are reported" "$(jq -r '[.Corrupt[].Path] | sort | join(" ")' "$TEST_TMP/v.json")" \
  "$(printf '%s\n%s\n' "$B0" "$B1" | sort | tr '\n' ' ' | sed 's/ $//')"
expect_eq "with the digest their content has" "$(jq -r --arg p "$B1" '.Corrupt[] | select(.Path == $p) | .Detail' "$TEST_TMP/v.json")" \
  "content is $B1_NOW"
expect_eq "checked count" "$(jq .Checked "$TEST_TMP/v.json")" "5"
[ ! -e "$B0" ] && [ ! -e "$B1" ] && ok "corrupt blobs removed" || not_ok "corrupt blobs removed"
run_cmd "$ENCLAVER" image cache verify --cache-dir "$C"
expect_rc "verify again: clean" 0
run_cmd "$ENCLAVER" image pull --cache-dir "$C" "oci:$L:single"
expect_rc "the next pull fetches the dropped blobs again" 0
expect_eq "layer 0 back and intact" "$(sha_of "$B0")" "$L0"
run_cmd "$ENCLAVER" image cache verify --cache-dir "$TEST_TMP/nonexistent"
expect_rc "verify of a cache that does not exist" 0
[ ! -e "$TEST_TMP/nonexistent" ] && ok "is not created by verify" || not_ok "is not created by verify"

# ---- usage
run_cmd "$ENCLAVER" image cache
expect_rc "cache without a command: usage" 2
run_cmd "$ENCLAVER" image cache frobnicate
expect_rc "cache with an unknown command: usage" 2
run_cmd "$ENCLAVER" image cache verify --all
expect_rc "--all is for prune only" 2
run_cmd "$ENCLAVER" image cache prune --all --unreferenced
expect_rc "--all and --unreferenced exclude each other" 2

# ---- against a real registry: tags remembered, so --unreferenced keeps what they reach
command -v docker-registry >/dev/null 2>&1 || { ok "registry cases # SKIP docker-registry not installed"; done_testing; exit; }
S=$TEST_TMP/storage
start_registry plain "$S" http || { not_ok "start docker-registry"; done_testing; exit 1; }
R=127.0.0.1:$REG_PORT
$MKIMAGE push "$L" single "http://$R" test/img single || not_ok "push"
C=$TEST_TMP/c3
run_cmd "$ENCLAVER" image pull --no-progress --cache-dir "$C" "$R/test/img:single"
expect_rc "registry pull" 0
tar -C "$L" -cf "$TEST_TMP/oci.tar" .
run_cmd "$ENCLAVER" image pull --no-progress --cache-dir "$C" "oci-archive:$TEST_TMP/oci.tar:multi"
expect_rc "an archive's image too (no tag remembered for it)" 0
before=$(ls "$C/blobs/sha256" | wc -l)
keep=$( (echo "$MD"; jq -r '.config.digest, .layers[].digest' "$MAN") | sed 's/^sha256://' | sort | tr '\n' ' ')
run_cmd "$ENCLAVER" image cache prune --unreferenced --json --cache-dir "$C"
expect_rc "prune --unreferenced" 0
printf '%s' "$OUT" > "$TEST_TMP/p.json"
expect_eq "the tagged image's manifest, config and layers are kept" "$(ls "$C/blobs/sha256" | sort | tr '\n' ' ')" "$keep"
expect_eq "the report lists each removed blob" "$(jq '.Removed | length' "$TEST_TMP/p.json")" "$((before - $(echo "$keep" | wc -w)))"
expect_eq "bytes freed = sum of sizes" "$(jq '[.Removed[].Size] | add' "$TEST_TMP/p.json")" "$(jq .Bytes "$TEST_TMP/p.json")"
run_cmd "$ENCLAVER" image pull --offline --no-progress --cache-dir "$C" "$R/test/img:single"
expect_rc "the tagged image still pulls offline" 0
run_cmd "$ENCLAVER" image cache prune --all --cache-dir "$C"
expect_rc "prune --all" 0
expect_eq "no blob left" "$(ls -A "$C/blobs/sha256" | wc -l)" "0"
expect_in "tags removed too" "$OUT" "removed ref $C/refs/"
expect_in "summary with bytes freed" "$OUT" "freed"
run_cmd "$ENCLAVER" image pull --offline --no-progress --cache-dir "$C" "$R/test/img:single"
expect_rc "after --all, offline has nothing" 1

# ---- a pull held mid-blob: its temporary is locked, signals remove it, kill -9 leaves it
start_py proxy faultproxy.py "http://$R" || { not_ok "start fault proxy"; done_testing; exit 1; }
P=127.0.0.1:$PY_PORT
L2=$(jq -r '.layers[2].digest' "$MAN")   # the 10 KiB layer
# The cut pulls half of the blob, then the client waits retry_ms (4 s here) to resume:
# the test acts on the "resuming" log line, not on time.
printf '[{"match": "%s", "action": "cut", "count": 1000}]' "${L2#sha256:}" > "$TEST_TMP/proxy.port.faults"
# Run enclaver with SIGINT/SIGTERM at their defaults (a background job of sh ignores SIGINT).
spawn () {
  : > "$TEST_TMP/bg.err"
  env ENCLAVER_RETRY_DELAY_MS=4000 $PY -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL); signal.signal(signal.SIGTERM, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$ENCLAVER" image pull --jobs 1 --cache-dir "$1" "$P/test/img:single" \
    > /dev/null 2> "$TEST_TMP/bg.err" &
  BG=$!
  local i=0
  while ! grep -q "resuming at byte" "$TEST_TMP/bg.err" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  grep -q "resuming at byte" "$TEST_TMP/bg.err"
}
C=$TEST_TMP/c4
spawn "$C" || diag "$(cat "$TEST_TMP/bg.err")"
expect_eq "a pull held mid-blob has its temporary" "$(ntmp "$C")" "1"
T=$(ls "$C/tmp")
expect_eq "holding half of the blob" "$(stat -c %s "$C/tmp/$T")" "5120"
run_cmd "$ENCLAVER" image inspect --cache-dir "$C" "oci:$L:single"
expect_eq "another process opening the cache leaves it" "$(ls "$C/tmp")" "$T"
run_cmd "$ENCLAVER" image cache prune --cache-dir "$C"
expect_eq "prune leaves it" "$(ls "$C/tmp")" "$T"
kill -TERM "$BG"; wait "$BG"; RC=$?; OUT=; ERR=$(cat "$TEST_TMP/bg.err")
expect_rc "SIGTERM: the pull dies of it (143)" 143
expect_eq "SIGTERM removed the temporary" "$(ntmp "$C")" "0"

spawn "$C" || diag "$(cat "$TEST_TMP/bg.err")"
kill -INT "$BG"; wait "$BG"; RC=$?; ERR=$(cat "$TEST_TMP/bg.err")
expect_rc "SIGINT: 130" 130
expect_eq "SIGINT removed the temporary" "$(ntmp "$C")" "0"

spawn "$C" || diag "$(cat "$TEST_TMP/bg.err")"
kill -KILL "$BG"; wait "$BG" 2>/dev/null
expect_eq "kill -9 leaves the temporary behind" "$(ntmp "$C")" "1"
run_cmd "$ENCLAVER" image inspect --cache-dir "$C" "oci:$L:single"
expect_eq "the next run removes the killed process's temporary" "$(ntmp "$C")" "0"
expect_in "and says so" "$ERR" "removed 1 stale temporary file (5120 bytes)"
: > "$TEST_TMP/proxy.port.faults"
done_testing
