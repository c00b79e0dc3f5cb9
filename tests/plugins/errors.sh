#!/bin/sh
# Bad options and bad inputs of the shipped plugins (issue 18): prune, pcr-pin and
# provenance each fail with exit 1 and one error line naming the plugin and what is at
# fault (manifest line, option, file), exactly as written below; nothing runs (no stage
# logs a line) and no EIF is left.  --stage-opt values go through the same checks.
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip_all "python3 missing"
W="$TEST_TMP/w"
mkdir -p "$W/r/bin" "$W/blobs"
printf '#!/bin/sh\necho hi\n' >"$W/r/bin/app"
chmod 755 "$W/r/bin/app"
python3 "$top_srcdir/tests/build/mkoci.py" "$W/img" --layer "$W/r" --cmd '["/bin/app"]' >/dev/null
cp "$top_srcdir/golden/eif/kernel.bin" "$W/blobs/bzImage"
printf 'console=ttyS0\n' >"$W/blobs/cmdline"
fake_boot_blobs "$W/blobs"
cd "$W" || exit 1
mkdir pin-dir
mkfifo pin.fifo
python3 -c 'print("{" + " " * 70000 + "}")' >big.json

# case NAME ENTRY-BEFORE-INJECT ENTRY-AFTER-EMIT-EIF MESSAGE [BUILD-ARGS...]
# The entries are YAML list items (line 11 and line 15 of e.yaml, pipeline[2] and [5]).
case_ () {
  name=$1 early=$2 late=$3 want=$4
  shift 4
  cat >e.yaml <<YAML
version: v1
name: errs
target: errs:latest
sources:
  app: oci:./img
kernel:
  blobs: ./blobs
pipeline:
  - fetch
  - flatten
${early:-  - flatten-nothing-here}
  - inject
  - measure
  - emit-eif
${late:-  - emit-nothing-here}
YAML
  # no entry: drop the placeholder line, keeping the line numbers of the other one
  sed -i 's/^  - flatten-nothing-here$/  # (none)/; s/^  - emit-nothing-here$/  # (none)/' e.yaml
  run_cmd timeout 60 "$ENCLAVER" build -f e.yaml --eif-only e.eif "$@"
  expect_rc "$name: exit 1" 1
  got=$(printf '%s\n' "$ERR" | grep -m1 '^enclaver: error: ')
  [ "$got" = "enclaver: error: $want" ] && ok "$name: the message" \
    || not_ok "$name: the message is '$got', not 'enclaver: error: $want'"
  case $ERR in *"[stage:"*) not_ok "$name: a stage ran: $ERR" ;; *) ok "$name: no stage ran" ;; esac
  [ -e e.eif ] && not_ok "$name: an EIF was left" || true
}

# prune
case_ "prune: unknown option" "  - prune: {dryrun: true}" "" \
  "e.yaml:11: pipeline[2]: stage 'prune': unknown option 'dryrun' (did you mean 'dry_run'?)"
case_ "prune: wrong type (bool)" "  - prune: {dry_run: maybe}" "" \
  "e.yaml:11: pipeline[2]: stage 'prune': option 'dry_run': 'maybe' is not a boolean (true/false)"
case_ "prune: a list value" "  - prune: {paths: [a, b]}" "" \
  "e.yaml:11:20: pipeline[2].prune.paths: option values must be scalars (string, number, boolean), got a list"
case_ "prune: a glob of the whole rootfs" "  - prune: {paths: '/'}" "" \
  "stage prune: init: option paths: glob '/' would remove the whole rootfs"
case_ "prune: a '..' glob" "  - prune: {add: 'usr/../etc'}" "" \
  "stage prune: init: option add: glob 'usr/../etc' has a '..' component"
case_ "prune: nothing to remove" "  - prune: {paths: '', add: ' , '}" "" \
  "stage prune: init: options paths and add name nothing to remove"
case_ "prune: report in a missing directory" "  - prune: {report: no/dir/r.json}" "" \
  "stage prune: the prune report $W/no/dir/r.json: directory $W/no/dir: No such file or directory"
case_ "prune: --stage-opt of the wrong type" "  - prune" "" \
  "e.yaml:11: pipeline[2]: stage 'prune': option 'dry_run': 'perhaps' is not a boolean (true/false)" \
  --stage-opt prune.dry_run=perhaps
case_ "prune: --stage-opt unknown option" "  - prune" "" \
  "e.yaml:11: pipeline[2]: stage 'prune': unknown option 'keeps' (did you mean 'keep'?)" \
  --stage-opt prune.keeps=x

# pcr-pin
PIN="stage pcr-pin: the pin file (create it with --stage-opt pcr-pin.update=true)"
case_ "pcr-pin: unknown option" "" "  - pcr-pin: {pcr: 0}" \
  "e.yaml:15: pipeline[5]: stage 'pcr-pin': unknown option 'pcr' (did you mean 'pcrs'?)"
