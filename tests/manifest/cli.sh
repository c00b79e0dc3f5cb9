#!/bin/sh
# enclaver tests: `enclaver manifest` end to end.
# Runs every case of tests/manifest/cases/ (NAME.yaml + NAME.expect, the same data the
# library test uses) through the CLI twice, as a file and on stdin (plus ENCLAVER_FROM
# for cases with a "from:" line), then the command-line contract: --help, usage errors,
# --from vs ENCLAVER_FROM, default file, bad bytes, size bound.
. "$top_srcdir/tests/lib.sh"

CASES="$top_srcdir/tests/manifest/cases"
NL='
'

# subst TEXT FILE -> TEXT with @DIR@, @FILE@ and \n replaced
subst () {
  _s=$1
  _out=
  while :; do
    case $_s in
      *@DIR@*) _out=$_out${_s%%@DIR@*}$CASEDIR; _s=${_s#*@DIR@} ;;
      *) break ;;
    esac
  done
  _s=$_out$_s
  _out=
  while :; do
    case $_s in
      *@FILE@*) _out=$_out${_s%%@FILE@*}$2; _s=${_s#*@FILE@} ;;
      *) break ;;
    esac
  done
  _s=$_out$_s
  _out=
  while :; do
    case $_s in
      *'\n'*) _out=$_out${_s%%\\n*}$NL; _s=${_s#*\\n} ;;
      *) break ;;
    esac
  done
  printf '%s' "$_out$_s"
}

