#!/bin/sh
# SIGTERM / SIGINT during `enclaver build` remove the build's temporaries (the EIF and
# a write_output() file before their rename, the wrapper image's OCI directory) and
# the process dies of the signal (exit 143 / 130).  A Lua hook holds the build at a
# known point: the test sends the signal once the temporaries exist.
. "$top_srcdir/tests/lib.sh"
command -v python3 >/dev/null || skip_all "python3 missing"
W=$TEST_TMP/w
mkdir -p "$W/l1/bin" "$W/blobs"
printf '#!/bin/sh\necho hi\n' > "$W/l1/bin/hello"
chmod 755 "$W/l1/bin/hello"
python3 "$top_srcdir/tests/build/mkoci.py" "$W/img" --layer "$W/l1" --cmd '["/bin/hello"]' >/dev/null
cp "$top_srcdir/golden/eif/kernel.bin" "$W/blobs/bzImage"
printf 'console=ttyS0\n' > "$W/blobs/cmdline"
fake_boot_blobs "$W/blobs"
cat > "$W/enclaver.yaml" <<'YAML'
version: v1
name: sig
target: sig:latest
sources:
  app: oci:./img
kernel:
  blobs: ./blobs
YAML
# hold.lua EVENT: at EVENT, write an output, then spin (the budget bounds it)
hook () {
  cat > "$W/hold-$1.lua" <<LUA
enclaver.on("$1", function (ctx)
  enclaver.write_output("marker.txt", "x")
  local i = 0
  while true do i = i + 1 end
end)
LUA
}
hook before:emit-image
hook after:emit-image
ntmp () { ls -A "$W/out" | grep -c 'enclaver-tmp'; }

# build_until EVENT PATTERN [INT]: start a build held at EVENT with SIGTERM at its
# default and SIGINT too (or ignored with INT=ign; a background job of sh would
# ignore it) and wait for PATTERN in out/.
build_until () {
  rm -rf "$W/out"; mkdir -p "$W/out"
  (cd "$W" && exec python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN if sys.argv[1] == "ign" else signal.SIG_DFL)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
os.execvp(sys.argv[2], sys.argv[2:])' "${3:-dfl}" "$ENCLAVER" build --output-dir out --hook "hold-$1.lua" \
    --lua-instructions 20000000000 > "$TEST_TMP/bg.out" 2> "$TEST_TMP/bg.err") &
  BG=$!
  local i=0
  while ! ls -A "$W/out" | grep -q "$2" && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  ls -A "$W/out" | grep -q "$2"
}

build_until before:emit-image 'marker.txt.enclaver-tmp'
expect_eq () { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; diag "got: $2" "expected: $3"; fi; }
expect_eq "held before emit-image: the EIF and the Lua output are temporaries" "$(ntmp)" "2"
kill -TERM "$BG"; wait "$BG"; RC=$?; OUT=; ERR=$(cat "$TEST_TMP/bg.err")
expect_rc "SIGTERM: exit 143" 143
expect_eq "SIGTERM removed every temporary" "$(ls -A "$W/out" | tr '\n' ' ')" ""

build_until after:emit-image 'marker.txt.enclaver-tmp'
[ -d "$(ls -d "$W"/out/sig-image.enclaver-tmp.* 2>/dev/null | head -1)" ] && ok "held after emit-image: the OCI image is a temporary directory" \
  || not_ok "held after emit-image: the OCI image is a temporary directory"
[ -n "$(find "$W/out" -path '*sig-image.enclaver-tmp.*/blobs/sha256/*' -type f)" ] && ok "with its blobs" || not_ok "with its blobs"
kill -INT "$BG"; wait "$BG"; RC=$?; ERR=$(cat "$TEST_TMP/bg.err")
expect_rc "SIGINT: exit 130" 130
expect_eq "SIGINT removed the files and the directory tree" "$(ls -A "$W/out" | tr '\n' ' ')" ""

# A SIGINT that was ignored when enclaver started stays ignored (nohup, background
# jobs).  SIGINT then SIGTERM: a handled SIGINT (the lower number, delivered first)
# would end it with 130.
build_until before:emit-image 'marker.txt.enclaver-tmp' ign
kill -INT "$BG"; kill -TERM "$BG"; wait "$BG"; RC=$?; ERR=$(cat "$TEST_TMP/bg.err")
expect_rc "an ignored SIGINT stays ignored: SIGTERM ends it (143)" 143
expect_eq "and removes its temporaries" "$(ls -A "$W/out" | tr '\n' ' ')" ""

# The finished build: nothing temporary left, outputs in place.
(cd "$W" && "$ENCLAVER" build --output-dir out >/dev/null 2>&1); RC=$?
expect_rc "an undisturbed build" 0
expect_eq "leaves its outputs only" "$(ls -A "$W/out" | tr '\n' ' ')" "sig-image sig.eif "
done_testing
