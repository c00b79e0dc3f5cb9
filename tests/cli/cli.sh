#!/bin/sh
# The enclaver CLI as a user drives it: help, version, exit codes, plugins,
# and `enclaver build` running a custom pipeline of real plugins from a manifest.
. "$top_srcdir/tests/lib.sh"
PLUGDIR="$top_builddir/tests/plugins/.libs"

run_cmd "$ENCLAVER" --help
expect_rc "--help exits 0" 0
expect_in "--help lists build" "$OUT" "build      compile enclaver.yaml"
expect_in "--help documents exit codes" "$OUT" "2  usage error"
run_cmd "$ENCLAVER"
expect_rc "no command is a usage error" 2
run_cmd "$ENCLAVER" frobnicate
expect_rc "unknown command exits 2" 2
expect_in "unknown command named" "$ERR" "unknown command 'frobnicate'"
run_cmd "$ENCLAVER" --bogus build
expect_rc "unknown global option exits 2" 2

for c in build run describe verify sign pcr eif image manifest plugins version; do
  run_cmd "$ENCLAVER" $c --help
  if [ "$RC" -eq 0 ] && [ -n "$OUT" ]; then ok "$c --help"; else not_ok "$c --help"; diag "rc=$RC" "$ERR"; fi
done
( cd "$TEST_TMP" && "$ENCLAVER" run >run.out 2>run.err ); RC=$?; ERR=$(cat "$TEST_TMP/run.err")
expect_rc "run with nothing to run: usage error" 2
expect_in "run says what is missing" "$ERR" "no EIF or image given"

run_cmd "$ENCLAVER" version
expect_rc "version" 0
expect_in "version prints the ABI" "$OUT" "stage ABI 1.1"
run_cmd "$ENCLAVER" version --json
expect_in "version --json" "$OUT" '"stage_abi":"1.1"'
run_cmd "$ENCLAVER" --version
expect_in "--version" "$OUT" "enclaver "

# plugins: search order and JSON
run_cmd "$ENCLAVER" --plugin-dir /from-cli plugins --search-path
first=$(printf '%s\n' "$OUT" | sed -n 1p)
[ "$first" = /from-cli ] && ok "--plugin-dir searched first" || not_ok "--plugin-dir searched first ($first)"
expect_in "build tree searched when uninstalled" "$OUT" "$top_builddir/stages/.libs"
run_cmd env ENCLAVER_PLUGIN_PATH=/env1:/env2 "$ENCLAVER" plugins --search-path --plugin-dir /cli
order=$(printf '%s\n' "$OUT" | sed -n 1,3p | tr '\n' ' ')
[ "$order" = "/cli /env1 /env2 " ] && ok "order: --plugin-dir, then ENCLAVER_PLUGIN_PATH" || not_ok "order ($order)"

run_cmd "$ENCLAVER" plugins --json --plugin-dir "$PLUGDIR"
expect_rc "plugins --json" 0
expect_in "plugins --json names a stage" "$OUT" '"name": "rec-a"'
expect_in "plugins --json has the ABI" "$OUT" '"abi": "1.1"'
expect_in "plugins --json has options" "$OUT" '"name": "fail_run"'
expect_in "plugins --json has option types" "$OUT" '"type": "size"'
expect_in "broken plugins reported" "$ERR" "bad-major.so: built for stage ABI 2.0"
if command -v jq >/dev/null 2>&1; then
  n=$(printf '%s' "$OUT" | jq '[.[] | select(.name | startswith("rec-"))] | length')
  [ "$n" = 3 ] && ok "JSON parses; three rec-* stages" || not_ok "JSON parses; three rec-* stages (got $n)"
  p=$(printf '%s' "$OUT" | jq -r '.[] | select(.name == "rec-b") | .path')
  [ "$p" = "$(cd "$PLUGDIR" && pwd -P)/rec-b.so" ] && ok "JSON path is the file" || not_ok "JSON path ($p)"
fi
run_cmd "$ENCLAVER" --log-format json plugins --plugin-dir "$PLUGDIR"
expect_in "--log-format json warnings" "$ERR" '"level":"warning","component":"plugins","msg":"skipped '
run_cmd "$ENCLAVER" plugins --log-format xml
expect_rc "bad --log-format exits 2" 2