# check_case NAME MODE: MODE is file, stdin or env
check_case () {
  name=$1 mode=$2
  expect="$CASEDIR/${name%.yaml}.expect"
  from=$(sed -n 's/^from: //p' "$expect")
  if grep -q '^expect-error: ' "$expect"; then want=1; else want=0; fi
  if [ "$mode" = env ] && [ -z "$from" ]; then return; fi
  case $mode in
    file)
      shown=$name
      if [ -n "$from" ]; then
        run_cmd env -u ENCLAVER_FROM "$ENCLAVER" manifest -f "$name" --from "$from"
      else
        run_cmd env -u ENCLAVER_FROM "$ENCLAVER" manifest -f "$name"
      fi ;;
    stdin)
      shown='<stdin>'
      if [ -n "$from" ]; then
        run_cmd sh -c 'exec "$1" manifest -f - --from "$2" <"$3"' sh "$ENCLAVER" "$from" "$name"
      else
        run_cmd sh -c 'exec "$1" manifest -f - <"$2"' sh "$ENCLAVER" "$name"
      fi ;;
    env)
      shown=$name
      run_cmd env ENCLAVER_FROM="$from" "$ENCLAVER" manifest -f "$name" ;;
  esac
  expect_rc "$name ($mode): exit $want" "$want"
  while IFS= read -r line; do
    case $line in
      expect-error:\ *)
        expect_in "$name ($mode): stderr has ${line#expect-error: }" "$ERR" \
          "$(subst "${line#expect-error: }" "$shown")" ;;
      expect-json:\ *)
        expect_in "$name ($mode): JSON has ${line#expect-json: }" "$OUT" \
          "$(subst "${line#expect-json: }" "$shown")" ;;
      expect-warning:\ *)
        expect_in "$name ($mode): stderr warns ${line#expect-warning: }" "$ERR" \
          "warning: $(subst "${line#expect-warning: }" "$shown")" ;;
      expect-warnings:\ *)
        nwarn=$(printf '%s\n' "$ERR" | grep -c 'warning: .*has no effect yet')
        if [ "$nwarn" = "${line#expect-warnings: }" ]; then
          ok "$name ($mode): ${line#expect-warnings: } warnings"
        else
          not_ok "$name ($mode): ${line#expect-warnings: } warnings (got $nwarn)"
          diag "$ERR"
        fi ;;
      expect-not:\ *)
        needle=$(subst "${line#expect-not: }" "$shown")
        case $OUT$ERR in
          *"$needle"*) not_ok "$name ($mode): output lacks $needle" ;;
          *) ok "$name ($mode): output lacks $needle" ;;
        esac ;;
      expect-json-file:\ *)
        if [ "$mode" = file ]; then
          golden=$(subst "$(cat "$CASEDIR/${line#expect-json-file: }")" "$shown")
          if [ "$OUT" = "$golden" ]; then
            ok "$name ($mode): JSON equals ${line#expect-json-file: }"
          else
            not_ok "$name ($mode): JSON equals ${line#expect-json-file: }"
            printf '%s\n' "$OUT" >"$TEST_TMP/got"
            printf '%s\n' "$golden" >"$TEST_TMP/want"
            diag "$(diff -u "$TEST_TMP/want" "$TEST_TMP/got")"
          fi
        fi ;;
    esac
  done <"$expect"
  # errors go to stderr only, JSON to stdout only
  if [ "$want" = 1 ]; then
    if [ -z "$OUT" ]; then ok "$name ($mode): nothing on stdout"; else not_ok "$name ($mode): nothing on stdout"; fi
  fi
}

cd "$CASES" || { echo "1..0 # SKIP no cases directory"; exit 0; }
CASEDIR=$(pwd -P)
cd "$CASEDIR" || exit 1
ncases=0
for f in *.yaml; do
  ncases=$((ncases + 1))
  check_case "$f" file
  check_case "$f" stdin
  check_case "$f" env
done
if [ "$ncases" -ge 40 ]; then ok "at least 40 cases ($ncases)"; else not_ok "at least 40 cases ($ncases)"; fi

# ---- command line ----
cd "$TEST_TMP" || exit 1
cp "$CASES/001-minimal.yaml" min.yaml
printf 'version: v1\nname: t\ntarget: t:1\n' >noapp.yaml

run_cmd "$ENCLAVER" manifest --help
expect_rc "--help exits 0" 0
expect_in "--help shows usage" "$OUT" "Usage: enclaver manifest"
expect_in "--help documents ENCLAVER_FROM" "$OUT" "ENCLAVER_FROM"
expect_in "--help documents exit status" "$OUT" "Exit status"

run_cmd "$ENCLAVER" manifest --bogus
expect_rc "unknown option exits 2" 2
run_cmd "$ENCLAVER" manifest -f
expect_rc "-f without a value exits 2" 2
run_cmd "$ENCLAVER" manifest -f min.yaml extra
expect_rc "extra argument exits 2" 2
expect_in "extra argument named" "$ERR" "extra"
run_cmd "$ENCLAVER" manifest -f min.yaml --from ''
expect_rc "empty --from exits 2" 2

run_cmd "$ENCLAVER" manifest -f does-not-exist.yaml
expect_rc "missing file exits 1" 1
expect_in "missing file named" "$ERR" "does-not-exist.yaml"

# default file name
run_cmd env -u ENCLAVER_FROM "$ENCLAVER" manifest
expect_rc "no enclaver.yaml in cwd exits 1" 1
expect_in "default file is enclaver.yaml" "$ERR" "enclaver.yaml"
cp min.yaml enclaver.yaml
run_cmd env -u ENCLAVER_FROM "$ENCLAVER" manifest
expect_rc "reads ./enclaver.yaml by default" 0
expect_in "default file used" "$OUT" '"path": "enclaver.yaml"'

# --from wins over ENCLAVER_FROM; an empty ENCLAVER_FROM is ignored
run_cmd env ENCLAVER_FROM=env.example/app:1 "$ENCLAVER" manifest -f noapp.yaml --from flag.example/app:2
expect_rc "flag and env: ok" 0
expect_in "flag wins over env" "$OUT" '"app": "flag.example/app:2"'
run_cmd env ENCLAVER_FROM=env.example/app:1 "$ENCLAVER" manifest -f min.yaml
expect_in "ENCLAVER_FROM overrides sources.app" "$OUT" '"app": "env.example/app:1"'
run_cmd env ENCLAVER_FROM= "$ENCLAVER" manifest -f noapp.yaml
expect_rc "empty ENCLAVER_FROM is ignored" 1
expect_in "missing app reported" "$ERR" 'missing required key "sources"'
run_cmd env -u ENCLAVER_FROM "$ENCLAVER" manifest -f noapp.yaml --from 'oci:./build/img'
expect_in "--from oci: resolved against cwd" "$OUT" "\"app\": \"oci:$(pwd -P)/build/img\""
run_cmd env -u ENCLAVER_FROM "$ENCLAVER" manifest -f noapp.yaml --from 'has space'
expect_rc "--from with whitespace exits 1" 1

# relative paths resolve against the manifest's directory, not the cwd
mkdir -p sub/dir
printf 'version: v1\nname: t\ntarget: t:1\nsources: {app: "oci:img"}\nhooks: [h.lua]\n' >sub/dir/m.yaml
run_cmd "$ENCLAVER" manifest -f sub/dir/m.yaml
expect_in "paths relative to the manifest dir" "$OUT" "\"$(pwd -P)/sub/dir/h.lua\""
expect_in "oci: relative to the manifest dir" "$OUT" "\"oci:$(pwd -P)/sub/dir/img\""
run_cmd sh -c 'cd sub && exec "$1" manifest -f - <dir/m.yaml' sh "$ENCLAVER"
expect_in "stdin paths relative to the cwd" "$OUT" "\"$(pwd -P)/sub/h.lua\""

# bytes a text file in the repo should not hold
printf 'version: v1\nname: "caf\351"\ntarget: t\nsources: {app: a}\n' >latin1.yaml
run_cmd "$ENCLAVER" manifest -f latin1.yaml
expect_rc "non-UTF-8 exits 1" 1
expect_in "non-UTF-8 located" "$ERR" "latin1.yaml:2:11: not valid UTF-8"
printf 'version: v1\nna\000me: t\n' >nul.yaml
run_cmd "$ENCLAVER" manifest -f nul.yaml
expect_in "NUL byte located" "$ERR" "nul.yaml:2:3: NUL byte"
head -c 1100000 /dev/zero | tr '\0' '#' >big.yaml
run_cmd "$ENCLAVER" manifest -f big.yaml
expect_rc "oversized manifest exits 1" 1
expect_in "oversized manifest reported" "$ERR" "larger than"
run_cmd sh -c 'exec "$1" manifest -f - <big.yaml' sh "$ENCLAVER"
expect_rc "oversized stdin exits 1" 1

# the bundled example is valid
run_cmd env -u ENCLAVER_FROM "$ENCLAVER" manifest -f "$top_srcdir/examples/hello/enclaver.yaml"
expect_rc "examples/hello/enclaver.yaml is valid" 0
expect_in "example name" "$OUT" '"name": "hello"'
expect_in "example target" "$OUT" '"target": "hello-enclave:latest"'
expect_in "example app resolved next to it" "$OUT" "/examples/hello/app-image\""
[ -z "$ERR" ] && ok "the bundled example draws no warning" || { not_ok "the bundled example draws no warning"; diag "$ERR"; }

# JSON output is machine-readable
run_cmd "$ENCLAVER" manifest -f min.yaml
if command -v python3 >/dev/null 2>&1; then
  if printf '%s' "$OUT" | python3 -c 'import json,sys; json.load(sys.stdin)'; then
    ok "output parses as JSON"
  else
    not_ok "output parses as JSON"
  fi
fi

# keys accepted with no effect yet: `enclaver build` warns too, before its first stage
# (the app image here does not exist, so the build stops at fetch)
printf 'version: v1\nname: t\ntarget: t:1\nsources:\n  app: oci:./no-such-image\n  sleeve: s:1\nspire:\n  server_addr: s:8081\n  ca_cert: /ca.pem\n  trust_domain: example.org\n  svid_dir: /run/svid\n' >noeffect.yaml
run_cmd env -u ENCLAVER_FROM "$ENCLAVER" build -f noeffect.yaml --offline
expect_rc "build of a missing app image fails" 1
expect_in "build warns about spire" "$ERR" \
  "warning: noeffect.yaml:7:1: spire: accepted but has no effect yet in this version"
expect_in "build warns about sources.sleeve" "$ERR" "warning: noeffect.yaml:6:3: sources.sleeve: accepted"
nwarn=$(printf '%s\n' "$ERR" | grep -c 'has no effect yet')
if [ "$nwarn" = 2 ]; then ok "build: one warning per key"; else not_ok "build: one warning per key (got $nwarn)"; fi
run_cmd env -u ENCLAVER_FROM "$ENCLAVER" manifest -f min.yaml
case $ERR in
  *'no effect'*) not_ok "no warning for a manifest without such keys" ;;
  *) ok "no warning for a manifest without such keys" ;;
esac

done_testing
