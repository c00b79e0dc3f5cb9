#!/bin/sh
# The pcr-pin plugin (issue 18): a real image built with pcr-pin after measure.  No pin
# file fails before any work; --stage-opt pcr-pin.update=true writes one that
# `enclaver verify --pcrs` accepts and that equals what the build prints; a rebuild
# matches; a changed image fails printing the pinned and the built values; an update in
# a build that fails later leaves the pin file alone; bad pin files and options fail
# naming the plugin and the file.
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip_all "python3 missing"
command -v jq >/dev/null || skip_all "jq missing"
MKOCI="python3 $top_srcdir/tests/build/mkoci.py"
G="$top_srcdir/golden/eif"
W="$TEST_TMP/w"
mkdir -p "$W/r1/bin" "$W/r2/bin" "$W/blobs"
printf '#!/bin/sh\necho one\n' >"$W/r1/bin/app"
printf '#!/bin/sh\necho two\n' >"$W/r2/bin/app"
chmod 755 "$W/r1/bin/app" "$W/r2/bin/app"
touch -d 2023-05-01 "$W/r1/bin/app" "$W/r2/bin/app"
$MKOCI "$W/img1" --layer "$W/r1" --cmd '["/bin/app"]' >/dev/null
$MKOCI "$W/img2" --layer "$W/r2" --cmd '["/bin/app"]' >/dev/null
cp "$G/kernel.bin" "$W/blobs/bzImage"
printf 'console=ttyS0\n' >"$W/blobs/cmdline"
fake_boot_blobs "$W/blobs"
cd "$W" || exit 1

# manifest FILE IMAGE PIN-ENTRY [EXTRA-YAML]
manifest () {
  cat >"$1" <<YAML
version: v1
name: pin
target: pin:latest
sources:
  app: oci:./$2
kernel:
  blobs: ./blobs
${4:-}
pipeline:
  - fetch
  - flatten
  - inject
  - measure
$3
  - emit-eif
YAML
}
manifest m.yaml img1 "  - pcr-pin"

run_cmd "$ENCLAVER" build -f m.yaml --eif-only a.eif
expect_rc "no pin file: the build fails" 1
expect_in "... before any stage runs, naming the file and the way out" "$ERR" \
  "stage pcr-pin: the pin file (create it with --stage-opt pcr-pin.update=true): open $W/pcrs.json"
case $ERR in *"stage:fetch"*|"") not_ok "fetch ran although the pin file is missing" ;; *) ok "no stage ran" ;; esac

run_cmd "$ENCLAVER" build -f m.yaml --eif-only a.eif --stage-opt pcr-pin.update=true
expect_rc "update=true creates the pin file" 0
expect_in "... saying so" "$ERR" "creating the pin file $W/pcrs.json"
printf '%s\n' "$OUT" >printed.json
pinned=$(jq -cS .Measurements pcrs.json)
[ -n "$pinned" ] && [ "$pinned" = "$(jq -cS .Measurements printed.json)" ] \
  && ok "the pin file holds what the build printed" || not_ok "pin file differs from the printed PCRs"
run_cmd "$ENCLAVER" verify a.eif --pcrs pcrs.json
expect_rc "enclaver verify accepts the pin file for the EIF" 0
cp pcrs.json pins-1.json

run_cmd "$ENCLAVER" build -f m.yaml --eif-only b.eif
expect_rc "a rebuild matches the pins" 0
expect_in "... and says so" "$ERR" "3 PCRs match the pins in $W/pcrs.json"
run_cmd "$ENCLAVER" build -f m.yaml --eif-only b.eif --stage-opt pcr-pin.update=true
expect_in "update with equal PCRs leaves the file" "$ERR" "the pins in $W/pcrs.json are up to date"

# Another image: PCR0 and PCR2 change, PCR1 (kernel, cmdline, bootstrap) does not.
manifest m2.yaml img2 "  - pcr-pin"
run_cmd "$ENCLAVER" build -f m2.yaml --eif-only c.eif
expect_rc "a changed image fails against the pins" 1
old0=$(jq -r .Measurements.PCR0 pins-1.json) old2=$(jq -r .Measurements.PCR2 pins-1.json)
expect_in "the error names the plugin and the pin file" "$ERR" "stage pcr-pin: the PCRs differ from the ones pinned in $W/pcrs.json"
expect_in "PCR0 differs, with the pinned value" "$ERR" "PCR0 DIFFERS
    pinned $old0"
expect_in "PCR1 matches" "$ERR" "PCR1 matches"
expect_in "PCR2 differs, with the pinned value" "$ERR" "PCR2 DIFFERS
    pinned $old2"
new0=$(printf '%s\n' "$ERR" | sed -n '/PCR0 DIFFERS/,/built/s/^ *built  //p')
[ -e c.eif ] && not_ok "the failed build left its EIF" || ok "the failed build leaves no EIF"
cmp -s pcrs.json pins-1.json && ok "the pin file is untouched" || not_ok "pin file changed by a failed comparison"

