#!/bin/sh
# enclaver build with Lua: --hook, manifest hooks:, `- lua:` stages, --output-dir,
# --lua-instructions, and the exit status / output cleanup on a failing script.
. "$top_srcdir/tests/lib.sh"

D=$TEST_TMP/proj
mkdir -p "$D/out"
cat > "$D/enclaver.yaml" <<'YAML'
version: v1
name: cli
target: "cli:1"
sources:
  app: "docker.io/library/test:1"
pipeline:
  - lua: stage.lua
    options:
      word: hi
hooks:
  - hook.lua
YAML
echo "function run(ctx, o) enclaver.write_output('w.txt', o.word) end" > "$D/stage.lua"
echo "enclaver.on('after:lua', function(ctx) print('after lua ' .. ctx.artifacts['w.txt']) end)" > "$D/hook.lua"
echo "enclaver.on('before:lua', function(ctx) print('extra hook ' .. ctx.event) end)" > "$TEST_TMP/extra.lua"

cd "$TEST_TMP" || exit 1
run_cmd "$ENCLAVER" build -f "$D/enclaver.yaml" --hook extra.lua --output-dir "$D/out"
expect_rc "build with a Lua stage and hooks succeeds" 0
expect_in "--hook script runs (path relative to cwd)" "$ERR" "extra hook before:lua"
expect_in "manifest hook sees the stage's artifact" "$ERR" "after lua $D/out/w.txt"
check "write_output file committed into --output-dir" test "$(cat "$D/out/w.txt")" = hi


rm -f "$D/out/w.txt"
echo "enclaver.on('after:lua', function() while true do end end)" > "$TEST_TMP/loop.lua"
run_cmd "$ENCLAVER" build -f "$D/enclaver.yaml" --hook loop.lua --output-dir "$D/out" --lua-instructions 100000
expect_rc "a runaway hook fails the build with exit 1" 1
expect_in "... naming the script and the limit" "$ERR" "loop.lua:1: instruction budget exceeded"
check "... and leaves no output behind" test -z "$(ls -A "$D/out")"

run_cmd "$ENCLAVER" build -f "$D/enclaver.yaml" --hook missing.lua --output-dir "$D/out"
expect_rc "a missing --hook script is an error" 1
expect_in "... naming it" "$ERR" "missing.lua"

done_testing
