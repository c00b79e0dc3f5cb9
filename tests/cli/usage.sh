#!/bin/sh
# How the tool answers mistakes on its command line: one message per mistake, a "did
# you mean" for near misses, exit 2; the same version line however it is asked for;
# and every --help with the common options aligned with the command's own.
. "$top_srcdir/tests/lib.sh"

# One usage message: exactly one "enclaver ...:" line and one "Try" line.
one_message () { # name
  n=$(printf '%s\n' "$ERR" | grep -c '^enclaver')
  t=$(printf '%s\n' "$ERR" | grep -c "^Try 'enclaver")
  if [ "$n" -eq 1 ] && [ "$t" -eq 1 ]; then ok "$1: reported once"; else not_ok "$1: reported once"; diag "$ERR"; fi
}

run_cmd "$ENCLAVER" biuld
expect_rc "mistyped command exits 2" 2
expect_in "mistyped command: did you mean" "$ERR" "unknown command 'biuld'; did you mean 'build'?"
run_cmd "$ENCLAVER" xyzzy
expect_rc "unknown command exits 2" 2
case $ERR in *"did you mean"*) not_ok "no suggestion for a word that is nothing like a command" ;;
  *) ok "no suggestion for a word that is nothing like a command" ;; esac
run_cmd "$ENCLAVER" --verbsoe version
expect_rc "mistyped global option exits 2" 2
expect_in "mistyped global option: did you mean" "$ERR" "did you mean '--verbose'?"

run_cmd "$ENCLAVER" build --form x
expect_rc "build --form exits 2" 2
expect_in "build --form: did you mean --from" "$ERR" "enclaver build: unknown option '--form'; did you mean '--from'?"
one_message "build --form"
run_cmd "$ENCLAVER" run --memroy-mb=64 x.eif
expect_rc "run --memroy-mb exits 2" 2
expect_in "run --memroy-mb=64: did you mean, value not echoed" "$ERR" "unknown option '--memroy-mb'; did you mean '--memory-mb'?"
one_message "run --memroy-mb"
run_cmd "$ENCLAVER" eif build --kernl k
expect_rc "eif build --kernl exits 2" 2
expect_in "eif build names the subcommand" "$ERR" "enclaver eif build: unknown option '--kernl'; did you mean '--kernel'?"
expect_in "eif build points at its own help" "$ERR" "Try 'enclaver eif build --help'."
run_cmd "$ENCLAVER" describe -Z x.eif
expect_rc "unknown short option exits 2" 2
expect_in "unknown short option named" "$ERR" "unknown option '-Z'"
one_message "describe -Z"
run_cmd "$ENCLAVER" sign x.eif --signing-certificate
expect_rc "missing option value exits 2" 2
expect_in "missing option value named" "$ERR" "option '--signing-certificate' needs a value"
one_message "sign --signing-certificate without a value"
run_cmd "$ENCLAVER" manifest -f
expect_rc "manifest -f without a value exits 2" 2
expect_in "manifest -f without a value named" "$ERR" "option '-f' needs a value"
one_message "manifest -f"
run_cmd "$ENCLAVER" verify --help=yes x.eif
expect_rc "a value given to a flag exits 2" 2
expect_in "a value given to a flag named" "$ERR" "option '--help' takes no value"

run_cmd "$ENCLAVER" version
v1=$OUT
run_cmd "$ENCLAVER" --version
[ -n "$v1" ] && [ "$v1" = "$OUT" ] && ok "version and --version print the same line" ||
  { not_ok "version and --version print the same line"; diag "version: $v1" "--version: $OUT"; }

# Every help text: the common options (-v, -q, --log-format, --plugin-dir) start their
# descriptions in the column of the command's own -h/--help line.
for c in "" build run describe verify sign pcr "eif build" image manifest plugins version; do
  # shellcheck disable=SC2086
  run_cmd "$ENCLAVER" $c --help
  cols=$(printf '%s\n' "$OUT" | awk '
    /^  (-h, --help|-q, --quiet|-v, --verbose|    --log-format FMT|    --plugin-dir DIR) / {
      rest = substr($0, 3); sub(/^ *(-[a-z], )?--[a-z-]+( [A-Z]+)? +/, "", rest)
      print length($0) - length(rest) }' | sort -u)
  n=$(printf '%s\n' "$cols" | grep -c .)
  if [ "$RC" -eq 0 ] && [ "$n" -eq 1 ]; then ok "'${c:-enclaver} --help': common options aligned (column $cols)"
  else not_ok "'${c:-enclaver} --help': common options aligned"; diag "columns: $cols" "$OUT"; fi
done

# The registry options read the same in every command that has them.
run_cmd "$ENCLAVER" build --help
b=$(printf '%s\n' "$OUT" | sed -n '/--insecure-registry/,/verified/p')
run_cmd "$ENCLAVER" image --help
i=$(printf '%s\n' "$OUT" | sed -n '/--insecure-registry/,/verified/p')
[ -n "$b" ] && [ "$b" = "$i" ] && ok "--insecure-registry described the same in build and image" ||
  { not_ok "--insecure-registry described the same in build and image"; diag "build: $b" "image: $i"; }

done_testing