# update in a build that fails after pcr-pin: the pin file stays as it was.
printf 'function run(ctx, o) error("late failure") end\n' >fail.lua
manifest m3.yaml img2 "  - pcr-pin
  - lua: fail.lua"
run_cmd "$ENCLAVER" build -f m3.yaml --eif-only d.eif --stage-opt pcr-pin.update=true
expect_rc "update, then a later stage fails" 1
expect_in "... the Lua stage by its own name" "$ERR" "stage lua:fail: fail.lua:1: late failure"
cmp -s pcrs.json pins-1.json && ok "the pin file is not rewritten by a failed build" || not_ok "pin file rewritten by a failed build"
ls -A | grep -q enclaver-tmp && not_ok "temporary files left" || ok "no temporary files left"
run_cmd "$ENCLAVER" build -f m2.yaml --eif-only c.eif --stage-opt pcr-pin.update=true
expect_rc "update with the changed image" 0
[ -n "$new0" ] && [ "$(jq -r .Measurements.PCR0 pcrs.json)" = "$new0" ] && ok "the new pin is the built value the failure printed" \
  || not_ok "new PCR0 $(jq -r .Measurements.PCR0 pcrs.json) vs printed $new0"

# A signed build measures PCR8: not pinned, it differs; pcrs: 0,1,2 leaves it out.
manifest s.yaml img2 "  - pcr-pin" "signature:
  certificate: $G/sign-cert.pem
  key: $G/sign-key.pem"
run_cmd "$ENCLAVER" build -f s.yaml --eif-only s.eif --stage-opt pcr-pin.update=true --stage-opt pcr-pin.file=signed.json
expect_rc "update=true for a signed build" 0
[ "$(jq -r .Measurements.PCR8 signed.json)" = "$(printf '%s' "$OUT" | jq -r .Measurements.PCR8)" ] \
  && ok "... pins its PCR8 too" || not_ok "PCR8 not pinned: $(cat signed.json)"
jq 'del(.Measurements.PCR8)' signed.json >unsigned.json
run_cmd "$ENCLAVER" build -f s.yaml --eif-only s.eif --stage-opt pcr-pin.file=unsigned.json
expect_rc "a signed build against pins without PCR8 fails" 1
expect_in "... PCR8 not pinned" "$ERR" "PCR8 DIFFERS
    pinned (not pinned)"
run_cmd "$ENCLAVER" build -f s.yaml --eif-only s.eif --stage-opt pcr-pin.file=unsigned.json --stage-opt 'pcr-pin.pcrs=PCR0 PCR1 2'
expect_rc "pcrs: PCR0 PCR1 2 leaves PCR8 out" 0

# Bad pin files and options.
bad_pins () {
  name=$1 needle=$3
  printf '%s\n' "$2" >bad-pins.json
  manifest bp.yaml img2 "  - stage: pcr-pin
    options:
      file: bad-pins.json"
  run_cmd "$ENCLAVER" build -f bp.yaml --eif-only bp.eif
  expect_rc "$name: fails" 1
  expect_in "$name: the error names the plugin, the file and the problem" "$ERR" "stage pcr-pin: $W/bad-pins.json$needle"
}
p0=$(jq -r .Measurements.PCR0 pcrs.json)
bad_pins "not JSON" '{"Measurements": {' ":2:0: not JSON"
bad_pins "a PCR a build does not measure" "{\"PCR0\":\"$p0\",\"PCR3\":\"$p0\"}" ": PCR3: a build measures PCR0, PCR1, PCR2 and PCR8 only"
bad_pins "a short value" '{"Measurements":{"PCR0":"abc"}}' ": PCR0: expected 96 hex digits"
bad_pins "a missing PCR1" "{\"PCR0\":\"$p0\",\"PCR2\":\"$p0\"}" ": no PCR1"
bad_pins "an array" '[1, 2]' ': expected an object'
bad_opt () {
  manifest bo.yaml img2 "$2"
  run_cmd "$ENCLAVER" build -f bo.yaml --eif-only bo.eif
  expect_rc "$1: fails" 1
  expect_in "$1: the error names the plugin" "$ERR" "$3"
}
bad_opt "pcrs: 3" "  - stage: pcr-pin
    options:
      pcrs: 0,3" "stage pcr-pin: init: option pcrs: '3' is not one of 0, 1, 2, 8"
bad_opt "an unknown option" "  - stage: pcr-pin
    options:
      updat: true" "stage 'pcr-pin': unknown option 'updat' (did you mean 'update'?)"
bad_opt "update in a missing directory" "  - stage: pcr-pin
    options:
      file: no/dir/p.json
      update: true" "the pin file"
cat >early.yaml <<YAML
version: v1
name: pin
target: pin:latest
sources:
  app: oci:./img2
kernel:
  blobs: ./blobs
pipeline: [fetch, flatten, inject, pcr-pin, measure, emit-eif]
YAML
run_cmd "$ENCLAVER" build -f early.yaml --eif-only e.eif
expect_rc "pcr-pin before measure fails" 1
expect_in "... saying where it belongs" "$ERR" "stage pcr-pin: no PCRs in the build context: put pcr-pin after measure"
done_testing