# build: a custom pipeline of plugins from the manifest
mkdir -p "$TEST_TMP/proj/out"
cat >"$TEST_TMP/proj/enclaver.yaml" <<YAML
version: v1
name: cli-test
target: cli-test:latest
sources:
  app: oci:./image
pipeline:
  - rec-a
  - plugin: $PLUGDIR/rec-b.so
    options:
      count: 42
      output: $TEST_TMP/proj/out/app.eif
  - rec-c
YAML
cd "$TEST_TMP/proj" || exit 1
run_cmd "$ENCLAVER" build --plugin-dir "$PLUGDIR"
expect_rc "build with a plugin pipeline" 0
expect_in "build prints the result JSON" "$OUT" '"stage":"rec-c"'
[ -f out/app.eif ] && ok "output committed" || not_ok "output committed"
rm -f out/app.eif

sed 's/  - rec-c/  - plugin: rec-c-missing.so/' enclaver.yaml >bad.yaml
run_cmd "$ENCLAVER" build -f bad.yaml --plugin-dir "$PLUGDIR"
expect_rc "build with a missing plugin fails" 1
expect_in "error names the manifest line" "$ERR" "bad.yaml:12: pipeline[2]: plugin $TEST_TMP/proj/rec-c-missing.so"

cat >fail.yaml <<YAML
version: v1
name: cli-test
target: cli-test:latest
sources:
  app: oci:./image
pipeline:
  - plugin: $PLUGDIR/rec-b.so
    options:
      output: $TEST_TMP/proj/out/app.eif
  - plugin: $PLUGDIR/rec-c.so
    options:
      fail_run: true
YAML
run_cmd "$ENCLAVER" build -f fail.yaml
expect_rc "a failing stage fails the build with exit 1" 1
expect_in "error names the stage" "$ERR" "stage rec-c: asked to fail in run"
left=$(ls -A out)
[ -z "$left" ] && ok "no partial output left behind" || not_ok "no partial output left behind ($left)"

run_cmd sh -c "'$ENCLAVER' build -f - < fail.yaml"
expect_rc "build -f - reads stdin" 1
expect_in "stdin manifest ran the pipeline" "$ERR" "asked to fail in run"

cat >opt.yaml <<YAML
version: v1
name: cli-test
target: cli-test:latest
sources:
  app: oci:./image
pipeline:
  - plugin: $PLUGDIR/rec-b.so
    options:
      cuont: 1
YAML
run_cmd "$ENCLAVER" build -f opt.yaml
expect_rc "unknown stage option fails" 1
expect_in "unknown option with did-you-mean" "$ERR" "unknown option 'cuont' (did you mean 'count'?)"

run_cmd "$ENCLAVER" build -f opt.yaml --jobs 0
expect_rc "bad --jobs is a usage error" 2
run_cmd "$ENCLAVER" build -f /nonexistent/enclaver.yaml
expect_rc "missing manifest fails" 1
expect_in "missing manifest named" "$ERR" "/nonexistent/enclaver.yaml"

# default stack: the built-in stages come from the build tree; the first one (fetch)
# fails on the missing image and names it.
cat >default.yaml <<YAML
version: v1
name: cli-test
target: cli-test:latest
sources:
  app: oci:./image
YAML
run_cmd env ENCLAVER_PLUGIN_PATH=/nowhere "$ENCLAVER" build -f default.yaml --plugin-dir "$TEST_TMP"
expect_rc "default stack with a missing image fails" 1
expect_in "the fetch stage names the missing image" "$ERR" "stage fetch"
expect_in "the missing image path is named" "$ERR" "$TEST_TMP/proj/image"
[ -z "$(ls -A out)" ] && ok "no output from the failed default build" || not_ok "outputs left: $(ls -A out)"
run_cmd "$ENCLAVER" plugins --json
for st in fetch flatten inject measure emit-eif emit-image; do
  expect_in "built-in stage $st listed" "$OUT" "\"name\": \"$st\""
done

done_testing