case_ "pcr-pin: wrong type (bool)" "" "  - pcr-pin: {update: 2}" \
  "e.yaml:15: pipeline[5]: stage 'pcr-pin': option 'update': '2' is not a boolean (true/false)"
case_ "pcr-pin: a PCR a build does not measure" "" "  - pcr-pin: {pcrs: 'PCR4'}" \
  "stage pcr-pin: init: option pcrs: 'PCR4' is not one of 0, 1, 2, 8"
case_ "pcr-pin: no PCR" "" "  - pcr-pin: {pcrs: ''}" "stage pcr-pin: init: option pcrs: no PCR to compare"
case_ "pcr-pin: empty file" "" "  - pcr-pin: {file: ''}" "stage pcr-pin: init: option file: empty path"
case_ "pcr-pin: missing pin file" "" "  - pcr-pin: {file: missing.json}" \
  "$PIN: open $W/missing.json: No such file or directory"
case_ "pcr-pin: pin file is a directory" "" "  - pcr-pin: {file: pin-dir}" \
  "$PIN: $W/pin-dir is a directory, not a regular file"
case_ "pcr-pin: pin file is a FIFO (not read, no hang)" "" "  - pcr-pin: {file: pin.fifo}" \
  "$PIN: $W/pin.fifo is a FIFO, not a regular file"
case_ "pcr-pin: pin file too large" "" "  - pcr-pin: {file: big.json}" \
  "$PIN: $W/big.json is larger than 65536 bytes"
if [ "$(id -u)" != 0 ]; then
  printf '{}\n' >noread.json
  chmod 000 noread.json
  case_ "pcr-pin: unreadable pin file" "" "  - pcr-pin: {file: noread.json}" \
    "$PIN: open $W/noread.json: Permission denied"
else
  ok "pcr-pin: unreadable pin file # SKIP root reads every file"
fi
case_ "pcr-pin: update into a missing directory" "" "  - pcr-pin: {update: true, file: no/dir/p.json}" \
  "stage pcr-pin: the pin file $W/no/dir/p.json: directory $W/no/dir: No such file or directory"

# provenance
case_ "provenance: unknown option" "" "  - provenance: {outptu: x}" \
  "e.yaml:15: pipeline[5]: stage 'provenance': unknown option 'outptu' (did you mean 'output'?)"
case_ "provenance: --stage-opt unknown option" "" "  - provenance" \
  "e.yaml:15: pipeline[5]: stage 'provenance': unknown option 'nope' (see \`enclaver plugins\`)" \
  --stage-opt provenance.nope=1
case_ "provenance: a list value" "" "  - provenance: {sign: [a]}" \
  "e.yaml:15:24: pipeline[5].provenance.sign: option values must be scalars (string, number, boolean), got a list"
case_ "provenance: bad sign" "" "  - provenance: {sign: sometimes}" \
  "stage provenance: init: option sign: 'sometimes' is not one of auto, always, never"
case_ "provenance: bad sign by --stage-opt" "" "  - provenance" \
  "stage provenance: init: option sign: 'maybe' is not one of auto, always, never" --stage-opt provenance.sign=maybe
case_ "provenance: sign always without a key" "" "  - provenance: {sign: always}" \
  "stage provenance: option sign: always, but the manifest has no signature: section with the PCR8 certificate and key"
case_ "provenance: builder_id not a URI" "" "  - provenance: {builder_id: 'not a uri'}" \
  "stage provenance: init: option builder_id: 'not a uri' is not a URI (scheme:rest, no spaces)"
case_ "provenance: empty output" "" "  - provenance: {output: ''}" \
  "stage provenance: init: option output: empty path (leave it out for the file beside the EIF)"
case_ "provenance: output in a missing directory" "" "  - provenance: {output: no/dir/p.json}" \
  "stage provenance: the provenance statement $W/no/dir/p.json: directory $W/no/dir: No such file or directory"
case_ "provenance: output is a directory" "" "  - provenance: {output: pin-dir}" \
  "stage provenance: the provenance statement $W/pin-dir is a directory"

# --stage-opt for a plugin that is not in the pipeline: a usage error (2).
cat >e.yaml <<YAML
version: v1
name: errs
target: errs:latest
sources:
  app: oci:./img
kernel:
  blobs: ./blobs
pipeline: [fetch, flatten, inject, measure, emit-eif]
YAML
run_cmd "$ENCLAVER" build -f e.yaml --eif-only e.eif --stage-opt provenance.sign=never
expect_rc "--stage-opt for a plugin not in the pipeline: exit 2" 2
expect_in "... naming it" "$ERR" \
  "enclaver build: --stage-opt provenance.sign: the pipeline has no stage of that name (see \`enclaver manifest\`)"
done_testing
