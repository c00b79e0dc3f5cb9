#!/bin/sh
# A Lua stage has one name everywhere (issue 18): `- lua: My.Check.lua` is the instance
# lua:my-check, and its ctx.log and print lines ([stage:lua:my-check:1], and "stage" in
# --log-format json), its errors (stage lua:my-check: ...), its events
# (before:lua:my-check) and `--stage-opt lua:my-check.KEY=VALUE` all use that name.  A
# hook script keeps its own source (lua:hook.lua).  Built with a real image end to end.
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
cat >m.yaml <<'YAML'
version: v1
name: names
target: names:latest
sources:
  app: oci:./img
kernel:
  blobs: ./blobs
pipeline:
  - fetch
  - lua: My.Check.lua
    options:
      word: hi
  - flatten
  - inject
  - measure
  - emit-eif
YAML
cat >My.Check.lua <<'LUA'
function run(ctx, o)
  ctx:log("info", "word=" .. tostring(o.word) .. " extra=" .. tostring(o.extra))
  ctx.log("warning", "a warning")
  print("printed")
  if o.fail == "error" then error("asked to fail") end
  if o.fail == "ctx" then ctx:fail("failed through ctx") end
end
LUA
printf 'enclaver.on("before:lua:my-check", function(ctx) print("hook sees " .. ctx.event) end)\n' >hook.lua

run_cmd "$ENCLAVER" build -f m.yaml --eif-only a.eif --hook hook.lua
expect_rc "a build with the Lua stage" 0
expect_in "ctx:log carries the stage's name and index" "$ERR" "enclaver: [stage:lua:my-check:1] word=hi extra=nil"
expect_in "ctx.log warning too" "$ERR" "enclaver: [stage:lua:my-check:1] warning: a warning"
expect_in "print too" "$ERR" "enclaver: [stage:lua:my-check:1] printed"
case $ERR in
  *"[lua:My.Check.lua]"* | *"[lua]"* | *"[stage:lua:1]"*) not_ok "another name for the stage: $ERR" ;;
  *) ok "no other name for the stage in its log" ;;
esac
expect_in "the event before:lua:my-check fires, the hook keeps its own source" "$ERR" \
  "enclaver: [lua:hook.lua] hook sees before:lua:my-check"

run_cmd "$ENCLAVER" --log-format json build -f m.yaml --eif-only a.eif --stage-opt lua:my-check.fail=error
expect_rc "--stage-opt lua:my-check.fail=error fails the build" 1
printf '%s\n' "$ERR" >log.jsonl
python3 - log.jsonl <<'PY' >json.out
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
mine = [r for r in recs if "word=" in r.get("msg", "") or r.get("msg") in ("printed", "a warning")]
print("lines", len(mine), all(r.get("stage") == "lua:my-check" and r.get("stage_index") == 1
                             and "component" not in r for r in mine))
err = [r for r in recs if r.get("level") == "error"]
print("error", len(err), err[-1].get("stage") if err else None,
      err[-1]["msg"].splitlines()[0] if err else None)
PY
read -r _ n all <json.out
[ "$n" = 3 ] && [ "$all" = True ] && ok "json: the stage's 3 lines have stage lua:my-check, index 1, no component" \
  || not_ok "json log lines: $(cat json.out) in $ERR"
[ "$(sed -n 2p json.out)" = "error 1 lua:my-check stage lua:my-check: My.Check.lua:5: asked to fail" ] \
  && ok "json: the error record names the stage and the script's line" || not_ok "json error: $(sed -n 2p json.out)"

run_cmd "$ENCLAVER" build -f m.yaml --eif-only a.eif --stage-opt lua:my-check.fail=ctx
expect_rc "ctx:fail fails the build" 1
expect_in "... named as the stage" "$ERR" "enclaver: error: stage lua:my-check: My.Check.lua:6: failed through ctx"

run_cmd "$ENCLAVER" build -f m.yaml --eif-only a.eif --stage-opt lua:my-check.extra=x --stage-opt lua:my-check.word=over
expect_rc "--stage-opt for two Lua options" 0
expect_in "... a new key reaches run(ctx, options), another replaces the manifest's" "$ERR" \
  "[stage:lua:my-check:1] word=over extra=x"
run_cmd "$ENCLAVER" build -f m.yaml --eif-only a.eif --stage-opt lua:other.word=x
expect_rc "--stage-opt for a Lua stage not in the pipeline is a usage error" 2
expect_in "... naming it" "$ERR" "--stage-opt lua:other.word: the pipeline has no stage of that name"
run_cmd "$ENCLAVER" build -f m.yaml --eif-only a.eif --stage-opt lua.word=x
expect_rc "--stage-opt lua.KEY (no instance name) is a usage error" 2

printf 'function run(ctx, o)\n  x = = 1\nend\n' >Bad.lua
sed 's/My.Check.lua/Bad.lua/' m.yaml >b.yaml
run_cmd "$ENCLAVER" build -f b.yaml --eif-only b.eif
expect_rc "a syntax error fails before any stage runs" 1
expect_in "... named as the stage, with the script's line" "$ERR" "stage lua:bad: init: $W/Bad.lua:2: unexpected symbol"
done_testing
